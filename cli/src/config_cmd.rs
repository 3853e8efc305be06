//! `efm config check`: load the configuration as `efm serve` would and print the
//! effective settings (secrets masked), or every problem at once.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

#[derive(Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check the configuration: print the effective settings with secrets masked
    /// (exit 0), or every error at once (exit 1).
    ///
    /// Layers, each overriding the one before: embedded defaults, --properties,
    /// --config, then EFM_* environment variables.
    Check {
        /// An efm.toml file.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The reference's integrasjonspunkt-local.properties, for installations moving
        /// from the Java integration point.
        #[arg(long, value_name = "FILE")]
        properties: Option<PathBuf>,
    },
}

pub fn run(args: ConfigArgs) -> ExitCode {
    match args.command {
        ConfigCommand::Check { config, properties } => check(config, properties),
    }
}

fn check(config: Option<PathBuf>, properties: Option<PathBuf>) -> ExitCode {
    match efm_config::load_files(config.as_deref(), properties.as_deref(), process_env()) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("warning: {w}");
            }
            println!("# efm: effective configuration (secrets masked)");
            print!("{}", efm_config::render(&loaded.config, Some(&loaded.origins)));
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprint!("{problems}");
            ExitCode::from(1)
        }
    }
}

/// The process environment as text. A value that is not UTF-8 is passed on with its
/// bad bytes replaced, so that a setting it was meant for fails visibly instead of
/// being dropped.
pub fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
        .collect()
}
