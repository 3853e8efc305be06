//! `efm smtp serve`: a local SMTP sink that keeps each mail it is given as an
//! `.eml` file, for trying the mail paths (`mail.enabled`, `mail.svarinn_on_error`)
//! without a mail server. Plain SMTP only: point `mail.starttls` at `off` or
//! leave it `opportunistic`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use efm_blocking::local_smtp::SmtpSink;

#[derive(Args)]
pub struct SmtpArgs {
    #[command(subcommand)]
    command: SmtpCommand,
}

#[derive(Subcommand)]
enum SmtpCommand {
    /// Accept mail over plain SMTP and write each one to <dir>/<n>.eml.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:2525")]
    listen: String,
    /// Where the mails are written (created if missing).
    #[arg(long, default_value = "./efm-mail")]
    dir: PathBuf,
}

pub fn run(args: SmtpArgs) -> ExitCode {
    let SmtpCommand::Serve(a) = args.command;
    let sink = match SmtpSink::start(&a.listen, &a.dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("efm smtp serve: cannot listen on {}: {e}", a.listen);
            return ExitCode::FAILURE;
        }
    };
    // The first line on stdout, so that scripts and tests can find the port.
    println!("listening on smtp://{}", sink.local_addr());
    // Name each mail as it arrives; the sink runs until the process is stopped. A
    // reader that went away after the first line is no reason to stop.
    let mut told = 0;
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let Ok(mails) = sink.mails() else { continue };
        let mut out = std::io::stdout().lock();
        for m in mails.iter().skip(told) {
            let _ = writeln!(out, "received {}", m.display());
        }
        let _ = out.flush();
        told = told.max(mails.len());
    }
}
