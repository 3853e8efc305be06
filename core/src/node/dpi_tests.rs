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

fn digital_message() -> OutgoingMessage {
    let body = json!({
        "standardBusinessDocumentHeader": {
            "headerVersion": "1.0",
            "sender": [{"identifier": {"value": "0192:910077473", "authority": "iso6523-actorid-upis"}}],
            "receiver": [{"identifier": {"value": "09118532322", "authority": "iso6523-actorid-upis"}}],
            "documentIdentification": {"standard": "urn:no:difi:digitalpost:xsd:digital::digital",
                "typeVersion": "2.0", "instanceIdentifier": MESSAGE, "type": "digital",
                "creationDateAndTime": "2027-01-15T09:00:00+01:00"},
            "businessScope": {"scope": [{"type": "ConversationId",
                "instanceIdentifier": CONVERSATION,
                "identifier": "urn:no:difi:profile:digitalpost:info:ver1.0",
                "scopeInformation": [{"expectedResponseDateTime": "2099-01-16T09:00:00+01:00"}]}]}
        },
        "digital": {"sikkerhetsnivaa": 3, "hoveddokument": "a.pdf", "tittel": "T", "spraak": "NO",
            "digitalPostInfo": {"virkningsdato": "2027-01-15", "aapningskvittering": false}}
    });
    let file = |name: &str, primary: bool| StoredFile {
        filename: name.into(),
        title: Some(name.into()),
        mime: "application/pdf".into(),
        size: 3,
        sha256: String::new(),
        primary,
    };
    OutgoingMessage {
        sbd: Sbd::from_json(body.to_string().as_bytes()).unwrap(),
        request: String::new(),
        created: NOW,
        expiry: NOW + Duration::from_hours(24),
        service: ServiceIdentifier::Dpi,
        // Uploaded attachment first: the primary document still leads.
        files: vec![file("b.pdf", false), file("a.pdf", true)],
        queued: Some(NOW),
        lifecycle: crate::status::Lifecycle::new(Direction::Outgoing),
    }
}

#[test]
fn a_dpi_message_is_sealed_sent_and_watched() {
    let mut node = node();
    node.handle_input(Input::Tick, NOW);
    let mut outputs = drain(&mut node).0;
    let pos = outputs
        .iter()
        .position(|o| matches!(o, Output::Load(_, Query::DueOutgoing { .. })))
        .expect("a look at the queue");
    let Output::Load(lid, _) = outputs.remove(pos) else { unreachable!() };
    let due = Loaded::DueOutgoing { due: vec![(digital_message(), 0)], next: None };
    node.handle_input(Input::Loaded(lid, Ok(due)), NOW);
    let mut outputs = drain(&mut node).0;
    let (id, lookup) = http(&mut outputs, "/identifier/09118532322");
    assert!(
        lookup.url.contains("process/urn:no:difi:profile:digitalpost:info:ver1.0"),
        "{}",
        lookup.url
    );
    let record = json!({
        "infoRecord": {"identifier": "09118532322"},
        "serviceRecords": [{
            "organisationNumber": "09118532322",
            "pemCertificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            "orgnrPostkasse": "987464291", "postkasseAdresse": "ola#1",
            "process": "urn:no:difi:profile:digitalpost:info:ver1.0",
            "documentTypes": ["urn:no:difi:digitalpost:xsd:digital::digital"],
            "service": {"identifier": "DPI"}
        }]
    });
    node.handle_input(Input::Http(id, Ok(answer(200, record.to_string()))), NOW);
    let (outputs, _) = drain(&mut node);
    let Some((job_id, job)) = outputs.iter().find_map(|o| match o {
        Output::Job(id, Job::Seal(j)) => Some((*id, j.clone())),
        _ => None,
    }) else {
        panic!("a seal job: {outputs:#?}")
    };
    assert_eq!(job.key_transport, crate::crypto::key_unwrap::KeyTransport::RsaOaepSha256);
    let names: Vec<&str> = job.files.iter().map(|f| f.filename.as_str()).collect();
    assert_eq!(names, ["a.pdf", "b.pdf"]);
    let SealForm::Dpi(form) = &job.form else { panic!("a DPI seal: {:?}", job.form) };
    assert_eq!(form.sbd["digital"]["mottaker"]["postkasseadresse"], "ola#1");
    assert!(form.sbd["digital"].get("maskinportentoken").is_none(), "the runtime adds it");
    assert_eq!(
        form.credential,
        Credential::Maskinporten { scopes: vec!["digitalpostinnbygger:send".into()] }
    );
    let boundary = form.boundary.clone();
    node.handle_input(
        Input::JobDone(job_id, Ok(JobResult::Staged { name: "body".into(), size: 9 })),
        NOW,
    );
    let mut outputs = drain(&mut node).0;
    let (id, post) = http(&mut outputs, "/messages/out");
    assert_eq!(
        post.url,
        "http://corner2.test/api/messages/out?kanal=no_difi_move_integrasjonspunkt"
    );
    assert_eq!(post.body_file.as_deref(), Some("body"));
    assert_eq!(
        post.header_value("Content-Type").map(str::to_owned),
        Some(format!("multipart/form-data; boundary={boundary}"))
    );
    node.handle_input(Input::Http(id, Ok(answer(200, String::new()))), NOW);
    let (outputs, _) = drain(&mut node);
    let handed = outputs.iter().find_map(|o| match o {
        Output::Persist(_, Write::HandOffWatched { statuses, service, .. }) => {
            Some((statuses.iter().map(|s| s.status).collect::<Vec<_>>(), *service))
        }
        _ => None,
    });
    assert_eq!(handed, Some((vec![Status::Sendt], ServiceIdentifier::Dpi)));
}

fn watch() -> Watch {
    Watch {
        message_id: MESSAGE.parse().unwrap(),
        conversation_id: CONVERSATION.parse().ok(),
        service: ServiceIdentifier::Dpi,
        sender: "0192:910077473".into(),
        receiver: "09118532322".into(),
        reference: None,
        handed_off: NOW,
        next_poll: NOW,
    }
}

/// One status poll answered with `body`: the `Watched` write it leads to.
fn poll_answered(status: u16, body: &str) -> (Vec<(Status, Timestamp)>, Option<Timestamp>) {
    let mut node = node();
    node.poll_dpi(vec![watch()]);
    let mut outputs = drain(&mut node).0;
    let (id, req) = http(&mut outputs, "/statuses");
    assert_eq!(req.url, format!("http://corner2.test/api/messages/out/{MESSAGE}/statuses"));
    node.handle_input(Input::Http(id, Ok(answer(status, body.into()))), NOW);
    let (outputs, _) = drain(&mut node);
    outputs
        .iter()
        .find_map(|o| match o {
            Output::Persist(_, Write::Watched { statuses, next_poll, .. }) => {
                Some((statuses.iter().map(|s| (s.status, s.at)).collect(), *next_poll))
            }
            _ => None,
        })
        .expect("the poll is recorded")
}

#[test]
fn status_polls_map_corner_2_and_stop_once_corner_3_has_it() {
    let t = |s: &str| crate::sbd::DateTime::parse(s).unwrap().timestamp();
    let (statuses, next) =
        poll_answered(200, r#"[{"status":"OPPRETTET","timestamp":"2027-01-15T08:00:00Z"}]"#);
    assert_eq!(statuses, [(Status::Sendt, t("2027-01-15T08:00:00Z"))]);
    assert_eq!(next, Some(NOW + Duration::from_mins(1)), "polled again");
    let (statuses, next) = poll_answered(
        200,
        r#"[{"status":"OPPRETTET","timestamp":"2027-01-15T08:00:00Z"},{"status":"SENDT"}]"#,
    );
    assert_eq!(statuses, [(Status::Sendt, t("2027-01-15T08:00:00Z")), (Status::Mottatt, NOW)]);
    assert_eq!(next, None, "MOTTATT ends the polling");
    let (statuses, next) = poll_answered(503, "");
    assert!(statuses.is_empty());
    assert_eq!(next, Some(NOW + Duration::from_mins(1)), "tried again later");
}
