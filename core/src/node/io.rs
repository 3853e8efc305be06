//! What goes into the node and what comes out of it.

use bytes::Bytes;

use super::api::{ApiCall, ApiResponse};
use super::http::{HttpRequest, HttpResponse, TransportError};
pub use super::jobs::{Job, JobError, JobResult};
use super::store::{Loaded, Query, StoreError, Write};
use crate::Timestamp;
use crate::ids::{ConversationId, MessageId};
use crate::mail::Mail;
use crate::status::{Direction, Status};

macro_rules! id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u64);
    };
}

id!(
    /// An API call, numbered by the runtime; the answer carries it back.
    CallId
);
id!(
    /// An outbound HTTP request, numbered by the node; the runtime echoes it.
    ReqId
);
id!(
    /// A store write, numbered by the node.
    WriteId
);
id!(
    /// A store read, numbered by the node.
    LoadId
);
id!(
    /// A payload job (sealing or unpacking), numbered by the node.
    JobId
);

#[derive(Debug)]
pub enum Input {
    /// A fagsystem's API call.
    Api(CallId, ApiCall),
    /// The answer to `Output::Http`.
    Http(ReqId, Result<HttpResponse, TransportError>),
    /// `Output::Persist` is durable (or failed).
    Persisted(WriteId, Result<(), StoreError>),
    /// The answer to `Output::Load`.
    Loaded(LoadId, Result<Loaded, StoreError>),
    /// The answer to `Output::Job`.
    JobDone(JobId, Result<JobResult, JobError>),
    /// The time asked for in `Output::Idle` has come (or any other wake-up).
    Tick,
}

// Writes that carry a status SBD for the sender (`StatusReply`) hold it inline, so
// `Persist` is the large variant; outputs are short-lived, drained one at a time.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub enum Output {
    Http(ReqId, HttpRequest),
    Persist(WriteId, Write),
    Load(LoadId, Query),
    Respond(CallId, ApiResponse),
    /// Stream a payload through core's encoders or decoders (see [`Job`]): work
    /// on files, which the runtime owns, with keys, which the runtime holds.
    Job(JobId, Job),
    /// A status was recorded: for webhooks, the status queue and the log. It is
    /// already part of a `Persist` that has completed.
    Status(StatusEvent),
    /// Something went wrong that no API caller waits for (a delivery attempt
    /// failed, a received message was dropped): for the operator's log.
    Notice(String),
    /// Send this mail (see [`crate::mail`]) with the node's `Config::mail`. Nothing
    /// comes back: a mail that cannot be sent is the runtime's to log, as the
    /// reference only logs it.
    Mail(Mail),
    /// Nothing more to do until `wake_at` (or the next input).
    Idle {
        wake_at: Option<Timestamp>,
    },
}

/// A recorded status.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusEvent {
    pub message_id: MessageId,
    pub conversation_id: Option<ConversationId>,
    pub direction: Direction,
    pub status: Status,
    pub description: Option<String>,
    pub at: Timestamp,
}

/// A request or response body. Small bodies travel in memory; payloads are streamed
/// by the runtime through core's encoders and never pass through here whole.
pub type Body = Bytes;
