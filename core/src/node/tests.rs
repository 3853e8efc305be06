//! The node driven by an in-memory store, the way a runtime drives it.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::*;
use crate::api::MessageRef;

const NOW: Timestamp = Timestamp::from_unix_millis(1_553_510_303_000); // 2019-03-25T10:38:23Z

/// What the fake registry answers: status and body.
type RegistryAnswer = Result<(u16, String), TransportError>;

/// A test host: executes store outputs against a map, answers registry requests from
/// a canned answer, collects everything else.
struct Host {
    node: Node,
    registry: RegistryAnswer,
    registry_requests: Vec<String>,
    store: HashMap<MessageId, OutgoingMessage>,
    statuses: Vec<StatusRecord>,
    answers: Vec<(CallId, ApiResponse)>,
    events: Vec<StatusEvent>,
    /// Make the next N writes fail with this error.
    fail_writes: Vec<StoreError>,
    /// Staged files, by name, as a runtime left them.
    staging: HashMap<String, Bytes>,
    /// The files written, with the staged file each was moved from (none when its
    /// content came in memory) and the conversation fields given.
    added: Vec<(StoredFile, Option<StagedFile>, Option<crate::arkivmelding::ConversationFields>)>,
}

impl Host {
    fn new() -> Self {
        let mut config = Config::new("910077473");
        config.registry_url = "http://registry.test".into();
        config.enabled_services = vec![ServiceIdentifier::Dpo];
        Host {
            node: Node::new(config, [9; 32], NOW),
            registry: Ok((200, dpo_record())),
            registry_requests: Vec::new(),
            store: HashMap::new(),
            statuses: Vec::new(),
            answers: Vec::new(),
            events: Vec::new(),
            fail_writes: Vec::new(),
            staging: HashMap::new(),
            added: Vec::new(),
        }
    }

    fn input(&mut self, i: Input) {
        self.node.handle_input(i, NOW);
        self.drain();
    }

    fn drain(&mut self) {
        loop {
            match self.node.poll_output() {
                Output::Idle { .. } => return,
                Output::Load(id, Query::OutgoingMessage(mid)) => {
                    let found = self.store.get(&mid).cloned().map(Box::new);
                    self.node
                        .handle_input(Input::Loaded(id, Ok(Loaded::OutgoingMessage(found))), NOW);
                }
                Output::Persist(id, Write::CreateOutgoing { message, status }) => {
                    let result = if let Some(e) = self.fail_writes.pop() {
                        Err(e)
                    } else if let std::collections::hash_map::Entry::Vacant(e) =
                        self.store.entry(status.message_id)
                    {
                        e.insert(*message);
                        self.statuses.push(status);
                        Ok(())
                    } else {
                        Err(StoreError::Conflict)
                    };
                    self.node.handle_input(Input::Persisted(id, result), NOW);
                }
                Output::Load(id, Query::StagedContent { name }) => {
                    let found = Loaded::FileContent(self.staging.get(&name).cloned());
                    self.node.handle_input(Input::Loaded(id, Ok(found)), NOW);
                }
                Output::Persist(
                    id,
                    Write::AddStagedFile { message_id, file, staged, conversation },
                ) => {
                    let message = self.store.get_mut(&message_id).expect("the message");
                    message.files.push(file.clone());
                    self.staging.remove(&staged.name);
                    self.added.push((file, Some(staged), conversation));
                    self.node.handle_input(Input::Persisted(id, Ok(())), NOW);
                }
                Output::Persist(id, Write::AddFile { message_id, file, conversation, .. }) => {
                    let message = self.store.get_mut(&message_id).expect("the message");
                    message.files.push(file.clone());
                    self.added.push((file, None, conversation));
                    self.node.handle_input(Input::Persisted(id, Ok(())), NOW);
                }
                // This host keeps no subscriptions, so its push outbox is empty.
                Output::Load(id, Query::DuePushes { .. }) => {
                    let empty = Loaded::Pushes { due: Vec::new(), next: None };
                    self.node.handle_input(Input::Loaded(id, Ok(empty)), NOW);
                }
                // Nor any incoming messages.
                Output::Load(id, Query::ExpiredIncoming { .. }) => {
                    let none = Loaded::ExpiredIncoming { due: Vec::new(), next: None };
                    self.node.handle_input(Input::Loaded(id, Ok(none)), NOW);
                }
                // Nor anything to deliver.
                Output::Load(id, Query::DueOutgoing { .. }) => {
                    let none = Loaded::DueOutgoing { due: Vec::new(), next: None };
                    self.node.handle_input(Input::Loaded(id, Ok(none)), NOW);
                }
                Output::Load(id, Query::DueReplies { .. }) => {
                    let none = Loaded::Replies { due: Vec::new(), next: None };
                    self.node.handle_input(Input::Loaded(id, Ok(none)), NOW);
                }
                Output::Persist(id, Write::ExpireConversations { .. }) => {
                    self.node.handle_input(Input::Persisted(id, Ok(())), NOW);
                }
                Output::Notice(_) | Output::Mail(_) => {}
                Output::Job(_, job) => panic!("this host does no payload work: {job:?}"),
                Output::Load(_, q) => panic!("this host does not serve {q:?}"),
                Output::Persist(_, w) => panic!("this host does not serve {w:?}"),
                Output::Respond(call, r) => self.answers.push((call, r)),
                Output::Status(e) => self.events.push(e),
                Output::Http(id, req) => {
                    assert_eq!(req.method, Method::Get);
                    self.registry_requests.push(req.url);
                    let answer = self.registry.clone().map(|(status, body)| HttpResponse {
                        status,
                        headers: vec![("Content-Type".into(), "application/json".into())],
                        body: Bytes::from(body),
                    });
                    self.node.handle_input(Input::Http(id, answer), NOW);
                }
            }
        }
    }

    fn create(&mut self, call: u64, body: &Value) -> &ApiResponse {
        let body = Bytes::from(body.to_string());
        self.input(Input::Api(CallId(call), ApiCall::CreateMessage { body }));
        let (c, r) = self.answers.last().expect("an answer");
        assert_eq!(*c, CallId(call));
        r
    }
}

use bytes::Bytes;

use crate::registry::model::ServiceIdentifier;

/// The receiver takes arkivmelding under the administrasjon process by DPO.
fn dpo_record() -> String {
    json!({
        "infoRecord": {"identifier": "910075918", "organizationName": "Mottaker"},
        "serviceRecords": [{
            "organisationNumber": "910075918",
            "pemCertificate": "",
            "process": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0",
            "documentTypes": ["urn:no:difi:arkivmelding:xsd::arkivmelding"],
            "service": {"identifier": "DPO", "endpointUrl": "http://broker.test"}
        }]
    })
    .to_string()
}

fn arkivmelding(message_id: &str, hoveddokument: &str) -> Value {
    json!({
        "standardBusinessDocumentHeader": {
            "headerVersion": "1.0",
            "sender": [{"identifier": {"value": "0192:910077473", "authority": "iso6523-actorid-upis"}}],
            "receiver": [{"identifier": {"value": "0192:910075918", "authority": "iso6523-actorid-upis"}}],
            "documentIdentification": {"standard": "urn:no:difi:arkivmelding:xsd::arkivmelding", "typeVersion": "1.0",
                "instanceIdentifier": message_id, "type": "arkivmelding"},
            "businessScope": {"scope": [{"type": "ConversationId", "instanceIdentifier": "b4567a25-672c-4c2e-9a0f-08c52c54254b",
                "identifier": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0"}]}
        },
        "arkivmelding": {"hoveddokument": hoveddokument}
    })
}

const ID: &str = "e99e5cd1-74de-4cce-b902-cecdf97dc4f3";

#[test]
fn create_is_answered_after_the_write_and_records_opprettet() {
    let mut h = Host::new();
    let ApiResponse::Json(sbd) = h.create(1, &arkivmelding(ID, "a.pdf")) else {
        panic!("{:?}", h.answers)
    };
    assert_eq!(
        sbd["standardBusinessDocumentHeader"]["documentIdentification"]["creationDateAndTime"],
        "2019-03-25T11:38:23+01:00"
    );
    assert_eq!(
        sbd["standardBusinessDocumentHeader"]["businessScope"]["scope"][0]["scopeInformation"][0]["expectedResponseDateTime"],
        "2019-03-26T11:38:23+01:00"
    );
    assert_eq!(h.statuses.len(), 1);
    assert_eq!(h.statuses[0].status, Status::Opprettet);
    assert_eq!(h.events.len(), 1);
    assert_eq!(
        h.events[0].conversation_id.unwrap().to_string(),
        "b4567a25-672c-4c2e-9a0f-08c52c54254b"
    );
    let stored = &h.store[&ID.parse().unwrap()];
    assert_eq!(stored.expiry, NOW + DEFAULT_TTL);
}

#[test]
fn create_is_idempotent_and_a_different_body_conflicts() {
    let mut h = Host::new();
    let first = match h.create(1, &arkivmelding(ID, "a.pdf")) {
        ApiResponse::Json(v) => v.clone(),
        other => panic!("{other:?}"),
    };
    // A retry of the same request gets the stored message, and no second status.
    let ApiResponse::Json(again) = h.create(2, &arkivmelding(ID, "a.pdf")) else { panic!() };
    assert_eq!(*again, first);
    assert_eq!(h.statuses.len(), 1);
    assert_eq!(h.events.len(), 1);
    // Another SBD under the same messageId is refused.
    let ApiResponse::Error(e) = h.create(3, &arkivmelding(ID, "b.pdf")) else { panic!() };
    assert_eq!(e.status, 409);
    assert_eq!(
        e.exception.class_name(),
        "no.difi.meldingsutveksling.exceptions.MessageAlreadyExistsException"
    );
    assert_eq!(e.message, format!("Message with messageId = {ID} already exists"));
}

#[test]
fn a_lost_race_is_resolved_by_looking_again() {
    let mut h = Host::new();
    // A conflict, and nothing there when the node looks again: the messageId belongs
    // to a conversation whose message has left the queue (a create repeated after
    // its message was sent, found by efm-sim). Writing again would conflict again
    // for ever; the messageId is taken.
    h.fail_writes.push(StoreError::Conflict);
    let ApiResponse::Error(e) = h.create(1, &arkivmelding(ID, "a.pdf")) else {
        panic!("a conflict without a message is refused")
    };
    assert_eq!(e.exception, Exception::MessageAlreadyExists);
    assert_eq!(h.store.len(), 0);
    // A real race: the other create committed between our lookup and our write.
    let mut h = Host::new();
    h.create(1, &arkivmelding(ID, "a.pdf"));
    let winner = h.store[&ID.parse().unwrap()].clone();
    h.store.clear();
    h.node.handle_input(
        Input::Api(
            CallId(2),
            ApiCall::CreateMessage { body: Bytes::from(arkivmelding(ID, "a.pdf").to_string()) },
        ),
        NOW,
    );
    // Execute the lookup against the empty store, then commit the winner before the write.
    let Output::Load(lid, _) = h.node.poll_output() else { panic!() };
    h.node.handle_input(Input::Loaded(lid, Ok(Loaded::OutgoingMessage(None))), NOW);
    let Output::Persist(wid, _) = h.node.poll_output() else { panic!() };
    h.store.insert(ID.parse().unwrap(), winner.clone());
    h.node.handle_input(Input::Persisted(wid, Err(StoreError::Conflict)), NOW);
    h.drain();
    let (_, ApiResponse::Json(v)) = h.answers.last().unwrap() else { panic!() };
    assert_eq!(*v, winner.sbd.to_json_value());
}

#[test]
fn store_failures_are_500_and_nothing_is_acknowledged() {
    let mut h = Host::new();
    h.fail_writes.push(StoreError::Unavailable("disk full".into()));
    let ApiResponse::Error(e) = h.create(1, &arkivmelding(ID, "a.pdf")) else { panic!() };
    assert_eq!(e.status, 500);
    assert!(e.message.contains("disk full"));
    assert!(h.events.is_empty());
}

#[test]
fn bad_input_is_a_4xx_with_the_reference_exception() {
    let mut h = Host::new();
    h.input(Input::Api(
        CallId(1),
        ApiCall::CreateMessage { body: Bytes::from_static(b"{not json") },
    ));
    let (_, ApiResponse::Error(e)) = &h.answers[0] else { panic!() };
    assert_eq!(e.exception, Exception::MessageNotReadable);
    let mut bad = arkivmelding("not-a-uuid", "a.pdf");
    let ApiResponse::Error(e) = h.create(2, &bad) else { panic!() };
    assert_eq!(e.exception, Exception::ConstraintViolation);
    assert_eq!(e.errors[0].code, "UUID");
    bad = arkivmelding(ID, "a.pdf");
    bad["standardBusinessDocumentHeader"]["businessScope"]["scope"][0]["scopeInformation"] =
        json!([{"expectedResponseDateTime": "2019-03-25T11:00:00+01:00"}]);
    let ApiResponse::Error(e) = h.create(3, &bad) else { panic!() };
    assert_eq!(e.errors[0].code, "Future");
    assert!(h.store.is_empty());
}

#[test]
fn get_outgoing() {
    let mut h = Host::new();
    h.create(1, &arkivmelding(ID, "a.pdf"));
    h.input(Input::Api(CallId(2), ApiCall::GetOutgoing { message_id: ID.parse().unwrap() }));
    assert!(matches!(h.answers.last(), Some((CallId(2), ApiResponse::Json(_)))));
    let other: MessageId = "00000000-0000-4000-8000-000000000000".parse().unwrap();
    h.input(Input::Api(CallId(3), ApiCall::GetOutgoing { message_id: other }));
    let Some((_, ApiResponse::Error(e))) = h.answers.last() else { panic!() };
    assert_eq!(e.status, 404);
    assert_eq!(e.message, format!("Message with messageId = {other} was not found"));
}

#[test]
fn stale_answers_are_counted_not_fatal() {
    let mut h = Host::new();
    h.input(Input::Loaded(LoadId(77), Ok(Loaded::OutgoingMessage(None))));
    h.input(Input::Persisted(WriteId(78), Ok(())));
    h.input(Input::Tick);
    assert_eq!(h.node.stale_answers(), 2);
    // A tick looked at the (empty) push outbox and incoming messages, and asks only
    // for the next look for expired messages.
    assert!(h.answers.is_empty());
    assert_eq!(h.node.poll_output(), Output::Idle { wake_at: Some(NOW + Duration::from_secs(30)) });
}

#[test]
fn create_routes_by_the_registry_and_caches_the_answer() {
    let mut h = Host::new();
    assert!(matches!(h.create(1, &arkivmelding(ID, "a.pdf")), ApiResponse::Json(_)));
    assert_eq!(
        h.registry_requests,
        [
            "http://registry.test/identifier/910075918/process/urn:no:difi:profile:arkivmelding:administrasjon:ver1.0?conversationId=b4567a25-672c-4c2e-9a0f-08c52c54254b"
        ]
    );
    assert_eq!(h.store[&ID.parse().unwrap()].service, ServiceIdentifier::Dpo);
    // A repeat is answered from the store: no lookup.
    h.create(2, &arkivmelding(ID, "a.pdf"));
    assert_eq!(h.registry_requests.len(), 1);
    // Another message to the same receiver and process within five minutes: cached.
    let mut second = arkivmelding("00000000-0000-4000-8000-000000000001", "a.pdf");
    second["standardBusinessDocumentHeader"]["businessScope"]["scope"][0]["instanceIdentifier"] =
        json!("b4567a25-672c-4c2e-9a0f-08c52c54254b");
    assert!(matches!(h.create(3, &second), ApiResponse::Json(_)));
    assert_eq!(h.registry_requests.len(), 1);
}

#[test]
fn routing_failures_answer_as_the_reference() {
    // The receiver has no record for the document type.
    let mut h = Host::new();
    let mut doc = arkivmelding(ID, "a.pdf");
    doc["standardBusinessDocumentHeader"]["documentIdentification"]["standard"] =
        json!("urn:x::arkivmelding");
    let ApiResponse::Error(e) = h.create(1, &doc) else { panic!() };
    assert_eq!((e.status, e.exception), (400, Exception::ReceiverDoesNotAcceptProcess));
    assert_eq!(
        e.message,
        "Receiver do not accept the document process urn:no:difi:profile:arkivmelding:administrasjon:ver1.0"
    );
    assert!(e.description.as_deref().unwrap_or_default().contains("urn:x::arkivmelding"), "{e:?}");

    // Not in the registry at all.
    let mut h = Host::new();
    h.registry = Ok((404, "{}".into()));
    let ApiResponse::Error(e) = h.create(1, &arkivmelding(ID, "a.pdf")) else { panic!() };
    assert_eq!((e.status, e.exception), (400, Exception::ReceiverDoesNotAcceptProcess));

    // The registry is down: 500, and the failure is not cached.
    let mut h = Host::new();
    h.registry = Err(TransportError::Timeout);
    let ApiResponse::Error(e) = h.create(1, &arkivmelding(ID, "a.pdf")) else { panic!() };
    assert_eq!((e.status, e.exception), (500, Exception::RegistryUnreachable));
    h.registry = Ok((200, dpo_record()));
    assert!(matches!(h.create(2, &arkivmelding(ID, "a.pdf")), ApiResponse::Json(_)));
    assert_eq!(h.registry_requests.len(), 2);
    assert!(h.store.contains_key(&ID.parse().unwrap()));
}

#[test]
fn a_service_that_is_not_enabled_is_refused() {
    let mut h = Host::new();
    h.registry = Ok((200, dpo_record().replace("\"DPO\"", "\"DPV\"")));
    let ApiResponse::Error(e) = h.create(1, &arkivmelding(ID, "a.pdf")) else { panic!() };
    assert_eq!((e.status, e.exception), (400, Exception::ServiceNotEnabled));
    assert_eq!(e.message, "Service DPV is not enabled");
    assert!(h.store.is_empty());
}

#[test]
fn an_expired_own_certificate_refuses_create() {
    let mut h = Host::new();
    h.node = {
        let mut config = Config::new("910077473");
        config.registry_url = "http://registry.test".into();
        config.enabled_services = vec![ServiceIdentifier::Dpo];
        config.own_certificate_expiry = Some(Timestamp::from_unix_millis(NOW.as_unix_millis() - 1));
        Node::new(config, [9; 32], NOW)
    };
    let ApiResponse::Error(e) = h.create(1, &arkivmelding(ID, "a.pdf")) else { panic!() };
    assert_eq!(
        (e.status, e.exception.class_name()),
        (400, "no.difi.meldingsutveksling.exceptions.InvalidCertificateException")
    );
    assert!(h.store.is_empty());
}

/// A staged upload of `content` as `filename`.
fn staged(h: &mut Host, name: &str, filename: &str, content: &[u8]) -> StagedUpload {
    h.staging.insert(name.into(), Bytes::copy_from_slice(content));
    StagedUpload {
        head: UploadHead { filename: filename.into(), title: None, mime: "application/pdf".into() },
        file: StagedFile { name: name.into(), size: content.len() as u64 },
        sha256: ring::digest::digest(&ring::digest::SHA256, content)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect(),
    }
}

fn last_answer(h: &Host, call: u64) -> &ApiResponse {
    let (c, r) = h.answers.last().expect("an answer");
    assert_eq!(*c, CallId(call));
    r
}

#[test]
fn staged_uploads_are_checked_against_the_allowance_and_recorded() {
    let mut h = Host::new();
    let id: MessageId = ID.parse().unwrap();
    let message = MessageRef::Id(id);
    assert!(matches!(h.create(1, &arkivmelding(ID, "a.pdf")), ApiResponse::Json(_)));
    h.input(Input::Api(CallId(2), ApiCall::UploadAllowance { message: message.clone() }));
    let expected = UploadAllowance { service: ServiceIdentifier::Dpo, limit: 1024 * MB, used: 0 };
    assert_eq!(last_answer(&h, 2), &ApiResponse::Allowance(expected));
    assert_eq!(expected.remaining(), 1024 * MB);

    // A staged file is recorded by its staged name, size and hash, as sent.
    let upload = staged(&mut h, "upload-1.part", "a.pdf", b"%PDF primary");
    let sha = upload.sha256.to_ascii_lowercase();
    h.input(Input::Api(CallId(3), ApiCall::UploadStaged { message: message.clone(), upload }));
    assert_eq!(last_answer(&h, 3), &ApiResponse::Empty);
    let (file, from, conversation) = h.added.last().unwrap();
    assert_eq!((file.size, file.sha256.as_str(), file.primary), (12, sha.as_str(), true));
    assert_eq!(from.as_ref().map(|f| f.name.as_str()), Some("upload-1.part"));
    assert_eq!(*conversation, None);
    // The same file again is done already; the allowance counts what is stored.
    let again = staged(&mut h, "upload-2.part", "a.pdf", b"%PDF primary");
    h.input(Input::Api(
        CallId(4),
        ApiCall::UploadStaged { message: message.clone(), upload: again },
    ));
    assert_eq!(last_answer(&h, 4), &ApiResponse::Empty);
    assert_eq!(h.added.len(), 1);
    h.input(Input::Api(CallId(5), ApiCall::UploadAllowance { message: message.clone() }));
    let ApiResponse::Allowance(a) = last_answer(&h, 5) else { panic!() };
    assert_eq!(a.used, 12);

    // A staged arkivmelding.xml is read back for the conversation's fields.
    let xml: &[u8] = include_bytes!("../../../examples/files/arkivmelding.xml");
    let upload = staged(&mut h, "upload-3.part", "arkivmelding.xml", xml);
    h.input(Input::Api(CallId(6), ApiCall::UploadStaged { message: message.clone(), upload }));
    assert_eq!(last_answer(&h, 6), &ApiResponse::Empty);
    let (_, _, conversation) = h.added.last().unwrap();
    let title = conversation.as_ref().and_then(|c| c.title.as_deref());
    assert_eq!(title, Some("Vedtak i eksempelsaken"));

    // One that no longer fits (another upload finished first) is 413.
    let mut big = staged(&mut h, "upload-4.part", "big.bin", b"x");
    big.file.size = 1024 * MB;
    h.input(Input::Api(CallId(7), ApiCall::UploadStaged { message: message.clone(), upload: big }));
    let ApiResponse::Error(e) = last_answer(&h, 7) else { panic!("{:?}", h.answers) };
    assert_eq!((e.status, e.exception), (413, Exception::MaxFileSizeExceeded));
    assert!(e.message.contains("(DPO, 1073741824 bytes)"), "{}", e.message);
    assert_eq!(h.added.len(), 2);

    // Unknown messages are 404 before any body is read.
    let other = MessageRef::Id("00000000-0000-4000-8000-000000000001".parse().unwrap());
    h.input(Input::Api(CallId(8), ApiCall::UploadAllowance { message: other }));
    let ApiResponse::Error(e) = last_answer(&h, 8) else { panic!() };
    assert_eq!(e.status, 404);
}

#[test]
fn body_plans_follow_the_route() {
    use crate::api::Route;
    let mut headers = ::http::HeaderMap::new();
    let put = Route::parse("PUT", &format!("/api/messages/out/{ID}"), "").unwrap();
    // Headers are refused before the body.
    let BodyPlan::Refuse(e) = body_plan(&put, &headers) else { panic!() };
    assert_eq!(e.exception, Exception::MissingHttpHeader);
    headers.insert("content-type", "application/pdf".parse().unwrap());
    headers.insert("content-disposition", "attachment; filename=a.pdf".parse().unwrap());
    let BodyPlan::Stage { message, head } = body_plan(&put, &headers) else { panic!() };
    assert_eq!(message, MessageRef::Id(ID.parse().unwrap()));
    assert_eq!(head.filename, "a.pdf");
    let post = Route::parse("POST", "/api/messages/out", "").unwrap();
    assert_eq!(body_plan(&post, &headers), BodyPlan::Memory { limit: BODY_LIMIT });
    let multipart = Route::parse("POST", "/api/messages/out/multipart", "").unwrap();
    assert_eq!(body_plan(&multipart, &headers), BodyPlan::Memory { limit: MULTIPART_BODY_LIMIT });
    assert_eq!(body_too_large(BODY_LIMIT).status, 413);
}
