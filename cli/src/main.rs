//! `efm`: the eFormidling integration point and its tools.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod clock;
mod config_cmd;
mod sbd;

#[derive(Parser)]
#[command(name = "efm", version, about = "eFormidling integration point")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work with StandardBusinessDocuments.
    Sbd {
        #[command(subcommand)]
        command: sbd::SbdCommand,
    },
    /// Check the configuration (efm.toml, EFM_* variables, integrasjonspunkt-local.properties).
    Config(config_cmd::ConfigArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sbd { command } => sbd::run(command),
        Command::Config(args) => config_cmd::run(args),
    }
}
