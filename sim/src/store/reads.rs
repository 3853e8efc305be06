//! `Query`s, answered as `efm-store` answers them: the same rows, the same order
//! (the default order of each listing; sort parameters are not modelled), the same
//! paging.

use efm_core::Timestamp;
use efm_core::api::subscription::Subscription;
use efm_core::api::{ConversationFilter, IncomingFilter, OutgoingFilter, Pageable, StatusFilter};
use efm_core::ids::MessageId;
use efm_core::node::{
    ConversationRow, Loaded, OutgoingMessage, Push, Query, StatusReply, StatusRow, StoreError,
    StoredConversationKey, StoredIncoming, Watch,
};
use efm_core::registry::model::ServiceIdentifier;
use efm_core::sbd::oslo_midnight;
use efm_core::status::{Direction, Lifecycle};

use super::{Conv, InRow, MemStore};

fn page_of<T>(items: Vec<T>, page: &Pageable) -> (Vec<T>, u64) {
    let total = items.len() as u64;
    let offset = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    let rows = items.into_iter().skip(offset).take(page.size as usize).collect();
    (rows, total)
}

fn eq(filter: &Option<String>, value: Option<&str>) -> bool {
    filter.as_deref().is_none_or(|f| value == Some(f))
}

impl MemStore {
    /// Carry out a read.
    pub fn load(&self, q: &Query) -> Result<Loaded, StoreError> {
        Ok(match q {
            // The simulated fagsystems upload in memory; nothing is ever staged.
            Query::StagedContent { .. } => {
                return Err(StoreError::Unavailable("the simulator stages no uploads".into()));
            }
            Query::OutgoingMessage(id) => {
                Loaded::OutgoingMessage(self.outgoing_message(*id).map(Box::new))
            }
            Query::Statuses { filter, page } => {
                let (rows, total) = page_of(self.status_rows(filter), page);
                Loaded::Statuses { rows, total }
            }
            Query::Conversations { filter, page } => {
                let matching: Vec<i64> = self
                    .conversations
                    .iter()
                    .filter(|(_, c)| conversation_matches(c, filter))
                    .map(|(id, _)| *id)
                    .collect();
                let (ids, total) = page_of(matching, page);
                let rows = ids.into_iter().filter_map(|id| self.conversation_row(id)).collect();
                Loaded::Conversations { rows, total }
            }
            Query::OutgoingConversation(key) => {
                let id = match key {
                    StoredConversationKey::Id(id) => {
                        self.conversations.get(id).filter(|c| !c.incoming).map(|_| *id)
                    }
                    StoredConversationKey::MessageId(m) => self.conv_of(&m.to_string(), false),
                };
                Loaded::Conversation(id.and_then(|id| self.conversation_row(id)).map(Box::new))
            }
            Query::Health => Loaded::Health {
                outgoing: self.outgoing.len() as u64,
                incoming: self.incoming.len() as u64,
                pollable: self.conversations.values().filter(|c| c.pollable).count() as u64,
            },
            Query::FileContent { message_id, filename } => {
                Loaded::FileContent(self.file_content(*message_id, filename))
            }
            Query::DuePushes { now, limit } => {
                let due = self
                    .pushes
                    .iter()
                    .filter(|(_, p)| p.next_at <= *now)
                    .take(*limit as usize)
                    .map(|(id, p)| Push {
                        id: *id,
                        url: p.url.clone(),
                        body: p.body.clone(),
                        attempts: p.attempts,
                    })
                    .collect();
                let next = self.pushes.values().map(|p| p.next_at).filter(|t| t > now).min();
                Loaded::Pushes { due, next }
            }
            Query::Subscriptions { page } => {
                let all: Vec<Subscription> = self
                    .subscriptions
                    .iter()
                    .map(|(id, spec)| Subscription { id: *id, spec: spec.clone() })
                    .collect();
                let (rows, total) = page_of(all, page);
                Loaded::Subscriptions { rows, total }
            }
            Query::Subscription(id) => Loaded::Subscription(
                self.subscriptions.get(id).map(|spec| Subscription { id: *id, spec: spec.clone() }),
            ),
            Query::SubscriptionNamed { name, push_endpoint } => Loaded::Subscription(
                self.subscriptions
                    .iter()
                    .find(|(_, s)| &s.name == name && &s.push_endpoint == push_endpoint)
                    .map(|(id, spec)| Subscription { id: *id, spec: spec.clone() }),
            ),
            Query::PeekStatus => Loaded::Status(self.queued_status(None)),
            Query::QueuedStatus(id) => Loaded::Status(self.queued_status(Some(*id))),
            Query::OutgoingMessages { filter, page } => {
                let matching: Vec<_> = self
                    .outgoing
                    .iter()
                    .filter(|(id, m)| {
                        self.outgoing_matches(**id, m.sbd.header.conversation_id(), filter)
                    })
                    .map(|(_, m)| m.sbd.clone())
                    .collect();
                let (sbds, total) = page_of(matching, page);
                Loaded::OutgoingMessages { sbds, total }
            }
            Query::DueReplies { now, limit } => {
                let due = self
                    .replies
                    .iter()
                    .filter(|(_, r)| r.next_attempt <= *now)
                    .take(*limit as usize)
                    .map(|(id, r)| {
                        (*id, StatusReply { sbd: r.sbd.clone(), service: r.service }, r.attempts)
                    })
                    .collect();
                let next = self.replies.values().map(|r| r.next_attempt).filter(|t| t > now).min();
                Loaded::Replies { due, next }
            }
            Query::IncomingMessages { filter, page, now } => {
                let mut rows: Vec<&InRow> = self
                    .incoming
                    .values()
                    .filter(|m| m.expiry > *now && incoming_matches(m, filter))
                    .collect();
                rows.sort_by_key(|m| (m.received, m.rowid));
                let (rows, total) = page_of(rows, page);
                Loaded::IncomingMessages {
                    sbds: rows.into_iter().map(|m| m.sbd.clone()).collect(),
                    total,
                }
            }
            Query::LeasableIncoming { filter, now, limit } => {
                let mut rows: Vec<&InRow> = self
                    .incoming
                    .values()
                    .filter(|m| {
                        m.expiry > *now
                            && m.lock_until.is_none_or(|l| l <= *now)
                            && incoming_matches(m, filter)
                    })
                    .collect();
                rows.sort_by_key(|m| (m.received, m.rowid));
                Loaded::Leasable(rows.into_iter().take(*limit as usize).map(stored).collect())
            }
            Query::IncomingMessage(id) => {
                Loaded::IncomingMessage(self.incoming.get(id).map(|m| Box::new(stored(m))))
            }
            Query::ExpiredIncoming { now, limit } => {
                let mut rows: Vec<&InRow> =
                    self.incoming.values().filter(|m| m.expiry <= *now).collect();
                rows.sort_by_key(|m| (m.expiry, m.rowid));
                let due = rows.into_iter().take(*limit as usize).map(stored).collect();
                let next = self.incoming.values().map(|m| m.expiry).filter(|e| e > now).min();
                Loaded::ExpiredIncoming { due, next }
            }
            Query::DueOutgoing { now, limit, skip } => self.due_outgoing(*now, *limit, skip),
            Query::DueWatches { service, now, limit, skip } => {
                self.due_watches(*service, *now, *limit, skip)
            }
        })
    }

    fn outgoing_message(&self, id: MessageId) -> Option<OutgoingMessage> {
        let m = self.outgoing.get(&id)?;
        let history = self.statuses_of(&id.to_string(), false);
        Some(OutgoingMessage {
            sbd: m.sbd.clone(),
            request: m.request.clone(),
            created: m.created,
            expiry: m.expiry,
            service: m.service,
            files: m.files.iter().map(|(f, _)| f.clone()).collect(),
            queued: m.queued_at,
            lifecycle: Lifecycle::replay(Direction::Outgoing, history),
        })
    }

    /// `delivery::due`: queued messages whose attempt is due, oldest first.
    fn due_outgoing(&self, now: Timestamp, limit: u32, skip: &[MessageId]) -> Loaded {
        let mut rows: Vec<(Timestamp, String, MessageId, u32)> = self
            .outgoing
            .iter()
            .filter_map(|(id, m)| {
                let queued = m.queued_at?;
                Some((m.next_attempt.unwrap_or(queued), id.to_string(), *id, m.attempts))
            })
            .filter(|r| !skip.contains(&r.2))
            .collect();
        rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut due = Vec::new();
        let mut next = None;
        for (at, _, id, attempts) in rows {
            if at > now {
                next = Some(at);
                break;
            }
            if due.len() >= limit as usize {
                next = Some(now);
                break;
            }
            if let Some(m) = self.outgoing_message(id) {
                due.push((m, attempts));
            }
        }
        Loaded::DueOutgoing { due, next }
    }

    /// `watches::due`: watches of `service` due at `now`, soonest first.
    fn due_watches(
        &self,
        service: ServiceIdentifier,
        now: Timestamp,
        limit: u32,
        skip: &[MessageId],
    ) -> Loaded {
        let mut rows: Vec<(Timestamp, String, MessageId)> = self
            .watches
            .iter()
            .filter(|(id, w)| w.service == service && !skip.contains(id))
            // The SQL joins the outgoing conversation.
            .filter(|(id, _)| self.conv_of(&id.to_string(), false).is_some())
            .map(|(id, w)| (w.next_poll, id.to_string(), *id))
            .collect();
        rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut due = Vec::new();
        let mut next = None;
        for (at, key, id) in rows {
            if at > now {
                next = Some(at);
                break;
            }
            if due.len() >= limit as usize {
                next = Some(now);
                break;
            }
            let (Some(w), Some(c)) = (
                self.watches.get(&id),
                self.conv_of(&key, false).and_then(|c| self.conversations.get(&c)),
            ) else {
                continue;
            };
            due.push(Watch {
                message_id: id,
                conversation_id: c.conversation_id.as_deref().and_then(|c| c.parse().ok()),
                service,
                sender: c.sender_identifier.clone().unwrap_or_default(),
                receiver: c.receiver_identifier.clone().unwrap_or_default(),
                reference: w.reference.clone(),
                handed_off: w.handed_off,
                next_poll: w.next_poll,
            });
        }
        Loaded::Watches { due, next }
    }

    fn status_row(&self, id: i64) -> Option<StatusRow> {
        let s = self.statuses.get(&id)?;
        let c = self.conversations.get(&s.conv)?;
        Some(StatusRow {
            id,
            conv_id: s.conv,
            conversation_id: c.conversation_id.clone(),
            message_id: c.message_id.clone(),
            status: s.status,
            description: s.description.clone(),
            raw_receipt: None,
            last_update: s.at,
        })
    }

    fn status_rows(&self, f: &StatusFilter) -> Vec<StatusRow> {
        self.statuses
            .keys()
            .filter_map(|id| self.status_row(*id))
            .filter(|r| {
                f.id.is_none_or(|id| r.id == id)
                    && eq(&f.conversation_id, r.conversation_id.as_deref())
                    && eq(&f.message_id, Some(&r.message_id))
                    && eq(&f.status, Some(r.status.name()))
                    && f.between
                        .is_none_or(|(from, to)| from <= r.last_update && r.last_update <= to)
            })
            .collect()
    }

    fn queued_status(&self, id: Option<i64>) -> Option<StatusRow> {
        self.statuses
            .iter()
            .filter(|(sid, s)| s.queued && id.is_none_or(|id| id == **sid))
            .find_map(|(sid, _)| self.status_row(*sid))
    }

    fn conversation_row(&self, id: i64) -> Option<ConversationRow> {
        let c = self.conversations.get(&id)?;
        Some(ConversationRow {
            id,
            conversation_id: c.conversation_id.clone(),
            message_id: c.message_id.clone(),
            sender: c.sender.clone(),
            sender_identifier: c.sender_identifier.clone(),
            receiver: c.receiver.clone(),
            receiver_identifier: c.receiver_identifier.clone(),
            process_identifier: c.process.clone(),
            document_identifier: c.document.clone(),
            message_reference: c.message_reference.clone(),
            message_title: c.message_title.clone(),
            last_update: c.last_update,
            finished: c.finished,
            expiry: c.expiry,
            direction: if c.incoming { Direction::Incoming } else { Direction::Outgoing },
            service_identifier: c.service,
            statuses: c.statuses.iter().filter_map(|s| self.status_row(*s)).collect(),
        })
    }

    fn outgoing_matches(
        &self,
        id: MessageId,
        conversation_id: Option<efm_core::ids::ConversationId>,
        f: &OutgoingFilter,
    ) -> bool {
        let key = id.to_string();
        let conv = self.conv_of(&key, false).and_then(|c| self.conversations.get(&c));
        let service = self.outgoing.get(&id).map(|m| m.service.as_str());
        eq(&f.conversation_id, conversation_id.map(|c| c.to_string()).as_deref())
            && eq(&f.message_id, Some(&key))
            && eq(&f.process_identifier, conv.and_then(|c| c.process.as_deref()))
            && eq(&f.receiver_identifier, conv.and_then(|c| c.receiver_identifier.as_deref()))
            && eq(&f.sender_identifier, conv.and_then(|c| c.sender_identifier.as_deref()))
            && f.service_identifier.is_none_or(|s| Some(s.as_str()) == service)
    }
}

fn conversation_matches(c: &Conv, f: &ConversationFilter) -> bool {
    eq(&f.conversation_id, c.conversation_id.as_deref())
        && eq(&f.message_id, Some(&c.message_id))
        && eq(&f.receiver, c.receiver.as_deref())
        && eq(&f.receiver_identifier, c.receiver_identifier.as_deref())
        && eq(&f.sender, c.sender.as_deref())
        && eq(&f.sender_identifier, c.sender_identifier.as_deref())
        && f.service_identifier.is_none_or(|s| s == c.service)
        && eq(&f.message_reference, c.message_reference.as_deref())
        && eq(&f.message_title, c.message_title.as_deref())
        && f.pollable.is_none_or(|p| p == c.pollable)
        && f.finished.is_none_or(|p| p == c.finished)
        && f.direction.is_none_or(|d| (d == Direction::Incoming) == c.incoming)
        && f.last_update_from.is_none_or(|d| c.last_update >= oslo_midnight(d))
        && f.last_update_to
            .is_none_or(|d| d.next_day().is_none_or(|n| c.last_update < oslo_midnight(n)))
}

fn incoming_matches(m: &InRow, f: &IncomingFilter) -> bool {
    let h = &m.sbd.header;
    eq(&f.conversation_id, h.conversation_id().map(|c| c.to_string()).as_deref())
        && eq(&f.message_id, m.sbd.message_id().map(|c| c.to_string()).as_deref())
        && eq(
            &f.receiver_identifier,
            h.receiver.as_ref().map(|p| p.identifier.primary()).as_deref(),
        )
        && eq(&f.sender_identifier, h.sender.as_ref().map(|p| p.identifier.primary()).as_deref())
        && f.service_identifier.is_none_or(|s| s == m.service)
        && eq(&f.process, h.process())
}

fn stored(m: &InRow) -> StoredIncoming {
    StoredIncoming {
        sbd: m.sbd.clone(),
        service: m.service,
        received: m.received,
        expiry: m.expiry,
        lease_until: m.lock_until,
        asic: m.asic.clone(),
    }
}
