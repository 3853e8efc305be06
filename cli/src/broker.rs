//! `efm broker serve`: a local Altinn 3 Broker (DPO) with a Maskinporten token
//! endpoint and the Altinn token exchange.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use efm_blocking::local_broker::{DEFAULT_RESOURCE, LocalBroker};

use crate::local_service::{FaultArgs, ListenArgs, serve};

#[derive(Args)]
pub struct BrokerArgs {
    #[command(subcommand)]
    command: BrokerCommand,
}

#[derive(Subcommand)]
enum BrokerCommand {
    /// Serve /broker/api/v1/filetransfer..., POST /maskinporten/token and
    /// GET /authentication/api/v1/exchange/maskinporten, keeping state in --dir.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:9095")]
    listen: String,
    #[command(flatten)]
    listen_args: ListenArgs,
    /// Altinn resource ids served (repeatable).
    #[arg(long = "resource", value_name = "ID", default_value = DEFAULT_RESOURCE)]
    resources: Vec<String>,
    #[command(flatten)]
    faults: FaultArgs,
}

pub fn run(args: BrokerArgs) -> ExitCode {
    let BrokerCommand::Serve(a) = args.command;
    match run_serve(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("efm broker serve: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_serve(a: ServeArgs) -> Result<(), String> {
    let broker = LocalBroker::open(&a.listen_args.dir, a.resources).map_err(|e| e.to_string())?;
    serve("efm broker serve", &a.listen, &a.listen_args, &a.faults, Arc::new(broker))
}
