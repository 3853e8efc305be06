//! The sending queue: queued outgoing messages, when they are due, and the writes
//! that record a delivery's outcome.

use std::path::Path;

use crate::cached::Cached;
use efm_core::Timestamp;
use efm_core::ids::MessageId;
use efm_core::node::{Loaded, StatusRecord, StoreError};
use efm_core::status::Status;
use rusqlite::{Connection, params};

use crate::{Store, files, records, unavailable};

/// Queued messages whose attempt is due, oldest first.
pub(crate) fn due(
    store: &mut Store,
    now: Timestamp,
    limit: u32,
    skip: &[MessageId],
) -> Result<Loaded, StoreError> {
    let skip: Vec<String> = skip.iter().map(ToString::to_string).collect();
    let now_ms = now.as_unix_millis();
    // Enough rows for `limit` messages not skipped, and one more that says when
    // the next is due; not the whole queue, which a backlog makes long and every
    // finished delivery looks at again.
    let rows_wanted = i64::from(limit).saturating_add(skip.len() as i64).saturating_add(1);
    let rows: Vec<(String, i64, i64)> = {
        let mut stmt = store
            .conn
            .prepare_cached(
                "SELECT message_id, attempts, COALESCE(next_attempt, queued_at) AS due
                 FROM outgoing_message WHERE queued_at IS NOT NULL
                 ORDER BY COALESCE(next_attempt, queued_at), message_id LIMIT ?1",
            )
            .map_err(unavailable)?;
        stmt.query_map(params![rows_wanted], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(unavailable)?
            .collect::<Result<_, _>>()
            .map_err(unavailable)?
    };
    let mut due = Vec::new();
    let mut next = None;
    for (id, attempts, at) in rows.into_iter().filter(|r| !skip.contains(&r.0)) {
        if at > now_ms {
            next = Some(Timestamp::from_unix_millis(at));
            break;
        }
        if due.len() >= limit as usize {
            // More are due than asked for: the next look is due at once.
            next = Some(now);
            break;
        }
        let Ok(message_id) = id.parse::<MessageId>() else { continue };
        if let Some(m) = store.outgoing(message_id)? {
            due.push((*m, u32::try_from(attempts).unwrap_or(u32::MAX)));
        }
    }
    Ok(Loaded::DueOutgoing { due, next })
}

/// The message leaves the queue: its status, and its row and files removed.
pub(crate) fn hand_off(
    conn: &mut Connection,
    dir: &Path,
    record: &StatusRecord,
) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(unavailable)?;
    let id = record.message_id.to_string();
    if let Some(conversation) = records::find(&tx, &id, "OUTGOING")?
        && !(matches!(record.status, Status::Sendt | Status::Feil)
            && received(&tx, conversation.id)?)
    {
        records::add_status(&tx, &conversation, record)?;
    }
    remove_queued(&tx, &id)?;
    tx.commit().map_err(unavailable)?;
    // The rows are gone: the files are garbage now, and a crash before they are
    // removed leaves only that.
    files::remove(dir, record.message_id)
}

/// Whether the receiver has answered for the message already (MOTTATT, LEVERT or
/// LEST). A delivery attempt's outcome can come after that: an earlier attempt
/// reached the receiver but its answer was lost, and this one was a repeat. Its
/// SENDT (or FEIL) would then move the conversation backwards, so it is not
/// recorded; the message leaves the queue all the same.
fn received(tx: &rusqlite::Transaction<'_>, conversation: i64) -> Result<bool, StoreError> {
    tx.row(
        "SELECT EXISTS (SELECT 1 FROM message_status
             WHERE conversation = ?1 AND status IN ('MOTTATT', 'LEVERT', 'LEST'))",
        params![conversation],
        |r| r.get(0),
    )
    .map_err(unavailable)
}

pub(crate) fn retry(
    conn: &Connection,
    message_id: MessageId,
    at: Timestamp,
) -> Result<(), StoreError> {
    conn.run(
        "UPDATE outgoing_message SET attempts = attempts + 1, next_attempt = ?2
         WHERE message_id = ?1",
        params![message_id.to_string(), at.as_unix_millis()],
    )
    .map_err(unavailable)?;
    Ok(())
}

/// The queued message's rows (its files on disk are removed after the commit).
pub(crate) fn remove_queued(tx: &rusqlite::Transaction<'_>, id: &str) -> Result<(), StoreError> {
    tx.run("DELETE FROM outgoing_file WHERE message_id = ?1", params![id]).map_err(unavailable)?;
    tx.run("DELETE FROM outgoing_message WHERE message_id = ?1", params![id])
        .map_err(unavailable)?;
    Ok(())
}

/// LEVETID_UTLOPT for every unfinished outgoing conversation past its expiry
/// (incoming ones have their own sweep, which also drops their payload).
pub(crate) fn expire(conn: &mut Connection, dir: &Path, now: Timestamp) -> Result<(), StoreError> {
    let expired: Vec<String> = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT message_id FROM conversation
                 WHERE direction = 'OUTGOING' AND finished = 0
                   AND expiry IS NOT NULL AND expiry < ?1
                 LIMIT 1000",
            )
            .map_err(unavailable)?;
        stmt.query_map(params![now.as_unix_millis()], |r| r.get(0))
            .map_err(unavailable)?
            .collect::<Result<_, _>>()
            .map_err(unavailable)?
    };
    for id in expired {
        let Ok(message_id) = id.parse::<MessageId>() else { continue };
        let record = StatusRecord {
            message_id,
            status: Status::LevetidUtlopt,
            description: Some(efm_core::node::EXPIRED_DESCRIPTION.to_owned()),
            at: now,
            queued: false,
        };
        hand_off(conn, dir, &record)?;
    }
    Ok(())
}

/// A status from the receiving side, if it moves the conversation forward.
pub(crate) fn apply_received(
    conn: &mut Connection,
    record: &StatusRecord,
) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(unavailable)?;
    let finished: Option<bool> = tx
        .row(
            "SELECT finished FROM conversation WHERE message_id = ?1 AND direction = 'OUTGOING'",
            params![record.message_id.to_string()],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(unavailable)?;
    let moves_forward = match (finished, record.status) {
        (None, _) => false,
        // After LEVERT, only the reading (or a failure to) is news.
        (Some(true), Status::Lest | Status::Feil) => !has_final(&tx, record.message_id)?,
        (Some(true), _) => false,
        (Some(false), _) => true,
    };
    if moves_forward
        && let Some(conversation) = records::find(&tx, &record.message_id.to_string(), "OUTGOING")?
    {
        records::add_status(&tx, &conversation, record)?;
    }
    tx.commit().map_err(unavailable)
}

/// Whether the conversation already ended in LEST, FEIL or LEVETID_UTLOPT.
pub(crate) fn has_final(
    tx: &rusqlite::Transaction<'_>,
    message_id: MessageId,
) -> Result<bool, StoreError> {
    tx.row(
        "SELECT COUNT(*) FROM message_status s JOIN conversation c ON s.conversation = c.id
         WHERE c.message_id = ?1 AND c.direction = 'OUTGOING'
           AND s.status IN ('LEST', 'FEIL', 'LEVETID_UTLOPT')",
        params![message_id.to_string()],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .map_err(unavailable)
}
