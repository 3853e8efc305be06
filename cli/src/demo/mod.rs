//! `efm demo`: two integration points exchanging messages, with nothing to set up.
//! In this one process it makes keys and certificates for two organisations, starts
//! a service registry, the broker and Service Bus work-alikes and an integration
//! point per organisation on loopback, then plays both fagsystems over the REST API:
//! A sends B an arkivmelding with documents (DPO), an innsynskrav (DPE) and a stream
//! of small arkivmeldinger; B peeks, pops, checks and deletes each, and answers the
//! first with an arkivmelding_kvittering. Alongside, A sends a `digital_dpv` to a
//! person over DPV (the Altinn 3 Correspondence work-alike), an arkivmelding to a
//! county over DPF (the KS FIKS work-alike) and digital post to a citizen over DPI
//! (the DPI corner 2 work-alike), each read by its receiver. A live timeline shows
//! the statuses both nodes record, until everything is delivered (and the
//! answered message and the other legs read).

mod asic;
mod data_dir;
mod exchange;
mod fagsystem;
mod messages;
mod network;
mod notices;
mod timeline;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use clap::Args;
use efm_config::Interval;
use efm_core::transport::service_bus::QueueMode;
use ring::rand::{SecureRandom, SystemRandom};

use crate::serve::Runtime;
use data_dir::DataDir;
use exchange::{Ends, exchange};
use fagsystem::Fagsystem;
use messages::{Message, Parties, Plan, Side};
use network::{API_USER, CITIZEN, DPF_RECEIVER, DPV_RECEIVER, Network, Org, Secrets};
use notices::NoticeLog;

#[derive(Args)]
pub struct DemoArgs {
    /// The runtime both integration points run on.
    #[arg(long, value_enum, default_value_t = Runtime::Blocking)]
    runtime: Runtime,
    /// How many small arkivmeldinger A streams to B after the first two messages.
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    messages: u32,
    /// Keep the data folder (registry, broker, Service Bus and both nodes' data).
    #[arg(long)]
    keep: bool,
    /// Give up, and exit 1, when not everything is through after this long.
    #[arg(long, value_name = "DURATION", default_value = "60s",
          value_parser = crate::local_service::interval)]
    timeout: Interval,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the operating system gave no randomness")]
    Randomness,
    #[error("could not make the data folder {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("could not make a key and certificate for {org}: {detail}")]
    Keys { org: &'static str, detail: String },
    #[error("could not start the {what}: {detail}")]
    Start { what: &'static str, detail: String },
    #[error("{side}'s fagsystem could not {call}: {detail}")]
    Unreachable { side: Side, call: &'static str, detail: String },
    #[error("{side}'s integration point refused to {call}: {status} {answer}")]
    Refused { side: Side, call: &'static str, status: u16, answer: String },
    #[error("{side}'s fagsystem received {id}, which it did not expect: {why}")]
    Unexpected { side: Side, id: String, why: String },
    #[error("B popped {id}, but its files are not what A sent: {why}")]
    Mismatch { id: String, why: String },
    #[error("{0}")]
    MessageFailed(String),
    #[error("not through after {limit:?}: {outstanding}")]
    Timeout { limit: Duration, outstanding: String },
    #[error("a fagsystem thread could not start: {0}")]
    Thread(std::io::Error),
    #[error("interrupted")]
    Interrupted,
}

/// The organisations of the demo: an eInnsyn client sending to an archive.
const ORG_A: (&str, &str) = ("910077473", "Demo kommune (A)");
const ORG_B: (&str, &str) = ("910075918", "Demo arkiv (B)");

pub fn run(args: DemoArgs) -> ExitCode {
    let started = Instant::now();
    // Ctrl-C ends the run like a failure, so that the data folder still goes.
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Without the handler a signal ends the process at once: still an end.
        let _ = signal_hook::flag::register(signal, interrupted.clone());
    }
    let limit = args.timeout.as_duration();
    let deadline = started + limit;
    let notices = Arc::new(NoticeLog::default());
    let dir = match DataDir::new(args.keep) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("efm demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ends = Ends { deadline, limit, interrupted };
    let result = demo(&args, &dir.path, &notices, started, &ends);
    let code = match result {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("efm demo: failed: {e}");
            let (recent, total) = notices.recent();
            if !recent.is_empty() {
                eprintln!(
                    "efm demo: what the integration points noticed (the last {} of {total}):",
                    recent.len()
                );
                for n in recent {
                    eprintln!("  {n}");
                }
            }
            if !args.keep {
                eprintln!("efm demo: run with --keep to keep the data folder for a look");
            }
            ExitCode::FAILURE
        }
    };
    dir.finish();
    code
}

/// Set up, exchange, report: the summary line, or why the run failed.
fn demo(
    args: &DemoArgs,
    dir: &Path,
    notices: &Arc<NoticeLog>,
    started: Instant,
    ends: &Ends,
) -> Result<String, DemoError> {
    let rng = SystemRandom::new();
    let runtime = match args.runtime {
        Runtime::Blocking => "blocking",
        Runtime::Async => "async",
    };
    println!(
        "efm demo: org A {} sends to org B {} through local services on loopback ({runtime} runtime)",
        ORG_A.0, ORG_B.0
    );
    // Two RSA keys: one per core.
    let (a, b) = std::thread::scope(|s| {
        let b = s.spawn(|| Org::new(Side::B, ORG_B.0, ORG_B.1, QueueMode::Data, &rng));
        let a = Org::new(Side::A, ORG_A.0, ORG_A.1, QueueMode::Innsyn, &rng);
        let failed = || DemoError::Keys { org: ORG_B.0, detail: "the key maker stopped".into() };
        (a, b.join().unwrap_or_else(|_| Err(failed())))
    });
    let (a, b) = (a?, b?);
    let secrets = Secrets { api_password: secret(&rng)?, sas_key: secret(&rng)? };
    let net = Network::start(
        dir,
        [&a, &b],
        args.runtime,
        &secrets,
        [notices.sink(Side::A), notices.sink(Side::B)],
    )?;
    print_network(&net, &a, &b, dir, args.keep, started);

    let now = efm_core::sbd::DateTime::oslo(efm_blocking::clock::now()).to_rfc3339();
    let now = now.get(..19).unwrap_or(&now).to_owned();
    let parties = Parties {
        a: a.number,
        b: b.number,
        dpv: DPV_RECEIVER.0,
        dpf: DPF_RECEIVER.0,
        citizen: CITIZEN.0,
    };
    let plan = Plan::new(parties, args.messages, &now, &rng)?;
    let fa = Fagsystem::new(Side::A, net.a.addr, API_USER, &secrets.api_password);
    let fb = Fagsystem::new(Side::B, net.b.addr, API_USER, &secrets.api_password);
    println!(
        "\nA sends B an arkivmelding with a primary document and two attachments (DPO), an \
         innsynskrav (DPE)\nand {} (DPO). B's fagsystem peeks, pops, checks and deletes each,\n\
         and answers the first with an arkivmelding_kvittering. Alongside, A sends a digital_dpv \
         to\n{} {}, an arkivmelding to {} {} and digital post to {} {},\n\
         each read by its receiver.\nStatuses as each node records them:\n",
        messages::small_arkivmeldinger(plan.stream.len()),
        DPV_RECEIVER.1,
        DPV_RECEIVER.0,
        DPF_RECEIVER.1,
        DPF_RECEIVER.0,
        CITIZEN.1,
        CITIZEN.0,
    );
    let result = exchange(&plan, &fa, &fb, ends);
    // Refuse further calls before the folder goes; the nodes' own polling may go
    // on until the process ends, harmlessly.
    for node in [&net.a, &net.b] {
        node.serving.drain(Duration::from_secs(2));
    }
    let elapsed = result?;
    let to_b = plan.to_b().count();
    let others = plan.others.len();
    let messages = to_b + others + 1;
    let bytes: u64 = plan.all().map(Message::file_bytes).sum();
    let secs = elapsed.as_secs_f64();
    Ok(format!(
        "\nsummary: {messages} messages ({to_b} from A to B, {others} from A over DPV, DPF and \
         DPI, 1 from B to A) over all five services, {bytes} bytes of files, {secs:.2} s, \
         {:.1} messages/s",
        messages as f64 / secs.max(0.001)
    ))
}

fn print_network(net: &Network, a: &Org, b: &Org, dir: &Path, keep: bool, started: Instant) {
    println!("  service registry     http://{}", net.registry);
    println!(
        "  broker (DPO)         http://{}   Altinn 3 Broker, Maskinporten and token exchange",
        net.broker
    );
    println!("  Service Bus (DPE)    http://{}", net.bus);
    println!(
        "  Correspondence (DPV) http://{}   Altinn 3 Correspondence, for {} {}",
        net.correspondence, DPV_RECEIVER.0, DPV_RECEIVER.1
    );
    println!(
        "  KS FIKS (DPF)        http://{}   SvarUt and SvarInn, for {} {}",
        net.fiks, DPF_RECEIVER.0, DPF_RECEIVER.1
    );
    println!(
        "  corner 2 (DPI)       http://{}   DPI message service, for {} {}",
        net.dpi, CITIZEN.0, CITIZEN.1
    );
    println!("  integration point A  http://{}   {}, {}", net.a.addr, a.number, a.name);
    println!("  integration point B  http://{}   {}, {}", net.b.addr, b.number, b.name);
    let fate = if keep { "kept" } else { "removed at the end; --keep keeps it" };
    println!("  data                 {} ({fate})", dir.display());
    println!(
        "  ready in {:.2} s: keys and certificates made, eight services listening",
        started.elapsed().as_secs_f64()
    );
}

/// A random secret, URL-safe.
fn secret(rng: &dyn SecureRandom) -> Result<String, DemoError> {
    let mut bytes = [0u8; 18];
    rng.fill(&mut bytes).map_err(|_| DemoError::Randomness)?;
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
