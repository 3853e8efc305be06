//! The store as data: the reads and writes the node asks for, and their answers.
//! A runtime carries them out against SQLite, PostgreSQL or memory.

use super::records::{ConversationRow, StatusRow};
use crate::Timestamp;
use crate::api::subscription::{Subscription, SubscriptionSpec};
use crate::api::{ConversationFilter, IncomingFilter, OutgoingFilter, Pageable, StatusFilter};
use crate::ids::{ConversationId, MessageId};
use crate::registry::model::ServiceIdentifier;
use crate::sbd::Sbd;
use crate::status::{Lifecycle, Status};

#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    OutgoingMessage(MessageId),
    /// Watches of `service` whose poll is due at `now`, soonest first, at most
    /// `limit`, leaving out those in `skip` (being polled already).
    DueWatches {
        service: ServiceIdentifier,
        now: Timestamp,
        limit: u32,
        skip: Vec<MessageId>,
    },
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
    /// The content of a staged file (small files only: an arkivmelding.xml being
    /// uploaded), as `Loaded::FileContent`; none if there is no such file.
    StagedContent {
        name: String,
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
    /// Status replies to the senders of incoming messages whose time has come (at
    /// most `limit`), oldest first.
    DueReplies {
        now: Timestamp,
        limit: u32,
    },
    /// Incoming messages not expired at `now`, leased or not, matching the filter,
    /// one page.
    IncomingMessages {
        filter: IncomingFilter,
        page: Pageable,
        now: Timestamp,
    },
    /// Incoming messages a peek may lease at `now` (not expired, no lease running),
    /// oldest first, at most `limit`.
    LeasableIncoming {
        filter: IncomingFilter,
        now: Timestamp,
        limit: u32,
    },
    /// One incoming message, expired or not.
    IncomingMessage(MessageId),
    /// Incoming messages expired at `now` (at most `limit`), and when the next of
    /// the others expires.
    ExpiredIncoming {
        now: Timestamp,
        limit: u32,
    },
    /// Queued outgoing messages whose (next) delivery attempt is due, oldest
    /// first, at most `limit`, leaving out `skip` (those already under way).
    DueOutgoing {
        now: Timestamp,
        limit: u32,
        skip: Vec<MessageId>,
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
    /// Due status replies with their attempts so far, and when the next one after
    /// them is due.
    Replies {
        due: Vec<(i64, StatusReply, u32)>,
        next: Option<Timestamp>,
    },
    /// The SBDs of a page of incoming messages, with the total count.
    IncomingMessages {
        sbds: Vec<Sbd>,
        total: u64,
    },
    /// Incoming messages a peek may lease, oldest first.
    Leasable(Vec<StoredIncoming>),
    IncomingMessage(Option<Box<StoredIncoming>>),
    /// Expired incoming messages, and when the next of the others expires.
    ExpiredIncoming {
        due: Vec<StoredIncoming>,
        next: Option<Timestamp>,
    },
    /// Due outgoing messages with the attempts made so far, and when the next one
    /// not among them is due.
    DueOutgoing {
        due: Vec<(OutgoingMessage, u32)>,
        next: Option<Timestamp>,
    },
    /// Watches whose poll is due, and when the next of the others is.
    Watches {
        due: Vec<Watch>,
        next: Option<Timestamp>,
    },
}

/// A handed-off outgoing message whose receipt is polled for at its message
/// service (DPV, DPF, DPI): the reference's `pollable` conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    pub message_id: MessageId,
    pub conversation_id: Option<ConversationId>,
    pub service: ServiceIdentifier,
    /// The sender's and receiver's identifiers, as the conversation has them.
    pub sender: String,
    pub receiver: String,
    /// The message service's own id for the message (DPV's correspondenceId,
    /// DPF's forsendelsesId), when it gave one.
    pub reference: Option<String>,
    pub handed_off: Timestamp,
    pub next_poll: Timestamp,
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
    /// As `AddFile`, for content the runtime staged: the store moves the staged file
    /// into place durably (flushed, renamed, its folder flushed) before the row that
    /// names it commits. The staged file must hold `file.size` bytes. When the write
    /// fails, whatever is left of it in staging is the runtime's to remove.
    AddStagedFile {
        message_id: MessageId,
        file: StoredFile,
        staged: StagedFile,
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
    /// A received message, in one transaction: its staged ASiC (if any) moved under
    /// the data folder durably, its row, its INCOMING conversation with `OPPRETTET`
    /// and `INNKOMMENDE_MOTTATT` (and their webhook pushes), and the status reply to
    /// its sender. `Conflict` if the messageId is known already, as an incoming
    /// message or an INCOMING conversation: a message delivered and deleted, or
    /// expired, does not come back. The staged file is removed on `Conflict` and
    /// left in place on any other error.
    CreateIncoming { message: Box<IncomingMessage>, reply: Option<StatusReply> },
    /// A message that arrived expired: its INCOMING conversation with `OPPRETTET`
    /// and `LEVETID_UTLOPT` (described as the reference does); nothing is stored.
    RecordIncomingExpired { sbd: Box<Sbd>, service: ServiceIdentifier, at: Timestamp },
    /// A status reply was delivered, or has been given up on: remove it.
    ReplyDone(i64),
    /// A status reply failed: try again at `at`.
    ReplyRetry { id: i64, at: Timestamp },
    /// Lease an incoming message to a consumer until `until`: only if it is not
    /// expired and no lease runs at `now`, else `Conflict`.
    LeaseIncoming { message_id: MessageId, now: Timestamp, until: Timestamp },
    /// An incoming message fetched by its consumer, in one transaction: the row
    /// goes, `status` (INNKOMMENDE_LEVERT) is recorded with its pushes, and the
    /// reply to the sender is queued; the stored ASiC is removed once that is
    /// durable. `Conflict` if there is no such message (deleted meanwhile).
    DeleteIncoming { status: StatusRecord, reply: Option<StatusReply> },
    /// An incoming message whose time ran out, in one transaction: the row goes and
    /// `status` (LEVETID_UTLOPT) is recorded with its pushes; the stored ASiC is
    /// removed once that is durable. Nothing happens if the message is gone or not
    /// expired at the status's time.
    ExpireIncoming(StatusRecord),
    /// An outgoing message leaves the sending queue for good (handed to its
    /// message service, failed, or expired): its status, and the removal of its
    /// row and files, in one transaction. Its conversation stays.
    HandOff(StatusRecord),
    /// A delivery attempt failed for now: count it, and try again at `at`.
    RetryOutgoing { message_id: MessageId, at: Timestamp },
    /// Give every unfinished outgoing conversation whose expiry is before `now`
    /// the status LEVETID_UTLOPT, dropping what is still queued for it.
    ExpireConversations { now: Timestamp },
    /// A status the receiving side sent back (MOTTATT, LEVERT) or a receipt
    /// implies (LEST, FEIL): recorded on the outgoing conversation if there is one
    /// and the status moves it forward; anything else is no error.
    ApplyReceivedStatus(StatusRecord),
    /// As `HandOff` for a message whose receipt is then polled for: its statuses
    /// (SENDT, and for DPF LEVERT with it), the removal of its row and files, and
    /// its watch, first due at `next_poll`, in one transaction. No watch is kept
    /// for a conversation that has ended (LEST, FEIL, LEVETID_UTLOPT).
    HandOffWatched {
        statuses: Vec<StatusRecord>,
        service: ServiceIdentifier,
        reference: Option<String>,
        next_poll: Timestamp,
    },
    /// A watched message was polled: the statuses its service told of (each
    /// recorded if it moves the conversation forward) and the next poll, or none
    /// to stop watching, in one transaction. Nothing happens to a watch that is
    /// gone. Any status that ends a conversation's polling (LEST, FEIL,
    /// LEVETID_UTLOPT), by whatever write, also ends its watch.
    Watched { message_id: MessageId, statuses: Vec<StatusRecord>, next_poll: Option<Timestamp> },
}

/// A received message, as the node hands it to the store.
#[derive(Clone, Debug, PartialEq)]
pub struct IncomingMessage {
    pub sbd: Sbd,
    pub service: ServiceIdentifier,
    pub received: Timestamp,
    pub expiry: Timestamp,
    /// The encrypted ASiC (CMS) as received; none for messages without files.
    pub asic: Option<StagedFile>,
}

/// A file the runtime has written and flushed to disk under `<data dir>/staging/`,
/// for a write to move into place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagedFile {
    /// A plain file name (no folders) under `<data dir>/staging/`.
    pub name: String,
    pub size: u64,
}

/// A status SBD to send back to the sender of an incoming message (MOTTATT when it
/// is stored, LEVERT when its consumer has fetched it).
#[derive(Clone, Debug, PartialEq)]
pub struct StatusReply {
    pub sbd: Sbd,
    /// The message service the incoming message came by, and the reply goes by.
    pub service: ServiceIdentifier,
}

/// An incoming message as the store keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredIncoming {
    pub sbd: Sbd,
    pub service: ServiceIdentifier,
    pub received: Timestamp,
    pub expiry: Timestamp,
    /// Leased to a consumer (by a peek) until then.
    pub lease_until: Option<Timestamp>,
    /// The stored ASiC (a CMS envelope to us), relative to the data folder.
    pub asic: Option<String>,
}

impl StoredIncoming {
    pub fn message_id(&self) -> Option<MessageId> {
        self.sbd.message_id()
    }

    /// Whether a lease runs at `now`.
    pub fn leased(&self, now: Timestamp) -> bool {
        self.lease_until.is_some_and(|until| until > now)
    }
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
