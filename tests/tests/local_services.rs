//! Black-box tests of the local message services, `efm broker serve` (Altinn 3 Broker
//! with Maskinporten and the token exchange) and `efm servicebus serve` (Azure Service
//! Bus REST), against the real binary: the flows two integration points run through
//! them, who may see what, state across restarts, and the seeded fault knobs.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use efm_core::jose::b64url;
use efm_tests::http::{Reply, request_with, try_request_with};
use efm_tests::server::LocalService;
use serde_json::{Value, json};

const A: &str = "910077473";
const B: &str = "910075918";
const C: &str = "910076787";
const RESOURCE: &str = "eformidling-dpo-meldingsutveksling";
const BOTH_SCOPES: &str = "altinn:broker.write altinn:broker.read";
const FILETRANSFER: &str = "/broker/api/v1/filetransfer";

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A JWT grant naming `org` by its client id. The work-alike does not verify the
/// signature, so this one is not signed.
fn assertion(claims: &Value) -> String {
    let header = b64url(br#"{"alg":"RS256"}"#);
    format!("{header}.{}.c2lnbmF0dXJl", b64url(claims.to_string().as_bytes()))
}

fn grant_claims(org: &str, scope: &str) -> Value {
    let now = now_secs();
    json!({"aud": "https://test.maskinporten.no/", "iss": format!("MOVE_IP_{org}"),
           "scope": scope, "iat": now, "exp": now + 120, "jti": "1"})
}

fn token_request(addr: &str, assertion: &str) -> Reply {
    let body = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
    );
    let ct = [("Content-Type", "application/x-www-form-urlencoded")];
    request_with(addr, "POST", "/maskinporten/token", None, &ct, body.as_bytes())
}

fn maskinporten_token(addr: &str, org: &str, scope: &str) -> String {
    let r = token_request(addr, &assertion(&grant_claims(org, scope)));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["expires_in"], 120);
    assert_eq!(v["scope"], scope);
    v["access_token"].as_str().unwrap().to_owned()
}

fn exchange(addr: &str, bearer: &str) -> Reply {
    let auth = format!("Bearer {bearer}");
    let h = [("Authorization", auth.as_str())];
    request_with(addr, "GET", "/authentication/api/v1/exchange/maskinporten", None, &h, b"")
}

/// An Altinn token for `org`: the Maskinporten grant, then the exchange.
fn altinn_token(addr: &str, org: &str, scope: &str) -> String {
    let r = exchange(addr, &maskinporten_token(addr, org, scope));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    String::from_utf8(r.body).unwrap()
}

fn call(
    addr: &str,
    method: &str,
    target: &str,
    token: &str,
    ct: Option<&str>,
    body: &[u8],
) -> Reply {
    let auth = format!("Bearer {token}");
    let mut h = vec![("Authorization", auth.as_str()), ("Accept", "application/json")];
    if let Some(ct) = ct {
        h.push(("Content-Type", ct));
    }
    request_with(addr, method, target, None, &h, body)
}

fn get(addr: &str, target: &str, token: &str) -> Reply {
    call(addr, "GET", target, token, None, b"")
}

fn initiate_body(sender: &str, recipient: &str) -> Value {
    json!({
        "fileName": "sbd.zip", "resourceId": RESOURCE,
        "sendersFileTransferReference": "19efbd4c-413d-4e2c-bbc5-257ef4a65b38",
        "sender": format!("0192:{sender}"), "recipients": [format!("0192:{recipient}")],
        "propertyList": {}, "checksum": null, "disableVirusScan": null
    })
}

fn initiate(addr: &str, token: &str, body: &Value) -> Reply {
    let url = format!("{FILETRANSFER}/");
    call(addr, "POST", &url, token, Some("application/json"), body.to_string().as_bytes())
}

/// Initiates a transfer from `from` to `to` and uploads `payload`; the transfer id.
fn send_file(addr: &str, token: &str, from: &str, to: &str, payload: &[u8]) -> String {
    let r = initiate(addr, token, &initiate_body(from, to));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["fileTransferId"].as_str().unwrap().to_owned();
    let r = upload(addr, token, &id, payload);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["fileTransferId"], id.as_str());
    id
}

fn upload(addr: &str, token: &str, id: &str, payload: &[u8]) -> Reply {
    let url = format!("{FILETRANSFER}/{id}/upload");
    call(addr, "POST", &url, token, Some("application/octet-stream"), payload)
}

/// The ids `token`'s organisation is offered, as the integration point polls.
fn listed(addr: &str, token: &str, recipient_status: &str) -> Vec<String> {
    let url = format!(
        "{FILETRANSFER}?resourceId={RESOURCE}&status=Published&recipientStatus={recipient_status}"
    );
    let r = get(addr, &url, token);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json().as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

/// Deterministic bytes that do not compress or repeat in short runs.
fn payload(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn records(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("requests.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn assert_problem(r: &Reply, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let v = r.json();
    assert_eq!(v["status"], status);
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
    v
}

#[test]
fn broker_carries_a_file_from_a_to_b_until_b_confirms() {
    let dir = tempfile::tempdir().unwrap();
    let broker = LocalService::broker(dir.path(), &[]);
    let addr = broker.addr.as_str();
    let (ta, tb, tc) = (
        altinn_token(addr, A, BOTH_SCOPES),
        altinn_token(addr, B, BOTH_SCOPES),
        altinn_token(addr, C, BOTH_SCOPES),
    );
    assert!(ta.starts_with(&format!("efm-local:{A}:")), "the token names its org: {ta}");

    let r = initiate(addr, &ta, &initiate_body(A, B));
    assert_eq!(r.status, 200);
    let id = r.json()["fileTransferId"].as_str().unwrap().to_owned();
    assert!(listed(addr, &tb, "Initialized").is_empty(), "not offered before the upload");

    let file = payload(1 << 20);
    assert_eq!(upload(addr, &ta, &id, &file).status, 200);
    assert_eq!(listed(addr, &tb, "Initialized"), vec![id.clone()]);
    assert!(listed(addr, &ta, "Initialized").is_empty(), "the sender is no recipient");
    let all_of_a = get(addr, &format!("{FILETRANSFER}?resourceId={RESOURCE}"), &ta).json();
    assert_eq!(all_of_a, json!([id]), "without recipientStatus: the sender's own too");

    let details = get(addr, &format!("{FILETRANSFER}/{id}"), &tb);
    assert_eq!(details.status, 200);
    let d = details.json();
    assert_eq!(d["fileTransferId"], id.as_str());
    assert_eq!(d["resourceId"], RESOURCE);
    assert_eq!(d["fileName"], "sbd.zip");
    assert_eq!(d["sendersFileTransferReference"], "19efbd4c-413d-4e2c-bbc5-257ef4a65b38");
    assert_eq!(d["sender"], format!("0192:{A}"));
    assert_eq!(d["fileTransferStatus"], "Published");
    assert_eq!(d["fileTransferSize"], file.len());
    assert_eq!(d["recipients"][0]["recipient"], format!("0192:{B}"));
    assert_eq!(d["recipients"][0]["currentRecipientFileTransferStatusCode"], "Initialized");
    assert!(efm_core::sbd::DateTime::parse(d["created"].as_str().unwrap()).is_ok(), "{d}");

    // Nobody but the recipient downloads; strangers do not even see it.
    assert_problem(&get(addr, &format!("{FILETRANSFER}/{id}/download"), &ta), 404);
    assert_problem(&get(addr, &format!("{FILETRANSFER}/{id}/download"), &tc), 404);
    assert_problem(&get(addr, &format!("{FILETRANSFER}/{id}"), &tc), 401);
    let confirm = format!("{FILETRANSFER}/{id}/confirmdownload");
    assert_problem(&call(addr, "POST", &confirm, &tb, None, b""), 400);

    let download = get(addr, &format!("{FILETRANSFER}/{id}/download"), &tb);
    assert_eq!(download.status, 200);
    assert_eq!(download.header("content-type"), Some("application/octet-stream"));
    assert!(download.body == file, "downloaded bytes differ from the upload");
    // As in Altinn: once downloaded, it is DownloadStarted, no longer Initialized.
    assert!(listed(addr, &tb, "Initialized").is_empty());
    assert_eq!(listed(addr, &tb, "DownloadStarted"), vec![id.clone()]);

    assert_eq!(call(addr, "POST", &confirm, &tb, None, b"").status, 200);
    assert!(listed(addr, &tb, "DownloadStarted").is_empty());
    assert!(listed(addr, &tb, "Initialized").is_empty());
    let d = get(addr, &format!("{FILETRANSFER}/{id}/details"), &ta).json();
    assert_eq!(d["fileTransferStatus"], "AllConfirmedDownloaded");
    assert_eq!(d["recipients"][0]["currentRecipientFileTransferStatusCode"], "DownloadConfirmed");
    let history: Vec<&str> = d["fileTransferStatusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fileTransferStatus"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["Initialized", "UploadStarted", "Published", "AllConfirmedDownloaded"]);
    // A confirm after all recipients confirmed is refused, as by Altinn.
    assert_problem(&call(addr, "POST", &confirm, &tb, None, b""), 400);

    let recs = records(dir.path());
    let init = recs.iter().find(|r| r["path"] == format!("{FILETRANSFER}/")).unwrap();
    assert_eq!(init["caller"], A);
    assert_eq!(init["status"], 200);
    assert_eq!(init["body"]["recipients"], json!([format!("0192:{B}")]));
    let up = recs.iter().find(|r| r["path"] == format!("{FILETRANSFER}/{id}/upload")).unwrap();
    let stored = std::fs::read(dir.path().join(up["body_file"].as_str().unwrap())).unwrap();
    assert!(stored == file, "the recorded body file is the upload");
    assert_eq!(up["body_size"], file.len());
}

#[test]
fn broker_refuses_unknown_tokens_and_wrong_callers() {
    let dir = tempfile::tempdir().unwrap();
    let broker = LocalService::broker(dir.path(), &[]);
    let addr = broker.addr.as_str();
    let list = format!("{FILETRANSFER}?resourceId={RESOURCE}");

    let none = request_with(addr, "GET", &list, None, &[], b"");
    assert_problem(&none, 401);
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    assert_problem(&get(addr, &list, "not-a-token"), 401);
    let ta = altinn_token(addr, A, BOTH_SCOPES);
    assert_eq!(get(addr, &list, &ta).status, 200);
    assert_problem(&get(addr, &list, &ta.replace(A, B)), 401);
    let mp = maskinporten_token(addr, A, BOTH_SCOPES);
    let v = assert_problem(&get(addr, &list, &mp), 401);
    assert!(v["detail"].as_str().unwrap().contains("exchange"), "{v}");
    assert_problem(&exchange(addr, &ta), 401);
    assert_problem(&exchange(addr, "junk"), 401);

    // Maskinporten refusals are OAuth errors inside problem documents.
    let v = assert_problem(&token_request(addr, "a.b"), 400);
    assert_eq!(v["error"], "invalid_grant");
    let nobody = json!({"iss": "someone", "iat": now_secs(), "exp": now_secs() + 60});
    assert_eq!(
        assert_problem(&token_request(addr, &assertion(&nobody)), 400)["error"],
        "invalid_client"
    );
    let systemuser = json!({"iss": "MOVE_IP_910077473", "iat": now_secs(), "exp": now_secs() + 60,
        "scope": BOTH_SCOPES,
        "authorization_details": [{"type": "urn:altinn:systemuser",
            "systemuser_org": {"authority": "iso6523-actorid-upis", "ID": format!("0192:{B}")}}]});
    let r = token_request(addr, &assertion(&systemuser));
    let via_systemuser = r.json()["access_token"].as_str().unwrap().to_owned();
    assert!(via_systemuser.starts_with(&format!("efm-local:{B}:")), "{via_systemuser}");

    // Scopes: writing needs altinn:broker.write.
    let read_only = altinn_token(addr, A, "altinn:broker.read");
    assert_problem(&initiate(addr, &read_only, &initiate_body(A, B)), 403);
    // The sender must be the caller; the resource must be served.
    assert_problem(&initiate(addr, &ta, &initiate_body(B, A)), 401);
    let mut other = initiate_body(A, B);
    other["resourceId"] = json!("another-resource");
    assert_problem(&initiate(addr, &ta, &other), 403);
    let bad = call(addr, "POST", &format!("{FILETRANSFER}/"), &ta, Some("application/json"), b"{");
    assert_problem(&bad, 400);
    let v = assert_problem(
        &initiate(addr, &ta, &json!({"fileName": "sbd.zip", "recipients": ["910075918"]})),
        400,
    );
    assert!(v["errors"]["recipients"].is_array() && v["errors"]["sender"].is_array(), "{v}");

    let id = send_file(addr, &ta, A, B, b"PK\x03\x04 zip bytes");
    let again = upload(addr, &ta, &id, b"more");
    assert_problem(&again, 409);
    let plain =
        call(addr, "POST", &format!("{FILETRANSFER}/{id}/upload"), &ta, Some("text/plain"), b"x");
    assert_problem(&plain, 415);
    assert_problem(&get(addr, &format!("{FILETRANSFER}/not-a-uuid"), &ta), 400);
    let unknown = "00000000-0000-4000-8000-000000000000";
    assert_problem(&get(addr, &format!("{FILETRANSFER}/{unknown}"), &ta), 404);
    assert_problem(&call(addr, "DELETE", &format!("{FILETRANSFER}/{id}"), &ta, None, b""), 405);
    assert_problem(&get(addr, "/broker/api/v1/elsewhere", &ta), 404);
    // Every refusal above was recorded, with its status.
    assert!(records(dir.path()).iter().any(|r| r["status"] == 415));
}

#[test]
fn broker_state_and_tokens_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = LocalService::broker(dir.path(), &[]);
    let (ta, tb) =
        (altinn_token(&broker.addr, A, BOTH_SCOPES), altinn_token(&broker.addr, B, BOTH_SCOPES));
    let file = payload(200_000);
    let id = send_file(&broker.addr, &ta, A, B, &file);
    broker.stop();

    let broker = LocalService::broker(dir.path(), &[]);
    let addr = broker.addr.as_str();
    assert_eq!(listed(addr, &tb, "Initialized"), vec![id.clone()], "tokens and transfers kept");
    let download = get(addr, &format!("{FILETRANSFER}/{id}/download"), &tb);
    assert!(download.status == 200 && download.body == file);
    broker.stop();

    let broker = LocalService::broker(dir.path(), &[]);
    let addr = broker.addr.as_str();
    assert_eq!(listed(addr, &tb, "DownloadStarted"), vec![id.clone()], "the download was kept");
    let confirm = format!("{FILETRANSFER}/{id}/confirmdownload");
    assert_eq!(call(addr, "POST", &confirm, &tb, None, b"").status, 200);
    assert!(records(dir.path()).len() >= 9, "the record spans the restarts");
}

#[test]
fn broker_serves_the_projects_maskinporten_client() {
    use efm_blocking::maskinporten::MaskinportenClient;
    use efm_core::jose::jws::{load_rsa_key, pem_blocks};
    use efm_core::jose::maskinporten::GrantConfig;

    let dir = tempfile::tempdir().unwrap();
    let broker = LocalService::broker(dir.path(), &[]);
    let key = efm_tests::keys::TestKey::generate("local-broker");
    let grant = GrantConfig::new(
        &format!("MOVE_IP_{B}"),
        "https://test.maskinporten.no/",
        &["altinn:broker.read", "altinn:broker.write"],
    );
    let client = MaskinportenClient::new(
        &format!("{}/maskinporten/token", broker.url),
        grant,
        load_rsa_key(&key.key_bytes()).unwrap(),
        pem_blocks(&key.cert_bytes(), "CERTIFICATE"),
    );
    let exchange_url = format!("{}/authentication/api/v1/exchange/maskinporten", broker.url);
    let tb = client.altinn_token(&exchange_url).unwrap();
    assert!(tb.starts_with(&format!("efm-local:{B}:altinn:")), "{tb}");
    let ta = altinn_token(&broker.addr, A, BOTH_SCOPES);
    let id = send_file(&broker.addr, &ta, A, B, b"zip");
    assert_eq!(listed(&broker.addr, &tb, "Initialized"), vec![id]);
}

// ---- Service Bus ----

const QUEUE: &str = "/nextbestqueue910075935innsyn/messages";
/// Well formed; checked only by a service started with --check-sas.
const ANY_SAS: &str =
    "SharedAccessSignature sr=http%3A%2F%2Fx&sig=c2ln&se=1&skn=MoveDPE-pilotPolicy";

fn sb(
    addr: &str,
    method: &str,
    target: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Option<Reply> {
    let mut h = vec![("Authorization", ANY_SAS)];
    h.extend_from_slice(extra);
    try_request_with(addr, method, target, &h, body)
}

fn sb_send(addr: &str, props: &str, body: &[u8]) -> Option<Reply> {
    let h = [("BrokerProperties", props), ("Content-Type", "application/json")];
    sb(addr, "POST", QUEUE, &h, body)
}

fn peek(addr: &str) -> Reply {
    sb(addr, "POST", &format!("{QUEUE}/head"), &[], b"").expect("an answer")
}

fn broker_properties(r: &Reply) -> Value {
    serde_json::from_str(r.header("BrokerProperties").expect("BrokerProperties")).unwrap()
}

fn complete(addr: &str, id: &str, lock: &str) -> u16 {
    sb(addr, "DELETE", &format!("{QUEUE}/{id}/{lock}"), &[], b"").expect("an answer").status
}

#[test]
fn service_bus_lock_hides_a_message_until_completed_or_expired() {
    let dir = tempfile::tempdir().unwrap();
    let bus = LocalService::service_bus(dir.path(), &["--lock-duration", "1s"]);
    let addr = bus.addr.as_str();
    let unsigned = try_request_with(addr, "POST", QUEUE, &[], b"{}").unwrap();
    assert_problem(&unsigned, 401);

    assert_eq!(sb_send(addr, "{}", br#"{"sbd":{"n":1},"asic":null}"#).unwrap().status, 201);
    assert_eq!(
        sb_send(addr, r#"{"MessageId":"given-id"}"#, br#"{"sbd":{"n":2},"asic":null}"#)
            .unwrap()
            .status,
        201
    );
    assert_problem(&sb_send(addr, "not json", b"{}").unwrap(), 400);

    let first = peek(addr);
    assert_eq!(first.status, 201);
    assert_eq!(first.body, br#"{"sbd":{"n":1},"asic":null}"#);
    assert_eq!(first.header("content-type"), Some("application/json"));
    let p1 = broker_properties(&first);
    assert_eq!((p1["SequenceNumber"].as_i64(), p1["DeliveryCount"].as_i64()), (Some(1), Some(1)));
    let (id1, lock1) = (p1["MessageId"].as_str().unwrap(), p1["LockToken"].as_str().unwrap());
    assert!(p1["LockedUntilUtc"].as_str().unwrap().ends_with(" GMT"), "{p1}");

    // The lock hides the first message from the next peek.
    let second = peek(addr);
    assert_eq!(second.status, 201);
    let p2 = broker_properties(&second);
    assert_eq!(p2["MessageId"], "given-id");
    assert_eq!(peek(addr).status, 204, "both locked: nothing to offer");
    let other_queue =
        sb(addr, "POST", "/nextbestqueue910077473data/messages/head", &[], b"").unwrap();
    assert_eq!(other_queue.status, 204);

    assert_eq!(complete(addr, id1, "00000000-0000-4000-8000-000000000000"), 404);
    assert_eq!(complete(addr, "given-id", lock1), 404, "the lock is the first message's");
    assert_eq!(complete(addr, id1, lock1), 200);
    assert_eq!(complete(addr, id1, lock1), 404, "completed once only");

    // The second lock expires: the message comes back with a new lock.
    std::thread::sleep(Duration::from_millis(1300));
    let again = peek(addr);
    assert_eq!(again.status, 201);
    let p3 = broker_properties(&again);
    assert_eq!(
        (p3["MessageId"].as_str(), p3["DeliveryCount"].as_i64()),
        (Some("given-id"), Some(2))
    );
    assert_eq!(complete(addr, "given-id", p2["LockToken"].as_str().unwrap()), 404, "lock lost");
    // The sequence number names the message as well as its MessageId.
    let seq = p3["SequenceNumber"].to_string();
    assert_eq!(complete(addr, &seq, p3["LockToken"].as_str().unwrap()), 200);
    assert_eq!(peek(addr).status, 204);
}

#[test]
fn service_bus_checks_signatures_when_given_the_key() {
    use ring::hmac;
    let dir = tempfile::tempdir().unwrap();
    let bus = LocalService::service_bus(dir.path(), &["--check-sas", "s3cret"]);
    let sign = |key: &str| {
        // As the reference: sr = URLEncoder(uri), sig = URLEncoder(base64(HMAC(sr \n se))).
        let sr = format!(
            "http%3A%2F%2F{}%2Fdpe{}",
            bus.addr.replace(':', "%3A"),
            QUEUE.replace('/', "%2F")
        );
        let se = now_secs() + 20;
        let mac = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes()),
            format!("{sr}\n{se}").as_bytes(),
        );
        let sig = efm_core::jose::b64std(mac.as_ref())
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        format!("SharedAccessSignature sr={sr}&sig={sig}&se={se}&skn=MoveDPE-pilotPolicy")
    };
    let target = format!("/dpe{QUEUE}");
    let good = sign("s3cret");
    let r =
        try_request_with(&bus.addr, "POST", &target, &[("Authorization", &good)], b"{}").unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let bad = sign("other");
    let r =
        try_request_with(&bus.addr, "POST", &target, &[("Authorization", &bad)], b"{}").unwrap();
    assert_eq!(
        assert_problem(&r, 401)["detail"].as_str().map(|d| d.contains("verify")),
        Some(true)
    );
    let r =
        try_request_with(&bus.addr, "POST", &target, &[("Authorization", ANY_SAS)], b"{}").unwrap();
    assert_problem(&r, 401);
    // The head of the same queue is under the signed resource.
    let r = try_request_with(
        &bus.addr,
        "POST",
        &format!("{target}/head"),
        &[("Authorization", &good)],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.body, b"{}");
}

// ---- Fault knobs ----

/// Which of `n` sends were answered, on a fresh service bus with `args`.
fn answered_sends(dir: &Path, args: &[&str], n: usize) -> Vec<bool> {
    let bus = LocalService::service_bus(dir, args);
    (0..n)
        .map(|i| sb_send(&bus.addr, "{}", format!("{{\"n\":{i}}}").as_bytes()).is_some())
        .collect()
}

/// Peeks (and completes) until the queue is empty; the bodies in order.
fn drain(addr: &str) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    loop {
        let r = peek(addr);
        if r.status == 204 {
            return bodies;
        }
        assert_eq!(r.status, 201);
        let p = broker_properties(&r);
        assert_eq!(
            complete(addr, p["MessageId"].as_str().unwrap(), p["LockToken"].as_str().unwrap()),
            200
        );
        bodies.push(r.body);
    }
}

#[test]
fn drop_knob_loses_the_same_requests_for_the_same_seed() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = ["--drop", "0.5", "--delay", "20ms", "--fault-seed", "42"];
    let first = answered_sends(d1.path(), &args, 16);
    assert!(first.contains(&true) && first.contains(&false), "some dropped, some not: {first:?}");
    assert_eq!(answered_sends(d2.path(), &args, 16), first, "same seed, same drops");

    let recs = records(d1.path());
    assert_eq!(recs.len(), 16);
    let dropped: Vec<bool> =
        recs.iter().map(|r| r["faults"].as_array().unwrap().contains(&json!("drop"))).collect();
    assert_eq!(dropped, first.iter().map(|a| !a).collect::<Vec<_>>(), "the record says which");
    assert!(recs.iter().all(|r| r["delay_ms"].as_u64().unwrap_or(0) < 20));
    assert!(recs.iter().any(|r| r["delay_ms"].as_u64().is_some()));
    // Dropped sends were not stored: exactly the answered ones are in the queue.
    let bus = LocalService::service_bus(d1.path(), &[]);
    let expected: Vec<Vec<u8>> = first
        .iter()
        .enumerate()
        .filter(|(_, a)| **a)
        .map(|(i, _)| format!("{{\"n\":{i}}}").into_bytes())
        .collect();
    assert_eq!(drain(&bus.addr), expected);
}

#[test]
fn duplicate_knob_stores_twice_and_lose_answer_stores_without_answering() {
    let dir = tempfile::tempdir().unwrap();
    let bus = LocalService::service_bus(dir.path(), &["--duplicate", "1", "--fault-seed", "7"]);
    assert_eq!(sb_send(&bus.addr, r#"{"MessageId":"m-1"}"#, b"{\"once\":1}").unwrap().status, 201);
    let first = peek(&bus.addr);
    let second = peek(&bus.addr);
    let (p1, p2) = (broker_properties(&first), broker_properties(&second));
    assert_eq!((p1["MessageId"].as_str(), p2["MessageId"].as_str()), (Some("m-1"), Some("m-1")));
    assert_ne!(p1["SequenceNumber"], p2["SequenceNumber"]);
    assert_eq!(
        (first.body.as_slice(), second.body.as_slice()),
        (&b"{\"once\":1}"[..], &b"{\"once\":1}"[..])
    );
    let recs = records(dir.path());
    assert_eq!(recs[0]["faults"], json!(["duplicate"]));
    assert_eq!(recs[1]["faults"], json!([]), "a peek is not duplicated");
    bus.stop();

    let dir = tempfile::tempdir().unwrap();
    let bus = LocalService::service_bus(dir.path(), &["--lose-answer", "1"]);
    assert!(sb_send(&bus.addr, "{}", b"{\"kept\":true}").is_none(), "no answer");
    bus.stop();
    let bus = LocalService::service_bus(dir.path(), &[]);
    assert_eq!(
        drain(&bus.addr),
        vec![b"{\"kept\":true}".to_vec()],
        "handled and kept across a restart"
    );

    // The broker publishes a duplicated upload as two transfers.
    let dir = tempfile::tempdir().unwrap();
    let broker = LocalService::broker(dir.path(), &["--duplicate", "1", "--fault-seed", "1"]);
    let addr = broker.addr.as_str();
    let (ta, tb) = (altinn_token(addr, A, BOTH_SCOPES), altinn_token(addr, B, BOTH_SCOPES));
    let id = send_file(addr, &ta, A, B, b"one parcel");
    let ids = listed(addr, &tb, "Initialized");
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&id));
    for i in &ids {
        assert_eq!(get(addr, &format!("{FILETRANSFER}/{i}/download"), &tb).body, b"one parcel");
    }
    let duplicated =
        records(dir.path()).into_iter().filter(|r| r["faults"] == json!(["duplicate"]));
    assert_eq!(
        duplicated.map(|r| r["path"].as_str().unwrap().to_owned()).collect::<Vec<_>>(),
        [format!("{FILETRANSFER}/{id}/upload")]
    );
}
