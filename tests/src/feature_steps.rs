//! The fagsystem's side of the reference's cucumber steps, done against a node's API
//! the way the reference's step definitions do them (NextMoveMessageOutSteps,
//! NextMoveMessageInSteps, MessageStatusSteps), and the comparisons those steps make.

use std::time::Duration;

use serde_json::Value;

use crate::cucumber::{Scenario, Step, compress_whitespace, mask};
use crate::http::{Reply, request, request_with};
use crate::network::{AUTH, ok, wait_for};
use crate::reference_network::asic_documents;

/// One test function per runtime for each named scenario function (`fn(&str)`,
/// given `"blocking"` or `"async"`): `name::blocking` and `name::async_runtime`.
#[macro_export]
macro_rules! on_both_runtimes {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn blocking() {
                super::$scenario("blocking")
            }
            #[test]
            fn async_runtime() {
                super::$scenario("async")
            }
        }
    )*};
}

/// The SBD's header.
pub fn header(sbd: &Value) -> &Value {
    &sbd["standardBusinessDocumentHeader"]
}

/// The organisation number of the SBD's `sender` or `receiver`.
pub fn party(sbd: &Value, role: &str) -> String {
    let value = header(sbd)[role][0]["identifier"]["value"].as_str().unwrap_or_else(|| {
        panic!("the SBD has no {role}: {sbd}");
    });
    value.rsplit(':').next().unwrap_or(value).to_owned()
}

pub fn message_id(sbd: &Value) -> String {
    header(sbd)["documentIdentification"]["instanceIdentifier"]
        .as_str()
        .expect("the SBD has a messageId")
        .to_owned()
}

pub fn conversation_id(sbd: &Value) -> &Value {
    &header(sbd)["businessScope"]["scope"][0]["instanceIdentifier"]
}

/// A status SBD a node sent back about `incoming`: from its receiver to its sender,
/// `type` status, the incoming message's messageId and conversation, under the
/// receipt `process`.
pub fn check_status_reply(reply: &Value, incoming: &Value, process: &str) {
    assert_eq!(
        (party(reply, "sender"), party(reply, "receiver")),
        (party(incoming, "receiver"), party(incoming, "sender")),
        "a reply goes back: {reply}"
    );
    let doc = &header(reply)["documentIdentification"];
    assert_eq!(doc["standard"], "urn:no:difi:eformidling:xsd::status", "{reply}");
    assert_eq!(doc["type"], "status", "{reply}");
    assert_eq!(doc["instanceIdentifier"].as_str(), Some(message_id(incoming).as_str()));
    assert_eq!(conversation_id(reply), conversation_id(incoming), "the same conversation");
    assert_eq!(header(reply)["businessScope"]["scope"][0]["identifier"], process);
}

/// `appends a file named "…" with mimetype="…":` steps: (name, content).
pub fn appended(scenario: &Scenario) -> Vec<(String, Vec<u8>)> {
    scenario
        .steps_starting("appends a file named")
        .map(|s| (s.quoted()[0].clone(), s.doc().as_bytes().to_vec()))
        .collect()
}

/// `the sent message contains the following files:` (names, media types, order) and
/// each `the content of the file named "…" is:` (whitespace compressed, as the
/// reference compares), against the decrypted ASiC-E a node sent.
pub fn check_sent_documents(asic: &[u8], scenario: &Scenario, what: &str) {
    let docs = asic_documents(asic);
    let got: Vec<(String, String)> =
        docs.iter().map(|d| (d.name.clone(), d.mime.clone().unwrap_or_default())).collect();
    let want: Vec<(String, String)> = scenario
        .step("the sent message contains the following files:")
        .rows()
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(got, want, "{what}: ASiC-E documents");
    for step in scenario.steps_starting("the content of the file named") {
        let name = &step.quoted()[0];
        let doc = docs.iter().find(|d| &d.name == name).expect("document");
        assert_eq!(
            compress_whitespace(&String::from_utf8_lossy(&doc.content)),
            compress_whitespace(step.doc()),
            "{what}: content of {name}"
        );
    }
}

/// `I have an ASIC that contains a file named "…" with mimetype="…":` steps, against
/// the ASiC-E a node's pop gave.
pub fn check_received_documents(asic: &[u8], scenario: &Scenario) {
    let docs = asic_documents(asic);
    let steps: Vec<_> =
        scenario.steps_starting("I have an ASIC that contains a file named").collect();
    assert!(!steps.is_empty(), "the scenario names the files it expects");
    for step in steps {
        let args = step.quoted();
        let doc = docs
            .iter()
            .find(|d| d.name == args[0])
            .unwrap_or_else(|| panic!("{} is not in the ASiC-E: {docs:?}", args[0]));
        assert_eq!(doc.mime.as_deref(), Some(args[1].as_str()), "media type of {}", args[0]);
        assert_eq!(
            compress_whitespace(&String::from_utf8_lossy(&doc.content)),
            compress_whitespace(step.doc()),
            "content of {}",
            args[0]
        );
    }
}

/// `I POST the following message:` — create.
pub fn post_message(addr: &str, sbd: &Value) -> Reply {
    request(
        addr,
        "POST",
        "/api/messages/out",
        AUTH,
        Some("application/json"),
        sbd.to_string().as_bytes(),
    )
}

/// `I upload a file named "F" with mimetype "M" and title "T" with the following
/// body:` — the body is the doc string's UTF-8, sent with the title as a query
/// parameter and in the Content-Disposition's name, as the reference's step does.
pub fn upload(addr: &str, message_id: &str, step: &Step) {
    let args = step.quoted();
    let [filename, mime, title] = args.as_slice() else {
        panic!("step {:?}: filename, mimetype and title expected", step.text)
    };
    let disposition = format!("inline; name=\"{title}\"; filename=\"{filename}\"");
    let r = request_with(
        addr,
        "PUT",
        &format!("/api/messages/out/{message_id}?title={}", title.replace(' ', "%20")),
        AUTH,
        &[("Content-Type", mime), ("Content-Disposition", &disposition)],
        step.doc().as_bytes(),
    );
    // The reference's step wants 200 exactly.
    assert_eq!(r.status, 200, "upload {filename}: {r:?}");
}

/// `I send the message`.
pub fn send(addr: &str, message_id: &str) -> Reply {
    request(addr, "POST", &format!("/api/messages/out/{message_id}"), AUTH, None, b"")
}

/// `the message statuses for the conversation with id = "…" are:` asks this.
pub fn status_page(addr: &str, message_id: &str) -> Value {
    let r = request(addr, "GET", &format!("/api/statuses?messageId={message_id}"), AUTH, None, b"");
    assert_eq!(r.status, 200, "statuses: {r:?}");
    r.json()
}

/// The statuses' names on the page, oldest first.
pub fn status_names(page: &Value) -> Vec<String> {
    page["content"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["status"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Wait until the node's statuses for `message_id` include every one of `wanted`.
pub fn wait_for_statuses(addr: &str, message_id: &str, wanted: &[&str]) {
    wait_for(&format!("{message_id}: {wanted:?}"), Duration::from_secs(30), || {
        let names = status_names(&status_page(addr, message_id));
        wanted.iter().all(|w| names.iter().any(|n| n == w))
    });
}

/// The reference's comparison of a status page: strict JSON equality with the
/// database ids (`id`, `convId`) made equal; also `lastUpdate`, a clock reading the
/// reference fixes in its runs and we cannot, once it is checked to be a date-time.
pub fn assert_status_page(actual: &Value, expected: &Value, what: &str) {
    let mut stamps = Vec::new();
    crate::cucumber::values_of(actual, "lastUpdate", &mut stamps);
    for s in stamps {
        let text = s.as_str().unwrap_or_default();
        assert!(
            efm_core::sbd::DateTime::parse(text).is_ok(),
            "{what}: lastUpdate {s} is no date-time"
        );
    }
    let normal = |v: &Value| {
        let mut v = v.clone();
        mask(&mut v, &["id", "convId"], &Value::from(1));
        mask(&mut v, &["lastUpdate"], &Value::from("(a date-time)"));
        v
    };
    let (a, e) = (normal(actual), normal(expected));
    if let Some(diff) = crate::json_diff(&a, &e) {
        panic!(
            "{what}: the status page differs from the feature's at {diff}\n ours: {}\n feature: {}",
            serde_json::to_string_pretty(actual).unwrap_or_default(),
            serde_json::to_string_pretty(expected).unwrap_or_default()
        );
    }
}

/// Strict JSON equality (object key order aside; date-times as instants with their
/// offsets), with both sides shown when it fails.
pub fn assert_json(actual: &Value, expected: &Value, what: &str) {
    if let Some(diff) = crate::json_diff(actual, expected) {
        panic!(
            "{what}: differs at {diff}\n ours: {}\n feature: {}",
            serde_json::to_string_pretty(actual).unwrap_or_default(),
            serde_json::to_string_pretty(expected).unwrap_or_default()
        );
    }
}

/// `I peek and lock a message`: the SBD, or none when nothing is offered (204).
pub fn peek(addr: &str) -> Option<Value> {
    let r = request(addr, "GET", "/api/messages/in/peek", AUTH, None, b"");
    if r.status == 204 {
        return None;
    }
    assert_eq!(r.status, 200, "peek: {r:?}");
    Some(r.json())
}

/// `I pop the locked message`: the ASiC-E.
pub fn pop(addr: &str, message_id: &str) -> Vec<u8> {
    let r = request_with(
        addr,
        "GET",
        &format!("/api/messages/in/pop/{message_id}"),
        AUTH,
        &[("Accept", "application/octet-stream, */*")],
        b"",
    );
    ok(&r, "pop");
    r.dechunked().unwrap_or_else(|| r.body.clone())
}

/// `I remove the message`.
pub fn remove(addr: &str, message_id: &str) -> Reply {
    request(addr, "DELETE", &format!("/api/messages/in/{message_id}"), AUTH, None, b"")
}
