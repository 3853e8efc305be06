//! The reference's webhooks feature, read from `../shared/reference/cucumber` at test
//! time and run black-box against `efm serve` on both runtimes: a subscription made
//! from the feature's JSON, the ping it causes, and a status pushed for a message.
//! Without the reference folder these tests say NOT RUN and pass.
//!
//! The reference's scenario publishes a made-up status straight into its publisher
//! ("the following message status is published"); a black box has no such door, so
//! the status here comes from a real event: a DPO message with the feature's
//! conversationId and messageId arrives already expired (the SBD of the reference's
//! nextmove_receive_dpo_ttl_expired.feature, with those ids), which records an
//! INCOMING LEVETID_UTLOPT with a description. The push must then be the feature's,
//! strictly, with that status and description, and with `serviceIdentifier`, which
//! the reference also writes whenever the conversation has one (its made-up status
//! had none). `createdTs` is checked for form: the reference fixes its clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use efm_core::node::EXPIRED_DESCRIPTION;
use efm_tests::cucumber::{Feature, replace_strings};
use efm_tests::feature_steps::{
    assert_json, conversation_id, message_id as message_id_of, party, wait_for_statuses,
};
use efm_tests::http::request;
use efm_tests::network::{AUTH, wait_for};
use efm_tests::reference_dir;
use efm_tests::reference_network::{ReferenceNetwork, Wrapping};
use serde_json::Value;

#[test]
fn webhooks_blocking() {
    webhooks("blocking");
}

#[test]
fn webhooks_async() {
    webhooks("async");
}

/// What the push endpoint received: path, Content-Type and JSON body.
type Received = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;

/// `the endpoint "…" accepts posts`: a loopback server that answers 200 there (404
/// elsewhere) and records every post; its base URL.
fn endpoint(path: &str) -> (String, Received) {
    let seen: Received = Arc::default();
    let record = seen.clone();
    let accepted = path.to_owned();
    let handler = move |req: &http::Request<()>, body: &[u8]| {
        let content_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let json = serde_json::from_slice(body).unwrap_or(Value::Null);
        record.lock().unwrap_or_else(|p| p.into_inner()).push((
            req.uri().path().to_owned(),
            content_type,
            json,
        ));
        let status = if req.uri().path() == accepted { 200 } else { 404 };
        efm_blocking::http_server::response(status, "text/plain", Vec::new())
    };
    let server = efm_blocking::http_server::spawn(
        "127.0.0.1:0",
        efm_blocking::http_server::ServerConfig::default(),
        Arc::new(handler),
    )
    .expect("push endpoint");
    (format!("http://{}", server.local_addr()), seen)
}

/// `createdTs` checked to be a date-time, then made equal to the feature's.
fn mask_created(got: &mut Value, expected: &Value) {
    let ts = got["createdTs"].as_str().unwrap_or_default();
    assert!(efm_core::sbd::DateTime::parse(ts).is_ok(), "createdTs {ts:?}");
    got["createdTs"] = expected["createdTs"].clone();
}

fn webhooks(runtime: &str) {
    let Some(reference) = reference_dir() else { return };
    let feature = Feature::load(&reference, "webhooks.feature");
    let scenario = feature.only();
    let net = ReferenceNetwork::start(&reference);

    // The message whose status is pushed: the feature's ids on an expired DPO message.
    let published = scenario.step("the following message status is published:").json();
    let expired = Feature::load(&reference, "nextmove_receive_dpo_ttl_expired.feature");
    let expired = expired.only();
    let mut sbd = expired.step("Altinn prepares a message with the following SBD:").json();
    let old_message = message_id_of(&sbd);
    let old_conversation = conversation_id(&sbd).as_str().expect("conversationId").to_owned();
    let message_id = published["messageId"].as_str().expect("messageId").to_owned();
    let conversation = published["conversationId"].as_str().expect("conversationId");
    replace_strings(&mut sbd, &old_message, &message_id);
    replace_strings(&mut sbd, &old_conversation, conversation);
    let (sender, receiver) = (party(&sbd, "sender"), party(&sbd, "receiver"));
    let node = net.node(&receiver, "data", runtime);
    let addr = node.addr.as_str();

    // the endpoint "/my/test/endpoint" accepts posts
    let path = scenario.step("the endpoint").quoted()[0].clone();
    let (base, seen) = endpoint(&path);
    // I create the following webhook subscription: (its endpoint moved to ours)
    let mut subscription = scenario.step("I create the following webhook subscription:").json();
    let url = subscription["pushEndpoint"].as_str().expect("pushEndpoint").to_owned();
    let url_path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap_or_default();
    assert_eq!(url_path, path, "the subscription pushes to the endpoint the feature serves");
    subscription["pushEndpoint"] = Value::from(format!("{base}{path}"));
    let r = request(
        addr,
        "POST",
        "/api/subscriptions",
        AUTH,
        Some("application/json"),
        subscription.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // Then the following ping message is posted to "/my/test/endpoint":
    let step = scenario.step("the following ping message is posted to");
    assert_eq!(step.quoted()[0], path);
    let expected = step.json();
    let posts = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(posts.len(), 1, "one ping: {posts:?}");
    let (got_path, content_type, mut ping) = posts[0].clone();
    assert_eq!(
        (got_path.as_str(), content_type.as_deref()),
        (path.as_str(), Some("application/json"))
    );
    mask_created(&mut ping, &expected);
    assert_json(&ping, &expected, "the ping");

    // Given the following message status is published: (a real one, see above)
    let parcel = net.package(
        &sbd,
        &[("a.txt".to_owned(), b"a".to_vec())],
        &sender,
        &receiver,
        Wrapping::DpoParcel,
    );
    net.broker_send(&sender, &receiver, &parcel);
    wait_for_statuses(addr, &message_id, &["LEVETID_UTLOPT"]);

    // Then the following message is posted to "/my/test/endpoint":
    let step = scenario.step("the following message is posted to");
    assert_eq!(step.quoted()[0], path);
    let mut expected = step.json();
    expected["status"] = Value::from("LEVETID_UTLOPT");
    expected["description"] = Value::from(EXPIRED_DESCRIPTION);
    expected["serviceIdentifier"] = Value::from("DPO");
    let pushed = || -> Vec<(String, Option<String>, Value)> {
        seen.lock().unwrap_or_else(|p| p.into_inner()).iter().skip(1).cloned().collect()
    };
    wait_for("the LEVETID_UTLOPT push", Duration::from_secs(20), || {
        pushed().iter().any(|(_, _, v)| v["status"] == "LEVETID_UTLOPT")
    });
    let pushes = pushed();
    for (p, ct, _) in &pushes {
        assert_eq!((p.as_str(), ct.as_deref()), (path.as_str(), Some("application/json")));
    }
    let mut push = pushes
        .iter()
        .map(|(_, _, v)| v.clone())
        .find(|v| v["status"] == "LEVETID_UTLOPT")
        .expect("pushed");
    mask_created(&mut push, &expected);
    assert_json(&push, &expected, "the status push");
    // Every other push is of the same form: the feature's fields, with no description
    // where the status has none.
    for (_, _, v) in &pushes {
        let mut keys: Vec<&str> =
            v.as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
        keys.sort_unstable();
        let mut want: Vec<&str> = expected
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        if v.get("description").is_none() {
            want.retain(|k| *k != "description");
        }
        want.sort_unstable();
        assert_eq!(keys, want, "{v}");
        assert_eq!(
            (&v["messageId"], &v["direction"]),
            (&expected["messageId"], &expected["direction"])
        );
    }
}
