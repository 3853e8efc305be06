//! The fagsystems: on the sending side one client per message, which creates it,
//! uploads its files and sends it (or does all three in one multipart call),
//! retrying whatever fails, as a careful client does; on the receiving side
//! consumers that peek, pop and delete, sometimes slowly (the lease runs out) and,
//! while the network is unwell, sometimes forgetting a message they peeked (they
//! crashed).

use bytes::Bytes;
use efm_core::api::{Exception, IncomingFilter, MessageRef, Pageable};
use efm_core::ids::MessageId;
use efm_core::node::{ApiCall, Upload};

use crate::rng::Rng;
use crate::sealing::Document;

/// Which client a call belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    Sender(usize),
    Consumer(usize),
}

/// What a call was, for checking its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallKind {
    Create,
    Upload(String),
    Send,
    Multipart,
    Peek,
    Pop(MessageId),
    Delete(MessageId),
    Find,
    /// `GET /api/statuses/{messageId}`.
    Statuses(MessageId),
}

/// An answer as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// 2xx; for a peek, the message offered.
    Ok(Option<MessageId>),
    Refused {
        status: u16,
        exception: Exception,
    },
    /// The connection broke: the node is down, or died while the call was open.
    Lost,
    /// A repeated create of a message that has already left the node (its answer
    /// was lost): nothing more to do.
    Gone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendStep {
    Create,
    Upload(usize),
    Send,
    /// Sent; the fagsystem looks at the statuses so far.
    Statuses,
    Done,
    Abandoned,
}

pub struct Sender {
    pub node: usize,
    pub message_id: MessageId,
    pub sbd: Bytes,
    pub files: Vec<Document>,
    pub multipart: bool,
    /// Look at the message's statuses once it is sent.
    pub check_statuses: bool,
    pub step: SendStep,
    /// After this (simulated) time the message has expired: stop trying.
    pub give_up_at: i64,
    /// The last refusal, for the report when a healed network still refuses.
    pub last_refusal: Option<String>,
}

/// What a client does next.
pub enum Next {
    Call {
        after_ms: i64,
    },
    Idle,
    /// A refusal that shows the node broke a promise (idempotency).
    Violation(String),
}

fn upload(d: &Document) -> Upload {
    Upload {
        filename: d.name.clone(),
        title: None,
        mime: d.mime.clone(),
        content: d.content.clone(),
    }
}

impl Sender {
    pub fn finished(&self) -> bool {
        matches!(self.step, SendStep::Done | SendStep::Abandoned)
    }

    /// The call for the current step.
    pub fn call(&self) -> Option<(ApiCall, CallKind)> {
        let message = MessageRef::Id(self.message_id);
        Some(match self.step {
            SendStep::Create if self.multipart => (
                ApiCall::CreateMultipart {
                    sbd: self.sbd.clone(),
                    files: self.files.iter().map(upload).collect(),
                },
                CallKind::Multipart,
            ),
            SendStep::Create => {
                (ApiCall::CreateMessage { body: self.sbd.clone() }, CallKind::Create)
            }
            SendStep::Upload(i) => {
                let d = self.files.get(i)?;
                (
                    ApiCall::UploadFile { message, upload: upload(d) },
                    CallKind::Upload(d.name.clone()),
                )
            }
            SendStep::Send => (ApiCall::SendMessage { message }, CallKind::Send),
            SendStep::Statuses => (
                ApiCall::StatusesOfMessage { message, page: Pageable::default() },
                CallKind::Statuses(self.message_id),
            ),
            SendStep::Done | SendStep::Abandoned => return None,
        })
    }

    pub fn answered(&mut self, reply: &Reply, now: i64, rng: &mut Rng) -> Next {
        let retry = Next::Call { after_ms: rng.range(500, 10_000) };
        if self.step == SendStep::Statuses {
            // A look, not a promise: whatever the answer, the fagsystem is done.
            self.step = SendStep::Done;
            return Next::Idle;
        }
        match reply {
            Reply::Ok(_) => {
                self.step = match self.step {
                    SendStep::Create if self.multipart && self.check_statuses => SendStep::Statuses,
                    SendStep::Create if self.multipart => SendStep::Done,
                    SendStep::Create if self.files.is_empty() => SendStep::Send,
                    SendStep::Create => SendStep::Upload(0),
                    SendStep::Upload(i) if i + 1 < self.files.len() => SendStep::Upload(i + 1),
                    SendStep::Upload(_) => SendStep::Send,
                    SendStep::Send if self.check_statuses => SendStep::Statuses,
                    SendStep::Send | SendStep::Statuses | SendStep::Done => SendStep::Done,
                    SendStep::Abandoned => SendStep::Abandoned,
                };
                match self.step {
                    SendStep::Statuses => Next::Call { after_ms: rng.range(1_000, 120_000) },
                    _ if self.finished() => Next::Idle,
                    _ => Next::Call { after_ms: rng.range(1, 500) },
                }
            }
            Reply::Refused { exception, status } => {
                self.last_refusal = Some(format!("{status} {exception:?} at {:?}", self.step));
                match exception {
                    Exception::MessageAlreadyExists | Exception::DuplicateFilename => {
                        Next::Violation(format!(
                            "{} refused a repeated {:?} of the same content with {exception:?}: repeats must be no-ops",
                            self.message_id, self.step
                        ))
                    }
                    Exception::TimeToLive => {
                        self.step = SendStep::Abandoned;
                        Next::Idle
                    }
                    _ if now >= self.give_up_at => {
                        self.step = SendStep::Abandoned;
                        Next::Idle
                    }
                    _ => retry,
                }
            }
            Reply::Gone => {
                self.step = SendStep::Done;
                Next::Idle
            }
            Reply::Lost if now >= self.give_up_at => {
                self.step = SendStep::Abandoned;
                Next::Idle
            }
            Reply::Lost => retry,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holding {
    Nothing,
    Peeked(MessageId),
    Popped(MessageId),
}

pub struct Consumer {
    pub node: usize,
    pub holding: Holding,
    /// While set, the consumer misbehaves now and then (slow, forgetful).
    pub unruly: bool,
    pub lock_timeout_ms: i64,
    pub rng: Rng,
}

impl Consumer {
    pub fn call(&mut self) -> (ApiCall, CallKind) {
        match self.holding {
            Holding::Nothing if self.rng.chance(50) => (
                ApiCall::FindIncoming {
                    filter: IncomingFilter::default(),
                    page: Pageable::default(),
                },
                CallKind::Find,
            ),
            Holding::Nothing => {
                (ApiCall::PeekIncoming { filter: IncomingFilter::default() }, CallKind::Peek)
            }
            Holding::Peeked(id) => {
                (ApiCall::PopIncoming { message: MessageRef::Id(id) }, CallKind::Pop(id))
            }
            Holding::Popped(id) => {
                (ApiCall::DeleteIncoming { message: MessageRef::Id(id) }, CallKind::Delete(id))
            }
        }
    }

    /// The delay before the next step with the message in hand: now and then longer
    /// than the lease, while unruly.
    fn step_delay(&mut self) -> i64 {
        if self.unruly && self.rng.chance(80) {
            self.lock_timeout_ms + self.rng.range(1, 60_000)
        } else {
            self.rng.range(1, 2_000)
        }
    }

    fn poll_delay(&mut self) -> i64 {
        self.rng.range(1_000, 20_000)
    }

    pub fn answered(&mut self, kind: &CallKind, reply: &Reply) -> Next {
        match (kind, reply) {
            (_, Reply::Lost) => {
                // Start over: whatever was held may be offered again once its lease ends.
                self.holding = Holding::Nothing;
                Next::Call { after_ms: self.rng.range(1_000, 10_000) }
            }
            (CallKind::Peek, Reply::Ok(Some(id))) => {
                if self.unruly && self.rng.chance(40) {
                    // Crashed with it in hand: its lease runs out, and it comes again.
                    self.holding = Holding::Nothing;
                    return Next::Call { after_ms: self.poll_delay() };
                }
                self.holding = Holding::Peeked(*id);
                Next::Call { after_ms: self.step_delay() }
            }
            (CallKind::Pop(id), Reply::Ok(_)) => {
                self.holding = Holding::Popped(*id);
                Next::Call { after_ms: self.step_delay() }
            }
            (CallKind::Delete(_), Reply::Ok(_)) => {
                self.holding = Holding::Nothing;
                Next::Call { after_ms: self.rng.range(1, 500) }
            }
            (CallKind::Find, Reply::Ok(_)) => Next::Call { after_ms: self.rng.range(1, 500) },
            // Nothing to peek, or the message went to the other consumer, or its lease
            // ran out, or the store failed: look again later.
            _ => {
                self.holding = Holding::Nothing;
                Next::Call { after_ms: self.poll_delay() }
            }
        }
    }
}
