//! `efm serve` answering the messages-in API (find, peek, pop, delete) for incoming
//! messages put into its data folder the way the message services put them: through
//! efm-store, with the ASiC CMS-encrypted by `openssl cms` to the server's key.
//! Every test runs against both runtimes.

mod package_support;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use efm_core::Timestamp;
use efm_core::node::{IncomingMessage, Loaded, Query, StagedFile, StatusReply, Write};
use efm_core::registry::model::ServiceIdentifier;
use efm_core::sbd::{BusinessMessage, Sbd, status_reply};
use efm_core::status::Status;
use efm_store::Store;
use efm_tests::http::{Reply, request};
use efm_tests::server::Served;
use package_support::{asic_bytes, fixtures, identity, noise, now, run, scratch, zip_entries};
use serde_json::Value;

const AUTH: Option<(&str, &str)> = Some(("efm", "secret"));
const RUNTIMES: [&str; 2] = ["blocking", "async"];
const HOUR: efm_core::Duration = efm_core::Duration::from_hours(1);
/// The big document in every seeded ASiC: several read chunks, so that pop streams.
const BIG: usize = 400_000;

/// The ASiC every seeded message carries, and the same encrypted to our key.
struct Payload {
    asic: Vec<u8>,
    cms: Vec<u8>,
}

fn payload() -> &'static Payload {
    static P: OnceLock<Payload> = OnceLock::new();
    P.get_or_init(|| {
        let f = fixtures();
        let asic = asic_bytes(
            &identity(&f.alice),
            &[("arkivmelding.xml", b"<arkivmelding/>"), ("stor.bin", &noise(BIG, 7))],
        );
        let d = scratch("messages-in");
        let (plain, cms) = (d.join("asic.zip"), d.join("asic.cms"));
        std::fs::write(&plain, &asic).unwrap();
        // As a DPO sender encrypts: AES-256-CBC, RSAES-OAEP with SHA-256.
        run(Command::new("openssl")
            .args(["cms", "-encrypt", "-binary", "-aes256", "-outform", "DER", "-in"])
            .arg(&plain)
            .arg("-out")
            .arg(&cms)
            .arg("-recip")
            .arg(&f.bob.cert)
            .args(["-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"])
            .args(["-keyopt", "rsa_mgf1_md:sha256"]));
        Payload { asic, cms: std::fs::read(&cms).unwrap() }
    })
}

fn sbd(id: &str) -> Sbd {
    let body = serde_json::json!({
        "standardBusinessDocumentHeader": {
            "headerVersion": "1.0",
            "sender": [{"identifier": {"value": "0192:910077473", "authority": "iso6523-actorid-upis"}}],
            "receiver": [{"identifier": {"value": "0192:987654321", "authority": "iso6523-actorid-upis"}}],
            "documentIdentification": {"standard": "urn:no:difi:arkivmelding:xsd::arkivmelding",
                "typeVersion": "1.0", "instanceIdentifier": id, "type": "arkivmelding",
                "creationDateAndTime": "2019-03-25T11:38:23+02:00"},
            "businessScope": {"scope": [{"type": "ConversationId",
                "instanceIdentifier": "b4567a25-672c-4c2e-9a0f-08c52c54254b",
                "identifier": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0"}]}
        },
        "arkivmelding": {"hoveddokument": "arkivmelding.xml"}
    });
    Sbd::from_json(body.to_string().as_bytes()).unwrap()
}

fn id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// Store a received message in `dir` as the message services do: the CMS staged,
/// then one write with the MOTTATT reply to the sender.
fn seed(dir: &Path, message_id: &str, service: ServiceIdentifier, expiry: Timestamp, asic: bool) {
    let at = now();
    let mut store = Store::open(dir, at).unwrap();
    let staged = asic.then(|| {
        let name = format!("{message_id}.cms");
        std::fs::write(store.staging_dir().join(&name), &payload().cms).unwrap();
        StagedFile { name, size: payload().cms.len() as u64 }
    });
    let sbd = sbd(message_id);
    let reply = StatusReply {
        sbd: status_reply(&sbd, Status::Mottatt, message_id.parse().unwrap(), at),
        service,
    };
    let message = IncomingMessage { sbd, service, received: at, expiry, asic: staged };
    store
        .persist(&Write::CreateIncoming { message: Box::new(message), reply: Some(reply) })
        .unwrap();
}

/// `efm serve` with bob's keystore (the key the ASiCs are encrypted to).
fn serve(dir: &Path, runtime: &str, extra: &[(&str, &str)]) -> Served {
    package_support::efm();
    let p12 = dir.join("keystore.p12");
    std::fs::copy(&fixtures().bob.p12, &p12).unwrap();
    let mut env = vec![
        ("EFM_KEYSTORE", p12.to_str().unwrap()),
        ("EFM_KEYSTORE_PASSWORD", "changeit"),
        ("EFM_RUNTIME", runtime),
    ];
    env.extend_from_slice(extra);
    Served::start(dir, &env)
}

fn get(addr: &str, target: &str) -> Reply {
    request(addr, "GET", target, AUTH, None, b"")
}

fn delete(addr: &str, target: &str) -> Reply {
    request(addr, "DELETE", target, AUTH, None, b"")
}

fn message_id(v: &Value) -> &str {
    v["standardBusinessDocumentHeader"]["documentIdentification"]["instanceIdentifier"]
        .as_str()
        .unwrap_or_else(|| panic!("not an SBD: {v}"))
}

/// The ASiC a pop answered, checked as a whole: the bytes sent, and its documents.
fn check_asic(r: &Reply) {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/vnd.etsi.asic-e+zip"));
    assert_eq!(r.header("content-disposition"), Some("attachment; filename=asic.zip"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let body = r.dechunked().expect("a complete chunked body");
    assert!(body == payload().asic, "the popped ASiC differs from the one sent");
    let entries = zip_entries(&body);
    let big = entries.iter().find(|(n, _)| n == "stor.bin").expect("stor.bin");
    assert!(big.1 == noise(BIG, 7));
}

fn statuses(addr: &str, message_id: &str) -> Vec<String> {
    let r = get(addr, &format!("/api/statuses/{message_id}"));
    assert_eq!(r.status, 200);
    r.json()["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_error(r: &Reply, status: u16, exception: &str, message: &str, path: &str) {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["exception"], format!("no.difi.meldingsutveksling.exceptions.{exception}"));
    assert_eq!(v["message"], message);
    assert_eq!(v["path"], path);
    assert_eq!(v["status"], status);
    assert!(v["timestamp"].is_string() && v["error"].is_string(), "{v}");
}

#[test]
fn peek_pop_delete() {
    for runtime in RUNTIMES {
        peek_pop_delete_on(runtime);
    }
}

fn peek_pop_delete_on(runtime: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (id(1), id(2));
    seed(dir.path(), &a, ServiceIdentifier::Dpo, now() + HOUR, true);
    // A message without files (an eInnsyn one, say): nothing to pop.
    seed(dir.path(), &b, ServiceIdentifier::Dpe, now() + HOUR, false);
    let server = serve(dir.path(), runtime, &[]);
    let s = server.addr.as_str();

    let found = get(s, "/api/messages/in");
    assert_eq!(found.status, 200);
    let v = found.json();
    assert_eq!((v["totalElements"].as_u64(), message_id(&v["content"][0])), (Some(2), a.as_str()));
    let v = get(s, "/api/messages/in?serviceIdentifier=DPE&size=1").json();
    assert_eq!((v["totalElements"].as_u64(), message_id(&v["content"][0])), (Some(1), b.as_str()));

    // Pop and delete need a lease.
    let not_locked = format!("Message with messageId = {a} was not locked");
    let pop_a = format!("/api/messages/in/pop/{a}");
    assert_error(&get(s, &pop_a), 400, "MessageNotLockedException", &not_locked, &pop_a);
    let del_a = format!("/api/messages/in/{a}");
    assert_error(&delete(s, &del_a), 400, "MessageNotLockedException", &not_locked, &del_a);

    let peeked = get(s, "/api/messages/in/peek?serviceIdentifier=DPO");
    assert_eq!(peeked.status, 200);
    assert_eq!(peeked.json(), sbd(&a).to_json_value());
    check_asic(&get(s, &pop_a));
    check_asic(&get(s, &pop_a)); // pop can be repeated

    assert_eq!(message_id(&get(s, "/api/messages/in/peek").json()), b);
    let popped = get(s, &format!("/api/messages/in/pop/{b}"));
    assert_eq!((popped.status, popped.body.len()), (204, 0));
    let none = get(s, "/api/messages/in/peek");
    assert_eq!((none.status, none.body.len()), (204, 0));

    let deleted = delete(s, &del_a);
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.json(), sbd(&a).to_json_value());
    assert_eq!(statuses(s, &a), ["OPPRETTET", "INNKOMMENDE_MOTTATT", "INNKOMMENDE_LEVERT"]);
    assert!(!dir.path().join("incoming").join(&a).exists(), "the stored ASiC is gone");
    let gone = format!("Message with messageId = {a} was not found");
    assert_error(&delete(s, &del_a), 404, "MessageNotFoundException", &gone, &del_a);
    assert_error(&get(s, &pop_a), 404, "MessageNotFoundException", &gone, &pop_a);

    // Unknown and malformed ids.
    let unknown = id(99);
    let path = format!("/api/messages/in/pop/{unknown}");
    let msg = format!("Message with messageId = {unknown} was not found");
    assert_error(&get(s, &path), 404, "MessageNotFoundException", &msg, &path);
    let path = "/api/messages/in/not-a-uuid";
    let msg = "Message with messageId = not-a-uuid was not found";
    assert_error(&delete(s, path), 404, "MessageNotFoundException", msg, path);

    let health = get(s, "/manage/health").json();
    assert_eq!(health["components"]["nextMoveQueue"]["details"]["incoming"], 1);
    server.kill_9();

    // The senders are told: MOTTATT for both arrivals, LEVERT for the fetched one.
    let mut store = Store::open(dir.path(), now()).unwrap();
    let Ok(Loaded::Replies { due, .. }) =
        store.load(&Query::DueReplies { now: now() + HOUR, limit: 10 })
    else {
        panic!()
    };
    let told: Vec<(String, Option<Status>, ServiceIdentifier)> = due
        .iter()
        .map(|(_, r, _)| {
            let BusinessMessage::Status(m) = &r.sbd.message else { panic!("{:?}", r.sbd) };
            (r.sbd.message_id().unwrap().to_string(), m.status, r.service)
        })
        .collect();
    assert_eq!(
        told,
        [
            (a.clone(), Some(Status::Mottatt), ServiceIdentifier::Dpo),
            (b, Some(Status::Mottatt), ServiceIdentifier::Dpe),
            (a, Some(Status::Levert), ServiceIdentifier::Dpo),
        ]
    );
    let levert = &due[2].1.sbd;
    assert_eq!(levert.header.receiver.as_ref().unwrap().value, "0192:910077473");
    assert_eq!(levert.standard(), "urn:no:difi:eformidling:xsd::status");
}

#[test]
fn two_consumers_get_every_message_exactly_once() {
    for runtime in RUNTIMES {
        two_consumers_on(runtime);
    }
}

fn two_consumers_on(runtime: &str) {
    const N: u32 = 8;
    let dir = tempfile::tempdir().unwrap();
    for n in 0..N {
        seed(dir.path(), &id(n), ServiceIdentifier::Dpo, now() + HOUR, true);
    }
    let server = serve(dir.path(), runtime, &[]);
    let consumer = |addr: String| {
        std::thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                let peeked = get(&addr, "/api/messages/in/peek");
                if peeked.status == 204 {
                    return got;
                }
                assert_eq!(peeked.status, 200, "{}", String::from_utf8_lossy(&peeked.body));
                let m = message_id(&peeked.json()).to_owned();
                check_asic(&get(&addr, &format!("/api/messages/in/pop/{m}")));
                let deleted = delete(&addr, &format!("/api/messages/in/{m}"));
                assert_eq!(deleted.status, 200, "a leased message is ours to delete");
                got.push(m);
            }
        })
    };
    let (one, two) = (consumer(server.addr.clone()), consumer(server.addr.clone()));
    let (one, two) = (one.join().unwrap(), two.join().unwrap());
    let mut all: Vec<String> = one.iter().chain(&two).cloned().collect();
    all.sort();
    let expected: Vec<String> = (0..N).map(id).collect();
    assert_eq!(all, expected, "each message once: {one:?} and {two:?}");
    for m in &expected {
        assert_eq!(statuses(&server.addr, m).last().unwrap(), "INNKOMMENDE_LEVERT");
    }
}

#[test]
fn a_lapsed_lease_offers_the_message_again() {
    for runtime in RUNTIMES {
        a_lapsed_lease_on(runtime);
    }
}

fn a_lapsed_lease_on(runtime: &str) {
    let dir = tempfile::tempdir().unwrap();
    let a = id(1);
    seed(dir.path(), &a, ServiceIdentifier::Dpo, now() + HOUR, true);
    let server = serve(dir.path(), runtime, &[("EFM_LOCK_TIMEOUT", "1s")]);
    let s = server.addr.as_str();
    assert_eq!(message_id(&get(s, "/api/messages/in/peek").json()), a);
    assert_eq!(get(s, "/api/messages/in/peek").status, 204, "leased to the first consumer");
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let pop = format!("/api/messages/in/pop/{a}");
    assert_eq!(
        get(s, &pop).json()["exception"],
        "no.difi.meldingsutveksling.exceptions.MessageNotLockedException"
    );
    // Never deleted, so offered again: delivery to consumers is at least once.
    assert_eq!(message_id(&get(s, "/api/messages/in/peek").json()), a);
    check_asic(&get(s, &pop));
    assert_eq!(delete(s, &format!("/api/messages/in/{a}")).status, 200);
}

#[test]
fn expired_messages_are_never_offered_and_are_swept() {
    for runtime in RUNTIMES {
        expired_on(runtime);
    }
}

fn expired_on(runtime: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (old, live) = (id(1), id(2));
    seed(dir.path(), &old, ServiceIdentifier::Dpo, now() + efm_core::Duration::from_secs(-1), true);
    seed(dir.path(), &live, ServiceIdentifier::Dpo, now() + HOUR, true);
    let server = serve(dir.path(), runtime, &[]);
    let s = server.addr.as_str();
    let v = get(s, "/api/messages/in").json();
    assert_eq!(
        (v["totalElements"].as_u64(), message_id(&v["content"][0])),
        (Some(1), live.as_str())
    );
    assert_eq!(get(s, &format!("/api/messages/in/peek?messageId={old}")).status, 204);
    assert_eq!(get(s, &format!("/api/messages/in/pop/{old}")).status, 404);
    assert_eq!(delete(s, &format!("/api/messages/in/{old}")).status, 404);
    // The sweep at start-up records the expiry and removes the ASiC.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while statuses(s, &old).last().map(String::as_str) != Some("LEVETID_UTLOPT") {
        assert!(std::time::Instant::now() < deadline, "no LEVETID_UTLOPT: {:?}", statuses(s, &old));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!dir.path().join("incoming").join(&old).exists());
    assert!(dir.path().join("incoming").join(&live).join("asic.cms").exists());
    assert_eq!(message_id(&get(s, "/api/messages/in/peek").json()), live);
}
