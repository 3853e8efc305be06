//! What `efm broker serve` and `efm servicebus serve` share: the fault knobs, the body
//! limit, and serving a local service on an address printed for scripts and tests.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use efm_blocking::local_service::faults::probability;
use efm_blocking::local_service::{self, FaultPlan, Faults, Host, Recorder, Service};
use efm_config::{ByteSize, Interval};
use efm_core::http_framing::Limits;

/// Faults to inject, for testing how an integration point copes. With `--fault-seed`
/// the same sequence of requests meets the same faults.
#[derive(Args)]
pub struct FaultArgs {
    /// Probability (0-1) of closing the connection without handling the request or answering.
    #[arg(long, value_name = "P", default_value = "0", value_parser = probability)]
    drop: f64,
    /// Probability (0-1) of handling the request and then closing the connection without an answer.
    #[arg(long, value_name = "P", default_value = "0", value_parser = probability)]
    lose_answer: f64,
    /// Probability (0-1) of storing an upload or a sent message twice.
    #[arg(long, value_name = "P", default_value = "0", value_parser = probability)]
    duplicate: f64,
    /// Delay each request by up to this long (uniformly), e.g. 250ms.
    #[arg(long, value_name = "DURATION", value_parser = interval)]
    delay: Option<Interval>,
    /// Seed of the fault stream; a random one is chosen (and printed) when absent.
    #[arg(long, value_name = "N")]
    fault_seed: Option<u64>,
}

impl FaultArgs {
    pub fn plan(&self) -> FaultPlan {
        let seed = self.fault_seed.unwrap_or_else(|| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&local_service::files::os_seed()[..8]);
            u64::from_le_bytes(b)
        });
        FaultPlan {
            drop: self.drop,
            lose_answer: self.lose_answer,
            duplicate: self.duplicate,
            max_delay: self.delay.map(Interval::as_duration).unwrap_or_default(),
            seed,
        }
    }
}

/// Where and how a local service listens.
#[derive(Args)]
pub struct ListenArgs {
    /// Folder with the service's state (made if missing); requests are recorded in
    /// requests.jsonl there.
    #[arg(long)]
    pub dir: std::path::PathBuf,
    /// Largest request body accepted (bodies are held in memory), e.g. 64MB.
    #[arg(long, value_name = "SIZE", default_value = "64MB", value_parser = byte_size)]
    pub max_body: ByteSize,
}

/// A duration argument such as `250ms` or `30s`.
pub fn interval(s: &str) -> Result<Interval, String> {
    s.parse().map_err(|e: efm_config::Expected| e.to_string())
}

fn byte_size(s: &str) -> Result<ByteSize, String> {
    s.parse().map_err(|e: efm_config::Expected| e.to_string())
}

/// Binds `listen`, prints `listening on http://ADDR` as the first line of stdout, and
/// serves `service` forever.
pub fn serve(
    name: &str,
    listen: &str,
    listen_args: &ListenArgs,
    faults: &FaultArgs,
    service: Arc<dyn Service>,
) -> Result<(), String> {
    let plan = faults.plan();
    let recorder = Recorder::open(&listen_args.dir).map_err(|e| e.to_string())?;
    let max_body = usize::try_from(listen_args.max_body.bytes()).unwrap_or(usize::MAX);
    let listener = std::net::TcpListener::bind(listen).map_err(|e| format!("{listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Scripts and tests read this line to learn the port.
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    if !plan.is_quiet() {
        eprintln!(
            "{name}: faults drop={} lose-answer={} duplicate={} delay<={}ms seed={}",
            plan.drop,
            plan.lose_answer,
            plan.duplicate,
            plan.max_delay.as_millis(),
            plan.seed
        );
    }
    let host = Host {
        service,
        faults: Faults::new(plan),
        recorder,
        limits: Limits { max_head: 64 * 1024, max_body },
        read_timeout: Duration::from_secs(30),
    };
    local_service::accept_loop(listener, Arc::new(host));
    Ok(())
}
