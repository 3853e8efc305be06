//! The simulated store: every `Query` and `Write` the node asks for, in memory,
//! with the semantics of `efm-store` (SQLite): a write is one transaction (it
//! applies whole or not at all), unique keys answer `Conflict` where SQLite's
//! constraints do, and a status a conversation already has is silently kept once.
//! What is in here is durable: a simulated crash loses only the work the store was
//! not yet asked to do (and the staging folder, as `Store::open` empties it).
//!
//! Every change the model cares about is also written to a journal, which the
//! simulator reads after each operation to check its invariants.

mod reads;
mod writes;

use std::collections::BTreeMap;

use bytes::Bytes;
use efm_core::Timestamp;
use efm_core::api::subscription::{StatusPush, SubscriptionSpec};
use efm_core::ids::MessageId;
use efm_core::node::{StatusRecord, StoreError, StoredFile};
use efm_core::registry::model::ServiceIdentifier;
use efm_core::sbd::{PartnerIdentifier, Sbd};
use efm_core::status::{Direction, Lifecycle, Outcome, Status};

/// A change the reference model checks.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A status row was added.
    StatusAdded { message_id: String, direction: Direction, status: Status },
    /// A received message was stored for the fagsystem.
    IncomingStored { message_id: MessageId },
    /// A received message was fetched (`DeleteIncoming`).
    IncomingDelivered { message_id: MessageId },
}

/// The tables with row ids of their own.
#[derive(Clone, Copy)]
pub(crate) enum Table {
    Conversation,
    Status,
    IncomingRow,
    Reply,
    Subscription,
    Push,
}

pub(crate) struct OutRow {
    pub sbd: Sbd,
    pub request: String,
    pub created: Timestamp,
    pub expiry: Timestamp,
    pub service: ServiceIdentifier,
    pub queued_at: Option<Timestamp>,
    pub attempts: u32,
    pub next_attempt: Option<Timestamp>,
    /// Each file with the blob that holds its content, in upload order.
    pub files: Vec<(StoredFile, String)>,
}

pub(crate) struct Conv {
    pub conversation_id: Option<String>,
    pub message_id: String,
    pub incoming: bool,
    pub sender: Option<String>,
    pub sender_identifier: Option<String>,
    pub receiver: Option<String>,
    pub receiver_identifier: Option<String>,
    pub process: Option<String>,
    pub document: Option<String>,
    pub service: ServiceIdentifier,
    pub message_reference: Option<String>,
    pub message_title: Option<String>,
    pub expiry: Option<Timestamp>,
    pub finished: bool,
    pub pollable: bool,
    pub last_update: Timestamp,
    /// Its status rows' ids, oldest first.
    pub statuses: Vec<i64>,
}

pub(crate) struct StatusRec {
    pub conv: i64,
    pub status: Status,
    pub description: Option<String>,
    pub at: Timestamp,
    pub queued: bool,
}

pub(crate) struct InRow {
    pub rowid: i64,
    pub sbd: Sbd,
    pub service: ServiceIdentifier,
    pub received: Timestamp,
    pub expiry: Timestamp,
    pub lock_until: Option<Timestamp>,
    pub asic: Option<String>,
}

pub(crate) struct ReplyRow {
    pub sbd: Sbd,
    pub service: ServiceIdentifier,
    pub next_attempt: Timestamp,
    pub attempts: u32,
}

/// `receipt_watch`: a handed-off message whose receipts are polled for.
pub(crate) struct WatchRow {
    pub service: ServiceIdentifier,
    pub reference: Option<String>,
    pub handed_off: Timestamp,
    pub next_poll: Timestamp,
}

pub(crate) struct PushRow {
    pub url: String,
    pub body: String,
    pub attempts: u32,
    pub next_at: Timestamp,
}

#[derive(Default)]
pub struct MemStore {
    pub(crate) outgoing: BTreeMap<MessageId, OutRow>,
    pub(crate) conversations: BTreeMap<i64, Conv>,
    /// (messageId, incoming) to the conversation's id: SQLite's UNIQUE (message_id,
    /// direction).
    pub(crate) conv_index: BTreeMap<(String, bool), i64>,
    pub(crate) statuses: BTreeMap<i64, StatusRec>,
    pub(crate) incoming: BTreeMap<MessageId, InRow>,
    pub(crate) replies: BTreeMap<i64, ReplyRow>,
    pub(crate) subscriptions: BTreeMap<i64, SubscriptionSpec>,
    pub(crate) pushes: BTreeMap<i64, PushRow>,
    pub(crate) watches: BTreeMap<MessageId, WatchRow>,
    /// File contents by their path under the data folder.
    pub(crate) blobs: BTreeMap<String, Bytes>,
    /// The last id of each table: AUTOINCREMENT, so ids are never reused and
    /// are the ones SQLite would give.
    ids: [i64; 6],
    pub journal: Vec<Change>,
}

/// SQLite's error for a missing row where one is needed.
pub(crate) fn unavailable(what: impl Into<String>) -> StoreError {
    StoreError::Unavailable(what.into())
}

/// The on-behalf-of organisation when there is one, else the primary identifier.
pub(crate) fn part_or_primary(id: &PartnerIdentifier) -> String {
    match id {
        PartnerIdentifier::Organization(o) => o.on_behalf_of().unwrap_or(o.org()).to_owned(),
        other => other.primary(),
    }
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// A fresh row id of `table`.
    pub(crate) fn next_id(&mut self, table: Table) -> i64 {
        let id = &mut self.ids[table as usize];
        *id += 1;
        *id
    }

    /// The conversation of `message_id` in a direction.
    pub(crate) fn conv_of(&self, message_id: &str, incoming: bool) -> Option<i64> {
        self.conv_index.get(&(message_id.to_owned(), incoming)).copied()
    }

    /// The statuses of a conversation, oldest first.
    pub fn statuses_of(&self, message_id: &str, incoming: bool) -> Vec<Status> {
        let Some(c) = self.conv_of(message_id, incoming).and_then(|c| self.conversations.get(&c))
        else {
            return Vec::new();
        };
        c.statuses.iter().filter_map(|s| self.statuses.get(s)).map(|s| s.status).collect()
    }

    /// The current status of every outgoing conversation.
    pub fn outgoing_current(&self) -> Vec<Status> {
        self.conversations
            .values()
            .filter(|c| !c.incoming)
            .filter_map(|c| {
                let history =
                    c.statuses.iter().filter_map(|s| self.statuses.get(s)).map(|s| s.status);
                let history: Vec<Status> = history.collect();
                history.first()?;
                Some(Lifecycle::replay(Direction::Outgoing, history.into_iter().skip(1)).current())
            })
            .collect()
    }

    pub fn has_conversation(&self, message_id: &str, incoming: bool) -> bool {
        self.conv_of(message_id, incoming).is_some()
    }

    /// Outgoing conversations that have not finished: (messageId, expiry).
    pub fn unfinished_outgoing(&self) -> Vec<(String, Option<Timestamp>)> {
        self.conversations
            .values()
            .filter(|c| !c.incoming && !c.finished)
            .map(|c| (c.message_id.clone(), c.expiry))
            .collect()
    }

    /// The expiry of the outgoing conversation of `message_id`.
    pub fn outgoing_expiry(&self, message_id: &str) -> Option<Timestamp> {
        self.conv_of(message_id, false)
            .and_then(|c| self.conversations.get(&c))
            .and_then(|c| c.expiry)
    }

    pub fn is_queued_or_gone(&self, id: MessageId) -> bool {
        self.outgoing.get(&id).is_none_or(|m| m.queued_at.is_some())
    }

    pub fn outgoing_has_file(&self, id: MessageId, filename: &str) -> bool {
        self.outgoing.get(&id).is_some_and(|m| m.files.iter().any(|(f, _)| f.filename == filename))
    }

    pub fn has_outgoing_row(&self, id: MessageId) -> bool {
        self.outgoing.contains_key(&id)
    }

    pub fn has_incoming(&self, id: MessageId) -> bool {
        self.incoming.contains_key(&id)
    }

    pub fn incoming_count(&self) -> usize {
        self.incoming.len()
    }

    pub fn reply_count(&self) -> usize {
        self.replies.len()
    }

    pub fn blob(&self, path: &str) -> Option<&Bytes> {
        self.blobs.get(path)
    }

    /// The content of an outgoing message's file.
    pub fn file_content(&self, id: MessageId, filename: &str) -> Option<Bytes> {
        let m = self.outgoing.get(&id)?;
        let (_, path) = m.files.iter().find(|(f, _)| f.filename == filename)?;
        self.blobs.get(path).cloned()
    }

    /// A new conversation for `sbd` (as `records::insert`); `Conflict` if the message
    /// has one in this direction.
    pub(crate) fn insert_conversation(
        &mut self,
        sbd: &Sbd,
        incoming: bool,
        service: ServiceIdentifier,
        expiry: Timestamp,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let message_id =
            sbd.message_id().ok_or_else(|| unavailable("a message without a messageId"))?;
        let key = (message_id.to_string(), incoming);
        if self.conv_index.contains_key(&key) {
            return Err(StoreError::Conflict);
        }
        let h = &sbd.header;
        let conversation_id = h.conversation_id().map(|c| c.to_string());
        let id = self.next_id(Table::Conversation);
        self.conversations.insert(
            id,
            Conv {
                message_reference: conversation_id.clone(),
                conversation_id,
                message_id: key.0.clone(),
                incoming,
                sender: h.sender.as_ref().map(|p| p.value.clone()),
                sender_identifier: h.sender.as_ref().map(|p| part_or_primary(&p.identifier)),
                receiver: h.receiver.as_ref().map(|p| p.value.clone()),
                receiver_identifier: h.receiver.as_ref().map(|p| p.identifier.primary()),
                process: h.process().map(str::to_owned),
                document: Some(sbd.standard().to_owned()),
                service,
                message_title: None,
                expiry: Some(expiry),
                finished: false,
                pollable: false,
                last_update: at,
                statuses: Vec::new(),
            },
        );
        self.conv_index.insert(key, id);
        Ok(id)
    }

    /// `records::add_status`: record `r` on conversation `conv` with its flags and
    /// pushes; a value the conversation has already changes nothing.
    pub(crate) fn add_status(&mut self, conv: i64, r: &StatusRecord) {
        let Some(c) = self.conversations.get(&conv) else { return };
        let history: Vec<Status> =
            c.statuses.iter().filter_map(|s| self.statuses.get(s)).map(|s| s.status).collect();
        if history.contains(&r.status) {
            return;
        }
        let direction = if c.incoming { Direction::Incoming } else { Direction::Outgoing };
        // A lifecycle starts at OPPRETTET, which every conversation's first row is.
        let outcome = if history.is_empty() {
            Outcome::Advanced
        } else {
            Lifecycle::replay(direction, history).apply(r.status)
        };
        // As `records::add_status`: what the lifecycle table would not record is
        // dropped, as a repeat is.
        if !outcome.is_recorded() {
            return;
        }
        let id = self.next_id(Table::Status);
        self.statuses.insert(
            id,
            StatusRec {
                conv,
                status: r.status,
                description: r.description.clone(),
                at: r.at,
                queued: r.queued,
            },
        );
        let finishing = matches!(
            r.status,
            Status::Levert
                | Status::Lest
                | Status::Feil
                | Status::LevetidUtlopt
                | Status::InnkommendeLevert
        );
        let ends_polling = finishing && r.status != Status::Levert;
        let Some(c) = self.conversations.get_mut(&conv) else { return };
        c.statuses.push(id);
        c.last_update = r.at;
        c.finished |= finishing;
        if ends_polling {
            c.pollable = false;
            if !c.incoming {
                self.watches.remove(&r.message_id);
            }
        }
        let (message_id, conversation_id, incoming, service) =
            (c.message_id.clone(), c.conversation_id.clone(), c.incoming, c.service);
        self.journal.push(Change::StatusAdded {
            message_id: message_id.clone(),
            direction,
            status: r.status,
        });
        let push = StatusPush {
            at: r.at,
            message_id: &message_id,
            conversation_id: conversation_id.as_deref(),
            direction: if incoming { "INCOMING" } else { "OUTGOING" },
            service: service.as_str(),
            status: r.status.name(),
            description: r.description.as_deref(),
        };
        let wanted: Vec<String> = self
            .subscriptions
            .values()
            .filter(|s| push.wanted_by(s))
            .map(|s| s.push_endpoint.clone())
            .collect();
        if !wanted.is_empty() {
            let body = push.body().to_string();
            for url in wanted {
                let id = self.next_id(Table::Push);
                self.pushes
                    .insert(id, PushRow { url, body: body.clone(), attempts: 0, next_at: r.at });
            }
        }
    }

    /// Remove a conversation and its statuses.
    pub(crate) fn remove_conversation(&mut self, id: i64) {
        if let Some(c) = self.conversations.remove(&id) {
            self.conv_index.remove(&(c.message_id, c.incoming));
            for s in c.statuses {
                self.statuses.remove(&s);
            }
        }
    }

    /// Remove an outgoing message's row and files.
    pub(crate) fn remove_outgoing(&mut self, id: MessageId) {
        if let Some(m) = self.outgoing.remove(&id) {
            for (_, path) in m.files {
                self.blobs.remove(&path);
            }
        }
    }
}
