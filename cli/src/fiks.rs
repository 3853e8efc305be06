//! `efm fiks serve`: a local KS FIKS (SvarUt's web service and SvarInn) for DPF.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use efm_blocking::local_fiks::{FiksConfig, LocalFiks};

use crate::local_service::{FaultArgs, ListenArgs, interval, serve};

#[derive(Args)]
pub struct FiksArgs {
    #[command(subcommand)]
    command: FiksCommand,
}

#[derive(Subcommand)]
enum FiksCommand {
    /// Serve SvarUt (POST .../ForsendelsesServiceV9) and SvarInn
    /// (GET .../mottaker/hentNyeForsendelser, GET .../forsendelse/{id},
    /// POST .../kvitterMottak/forsendelse/{id}), keeping state in --dir: sends under
    /// svarut/, forsendelser to offer under svarinn/<id>/ (forsendelse.json with
    /// dokumenter.zip, encrypted on download to certs/<orgnr>.pem, or
    /// dokumenter.zip.cms as it is).
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:8091")]
    listen: String,
    #[command(flatten)]
    listen_args: ListenArgs,
    /// The forsendelse types SvarUt knows (repeat for more).
    #[arg(long = "forsendelse-type", value_name = "TYPE", default_value = "forsendelsetype-1")]
    types: Vec<String>,
    /// A sent forsendelse reads as LEST after this long; `never` keeps it unread.
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    lest_after: String,
    /// Require these HTTP Basic credentials (USER:PASSWORD); else any are accepted.
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        env = "EFM_FIKS_CREDENTIALS",
        hide_env_values = true
    )]
    credentials: Option<String>,
    #[command(flatten)]
    faults: FaultArgs,
}

pub fn run(args: FiksArgs) -> ExitCode {
    let FiksCommand::Serve(a) = args.command;
    match run_serve(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("efm fiks serve: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_serve(a: ServeArgs) -> Result<(), String> {
    let lest_after = match a.lest_after.as_str() {
        "never" => None,
        other => Some(interval(other)?.as_duration()),
    };
    let credentials = match a.credentials {
        Some(c) => {
            let (u, p) = c.split_once(':').ok_or("--credentials: expected USER:PASSWORD")?;
            Some((u.to_owned(), p.to_owned()))
        }
        None => None,
    };
    let config = FiksConfig { types: a.types, lest_after, credentials };
    let fiks = LocalFiks::open(&a.listen_args.dir, config).map_err(|e| e.to_string())?;
    serve("efm fiks serve", &a.listen, &a.listen_args, &a.faults, Arc::new(fiks))
}
