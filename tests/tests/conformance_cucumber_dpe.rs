//! The reference's DPE cucumber scenarios (and its eInnsyn receipt over DPE), read
//! from `../shared/reference/cucumber` at test time and run black-box against
//! `efm serve` on both runtimes: the registry serves the reference's recorded
//! answers, nodes hold their keys from the reference's test keystore, and the Service
//! Bus work-alike records what it receives. Without the reference folder these tests
//! say NOT RUN and pass.
//!
//! Sending: the fagsystem steps against a node as 910077473 (the reference's own),
//! then the payload the Service Bus received — the SBD compared strictly, the `asic`
//! (base64 twice, as the reference writes it) decrypted with openssl and the
//! receiver's key — and the statuses. Receiving: the feature's message put on the
//! receiving node's queue as the sender would, then what the node offers (peek, pop,
//! delete), its status page, the queue message completed, and the status replies.
//!
//! Deliberate differences, asserted as ours:
//! - Expiry dates of 2019 move to 2099 where the message must not expire (the
//!   reference's runs fix the clock in 2019); the expired scenario keeps them.
//! - `lastUpdate` and the database ids on status pages are checked for form only.
//! - The receiving node is the SBD's receiver (910075935, reading its `innsyn` queue
//!   as the reference's cucumber configuration does), not the reference's 910077473.
//! - The features do not name queues; we assert the ones the reference's rules give:
//!   the receiver's record's endpointUrl (`innsyn`) for an innsynskrav, `innsyn` for
//!   a publishing receipt, and for status replies from an `innsyn` node the
//!   sender's `data` queue.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use efm_tests::cucumber::{Feature, Scenario, move_expiry};
use efm_tests::feature_steps::{
    appended, assert_json, assert_status_page, check_received_documents, check_sent_documents,
    check_status_reply, message_id, party, peek, pop, post_message, remove, send, status_names,
    status_page, upload, wait_for_statuses,
};
use efm_tests::network::wait_for;
use efm_tests::recording::Recorded;
use efm_tests::reference_dir;
use efm_tests::reference_network::{ReferenceNetwork, Wrapping};
use serde_json::{Value, json};

/// The reference's cucumber node.
const SENDER: &str = "910077473";
const FUTURE: &str = "2099";
/// `difi.move.nextmove.serviceBus.mode` in the reference's cucumber configuration.
const MODE: &str = "innsyn";

efm_tests::on_both_runtimes!(send_dpe, send_einnsyn_kvittering, receive_dpe, receive_expired_dpe);

/// The Service Bus sends (accepted POSTs) to `queue`.
fn sent_to<'a>(reqs: &'a [Recorded], queue: &str) -> Vec<&'a Recorded> {
    let path = format!("/{queue}/messages");
    reqs.iter().filter(|r| r.method == "POST" && r.accepted() && r.path == path).collect()
}

/// Every accepted send, to any queue.
fn all_sends(reqs: &[Recorded]) -> Vec<&Recorded> {
    reqs.iter()
        .filter(|r| r.method == "POST" && r.accepted() && !r.path.ends_with("/head"))
        .collect()
}

/// Create, upload and send as the feature does; the SBD (expiry moved ahead).
fn create_and_send(addr: &str, scenario: &Scenario) -> Value {
    let mut sbd = scenario.step("I POST the following message:").json();
    move_expiry(&mut sbd, FUTURE);
    let id = message_id(&sbd);
    let created = post_message(addr, &sbd);
    assert_eq!(created.status, 200, "the response status is OK: {created:?}");
    for step in scenario.steps_starting("I upload a file named") {
        upload(addr, &id, step);
    }
    let sent = send(addr, &id);
    assert_eq!(sent.status, 200, "I send the message: {sent:?}");
    wait_for_statuses(addr, &id, &["SENDT"]);
    sbd
}

/// `a POST to the ServiceBus is initiated with:` — the reference compares strictly
/// with the `asic` value blanked on both sides; the payload as sent.
fn check_payload(sent: &Recorded, scenario: &Scenario) -> Value {
    let payload = sent.json();
    let mut expected = scenario.step("a POST to the ServiceBus is initiated with:").json();
    move_expiry(&mut expected, FUTURE);
    let mut blanked = payload.clone();
    for v in [&mut blanked, &mut expected] {
        if let Some(asic) = v.get_mut("asic") {
            assert!(asic.is_string(), "asic is a string: {asic}");
            *asic = Value::from("");
        }
    }
    assert_json(&blanked, &expected, "the Service Bus payload");
    payload
}

fn send_dpe(runtime: &str) {
    let Some(reference) = reference_dir() else { return };
    let feature = Feature::load(&reference, "nextmove_send_dpe.feature");
    let net = ReferenceNetwork::start(&reference);
    let node = net.node(SENDER, MODE, runtime);
    let scenario = feature.only();
    let sbd = create_and_send(&node.addr, scenario);
    let receiver = party(&sbd, "receiver");

    let reqs = net.bus_requests();
    let sends = sent_to(&reqs, &format!("nextbestqueue{receiver}innsyn"));
    assert_eq!(sends.len(), 1, "one send to the receiver's innsyn queue: {reqs:?}");
    let payload = check_payload(sends[0], scenario);

    // the sent message contains the following files: … — the asic is base64 of
    // base64 of the CMS; decrypted with the receiver's key.
    let outer = payload["asic"].as_str().expect("asic");
    let inner = STANDARD.decode(outer).expect("asic is base64");
    let cms = STANDARD.decode(inner).expect("asic's content is base64 again");
    let asic = net.decrypt(&cms, &receiver);
    check_sent_documents(&asic, scenario, "send DPE");
    // The feature stops at the payload; the sender's statuses so far:
    let id = message_id(&sbd);
    assert_eq!(status_names(&status_page(&node.addr, &id)), ["OPPRETTET", "SENDT"]);
}

fn send_einnsyn_kvittering(runtime: &str) {
    let Some(reference) = reference_dir() else { return };
    let feature = Feature::load(&reference, "nextmove_send_einnsyn_kvittering.feature");
    let net = ReferenceNetwork::start(&reference);
    let node = net.node(SENDER, MODE, runtime);
    let scenario = feature.only();
    let sbd = create_and_send(&node.addr, scenario);
    let receiver = party(&sbd, "receiver");

    // A publishing receipt goes to the receiver's innsyn queue, without documents:
    // the payload has no asic at all.
    let reqs = net.bus_requests();
    let sends = sent_to(&reqs, &format!("nextbestqueue{receiver}innsyn"));
    assert_eq!(sends.len(), 1, "one send to the receiver's innsyn queue: {reqs:?}");
    let payload = check_payload(sends[0], scenario);
    assert!(payload.get("asic").is_none(), "no asic: {payload}");

    let step = scenario.step("the message statuses for the conversation with id");
    let id = &step.quoted()[0];
    assert_status_page(&status_page(&node.addr, id), &step.json(), "eInnsyn receipt");
}

/// The receiving scenarios' common part: the feature's message (SBD and appended
/// files, packaged by its sender for the receiver with PKCS#1 v1.5 key transport)
/// put on the receiver's queue as `{"sbd": …, "asic": base64(base64(cms))}`.
fn put_on_queue(net: &ReferenceNetwork, scenario: &Scenario, future: bool) -> Value {
    let mut sbd = scenario.step("ServiceBus prepares a message with the following SBD:").json();
    if future {
        move_expiry(&mut sbd, FUTURE);
    }
    let files = appended(scenario);
    let (from, to) = (party(&sbd, "sender"), party(&sbd, "receiver"));
    let cms = net.package(&sbd, &files, &from, &to, Wrapping::DpeCms);
    let payload = json!({ "sbd": sbd, "asic": STANDARD.encode(STANDARD.encode(cms)) });
    scenario.step("the ServiceBus has the message available");
    net.bus_send(&format!("nextbestqueue{to}{MODE}"), payload.to_string().as_bytes());
    sbd
}

/// The queue message was completed (DELETE with its lock token) by the node.
fn completed(net: &ReferenceNetwork, queue: &str) -> bool {
    let prefix = format!("/{queue}/messages/");
    net.bus_requests()
        .iter()
        .any(|r| r.method == "DELETE" && r.accepted() && r.path.starts_with(&prefix))
}

fn receive_dpe(runtime: &str) {
    let Some(reference) = reference_dir() else { return };
    let feature = Feature::load(&reference, "nextmove_receive_dpe.feature");
    let net = ReferenceNetwork::start(&reference);
    let scenario = feature.only();
    let incoming = put_on_queue(&net, scenario, true);
    let id = message_id(&incoming);
    let (sender, receiver) = (party(&incoming, "sender"), party(&incoming, "receiver"));
    let node = net.node(&receiver, MODE, runtime);
    let addr = node.addr.as_str();

    // the application checks for new DPE messages
    wait_for_statuses(addr, &id, &["INNKOMMENDE_MOTTATT"]);
    let queue = format!("nextbestqueue{receiver}{MODE}");
    wait_for("the queue message completed", Duration::from_secs(10), || completed(&net, &queue));
    // I peek and lock a message; I pop the locked message; I remove the message
    let peeked = peek(addr).expect("a message is offered");
    let asic = pop(addr, &id);
    assert_eq!(remove(addr, &id).status, 200, "remove");
    // the received SBD matches the incoming SBD
    assert_json(&peeked, &incoming, "the received SBD");
    check_received_documents(&asic, scenario);
    let step = scenario.step("the message statuses for the conversation with id");
    wait_for_statuses(addr, &step.quoted()[0], &["INNKOMMENDE_LEVERT"]);
    assert_status_page(&status_page(addr, &step.quoted()[0]), &step.json(), "receive DPE");
    assert!(peek(addr).is_none(), "nothing more is offered");

    // MOTTATT and LEVERT go back to the sender's data queue, as status SBDs without
    // documents.
    let back = format!("nextbestqueue{sender}data");
    wait_for("the status replies", Duration::from_secs(30), || {
        sent_to(&net.bus_requests(), &back).len() >= 2
    });
    let reqs = net.bus_requests();
    let replies: Vec<Value> = sent_to(&reqs, &back).iter().map(|r| r.json()).collect();
    let statuses: Vec<&str> =
        replies.iter().filter_map(|p| p["sbd"]["status"]["status"].as_str()).collect();
    assert_eq!(statuses, ["MOTTATT", "LEVERT"], "{replies:?}");
    for p in &replies {
        assert!(p.get("asic").is_none(), "a status reply has no asic: {p}");
        check_status_reply(&p["sbd"], &incoming, "urn:no:difi:profile:einnsyn:response:ver1.0");
    }
    assert_eq!(all_sends(&reqs).len(), 3, "the message and two replies, nothing else");
}

fn receive_expired_dpe(runtime: &str) {
    let Some(reference) = reference_dir() else { return };
    let feature = Feature::load(&reference, "nextmove_receive_dpe_ttl_expired.feature");
    let net = ReferenceNetwork::start(&reference);
    let scenario = feature.only();
    // Its expiry (2019) stays in the past.
    let incoming = put_on_queue(&net, scenario, false);
    let receiver = party(&incoming, "receiver");
    let node = net.node(&receiver, MODE, runtime);
    let addr = node.addr.as_str();
    // the application checks for new DPE messages; Then the message statuses … are:
    // OPPRETTET, LEVETID_UTLOPT with the reason.
    let step = scenario.step("the message statuses for the conversation with id");
    wait_for_statuses(addr, &step.quoted()[0], &["LEVETID_UTLOPT"]);
    assert_status_page(&status_page(addr, &step.quoted()[0]), &step.json(), "expired DPE");
    // Never offered; completed on the queue all the same; nothing sent back.
    assert!(peek(addr).is_none(), "an expired message is not offered");
    let queue = format!("nextbestqueue{receiver}{MODE}");
    wait_for("the queue message completed", Duration::from_secs(10), || completed(&net, &queue));
    assert_eq!(all_sends(&net.bus_requests()).len(), 1, "only the test's own send");
}
