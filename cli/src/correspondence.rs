//! `efm correspondence serve`: a local Altinn 3 Correspondence (DPV) as Digdir's
//! proxy serves it, taking the Altinn tokens of a local broker.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use efm_blocking::local_correspondence::LocalCorrespondence;
use efm_config::Interval;

use crate::local_service::{FaultArgs, ListenArgs, interval, serve};

#[derive(Args)]
pub struct CorrespondenceArgs {
    #[command(subcommand)]
    command: CorrespondenceCommand,
}

#[derive(Subcommand)]
enum CorrespondenceCommand {
    /// Serve /correspondence/api/v1/correspondence..., keeping state in --dir.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:9096")]
    listen: String,
    #[command(flatten)]
    listen_args: ListenArgs,
    /// The `token-secret` file of the `efm broker serve` folder whose Altinn tokens
    /// are taken (scope eformidling:dpv); without it any Bearer token is taken.
    #[arg(long, value_name = "FILE")]
    token_secret: Option<std::path::PathBuf>,
    /// A correspondence counts as read this long after it is published, e.g. 2s;
    /// without it only POST .../{id}/markasread reads it.
    #[arg(long, value_name = "DURATION", value_parser = interval)]
    read_after: Option<Interval>,
    #[command(flatten)]
    faults: FaultArgs,
}

pub fn run(args: CorrespondenceArgs) -> ExitCode {
    let CorrespondenceCommand::Serve(a) = args.command;
    match run_serve(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("efm correspondence serve: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_serve(a: ServeArgs) -> Result<(), String> {
    let service = LocalCorrespondence::open(
        &a.listen_args.dir,
        a.token_secret.as_deref(),
        a.read_after.map(Interval::as_duration),
    )
    .map_err(|e| e.to_string())?;
    serve("efm correspondence serve", &a.listen, &a.listen_args, &a.faults, Arc::new(service))
}
