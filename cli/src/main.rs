//! The `efm` binary: a small clap dispatcher; each subcommand lives in its own module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod package;

#[derive(Parser)]
#[command(name = "efm", version, about = "eFormidling integration point tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign and encrypt files into a CMS-wrapped ASiC-E (or a DPO sbd.zip parcel).
    Package(package::PackageArgs),
    /// Decrypt a CMS-wrapped ASiC-E or an sbd.zip, verify it and extract its files.
    Unpackage(package::UnpackageArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Package(args) => package::run_package(args),
        Command::Unpackage(args) => package::run_unpackage(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("efm: {e}");
            ExitCode::FAILURE
        }
    }
}
