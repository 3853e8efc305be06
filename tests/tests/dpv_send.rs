//! DPV sending, black-box on both runtimes, with a registry, broker (for tokens) and
//! Correspondence work-alike of its own:
//! - A large file goes over DPV without being held in memory: uploaded to `efm serve`
//!   (streamed to disk), then sent to the Correspondence work-alike as a multipart
//!   form streamed from the stored file. The node's peak resident memory stays far
//!   below the file's size, and the work-alike has the file byte for byte.
//! - A correspondence that exists already (the same idempotentKey: here sent by
//!   another node of the same organisation, as after a lost answer or a restored
//!   backup) is answered 409; the node takes it as sent, finds it by its reference,
//!   and polls it to LEVERT and LEST.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use efm_tests::feature_steps::{send, wait_for_statuses};
use efm_tests::keys::TestKey;
use efm_tests::network::{
    DIGITAL_DPV_PROCESS, DIGITAL_DPV_STANDARD, add_dpv_receiver, random_uuid, temp, with_dpv,
};
use efm_tests::server::{LocalRegistry, LocalService, Served};
use serde_json::{Value, json};

const SENDER: &str = "910077473";
const PERSON: &str = "17912099997";
const PROCESS: &str = DIGITAL_DPV_PROCESS;
const STANDARD: &str = DIGITAL_DPV_STANDARD;
const MIB: u64 = 1024 * 1024;
/// Far more than the node may hold.
const LARGE: u64 = 100 * MIB;
/// The most resident memory the node may reach sending it.
const MEMORY_CEILING: u64 = 64 * MIB;

efm_tests::on_both_runtimes!(
    a_large_file_streams_through_dpv,
    a_correspondence_sent_before_is_found
);

fn registry() -> LocalRegistry {
    let dir = temp("dpv-registry");
    add_dpv_receiver(&dir, PERSON, "Mottaker");
    // The sender's name, which the correspondence shows.
    let sender = json!({
        "infoRecord": {"identifier": SENDER, "organizationName": "Avsender AS", "entityType": {"name": "ORGL"}},
        "serviceRecords": []
    });
    std::fs::write(dir.join(format!("identifier/{SENDER}.json")), sender.to_string()).unwrap();
    LocalRegistry::start(&dir)
}

/// The registry, broker and Correspondence of one test.
struct Net {
    registry: LocalRegistry,
    broker: LocalService,
    correspondence: LocalService,
    dir: std::path::PathBuf,
    /// Kept: its folder goes with it.
    _key: TestKey,
    keystore: std::path::PathBuf,
    /// The nodes' data folders, removed at the end with the Correspondence's.
    data: std::cell::RefCell<Vec<std::path::PathBuf>>,
}

/// The large test's files are hundreds of MB: not left in the temporary folder.
impl Drop for Net {
    fn drop(&mut self) {
        for d in self.data.borrow().iter().chain([&self.dir]) {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

impl Net {
    fn start(correspondence_args: &[&str]) -> Net {
        let registry = registry();
        let broker_dir = temp("dpv-broker");
        let broker = LocalService::broker(&broker_dir, &[]);
        let dir = temp("dpv-correspondence");
        let correspondence = LocalService::correspondence(&dir, &broker_dir, correspondence_args);
        let key = TestKey::generate(SENDER);
        let keystore = key.pkcs12("changeit");
        let data = std::cell::RefCell::new(Vec::new());
        Net { registry, broker, correspondence, dir, _key: key, keystore, data }
    }

    /// A node of the sender, on a fresh data folder.
    fn node(&self, runtime: &str) -> Served {
        let broker = &self.broker.url;
        let mut env: Vec<(String, String)> = vec![
            ("EFM_ORG".into(), SENDER.into()),
            ("EFM_KEYSTORE".into(), self.keystore.display().to_string()),
            ("EFM_KEYSTORE_PASSWORD".into(), "changeit".into()),
            ("EFM_REGISTRY_URL".into(), self.registry.url.clone()),
            ("EFM_ENABLE".into(), String::new()),
            ("EFM_MASKINPORTEN_URL".into(), format!("{broker}/maskinporten/token")),
            (
                "EFM_ALTINN_EXCHANGE_URL".into(),
                format!("{broker}/authentication/api/v1/exchange/maskinporten"),
            ),
            ("EFM_RETRY_BASE".into(), "1s".into()),
            ("EFM_RUNTIME".into(), runtime.into()),
        ];
        with_dpv(&mut env, &self.correspondence);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let data = temp("dpv-node");
        self.data.borrow_mut().push(data.clone());
        Served::start(&data, &env)
    }
}

fn create(addr: &str, sbd: &Value, what: &str) {
    let r = efm_tests::http::request(
        addr,
        "POST",
        "/api/messages/out",
        efm_tests::network::AUTH,
        Some("application/json"),
        sbd.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{what}: create: {}", String::from_utf8_lossy(&r.body));
}

fn a_correspondence_sent_before_is_found(runtime: &str) {
    let net = Net::start(&["--read-after", "1s"]);
    let id = random_uuid();
    let sbd = message(&id);
    let first = net.node(runtime);
    create(&first.addr, &sbd, runtime);
    upload_small(&first.addr, &id);
    let r = send(&first.addr, &id);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    wait_for_statuses(&first.addr, &id, &["SENDT"]);
    drop(first);

    let second = net.node(runtime);
    let addr = second.addr.as_str();
    create(addr, &sbd, runtime);
    upload_small(addr, &id);
    let r = send(addr, &id);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    wait_for_statuses(addr, &id, &["SENDT", "LEVERT", "LEST"]);
    let reqs = efm_tests::recording::read(&net.dir);
    let uploads: Vec<Option<u16>> = reqs
        .iter()
        .filter(|r| r.path == "/correspondence/api/v1/correspondence/upload")
        .map(|r| r.status)
        .collect();
    assert_eq!(uploads, [Some(200), Some(409)], "{runtime}: the second upload is a conflict");
    let found = reqs.iter().any(|r| {
        r.path == "/correspondence/api/v1/correspondence"
            && r.query.as_deref() == Some(&format!("sendersReference={id}"))
            && r.accepted()
    });
    assert!(found, "{runtime}: looked up by its reference");
    let records = std::fs::read_dir(net.dir.join("correspondences")).unwrap();
    assert_eq!(records.flatten().count(), 1, "{runtime}: one correspondence");
}

/// A file with the title DPV requires.
fn upload_small(addr: &str, id: &str) {
    let r = efm_tests::http::request_with(
        addr,
        "PUT",
        &format!("/api/messages/out/{id}?title=Vedlegg"),
        efm_tests::network::AUTH,
        &[("Content-Type", "text/plain"), ("Content-Disposition", "attachment; filename=a.txt")],
        b"vedlegg",
    );
    assert_eq!(r.status, 200, "upload: {}", String::from_utf8_lossy(&r.body));
}

fn a_large_file_streams_through_dpv(runtime: &str) {
    let net = Net::start(&["--max-body", "128MB"]);
    let node = net.node(runtime);
    let addr = node.addr.as_str();
    let dir = &net.dir;

    let id = random_uuid();
    create(addr, &message(&id), runtime);
    upload_large(addr, &id);
    let r = send(addr, &id);
    assert_eq!(r.status, 200, "{runtime}: send: {r:?}");
    wait_for_statuses(addr, &id, &["SENDT"]);
    let (_, hwm) = memory(node.pid());
    eprintln!("{runtime}: the node's peak resident memory: {} MiB", hwm / MIB);
    assert!(
        hwm < MEMORY_CEILING,
        "{runtime}: the node peaked at {} MiB sending {} MiB",
        hwm / MIB,
        LARGE / MIB
    );

    // The work-alike has it whole.
    let records = std::fs::read_dir(dir.join("correspondences")).unwrap();
    let record = records
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "json"))
        .expect("a correspondence");
    let record: Value = serde_json::from_slice(&std::fs::read(record.path()).unwrap()).unwrap();
    let stored = record["attachments"][0]["file"].as_str().expect("a stored file");
    assert_eq!(record["attachments"][0]["fileName"], "big.bin");
    same_as_pattern(&dir.join(stored));
}

fn message(id: &str) -> Value {
    let party =
        |v: &str| json!([{"identifier": {"authority": "iso6523-actorid-upis", "value": v}}]);
    json!({
        "standardBusinessDocumentHeader": {
            "headerVersion": "1.0",
            "sender": party(&format!("0192:{SENDER}")),
            "receiver": party(PERSON),
            "documentIdentification": {"standard": STANDARD, "typeVersion": "2.0",
                "instanceIdentifier": id, "type": "digital_dpv",
                "creationDateAndTime": "2026-03-25T11:35:00+01:00"},
            "businessScope": {"scope": [{"type": "ConversationId", "identifier": PROCESS,
                "instanceIdentifier": random_uuid(),
                "scopeInformation": [{"expectedResponseDateTime": "2099-05-10T00:31:52+01:00"}]}]}
        },
        "digital_dpv": {"tittel": "Stor", "sammendrag": "Stor fil", "innhold": "Se vedlegg"}
    })
}

/// `PUT` the large file, written piece by piece as it is generated.
fn upload_large(addr: &str, id: &str) {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode("efm:secret");
    let head = format!(
        "PUT /api/messages/out/{id}?title=Stor HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Basic {token}\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=big.bin\r\nContent-Length: {LARGE}\r\n\r\n"
    );
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut pattern = Pattern(0x9e37_79b9_7f4a_7c15);
    let mut piece = vec![0u8; MIB as usize];
    for _ in 0..LARGE / MIB {
        pattern.fill(&mut piece);
        s.write_all(&piece).unwrap();
    }
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "upload: {answer}");
}

fn same_as_pattern(path: &Path) {
    let mut f = std::fs::File::open(path).unwrap();
    assert_eq!(f.metadata().unwrap().len(), LARGE, "the stored size");
    let mut pattern = Pattern(0x9e37_79b9_7f4a_7c15);
    let (mut want, mut got) = (vec![0u8; MIB as usize], vec![0u8; MIB as usize]);
    for i in 0..LARGE / MIB {
        pattern.fill(&mut want);
        f.read_exact(&mut got).unwrap();
        assert!(want == got, "MiB {i} differs");
    }
}

/// Deterministic bytes that do not compress or repeat: xorshift64*.
struct Pattern(u64);

impl Pattern {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// `VmRSS` and `VmHWM` (peak) of a process, in bytes.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}
