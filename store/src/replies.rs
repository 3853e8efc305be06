//! The outbox of status replies: the MOTTATT and LEVERT status SBDs an integration
//! point sends back to the senders of the messages it receives. A reply is added in
//! the transaction that records what it tells of, so none is lost to a crash.

use crate::cached::Cached;
use efm_core::Timestamp;
use efm_core::node::{Loaded, StatusReply, StoreError};
use efm_core::registry::model::ServiceIdentifier;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::sbd_cache::{Form, SbdCache};
use crate::unavailable;

/// Queue `reply`, due at once (`now`).
pub(crate) fn enqueue(
    tx: &Transaction<'_>,
    reply: &StatusReply,
    now: Timestamp,
) -> Result<(), StoreError> {
    tx.run(
        "INSERT INTO status_reply (sbd, service, created, next_attempt) VALUES (?1, ?2, ?3, ?3)",
        params![
            reply.sbd.to_json_value().to_string(),
            reply.service.as_str(),
            now.as_unix_millis()
        ],
    )
    .map(|_| ())
    .map_err(unavailable)
}

pub(crate) fn due(
    conn: &Connection,
    sbds: &mut SbdCache,
    now: Timestamp,
    limit: u32,
) -> Result<Loaded, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, sbd, service, attempts FROM status_reply
             WHERE next_attempt <= ?1 ORDER BY id LIMIT ?2",
        )
        .map_err(unavailable)?;
    let rows = stmt
        .query_map(params![now.as_unix_millis(), limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?.clamp(0, i64::from(u32::MAX)) as u32,
            ))
        })
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    let mut due = Vec::with_capacity(rows.len());
    for (id, sbd, service, attempts) in rows {
        let sbd = sbds.parse(Form::Created, &sbd).map_err(|e| {
            StoreError::Unavailable(format!("status reply {id} does not read back: {e}"))
        })?;
        let service = ServiceIdentifier::from_name(&service);
        due.push((id, StatusReply { sbd, service }, attempts));
    }
    let next: Option<i64> = conn
        .row(
            "SELECT MIN(next_attempt) FROM status_reply WHERE next_attempt > ?1",
            params![now.as_unix_millis()],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?
        .flatten();
    Ok(Loaded::Replies { due, next: next.map(Timestamp::from_unix_millis) })
}

pub(crate) fn done(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.run("DELETE FROM status_reply WHERE id = ?1", params![id]).map(|_| ()).map_err(unavailable)
}

pub(crate) fn retry(conn: &Connection, id: i64, at: Timestamp) -> Result<(), StoreError> {
    conn.run(
        "UPDATE status_reply SET attempts = attempts + 1, next_attempt = ?2 WHERE id = ?1",
        params![id, at.as_unix_millis()],
    )
    .map(|_| ())
    .map_err(unavailable)
}
