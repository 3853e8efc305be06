//! `efm dpi serve`: a local DPI corner 2 (the REST API digital post to citizens
//! goes through), signing its receipts with a key it keeps in --dir.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use efm_blocking::local_dpi::LocalDpi;

use crate::local_service::{FaultArgs, ListenArgs, serve};

#[derive(Args)]
pub struct DpiArgs {
    #[command(subcommand)]
    command: DpiCommand,
}

#[derive(Subcommand)]
enum DpiCommand {
    /// Serve POST /messages/out, GET /messages/out/{id}/statuses, GET /messages/in
    /// and POST /messages/in/{id}/read, storing what is sent in --dir.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:8002")]
    listen: String,
    #[command(flatten)]
    listen_args: ListenArgs,
    #[command(flatten)]
    faults: FaultArgs,
}

pub fn run(args: DpiArgs) -> ExitCode {
    let DpiCommand::Serve(a) = args.command;
    let served = LocalDpi::open(&a.listen_args.dir).map_err(|e| e.to_string()).and_then(|dpi| {
        serve("efm dpi serve", &a.listen, &a.listen_args, &a.faults, Arc::new(dpi))
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("efm dpi serve: {e}");
            ExitCode::FAILURE
        }
    }
}
