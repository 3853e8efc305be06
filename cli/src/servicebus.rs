//! `efm servicebus serve`: a local Azure Service Bus (REST) for DPE.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use efm_blocking::local_service_bus::{LocalServiceBus, ServiceBusConfig};
use efm_config::Interval;

use crate::local_service::{FaultArgs, ListenArgs, interval, serve};

#[derive(Args)]
pub struct ServiceBusArgs {
    #[command(subcommand)]
    command: ServiceBusCommand,
}

#[derive(Subcommand)]
enum ServiceBusCommand {
    /// Serve POST {queue}/messages, POST {queue}/messages/head and
    /// DELETE {queue}/messages/{id}/{lock}, keeping state in --dir.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:8001")]
    listen: String,
    #[command(flatten)]
    listen_args: ListenArgs,
    /// Check SharedAccessSignature headers against this key (else any well-formed one passes).
    #[arg(long, value_name = "KEY", env = "EFM_SERVICEBUS_SAS_KEY", hide_env_values = true)]
    check_sas: Option<String>,
    /// How long a peek-lock holds a message.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = interval)]
    lock_duration: Interval,
    /// Deliveries before a message is dead-lettered.
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_delivery_count: u32,
    #[command(flatten)]
    faults: FaultArgs,
}

pub fn run(args: ServiceBusArgs) -> ExitCode {
    let ServiceBusCommand::Serve(a) = args.command;
    match run_serve(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("efm servicebus serve: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_serve(a: ServeArgs) -> Result<(), String> {
    let config = ServiceBusConfig {
        sas_key: a.check_sas,
        lock_duration: a.lock_duration.as_duration(),
        max_delivery_count: a.max_delivery_count,
    };
    let bus = LocalServiceBus::open(&a.listen_args.dir, config).map_err(|e| e.to_string())?;
    serve("efm servicebus serve", &a.listen, &a.listen_args, &a.faults, Arc::new(bus))
}
