//! DPV sending and polling, driven step by step: the test plays registry, store and
//! Correspondence API, so each decision the node makes on an answer is pinned.

use bytes::Bytes;
use serde_json::json;

use super::delivery::{Outbound, Step};
use super::records::StatusRow;
use super::*;
use crate::transport::correspondence::{CorrespondenceEndpoint, FormSettings};

const NOW: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);
const ID: &str = "00000000-0000-4000-8000-0000000000a1";
const CORRESPONDENCE: &str = "0198408f-979c-75e0-b23e-aef6e907015f";
const XML: &str = r#"<arkivmelding><mappe><basisregistrering>
    <dokumentbeskrivelse><dokumentobjekt><referanseDokumentfil>a.txt</referanseDokumentfil></dokumentobjekt></dokumentbeskrivelse>
    <tittel>Nye lysrør</tittel><offentligTittel>Offentlig</offentligTittel>
    </basisregistrering></mappe></arkivmelding>"#;

fn node() -> Node {
    let mut c = Config::new("910077473");
    c.registry_url = "http://registry.test".into();
    c.enabled_services = vec![ServiceIdentifier::Dpv];
    c.dpv = Some(DpvSettings {
        endpoint: CorrespondenceEndpoint {
            base_url: "http://proxy.test/correspondence/api/v1".into(),
        },
        form: FormSettings::default(),
        arkivmelding_receipts: false,
    });
    let mut node = Node::new(c, [7; 32], NOW);
    node.now = NOW;
    node
}

fn file(name: &str, mime: &str) -> StoredFile {
    StoredFile {
        filename: name.into(),
        title: Some(format!("Title of {name}")),
        mime: mime.into(),
        size: 3,
        sha256: String::new(),
        primary: false,
    }
}

fn message(kind: &str, business: serde_json::Value) -> Outbound {
    let standard = match kind {
        "digital_dpv" => "urn:no:difi:digitalpost:xsd:digital::digital_dpv".to_owned(),
        k => format!("urn:no:difi:arkivmelding:xsd::{k}"),
    };
    let body = json!({
        "standardBusinessDocumentHeader": {
            "headerVersion": "1.0",
            "sender": [{"identifier": {"value": "0192:910077473", "authority": "iso6523-actorid-upis"}}],
            "receiver": [{"identifier": {"value": "0192:910075918", "authority": "iso6523-actorid-upis"}}],
            "documentIdentification": {"standard": standard, "typeVersion": "2.0",
                "instanceIdentifier": ID, "type": kind,
                "creationDateAndTime": "2027-01-15T09:00:00+01:00"},
            "businessScope": {"scope": [{"type": "ConversationId",
                "instanceIdentifier": "b4567a25-672c-4c2e-9a0f-08c52c54254b",
                "identifier": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0",
                "scopeInformation": [{"expectedResponseDateTime": "2027-01-16T09:00:00+01:00"}]}]}
        },
        kind: business
    });
    let message = OutgoingMessage {
        sbd: Sbd::from_json(body.to_string().as_bytes()).unwrap(),
        request: String::new(),
        created: NOW,
        expiry: NOW + Duration::from_hours(24),
        service: ServiceIdentifier::Dpv,
        files: vec![file("arkivmelding.xml", "text/xml"), file("a.txt", "text/plain")],
        queued: Some(NOW),
        lifecycle: Lifecycle::new(Direction::Outgoing),
    };
    Outbound::Message { message: Box::new(message), attempts: 0 }
}

fn resource(record_resource: Option<&str>) -> IdentifierResource {
    let mut service = json!({"identifier": "DPV", "endpointUrl": ""});
    if let Some(r) = record_resource {
        service["resource"] = json!(r);
    }
    let body = json!({
        "infoRecord": {"identifier": "910075918", "organizationName": "B"},
        "serviceRecords": [{"organisationNumber": "910075918",
            "process": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0",
            "documentTypes": ["urn:no:difi:arkivmelding:xsd::arkivmelding",
                "urn:no:difi:digitalpost:xsd:digital::digital_dpv"], "service": service}]
    });
    crate::registry::answer::parse_identifier_resource(body.to_string().as_bytes()).unwrap()
}

fn response(status: u16, body: &str) -> HttpResponse {
    HttpResponse { status, headers: Vec::new(), body: Bytes::from(body.to_owned()) }
}

fn drain(node: &mut Node) -> Vec<Output> {
    let mut out = Vec::new();
    loop {
        match node.poll_output() {
            Output::Idle { .. } => return out,
            o => out.push(o),
        }
    }
}

fn take_http(outputs: &mut Vec<Output>, url_part: &str) -> (ReqId, HttpRequest) {
    let pos = outputs
        .iter()
        .position(|o| matches!(o, Output::Http(_, r) if r.url.contains(url_part)))
        .unwrap_or_else(|| panic!("no request to {url_part} in {outputs:#?}"));
    match outputs.remove(pos) {
        Output::Http(id, r) => (id, r),
        _ => unreachable!(),
    }
}

/// The delivery from the receiver's record to the upload request.
fn to_upload(node: &mut Node, out: Outbound) -> (ReqId, HttpRequest) {
    let key = match &out {
        Outbound::Message { message, .. } => message.message_id().unwrap(),
        Outbound::Reply { .. } => unreachable!(),
    };
    node.delivery.in_flight.insert(delivery::InFlight::Message(key));
    let lookup = IdentifierLookup::new("910075918")
        .process("urn:no:difi:profile:arkivmelding:administrasjon:ver1.0");
    node.delivery_looked_up(
        Step::Lookup { out, lookup },
        Ok(resource(Some("eformidling-dpv-administrasjon"))),
    );
    // The sender's name, from the registry.
    let mut outputs = drain(node);
    let (id, _) = take_http(&mut outputs, "registry.test/identifier/910077473");
    let sender = json!({"infoRecord": {"identifier": "910077473", "organizationName": "TEST - C4"},
        "serviceRecords": []});
    node.handle_input(Input::Http(id, Ok(response(200, &sender.to_string()))), NOW);
    let mut outputs = drain(node);
    // An arkivmelding's texts come from its arkivmelding.xml.
    if let Some(pos) = outputs.iter().position(|o| matches!(o, Output::Load(..))) {
        let Output::Load(lid, Query::FileContent { filename, .. }) = outputs.remove(pos) else {
            panic!("{outputs:?}")
        };
        assert_eq!(filename, "arkivmelding.xml");
        let loaded = Loaded::FileContent(Some(Bytes::from_static(XML.as_bytes())));
        node.handle_input(Input::Loaded(lid, Ok(loaded)), NOW);
        outputs = drain(node);
    }
    take_http(&mut outputs, "/correspondence/upload")
}

fn form_text(req: &HttpRequest) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut files = Vec::new();
    for p in &req.body_parts {
        match p {
            BodyPart::Bytes(b) => text.push_str(std::str::from_utf8(b).unwrap()),
            BodyPart::StoredFile { filename, .. } => files.push(filename.clone()),
        }
    }
    (text, files)
}

fn the_write(outputs: &[Output]) -> &Write {
    outputs
        .iter()
        .find_map(|o| match o {
            Output::Persist(_, w) => Some(w),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no write in {outputs:#?}"))
}

#[test]
fn an_arkivmelding_goes_up_as_a_form_with_its_named_files_and_is_watched() {
    let mut node = node();
    let (id, req) =
        to_upload(&mut node, message("arkivmelding", json!({"hoveddokument": "a.txt"})));
    assert_eq!(req.url, "http://proxy.test/correspondence/api/v1/correspondence/upload");
    assert_eq!(req.auth, Some(Credential::AltinnProxy { scopes: vec!["eformidling:dpv".into()] }));
    let (text, files) = form_text(&req);
    assert_eq!(files, ["a.txt"], "arkivmelding.xml itself is not an attachment");
    for (name, value) in [
        ("correspondence.resourceId", "eformidling-dpv-administrasjon"),
        ("correspondence.messageSender", "TEST - C4"),
        ("correspondence.content.messageTitle", "Offentlig"),
        ("correspondence.content.messageBody", "Nye lysrør"),
        ("correspondence.content.attachments[0].displayName", "Title of a.txt"),
        ("recipients[0]", "urn:altinn:organization:identifier-no:910075918"),
        ("idempotentKey", ID),
    ] {
        let part = format!(
            "name=\"{name}\"\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{value}\r\n",
            value.len()
        );
        assert!(text.contains(&part), "{name}={value} in {text}");
    }
    let answer = format!(r#"{{"correspondences":[{{"correspondenceId":"{CORRESPONDENCE}"}}]}}"#);
    node.handle_input(Input::Http(id, Ok(response(200, &answer))), NOW);
    let outputs = drain(&mut node);
    let Write::HandOffWatched { statuses, service, reference, .. } = the_write(&outputs) else {
        panic!("{outputs:#?}")
    };
    assert_eq!(statuses.iter().map(|s| s.status).collect::<Vec<_>>(), [Status::Sendt]);
    assert_eq!((*service, reference.as_deref()), (ServiceIdentifier::Dpv, Some(CORRESPONDENCE)));
}

#[test]
fn a_digital_dpv_message_sends_every_file() {
    let mut node = node();
    let business = json!({"tittel": "foo", "sammendrag": "bar", "innhold": "foobar"});
    let (_, req) = to_upload(&mut node, message("digital_dpv", business));
    let (text, files) = form_text(&req);
    assert_eq!(files, ["arkivmelding.xml", "a.txt"]);
    assert!(text.contains("\r\n\r\nfoobar\r\n"), "{text}");
}

#[test]
fn a_409_is_sent_already_and_the_correspondence_is_found_by_reference() {
    let mut node = node();
    let (id, _) = to_upload(&mut node, message("arkivmelding", json!({})));
    node.handle_input(Input::Http(id, Ok(response(409, "{}"))), NOW);
    let mut outputs = drain(&mut node);
    let (id, find) = take_http(&mut outputs, "correspondence?sendersReference=");
    assert!(find.url.ends_with(ID), "{}", find.url);
    let found = format!(r#"{{"ids":["{CORRESPONDENCE}"]}}"#);
    node.handle_input(Input::Http(id, Ok(response(200, &found))), NOW);
    let outputs = drain(&mut node);
    let Write::HandOffWatched { reference, .. } = the_write(&outputs) else { panic!() };
    assert_eq!(reference.as_deref(), Some(CORRESPONDENCE));

    // Not found: sent, with nothing to poll (as the reference).
    let mut node = self::node();
    let (id, _) = to_upload(&mut node, message("arkivmelding", json!({})));
    node.handle_input(Input::Http(id, Ok(response(409, "{}"))), NOW);
    let mut outputs = drain(&mut node);
    let (id, _) = take_http(&mut outputs, "sendersReference=");
    node.handle_input(Input::Http(id, Ok(response(200, r#"{"ids":[]}"#))), NOW);
    let outputs = drain(&mut node);
    let Write::HandOff(r) = the_write(&outputs) else { panic!("{outputs:#?}") };
    assert_eq!(r.status, Status::Sendt);
    assert!(outputs.iter().any(|o| matches!(o, Output::Notice(n) if n.contains("not be polled"))));
}

#[test]
fn a_refusal_is_feil_and_an_outage_is_retried() {
    let mut node = node();
    let (id, _) = to_upload(&mut node, message("arkivmelding", json!({})));
    let refusal = r#"{"title":"Bad Request","detail":"The resource is not registered"}"#;
    node.handle_input(Input::Http(id, Ok(response(400, refusal))), NOW);
    let outputs = drain(&mut node);
    let Write::HandOff(r) = the_write(&outputs) else { panic!("{outputs:#?}") };
    assert_eq!(r.status, Status::Feil);
    assert!(r.description.as_deref().unwrap_or_default().contains("not registered"));

    let mut node = self::node();
    let (id, _) = to_upload(&mut node, message("arkivmelding", json!({})));
    node.handle_input(Input::Http(id, Ok(response(503, ""))), NOW);
    let outputs = drain(&mut node);
    assert!(matches!(the_write(&outputs), Write::RetryOutgoing { .. }), "{outputs:#?}");
}

#[test]
fn a_record_without_a_resource_is_feil() {
    let mut node = node();
    let out = message("arkivmelding", json!({}));
    node.delivery.in_flight.insert(delivery::InFlight::Message(ID.parse().unwrap()));
    let lookup = IdentifierLookup::new("910075918");
    node.delivery_looked_up(Step::Lookup { out, lookup }, Ok(resource(None)));
    let outputs = drain(&mut node);
    let Write::HandOff(r) = the_write(&outputs) else { panic!("{outputs:#?}") };
    assert_eq!(r.status, Status::Feil);
    assert!(r.description.as_deref().unwrap_or_default().contains("resource id"));
}

fn watch(reference: Option<&str>) -> Watch {
    Watch {
        message_id: ID.parse().unwrap(),
        conversation_id: None,
        service: ServiceIdentifier::Dpv,
        sender: "910077473".into(),
        receiver: "910075918".into(),
        reference: reference.map(str::to_owned),
        handed_off: NOW,
        next_poll: NOW,
    }
}

#[test]
fn polling_records_levert_and_lest_and_stops_when_deleted() {
    let mut node = node();
    node.poll_dpv(vec![watch(Some(CORRESPONDENCE))]);
    let mut outputs = drain(&mut node);
    let (id, req) = take_http(&mut outputs, &format!("/correspondence/{CORRESPONDENCE}"));
    assert_eq!(req.method, Method::Get);
    let overview = r#"{"created":"2027-01-15T08:00:00Z","published":"2027-01-15T08:00:01Z",
        "read":"2027-01-15T09:00:00Z","status":"Read"}"#;
    node.handle_input(Input::Http(id, Ok(response(200, overview))), NOW);
    let outputs = drain(&mut node);
    let Write::Watched { statuses, next_poll, .. } = the_write(&outputs) else { panic!() };
    let got: Vec<Status> = statuses.iter().map(|s| s.status).collect();
    assert_eq!(got, [Status::Levert, Status::Lest]);
    assert!(next_poll.is_some(), "the store ends the watch on LEST");

    let mut node = self::node();
    node.poll_dpv(vec![watch(Some(CORRESPONDENCE))]);
    let mut outputs = drain(&mut node);
    let (id, _) = take_http(&mut outputs, "/correspondence/");
    node.handle_input(Input::Http(id, Ok(response(404, ""))), NOW);
    let outputs = drain(&mut node);
    let Write::Watched { statuses, next_poll, .. } = the_write(&outputs) else { panic!() };
    assert_eq!(statuses[0].status, Status::Annet);
    assert_eq!(next_poll, &None);

    // An outage: nothing recorded, polled again later.
    let mut node = self::node();
    node.poll_dpv(vec![watch(Some(CORRESPONDENCE))]);
    let mut outputs = drain(&mut node);
    let (id, _) = take_http(&mut outputs, "/correspondence/");
    node.handle_input(Input::Http(id, Err(TransportError::Timeout)), NOW);
    let outputs = drain(&mut node);
    let Write::Watched { statuses, next_poll, .. } = the_write(&outputs) else { panic!() };
    assert!(statuses.is_empty());
    assert!(next_poll.is_some());

    // No correspondence id (sent after a 409 whose look-up failed): nothing to ask.
    let mut node = self::node();
    node.poll_dpv(vec![watch(None)]);
    let outputs = drain(&mut node);
    assert!(!outputs.iter().any(|o| matches!(o, Output::Http(..))));
    assert!(matches!(the_write(&outputs), Write::Watched { next_poll: None, .. }));
}

#[test]
fn a_receipt_over_dpv_is_recorded_sendt_levert_lest_without_sending() {
    let mut node = node();
    let Outbound::Message { message, .. } =
        message("arkivmelding_kvittering", json!({"receiptType": "OK"}))
    else {
        unreachable!()
    };
    node.handle_input(Input::Tick, NOW);
    let outputs = drain(&mut node);
    let lid = outputs
        .iter()
        .find_map(|o| match o {
            Output::Load(id, Query::DueOutgoing { .. }) => Some(*id),
            _ => None,
        })
        .expect("a look at the queue");
    let due = Loaded::DueOutgoing { due: vec![(*message, 0)], next: None };
    node.handle_input(Input::Loaded(lid, Ok(due)), NOW);
    let outputs = drain(&mut node);
    assert!(!outputs.iter().any(|o| matches!(o, Output::Http(..))), "{outputs:#?}");
    let Write::HandOffWatched { statuses, .. } = the_write(&outputs) else { panic!() };
    let got: Vec<Status> = statuses.iter().map(|s| s.status).collect();
    assert_eq!(got, [Status::Sendt, Status::Levert, Status::Lest]);
}

fn conversation(statuses: &[Status]) -> ConversationRow {
    ConversationRow {
        id: 1,
        conversation_id: Some("b4567a25-672c-4c2e-9a0f-08c52c54254b".into()),
        message_id: ID.into(),
        sender: Some("0192:910077473".into()),
        sender_identifier: Some("910077473".into()),
        receiver: Some("0192:910075918".into()),
        receiver_identifier: Some("910075918".into()),
        process_identifier: Some("urn:no:difi:profile:arkivmelding:administrasjon:ver1.0".into()),
        document_identifier: Some("urn:no:difi:arkivmelding:xsd::arkivmelding".into()),
        message_reference: None,
        message_title: None,
        last_update: NOW,
        finished: false,
        expiry: None,
        direction: Direction::Outgoing,
        service_identifier: ServiceIdentifier::Dpv,
        statuses: statuses
            .iter()
            .enumerate()
            .map(|(i, s)| StatusRow {
                id: i as i64,
                conv_id: 1,
                conversation_id: None,
                message_id: ID.into(),
                status: *s,
                description: None,
                raw_receipt: None,
                last_update: NOW,
            })
            .collect(),
    }
}

/// Published: with receipts on, an arkivmelding is answered with an OK receipt in
/// our incoming queue before LEVERT is recorded, once.
fn published_with_receipts(already: &[Status]) -> (Node, Vec<Output>) {
    let mut node = node();
    if let Some(s) = node.config.dpv.as_mut() {
        s.arkivmelding_receipts = true;
    }
    node.poll_dpv(vec![watch(Some(CORRESPONDENCE))]);
    let mut outputs = drain(&mut node);
    let (id, _) = take_http(&mut outputs, "/correspondence/");
    let overview = r#"{"created":"2027-01-15T08:00:00Z","published":"2027-01-15T08:00:01Z"}"#;
    node.handle_input(Input::Http(id, Ok(response(200, overview))), NOW);
    let outputs = drain(&mut node);
    let Some(Output::Load(lid, Query::OutgoingConversation(_))) = outputs.first() else {
        panic!("{outputs:#?}")
    };
    let loaded = Loaded::Conversation(Some(Box::new(conversation(already))));
    node.handle_input(Input::Loaded(*lid, Ok(loaded)), NOW);
    let outputs = drain(&mut node);
    (node, outputs)
}

#[test]
fn a_published_arkivmelding_is_answered_with_a_receipt_once() {
    let (mut node, outputs) = published_with_receipts(&[Status::Opprettet, Status::Sendt]);
    let Some(Output::Persist(wid, Write::CreateIncoming { message, reply: None })) =
        outputs.first()
    else {
        panic!("{outputs:#?}")
    };
    let sbd = &message.sbd;
    assert_eq!(message.service, ServiceIdentifier::Dpv);
    assert_eq!(sbd.message_type(), crate::sbd::MessageType::ArkivmeldingKvittering);
    assert_eq!(sbd.header.sender.as_ref().map(|p| p.value.as_str()), Some("0192:910075918"));
    assert_eq!(sbd.header.receiver.as_ref().map(|p| p.value.as_str()), Some("0192:910077473"));
    assert_eq!(
        sbd.header.conversation_id().map(|c| c.to_string()).as_deref(),
        Some("b4567a25-672c-4c2e-9a0f-08c52c54254b")
    );
    assert_eq!(sbd.header.process(), Some(crate::sbd::status_reply::ARKIVMELDING_RECEIPT_PROCESS));
    let body = sbd.to_json_value();
    assert_eq!(body["arkivmelding_kvittering"]["receiptType"], "OK");
    assert_eq!(body["arkivmelding_kvittering"]["relatedToMessageId"], ID);
    // The same receipt id each time, so a second try is a repeat the store drops.
    let (_, again) = published_with_receipts(&[Status::Opprettet, Status::Sendt]);
    let Some(Output::Persist(_, Write::CreateIncoming { message: m2, .. })) = again.first() else {
        panic!()
    };
    assert_eq!(m2.sbd.message_id(), sbd.message_id());
    assert_ne!(sbd.message_id().map(|m| m.to_string()).as_deref(), Some(ID));

    // Stored (or there already): LEVERT is recorded.
    node.handle_input(Input::Persisted(*wid, Err(StoreError::Conflict)), NOW);
    let outputs = drain(&mut node);
    let Write::Watched { statuses, .. } = the_write(&outputs) else { panic!("{outputs:#?}") };
    assert_eq!(statuses[0].status, Status::Levert);

    // LEVERT recorded before: no second receipt.
    let (_, outputs) = published_with_receipts(&[Status::Opprettet, Status::Sendt, Status::Levert]);
    assert!(matches!(the_write(&outputs), Write::Watched { .. }), "{outputs:#?}");
}
