//! Incoming messages: stored when they arrive, offered to consumers (find, peek
//! with a lease), removed when fetched (delete) or expired, each change with its
//! conversation's statuses and status replies in the same transaction.

use std::path::Path;

use crate::cached::Cached;
use efm_core::Timestamp;
use efm_core::api::{IncomingFilter, Pageable};
use efm_core::ids::MessageId;
use efm_core::node::{
    EXPIRED_DESCRIPTION, IncomingMessage, Loaded, StatusRecord, StatusReply, StoreError,
    StoredIncoming,
};
use efm_core::registry::model::ServiceIdentifier;
use efm_core::sbd::Sbd;
use efm_core::status::Status;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use crate::conversations::{Where, order_and_page, paged};
use crate::records::{self, ConversationRef};
use crate::sbd_cache::{Form, SbdCache};
use crate::{conflict_or_unavailable, incoming_asic, replies, unavailable};

const INCOMING: &str = "INCOMING";
const COLUMNS: &str = "sbd, service, received, expiry, lock_until, asic";

/// Store a received message (see `Write::CreateIncoming`).
pub(crate) fn create(
    conn: &mut Connection,
    data: &Path,
    m: &IncomingMessage,
    reply: Option<&StatusReply>,
) -> Result<(), StoreError> {
    let id = m
        .sbd
        .message_id()
        .ok_or_else(|| StoreError::Unavailable("an incoming message without a messageId".into()))?;
    let key = id.to_string();
    let tx = conn.transaction().map_err(unavailable)?;
    let known: bool = tx
        .row(
            "SELECT EXISTS (SELECT 1 FROM incoming_message WHERE message_id = ?1)
                 OR EXISTS (SELECT 1 FROM conversation WHERE message_id = ?1 AND direction = 'INCOMING')",
            params![key],
            |r| r.get(0),
        )
        .map_err(unavailable)?;
    if known {
        if let Some(f) = &m.asic {
            incoming_asic::discard_staged(data, f);
        }
        return Err(StoreError::Conflict);
    }
    let asic = match &m.asic {
        Some(f) => Some(incoming_asic::place(data, id, f)?),
        None => None,
    };
    let rows = || -> Result<(), StoreError> {
        let h = &m.sbd.header;
        tx.run(
            "INSERT INTO incoming_message (message_id, conversation_id, sbd, service, received, expiry,
                 asic, asic_size, process_identifier, sender_identifier, receiver_identifier)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                key,
                h.conversation_id().map(|c| c.to_string()),
                m.sbd.to_json_value().to_string(),
                m.service.as_str(),
                m.received.as_unix_millis(),
                m.expiry.as_unix_millis(),
                asic,
                m.asic.as_ref().map(|f| i64::try_from(f.size).unwrap_or(i64::MAX)),
                h.process(),
                h.sender.as_ref().map(|p| p.identifier.primary()),
                h.receiver.as_ref().map(|p| p.identifier.primary()),
            ],
        )
        .map_err(conflict_or_unavailable)?;
        let c = records::insert(&tx, &m.sbd, INCOMING, m.service, m.expiry, m.received)?;
        for status in [Status::Opprettet, Status::InnkommendeMottatt] {
            records::add_status(&tx, &c, &record(id, status, None, m.received))?;
        }
        if let Some(r) = reply {
            replies::enqueue(&tx, r, m.received)?;
        }
        Ok(())
    };
    let result = rows();
    let result = result.and_then(|()| tx.commit().map_err(unavailable));
    if result.is_err()
        && let Some(f) = &m.asic
    {
        incoming_asic::unplace(data, id, f);
    }
    result
}

fn record(
    message_id: MessageId,
    status: Status,
    description: Option<&str>,
    at: Timestamp,
) -> StatusRecord {
    StatusRecord {
        message_id,
        status,
        description: description.map(str::to_owned),
        at,
        queued: false,
    }
}

/// A message that arrived expired: its conversation with `OPPRETTET` and
/// `LEVETID_UTLOPT`; nothing else is kept.
pub(crate) fn record_expired(
    conn: &mut Connection,
    sbd: &Sbd,
    service: ServiceIdentifier,
    at: Timestamp,
) -> Result<(), StoreError> {
    let id = sbd
        .message_id()
        .ok_or_else(|| StoreError::Unavailable("an incoming message without a messageId".into()))?;
    let tx = conn.transaction().map_err(unavailable)?;
    let c = match records::find(&tx, &id.to_string(), INCOMING)? {
        Some(c) => c,
        None => {
            let expiry = sbd.header.expected_response().map_or(at, |d| d.timestamp());
            records::insert(&tx, sbd, INCOMING, service, expiry, at)?
        }
    };
    records::add_status(&tx, &c, &record(id, Status::Opprettet, None, at))?;
    records::add_status(
        &tx,
        &c,
        &record(id, Status::LevetidUtlopt, Some(EXPIRED_DESCRIPTION), at),
    )?;
    tx.commit().map_err(unavailable)
}

/// A row as read with [`COLUMNS`], before its SBD is parsed.
struct RawRow {
    sbd: String,
    service: String,
    received: i64,
    expiry: i64,
    lease: Option<i64>,
    asic: Option<String>,
}

fn stored(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        sbd: r.get(0)?,
        service: r.get(1)?,
        received: r.get(2)?,
        expiry: r.get(3)?,
        lease: r.get(4)?,
        asic: r.get(5)?,
    })
}

fn to_stored(sbds: &mut SbdCache, r: RawRow) -> Result<StoredIncoming, StoreError> {
    let sbd = sbds.parse(Form::Received, &r.sbd).map_err(|e| {
        StoreError::Unavailable(format!("a stored incoming SBD does not read back: {e}"))
    })?;
    Ok(StoredIncoming {
        sbd,
        service: ServiceIdentifier::from_name(&r.service),
        received: Timestamp::from_unix_millis(r.received),
        expiry: Timestamp::from_unix_millis(r.expiry),
        lease_until: r.lease.map(Timestamp::from_unix_millis),
        asic: r.asic,
    })
}

fn filtered(f: &IncomingFilter, now: Timestamp) -> Where {
    let mut w = Where::default();
    w.eq("conversation_id", &f.conversation_id);
    w.eq("message_id", &f.message_id);
    w.eq("receiver_identifier", &f.receiver_identifier);
    w.eq("sender_identifier", &f.sender_identifier);
    w.eq("service", &f.service_identifier.map(|s| s.as_str().to_owned()));
    w.eq("process_identifier", &f.process);
    // Expired messages are never offered, swept yet or not.
    w.with("expiry > ?", Value::Integer(now.as_unix_millis()));
    w
}

fn column(property: &str) -> Option<&'static str> {
    Some(match property {
        "id" => "rowid",
        "lastUpdated" => "received",
        "conversationId" => "conversation_id",
        "messageId" => "message_id",
        "processIdentifier" => "process_identifier",
        "receiverIdentifier" => "receiver_identifier",
        "senderIdentifier" => "sender_identifier",
        "serviceIdentifier" => "service",
        _ => return None,
    })
}

/// `GET /api/messages/in`: a page of SBDs, leased or not.
pub(crate) fn find(
    conn: &Connection,
    sbds: &mut SbdCache,
    f: &IncomingFilter,
    page: &Pageable,
    now: Timestamp,
) -> Result<Loaded, StoreError> {
    let w = filtered(f, now);
    // Unsorted pages, and ties, come in the order messages arrived.
    let order = order_and_page(page, column, "received ASC, rowid");
    let (texts, total) = paged(conn, "sbd", "FROM incoming_message", &w, order, |r| {
        r.get::<_, String>(0).map(Some)
    })?;
    let sbds = texts
        .iter()
        .map(|t| {
            sbds.parse(Form::Received, t).map_err(|e| {
                StoreError::Unavailable(format!("a stored incoming SBD does not read back: {e}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Loaded::IncomingMessages { sbds, total })
}

/// What a peek may lease: not expired, no lease running, oldest first.
pub(crate) fn leasable(
    conn: &Connection,
    sbds: &mut SbdCache,
    f: &IncomingFilter,
    now: Timestamp,
    limit: u32,
) -> Result<Loaded, StoreError> {
    let mut w = filtered(f, now);
    w.with("(lock_until IS NULL OR lock_until <= ?)", Value::Integer(now.as_unix_millis()));
    let sql = format!(
        "SELECT {COLUMNS} FROM incoming_message{} ORDER BY received, rowid LIMIT {limit}",
        w.sql()
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(unavailable)?;
    let rows = stmt
        .query_map(params_from_iter(&w.values), stored)
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    let rows = rows.into_iter().map(|r| to_stored(sbds, r)).collect::<Result<Vec<_>, _>>()?;
    Ok(Loaded::Leasable(rows))
}

pub(crate) fn one(
    conn: &Connection,
    sbds: &mut SbdCache,
    id: MessageId,
) -> Result<Loaded, StoreError> {
    let row = conn
        .row(
            &format!("SELECT {COLUMNS} FROM incoming_message WHERE message_id = ?1"),
            params![id.to_string()],
            stored,
        )
        .optional()
        .map_err(unavailable)?;
    let found = row.map(|r| to_stored(sbds, r)).transpose()?;
    Ok(Loaded::IncomingMessage(found.map(Box::new)))
}

/// Expired messages (oldest first), and the next expiry among the others.
pub(crate) fn expired(
    conn: &Connection,
    sbds: &mut SbdCache,
    now: Timestamp,
    limit: u32,
) -> Result<Loaded, StoreError> {
    let at = now.as_unix_millis();
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM incoming_message WHERE expiry <= ?1 ORDER BY expiry, rowid LIMIT ?2"
        ))
        .map_err(unavailable)?;
    let rows = stmt
        .query_map(params![at, limit], stored)
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    let due = rows.into_iter().map(|r| to_stored(sbds, r)).collect::<Result<Vec<_>, _>>()?;
    let next: Option<i64> = conn
        .row("SELECT MIN(expiry) FROM incoming_message WHERE expiry > ?1", params![at], |r| {
            r.get(0)
        })
        .map_err(unavailable)?;
    Ok(Loaded::ExpiredIncoming { due, next: next.map(Timestamp::from_unix_millis) })
}

/// Lease a message until `until`, if it is not expired and no lease runs.
pub(crate) fn lease(
    conn: &Connection,
    id: MessageId,
    now: Timestamp,
    until: Timestamp,
) -> Result<(), StoreError> {
    let n = conn
        .run(
            "UPDATE incoming_message SET lock_until = ?3
             WHERE message_id = ?1 AND expiry > ?2 AND (lock_until IS NULL OR lock_until <= ?2)",
            params![id.to_string(), now.as_unix_millis(), until.as_unix_millis()],
        )
        .map_err(unavailable)?;
    if n == 1 { Ok(()) } else { Err(StoreError::Conflict) }
}

/// Remove the message's row and record `status` (with its pushes) in one
/// transaction, then its ASiC. `only_expired_at`: remove it only if it has
/// expired by then. Whether a row was removed.
fn remove(
    conn: &mut Connection,
    data: &Path,
    status: &StatusRecord,
    only_expired_at: Option<Timestamp>,
    reply: Option<&StatusReply>,
) -> Result<bool, StoreError> {
    let key = status.message_id.to_string();
    let tx = conn.transaction().map_err(unavailable)?;
    let n = match only_expired_at {
        None => tx.run("DELETE FROM incoming_message WHERE message_id = ?1", params![key]),
        Some(at) => tx.run(
            "DELETE FROM incoming_message WHERE message_id = ?1 AND expiry <= ?2",
            params![key, at.as_unix_millis()],
        ),
    }
    .map_err(unavailable)?;
    if n == 0 {
        return Ok(false);
    }
    // A conversation deleted through the API takes no more statuses.
    let conversation: Option<ConversationRef> = records::find(&tx, &key, INCOMING)?;
    if let Some(c) = conversation {
        records::add_status(&tx, &c, status)?;
    }
    if let Some(r) = reply {
        replies::enqueue(&tx, r, status.at)?;
    }
    tx.commit().map_err(unavailable)?;
    incoming_asic::remove(data, status.message_id);
    Ok(true)
}

/// A message fetched by its consumer (see `Write::DeleteIncoming`).
pub(crate) fn delete(
    conn: &mut Connection,
    data: &Path,
    status: &StatusRecord,
    reply: Option<&StatusReply>,
) -> Result<(), StoreError> {
    if remove(conn, data, status, None, reply)? { Ok(()) } else { Err(StoreError::Conflict) }
}

/// A message whose time ran out (see `Write::ExpireIncoming`).
pub(crate) fn expire(
    conn: &mut Connection,
    data: &Path,
    status: &StatusRecord,
) -> Result<(), StoreError> {
    remove(conn, data, status, Some(status.at), None).map(|_| ())
}
