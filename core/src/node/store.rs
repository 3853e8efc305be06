//! The store as data: the reads and writes the node asks for, and their answers.
//! A runtime carries them out against SQLite, PostgreSQL or memory.

use super::records::{ConversationRow, StatusRow};
use crate::Timestamp;
use crate::api::subscription::{Subscription, SubscriptionSpec};
use crate::api::{ConversationFilter, OutgoingFilter, Pageable, StatusFilter};
use crate::ids::MessageId;
use crate::registry::model::ServiceIdentifier;
use crate::sbd::Sbd;
use crate::status::{Lifecycle, Status};

#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    OutgoingMessage(MessageId),
    /// Statuses matching the filter, one page, with the total count.
    Statuses {
        filter: StatusFilter,
        page: Pageable,
    },
    /// Conversations matching the filter, one page, with the total count.
    Conversations {
        filter: ConversationFilter,
        page: Pageable,
    },
    /// One outgoing conversation.
    OutgoingConversation(StoredConversationKey),
    /// The counts `/manage/health` shows.
    Health,
    /// The content of one file of an outgoing message (small files only: the
    /// arkivmelding.xml the node reads).
    FileContent {
        message_id: MessageId,
        filename: String,
    },
    /// Webhook pushes whose time has come (at most `limit`).
    DuePushes {
        now: Timestamp,
        limit: u32,
    },
    /// A page of webhook subscriptions, by id.
    Subscriptions {
        page: Pageable,
    },
    /// One subscription by its id.
    Subscription(i64),
    /// The subscription with this name and push endpoint.
    SubscriptionNamed {
        name: String,
        push_endpoint: String,
    },
    /// The oldest status in the status queue.
    PeekStatus,
    /// A status in the status queue, by its id.
    QueuedStatus(i64),
    /// Outgoing messages not yet handed off, matching the filter, one page.
    OutgoingMessages {
        filter: OutgoingFilter,
        page: Pageable,
    },
}

/// How the store finds one conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredConversationKey {
    Id(i64),
    MessageId(MessageId),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Loaded {
    OutgoingMessage(Option<Box<OutgoingMessage>>),
    Statuses {
        rows: Vec<StatusRow>,
        total: u64,
    },
    Conversations {
        rows: Vec<ConversationRow>,
        total: u64,
    },
    Conversation(Option<Box<ConversationRow>>),
    Health {
        outgoing: u64,
        incoming: u64,
        pollable: u64,
    },
    /// A status from the status queue, if there is one.
    Status(Option<StatusRow>),
    Subscriptions {
        rows: Vec<Subscription>,
        total: u64,
    },
    Subscription(Option<Subscription>),
    FileContent(Option<bytes::Bytes>),
    /// Due pushes, and when the next one after them is due.
    Pushes {
        due: Vec<Push>,
        next: Option<Timestamp>,
    },
    /// The SBDs of a page of outgoing messages, with the total count.
    OutgoingMessages {
        sbds: Vec<Sbd>,
        total: u64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// A new outgoing message with its first status, in one transaction. The store
    /// refuses it with `StoreError::Conflict` if the messageId exists.
    CreateOutgoing { message: Box<OutgoingMessage>, status: StatusRecord },
    /// Delete conversations and their statuses; deleting nothing is no error.
    DeleteConversations(StoredConversationKey),
    /// Delete an outgoing message and its files, keeping its conversation; deleting
    /// nothing is no error.
    DeleteOutgoing(MessageId),
    /// Add a file to an outgoing message: the content is durable on disk before the
    /// row that names it commits. `Conflict` if the file name is taken.
    AddFile {
        message_id: MessageId,
        file: StoredFile,
        content: bytes::Bytes,
        /// From an arkivmelding.xml: the conversation's title and reference.
        conversation: Option<crate::arkivmelding::ConversationFields>,
    },
    /// Take a status out of the status queue.
    DequeueStatus(i64),
    /// Store a subscription: new (`id` none) or replacing one. `Conflict` if another
    /// has the same name and push endpoint.
    SaveSubscription { id: Option<i64>, spec: SubscriptionSpec },
    /// Delete one subscription, or all (`None`).
    DeleteSubscriptions(Option<i64>),
    /// A push was delivered, or has been given up on: remove it.
    PushDone(i64),
    /// A push failed: try again at `at`.
    PushRetry { id: i64, at: Timestamp },
    /// Mark an outgoing message as handed to the sending queue (once).
    QueueOutgoing { message_id: MessageId, at: Timestamp },
    /// Record a status of an outgoing message; a value it has already is no error.
    RecordOutgoingStatus(StatusRecord),
}

/// A file of an outgoing message, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    /// The name in the ASiC (from `Content-Disposition`).
    pub filename: String,
    pub title: Option<String>,
    pub mime: String,
    pub size: u64,
    /// SHA-256 of the content, hex: tells a repeated upload from a different one.
    pub sha256: String,
    /// The business message's `hoveddokument`.
    pub primary: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutgoingMessage {
    /// The SBD with the defaults filled in, as the API returns it.
    pub sbd: Sbd,
    /// The SBD as the client sent it, normalised: a repeated create is compared on
    /// this, since the defaults (creation time, generated ids) differ per attempt.
    pub request: String,
    pub created: Timestamp,
    pub expiry: Timestamp,
    /// The message service the registry routed it to.
    pub service: ServiceIdentifier,
    /// Its files, in upload order.
    pub files: Vec<StoredFile>,
    /// When it was handed to the sending queue, once it has been.
    pub queued: Option<Timestamp>,
    pub lifecycle: Lifecycle,
}

impl OutgoingMessage {
    pub fn message_id(&self) -> Option<MessageId> {
        self.sbd.message_id()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct StatusRecord {
    pub message_id: MessageId,
    pub status: Status,
    pub description: Option<String>,
    pub at: Timestamp,
    /// Whether the status also joins the queue `GET /api/statuses/peek` reads (only
    /// for the services in `statusQueueIncludes`).
    pub queued: bool,
}

/// A status push waiting in the outbox. The store puts pushes there in the same
/// transaction as the status they tell of, so none is lost to a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Push {
    pub id: i64,
    pub url: String,
    pub body: String,
    pub attempts: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique key exists already (a concurrent create of the same messageId).
    #[error("already exists")]
    Conflict,
    #[error("store unavailable: {0}")]
    Unavailable(String),
}
