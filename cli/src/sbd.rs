//! `efm sbd validate`: read an SBD (JSON or XML), check it as the integration point
//! would on receipt, and print it normalised, or print the error JSON.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use efm_core::api::ApiError;
use efm_core::sbd::Sbd;

/// Larger than any SBD; a file beyond it is not one, and is refused before it is read
/// whole into memory.
const MAX_SBD_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Subcommand)]
pub enum SbdCommand {
    /// Check an SBD and print it normalised (exit 0), or print the error JSON (exit 1).
    ///
    /// The form (JSON or XML) is told from the content. The checks are those the
    /// integration point applies to any SBD it reads: structure, identifiers,
    /// message type, UUIDs and the required fields. Rules that depend on the time, the
    /// service registry or stored messages apply when a message is created.
    Validate {
        /// The SBD file, or `-` for standard input.
        file: PathBuf,
        /// The form to print the normalised SBD in.
        #[arg(long, value_enum, default_value_t = Output::Json)]
        to: Output,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    Json,
    Xml,
}

pub fn run(cmd: SbdCommand) -> ExitCode {
    match cmd {
        SbdCommand::Validate { file, to } => validate(&file, to),
    }
}

fn validate(file: &PathBuf, to: Output) -> ExitCode {
    let bytes = match read_input(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("efm: {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let mut stdout = std::io::stdout().lock();
    let (text, code) = match Sbd::parse(&bytes) {
        Ok((sbd, _)) => {
            let text = match to {
                Output::Json => sbd.to_json_pretty() + "\n",
                Output::Xml => sbd.to_xml(),
            };
            (text, ExitCode::SUCCESS)
        }
        Err(e) => {
            let json =
                ApiError::from(e).to_json(efm_blocking::clock::now(), &file.display().to_string());
            let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
            (text, ExitCode::from(1))
        }
    };
    if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush()) {
        // A closed pipe (`| head`) is the reader's choice, not our failure.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("efm: writing the result: {e}");
            return ExitCode::from(2);
        }
    }
    code
}

fn read_input(file: &PathBuf) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let read = if file.as_os_str() == "-" {
        std::io::stdin().lock().take(MAX_SBD_BYTES + 1).read_to_end(&mut bytes)?
    } else {
        std::fs::File::open(file)?.take(MAX_SBD_BYTES + 1).read_to_end(&mut bytes)?
    };
    if read as u64 > MAX_SBD_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB: not an SBD",
            MAX_SBD_BYTES / 1024 / 1024
        )));
    }
    Ok(bytes)
}
