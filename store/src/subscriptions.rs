//! Webhook subscriptions.

use crate::cached::Cached;
use efm_core::api::Pageable;
use efm_core::api::subscription::{Subscription, SubscriptionSpec};
use efm_core::node::{Loaded, StoreError};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};

use crate::unavailable;

const COLUMNS: &str = "id, name, push_endpoint, resource, event, filter";

fn row(r: &Row<'_>) -> rusqlite::Result<Subscription> {
    Ok(Subscription {
        id: r.get(0)?,
        spec: SubscriptionSpec {
            name: r.get(1)?,
            push_endpoint: r.get(2)?,
            resource: r.get(3)?,
            event: r.get(4)?,
            filter: r.get(5)?,
        },
    })
}

pub(crate) fn page(conn: &Connection, page: &Pageable) -> Result<Loaded, StoreError> {
    let total: i64 =
        conn.row("SELECT COUNT(*) FROM subscription", [], |r| r.get(0)).map_err(unavailable)?;
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM subscription ORDER BY id LIMIT ?1 OFFSET ?2"
        ))
        .map_err(unavailable)?;
    let rows = stmt
        .query_map(params![page.size, page.offset() as i64], row)
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    Ok(Loaded::Subscriptions { rows, total: total.max(0) as u64 })
}

pub(crate) fn by_id(conn: &Connection, id: i64) -> Result<Loaded, StoreError> {
    conn.row(&format!("SELECT {COLUMNS} FROM subscription WHERE id = ?1"), params![id], row)
        .optional()
        .map(Loaded::Subscription)
        .map_err(unavailable)
}

pub(crate) fn by_name(
    conn: &Connection,
    name: &str,
    push_endpoint: &str,
) -> Result<Loaded, StoreError> {
    conn.row(
        &format!("SELECT {COLUMNS} FROM subscription WHERE name = ?1 AND push_endpoint = ?2"),
        params![name, push_endpoint],
        row,
    )
    .optional()
    .map(Loaded::Subscription)
    .map_err(unavailable)
}

pub(crate) fn save(
    conn: &Connection,
    id: Option<i64>,
    s: &SubscriptionSpec,
) -> Result<(), StoreError> {
    let result = match id {
        None => conn.run(
            "INSERT INTO subscription (name, push_endpoint, resource, event, filter) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![s.name, s.push_endpoint, s.resource, s.event, s.filter],
        ),
        Some(id) => conn.run(
            "UPDATE subscription SET name = ?2, push_endpoint = ?3, resource = ?4, event = ?5, filter = ?6 WHERE id = ?1",
            params![id, s.name, s.push_endpoint, s.resource, s.event, s.filter],
        ),
    };
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
            Err(StoreError::Conflict)
        }
        Err(e) => Err(unavailable(e)),
    }
}

pub(crate) fn delete(conn: &Connection, id: Option<i64>) -> Result<(), StoreError> {
    match id {
        Some(id) => conn.run("DELETE FROM subscription WHERE id = ?1", params![id]),
        None => conn.run("DELETE FROM subscription", []),
    }
    .map(|_| ())
    .map_err(unavailable)
}
