//! Incoming messages through the messages-in API: find, peek (an atomic lease),
//! pop (the stored ASiC, which the runtime streams), delete (`INNKOMMENDE_LEVERT`,
//! and a `LEVERT` status back to the sender); and the sweep that expires messages
//! no consumer fetched in time.
//!
//! A message past its expiry is never offered: find and peek leave it out, pop and
//! delete answer as for an unknown message, whether or not the sweep has run yet.

use std::collections::VecDeque;

use super::api::{ApiCall, ApiResponse};
use super::io::StatusEvent;
use super::store::{Loaded, Query, StatusRecord, StatusReply, StoreError, StoredIncoming, Write};
use super::{CallId, Node, Pending};
use crate::Timestamp;
use crate::api::{ApiError, Exception, MessageRef, Pageable, page_json};
use crate::ids::MessageId;
use crate::sbd::{Sbd, status_reply};
use crate::status::{Direction, Status};

/// Unleased candidates a peek tries, as the reference does.
const PEEK_CANDIDATES: u32 = 20;
/// Expired messages taken per sweep.
pub(super) const SWEEP_BATCH: u32 = 50;

/// Where an incoming-message call, or the sweep, waits.
#[derive(Debug)]
pub(super) enum Step {
    Find {
        call: CallId,
        page: Pageable,
    },
    /// Peek: the candidates are being loaded.
    PeekCandidates {
        call: CallId,
    },
    /// Peek: `trying` is being leased; `rest` comes next if another consumer got it.
    PeekLease {
        call: CallId,
        trying: Box<StoredIncoming>,
        rest: VecDeque<StoredIncoming>,
    },
    Pop {
        call: CallId,
        message_id: MessageId,
    },
    DeleteLookup {
        call: CallId,
        message_id: MessageId,
    },
    DeleteWrite {
        call: CallId,
        sbd: Box<Sbd>,
        event: StatusEvent,
    },
    /// The sweep: expired messages are being loaded.
    Sweep,
    /// The sweep: one expired message is being recorded.
    Expire {
        event: StatusEvent,
    },
}

impl Step {
    pub(super) fn call(&self) -> Option<CallId> {
        match self {
            Step::Find { call, .. }
            | Step::PeekCandidates { call }
            | Step::PeekLease { call, .. }
            | Step::Pop { call, .. }
            | Step::DeleteLookup { call, .. }
            | Step::DeleteWrite { call, .. } => Some(*call),
            Step::Sweep | Step::Expire { .. } => None,
        }
    }
}

/// The expiry sweep's state.
#[derive(Debug, Default)]
pub(super) struct Sweep {
    /// A look for expired messages, or their writes, are under way.
    loading: bool,
    writing: usize,
    /// When to look next; none: at the next tick.
    next: Option<Timestamp>,
}

impl Sweep {
    /// When the node wants a tick for the sweep.
    pub(super) fn wake_at(&self) -> Option<Timestamp> {
        if self.loading || self.writing > 0 { None } else { self.next }
    }
}

impl Node {
    /// An incoming-message API call.
    pub(super) fn incoming_call(&mut self, call: CallId, api: ApiCall) {
        let now = self.now;
        let (query, step) = match api {
            ApiCall::FindIncoming { filter, page } => (
                Query::IncomingMessages { filter, page: page.clone(), now },
                Step::Find { call, page },
            ),
            ApiCall::PeekIncoming { filter } => (
                Query::LeasableIncoming { filter, now, limit: PEEK_CANDIDATES },
                Step::PeekCandidates { call },
            ),
            ApiCall::PopIncoming { message: MessageRef::Id(message_id) } => {
                (Query::IncomingMessage(message_id), Step::Pop { call, message_id })
            }
            ApiCall::DeleteIncoming { message: MessageRef::Id(message_id) } => {
                (Query::IncomingMessage(message_id), Step::DeleteLookup { call, message_id })
            }
            ApiCall::PopIncoming { message } | ApiCall::DeleteIncoming { message } => {
                return self
                    .respond(call, ApiResponse::Error(ApiError::message_not_found(message)));
            }
            _ => {
                // Routed by handle_input; reaching here is a bug, not a panic.
                let e = ApiError::new(Exception::Internal, "call routed to the wrong handler");
                return self.respond(call, ApiResponse::Error(e));
            }
        };
        let id = self.load(query);
        self.loads.insert(id, Pending::Incoming(step));
    }

    pub(super) fn incoming_loaded(&mut self, step: Step, result: Result<Loaded, StoreError>) {
        match (step, result) {
            (Step::Sweep, result) => self.swept(result),
            (step, Err(e)) => self.incoming_failed(&step, &e),
            (Step::Find { call, page }, Ok(Loaded::IncomingMessages { sbds, total })) => {
                let content = sbds.iter().map(Sbd::to_json_value).collect();
                self.respond(call, ApiResponse::Json(page_json(content, &page, total)));
            }
            (Step::PeekCandidates { call }, Ok(Loaded::Leasable(candidates))) => {
                self.lease_next(call, candidates.into())
            }
            (Step::Pop { call, message_id }, Ok(Loaded::IncomingMessage(found))) => {
                let Some(m) = self.leased(call, message_id, found) else { return };
                let answer = match m.asic {
                    // Receipts carry no ASiC: the reference answers 204, no body.
                    _ if m.sbd.message_type().is_receipt() => ApiResponse::Bare(204),
                    None => ApiResponse::Bare(204),
                    Some(path) => ApiResponse::Asic { path },
                };
                self.respond(call, answer);
            }
            (Step::DeleteLookup { call, message_id }, Ok(Loaded::IncomingMessage(found))) => {
                let Some(m) = self.leased(call, message_id, found) else { return };
                self.delete_incoming(call, message_id, *m);
            }
            (step, Ok(_)) => self.incoming_failed(
                &step,
                &StoreError::Unavailable("the store answered another query".into()),
            ),
        }
    }

    pub(super) fn incoming_persisted(&mut self, step: Step, result: Result<(), StoreError>) {
        match (step, result) {
            (Step::PeekLease { call, trying, .. }, Ok(())) => {
                self.respond(call, ApiResponse::Json(trying.sbd.to_json_value()));
            }
            // Another consumer leased it first: the next candidate.
            (Step::PeekLease { call, rest, .. }, Err(StoreError::Conflict)) => {
                self.lease_next(call, rest)
            }
            (Step::DeleteWrite { call, sbd, event }, Ok(())) => {
                self.status_recorded(event);
                self.respond(call, ApiResponse::Json(sbd.to_json_value()));
                self.deliver_pushes();
            }
            // Deleted by another call meanwhile.
            (Step::DeleteWrite { call, event, .. }, Err(StoreError::Conflict)) => self
                .respond(call, ApiResponse::Error(ApiError::message_not_found(event.message_id))),
            (Step::Expire { event }, result) => {
                self.incoming.writing = self.incoming.writing.saturating_sub(1);
                match result {
                    Ok(()) => {
                        self.status_recorded(event);
                        if self.incoming.writing == 0 {
                            self.deliver_pushes();
                        }
                    }
                    // Still expired, so found again by a later sweep.
                    Err(_) => self.incoming.next = Some(self.now + self.config.ttl_check_interval),
                }
            }
            (step, Err(e)) => self.incoming_failed(&step, &e),
            (step, Ok(())) => self
                .incoming_failed(&step, &StoreError::Unavailable("unexpected write answer".into())),
        }
    }

    /// Lease the first of `candidates`, or answer that there is nothing to peek.
    fn lease_next(&mut self, call: CallId, mut candidates: VecDeque<StoredIncoming>) {
        let Some(trying) = candidates.pop_front() else {
            // The reference answers an empty queue with 204 and its error body.
            return self.respond(
                call,
                ApiResponse::Error(ApiError::new(Exception::NoContent, "No content")),
            );
        };
        let Some(message_id) = trying.message_id() else {
            return self.lease_next(call, candidates);
        };
        let until = self.now + self.config.lock_timeout;
        let id = self.persist(Write::LeaseIncoming { message_id, now: self.now, until });
        let step = Step::PeekLease { call, trying: Box::new(trying), rest: candidates };
        self.writes.insert(id, Pending::Incoming(step));
    }

    /// The message if it is there, not expired and leased; otherwise the answer is
    /// given (404, or 400 not locked) and none is returned.
    fn leased(
        &mut self,
        call: CallId,
        message_id: MessageId,
        found: Option<Box<StoredIncoming>>,
    ) -> Option<Box<StoredIncoming>> {
        let answer = match found {
            Some(m) if m.expiry <= self.now => ApiError::message_not_found(message_id),
            Some(m) if m.leased(self.now) => return Some(m),
            Some(_) => ApiError::new(
                Exception::MessageNotLocked,
                format!("Message with messageId = {message_id} was not locked"),
            ),
            None => ApiError::message_not_found(message_id),
        };
        self.respond(call, ApiResponse::Error(answer));
        None
    }

    fn delete_incoming(&mut self, call: CallId, message_id: MessageId, m: StoredIncoming) {
        let status = self.incoming_status(message_id, &m, Status::InnkommendeLevert);
        let reply = self.config.status_services.contains(&m.service).then(|| StatusReply {
            sbd: status_reply(&m.sbd, Status::Levert, message_id, self.now),
            service: m.service,
        });
        let event = event(&status, &m.sbd);
        let id = self.persist(Write::DeleteIncoming { status, reply });
        let step = Step::DeleteWrite { call, sbd: Box::new(m.sbd), event };
        self.writes.insert(id, Pending::Incoming(step));
    }

    fn incoming_status(
        &self,
        message_id: MessageId,
        m: &StoredIncoming,
        s: Status,
    ) -> StatusRecord {
        StatusRecord {
            message_id,
            status: s,
            description: None,
            at: self.now,
            queued: self.config.status_queue_includes.contains(&m.service),
        }
    }

    fn incoming_failed(&mut self, step: &Step, e: &StoreError) {
        match step.call() {
            Some(call) => self.store_failed(call, e),
            None => self.stale_answers += 1,
        }
    }

    /// Look for expired messages, when it is time to.
    pub(super) fn sweep_incoming(&mut self) {
        let s = &self.incoming;
        if s.loading || s.writing > 0 || s.next.is_some_and(|t| t > self.now) {
            return;
        }
        self.incoming.loading = true;
        let id = self.load(Query::ExpiredIncoming { now: self.now, limit: SWEEP_BATCH });
        self.loads.insert(id, Pending::Incoming(Step::Sweep));
        // Outgoing conversations expire on the same round.
        let wid = self.persist(Write::ExpireConversations { now: self.now });
        self.writes.insert(wid, Pending::Swept);
    }

    fn swept(&mut self, result: Result<Loaded, StoreError>) {
        self.incoming.loading = false;
        let again = self.now + self.config.ttl_check_interval;
        let Ok(Loaded::ExpiredIncoming { due, next }) = result else {
            self.incoming.next = Some(again);
            return;
        };
        // A full batch: more may wait, so look again at once; otherwise at the next
        // expiry known, and at least every check interval for messages that arrive
        // meanwhile.
        self.incoming.next = Some(if due.len() >= SWEEP_BATCH as usize {
            self.now
        } else {
            next.map_or(again, |n| n.min(again))
        });
        for m in due {
            let Some(message_id) = m.message_id() else { continue };
            let status = self.incoming_status(message_id, &m, Status::LevetidUtlopt);
            let event = event(&status, &m.sbd);
            self.incoming.writing += 1;
            let id = self.persist(Write::ExpireIncoming(status));
            self.writes.insert(id, Pending::Incoming(Step::Expire { event }));
        }
    }
}

fn event(status: &StatusRecord, sbd: &Sbd) -> StatusEvent {
    StatusEvent {
        message_id: status.message_id,
        conversation_id: sbd.header.conversation_id(),
        direction: Direction::Incoming,
        status: status.status,
        description: status.description.clone(),
        at: status.at,
    }
}
