//! End-to-end throughput of small messages from org A to org B through the local
//! network (registry, broker and Service Bus work-alikes, two `efm serve`), on
//! each runtime: A's fagsystem threads create, upload and send; B's peek, pop and
//! delete; the clock stops when A has LEVERT for every message (so each message
//! makes the whole trip: the message to B, MOTTATT and LEVERT back to A).
//!
//! A plain binary rather than divan: one sample is a network started once and a
//! few thousand messages through it, seconds long and measured as a rate, which
//! divan's model of many short timed calls does not fit; and the numbers that
//! explain the rate (when sending ended, when B's fagsystem had them all) are
//! stages within that one run.
//!
//! Needs the release binary: `cargo build --release -p efm-cli`, then
//! `cargo bench -p efm-benches --bench exchange [-- --messages N --threads T
//! --runtime blocking|async --service DPO|DPE --poll 1s --api steps|multipart]`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use efm_tests::network::{
    ARKIVMELDING_PROCESS, ARKIVMELDING_STANDARD, INNSYNSKRAV_PROCESS, INNSYNSKRAV_STANDARD, Org,
    Services, random_uuid, registry_dir,
};
use efm_tests::server::{LocalRegistry, LocalService};
use serde_json::{Value, json};

struct Options {
    messages: usize,
    /// Fagsystem threads on each side.
    threads: usize,
    runtimes: Vec<String>,
    service: String,
    poll: String,
    /// How A's fagsystem hands over a message: `steps` (create, upload each file,
    /// send: three calls or more) or `multipart` (`POST /api/messages/out/multipart`,
    /// one call).
    api: String,
    /// Where the nodes keep their data folders.
    nodes_in: PathBuf,
    /// Where the broker and the Service Bus keep theirs: on tmpfs, their fsyncs
    /// (the local stand-ins', not efm's) drop out of the measurement.
    services_in: PathBuf,
}

impl Options {
    fn from_args() -> Options {
        let mut o = Options {
            messages: 2000,
            threads: 8,
            runtimes: vec!["blocking".into(), "async".into()],
            service: "DPO".into(),
            poll: "1s".into(),
            api: "steps".into(),
            nodes_in: std::env::temp_dir(),
            services_in: std::env::temp_dir(),
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || it.next().cloned().unwrap_or_default();
            match a.as_str() {
                "--messages" => o.messages = value().parse().expect("--messages N"),
                "--threads" => o.threads = value().parse().expect("--threads N"),
                "--runtime" => o.runtimes = vec![value()],
                "--service" => o.service = value().to_ascii_uppercase(),
                "--poll" => o.poll = value(),
                "--api" => o.api = value().to_ascii_lowercase(),
                "--nodes-in" => o.nodes_in = value().into(),
                "--services-in" => o.services_in = value().into(),
                // `cargo bench` passes `--bench`; other flags are not ours.
                _ => {}
            }
        }
        o
    }
}

fn main() {
    let o = Options::from_args();
    println!(
        "exchange: {} {} messages A->B, {} fagsystem threads per side, poll interval {}, \
         handed over in {}; nodes in {}, broker and Service Bus in {}",
        o.messages,
        o.service,
        o.threads,
        o.poll,
        if o.api == "multipart" { "one multipart call" } else { "steps" },
        o.nodes_in.display(),
        o.services_in.display()
    );
    for runtime in &o.runtimes {
        run(runtime, &o);
    }
}

/// One message ready to send: its SBD and files, built before the clock starts.
struct Outgoing {
    id: String,
    sbd: Value,
    files: Vec<(String, &'static str, Vec<u8>)>,
}

fn messages(n: usize, service: &str, from: &str, to: &str) -> Vec<Outgoing> {
    let template =
        std::fs::read_to_string(efm_tests::workspace().join("examples/files/arkivmelding.xml"))
            .expect("the example arkivmelding");
    (0..n)
        .map(|i| {
            if service == "DPE" {
                let (id, sbd) = efm_tests::network::sbd(
                    from,
                    to,
                    INNSYNSKRAV_PROCESS,
                    INNSYNSKRAV_STANDARD,
                    "innsynskrav",
                    json!({ "orgnr": "987654321", "epost": "innsyn@example.org" }),
                );
                let order = format!("<innsynskrav><nummer>{i}</nummer></innsynskrav>");
                Outgoing {
                    id,
                    sbd,
                    files: vec![("order.xml".into(), "application/xml", order.into())],
                }
            } else {
                let (id, sbd) = efm_tests::network::sbd(
                    from,
                    to,
                    ARKIVMELDING_PROCESS,
                    ARKIVMELDING_STANDARD,
                    "arkivmelding",
                    json!({ "hoveddokument": "arkivmelding.xml", "sikkerhetsnivaa": 3 }),
                );
                let document = format!("vedtak-{i}.txt");
                let xml = template.replace("vedtak.pdf", &document);
                let text = format!("Vedtak nummer {i}.\n").into_bytes();
                Outgoing {
                    id,
                    sbd,
                    files: vec![
                        ("arkivmelding.xml".into(), "application/xml", xml.into_bytes()),
                        (document, "text/plain", text),
                    ],
                }
            }
        })
        .collect()
}

fn run(runtime: &str, o: &Options) {
    let org_a = Org::new("910077473", "innsyn");
    let org_b = Org::new("910075918", "data");
    let folders = Folders::default();
    let services = Services::of(
        LocalRegistry::start(&registry_dir(&[&org_a, &org_b])),
        LocalService::broker(&folders.make(&o.services_in, "broker"), &[]),
        LocalService::service_bus(&folders.make(&o.services_in, "bus"), &[]),
    );
    let node = |org: &Org| {
        let mut env = services.node_env(org, runtime);
        env.retain(|(k, _)| k != "EFM_POLL_INTERVAL");
        env.push(("EFM_POLL_INTERVAL".into(), o.poll.clone()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        efm_tests::server::Served::start(&folders.make(&o.nodes_in, org.number), &env)
    };
    let services_pids = children();
    let node_a = node(&org_a);
    let a_pid = children().into_iter().find(|p| !services_pids.contains(p));
    let node_b = node(&org_b);
    let b_pid = children().into_iter().find(|p| !services_pids.contains(p) && Some(*p) != a_pid);
    let mut processes: Vec<(String, u32)> = services_pids
        .iter()
        .map(|&p| (command(p), p))
        .chain(a_pid.map(|p| ("node A".to_owned(), p)))
        .chain(b_pid.map(|p| ("node B".to_owned(), p)))
        .collect();
    processes.sort();
    // Warm up: tokens fetched, the registry's answer cached, the first connections made.
    let warm = messages(o.threads * 2, &o.service, org_a.number, org_b.number);
    exchange(&node_a.addr, &node_b.addr, warm, o.threads, o.api == "multipart");
    let batch = messages(o.messages, &o.service, org_a.number, org_b.number);
    let cpu_before: Vec<f64> = processes.iter().map(|(_, p)| cpu_seconds(*p)).collect();
    let bench_before = cpu_seconds(std::process::id());
    let s = exchange(&node_a.addr, &node_b.addr, batch, o.threads, o.api == "multipart");
    let rate = |d: Duration| o.messages as f64 / d.as_secs_f64();
    let per_message = |secs: f64| secs * 1000.0 / o.messages as f64;
    let cpu: Vec<String> = processes
        .iter()
        .zip(&cpu_before)
        .map(|((name, p), before)| format!("{name} {:.2}", per_message(cpu_seconds(*p) - before)))
        .chain(std::iter::once(format!(
            "fagsystems (this bench) {:.2}",
            per_message(cpu_seconds(std::process::id()) - bench_before)
        )))
        .collect();
    println!(
        "{runtime:>8}: {} messages LEVERT in {:.2} s = {:.0} messages/s \
         (sent in {:.2} s = {:.0}/s; at B's fagsystem in {:.2} s = {:.0}/s)",
        o.messages,
        s.levert.as_secs_f64(),
        rate(s.levert),
        s.sent.as_secs_f64(),
        rate(s.sent),
        s.consumed.as_secs_f64(),
        rate(s.consumed),
    );
    println!("{:>8}  CPU ms per message: {}", "", cpu.join(", "));
    println!("{:>8}  {}", "", s.b_calls.summary());
    // Stop the processes before their folders go.
    drop((node_a, node_b, services));
}

/// The folders of one run, removed with it (thousands of files each).
#[derive(Default)]
struct Folders(std::cell::RefCell<Vec<PathBuf>>);

impl Folders {
    fn make(&self, base: &Path, name: &str) -> PathBuf {
        let dir = base.join(format!("efm-bench-{name}-{}", random_uuid()));
        std::fs::create_dir_all(&dir).expect("a folder for the bench");
        self.0.borrow_mut().push(dir.clone());
        dir
    }
}

impl Drop for Folders {
    fn drop(&mut self) {
        for d in self.0.borrow().iter() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// The processes this bench started (the network's), by pid.
fn children() -> Vec<u32> {
    let me = std::process::id();
    let mut found: Vec<u32> = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|&p| stat_fields(p).and_then(|f| f.get(1)?.parse().ok()) == Some(me))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// `efm broker`, `efm registry`, ... from the command line.
fn command(pid: u32) -> String {
    let line = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> =
        line.split(|b| *b == 0).map(|w| String::from_utf8_lossy(w).into_owned()).collect();
    words.get(1).cloned().unwrap_or_else(|| pid.to_string())
}

/// The fields of `/proc/<pid>/stat` after the command name: state, ppid, ...
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// User and system CPU time of a process so far (Linux's clock ticks are 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let ticks =
        |i: usize| stat_fields(pid).and_then(|f| f.get(i)?.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// When each stage ended, from the first create.
struct Stages {
    sent: Duration,
    consumed: Duration,
    levert: Duration,
    /// What B's fagsystem threads waited for, summed over them.
    b_calls: Calls,
}

/// Time spent in B's fagsystem calls, and the peeks that found nothing.
#[derive(Default, Clone, Copy)]
struct Calls {
    peek: Duration,
    pop: Duration,
    delete: Duration,
    empty_peeks: usize,
    taken: usize,
}

impl Calls {
    fn add(self, o: Calls) -> Calls {
        Calls {
            peek: self.peek + o.peek,
            pop: self.pop + o.pop,
            delete: self.delete + o.delete,
            empty_peeks: self.empty_peeks + o.empty_peeks,
            taken: self.taken + o.taken,
        }
    }

    /// Mean latency of each call in ms, and the empty peeks.
    fn summary(&self) -> String {
        let peeks = u32::try_from(self.taken + self.empty_peeks).unwrap_or(u32::MAX).max(1);
        let taken = u32::try_from(self.taken).unwrap_or(u32::MAX).max(1);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "B's fagsystem calls, mean ms: peek {:.1}, pop {:.1}, delete {:.1}; {} of {} peeks found nothing",
            ms(self.peek / peeks),
            ms(self.pop / taken),
            ms(self.delete / taken),
            self.empty_peeks,
            self.taken + self.empty_peeks,
        )
    }
}

/// Send `batch` from A to B and take it at B, on `threads` threads per side;
/// returns when A has LEVERT for all of it.
fn exchange(a: &str, b: &str, batch: Vec<Outgoing>, threads: usize, multipart: bool) -> Stages {
    let n = batch.len();
    let watch = Fagsystem::new(a);
    let levert_before = watch.count("LEVERT");
    let batch = Arc::new(batch);
    let next = Arc::new(AtomicUsize::new(0));
    let consumed = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let senders: Vec<_> = (0..threads)
        .map(|_| {
            let (a, batch, next) = (a.to_owned(), batch.clone(), next.clone());
            std::thread::spawn(move || {
                let a = Fagsystem::new(&a);
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(m) = batch.get(i) else { break };
                    if multipart {
                        a.multipart(&m.sbd, &m.files);
                        continue;
                    }
                    a.create(&m.sbd);
                    for (name, mime, content) in &m.files {
                        a.upload(&m.id, name, mime, content);
                    }
                    a.send(&m.id);
                }
            })
        })
        .collect();
    let receivers: Vec<_> = (0..threads)
        .map(|_| {
            let (b, consumed) = (b.to_owned(), consumed.clone());
            std::thread::spawn(move || {
                let b = Fagsystem::new(&b);
                let mut calls = Calls::default();
                while consumed.load(Ordering::SeqCst) < n {
                    let t = Instant::now();
                    let peeked = b.peek();
                    calls.peek += t.elapsed();
                    let Some(id) = peeked else {
                        calls.empty_peeks += 1;
                        // Nothing yet: look again soon, but not so often that the
                        // looking costs more CPU than the messages.
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    };
                    let t = Instant::now();
                    let asic = b.pop(&id);
                    calls.pop += t.elapsed();
                    assert!(!asic.is_empty(), "{id}: an empty ASiC");
                    let t = Instant::now();
                    b.delete(&id);
                    calls.delete += t.elapsed();
                    calls.taken += 1;
                    consumed.fetch_add(1, Ordering::SeqCst);
                }
                calls
            })
        })
        .collect();
    let watcher = {
        let consumed = consumed.clone();
        std::thread::spawn(move || {
            while consumed.load(Ordering::SeqCst) < n {
                std::thread::sleep(Duration::from_millis(5));
            }
            start.elapsed()
        })
    };
    for s in senders {
        s.join().expect("a sender");
    }
    let sent = start.elapsed();
    let limit = Duration::from_secs(600);
    while watch.count("LEVERT") < levert_before + n {
        assert!(start.elapsed() < limit, "not all LEVERT within {limit:?}");
        // Not more often: a count scans A's statuses (0.7 ms at 10,000 of them,
        // measured with SQLite on a copy of A's database mid-run); at a hundred
        // counts a second the watching took a noticeable share of A's CPU.
        std::thread::sleep(Duration::from_millis(50));
    }
    let levert = start.elapsed();
    let b_calls =
        receivers.into_iter().fold(Calls::default(), |c, r| c.add(r.join().expect("a receiver")));
    let consumed = watcher.join().expect("the watcher");
    Stages { sent, consumed, levert, b_calls }
}

/// A fagsystem's side of the API, over kept-alive connections as a real one's
/// HTTP client would use (a connection per call would measure connection set-up
/// on both sides more than the exchange).
struct Fagsystem {
    agent: ureq::Agent,
    base: String,
    auth: String,
}

type Answer = Result<ureq::http::Response<ureq::Body>, ureq::Error>;

impl Fagsystem {
    fn new(addr: &str) -> Fagsystem {
        use base64::Engine as _;
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let token = base64::engine::general_purpose::STANDARD.encode("efm:secret");
        Fagsystem { agent, base: format!("http://{addr}"), auth: format!("Basic {token}") }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The answer's body, which must be a success.
    fn ok(what: &str, answer: Answer) -> (u16, Vec<u8>) {
        let mut r = answer.unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = r.status().as_u16();
        let body = r.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap_or_default();
        assert!(status < 300, "{what}: {status} {}", String::from_utf8_lossy(&body));
        (status, body)
    }

    fn create(&self, sbd: &Value) {
        let r = self
            .agent
            .post(self.url("/api/messages/out"))
            .header("Authorization", &self.auth)
            .header("Content-Type", "application/json")
            .send(sbd.to_string().as_bytes());
        Self::ok("create", r);
    }

    fn upload(&self, id: &str, name: &str, mime: &str, content: &[u8]) {
        let r = self
            .agent
            .put(self.url(&format!("/api/messages/out/{id}")))
            .header("Authorization", &self.auth)
            .header("Content-Type", mime)
            .header("Content-Disposition", &format!("attachment; filename=\"{name}\""))
            .send(content);
        Self::ok("upload", r);
    }

    fn send(&self, id: &str) {
        let r = self
            .agent
            .post(self.url(&format!("/api/messages/out/{id}")))
            .header("Authorization", &self.auth)
            .send_empty();
        Self::ok("send", r);
    }

    /// Create, upload and send in one call.
    fn multipart(&self, sbd: &Value, files: &[(String, &'static str, Vec<u8>)]) {
        const BOUNDARY: &str = "efm-bench-7f3a9c2e";
        let mut body = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=sbd\r\n\
             Content-Type: application/json\r\n\r\n{sbd}"
        )
        .into_bytes();
        for (name, mime, content) in files {
            body.extend_from_slice(
                format!(
                    "\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                     filename=\"{name}\"\r\nContent-Type: {mime}\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(content);
        }
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let r = self
            .agent
            .post(self.url("/api/messages/out/multipart"))
            .header("Authorization", &self.auth)
            .header("Content-Type", &format!("multipart/form-data; boundary={BOUNDARY}"))
            .send(&body[..]);
        Self::ok("multipart", r);
    }

    /// The next incoming message's id, leased to us; none waiting: `None`.
    fn peek(&self) -> Option<String> {
        let r = self
            .agent
            .get(self.url("/api/messages/in/peek"))
            .header("Authorization", &self.auth)
            .call();
        let (status, body) = Self::ok("peek", r);
        if status == 204 {
            return None;
        }
        let v: Value = serde_json::from_slice(&body).expect("peek answers an SBD");
        v["standardBusinessDocumentHeader"]["documentIdentification"]["instanceIdentifier"]
            .as_str()
            .map(str::to_owned)
    }

    fn pop(&self, id: &str) -> Vec<u8> {
        let r = self
            .agent
            .get(self.url(&format!("/api/messages/in/pop/{id}")))
            .header("Authorization", &self.auth)
            .call();
        Self::ok("pop", r).1
    }

    fn delete(&self, id: &str) {
        let r = self
            .agent
            .delete(self.url(&format!("/api/messages/in/{id}")))
            .header("Authorization", &self.auth)
            .call();
        Self::ok("delete", r);
    }

    /// How many statuses `status` the node has recorded.
    fn count(&self, status: &str) -> usize {
        let r = self
            .agent
            .get(self.url(&format!("/api/statuses?status={status}&size=1")))
            .header("Authorization", &self.auth)
            .call();
        let body = Self::ok("statuses", r).1;
        let v: Value = serde_json::from_slice(&body).expect("a page of statuses");
        v["totalElements"].as_u64().unwrap_or(0) as usize
    }
}
