//! The outbox of webhook pushes. Pushes are added inside the transaction that
//! records their status, so a status and its pushes are stored together or not at
//! all.

use crate::cached::Cached;
use efm_core::Timestamp;
use efm_core::api::subscription::{StatusPush, SubscriptionSpec};
use efm_core::node::{Loaded, Push, StoreError};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::unavailable;

/// Queue `push` for every subscription that wants it.
pub(crate) fn enqueue(tx: &Transaction<'_>, push: &StatusPush<'_>) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached("SELECT name, push_endpoint, resource, event, filter FROM subscription")
        .map_err(unavailable)?;
    let subscriptions = stmt
        .query_map([], |r| {
            Ok(SubscriptionSpec {
                name: r.get(0)?,
                push_endpoint: r.get(1)?,
                resource: r.get(2)?,
                event: r.get(3)?,
                filter: r.get(4)?,
            })
        })
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    let body = push.body().to_string();
    for s in subscriptions.iter().filter(|s| push.wanted_by(s)) {
        tx.run(
            "INSERT INTO push_outbox (url, body, next_at) VALUES (?1, ?2, ?3)",
            params![s.push_endpoint, body, push.at.as_unix_millis()],
        )
        .map_err(unavailable)?;
    }
    Ok(())
}

pub(crate) fn due(conn: &Connection, now: Timestamp, limit: u32) -> Result<Loaded, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT id, url, body, attempts FROM push_outbox WHERE next_at <= ?1 ORDER BY id LIMIT ?2")
        .map_err(unavailable)?;
    let due = stmt
        .query_map(params![now.as_unix_millis(), limit], |r| {
            Ok(Push {
                id: r.get(0)?,
                url: r.get(1)?,
                body: r.get(2)?,
                attempts: r.get::<_, i64>(3)?.clamp(0, i64::from(u32::MAX)) as u32,
            })
        })
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    let next: Option<i64> = conn
        .row(
            "SELECT MIN(next_at) FROM push_outbox WHERE next_at > ?1",
            params![now.as_unix_millis()],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?
        .flatten();
    Ok(Loaded::Pushes { due, next: next.map(Timestamp::from_unix_millis) })
}

pub(crate) fn done(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.run("DELETE FROM push_outbox WHERE id = ?1", params![id]).map(|_| ()).map_err(unavailable)
}

pub(crate) fn retry(conn: &Connection, id: i64, at: Timestamp) -> Result<(), StoreError> {
    conn.run(
        "UPDATE push_outbox SET attempts = attempts + 1, next_at = ?2 WHERE id = ?1",
        params![id, at.as_unix_millis()],
    )
    .map(|_| ())
    .map_err(unavailable)
}
