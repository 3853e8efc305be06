//! Watches: handed-off messages whose receipts are polled for (DPV, DPF, DPI). A
//! watch row is written with the hand-off and goes when the conversation ends
//! (`records::add_status`) or its service has nothing more to tell.

use std::path::Path;

use crate::cached::Cached;
use efm_core::Timestamp;
use efm_core::ids::MessageId;
use efm_core::node::{Loaded, StatusRecord, StoreError, Watch};
use efm_core::registry::model::ServiceIdentifier;
use rusqlite::{Connection, OptionalExtension, params};

use crate::{delivery, records, unavailable};

/// Watches of `service` due at `now`, soonest first, and when the next is due.
pub(crate) fn due(
    conn: &Connection,
    service: ServiceIdentifier,
    now: Timestamp,
    limit: u32,
    skip: &[MessageId],
) -> Result<Loaded, StoreError> {
    let skip: Vec<String> = skip.iter().map(ToString::to_string).collect();
    let mut stmt = conn
        .prepare_cached(
            "SELECT w.message_id, c.conversation_id, c.sender_identifier, c.receiver_identifier,
                    w.reference, w.handed_off, w.next_poll
             FROM receipt_watch w
             JOIN conversation c ON c.message_id = w.message_id AND c.direction = 'OUTGOING'
             WHERE w.service = ?1
             ORDER BY w.next_poll, w.message_id
             LIMIT ?2",
        )
        .map_err(unavailable)?;
    // Enough rows to skip those being polled and still see the next one due.
    let wanted = i64::from(limit) + i64::try_from(skip.len()).unwrap_or(i64::MAX / 2) + 1;
    let rows = stmt
        .query_map(params![service.as_str(), wanted], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    let mut due = Vec::new();
    let mut next = None;
    for (id, conversation_id, sender, receiver, reference, handed_off, next_poll) in rows {
        if skip.contains(&id) {
            continue;
        }
        let next_poll = Timestamp::from_unix_millis(next_poll);
        if next_poll > now {
            next = Some(next_poll);
            break;
        }
        if due.len() >= limit as usize {
            next = Some(now);
            break;
        }
        let Ok(message_id) = id.parse::<MessageId>() else { continue };
        due.push(Watch {
            message_id,
            conversation_id: conversation_id.and_then(|c| c.parse().ok()),
            service,
            sender: sender.unwrap_or_default(),
            receiver: receiver.unwrap_or_default(),
            reference,
            handed_off: Timestamp::from_unix_millis(handed_off),
            next_poll,
        });
    }
    Ok(Loaded::Watches { due, next })
}

/// `Write::HandOffWatched`: the hand-off and the watch, in one transaction.
pub(crate) fn hand_off(
    conn: &mut Connection,
    dir: &Path,
    statuses: &[StatusRecord],
    service: ServiceIdentifier,
    reference: Option<&str>,
    next_poll: Timestamp,
) -> Result<(), StoreError> {
    let Some(first) = statuses.first() else {
        return Err(StoreError::Unavailable("a hand-off without a status".into()));
    };
    let message_id = first.message_id;
    let id = message_id.to_string();
    let tx = conn.transaction().map_err(unavailable)?;
    if let Some(conversation) = records::find(&tx, &id, "OUTGOING")? {
        for record in statuses {
            records::add_status(&tx, &conversation, record)?;
        }
        if !delivery::has_final(&tx, message_id)? {
            tx.run(
                "INSERT OR REPLACE INTO receipt_watch (message_id, service, reference, handed_off, next_poll)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, service.as_str(), reference, first.at.as_unix_millis(), next_poll.as_unix_millis()],
            )
            .map_err(unavailable)?;
            tx.run("UPDATE conversation SET pollable = 1 WHERE id = ?1", params![conversation.id])
                .map_err(unavailable)?;
        }
    }
    delivery::remove_queued(&tx, &id)?;
    tx.commit().map_err(unavailable)?;
    crate::files::remove(dir, message_id)
}

/// `Write::Watched`: what a poll told, and the next poll or the end of the watch.
pub(crate) fn polled(
    conn: &mut Connection,
    message_id: MessageId,
    statuses: &[StatusRecord],
    next_poll: Option<Timestamp>,
) -> Result<(), StoreError> {
    let id = message_id.to_string();
    let tx = conn.transaction().map_err(unavailable)?;
    let watched: Option<i64> = tx
        .row("SELECT 1 FROM receipt_watch WHERE message_id = ?1", params![id], |r| r.get(0))
        .optional()
        .map_err(unavailable)?;
    if watched.is_none() {
        return Ok(());
    }
    let conversation = records::find(&tx, &id, "OUTGOING")?;
    if let Some(conversation) = &conversation {
        for record in statuses {
            records::add_status(&tx, conversation, record)?;
        }
    }
    match next_poll {
        Some(at) => {
            tx.run(
                "UPDATE receipt_watch SET next_poll = ?2 WHERE message_id = ?1",
                params![id, at.as_unix_millis()],
            )
            .map_err(unavailable)?;
        }
        None => {
            tx.run("DELETE FROM receipt_watch WHERE message_id = ?1", params![id])
                .map_err(unavailable)?;
            if let Some(conversation) = &conversation {
                tx.run(
                    "UPDATE conversation SET pollable = 0 WHERE id = ?1",
                    params![conversation.id],
                )
                .map_err(unavailable)?;
            }
        }
    }
    tx.commit().map_err(unavailable)
}
