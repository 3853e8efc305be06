//! `Write`s, each applied whole or not at all, as `efm-store` applies them.

use std::collections::BTreeMap;

use bytes::Bytes;
use efm_core::Timestamp;
use efm_core::ids::MessageId;
use efm_core::node::{
    EXPIRED_DESCRIPTION, IncomingMessage, OutgoingMessage, StagedFile, StatusRecord, StatusReply,
    StoreError, StoredConversationKey, Write,
};
use efm_core::status::Status;

use super::{Change, InRow, MemStore, OutRow, ReplyRow, Table, WatchRow, unavailable};

/// SQLite's `LIMIT 1000` on one expiry round.
const EXPIRE_BATCH: usize = 1000;

impl MemStore {
    /// Carry out a write. `staging` is the node's staging folder, which
    /// `CreateIncoming` moves a file out of.
    pub fn persist(
        &mut self,
        w: &Write,
        staging: &mut BTreeMap<String, Bytes>,
    ) -> Result<(), StoreError> {
        match w {
            // The simulated fagsystems upload in memory; nothing is ever staged.
            Write::AddStagedFile { .. } => {
                Err(StoreError::Unavailable("the simulator stages no uploads".into()))
            }
            Write::CreateOutgoing { message, status } => self.create_outgoing(message, status),
            Write::DeleteConversations(key) => {
                let ids: Vec<i64> = match key {
                    StoredConversationKey::Id(id) => vec![*id],
                    StoredConversationKey::MessageId(m) => {
                        let m = m.to_string();
                        [false, true].iter().filter_map(|d| self.conv_of(&m, *d)).collect()
                    }
                };
                for id in ids {
                    self.remove_conversation(id);
                }
                Ok(())
            }
            Write::DeleteOutgoing(id) => {
                self.remove_outgoing(*id);
                Ok(())
            }
            Write::AddFile { message_id, file, content, conversation } => {
                let Some(m) = self.outgoing.get(message_id) else {
                    // The file row's foreign key: SQLite's constraint error.
                    return Err(StoreError::Conflict);
                };
                if m.files.iter().any(|(f, _)| f.filename == file.filename) {
                    return Err(StoreError::Conflict);
                }
                let path = format!("files/{message_id}/{}", m.files.len());
                self.blobs.insert(path.clone(), content.clone());
                if let Some(m) = self.outgoing.get_mut(message_id) {
                    m.files.push((file.clone(), path));
                }
                if let Some(c) = conversation
                    && let Some(conv) = self.conv_of(&message_id.to_string(), false)
                    && let Some(conv) = self.conversations.get_mut(&conv)
                {
                    conv.message_title = c.title.clone();
                    if c.reference.is_some() {
                        conv.message_reference = c.reference.clone();
                    }
                }
                Ok(())
            }
            Write::DequeueStatus(id) => {
                if let Some(s) = self.statuses.get_mut(id) {
                    s.queued = false;
                }
                Ok(())
            }
            Write::SaveSubscription { id, spec } => {
                let clash = self.subscriptions.iter().any(|(other, s)| {
                    Some(*other) != *id
                        && s.name == spec.name
                        && s.push_endpoint == spec.push_endpoint
                });
                if clash {
                    return Err(StoreError::Conflict);
                }
                match id {
                    None => {
                        let id = self.next_id(Table::Subscription);
                        self.subscriptions.insert(id, spec.clone());
                    }
                    Some(id) => {
                        if let Some(s) = self.subscriptions.get_mut(id) {
                            *s = spec.clone();
                        }
                    }
                }
                Ok(())
            }
            Write::DeleteSubscriptions(id) => {
                match id {
                    Some(id) => {
                        self.subscriptions.remove(id);
                    }
                    None => self.subscriptions.clear(),
                }
                Ok(())
            }
            Write::PushDone(id) => {
                self.pushes.remove(id);
                Ok(())
            }
            Write::PushRetry { id, at } => {
                if let Some(p) = self.pushes.get_mut(id) {
                    p.attempts += 1;
                    p.next_at = *at;
                }
                Ok(())
            }
            Write::QueueOutgoing { message_id, at } => {
                if let Some(m) = self.outgoing.get_mut(message_id)
                    && m.queued_at.is_none()
                {
                    m.queued_at = Some(*at);
                }
                Ok(())
            }
            Write::RecordOutgoingStatus(r) => {
                let conv = self.conv_of(&r.message_id.to_string(), false).ok_or_else(|| {
                    unavailable(format!("no OUTGOING conversation for {}", r.message_id))
                })?;
                self.add_status(conv, r);
                Ok(())
            }
            Write::CreateIncoming { message, reply } => {
                self.create_incoming(message, reply.as_ref(), staging)
            }
            Write::RecordIncomingExpired { sbd, service, at } => {
                let id = sbd
                    .message_id()
                    .ok_or_else(|| unavailable("an incoming message without a messageId"))?;
                let conv = match self.conv_of(&id.to_string(), true) {
                    Some(c) => c,
                    None => {
                        let expiry = sbd.header.expected_response().map_or(*at, |d| d.timestamp());
                        self.insert_conversation(sbd, true, *service, expiry, *at)?
                    }
                };
                self.add_status(conv, &record(id, Status::Opprettet, None, *at));
                self.add_status(
                    conv,
                    &record(id, Status::LevetidUtlopt, Some(EXPIRED_DESCRIPTION), *at),
                );
                Ok(())
            }
            Write::ReplyDone(id) => {
                self.replies.remove(id);
                Ok(())
            }
            Write::ReplyRetry { id, at } => {
                if let Some(r) = self.replies.get_mut(id) {
                    r.attempts += 1;
                    r.next_attempt = *at;
                }
                Ok(())
            }
            Write::LeaseIncoming { message_id, now, until } => {
                match self.incoming.get_mut(message_id) {
                    Some(m) if m.expiry > *now && m.lock_until.is_none_or(|l| l <= *now) => {
                        m.lock_until = Some(*until);
                        Ok(())
                    }
                    _ => Err(StoreError::Conflict),
                }
            }
            Write::DeleteIncoming { status, reply } => {
                if self.remove_incoming(status, None, reply.as_ref()) {
                    self.journal.push(Change::IncomingDelivered { message_id: status.message_id });
                    Ok(())
                } else {
                    Err(StoreError::Conflict)
                }
            }
            Write::ExpireIncoming(status) => {
                self.remove_incoming(status, Some(status.at), None);
                Ok(())
            }
            Write::HandOff(r) => {
                self.hand_off(r);
                Ok(())
            }
            Write::RetryOutgoing { message_id, at } => {
                if let Some(m) = self.outgoing.get_mut(message_id) {
                    m.attempts = m.attempts.saturating_add(1);
                    m.next_attempt = Some(*at);
                }
                Ok(())
            }
            Write::ExpireConversations { now } => {
                let expired: Vec<String> = self
                    .conversations
                    .values()
                    .filter(|c| !c.incoming && !c.finished && c.expiry.is_some_and(|e| e < *now))
                    .take(EXPIRE_BATCH)
                    .map(|c| c.message_id.clone())
                    .collect();
                for id in expired {
                    let Ok(message_id) = id.parse::<MessageId>() else { continue };
                    self.hand_off(&record(
                        message_id,
                        Status::LevetidUtlopt,
                        Some(EXPIRED_DESCRIPTION),
                        *now,
                    ));
                }
                Ok(())
            }
            Write::HandOffWatched { statuses, service, reference, next_poll } => {
                let Some(first) = statuses.first() else {
                    return Err(unavailable("a hand-off without a status"));
                };
                let message_id = first.message_id;
                let key = message_id.to_string();
                if let Some(conv) = self.conv_of(&key, false) {
                    for r in statuses {
                        self.add_status(conv, r);
                    }
                    let ended = self
                        .statuses_of(&key, false)
                        .iter()
                        .any(|s| matches!(s, Status::Lest | Status::Feil | Status::LevetidUtlopt));
                    if !ended {
                        self.watches.insert(
                            message_id,
                            WatchRow {
                                service: *service,
                                reference: reference.clone(),
                                handed_off: first.at,
                                next_poll: *next_poll,
                            },
                        );
                        if let Some(c) = self.conversations.get_mut(&conv) {
                            c.pollable = true;
                        }
                    }
                }
                self.remove_outgoing(message_id);
                Ok(())
            }
            Write::Watched { message_id, statuses, next_poll } => {
                if !self.watches.contains_key(message_id) {
                    return Ok(());
                }
                let conv = self.conv_of(&message_id.to_string(), false);
                if let Some(conv) = conv {
                    for r in statuses {
                        self.add_status(conv, r);
                    }
                }
                match next_poll {
                    Some(at) => {
                        if let Some(w) = self.watches.get_mut(message_id) {
                            w.next_poll = *at;
                        }
                    }
                    None => {
                        self.watches.remove(message_id);
                        if let Some(c) = conv.and_then(|c| self.conversations.get_mut(&c)) {
                            c.pollable = false;
                        }
                    }
                }
                Ok(())
            }
            Write::ApplyReceivedStatus(r) => {
                let key = r.message_id.to_string();
                let Some(conv) = self.conv_of(&key, false) else { return Ok(()) };
                let Some(c) = self.conversations.get(&conv) else { return Ok(()) };
                let moves_forward = if c.finished {
                    // After LEVERT, only the reading (or a failure to) is news.
                    matches!(r.status, Status::Lest | Status::Feil)
                        && !self.statuses_of(&key, false).iter().any(|s| {
                            matches!(s, Status::Lest | Status::Feil | Status::LevetidUtlopt)
                        })
                } else {
                    true
                };
                if moves_forward {
                    self.add_status(conv, r);
                }
                Ok(())
            }
        }
    }

    fn create_outgoing(
        &mut self,
        m: &OutgoingMessage,
        status: &StatusRecord,
    ) -> Result<(), StoreError> {
        let id = status.message_id;
        if self.outgoing.contains_key(&id) || self.conv_of(&id.to_string(), false).is_some() {
            return Err(StoreError::Conflict);
        }
        let conv = self.insert_conversation(&m.sbd, false, m.service, m.expiry, status.at)?;
        self.outgoing.insert(
            id,
            OutRow {
                sbd: m.sbd.clone(),
                request: m.request.clone(),
                created: m.created,
                expiry: m.expiry,
                service: m.service,
                queued_at: None,
                attempts: 0,
                next_attempt: None,
                files: Vec::new(),
            },
        );
        self.add_status(conv, status);
        Ok(())
    }

    fn create_incoming(
        &mut self,
        m: &IncomingMessage,
        reply: Option<&StatusReply>,
        staging: &mut BTreeMap<String, Bytes>,
    ) -> Result<(), StoreError> {
        let id = m
            .sbd
            .message_id()
            .ok_or_else(|| unavailable("an incoming message without a messageId"))?;
        let key = id.to_string();
        if self.incoming.contains_key(&id) || self.conv_of(&key, true).is_some() {
            if let Some(f) = &m.asic {
                staging.remove(&f.name);
            }
            return Err(StoreError::Conflict);
        }
        let asic = match &m.asic {
            Some(f) => Some(place(staging, f)?),
            None => None,
        };
        let conv = self.insert_conversation(&m.sbd, true, m.service, m.expiry, m.received)?;
        let path = asic.map(|content| {
            let path = format!("incoming/{key}/asic.cms");
            self.blobs.insert(path.clone(), content);
            path
        });
        let rowid = self.next_id(Table::IncomingRow);
        self.incoming.insert(
            id,
            InRow {
                rowid,
                sbd: m.sbd.clone(),
                service: m.service,
                received: m.received,
                expiry: m.expiry,
                lock_until: None,
                asic: path,
            },
        );
        for status in [Status::Opprettet, Status::InnkommendeMottatt] {
            self.add_status(conv, &record(id, status, None, m.received));
        }
        if let Some(r) = reply {
            self.enqueue_reply(r, m.received);
        }
        self.journal.push(Change::IncomingStored { message_id: id });
        Ok(())
    }

    fn enqueue_reply(&mut self, reply: &StatusReply, now: Timestamp) {
        let id = self.next_id(Table::Reply);
        self.replies.insert(
            id,
            ReplyRow {
                sbd: reply.sbd.clone(),
                service: reply.service,
                next_attempt: now,
                attempts: 0,
            },
        );
    }

    /// Remove the incoming message (only if expired by `only_expired_at`, when
    /// given), record `status` and queue `reply`; whether a row went.
    fn remove_incoming(
        &mut self,
        status: &StatusRecord,
        only_expired_at: Option<Timestamp>,
        reply: Option<&StatusReply>,
    ) -> bool {
        let id = status.message_id;
        let removable =
            self.incoming.get(&id).is_some_and(|m| only_expired_at.is_none_or(|at| m.expiry <= at));
        if !removable {
            return false;
        }
        let row = self.incoming.remove(&id);
        if let Some(conv) = self.conv_of(&id.to_string(), true) {
            self.add_status(conv, status);
        }
        if let Some(r) = reply {
            self.enqueue_reply(r, status.at);
        }
        if let Some(path) = row.and_then(|r| r.asic) {
            self.blobs.remove(&path);
        }
        true
    }

    /// `delivery::hand_off`: the status, and the message's row and files removed.
    /// As `delivery::hand_off`: an attempt's SENDT or FEIL after the receiver
    /// answered (a repeat of an attempt whose answer was lost) is not recorded.
    fn hand_off(&mut self, r: &StatusRecord) {
        let id = r.message_id.to_string();
        let received = self
            .statuses_of(&id, false)
            .iter()
            .any(|s| matches!(s, Status::Mottatt | Status::Levert | Status::Lest));
        if let Some(conv) = self.conv_of(&id, false)
            && !(matches!(r.status, Status::Sendt | Status::Feil) && received)
        {
            self.add_status(conv, r);
        }
        self.remove_outgoing(r.message_id);
    }
}

/// Move a staged file into the store: it must be there with the size announced.
fn place(staging: &mut BTreeMap<String, Bytes>, f: &StagedFile) -> Result<Bytes, StoreError> {
    let plain = !f.name.is_empty()
        && f.name != "."
        && f.name != ".."
        && !f.name.contains(['/', '\\', '\0']);
    if !plain {
        return Err(unavailable(format!("staged file {:?} is not a plain file name", f.name)));
    }
    let content = staging
        .get(&f.name)
        .ok_or_else(|| unavailable(format!("staged ASiC {}: no such file", f.name)))?;
    if content.len() as u64 != f.size {
        return Err(unavailable(format!(
            "staged ASiC {} holds {} bytes, not the {} announced",
            f.name,
            content.len(),
            f.size
        )));
    }
    Ok(staging.remove(&f.name).unwrap_or_default())
}

fn record(id: MessageId, status: Status, description: Option<&str>, at: Timestamp) -> StatusRecord {
    StatusRecord {
        message_id: id,
        status,
        description: description.map(str::to_owned),
        at,
        queued: false,
    }
}
