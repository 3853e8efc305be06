//! Two integration points exchange messages end to end over the local message
//! services: org A sends to org B over DPO (the broker work-alike) and DPE (the
//! Service Bus work-alike); B receives, and its fagsystem side peeks, pops and
//! deletes; A sees SENDT, MOTTATT and LEVERT come back. Run on both runtimes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use efm_tests::http::{Reply, request};
use efm_tests::keys::TestKey;
use efm_tests::server::{LocalRegistry, LocalService, Served};
use serde_json::{Value, json};

const ORG_A: &str = "910077473";
const ORG_B: &str = "910075918";
const AUTH: Option<(&str, &str)> = Some(("efm", "secret"));
const ARKIVMELDING_PROCESS: &str = "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0";
const INNSYNSKRAV_PROCESS: &str = "urn:no:difi:profile:einnsyn-innsynskrav:ver1.0";

fn random_uuid() -> String {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).unwrap();
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "efm-exchange-{}-{name}-{}",
        std::process::id(),
        random_uuid()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A registry folder naming both orgs, each reachable over DPO (arkivmelding) and
/// DPE (innsynskrav) with its certificate.
fn registry_dir(a: &TestKey, b: &TestKey) -> PathBuf {
    let dir = temp("registry");
    std::fs::create_dir_all(dir.join("identifier")).unwrap();
    // A is an eInnsyn client (mode innsyn), B an archive (mode data): innsynskrav
    // go to B's data queue, and B's status replies come back to A's innsyn queue.
    for (org, key, queue) in [(ORG_A, a, "innsyn"), (ORG_B, b, "data")] {
        let pem = std::fs::read_to_string(&key.cert_pem).unwrap();
        let record = |process: &str, doc: &str, service: &str, endpoint: &str| {
            json!({
                "organisationNumber": org,
                "pemCertificate": pem,
                "process": process,
                "documentTypes": [doc],
                "service": { "identifier": service, "endpointUrl": endpoint, "securityLevel": 3 }
            })
        };
        let answer = json!({
            "infoRecord": {
                "identifier": org,
                "organizationName": format!("Org {org}"),
                "entityType": { "name": "ORGL" }
            },
            "serviceRecords": [
                record(ARKIVMELDING_PROCESS, "urn:no:difi:arkivmelding:xsd::arkivmelding", "DPO", ""),
                record(INNSYNSKRAV_PROCESS, "urn:no:difi:einnsyn:xsd:innsyn::innsynskrav", "DPE", queue),
            ]
        });
        std::fs::write(
            dir.join("identifier").join(format!("{org}.json")),
            serde_json::to_vec_pretty(&answer).unwrap(),
        )
        .unwrap();
    }
    dir
}

struct Network {
    _registry: LocalRegistry,
    _broker: LocalService,
    _bus: LocalService,
    a: Served,
    b: Served,
}

fn start(runtime: &str) -> Network {
    let key_a = TestKey::generate("org-a");
    let key_b = TestKey::generate("org-b");
    let registry = LocalRegistry::start(&registry_dir(&key_a, &key_b));
    let broker = LocalService::broker(&temp("broker"), &[]);
    let bus = LocalService::service_bus(&temp("bus"), &[]);
    let node = |org: &str, key: &TestKey, mode: &str| {
        let keystore = key.pkcs12("changeit");
        let data = temp(&format!("node-{org}"));
        let env: Vec<(String, String)> = vec![
            ("EFM_ORG".into(), org.into()),
            ("EFM_KEYSTORE".into(), keystore.display().to_string()),
            ("EFM_KEYSTORE_PASSWORD".into(), "changeit".into()),
            ("EFM_REGISTRY_URL".into(), registry.url.clone()),
            ("EFM_ENABLE".into(), "DPO,DPE".into()),
            ("EFM_DPO_BROKER_URL".into(), format!("{}/broker/api/v1", broker.url)),
            ("EFM_MASKINPORTEN_URL".into(), format!("{}/maskinporten/token", broker.url)),
            (
                "EFM_ALTINN_EXCHANGE_URL".into(),
                format!("{}/authentication/api/v1/exchange/maskinporten", broker.url),
            ),
            ("EFM_DPE_URL".into(), bus.url.clone()),
            ("EFM_DPE_SAS_KEY".into(), "local-key".into()),
            ("EFM_POLL_INTERVAL".into(), "1s".into()),
            ("EFM_RETRY_BASE".into(), "1s".into()),
            ("EFM_RUNTIME".into(), runtime.into()),
            ("EFM_DPE_MODE".into(), mode.into()),
        ];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Served::start(&data, &env)
    };
    let a = node(ORG_A, &key_a, "innsyn");
    let b = node(ORG_B, &key_b, "data");
    Network { _registry: registry, _broker: broker, _bus: bus, a, b }
}

fn sbd(process: &str, standard: &str, kind: &str, body: Value) -> (String, Value) {
    let message_id = random_uuid();
    let sbd = json!({
        "standardBusinessDocumentHeader": {
            "businessScope": { "scope": [{
                "identifier": process,
                "instanceIdentifier": random_uuid(),
                "type": "ConversationId"
            }]},
            "documentIdentification": {
                "instanceIdentifier": message_id,
                "standard": standard,
                "type": kind,
                "typeVersion": "2.0"
            },
            "headerVersion": "1.0",
            "receiver": [{ "identifier": { "authority": "iso6523-actorid-upis", "value": format!("0192:{ORG_B}") } }],
            "sender": [{ "identifier": { "authority": "iso6523-actorid-upis", "value": format!("0192:{ORG_A}") } }]
        },
        kind: body
    });
    (message_id, sbd)
}

fn ok(r: &Reply, what: &str) {
    assert!(r.status < 300, "{what}: {} {}", r.status, String::from_utf8_lossy(&r.body));
}

fn upload(addr: &str, id: &str, name: &str, mime: &str, body: &[u8]) {
    let r = efm_tests::http::request_with(
        addr,
        "PUT",
        &format!("/api/messages/out/{id}"),
        AUTH,
        &[
            ("Content-Type", mime),
            ("Content-Disposition", &format!("attachment; filename=\"{name}\"")),
        ],
        body,
    );
    ok(&r, "upload");
}

/// The statuses of a message as one side records them.
fn statuses(addr: &str, id: &str) -> Vec<String> {
    let r =
        request(addr, "GET", &format!("/api/statuses?messageId={id}&size=100"), AUTH, None, b"");
    ok(&r, "statuses");
    r.json()["content"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["status"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn arkivmelding_xml() -> Vec<u8> {
    std::fs::read(efm_tests::workspace().join("examples/files/arkivmelding.xml")).unwrap()
}

/// The names of the files the arkivmelding example references.
fn referenced(xml: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(xml);
    text.split("<referanseDokumentfil>")
        .skip(1)
        .filter_map(|s| s.split("</referanseDokumentfil>").next().map(str::to_owned))
        .collect()
}

#[test]
fn dpo_and_dpe_end_to_end_blocking() {
    end_to_end("blocking");
}

#[test]
fn dpo_and_dpe_end_to_end_async() {
    end_to_end("async");
}

fn end_to_end(runtime: &str) {
    let net = start(runtime);
    let (a, b) = (net.a.addr.as_str(), net.b.addr.as_str());

    // DPO: an arkivmelding with its files.
    let (dpo_id, message) = sbd(
        ARKIVMELDING_PROCESS,
        "urn:no:difi:arkivmelding:xsd::arkivmelding",
        "arkivmelding",
        json!({ "hoveddokument": "arkivmelding.xml", "sikkerhetsnivaa": 3 }),
    );
    let r = request(
        a,
        "POST",
        "/api/messages/out",
        AUTH,
        Some("application/json"),
        message.to_string().as_bytes(),
    );
    ok(&r, "create DPO");
    let xml = arkivmelding_xml();
    upload(a, &dpo_id, "arkivmelding.xml", "application/xml", &xml);
    let mut sent_files = vec![("arkivmelding.xml".to_owned(), xml.clone())];
    for name in referenced(&xml) {
        let content = format!("content of {name}\n").repeat(1000).into_bytes();
        upload(a, &dpo_id, &name, "text/plain", &content);
        sent_files.push((name, content));
    }
    ok(&request(a, "POST", &format!("/api/messages/out/{dpo_id}"), AUTH, None, b""), "send DPO");

    // DPE: an innsynskrav with one file.
    let (dpe_id, message) = sbd(
        INNSYNSKRAV_PROCESS,
        "urn:no:difi:einnsyn:xsd:innsyn::innsynskrav",
        "innsynskrav",
        json!({ "orgnr": "987654321", "epost": "innsyn@example.org" }),
    );
    let r = request(
        a,
        "POST",
        "/api/messages/out",
        AUTH,
        Some("application/json"),
        message.to_string().as_bytes(),
    );
    ok(&r, "create DPE");
    upload(a, &dpe_id, "order.xml", "application/xml", b"<innsynskrav>1</innsynskrav>");
    ok(&request(a, "POST", &format!("/api/messages/out/{dpe_id}"), AUTH, None, b""), "send DPE");

    for id in [&dpo_id, &dpe_id] {
        wait_for(&format!("{id} SENDT and MOTTATT at A"), Duration::from_secs(30), || {
            let s = statuses(a, id);
            s.contains(&"SENDT".to_owned()) && s.contains(&"MOTTATT".to_owned())
        });
        wait_for(&format!("{id} INNKOMMENDE_MOTTATT at B"), Duration::from_secs(10), || {
            statuses(b, id).contains(&"INNKOMMENDE_MOTTATT".to_owned())
        });
    }

    // B's fagsystem takes both: peek, pop, delete.
    let mut taken = Vec::new();
    for _ in 0..2 {
        let r = request(b, "GET", "/api/messages/in/peek", AUTH, None, b"");
        ok(&r, "peek");
        let peeked = r.json();
        let id = peeked["standardBusinessDocumentHeader"]["documentIdentification"]["instanceIdentifier"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = request(b, "GET", &format!("/api/messages/in/pop/{id}"), AUTH, None, b"");
        ok(&r, "pop");
        let files = asic_files(&r.dechunked().expect("a chunked body"));
        if id == dpo_id {
            for (name, content) in &sent_files {
                let got = files.iter().find(|(n, _)| n == name);
                assert_eq!(got.map(|g| &g.1), Some(content), "{name} arrives intact");
            }
        } else {
            assert!(
                files.iter().any(|(n, c)| n == "order.xml" && c == b"<innsynskrav>1</innsynskrav>")
            );
        }
        ok(&request(b, "DELETE", &format!("/api/messages/in/{id}"), AUTH, None, b""), "delete");
        taken.push(id);
    }
    taken.sort();
    let mut expected = vec![dpo_id.clone(), dpe_id.clone()];
    expected.sort();
    assert_eq!(taken, expected);
    // Nothing more to take.
    assert_eq!(request(b, "GET", "/api/messages/in/peek", AUTH, None, b"").status, 204);

    for id in [&dpo_id, &dpe_id] {
        wait_for(&format!("{id} LEVERT at A"), Duration::from_secs(30), || {
            statuses(a, id).contains(&"LEVERT".to_owned())
        });
        let s = statuses(a, id);
        let order: Vec<&str> = s.iter().map(String::as_str).collect();
        assert_eq!(order, ["OPPRETTET", "SENDT", "MOTTATT", "LEVERT"], "{id} at A");
        let s = statuses(b, id);
        assert_eq!(s, ["OPPRETTET", "INNKOMMENDE_MOTTATT", "INNKOMMENDE_LEVERT"], "{id} at B");
    }
}

/// The documents in an ASiC-E, by name (META-INF left out), read with `unzip`.
fn asic_files(asic: &[u8]) -> Vec<(String, Vec<u8>)> {
    let dir = temp("asic");
    let zip = dir.join("m.asice");
    std::fs::write(&zip, asic).unwrap();
    let out = std::process::Command::new("unzip")
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(dir.join("x"))
        .output()
        .unwrap();
    assert!(out.status.success(), "unzip: {}", String::from_utf8_lossy(&out.stderr));
    let mut files = Vec::new();
    collect(&dir.join("x"), &dir.join("x"), &mut files);
    files
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(root, &p, out);
        } else {
            let name = p.strip_prefix(root).unwrap().display().to_string();
            if !name.starts_with("META-INF") && name != "mimetype" {
                out.push((name, std::fs::read(&p).unwrap()));
            }
        }
    }
}
