//! `efm capabilities ID`: looks the receiver up in a registry and prints the
//! capabilities JSON the integration point's API would answer.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use efm_blocking::registry_client::RegistryClient;
use efm_core::registry::capabilities::capabilities;
use efm_core::registry::request::{ClientOptions, IdentifierLookup};
use efm_core::routing::capabilities_error;

#[derive(Args)]
pub struct CapabilitiesArgs {
    /// Organisation number or personal identification number of the receiver.
    id: String,
    /// Only the given process.
    #[arg(long)]
    process: Option<String>,
    /// The message's security level (3 or 4).
    #[arg(long)]
    security_level: Option<u8>,
    /// Registry base URL, e.g. http://127.0.0.1:9099.
    #[arg(long)]
    registry: String,
    /// Ask for signed answers and verify them against the registry's /jwk.
    #[arg(long)]
    signed: bool,
    /// Maskinporten access token to send as bearer.
    #[arg(long)]
    token: Option<String>,
}

pub fn run(a: CapabilitiesArgs) -> ExitCode {
    let options = ClientOptions { signed: a.signed, beta_features: false };
    let mut client = RegistryClient::new(&a.registry, options);
    if let Some(t) = &a.token {
        client = client.with_bearer(t);
    }
    let mut lookup = IdentifierLookup::new(&a.id);
    if let Some(p) = &a.process {
        lookup = lookup.process(p);
    }
    if let Some(level) = a.security_level {
        lookup = lookup.security_level(level);
    }
    match client.identifier(&lookup) {
        Ok(resource) => {
            let caps = capabilities(&resource.service_records);
            match serde_json::to_string_pretty(&caps) {
                Ok(json) => {
                    // A closed pipe (`| head`) is not an error worth a panic.
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{json}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("efm capabilities: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            let api = capabilities_error(&lookup, &e);
            eprintln!("efm capabilities: {api}");
            ExitCode::from(if api.status == 404 { 2 } else { 1 })
        }
    }
}
