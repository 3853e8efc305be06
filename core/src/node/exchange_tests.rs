//! Sending and receiving, driven step by step: the test plays store, registry,
//! broker, Service Bus and payload runtime, answering each output by hand, so every
//! decision the node makes on an answer is pinned.

use serde_json::json;

use super::*;
use crate::crypto::key_unwrap::KeyTransport;
use crate::transport::altinn_broker::BrokerEndpoint;
use crate::transport::service_bus::{QueueMode, ServiceBusEndpoint};

const NOW: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);
const ID: &str = "00000000-0000-4000-8000-0000000000a1";
const TRANSFER: &str = "11111111-2222-4333-8444-555555555555";

fn config() -> Config {
    let mut c = Config::new("910077473");
    c.registry_url = "http://registry.test".into();
    c.enabled_services = vec![ServiceIdentifier::Dpo, ServiceIdentifier::Dpe];
    c.dpo = Some(DpoSettings {
        broker: BrokerEndpoint {
            base_url: "http://broker.test/broker/api/v1".into(),
            resource_id: "eformidling-dpo-meldingsutveksling".into(),
        },
        message_channel: None,
        poll_interval: Duration::from_secs(15),
    });
    c.dpe = Some(DpeSettings {
        service_bus: ServiceBusEndpoint {
            base_url: "http://bus.test".into(),
            key_name: "policy".into(),
            key: "key".into(),
        },
        mode: QueueMode::Data,
        receipt_queue: None,
        poll_interval: Duration::from_secs(20),
        read_max: 50,
    });
    c
}

fn sbd(id: &str, kind: &str, expires: &str) -> Sbd {
    let body = json!({
        "standardBusinessDocumentHeader": {
            "headerVersion": "1.0",
            "sender": [{"identifier": {"value": "0192:910077473", "authority": "iso6523-actorid-upis"}}],
            "receiver": [{"identifier": {"value": "0192:910075918", "authority": "iso6523-actorid-upis"}}],
            "documentIdentification": {"standard": format!("urn:no:difi:arkivmelding:xsd::{kind}"),
                "typeVersion": "2.0", "instanceIdentifier": id, "type": kind,
                "creationDateAndTime": "2027-01-15T09:00:00+01:00"},
            "businessScope": {"scope": [{"type": "ConversationId",
                "instanceIdentifier": "b4567a25-672c-4c2e-9a0f-08c52c54254b",
                "identifier": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0",
                "scopeInformation": [{"expectedResponseDateTime": expires}]}]}
        },
        kind: {"hoveddokument": "a.txt"}
    });
    Sbd::from_json(body.to_string().as_bytes()).unwrap()
}

/// A queued DPO message with one file, expiring a day after NOW.
fn queued(attempts: u32) -> (OutgoingMessage, u32) {
    let sbd = sbd(ID, "arkivmelding", "2027-01-16T09:00:00+01:00");
    let message = OutgoingMessage {
        sbd,
        request: String::new(),
        created: NOW,
        expiry: NOW + Duration::from_hours(24),
        service: ServiceIdentifier::Dpo,
        files: vec![StoredFile {
            filename: "a.txt".into(),
            title: None,
            mime: "text/plain".into(),
            size: 3,
            sha256: String::new(),
            primary: true,
        }],
        queued: Some(NOW),
        lifecycle: Lifecycle::new(Direction::Outgoing),
    };
    (message, attempts)
}

fn registry_answer() -> HttpResponse {
    let body = json!({
        "infoRecord": {"identifier": "910075918", "organizationName": "B"},
        "serviceRecords": [{
            "organisationNumber": "910075918",
            "pemCertificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            "process": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0",
            "documentTypes": ["urn:no:difi:arkivmelding:xsd::arkivmelding"],
            "service": {"identifier": "DPO", "endpointUrl": ""}
        }]
    });
    response(200, &body.to_string())
}

fn response(status: u16, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: Bytes::from(body.to_owned()),
    }
}

use bytes::Bytes;

/// Everything the node put out until it went idle, and when it wants waking.
fn drain(node: &mut Node) -> (Vec<Output>, Option<Timestamp>) {
    let mut out = Vec::new();
    loop {
        match node.poll_output() {
            Output::Idle { wake_at } => return (out, wake_at),
            o => out.push(o),
        }
    }
}

/// Answer the tick's looks at the queues: `due` outgoing, no replies; answer the
/// sweep's look and write; leave the rest for the test.
fn tick_with(node: &mut Node, due: Vec<(OutgoingMessage, u32)>, now: Timestamp) -> Vec<Output> {
    node.handle_input(Input::Tick, now);
    let mut due = Some(due);
    let mut rest = Vec::new();
    let mut pending = drain(node).0;
    while let Some(o) = pending.pop() {
        match o {
            Output::Load(id, Query::DueOutgoing { .. }) => {
                let loaded =
                    Loaded::DueOutgoing { due: due.take().unwrap_or_default(), next: None };
                node.handle_input(Input::Loaded(id, Ok(loaded)), now);
                pending.extend(drain(node).0);
            }
            Output::Load(id, Query::DueReplies { .. }) => {
                let loaded = Loaded::Replies { due: Vec::new(), next: None };
                node.handle_input(Input::Loaded(id, Ok(loaded)), now);
                pending.extend(drain(node).0);
            }
            Output::Load(id, Query::ExpiredIncoming { .. }) => {
                let loaded = Loaded::ExpiredIncoming { due: Vec::new(), next: None };
                node.handle_input(Input::Loaded(id, Ok(loaded)), now);
                pending.extend(drain(node).0);
            }
            Output::Load(id, Query::DuePushes { .. }) => {
                let loaded = Loaded::Pushes { due: Vec::new(), next: None };
                node.handle_input(Input::Loaded(id, Ok(loaded)), now);
                pending.extend(drain(node).0);
            }
            Output::Persist(id, Write::ExpireConversations { .. }) => {
                node.handle_input(Input::Persisted(id, Ok(())), now);
                pending.extend(drain(node).0);
            }
            other => rest.push(other),
        }
    }
    rest
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

/// A node with only DPO switched on, so no DPE poll joins the outputs.
fn dpo_node() -> Node {
    let mut c = config();
    c.enabled_services = vec![ServiceIdentifier::Dpo];
    Node::new(c, [7; 32], NOW)
}

/// The tick's DPO list poll, answered empty.
fn answer_list_empty(node: &mut Node, outputs: &mut Vec<Output>) {
    let (id, _) = take_http(outputs, "filetransfer?resourceId");
    node.handle_input(Input::Http(id, Ok(response(200, "[]"))), NOW);
    outputs.extend(drain(node).0);
}

/// Drive a due message through the lookup and sealing to the broker's initiate.
fn to_initiate(node: &mut Node, attempts: u32) -> (ReqId, HttpRequest, Vec<Output>) {
    let mut outputs = tick_with(node, vec![queued(attempts)], NOW);
    answer_list_empty(node, &mut outputs);
    let (id, lookup) = take_http(&mut outputs, "registry.test/identifier/910075918");
    assert!(lookup.auth.is_none(), "registry lookups carry no token");
    node.handle_input(Input::Http(id, Ok(registry_answer())), NOW);
    let (mut outputs, _) = drain(node);
    let pos = outputs.iter().position(|o| matches!(o, Output::Job(..))).expect("a seal job");
    let Output::Job(job_id, Job::Seal(job)) = outputs.remove(pos) else { panic!() };
    assert_eq!(job.key_transport, KeyTransport::RsaOaepSha256);
    assert_eq!(job.files.len(), 1);
    assert!(matches!(job.form, SealForm::DpoParcel { .. }));
    node.handle_input(
        Input::JobDone(job_id, Ok(JobResult::Staged { name: "parcel".into(), size: 10 })),
        NOW,
    );
    let (mut outputs, _) = drain(node);
    let (id, req) = take_http(&mut outputs, "/filetransfer/");
    (id, req, outputs)
}

#[test]
fn a_dpo_message_is_initiated_uploaded_and_recorded_sendt() {
    let mut node = dpo_node();
    let (id, initiate, _) = to_initiate(&mut node, 0);
    assert_eq!(initiate.method, Method::Post);
    let body: serde_json::Value = serde_json::from_slice(&initiate.body).unwrap();
    assert_eq!(body["sender"], "0192:910077473");
    assert_eq!(body["recipients"], json!(["0192:910075918"]));
    assert!(matches!(initiate.auth, Some(Credential::Altinn { .. })));
    node.handle_input(
        Input::Http(id, Ok(response(200, &format!(r#"{{"fileTransferId":"{TRANSFER}"}}"#)))),
        NOW,
    );
    let (mut outputs, _) = drain(&mut node);
    let (id, upload) = take_http(&mut outputs, "/upload");
    assert!(upload.url.contains(TRANSFER));
    assert_eq!(upload.body_file.as_deref(), Some("parcel"), "the parcel streams from disk");
    node.handle_input(Input::Http(id, Ok(response(200, "{}"))), NOW);
    let (outputs, _) = drain(&mut node);
    let handed: Vec<&StatusRecord> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Persist(_, Write::HandOff(r)) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(handed.len(), 1);
    assert_eq!(handed[0].status, Status::Sendt);
}

#[test]
fn a_refusal_is_feil_at_once_with_the_reason() {
    let mut node = dpo_node();
    let (id, _, _) = to_initiate(&mut node, 0);
    let refusal = response(400, r#"{"title":"Bad sender","detail":"not allowed"}"#);
    node.handle_input(Input::Http(id, Ok(refusal)), NOW);
    let (outputs, _) = drain(&mut node);
    let Some(Output::Persist(_, Write::HandOff(r))) =
        outputs.iter().find(|o| matches!(o, Output::Persist(_, Write::HandOff(_))))
    else {
        panic!("{outputs:#?}")
    };
    assert_eq!(r.status, Status::Feil);
    let reason = r.description.as_deref().unwrap_or_default();
    assert!(reason.contains("400") && reason.contains("Bad sender"), "{reason}");
}

#[test]
fn a_transient_failure_retries_later_and_counts_the_attempt() {
    let mut node = dpo_node();
    let (id, _, _) = to_initiate(&mut node, 2);
    node.handle_input(Input::Http(id, Err(TransportError::Timeout)), NOW);
    let (outputs, wake) = drain(&mut node);
    let Some(Output::Persist(wid, Write::RetryOutgoing { at, .. })) =
        outputs.iter().find(|o| matches!(o, Output::Persist(_, Write::RetryOutgoing { .. })))
    else {
        panic!("{outputs:#?}")
    };
    // The third retry: 20 s tripled twice (180 s), jittered down by at most a quarter.
    let delay = *at - NOW;
    assert!(delay <= Duration::from_secs(180) && delay >= Duration::from_secs(135), "{delay:?}");
    assert!(outputs.iter().any(|o| matches!(o, Output::Notice(n) if n.contains("timed out"))));
    assert!(wake.is_some_and(|w| w <= *at));
    node.handle_input(Input::Persisted(*wid, Ok(())), NOW);
    // Not recorded as anything else: no status write.
    assert!(!outputs.iter().any(|o| matches!(o, Output::Persist(_, Write::HandOff(_)))));
}

#[test]
fn an_expired_message_is_levetid_utlopt_without_being_sent() {
    let mut node = dpo_node();
    let later = NOW + Duration::from_hours(25);
    let mut outputs = tick_with(&mut node, vec![queued(0)], later);
    let _ = take_http(&mut outputs, "filetransfer?resourceId");
    let Some(Output::Persist(_, Write::HandOff(r))) =
        outputs.iter().find(|o| matches!(o, Output::Persist(_, Write::HandOff(_))))
    else {
        panic!("{outputs:#?}")
    };
    assert_eq!(r.status, Status::LevetidUtlopt);
    assert!(!outputs.iter().any(|o| matches!(o, Output::Http(_, r) if r.url.contains("registry"))));
}

/// The DPO poll: list, details, download to staging, unpack, store, confirm.
fn receive_one(sbd_json: &str) -> (Node, Vec<Output>) {
    receive_one_on(dpo_node(), sbd_json)
}

fn receive_one_on(mut node: Node, sbd_json: &str) -> (Node, Vec<Output>) {
    let mut outputs = tick_with(&mut node, Vec::new(), NOW);
    let (id, _) = take_http(&mut outputs, "recipientStatus=Initialized");
    // Downloads started and never confirmed are looked for too (their answer lost,
    // or the node stopped before storing): none here.
    let (started, _) = take_http(&mut outputs, "recipientStatus=DownloadStarted");
    node.handle_input(Input::Http(started, Ok(response(200, "[]"))), NOW);
    node.handle_input(Input::Http(id, Ok(response(200, &format!(r#"["{TRANSFER}"]"#)))), NOW);
    let (mut outputs, _) = drain(&mut node);
    let (id, _) = take_http(&mut outputs, &format!("filetransfer/{TRANSFER}"));
    let details =
        format!(r#"{{"fileTransferId":"{TRANSFER}","sendersFileTransferReference":"{}"}}"#, ID);
    node.handle_input(Input::Http(id, Ok(response(200, &details))), NOW);
    let (mut outputs, _) = drain(&mut node);
    let (id, download) = take_http(&mut outputs, "/download");
    let staged = download.save_to.clone().expect("the download is saved to staging");
    node.handle_input(Input::Http(id, Ok(response(200, ""))), NOW);
    let (mut outputs, _) = drain(&mut node);
    let pos = outputs.iter().position(|o| matches!(o, Output::Job(..))).expect("an unpack job");
    let Output::Job(job, Job::Unpack(u)) = outputs.remove(pos) else { panic!() };
    assert_eq!(u.staged, staged);
    let unpacked = JobResult::Unpacked {
        sbd: Bytes::from(sbd_json.to_owned()),
        asic: Some((u.asic_to.clone(), 42)),
    };
    node.handle_input(Input::JobDone(job, Ok(unpacked)), NOW);
    let (outputs, _) = drain(&mut node);
    (node, outputs)
}

fn confirm_after(
    node: &mut Node,
    outputs: Vec<Output>,
    write: impl Fn(&Write) -> bool,
    result: Result<(), StoreError>,
) -> Vec<Output> {
    let Some(Output::Persist(wid, _)) =
        outputs.iter().find(|o| matches!(o, Output::Persist(_, w) if write(w)))
    else {
        panic!("{outputs:#?}")
    };
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, Output::Http(_, r) if r.url.contains("confirmdownload"))),
        "nothing is confirmed before it is stored"
    );
    node.handle_input(Input::Persisted(*wid, result), NOW);
    drain(node).0
}

#[test]
fn a_received_message_is_stored_with_a_mottatt_reply_then_confirmed() {
    let json = sbd(ID, "arkivmelding", "2027-01-16T09:00:00+01:00").to_json_value().to_string();
    let (mut node, outputs) = receive_one(&json);
    let Some(Output::Persist(_, Write::CreateIncoming { message, reply })) =
        outputs.iter().find(|o| matches!(o, Output::Persist(_, Write::CreateIncoming { .. })))
    else {
        panic!("{outputs:#?}")
    };
    assert_eq!(message.service, ServiceIdentifier::Dpo);
    assert_eq!(message.asic.as_ref().map(|a| a.size), Some(42));
    let reply = reply.as_ref().expect("DPO senders get MOTTATT back");
    assert!(
        matches!(&reply.sbd.message, crate::sbd::BusinessMessage::Status(s) if s.status == Some(Status::Mottatt))
    );
    let after =
        confirm_after(&mut node, outputs, |w| matches!(w, Write::CreateIncoming { .. }), Ok(()));
    assert!(after.iter().any(|o| matches!(o, Output::Http(_, r) if r.url.ends_with(&format!("{TRANSFER}/confirmdownload")))));
}

#[test]
fn a_repeat_is_confirmed_and_a_store_failure_is_not() {
    let json = sbd(ID, "arkivmelding", "2027-01-16T09:00:00+01:00").to_json_value().to_string();
    let (mut node, outputs) = receive_one(&json);
    let after = confirm_after(
        &mut node,
        outputs,
        |w| matches!(w, Write::CreateIncoming { .. }),
        Err(StoreError::Conflict),
    );
    assert!(
        after.iter().any(|o| matches!(o, Output::Http(_, r) if r.url.contains("confirmdownload")))
    );

    let (mut node, outputs) = receive_one(&json);
    let after = confirm_after(
        &mut node,
        outputs,
        |w| matches!(w, Write::CreateIncoming { .. }),
        Err(StoreError::Unavailable("disk full".into())),
    );
    assert!(
        !after.iter().any(|o| matches!(o, Output::Http(_, r) if r.url.contains("confirmdownload")))
    );
}

#[test]
fn an_expired_arrival_is_recorded_not_stored_and_a_bad_one_is_dropped() {
    let json = sbd(ID, "arkivmelding", "2020-01-01T00:00:00+01:00").to_json_value().to_string();
    let (_, outputs) = receive_one(&json);
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::Persist(_, Write::RecordIncomingExpired { .. })))
    );
    assert!(!outputs.iter().any(|o| matches!(o, Output::Persist(_, Write::CreateIncoming { .. }))));

    let (_, outputs) = receive_one("{not an sbd");
    assert!(!outputs.iter().any(|o| matches!(o, Output::Persist(..))));
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::Http(_, r) if r.url.contains("confirmdownload")))
    );
    assert!(outputs.iter().any(|o| matches!(o, Output::Notice(n) if n.contains("dropped"))));
}

#[test]
fn a_status_from_the_receiver_moves_the_outgoing_conversation() {
    let mut status = sbd(ID, "status", "2027-01-16T09:00:00+01:00").to_json_value();
    status["status"] = json!({"status": "LEVERT"});
    let (_, outputs) = receive_one(&status.to_string());
    let Some(Output::Persist(_, Write::ApplyReceivedStatus(r))) =
        outputs.iter().find(|o| matches!(o, Output::Persist(_, Write::ApplyReceivedStatus(_))))
    else {
        panic!("{outputs:#?}")
    };
    assert_eq!((r.message_id.to_string().as_str(), r.status), (ID, Status::Levert));
}

/// A hand-off that is watched: SENDT and what comes with it, out of the queue and
/// watched in one write, told of only once durable; the first poll a minute on.
#[test]
fn a_watched_hand_off_is_one_write_and_polls_from_a_minute_on() {
    let mut c = config();
    c.enabled_services.push(ServiceIdentifier::Dpf);
    let mut node = Node::new(c, [7; 32], NOW);
    node.now = NOW;
    let (mut message, _) = queued(0);
    message.service = ServiceIdentifier::Dpf;
    let message_id: MessageId = ID.parse().unwrap();
    node.delivery.in_flight.insert(delivery::InFlight::Message(message_id));
    let out = delivery::Outbound::Message { message: Box::new(message), attempts: 0 };
    node.handed_off_watched(out, Some("f-1".into()), &[Status::Levert]);
    let (outputs, wake_at) = drain(&mut node);
    let [Output::Persist(wid, Write::HandOffWatched { statuses, service, reference, next_poll })] =
        outputs.as_slice()
    else {
        panic!("{outputs:?}")
    };
    let names: Vec<Status> = statuses.iter().map(|s| s.status).collect();
    assert_eq!(names, [Status::Sendt, Status::Levert]);
    assert_eq!(
        (*service, reference.as_deref(), *next_poll),
        (ServiceIdentifier::Dpf, Some("f-1"), NOW + Duration::from_mins(1))
    );
    assert_eq!(wake_at, Some(NOW + Duration::from_mins(1)));
    node.handle_input(Input::Persisted(*wid, Ok(())), NOW);
    let (outputs, _) = drain(&mut node);
    let told: Vec<Status> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Status(e) => Some(e.status),
            _ => None,
        })
        .collect();
    assert_eq!(told, [Status::Sendt, Status::Levert]);
    assert!(node.delivery.in_flight.is_empty());
}

/// Due watches are looked for per watched service and handed to that service's
/// poll (DPF here; the polls themselves are tested in dpv_tests, dpf's and
/// dpi_tests); one being polled is not looked for again until its outcome is
/// written, and a poll that keeps watching is rescheduled by age.
#[test]
fn due_watches_are_polled_and_rescheduled_by_age() {
    let mut c = config();
    c.enabled_services = vec![ServiceIdentifier::Dpf];
    let mut node = Node::new(c, [7; 32], NOW);
    node.handle_input(Input::Tick, NOW);
    let (outputs, _) = drain(&mut node);
    let looks: Vec<&LoadId> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Load(id, Query::DueWatches { service: ServiceIdentifier::Dpf, .. }) => Some(id),
            Output::Load(_, Query::DueWatches { service, .. }) => {
                panic!("{service:?} is not enabled")
            }
            _ => None,
        })
        .collect();
    let [look] = looks.as_slice() else { panic!("{outputs:?}") };
    let watch = Watch {
        message_id: ID.parse().unwrap(),
        conversation_id: None,
        service: ServiceIdentifier::Dpf,
        sender: "910077473".into(),
        receiver: "910075918".into(),
        reference: Some("c-1".into()),
        handed_off: NOW + Duration::from_hours(-15 * 24),
        next_poll: NOW,
    };
    let later = NOW + Duration::from_hours(2);
    node.handle_input(
        Input::Loaded(**look, Ok(Loaded::Watches { due: vec![watch.clone()], next: Some(later) })),
        NOW,
    );
    let (outputs, wake_at) = drain(&mut node);
    assert!(
        !outputs.iter().any(|o| matches!(o, Output::Notice(n) if n.contains("not polled"))),
        "{outputs:?}"
    );
    assert!(wake_at.is_some_and(|t| t <= later), "{wake_at:?}");
    // Being polled, it is not looked for again until its outcome is written.
    node.handle_input(Input::Tick, later);
    let (outputs, _) = drain(&mut node);
    let skip = outputs.iter().find_map(|o| match o {
        Output::Load(_, Query::DueWatches { skip, .. }) => Some(skip.clone()),
        _ => None,
    });
    assert_eq!(skip, Some(vec![watch.message_id]));
    // A poll that keeps watching: next in 1 min + 59 min × 15/30 days of age.
    node.now = later;
    node.watch_answered(watch, vec![(Status::Levert, None, later)], true);
    let (outputs, _) = drain(&mut node);
    let Some(Output::Persist(_, Write::Watched { statuses, next_poll: Some(at), .. })) =
        outputs.iter().find(|o| matches!(o, Output::Persist(_, Write::Watched { .. })))
    else {
        panic!("{outputs:?}")
    };
    assert_eq!(statuses.len(), 1);
    let age = Duration::from_hours(15 * 24 + 2);
    assert_eq!(*at, later + WatchSettings::default().interval(age));
    assert!(*at > later + Duration::from_mins(30));
}

/// A DPO node that mails on FEIL.
fn mailing_node() -> Node {
    let mut c = config();
    c.enabled_services = vec![ServiceIdentifier::Dpo];
    let mut mail =
        crate::mail::MailSettings::new("smtp.test", "efm@example.no", "drift@example.no");
    mail.mail_error_status = true;
    c.mail = Some(mail);
    Node::new(c, [7; 32], NOW)
}

/// The conversation of ID as the store answers it, with `statuses` (status, time).
fn conversation_of(reference: Option<&str>, statuses: &[(Status, Timestamp)]) -> Loaded {
    let row = ConversationRow {
        id: 1,
        conversation_id: Some("b4567a25-672c-4c2e-9a0f-08c52c54254b".into()),
        message_id: ID.into(),
        sender: None,
        sender_identifier: None,
        receiver: None,
        receiver_identifier: None,
        process_identifier: None,
        document_identifier: None,
        message_reference: reference.map(str::to_owned),
        message_title: None,
        last_update: NOW,
        finished: true,
        expiry: None,
        direction: Direction::Outgoing,
        service_identifier: ServiceIdentifier::Dpo,
        statuses: statuses
            .iter()
            .enumerate()
            .map(|(i, (status, at))| StatusRow {
                id: i as i64,
                conv_id: 1,
                conversation_id: None,
                message_id: ID.into(),
                status: *status,
                description: None,
                raw_receipt: None,
                last_update: *at,
            })
            .collect(),
    };
    Loaded::Conversations { rows: vec![row], total: 1 }
}

fn mails(outputs: &[Output]) -> Vec<&crate::mail::Mail> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Mail(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// The node's read of the conversation for a mail, if it made one.
fn conversation_read(outputs: &[Output]) -> Option<LoadId> {
    outputs.iter().find_map(|o| match o {
        Output::Load(id, Query::Conversations { filter, .. })
            if filter.message_id.as_deref() == Some(ID) =>
        {
            Some(*id)
        }
        _ => None,
    })
}

/// Refuse the initiate of a due message: the FEIL hand-off write, unanswered.
fn refused(node: &mut Node) -> (WriteId, Vec<Output>) {
    let (id, _, _) = to_initiate(node, 0);
    let refusal = response(400, r#"{"title":"Bad sender"}"#);
    node.handle_input(Input::Http(id, Ok(refusal)), NOW);
    let (outputs, _) = drain(node);
    let wid = outputs
        .iter()
        .find_map(|o| match o {
            Output::Persist(wid, Write::HandOff(r)) if r.status == Status::Feil => Some(*wid),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{outputs:#?}"));
    (wid, outputs)
}

#[test]
fn a_feil_is_mailed_once_after_its_write_with_the_conversation_reference() {
    let mut node = mailing_node();
    let (wid, outputs) = refused(&mut node);
    assert!(
        mails(&outputs).is_empty() && conversation_read(&outputs).is_none(),
        "not before the write"
    );
    node.handle_input(Input::Persisted(wid, Ok(())), NOW);
    let (outputs, _) = drain(&mut node);
    assert!(outputs.iter().any(|o| matches!(o, Output::Status(e) if e.status == Status::Feil)));
    assert!(mails(&outputs).is_empty(), "the conversation is read first");
    let lid = conversation_read(&outputs).expect("the conversation is read for its reference");
    node.handle_input(Input::Loaded(lid, Ok(conversation_of(Some("ref-1"), &[]))), NOW);
    let (outputs, _) = drain(&mut node);
    let sent = mails(&outputs);
    assert_eq!(sent.len(), 1, "{outputs:#?}");
    assert_eq!(
        sent[0].subject,
        format!("Integrasjonspunkt: status FEIL registrert for forsendelse {ID} / ref-1")
    );
    assert_eq!(
        sent[0].body,
        format!(
            "Utgående forsendelse med conversationId b4567a25-672c-4c2e-9a0f-08c52c54254b (messageId {ID}) og messageReference ref-1 har registrert status 'FEIL'. Se statusgrensesnitt for detaljer."
        )
    );
    assert_eq!(
        (sent[0].from.as_str(), sent[0].to.as_str()),
        ("efm@example.no", "drift@example.no")
    );
}

#[test]
fn a_feil_whose_conversation_cannot_be_read_is_mailed_with_what_the_event_knows() {
    let mut node = mailing_node();
    let (wid, _) = refused(&mut node);
    node.handle_input(Input::Persisted(wid, Ok(())), NOW);
    let (outputs, _) = drain(&mut node);
    let lid = conversation_read(&outputs).expect("a read");
    node.handle_input(Input::Loaded(lid, Err(StoreError::Unavailable("locked".into()))), NOW);
    let (outputs, _) = drain(&mut node);
    let sent = mails(&outputs);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].subject,
        format!("Integrasjonspunkt: status FEIL registrert for forsendelse {ID}")
    );
    assert!(sent[0].body.contains("conversationId b4567a25-672c-4c2e-9a0f-08c52c54254b"));
}

#[test]
fn no_mail_when_switched_off_or_when_the_feil_was_not_recorded() {
    // Off: no read, no mail.
    let mut node = dpo_node();
    let (wid, _) = refused(&mut node);
    node.handle_input(Input::Persisted(wid, Ok(())), NOW);
    let (outputs, _) = drain(&mut node);
    assert!(conversation_read(&outputs).is_none() && mails(&outputs).is_empty());
    // On, but the write failed: the FEIL is not durable, so nothing is told.
    let mut node = mailing_node();
    let (wid, _) = refused(&mut node);
    node.handle_input(Input::Persisted(wid, Err(StoreError::Unavailable("disk full".into()))), NOW);
    let (outputs, _) = drain(&mut node);
    assert!(conversation_read(&outputs).is_none() && mails(&outputs).is_empty());
}

#[test]
fn a_received_feil_is_mailed_only_if_this_write_recorded_it() {
    let mut status = sbd(ID, "status", "2027-01-16T09:00:00+01:00").to_json_value();
    status["status"] = json!({"status": "FEIL"});
    let earlier = Timestamp::from_unix_millis(NOW.as_unix_millis() - 60_000);
    for (recorded_at, expected) in [(NOW, 1), (earlier, 0)] {
        let (mut node, outputs) = receive_one_on(mailing_node(), &status.to_string());
        assert!(mails(&outputs).is_empty());
        let after = confirm_after(
            &mut node,
            outputs,
            |w| matches!(w, Write::ApplyReceivedStatus(_)),
            Ok(()),
        );
        let lid = conversation_read(&after).expect("the conversation is read");
        let loaded =
            conversation_of(None, &[(Status::Sendt, earlier), (Status::Feil, recorded_at)]);
        node.handle_input(Input::Loaded(lid, Ok(loaded)), NOW);
        let (outputs, _) = drain(&mut node);
        let sent = mails(&outputs);
        assert_eq!(sent.len(), expected, "FEIL recorded at {recorded_at:?}");
        if let Some(m) = sent.first() {
            assert!(m.body.starts_with("Utgående forsendelse med conversationId"), "{}", m.body);
        }
    }
}

#[test]
fn an_arkivmelding_error_receipt_is_mailed_once_recorded() {
    let mut receipt = sbd(
        "00000000-0000-4000-8000-0000000000b2",
        "arkivmelding_kvittering",
        "2027-01-16T09:00:00+01:00",
    )
    .to_json_value();
    receipt["arkivmelding_kvittering"] =
        json!({"receiptType": "ERROR", "relatedToMessageId": ID, "messages": []});
    let (mut node, outputs) = receive_one_on(mailing_node(), &receipt.to_string());
    let wid = outputs
        .iter()
        .find_map(|o| match o {
            Output::Persist(wid, Write::ApplyReceivedStatus(r)) if r.status == Status::Feil => {
                Some(*wid)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("{outputs:#?}"));
    node.handle_input(Input::Persisted(wid, Ok(())), NOW);
    let (outputs, _) = drain(&mut node);
    let lid = conversation_read(&outputs).expect("the conversation is read");
    node.handle_input(Input::Loaded(lid, Ok(conversation_of(None, &[(Status::Feil, NOW)]))), NOW);
    let (outputs, _) = drain(&mut node);
    assert_eq!(mails(&outputs).len(), 1);
}

/// A FEIL a receipt poll found is mailed once its write is in, and only if that
/// write recorded it (a poll answered again finds it there already).
#[test]
fn a_polled_feil_is_mailed_only_if_this_write_recorded_it() {
    let earlier = Timestamp::from_unix_millis(NOW.as_unix_millis() - 60_000);
    for (recorded_at, expected) in [(NOW, 1), (earlier, 0)] {
        let mut node = mailing_node();
        let watch = Watch {
            message_id: ID.parse().unwrap(),
            conversation_id: None,
            service: ServiceIdentifier::Dpv,
            sender: "910077473".into(),
            receiver: "910075918".into(),
            reference: Some("c-1".into()),
            handed_off: earlier,
            next_poll: NOW,
        };
        node.watching.in_flight.insert(watch.message_id);
        node.watch_answered(watch, vec![(Status::Feil, Some("refused".into()), NOW)], false);
        let (outputs, _) = drain(&mut node);
        assert!(mails(&outputs).is_empty() && conversation_read(&outputs).is_none());
        let Some(Output::Persist(wid, Write::Watched { .. })) =
            outputs.iter().find(|o| matches!(o, Output::Persist(_, Write::Watched { .. })))
        else {
            panic!("{outputs:?}")
        };
        node.handle_input(Input::Persisted(*wid, Ok(())), NOW);
        let (outputs, _) = drain(&mut node);
        assert!(outputs.iter().any(|o| matches!(o, Output::Status(e) if e.status == Status::Feil)));
        let lid = conversation_read(&outputs).expect("the conversation is read");
        let loaded = conversation_of(Some("c-1"), &[(Status::Feil, recorded_at)]);
        node.handle_input(Input::Loaded(lid, Ok(loaded)), NOW);
        let (outputs, _) = drain(&mut node);
        assert_eq!(mails(&outputs).len(), expected, "FEIL recorded at {recorded_at:?}");
    }
}

#[test]
fn an_undeliverable_svarinn_forsendelse_is_mailed_only_when_switched_on() {
    let forsendelse = crate::mail::UndeliverableForsendelse {
        id: "f-1".into(),
        title: None,
        sender: None,
        security_level: Some(3),
        files: Vec::new(),
        reason: "refused".into(),
        kept_at: None,
    };
    // FEIL mail on, mailOnError off; then no mail settings at all.
    let mut node = mailing_node();
    assert!(!node.mail_undeliverable(&forsendelse));
    assert!(mails(&drain(&mut node).0).is_empty());
    assert!(!dpo_node().mail_undeliverable(&forsendelse));
    let mut c = config();
    let mut settings =
        crate::mail::MailSettings::new("smtp.test", "efm@example.no", "arkiv@example.no");
    settings.svarinn_on_error = true;
    c.mail = Some(settings);
    let mut node = Node::new(c, [7; 32], NOW);
    assert!(node.mail_undeliverable(&forsendelse));
    let (outputs, _) = drain(&mut node);
    let sent = mails(&outputs);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "arkiv@example.no");
    assert!(sent[0].subject.contains("f-1"));
}

fn peeks(outputs: &mut Vec<Output>) -> Vec<ReqId> {
    let mut ids = Vec::new();
    while outputs.iter().any(|o| matches!(o, Output::Http(_, r) if r.url.contains("messages/head")))
    {
        ids.push(take_http(outputs, "messages/head").0);
    }
    ids
}

#[test]
fn dpe_reads_on_parallel_lanes_and_waits_the_interval_only_when_all_found_it_empty() {
    let mut c = config();
    c.enabled_services = vec![ServiceIdentifier::Dpe];
    let lanes = c.pacing.parallel;
    assert!(lanes > 1);
    let mut node = Node::new(c, [7; 32], NOW);
    let mut outputs = tick_with(&mut node, Vec::new(), NOW);
    let first = peeks(&mut outputs);
    assert_eq!(first.len(), lanes, "one peek-lock per lane at once");

    // All lanes but one find the queue empty; the last is still reading, so a
    // tick long after the interval starts no new round.
    let (last, done) = first.split_last().unwrap();
    for id in done {
        node.handle_input(Input::Http(*id, Ok(response(204, ""))), NOW);
        drain(&mut node);
    }
    let later = NOW + Duration::from_secs(60);
    let mut outputs = tick_with(&mut node, Vec::new(), later);
    assert!(peeks(&mut outputs).is_empty(), "a new round while a lane still reads");

    // The last lane ends: the next round comes after the 20 s interval, not before.
    node.handle_input(Input::Http(*last, Ok(response(204, ""))), later);
    drain(&mut node);
    let mut outputs = tick_with(&mut node, Vec::new(), later + Duration::from_secs(10));
    assert!(peeks(&mut outputs).is_empty(), "polled again before the interval");
    let mut outputs = tick_with(&mut node, Vec::new(), later + Duration::from_secs(21));
    assert_eq!(peeks(&mut outputs).len(), lanes);
}
