//! `efm`: the eFormidling integration point and its tools. One subcommand per module,
//! each with its own arguments and `run`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod broker;
mod capabilities;
mod config_cmd;
mod correspondence;
mod demo;
mod dpi;
mod fiks;
mod local_service;
mod package;
mod registry;
mod sbd;
mod serve;
mod servicebus;
mod smtp;

#[derive(Parser)]
#[command(name = "efm", version, about = "eFormidling integration point")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the integration point: the eFormidling 2 REST API on a data folder.
    Serve(serve::ServeArgs),
    /// Two integration points exchanging messages over local services, with a live timeline.
    Demo(demo::DemoArgs),
    /// Work with StandardBusinessDocuments.
    Sbd {
        #[command(subcommand)]
        command: sbd::SbdCommand,
    },
    /// Sign and encrypt files into a CMS-wrapped ASiC-E (or a DPO sbd.zip parcel).
    Package(package::PackageArgs),
    /// Decrypt a CMS-wrapped ASiC-E or an sbd.zip, verify it and extract its files.
    Unpackage(package::UnpackageArgs),
    /// A local service registry for demos and tests.
    Registry(registry::RegistryArgs),
    /// A local Altinn 3 Broker (DPO) with Maskinporten and the Altinn token exchange, for demos and tests.
    Broker(broker::BrokerArgs),
    /// A local Altinn 3 Correspondence (DPV) behind Digdir's proxy, for demos and tests.
    Correspondence(correspondence::CorrespondenceArgs),
    /// A local Azure Service Bus (DPE) for demos and tests.
    Servicebus(servicebus::ServiceBusArgs),
    /// A local DPI corner 2 (digital post to citizens) for demos and tests.
    Dpi(dpi::DpiArgs),
    /// A local SMTP sink that writes each mail to a folder, for demos and tests.
    Smtp(smtp::SmtpArgs),
    /// A local KS FIKS, SvarUt and SvarInn (DPF), for demos and tests.
    Fiks(fiks::FiksArgs),
    /// Print what a receiver can receive, as GET /api/capabilities/{id} answers.
    Capabilities(capabilities::CapabilitiesArgs),
    /// Check the configuration (efm.toml, EFM_* variables, integrasjonspunkt-local.properties).
    Config(config_cmd::ConfigArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Sbd { command } => sbd::run(command),
        Command::Package(args) => report(package::run_package(args)),
        Command::Unpackage(args) => report(package::run_unpackage(args)),
        Command::Registry(args) => registry::run(args),
        Command::Broker(args) => broker::run(args),
        Command::Correspondence(args) => correspondence::run(args),
        Command::Servicebus(args) => servicebus::run(args),
        Command::Dpi(args) => dpi::run(args),
        Command::Smtp(args) => smtp::run(args),
        Command::Fiks(args) => fiks::run(args),
        Command::Capabilities(args) => capabilities::run(args),
        Command::Config(args) => config_cmd::run(args),
    }
}

fn report<E: std::fmt::Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("efm: {e}");
            ExitCode::FAILURE
        }
    }
}
