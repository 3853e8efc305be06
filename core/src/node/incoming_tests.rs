//! The messages-in API and the expiry sweep, driven against an in-memory store of
//! incoming messages that keeps leases as the real one does.

use std::collections::BTreeMap;

use serde_json::json;

use super::incoming::SWEEP_BATCH;
use super::*;
use crate::api::{IncomingFilter, MessageRef, Pageable};
use crate::sbd::BusinessMessage;

const NOW: Timestamp = Timestamp::from_unix_millis(1_553_510_303_000); // 2019-03-25T10:38:23Z
const HOUR: Duration = Duration::from_hours(1);
const A: &str = "00000000-0000-4000-8000-00000000000a";
const B: &str = "00000000-0000-4000-8000-00000000000b";

fn sbd(id: &str, kind: &str) -> Sbd {
    let body = json!({
        "standardBusinessDocumentHeader": {
            "headerVersion": "1.0",
            "sender": [{"identifier": {"value": "0192:910077473", "authority": "iso6523-actorid-upis"}}],
            "receiver": [{"identifier": {"value": "0192:910075918", "authority": "iso6523-actorid-upis"}}],
            "documentIdentification": {"standard": format!("urn:no:difi:arkivmelding:xsd::{kind}"),
                "typeVersion": "1.0", "instanceIdentifier": id, "type": kind,
                "creationDateAndTime": "2019-03-25T11:38:23+02:00"},
            "businessScope": {"scope": [{"type": "ConversationId",
                "instanceIdentifier": "b4567a25-672c-4c2e-9a0f-08c52c54254b",
                "identifier": "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0"}]}
        },
        kind: {}
    });
    Sbd::from_json(body.to_string().as_bytes()).unwrap()
}

/// A host whose store holds incoming messages (by arrival order) and carries out
/// leases, deletes and expiries as efm-store does.
struct Host {
    node: Node,
    now: Timestamp,
    messages: BTreeMap<u32, StoredIncoming>,
    writes: Vec<Write>,
    answers: Vec<ApiResponse>,
    events: Vec<StatusEvent>,
    /// Leases that another consumer wins just before ours.
    stolen: Vec<MessageId>,
    fail_loads: bool,
}

impl Host {
    fn new(config: Config) -> Self {
        Host {
            node: Node::new(config, [7; 32], NOW),
            now: NOW,
            messages: BTreeMap::new(),
            writes: Vec::new(),
            answers: Vec::new(),
            events: Vec::new(),
            stolen: Vec::new(),
            fail_loads: false,
        }
    }

    fn arrive(&mut self, id: &str, kind: &str, service: ServiceIdentifier, expiry: Timestamp) {
        let n = self.messages.len() as u32;
        self.messages.insert(
            n,
            StoredIncoming {
                sbd: sbd(id, kind),
                service,
                received: self.now,
                expiry,
                lease_until: None,
                asic: Some(format!("incoming/{id}/asic.cms")),
            },
        );
    }

    fn find(&self, id: MessageId) -> Option<(&u32, &StoredIncoming)> {
        self.messages.iter().find(|(_, m)| m.message_id() == Some(id))
    }

    fn call(&mut self, api: ApiCall) -> ApiResponse {
        self.answers.clear();
        self.input(Input::Api(CallId(1), api));
        assert_eq!(self.answers.len(), 1, "one answer");
        self.answers.remove(0)
    }

    fn input(&mut self, i: Input) {
        self.node.handle_input(i, self.now);
        loop {
            match self.node.poll_output() {
                Output::Idle { .. } => return,
                Output::Load(id, q) => {
                    let r = self.load(q);
                    self.node.handle_input(Input::Loaded(id, r), self.now);
                }
                Output::Persist(id, w) => {
                    let r = self.persist(&w);
                    if !matches!(w, Write::ExpireConversations { .. }) {
                        self.writes.push(w);
                    }
                    self.node.handle_input(Input::Persisted(id, r), self.now);
                }
                Output::Respond(_, r) => self.answers.push(r),
                Output::Status(e) => self.events.push(e),
                Output::Http(..) => panic!("no HTTP expected"),
                Output::Notice(_) | Output::Mail(_) => {}
                Output::Job(..) => panic!("no payload work expected"),
            }
        }
    }

    fn load(&mut self, q: Query) -> Result<Loaded, StoreError> {
        if self.fail_loads && !matches!(q, Query::DuePushes { .. }) {
            return Err(StoreError::Unavailable("disk gone".into()));
        }
        Ok(match q {
            Query::DuePushes { .. } => Loaded::Pushes { due: Vec::new(), next: None },
            Query::IncomingMessages { filter, page, now } => {
                let sbds: Vec<Sbd> = self
                    .messages
                    .values()
                    .filter(|m| m.expiry > now && matches(&filter, m))
                    .map(|m| m.sbd.clone())
                    .collect();
                let total = sbds.len() as u64;
                let sbds = sbds.into_iter().skip(page.offset() as usize).take(page.size as usize);
                Loaded::IncomingMessages { sbds: sbds.collect(), total }
            }
            Query::LeasableIncoming { filter, now, limit } => Loaded::Leasable(
                self.messages
                    .values()
                    .filter(|m| m.expiry > now && !m.leased(now) && matches(&filter, m))
                    .take(limit as usize)
                    .cloned()
                    .collect(),
            ),
            Query::IncomingMessage(id) => {
                Loaded::IncomingMessage(self.find(id).map(|(_, m)| Box::new(m.clone())))
            }
            Query::ExpiredIncoming { now, limit } => Loaded::ExpiredIncoming {
                due: self
                    .messages
                    .values()
                    .filter(|m| m.expiry <= now)
                    .take(limit as usize)
                    .cloned()
                    .collect(),
                next: self.messages.values().map(|m| m.expiry).filter(|e| *e > now).min(),
            },
            // Nothing to send.
            Query::DueOutgoing { .. } => Loaded::DueOutgoing { due: Vec::new(), next: None },
            Query::DueReplies { .. } => Loaded::Replies { due: Vec::new(), next: None },
            other => panic!("this host does not serve {other:?}"),
        })
    }

    fn persist(&mut self, w: &Write) -> Result<(), StoreError> {
        match w {
            Write::LeaseIncoming { message_id, now, until } => {
                if let Some(pos) = self.stolen.iter().position(|s| s == message_id) {
                    self.stolen.remove(pos);
                    let (&k, _) = self.find(*message_id).unwrap();
                    self.messages.get_mut(&k).unwrap().lease_until = Some(*until);
                    return Err(StoreError::Conflict);
                }
                match self.find(*message_id).map(|(k, m)| (*k, m.expiry > *now && !m.leased(*now)))
                {
                    Some((k, true)) => {
                        self.messages.get_mut(&k).unwrap().lease_until = Some(*until);
                        Ok(())
                    }
                    _ => Err(StoreError::Conflict),
                }
            }
            Write::DeleteIncoming { status, .. } => match self.find(status.message_id) {
                Some((&k, _)) => {
                    self.messages.remove(&k);
                    Ok(())
                }
                None => Err(StoreError::Conflict),
            },
            Write::ExpireIncoming(status) => {
                if let Some((&k, m)) = self.find(status.message_id)
                    && m.expiry <= status.at
                {
                    self.messages.remove(&k);
                }
                Ok(())
            }
            Write::ExpireConversations { .. } => Ok(()),
            other => panic!("this host does not serve {other:?}"),
        }
    }
}

fn matches(f: &IncomingFilter, m: &StoredIncoming) -> bool {
    f.service_identifier.is_none_or(|s| s == m.service)
        && f.message_id
            .as_deref()
            .is_none_or(|id| Some(id) == m.message_id().map(|i| i.to_string()).as_deref())
}

fn id(s: &str) -> MessageId {
    s.parse().unwrap()
}

fn peek() -> ApiCall {
    ApiCall::PeekIncoming { filter: IncomingFilter::default() }
}

fn pop(s: &str) -> ApiCall {
    ApiCall::PopIncoming { message: MessageRef::Id(id(s)) }
}

fn delete(s: &str) -> ApiCall {
    ApiCall::DeleteIncoming { message: MessageRef::Id(id(s)) }
}

fn message_id_of(r: &ApiResponse) -> String {
    let ApiResponse::Json(v) = r else { panic!("{r:?}") };
    v["standardBusinessDocumentHeader"]["documentIdentification"]["instanceIdentifier"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn error(r: ApiResponse) -> ApiError {
    let ApiResponse::Error(e) = r else { panic!("{r:?}") };
    e
}

#[test]
fn peek_leases_the_oldest_free_message_until_the_lock_timeout() {
    let mut h = Host::new(Config::new("910075918"));
    h.arrive(A, "arkivmelding", ServiceIdentifier::Dpo, NOW + HOUR);
    h.arrive(B, "arkivmelding", ServiceIdentifier::Dpo, NOW + HOUR);
    assert_eq!(message_id_of(&h.call(peek())), A);
    assert_eq!(
        h.writes[0],
        Write::LeaseIncoming { message_id: id(A), now: NOW, until: NOW + Duration::from_mins(5) }
    );
    // A second consumer gets the other one, a third none: 204 and its error body.
    assert_eq!(message_id_of(&h.call(peek())), B);
    let e = error(h.call(peek()));
    assert_eq!(
        (e.status, e.exception, e.message.as_str()),
        (204, Exception::NoContent, "No content")
    );
    // Filters reach the store.
    let dpe = IncomingFilter {
        service_identifier: Some(ServiceIdentifier::Dpe),
        ..IncomingFilter::default()
    };
    h.now = NOW + Duration::from_mins(5);
    assert_eq!(error(h.call(ApiCall::PeekIncoming { filter: dpe })).status, 204);
    // Once the lease lapses the message is offered again: at least once delivery.
    assert_eq!(message_id_of(&h.call(peek())), A);
}

#[test]
fn a_lease_lost_to_another_consumer_moves_on_to_the_next_candidate() {
    let mut h = Host::new(Config::new("910075918"));
    h.arrive(A, "arkivmelding", ServiceIdentifier::Dpo, NOW + HOUR);
    h.arrive(B, "arkivmelding", ServiceIdentifier::Dpo, NOW + HOUR);
    h.stolen.push(id(A));
    assert_eq!(message_id_of(&h.call(peek())), B);
    let leases = h.writes.iter().filter(|w| matches!(w, Write::LeaseIncoming { .. })).count();
    assert_eq!(leases, 2);
    assert_eq!(error(h.call(peek())).status, 204);
}

#[test]
fn pop_needs_a_running_lease_and_names_the_stored_asic() {
    let mut h = Host::new(Config::new("910075918"));
    h.arrive(A, "arkivmelding", ServiceIdentifier::Dpo, NOW + HOUR);
    h.arrive(B, "arkivmelding_kvittering", ServiceIdentifier::Dpo, NOW + HOUR);
    let e = error(h.call(pop(A)));
    assert_eq!((e.status, e.exception), (400, Exception::MessageNotLocked));
    assert_eq!(e.message, format!("Message with messageId = {A} was not locked"));
    h.call(peek());
    assert_eq!(h.call(pop(A)), ApiResponse::Asic { path: format!("incoming/{A}/asic.cms") });
    // Pop can be repeated while the lease runs; the lease is not extended.
    assert_eq!(h.call(pop(A)), ApiResponse::Asic { path: format!("incoming/{A}/asic.cms") });
    h.call(peek());
    assert_eq!(h.call(pop(B)), ApiResponse::Bare(204), "receipts carry no ASiC");
    h.now = NOW + Duration::from_mins(5);
    assert_eq!(error(h.call(pop(A))).exception, Exception::MessageNotLocked, "lapsed");
    // Unknown, malformed and expired ids are all not found.
    let unknown = "00000000-0000-4000-8000-0000000000ff";
    let e = error(h.call(pop(unknown)));
    assert_eq!(
        (e.status, e.message),
        (404, format!("Message with messageId = {unknown} was not found"))
    );
    let bad = ApiCall::PopIncoming { message: MessageRef::NoSuchMessage("abc".into()) };
    assert_eq!(error(h.call(bad)).status, 404);
    h.call(peek());
    h.now = NOW + HOUR;
    assert_eq!(error(h.call(pop(A))).status, 404, "expired while leased");
}

#[test]
fn delete_records_innkommende_levert_and_queues_levert_for_the_sender() {
    let mut config = Config::new("910075918");
    config.status_queue_includes = vec![ServiceIdentifier::Dpo];
    let mut h = Host::new(config);
    h.arrive(A, "arkivmelding", ServiceIdentifier::Dpo, NOW + HOUR);
    h.arrive(B, "arkivmelding", ServiceIdentifier::Dpf, NOW + HOUR);
    assert_eq!(error(h.call(delete(A))).exception, Exception::MessageNotLocked);
    assert!(h.messages.len() == 2 && h.events.is_empty());
    h.call(peek());
    h.writes.clear();
    let answer = h.call(delete(A));
    assert_eq!(answer, ApiResponse::Json(sbd(A, "arkivmelding").to_json_value()));
    let [Write::DeleteIncoming { status, reply: Some(reply) }] = &h.writes[..] else {
        panic!("{:?}", h.writes)
    };
    assert_eq!(
        (status.status, status.message_id, status.at, status.queued),
        (Status::InnkommendeLevert, id(A), NOW, true)
    );
    assert_eq!(reply.service, ServiceIdentifier::Dpo);
    assert_eq!(
        reply.sbd,
        crate::sbd::status_reply(&sbd(A, "arkivmelding"), Status::Levert, id(A), NOW)
    );
    let BusinessMessage::Status(s) = &reply.sbd.message else { panic!() };
    assert_eq!(s.status, Some(Status::Levert));
    assert_eq!(h.events.len(), 1);
    assert_eq!(
        (h.events[0].status, h.events[0].direction),
        (Status::InnkommendeLevert, Direction::Incoming)
    );
    // Gone: deleting again is not found.
    assert_eq!(error(h.call(delete(A))).status, 404);

    // DPF sends no statuses back.
    h.call(peek());
    h.writes.clear();
    assert_eq!(message_id_of(&h.call(delete(B))), B);
    let [Write::DeleteIncoming { reply: None, .. }] = &h.writes[..] else {
        panic!("{:?}", h.writes)
    };
}

#[test]
fn a_delete_that_loses_a_race_is_not_found() {
    let mut h = Host::new(Config::new("910075918"));
    h.arrive(A, "arkivmelding", ServiceIdentifier::Dpo, NOW + HOUR);
    h.call(peek());
    h.node.handle_input(Input::Api(CallId(9), delete(A)), NOW);
    let Output::Load(lid, q) = h.node.poll_output() else { panic!() };
    let r = h.load(q);
    h.node.handle_input(Input::Loaded(lid, r), NOW);
    let Output::Persist(wid, _) = h.node.poll_output() else { panic!() };
    // Another consumer's delete committed first.
    h.node.handle_input(Input::Persisted(wid, Err(StoreError::Conflict)), NOW);
    let Output::Respond(CallId(9), r) = h.node.poll_output() else { panic!() };
    assert_eq!(error(r).status, 404);
    assert!(!matches!(h.node.poll_output(), Output::Status(_)), "no status claimed");
}

#[test]
fn find_pages_through_what_is_not_expired() {
    let mut h = Host::new(Config::new("910075918"));
    h.arrive(A, "arkivmelding", ServiceIdentifier::Dpo, NOW + HOUR);
    h.arrive(B, "arkivmelding", ServiceIdentifier::Dpo, NOW + Duration::from_mins(1));
    let find = |page| ApiCall::FindIncoming { filter: IncomingFilter::default(), page };
    let ApiResponse::Json(v) = h.call(find(Pageable::default())) else { panic!() };
    assert_eq!(v["totalElements"], 2);
    assert_eq!(
        v["content"][1]["standardBusinessDocumentHeader"]["documentIdentification"]["instanceIdentifier"],
        B
    );
    h.now = NOW + Duration::from_mins(1);
    let ApiResponse::Json(v) = h.call(find(Pageable { page: 0, size: 1, sort: Vec::new() })) else {
        panic!()
    };
    assert_eq!((v["totalElements"].as_u64(), v["numberOfElements"].as_u64()), (Some(1), Some(1)));
}

#[test]
fn the_sweep_expires_what_was_not_fetched_and_wakes_for_the_next() {
    let mut h = Host::new(Config::new("910075918"));
    h.arrive(A, "arkivmelding", ServiceIdentifier::Dpo, NOW + Duration::from_secs(5));
    h.arrive(B, "arkivmelding", ServiceIdentifier::Dpo, NOW + Duration::from_secs(12));
    h.input(Input::Tick);
    assert!(h.writes.is_empty(), "nothing expired yet");
    // It wakes for A's expiry, before the 30 s check interval.
    assert_eq!(h.node.poll_output(), Output::Idle { wake_at: Some(NOW + Duration::from_secs(5)) });
    h.now = NOW + Duration::from_secs(5);
    h.input(Input::Tick);
    let [Write::ExpireIncoming(s)] = &h.writes[..] else { panic!("{:?}", h.writes) };
    assert_eq!(
        (s.message_id, s.status, s.description.as_deref()),
        (id(A), Status::LevetidUtlopt, None)
    );
    assert_eq!((h.events[0].message_id, h.events[0].status), (id(A), Status::LevetidUtlopt));
    assert_eq!(h.messages.len(), 1);
    assert_eq!(h.node.poll_output(), Output::Idle { wake_at: Some(NOW + Duration::from_secs(12)) });
    // An early tick does not look again.
    h.writes.clear();
    h.now = NOW + Duration::from_secs(6);
    h.input(Input::Tick);
    assert!(h.writes.is_empty());
    // With nothing left, it looks at least every check interval (for new arrivals).
    h.now = NOW + Duration::from_secs(12);
    h.input(Input::Tick);
    assert_eq!(h.writes.len(), 1);
    assert!(h.messages.is_empty());
    assert_eq!(
        h.node.poll_output(),
        Output::Idle { wake_at: Some(h.now + Duration::from_secs(30)) }
    );
}

#[test]
fn a_full_sweep_batch_looks_again_at_once() {
    let mut h = Host::new(Config::new("910075918"));
    for i in 0..(SWEEP_BATCH + 3) {
        let s = format!("00000000-0000-4000-8000-{i:012}");
        h.arrive(&s, "arkivmelding", ServiceIdentifier::Dpo, NOW);
    }
    h.input(Input::Tick);
    assert_eq!(h.writes.len(), SWEEP_BATCH as usize);
    assert_eq!(h.node.poll_output(), Output::Idle { wake_at: Some(NOW) });
    h.input(Input::Tick);
    assert_eq!(h.writes.len(), SWEEP_BATCH as usize + 3);
    assert!(h.messages.is_empty());
}

#[test]
fn store_failures_answer_500_and_the_sweep_tries_later() {
    let mut h = Host::new(Config::new("910075918"));
    h.arrive(A, "arkivmelding", ServiceIdentifier::Dpo, NOW + HOUR);
    h.fail_loads = true;
    for api in [
        peek(),
        pop(A),
        delete(A),
        ApiCall::FindIncoming { filter: IncomingFilter::default(), page: Pageable::default() },
    ] {
        let e = error(h.call(api));
        assert_eq!(e.status, 500);
        assert!(e.message.contains("disk gone"), "{e:?}");
    }
    h.input(Input::Tick);
    assert_eq!(h.node.poll_output(), Output::Idle { wake_at: Some(NOW + Duration::from_secs(30)) });
    assert_eq!(h.node.stale_answers(), 0);
}
