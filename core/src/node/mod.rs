//! The integration point as a state machine.
//!
//! The contract, after str0m: feed one input with [`Node::handle_input`], then call
//! [`Node::poll_output`] until it returns [`Output::Idle`]; only then feed the next
//! input. Every effect (store reads and writes, HTTP requests, API answers) is an
//! output carrying an id that the runtime echoes in the matching input. An API call
//! that changes state is answered only after its write is reported durable.

mod api;
mod http;
mod io;
mod store;

pub use api::{ApiCall, ApiResponse};
pub use http::{HttpRequest, HttpResponse, Method, TransportError};
pub use io::{Body, CallId, Input, LoadId, Output, ReqId, StatusEvent, WriteId};
pub use store::{Loaded, OutgoingMessage, Query, StatusRecord, StoreError, Write};

use std::collections::{HashMap, VecDeque};

use crate::api::{ApiError, Exception};
use crate::entropy::Entropy;
use crate::ids::MessageId;
use crate::sbd::Sbd;
use crate::sbd::validate::{CreateContext, prepare_for_create};
use crate::status::{DEFAULT_TTL, Direction, Lifecycle, Status, expiry};
use crate::{Duration, Timestamp};

/// What the node is told at start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our organisation number, nine digits.
    pub own_org: String,
    pub default_ttl: Duration,
}

impl Config {
    pub fn new(own_org: impl Into<String>) -> Self {
        Config {
            own_org: own_org.into(),
            default_ttl: DEFAULT_TTL,
        }
    }
}

/// Work waiting for a store answer.
#[derive(Debug)]
enum Pending {
    /// Create: looked up the messageId; `attempts` counts conflict retries.
    CreateLookup {
        call: CallId,
        message: OutgoingMessage,
        attempts: u8,
    },
    CreateWrite {
        call: CallId,
        message: OutgoingMessage,
        attempts: u8,
    },
    Get {
        call: CallId,
        message_id: MessageId,
    },
}

pub struct Node {
    config: Config,
    entropy: Entropy,
    outputs: VecDeque<Output>,
    loads: HashMap<LoadId, Pending>,
    writes: HashMap<WriteId, Pending>,
    next_id: u64,
    now: Timestamp,
    stale_answers: u64,
}

impl Node {
    /// `seed` comes from the runtime's OS randomness (a fixed value in tests).
    pub fn new(config: Config, seed: [u8; 32], now: Timestamp) -> Self {
        Node {
            config,
            entropy: Entropy::from_seed(seed),
            outputs: VecDeque::new(),
            loads: HashMap::new(),
            writes: HashMap::new(),
            next_id: 0,
            now,
            stale_answers: 0,
        }
    }

    pub fn handle_input(&mut self, input: Input, now: Timestamp) {
        // Time never runs backwards inside the node, whatever the host clock does.
        self.now = self.now.max(now);
        match input {
            Input::Api(call, ApiCall::CreateMessage { body }) => self.create(call, &body),
            Input::Api(call, ApiCall::GetOutgoing { message_id }) => {
                let id = self.load(Query::OutgoingMessage(message_id));
                self.loads.insert(id, Pending::Get { call, message_id });
            }
            Input::Loaded(id, result) => match self.loads.remove(&id) {
                Some(p) => self.on_loaded(p, result),
                None => self.stale_answers += 1,
            },
            Input::Persisted(id, result) => match self.writes.remove(&id) {
                Some(p) => self.on_persisted(p, result),
                None => self.stale_answers += 1,
            },
            // No HTTP requests are made yet, so any answer is stale.
            Input::Http(..) => self.stale_answers += 1,
            Input::Tick => {}
        }
    }

    /// Answers to requests this node never made or already settled (a runtime bug,
    /// or an answer that outlived a restart): counted and dropped, never a panic.
    pub fn stale_answers(&self) -> u64 {
        self.stale_answers
    }

    pub fn poll_output(&mut self) -> Output {
        self.outputs
            .pop_front()
            .unwrap_or(Output::Idle { wake_at: None })
    }

    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn load(&mut self, q: Query) -> LoadId {
        let id = LoadId(self.next());
        self.outputs.push_back(Output::Load(id, q));
        id
    }

    fn persist(&mut self, w: Write) -> WriteId {
        let id = WriteId(self.next());
        self.outputs.push_back(Output::Persist(id, w));
        id
    }

    fn respond(&mut self, call: CallId, r: ApiResponse) {
        self.outputs.push_back(Output::Respond(call, r));
    }

    fn create(&mut self, call: CallId, body: &[u8]) {
        let parsed = Sbd::from_json(body)
            .map_err(ApiError::from)
            .and_then(|sbd| {
                let request = sbd.to_json_value().to_string();
                let ctx = CreateContext {
                    now: self.now,
                    own_org: &self.config.own_org,
                    default_ttl: self.config.default_ttl,
                };
                prepare_for_create(sbd, &ctx, &mut self.entropy).map(|sbd| (sbd, request))
            });
        let (sbd, request) = match parsed {
            Ok(p) => p,
            Err(e) => return self.respond(call, ApiResponse::Error(e)),
        };
        let Some(message_id) = sbd.message_id() else {
            // prepare_for_create always sets one; answer rather than panic if not.
            let e = ApiError::new(Exception::Internal, "no messageId after defaults");
            return self.respond(call, ApiResponse::Error(e));
        };
        let ttl = sbd.header.expected_response().map(|d| d.timestamp());
        let message = OutgoingMessage {
            expiry: expiry(ttl, self.now, self.config.default_ttl),
            sbd,
            request,
            created: self.now,
            lifecycle: Lifecycle::new(Direction::Outgoing),
        };
        let id = self.load(Query::OutgoingMessage(message_id));
        self.loads.insert(
            id,
            Pending::CreateLookup {
                call,
                message,
                attempts: 0,
            },
        );
    }

    fn on_loaded(&mut self, p: Pending, result: Result<Loaded, StoreError>) {
        let found = match result {
            Ok(Loaded::OutgoingMessage(m)) => m,
            Err(e) => return self.store_failed(call_of(&p), &e),
        };
        match p {
            Pending::Get { call, message_id } => match found {
                Some(m) => self.respond(call, ApiResponse::Json(m.sbd.to_json_value())),
                None => self.respond(
                    call,
                    ApiResponse::Error(ApiError::message_not_found(message_id)),
                ),
            },
            Pending::CreateLookup {
                call,
                message,
                attempts,
            } => match found {
                // Same request again (a client retry after a lost answer): the stored
                // message is the answer.
                Some(existing) if existing.request == message.request => {
                    self.respond(call, ApiResponse::Json(existing.sbd.to_json_value()));
                }
                Some(existing) => {
                    let id = existing
                        .message_id()
                        .map(|m| m.to_string())
                        .unwrap_or_default();
                    self.respond(
                        call,
                        ApiResponse::Error(ApiError::message_already_exists(id)),
                    );
                }
                None => {
                    let Some(message_id) = message.message_id() else {
                        return;
                    };
                    let status = StatusRecord {
                        message_id,
                        status: Status::Opprettet,
                        description: None,
                        at: self.now,
                    };
                    let id = self.persist(Write::CreateOutgoing {
                        message: Box::new(message.clone()),
                        status,
                    });
                    self.writes.insert(
                        id,
                        Pending::CreateWrite {
                            call,
                            message,
                            attempts,
                        },
                    );
                }
            },
            Pending::CreateWrite { call, .. } => self.store_failed(
                call,
                &StoreError::Unavailable("unexpected load answer".into()),
            ),
        }
    }

    fn on_persisted(&mut self, p: Pending, result: Result<(), StoreError>) {
        match (p, result) {
            (Pending::CreateWrite { call, message, .. }, Ok(())) => {
                let body = message.sbd.to_json_value();
                if let Some(message_id) = message.message_id() {
                    self.outputs.push_back(Output::Status(StatusEvent {
                        message_id,
                        conversation_id: message.sbd.header.conversation_id(),
                        direction: Direction::Outgoing,
                        status: Status::Opprettet,
                        description: None,
                        at: message.created,
                    }));
                }
                self.respond(call, ApiResponse::Json(body));
            }
            // Another create of the same messageId won the race: look again, and
            // answer as for a repeat (equal) or a clash (different). Once only.
            (
                Pending::CreateWrite {
                    call,
                    message,
                    attempts: 0,
                },
                Err(StoreError::Conflict),
            ) => {
                if let Some(message_id) = message.message_id() {
                    let id = self.load(Query::OutgoingMessage(message_id));
                    self.loads.insert(
                        id,
                        Pending::CreateLookup {
                            call,
                            message,
                            attempts: 1,
                        },
                    );
                }
            }
            (p, Err(e)) => self.store_failed(call_of(&p), &e),
            (p, Ok(())) => self.store_failed(
                call_of(&p),
                &StoreError::Unavailable("unexpected write answer".into()),
            ),
        }
    }

    fn store_failed(&mut self, call: CallId, e: &StoreError) {
        let e = ApiError::new(
            Exception::Internal,
            format!("The message store failed: {e}"),
        );
        self.respond(call, ApiResponse::Error(e));
    }
}

fn call_of(p: &Pending) -> CallId {
    match p {
        Pending::CreateLookup { call, .. }
        | Pending::CreateWrite { call, .. }
        | Pending::Get { call, .. } => *call,
    }
}

#[cfg(test)]
mod tests;
