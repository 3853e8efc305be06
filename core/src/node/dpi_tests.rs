//! DPI's receipt polling, driven step by step: the test plays store and corner 2.

use bytes::Bytes;
use serde_json::json;

use super::*;
use crate::crypto::keys::Identity;
use crate::status::Status;

const NOW: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);
const MESSAGE: &str = "00000000-0000-4000-8000-0000000000d1";
const CONVERSATION: &str = "97efbd4c-413d-4e2c-bbc5-257ef4a61212";

fn node() -> Node {
    let mut c = Config::new("910077473");
    c.enabled_services = vec![ServiceIdentifier::Dpi];
    c.dpi = Some(DpiSettings::new("http://corner2.test/api"));
    Node::new(c, [9; 32], NOW)
}

fn drain(node: &mut Node) -> (Vec<Output>, Option<Timestamp>) {
    let mut out = Vec::new();
    loop {
        match node.poll_output() {
            Output::Idle { wake_at } => return (out, wake_at),
            o => out.push(o),
        }
    }
}

/// Answer the tick's other looks (queue, sweeps, pushes, watches) as empty; the
/// HTTP requests are left.
fn tick(node: &mut Node) -> Vec<Output> {
    node.handle_input(Input::Tick, NOW);
    let mut rest = Vec::new();
    let mut pending = drain(node).0;
    while let Some(o) = pending.pop() {
        let loaded = match &o {
            Output::Load(_, Query::DueOutgoing { .. }) => {
                Some(Loaded::DueOutgoing { due: Vec::new(), next: None })
            }
            Output::Load(_, Query::DueReplies { .. }) => {
                Some(Loaded::Replies { due: Vec::new(), next: None })
            }
            Output::Load(_, Query::ExpiredIncoming { .. }) => {
                Some(Loaded::ExpiredIncoming { due: Vec::new(), next: None })
            }
            Output::Load(_, Query::DuePushes { .. }) => {
                Some(Loaded::Pushes { due: Vec::new(), next: None })
            }
            Output::Load(_, Query::DueWatches { .. }) => {
                Some(Loaded::Watches { due: Vec::new(), next: None })
            }
            _ => None,
        };
        match (o, loaded) {
            (Output::Load(id, _), Some(l)) => {
                node.handle_input(Input::Loaded(id, Ok(l)), NOW);
                pending.extend(drain(node).0);
            }
            (Output::Persist(id, Write::ExpireConversations { .. }), _) => {
                node.handle_input(Input::Persisted(id, Ok(())), NOW);
                pending.extend(drain(node).0);
            }
            (other, _) => rest.push(other),
        }
    }
    rest
}

fn http(outputs: &mut Vec<Output>, part: &str) -> (ReqId, HttpRequest) {
    let pos = outputs
        .iter()
        .position(|o| matches!(o, Output::Http(_, r) if r.url.contains(part)))
        .unwrap_or_else(|| panic!("no request to {part} in {outputs:#?}"));
    match outputs.remove(pos) {
        Output::Http(id, r) => (id, r),
        _ => unreachable!(),
    }
}

fn answer(status: u16, body: String) -> HttpResponse {
    HttpResponse { status, headers: Vec::new(), body: Bytes::from(body) }
}

/// A receipt of `kind` on our conversation, signed as corner 2 signs it (a test
/// may draw randomness from the OS; the library takes it as an input).
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
fn receipt(kind: &str, id: &str) -> String {
    let rng = ring::rand::SystemRandom::new();
    let issued = crate::crypto::issue::self_signed("987464291", "c2", NOW, 1, &rng).unwrap();
    let key = crate::crypto::keys::PrivateKey::from_pkcs8_der(&issued.private_key_pkcs8).unwrap();
    let cert = crate::crypto::cert::Certificate::from_der(&issued.certificate).unwrap();
    let me = Identity::new(key, vec![cert]).unwrap();
    let sbd = json!({
        "standardBusinessDocumentHeader": {
            "documentIdentification": {"instanceIdentifier": id, "type": kind},
            "businessScope": {"scope": [{"type": "ConversationId", "instanceIdentifier": CONVERSATION}]}
        },
        kind: {"tidspunkt": "2027-01-15T08:00:00Z"}
    });
    crate::transport::dpi::forretningsmelding(&sbd, &me, &rng).unwrap()
}

fn conversation(statuses: &[Status]) -> Loaded {
    let row = ConversationRow {
        id: 1,
        conversation_id: Some(CONVERSATION.into()),
        message_id: MESSAGE.into(),
        sender: None,
        sender_identifier: None,
        receiver: None,
        receiver_identifier: None,
        process_identifier: None,
        document_identifier: None,
        message_reference: None,
        message_title: None,
        last_update: NOW,
        finished: false,
        expiry: None,
        direction: Direction::Outgoing,
        service_identifier: ServiceIdentifier::Dpi,
        statuses: statuses
            .iter()
            .map(|s| StatusRow {
                id: 1,
                conv_id: 1,
                conversation_id: Some(CONVERSATION.into()),
                message_id: MESSAGE.into(),
                status: *s,
                description: None,
                raw_receipt: None,
                last_update: NOW,
            })
            .collect(),
    };
    Loaded::Conversations { rows: vec![row], total: 1 }
}

#[test]
fn a_delivery_receipt_is_read_first_then_recorded_after_a_mottatt() {
    let mut node = node();
    let mut outputs = tick(&mut node);
    let (id, list) = http(&mut outputs, "/messages/in?");
    assert_eq!(
        list.url,
        "http://corner2.test/api/messages/in?kanal=no_difi_move_integrasjonspunkt&page_size=100"
    );
    let body = json!([{"forretningsmelding": receipt("leveringskvittering", "r1"), "downloadurl": null},
        {"forretningsmelding": "not.a.jwt", "downloadurl": null}]);
    node.handle_input(Input::Http(id, Ok(answer(200, body.to_string()))), NOW);
    let (mut outputs, wake) = drain(&mut node);
    // No next receipt poll while this one runs (the expiry sweep's is later).
    assert_eq!(wake, Some(NOW + Duration::from_secs(30)));
    // Nothing is recorded before the receipt is acknowledged.
    assert!(!outputs.iter().any(|o| matches!(o, Output::Persist(..) | Output::Load(..))));
    assert!(outputs.iter().any(|o| matches!(o, Output::Notice(t) if t.contains("skipped"))));
    let (id, read) = http(&mut outputs, "/messages/in/r1/read");
    assert_eq!(read.method, Method::Post);
    node.handle_input(Input::Http(id, Ok(answer(404, String::new()))), NOW);
    let (outputs, _) = drain(&mut node);
    let Some(Output::Load(lid, Query::Conversations { filter, .. })) = outputs.first() else {
        panic!("the conversation is looked up: {outputs:#?}")
    };
    assert_eq!(filter.conversation_id.as_deref(), Some(CONVERSATION));
    let lid = *lid;
    node.handle_input(
        Input::Loaded(lid, Ok(conversation(&[Status::Opprettet, Status::Sendt]))),
        NOW,
    );
    let (outputs, _) = drain(&mut node);
    let writes: Vec<(WriteId, &StatusRecord)> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Persist(id, Write::ApplyReceivedStatus(r)) => Some((*id, r)),
            _ => None,
        })
        .collect();
    let at = crate::sbd::DateTime::parse("2027-01-15T08:00:00Z").unwrap().timestamp();
    let got: Vec<(Status, Timestamp)> = writes.iter().map(|(_, r)| (r.status, r.at)).collect();
    assert_eq!(got, [(Status::Mottatt, at + Duration::from_secs(-1)), (Status::Levert, at)]);
    assert_eq!(writes[1].1.message_id.to_string(), MESSAGE);
    let ids: Vec<WriteId> = writes.iter().map(|(id, _)| *id).collect();
    for id in ids {
        node.handle_input(Input::Persisted(id, Ok(())), NOW);
    }
    let (_, wake) = drain(&mut node);
    assert_eq!(wake, Some(NOW + Duration::from_secs(10)), "the next poll in 10 s");
}

#[test]
fn an_opening_receipt_needs_no_mottatt_and_a_failed_read_records_nothing() {
    let mut node = node();
    let mut outputs = tick(&mut node);
    let (id, _) = http(&mut outputs, "/messages/in?");
    let body = json!([{"forretningsmelding": receipt("aapningskvittering", "r2")},
        {"forretningsmelding": receipt("leveringskvittering", "r3")}]);
    node.handle_input(Input::Http(id, Ok(answer(200, body.to_string()))), NOW);
    let (mut outputs, _) = drain(&mut node);
    let (r3, _) = http(&mut outputs, "/messages/in/r3/read");
    let (r2, _) = http(&mut outputs, "/messages/in/r2/read");
    node.handle_input(Input::Http(r3, Ok(answer(500, String::new()))), NOW);
    let (outputs, _) = drain(&mut node);
    assert!(
        outputs.iter().all(|o| !matches!(o, Output::Load(..) | Output::Persist(..))),
        "not acknowledged, not recorded: {outputs:#?}"
    );
    node.handle_input(Input::Http(r2, Ok(answer(200, String::new()))), NOW);
    let (outputs, _) = drain(&mut node);
    let Some(Output::Load(lid, _)) = outputs.first() else { panic!("{outputs:#?}") };
    node.handle_input(Input::Loaded(*lid, Ok(conversation(&[Status::Sendt]))), NOW);
    let (outputs, _) = drain(&mut node);
    let statuses: Vec<Status> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Persist(_, Write::ApplyReceivedStatus(r)) => Some(r.status),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, [Status::Lest]);
}
