//! Exchange under faults: org A sends 200 small messages to org B (most of them DPO
//! arkivmeldinger through the broker work-alike, every eighth a DPE innsynskrav
//! through the Service Bus work-alike) while both services drop requests, lose
//! answers, delay and duplicate, and each node is killed with SIGKILL once mid-run
//! and restarted on its data folder (on a new port; the fagsystem sides follow it).
//! B's fagsystem side peeks, pops and deletes all along.
//!
//! What must hold: every message reaches B's fagsystem exactly once (deleted once,
//! never offered again after its delete, none missing) with its files byte for
//! byte, and every message ends LEVERT at A (with TTLs of a day nothing expires).
//!
//! The fault streams are seeded, but which request meets which fault still depends
//! on thread timing, so the assertions hold for any interleaving rather than for one
//! recorded run. Limits are generous: a loaded two-core machine must not flake.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use efm_tests::http::Reply;
use efm_tests::network::{
    ARKIVMELDING_PROCESS, ARKIVMELDING_STANDARD, INNSYNSKRAV_PROCESS, INNSYNSKRAV_STANDARD, Org,
    Services, asic_files, registry_dir, temp,
};
use efm_tests::server::{LocalRegistry, LocalService, Served};
use serde_json::{Value, json};

const MESSAGES: usize = 200;
/// Every this many messages one is an innsynskrav over DPE; the rest go over DPO.
const DPE_EVERY: usize = 8;
/// Fagsystem threads sending at A.
const SENDERS: usize = 4;
/// A is killed once this many messages were sent (while the rest are being sent).
const KILL_A_AFTER: usize = 90;
/// B is killed when its fagsystem has popped this many messages: between the pop
/// and the delete of that one, which stays leased across the crash.
const KILL_B_AT_POP: usize = 110;
/// How long the whole exchange may take before the test gives up. A quiet run
/// takes a fraction of it.
const LIMIT: Duration = Duration::from_secs(180);
/// After the last LEVERT, B's fagsystem keeps looking this long for a message
/// offered a second time.
const QUIET: Duration = Duration::from_secs(4);

const BROKER_FAULTS: [&str; 10] = [
    "--drop",
    "0.05",
    "--lose-answer",
    "0.05",
    "--duplicate",
    "0.05",
    "--delay",
    "10ms",
    "--fault-seed",
    "6",
];
const BUS_FAULTS: [&str; 12] = [
    "--drop",
    "0.05",
    "--lose-answer",
    "0.05",
    // Only sends can be duplicated, and DPE carries few: a higher rate makes sure
    // some are.
    "--duplicate",
    "0.15",
    "--delay",
    "10ms",
    "--fault-seed",
    "7",
    // A peek whose answer is lost holds the message this long.
    "--lock-duration",
    "3s",
];

/// A runs on the blocking runtime and B on the async one: both runtimes in one
/// network, each killed once (one test, not two, to stay within CI's time).
#[test]
fn every_message_arrives_once_through_faults_and_kills() {
    exchange_under_faults("blocking", "async");
}

/// One message as A's fagsystem sends it, and as B's must receive it.
struct Outgoing {
    id: String,
    sbd: Value,
    /// Name, media type, content.
    files: Vec<(String, &'static str, Vec<u8>)>,
}

fn messages(from: &str, to: &str) -> Vec<Outgoing> {
    let template =
        std::fs::read_to_string(efm_tests::workspace().join("examples/files/arkivmelding.xml"))
            .expect("the example arkivmelding");
    (0..MESSAGES)
        .map(|i| {
            if i % DPE_EVERY == DPE_EVERY - 1 {
                let (id, sbd) = efm_tests::network::sbd(
                    from,
                    to,
                    INNSYNSKRAV_PROCESS,
                    INNSYNSKRAV_STANDARD,
                    "innsynskrav",
                    json!({ "orgnr": "987654321", "epost": format!("innsyn{i}@example.org") }),
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
                let xml = template
                    .replace("vedtak.pdf", &document)
                    .replace("Eksempelsak", &format!("Sak nummer {i}"));
                let text = format!("Vedtak nummer {i}.\n").repeat(1 + i % 7).into_bytes();
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

fn exchange_under_faults(runtime_a: &str, runtime_b: &str) {
    let started = Instant::now();
    let org_a = Org::new("910077473", "innsyn");
    let org_b = Org::new("910075918", "data");
    let broker_dir = temp("broker");
    let bus_dir = temp("bus");
    let stop = Arc::new(AtomicBool::new(false));
    let services = Services::of(
        LocalRegistry::start(&registry_dir(&[&org_a, &org_b])),
        LocalService::broker(&broker_dir, &BROKER_FAULTS),
        LocalService::service_bus(&bus_dir, &BUS_FAULTS),
    );
    let env = |org: &Org, runtime: &str| {
        let mut env = services.node_env(org, runtime);
        // Retries stay quick (1 s, 3 s, then 4 s), and a message leased by a peek
        // whose fagsystem went away is offered again after 5 s.
        env.retain(|(k, _)| k != "EFM_RETRY_CAP" && k != "EFM_LOCK_TIMEOUT");
        env.push(("EFM_RETRY_CAP".into(), "4s".into()));
        env.push(("EFM_LOCK_TIMEOUT".into(), "5s".into()));
        env
    };
    let a = Arc::new(Node::start(env(&org_a, runtime_a), temp("a")));
    let b = Arc::new(Node::start(env(&org_b, runtime_b), temp("b")));
    let _cleanup = Cleanup { nodes: [a.clone(), b.clone()], stop: stop.clone() };

    let outgoing: Arc<Vec<Outgoing>> = Arc::new(messages(org_a.number, org_b.number));
    let by_id: Arc<HashMap<String, usize>> =
        Arc::new(outgoing.iter().enumerate().map(|(i, m)| (m.id.clone(), i)).collect());

    // B's fagsystem: peek, pop, delete, from start to finish.
    let receiver = {
        let (b, outgoing, by_id, stop) = (b.clone(), outgoing.clone(), by_id.clone(), stop.clone());
        std::thread::spawn(move || receive_all(&b, &outgoing, &by_id, &stop))
    };

    // A's fagsystem: create, upload, send, on several threads.
    let sent = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|t| {
            let (a, outgoing, sent) = (a.clone(), outgoing.clone(), sent.clone());
            std::thread::spawn(move || {
                for m in outgoing.iter().skip(t).step_by(SENDERS) {
                    send_message(&a, m);
                    sent.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    wait_for("A's fagsystem to send enough to kill A", || {
        sent.load(Ordering::SeqCst) >= KILL_A_AFTER
    });
    a.kill_and_restart();
    eprintln!("faults: A killed and restarted after {:?}", started.elapsed());
    for s in senders {
        s.join().expect("a sender thread");
    }
    eprintln!("faults: all {MESSAGES} sent after {:?}", started.elapsed());

    // Every message LEVERT at A: B's fagsystem deleted it and the reply came back.
    let mut pending: HashSet<String> = outgoing.iter().map(|m| m.id.clone()).collect();
    let mut finals: HashMap<String, Vec<String>> = HashMap::new();
    let waiting = Instant::now();
    loop {
        pending.retain(|id| {
            let s = statuses(&a, id);
            let terminal = s.iter().any(|s| ["LEVERT", "FEIL", "LEVETID_UTLOPT"].contains(&&**s));
            if terminal {
                finals.insert(id.clone(), s);
            }
            !terminal
        });
        if pending.is_empty() {
            break;
        }
        assert!(!receiver.is_finished(), "B's fagsystem thread ended early (see above)");
        if waiting.elapsed() > LIMIT {
            let stuck: Vec<String> = pending
                .iter()
                .map(|id| format!("{id}: A {:?}, B {:?}", statuses(&a, id), statuses(&b, id)))
                .collect();
            panic!("{} messages not LEVERT at A in {LIMIT:?}:\n{}", stuck.len(), stuck.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("faults: all LEVERT at A after {:?}", started.elapsed());
    std::thread::sleep(QUIET);
    stop.store(true, Ordering::SeqCst);
    let seen = receiver.join().expect("B's fagsystem thread");

    // The services really misbehaved, in every way.
    let broker = fault_counts(&broker_dir);
    let bus = fault_counts(&bus_dir);
    eprintln!("faults: broker {broker:?}, service bus {bus:?}");
    for (name, counts) in [("broker", &broker), ("service bus", &bus)] {
        for fault in ["drop", "lose-answer", "duplicate"] {
            assert!(counts.get(fault).copied().unwrap_or(0) > 0, "the {name} never did {fault}");
        }
    }
    assert!(seen.kill_done, "B was killed and restarted mid-run");

    // Exactly once at B's fagsystem, intact.
    assert!(seen.mismatched.is_empty(), "content differs: {:?}", seen.mismatched);
    assert!(seen.unknown.is_empty(), "messages nobody sent: {:?}", seen.unknown);
    assert!(seen.again.is_empty(), "offered again after their delete: {:?}", seen.again);
    let twice: Vec<_> = seen.deleted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "deleted more than once: {twice:?}");
    let missing: Vec<_> = outgoing.iter().filter(|m| !seen.deleted.contains_key(&m.id)).collect();
    assert!(
        missing.is_empty(),
        "{} never reached B's fagsystem: {:?}",
        missing.len(),
        missing.iter().map(|m| &m.id).collect::<Vec<_>>()
    );
    assert_eq!(seen.deleted.len(), MESSAGES);

    let mut shapes: HashMap<String, usize> = HashMap::new();
    for s in finals.values() {
        *shapes.entry(s.join(" ")).or_default() += 1;
    }
    eprintln!("faults: status sequences at A: {shapes:?}");

    // LEVERT at A for every one, no failure on the way, and statuses only moving
    // forward (a repeat's SENDT after the receiver's MOTTATT is not recorded; a
    // MOTTATT that arrives after LEVERT is not either).
    let order = ["OPPRETTET", "SENDT", "MOTTATT", "LEVERT"];
    for m in outgoing.iter() {
        let s = &finals[&m.id];
        assert!(s.contains(&"LEVERT".to_owned()), "{} at A: {s:?}", m.id);
        let ranks: Vec<Option<usize>> =
            s.iter().map(|s| order.iter().position(|o| o == s)).collect();
        assert!(ranks.iter().all(Option::is_some), "{} at A: {s:?}", m.id);
        assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{} at A, out of order: {s:?}", m.id);
    }
    eprintln!(
        "faults: done after {:?}; B's fagsystem popped {} times for {MESSAGES} messages",
        started.elapsed(),
        seen.pops
    );
}

/// A node that can be killed and restarted on its data folder. Callers read its
/// address anew for every attempt.
struct Node {
    env: Vec<(String, String)>,
    data: PathBuf,
    served: Mutex<Option<Served>>,
    addr: RwLock<String>,
}

impl Node {
    fn start(env: Vec<(String, String)>, data: PathBuf) -> Node {
        let served = serve(&env, &data);
        let addr = RwLock::new(served.addr.clone());
        Node { env, data, served: Mutex::new(Some(served)), addr }
    }

    fn addr(&self) -> String {
        self.addr.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// SIGKILL, then the same node again on the same data folder.
    fn kill_and_restart(&self) {
        let mut served = self.served.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = served.take() {
            s.kill_9();
        }
        let again = serve(&self.env, &self.data);
        *self.addr.write().unwrap_or_else(|p| p.into_inner()) = again.addr.clone();
        *served = Some(again);
    }
}

/// Stops B's fagsystem and both nodes however the test ends: a thread still
/// holding a node must not keep its process alive after a failed assertion.
struct Cleanup {
    nodes: [Arc<Node>; 2],
    stop: Arc<AtomicBool>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for n in &self.nodes {
            if let Some(s) = n.served.lock().unwrap_or_else(|p| p.into_inner()).take() {
                s.kill_9();
            }
        }
    }
}

fn serve(env: &[(String, String)], data: &std::path::Path) -> Served {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Served::start(data, &env)
}

/// One request to whichever address the node has now; `None` when the node is not
/// there or the answer did not arrive whole (it was killed meanwhile).
fn attempt(
    node: &Node,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Reply> {
    use base64::Engine as _;
    let addr = node.addr();
    let sock: SocketAddr = addr.parse().ok()?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(5)).ok()?;
    // A send may wait for deliveries the node does on the caller's thread.
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let token = base64::engine::general_purpose::STANDARD.encode("efm:secret");
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Length: {}\r\nAuthorization: Basic {token}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut reply = Reply { status, headers, body: buf[split + 4..].to_vec() };
    if reply.header("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        reply.body = reply.dechunked()?;
    } else if let Some(len) = reply.header("Content-Length")
        && len.parse::<usize>().ok()? != reply.body.len()
    {
        return None;
    }
    Some(reply)
}

/// [`attempt`] until a whole answer comes.
fn call(
    node: &Node,
    what: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let start = Instant::now();
    loop {
        if let Some(r) = attempt(node, method, target, headers, body) {
            return r;
        }
        assert!(start.elapsed() < LIMIT, "{what}: no answer within {LIMIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ok(r: &Reply, what: &str) {
    assert!(r.status < 300, "{what}: {} {}", r.status, String::from_utf8_lossy(&r.body));
}

/// Create, upload, send; each step repeated as it is after a lost answer, which
/// the API makes harmless (an equal create, the same upload and a second send are
/// no-ops).
fn send_message(a: &Node, m: &Outgoing) {
    let json = [("Content-Type", "application/json")];
    let body = m.sbd.to_string();
    ok(&call(a, "create", "POST", "/api/messages/out", &json, body.as_bytes()), "create");
    let target = format!("/api/messages/out/{}", m.id);
    for (name, mime, content) in &m.files {
        let disposition = format!("attachment; filename=\"{name}\"");
        let headers = [("Content-Type", *mime), ("Content-Disposition", disposition.as_str())];
        ok(&call(a, "upload", "PUT", &target, &headers, content), "upload");
    }
    ok(&call(a, "send", "POST", &target, &[], b""), "send");
}

fn statuses(node: &Node, id: &str) -> Vec<String> {
    let r =
        call(node, "statuses", "GET", &format!("/api/statuses?messageId={id}&size=100"), &[], b"");
    ok(&r, "statuses");
    let v: Value = serde_json::from_slice(&r.body).expect("status JSON");
    v["content"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["status"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// What B's fagsystem saw.
#[derive(Default)]
struct Seen {
    /// Deletes answered 200, per messageId.
    deleted: HashMap<String, u32>,
    /// Offered by a peek after their delete.
    again: Vec<String>,
    unknown: Vec<String>,
    mismatched: Vec<String>,
    pops: usize,
    kill_done: bool,
}

/// Peek, pop (checking the files against what A sent), delete, until stopped.
/// Once, between a pop and its delete, B is killed and restarted: that message
/// stays leased and is offered again when the lease runs out.
fn receive_all(
    b: &Node,
    outgoing: &[Outgoing],
    by_id: &HashMap<String, usize>,
    stop: &AtomicBool,
) -> Seen {
    let mut seen = Seen::default();
    while !stop.load(Ordering::SeqCst) {
        let r = call(b, "peek", "GET", "/api/messages/in/peek", &[], b"");
        if r.status == 204 {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        ok(&r, "peek");
        let v: Value = serde_json::from_slice(&r.body).expect("peeked SBD");
        let id =
            v["standardBusinessDocumentHeader"]["documentIdentification"]["instanceIdentifier"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        if seen.deleted.contains_key(&id) {
            seen.again.push(id.clone());
        }
        let Some(&i) = by_id.get(&id) else {
            seen.unknown.push(id.clone());
            ok(&call(b, "delete", "DELETE", &format!("/api/messages/in/{id}"), &[], b""), "delete");
            continue;
        };
        let popped = call(b, "pop", "GET", &format!("/api/messages/in/pop/{id}"), &[], b"");
        ok(&popped, "pop");
        seen.pops += 1;
        let files = asic_files(&popped.body);
        for (name, _, content) in &outgoing[i].files {
            if files.iter().find(|(n, _)| n == name).map(|f| &f.1) != Some(content) {
                seen.mismatched.push(format!("{id}: {name}"));
            }
        }
        if seen.pops == KILL_B_AT_POP && !seen.kill_done {
            b.kill_and_restart();
            seen.kill_done = true;
            eprintln!("faults: B killed and restarted between a pop and its delete");
            continue;
        }
        let d = call(b, "delete", "DELETE", &format!("/api/messages/in/{id}"), &[], b"");
        ok(&d, "delete");
        *seen.deleted.entry(id).or_default() += 1;
    }
    seen
}

/// How often each fault happened, from a service's request record.
fn fault_counts(dir: &std::path::Path) -> HashMap<String, usize> {
    let text = std::fs::read_to_string(dir.join("requests.jsonl")).expect("request record");
    let mut counts = HashMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        for f in v["faults"].as_array().into_iter().flatten() {
            *counts.entry(f.as_str().unwrap_or("?").to_owned()).or_default() += 1;
        }
        *counts.entry("requests".to_owned()).or_default() += 1;
    }
    counts
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
