//! The reference's DPV cucumber scenarios (nextmove_send_dpv.feature,
//! nextmove_send_digital_dpv.feature), read from `../shared/reference/cucumber` at
//! test time and run black-box against `efm serve` on both runtimes: the registry
//! serves the reference's recorded answers (which name the Altinn resource and the
//! sender's name), and the Correspondence work-alike (`efm correspondence serve`,
//! taking the local broker's Altinn tokens) records what it receives. Without the
//! reference folder these tests say NOT RUN and pass.
//!
//! Checked: the upload's form, parsed by Python's `email` package (not by our
//! parser), has exactly the fields and values the feature pins; its files are the
//! feature's, with their content; the node's statuses are SENDT, then LEVERT and
//! LEST from polling the correspondence's overview; the arkivmelding is answered
//! with an OK receipt in the sender's incoming queue once published.
//!
//! Where we differ from the reference, on purpose, the test asserts our behaviour and
//! says why:
//! - The features' times come from a clock the reference's runs fix (2019-03-25
//!   12:38:23+01:00). Ours is real: `requestedPublishTime` is checked to be the time
//!   of sending, in Oslo's offset; the notification's time 5 minutes and the due date
//!   7 days after it, in the same offset; then they are compared as the feature's.
//! - The features' expiry dates lie in 2019; they are moved to 2099.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use efm_tests::cucumber::{Feature, compress_whitespace, move_expiry};
use efm_tests::feature_steps::{
    message_id, post_message, send, status_names, status_page, upload, wait_for_statuses,
};
use efm_tests::network::{temp, wait_for, with_dpv};
use efm_tests::recording::{self, Recorded};
use efm_tests::reference_dir;
use efm_tests::reference_network::ReferenceNetwork;
use efm_tests::server::LocalService;
use serde_json::Value;

/// The reference's cucumber node.
const SENDER: &str = "910077473";
const FUTURE: &str = "2099";
const UPLOAD: &str = "/correspondence/api/v1/correspondence/upload";

efm_tests::on_both_runtimes!(send_dpv, send_digital_dpv);

fn send_dpv(runtime: &str) {
    run(runtime, "nextmove_send_dpv.feature");
}

fn send_digital_dpv(runtime: &str) {
    run(runtime, "nextmove_send_digital_dpv.feature");
}

/// One form part, as Python read it.
#[derive(Debug)]
struct FormPart {
    name: String,
    filename: Option<String>,
    content_type: String,
    content: Vec<u8>,
}

fn run(runtime: &str, file: &str) {
    let Some(reference) = reference_dir() else { return };
    let feature = Feature::load(&reference, file);
    let scenario = feature.only();
    let net = ReferenceNetwork::start(&reference);
    let dir = temp("correspondence");
    // Read 2 s after publishing: LEVERT and LEST come from separate looks or one.
    let correspondence =
        LocalService::correspondence(&dir, &net.broker_dir, &["--read-after", "2s"]);
    let node = net.node_with(SENDER, "innsyn", runtime, |env| with_dpv(env, &correspondence));
    let addr = node.addr.as_str();

    let mut sbd = scenario.step("I POST the following message:").json();
    move_expiry(&mut sbd, FUTURE);
    let id = message_id(&sbd);
    let created = post_message(addr, &sbd);
    assert_eq!(created.status, 200, "{file}: the response status is OK: {created:?}");
    for step in scenario.steps_starting("I upload a file named") {
        upload(addr, &id, step);
    }
    let before = now_millis();
    let sent = send(addr, &id);
    assert_eq!(sent.status, 200, "I send the message: {sent:?}");
    wait_for_statuses(addr, &id, &["SENDT", "LEVERT", "LEST"]);
    let after = now_millis();
    let names = status_names(&status_page(addr, &id));
    assert_eq!(names, ["OPPRETTET", "SENDT", "LEVERT", "LEST"], "{file}: statuses");

    // the CorrespondenceAgencyClient is called with the following payload: …
    let reqs = recording::read(&dir);
    let uploads: Vec<&Recorded> =
        reqs.iter().filter(|r| r.method == "POST" && r.path == UPLOAD).collect();
    assert_eq!(uploads.len(), 1, "{file}: one upload: {uploads:?}");
    let up = uploads[0];
    assert!(up.accepted(), "{file}: upload accepted: {up:?}");
    assert_eq!(up.caller.as_deref(), Some(SENDER), "the Altinn token is ours");
    let parts = python_form(&up.bytes(), up.content_type.as_deref().unwrap_or_default());
    let mut fields = BTreeMap::new();
    for p in parts.iter().filter(|p| p.filename.is_none()) {
        let value = String::from_utf8(p.content.clone()).expect("a UTF-8 field");
        assert!(fields.insert(p.name.clone(), value).is_none(), "{}: given twice", p.name);
    }
    let expected: BTreeMap<String, String> =
        serde_json::from_value(scenario.step("the CorrespondenceAgencyClient is called").json())
            .expect("the feature's payload is a map of strings");
    check_times(&mut fields, &expected, before, after);
    assert_eq!(fields, expected, "{file}: the form's fields");

    // the sent message contains the following files: …
    let files: Vec<&FormPart> = parts.iter().filter(|p| p.filename.is_some()).collect();
    assert!(files.iter().all(|f| f.name == "attachments"), "{file}: file parts: {files:?}");
    let got: Vec<(String, String)> = files
        .iter()
        .map(|f| (f.filename.clone().unwrap_or_default(), f.content_type.clone()))
        .collect();
    let want: Vec<(String, String)> = scenario
        .step("the sent message contains the following files:")
        .rows()
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(got, want, "{file}: attachments");
    // The uploaded contents are the fagsystem's files, byte for byte; the feature
    // pins one's text (its doc string, compared as the reference's step does).
    for step in scenario.steps_starting("I upload a file named") {
        let name = &step.quoted()[0];
        if let Some(f) = files.iter().find(|f| f.filename.as_deref() == Some(name.as_str())) {
            assert_eq!(f.content, step.doc().as_bytes(), "{file}: content of {name}");
        }
    }
    for step in scenario.steps_starting("the content of the file named") {
        let name = &step.quoted()[0];
        let f = files.iter().find(|f| f.filename.as_deref() == Some(name.as_str()));
        let f = f.unwrap_or_else(|| panic!("{file}: no file {name}"));
        assert_eq!(
            compress_whitespace(&String::from_utf8_lossy(&f.content)),
            compress_whitespace(step.doc()),
            "{file}: content of {name}"
        );
    }

    // The token: a Maskinporten grant for eformidling:dpv naming no systemuser (as
    // the reference's DpvTokenProducer), exchanged at Altinn.
    let grants: Vec<Value> = net
        .broker_requests()
        .iter()
        .filter(|r| r.path == "/maskinporten/token" && r.accepted())
        .map(|r| grant_claims(&String::from_utf8_lossy(&r.bytes())))
        .filter(|c| c["scope"] == "eformidling:dpv")
        .collect();
    assert!(!grants.is_empty(), "{file}: a grant for eformidling:dpv");
    for c in &grants {
        assert!(c.get("authorization_details").is_none(), "{file}: no systemuser claim: {c}");
        assert_eq!(c["iss"], format!("MOVE_IP_{SENDER}"));
    }

    // Once published, an arkivmelding is answered with an OK arkivmelding_kvittering
    // in the sender's incoming queue (the reference's generate-arkivmelding-receipts,
    // on by default); a digital_dpv message is not.
    let receipt = efm_tests::feature_steps::peek(addr);
    if file == "nextmove_send_dpv.feature" {
        let receipt = receipt.unwrap_or_else(|| panic!("{file}: a receipt to peek"));
        let kind = &receipt["standardBusinessDocumentHeader"]["documentIdentification"]["type"];
        assert_eq!(kind, "arkivmelding_kvittering", "{receipt}");
        assert_eq!(receipt["arkivmelding_kvittering"]["receiptType"], "OK");
        assert_eq!(receipt["arkivmelding_kvittering"]["relatedToMessageId"], id.as_str());
    } else {
        assert!(receipt.is_none(), "{file}: nothing to peek: {receipt:?}");
    }

    // LEVERT and LEST came from the correspondence's overview.
    wait_for("an overview polled", Duration::from_secs(5), || {
        recording::read(&dir).iter().any(|r| {
            r.method == "GET"
                && r.path.starts_with("/correspondence/api/v1/correspondence/")
                && r.accepted()
        })
    });
}

/// The claims of the JWT grant in a token request's form body.
fn grant_claims(form: &str) -> Value {
    use base64::Engine as _;
    let assertion = form
        .split('&')
        .find_map(|kv| kv.strip_prefix("assertion="))
        .unwrap_or_else(|| panic!("no assertion in {form}"));
    let payload = assertion.split('.').nth(1).expect("a JWS");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url");
    serde_json::from_slice(&json).expect("JSON claims")
}

/// The feature's fixed times, checked against ours and then made the feature's.
fn check_times(
    fields: &mut BTreeMap<String, String>,
    expected: &BTreeMap<String, String>,
    before: i64,
    after: i64,
) {
    let publish = "correspondence.requestedPublishTime";
    let text = fields.get(publish).cloned().expect("requestedPublishTime");
    let at = efm_core::sbd::DateTime::parse(&text).expect("a date-time");
    let millis = at.timestamp().as_unix_millis();
    assert!(before - 1000 <= millis && millis <= after, "{publish} {text} is the time of sending");
    // Oslo's offset then, as the reference's clock writes it.
    let oslo = efm_core::sbd::DateTime::oslo(at.timestamp()).to_rfc3339();
    assert_eq!(offset(&text), offset(&oslo), "{publish} {text} in Oslo's offset");
    let later = |key: &str, by_millis: i64| {
        let t = fields.get(key).unwrap_or_else(|| panic!("{key} missing"));
        let dt = efm_core::sbd::DateTime::parse(t).expect("a date-time");
        assert_eq!(dt.timestamp().as_unix_millis() - millis, by_millis, "{key} {t}");
        assert_eq!(offset(t), offset(&text), "{key} {t}: the same offset as {publish}");
    };
    later("correspondence.notification.requestedSendTime", 5 * 60 * 1000);
    later("correspondence.dueDateTime", 7 * 24 * 3600 * 1000);
    for key in
        [publish, "correspondence.notification.requestedSendTime", "correspondence.dueDateTime"]
    {
        fields.insert(key.to_owned(), expected[key].clone());
    }
}

fn offset(t: &str) -> &str {
    &t[t.len().saturating_sub(6)..]
}

fn now_millis() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The multipart form as Python's `email` package reads it: an implementation
/// independent of ours.
fn python_form(body: &[u8], content_type: &str) -> Vec<FormPart> {
    const SCRIPT: &str = r#"
import sys, json, base64
from email.parser import BytesParser
from email import policy
ct = sys.argv[1]
body = sys.stdin.buffer.read()
msg = BytesParser(policy=policy.HTTP).parsebytes(b"Content-Type: " + ct.encode() + b"\r\n\r\n" + body)
assert msg.is_multipart(), "not multipart"
out = []
for part in msg.iter_parts():
    out.append({
        "name": part.get_param("name", header="content-disposition"),
        "filename": part.get_filename(),
        "content_type": part.get_content_type(),
        "content": base64.b64encode(part.get_payload(decode=True)).decode(),
    })
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT, content_type])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    {
        use std::io::Write as _;
        child.stdin.take().expect("stdin").write_all(body).expect("write the form");
    }
    let out = child.wait_with_output().expect("python3 ends");
    assert!(out.status.success(), "python3 could not read the form");
    let parts: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON from python3");
    use base64::Engine as _;
    parts
        .into_iter()
        .map(|p| FormPart {
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            filename: p["filename"].as_str().map(str::to_owned),
            content_type: p["content_type"].as_str().unwrap_or_default().to_owned(),
            content: base64::engine::general_purpose::STANDARD
                .decode(p["content"].as_str().unwrap_or_default())
                .expect("base64"),
        })
        .collect()
}
