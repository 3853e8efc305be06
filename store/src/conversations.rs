//! Statuses and conversations: the filtered, sorted, paged reads behind
//! `/api/statuses` and `/api/conversations`, and conversation deletes.
//!
//! Filters become a WHERE clause of bound parameters; sort properties map onto a
//! fixed set of columns (the route table has already refused any other), so no text
//! from a request reaches the SQL itself.

use crate::cached::Cached;
use efm_core::Timestamp;
use efm_core::api::{ConversationFilter, OutgoingFilter, Pageable, SortDirection, StatusFilter};
use efm_core::node::{ConversationRow, Loaded, StatusRow, StoreError, StoredConversationKey};
use efm_core::registry::model::ServiceIdentifier;
use efm_core::sbd::{Sbd, oslo_midnight};
use efm_core::status::{Direction, Status};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use crate::unavailable;

/// A WHERE clause under construction.
#[derive(Default)]
pub(crate) struct Where {
    clauses: Vec<String>,
    pub(crate) values: Vec<Value>,
}

impl Where {
    pub(crate) fn eq(&mut self, column: &str, v: &Option<String>) {
        if let Some(v) = v {
            self.values.push(Value::Text(v.clone()));
            self.clauses.push(format!("{column} = ?{}", self.values.len()));
        }
    }

    pub(crate) fn eq_int(&mut self, column: &str, v: Option<i64>) {
        if let Some(v) = v {
            self.values.push(Value::Integer(v));
            self.clauses.push(format!("{column} = ?{}", self.values.len()));
        }
    }

    pub(crate) fn between(&mut self, column: &str, from: Timestamp, to: Timestamp) {
        self.values.push(Value::Integer(from.as_unix_millis()));
        self.values.push(Value::Integer(to.as_unix_millis()));
        let n = self.values.len();
        self.clauses.push(format!("{column} BETWEEN ?{} AND ?{n}", n - 1));
    }

    pub(crate) fn at_least(&mut self, column: &str, from: Timestamp) {
        self.values.push(Value::Integer(from.as_unix_millis()));
        self.clauses.push(format!("{column} >= ?{}", self.values.len()));
    }

    pub(crate) fn below(&mut self, column: &str, to: Timestamp) {
        self.values.push(Value::Integer(to.as_unix_millis()));
        self.clauses.push(format!("{column} < ?{}", self.values.len()));
    }

    /// A clause of its own: every `?` in it stands for `v`.
    pub(crate) fn with(&mut self, clause: &str, v: Value) {
        self.values.push(v);
        self.clauses.push(clause.replace('?', &format!("?{}", self.values.len())));
    }

    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// One page of `SELECT {columns} {from} {where} ORDER BY …`, each row read by `read`
/// (rows it turns into `None` are left out), and the total count of matches.
pub(crate) fn paged<T>(
    conn: &Connection,
    columns: &str,
    from: &str,
    w: &Where,
    order: String,
    read: impl FnMut(&Row<'_>) -> rusqlite::Result<Option<T>>,
) -> Result<(Vec<T>, u64), StoreError> {
    let total: i64 = conn
        .row(&format!("SELECT COUNT(*) {from}{}", w.sql()), params_from_iter(&w.values), |r| {
            r.get(0)
        })
        .map_err(unavailable)?;
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {columns} {from}{}{order}", w.sql()))
        .map_err(unavailable)?;
    let rows = stmt
        .query_map(params_from_iter(&w.values), read)
        .map_err(unavailable)?
        .filter_map(|r| r.transpose())
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    Ok((rows, total.max(0) as u64))
}

/// `ORDER BY … LIMIT … OFFSET …` for a page; `column` maps a sort property to SQL.
pub(crate) fn order_and_page(
    page: &Pageable,
    column: impl Fn(&str) -> Option<&'static str>,
    tie_break: &str,
) -> String {
    let mut order: Vec<String> = page
        .sort
        .iter()
        .filter_map(|s| {
            let dir = match s.direction {
                SortDirection::Asc => "ASC",
                SortDirection::Desc => "DESC",
            };
            column(&s.property).map(|c| format!("{c} {dir}"))
        })
        .collect();
    // A stable order whatever the sort keys, so pages do not overlap.
    order.push(format!("{tie_break} ASC"));
    format!(" ORDER BY {} LIMIT {} OFFSET {}", order.join(", "), page.size, page.offset())
}

fn status_column(property: &str) -> Option<&'static str> {
    Some(match property {
        "id" => "s.id",
        "lastUpdate" => "s.last_update",
        "status" => "s.status",
        "conversationId" => "c.conversation_id",
        "messageId" => "c.message_id",
        _ => return None,
    })
}

fn conversation_column(property: &str) -> Option<&'static str> {
    Some(match property {
        "id" => "c.id",
        "lastUpdate" => "c.last_update",
        "conversationId" => "c.conversation_id",
        "messageId" => "c.message_id",
        "messageTitle" => "c.message_title",
        "messageReference" => "c.message_reference",
        "direction" => "c.direction",
        "serviceIdentifier" => "c.service_identifier",
        "finished" => "c.finished",
        _ => return None,
    })
}

const STATUS_COLUMNS: &str = "s.id, s.conversation, c.conversation_id, c.message_id, s.status, s.description, s.raw_receipt, s.last_update";

fn status_row(r: &Row<'_>) -> rusqlite::Result<Option<StatusRow>> {
    let name: String = r.get(4)?;
    // A status this version does not know (written by a newer one) is left out.
    let Some(status) = Status::from_name(&name) else {
        return Ok(None);
    };
    Ok(Some(StatusRow {
        id: r.get(0)?,
        conv_id: r.get(1)?,
        conversation_id: r.get(2)?,
        message_id: r.get(3)?,
        status,
        description: r.get(5)?,
        raw_receipt: r.get(6)?,
        last_update: Timestamp::from_unix_millis(r.get(7)?),
    }))
}

pub(crate) fn statuses(
    conn: &Connection,
    f: &StatusFilter,
    page: &Pageable,
) -> Result<Loaded, StoreError> {
    let mut w = Where::default();
    w.eq_int("s.id", f.id);
    w.eq("c.conversation_id", &f.conversation_id);
    w.eq("c.message_id", &f.message_id);
    w.eq("s.status", &f.status);
    if let Some((from, to)) = f.between {
        w.between("s.last_update", from, to);
    }
    let from = "FROM message_status s JOIN conversation c ON s.conversation = c.id";
    let order = order_and_page(page, status_column, "s.id");
    let (rows, total) = paged(conn, STATUS_COLUMNS, from, &w, order, status_row)?;
    Ok(Loaded::Statuses { rows, total })
}

const CONVERSATION_COLUMNS: &str = "c.id, c.conversation_id, c.message_id, c.sender, c.sender_identifier, c.receiver,
    c.receiver_identifier, c.process_identifier, c.document_identifier, c.message_reference, c.message_title,
    c.last_update, c.finished, c.expiry, c.direction, c.service_identifier";

fn conversation_row(r: &Row<'_>) -> rusqlite::Result<ConversationRow> {
    let direction: String = r.get(14)?;
    let service: Option<String> = r.get(15)?;
    Ok(ConversationRow {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        message_id: r.get(2)?,
        sender: r.get(3)?,
        sender_identifier: r.get(4)?,
        receiver: r.get(5)?,
        receiver_identifier: r.get(6)?,
        process_identifier: r.get(7)?,
        document_identifier: r.get(8)?,
        message_reference: r.get(9)?,
        message_title: r.get(10)?,
        last_update: Timestamp::from_unix_millis(r.get(11)?),
        finished: r.get(12)?,
        expiry: r.get::<_, Option<i64>>(13)?.map(Timestamp::from_unix_millis),
        direction: if direction == "INCOMING" { Direction::Incoming } else { Direction::Outgoing },
        service_identifier: service
            .map_or(ServiceIdentifier::Unknown, |s| ServiceIdentifier::from_name(&s)),
        statuses: Vec::new(),
    })
}

/// Fill in each conversation's statuses, oldest first.
fn with_statuses(conn: &Connection, rows: &mut [ConversationRow]) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {STATUS_COLUMNS} FROM message_status s JOIN conversation c ON s.conversation = c.id
             WHERE s.conversation = ?1 ORDER BY s.id"
        ))
        .map_err(unavailable)?;
    for row in rows {
        row.statuses = stmt
            .query_map(params![row.id], status_row)
            .map_err(unavailable)?
            .filter_map(|r| r.transpose())
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
    }
    Ok(())
}

pub(crate) fn find(
    conn: &Connection,
    f: &ConversationFilter,
    page: &Pageable,
) -> Result<Loaded, StoreError> {
    let mut w = Where::default();
    w.eq("c.conversation_id", &f.conversation_id);
    w.eq("c.message_id", &f.message_id);
    w.eq("c.receiver", &f.receiver);
    w.eq("c.receiver_identifier", &f.receiver_identifier);
    w.eq("c.sender", &f.sender);
    w.eq("c.sender_identifier", &f.sender_identifier);
    w.eq("c.service_identifier", &f.service_identifier.map(|s| s.as_str().to_owned()));
    w.eq("c.message_reference", &f.message_reference);
    w.eq("c.message_title", &f.message_title);
    w.eq_int("c.pollable", f.pollable.map(i64::from));
    w.eq_int("c.finished", f.finished.map(i64::from));
    w.eq("c.direction", &f.direction.map(|d| efm_core::node::direction_name(d).to_owned()));
    // Whole days in Oslo time, both bounds inclusive.
    if let Some(d) = f.last_update_from {
        w.at_least("c.last_update", oslo_midnight(d));
    }
    if let Some(d) = f.last_update_to
        && let Some(next) = d.next_day()
    {
        w.below("c.last_update", oslo_midnight(next));
    }
    let order = order_and_page(page, conversation_column, "c.id");
    let (mut rows, total) =
        paged(conn, CONVERSATION_COLUMNS, "FROM conversation c", &w, order, |r| {
            conversation_row(r).map(Some)
        })?;
    with_statuses(conn, &mut rows)?;
    Ok(Loaded::Conversations { rows, total })
}

pub(crate) fn outgoing(
    conn: &Connection,
    key: &StoredConversationKey,
) -> Result<Loaded, StoreError> {
    let (clause, value) = match key {
        StoredConversationKey::Id(id) => ("c.id = ?1", Value::Integer(*id)),
        StoredConversationKey::MessageId(m) => ("c.message_id = ?1", Value::Text(m.to_string())),
    };
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversation c WHERE {clause} AND c.direction = 'OUTGOING'"
    );
    let row = conn.row(&sql, params![value], conversation_row).optional().map_err(unavailable)?;
    let Some(row) = row else {
        return Ok(Loaded::Conversation(None));
    };
    let mut rows = [row];
    with_statuses(conn, &mut rows)?;
    let [row] = rows;
    Ok(Loaded::Conversation(Some(Box::new(row))))
}

/// Delete the conversations (and, by cascade, their statuses). Nothing to delete is
/// no error: the reference answers 200 either way.
pub(crate) fn delete(conn: &mut Connection, key: &StoredConversationKey) -> Result<(), StoreError> {
    let (sql, value) = match key {
        StoredConversationKey::Id(id) => {
            ("DELETE FROM conversation WHERE id = ?1", Value::Integer(*id))
        }
        StoredConversationKey::MessageId(m) => {
            ("DELETE FROM conversation WHERE message_id = ?1", Value::Text(m.to_string()))
        }
    };
    conn.run(sql, params![value]).map_err(unavailable)?;
    Ok(())
}

fn outgoing_column(property: &str) -> Option<&'static str> {
    Some(match property {
        "id" | "lastUpdated" => "m.created",
        "conversationId" => "m.conversation_id",
        "messageId" => "m.message_id",
        "processIdentifier" => "c.process_identifier",
        "receiverIdentifier" => "c.receiver_identifier",
        "senderIdentifier" => "c.sender_identifier",
        "serviceIdentifier" => "m.service_identifier",
        _ => return None,
    })
}

/// Outgoing messages not yet handed off, with their conversation's columns to
/// filter on.
pub(crate) fn outgoing_messages(
    conn: &Connection,
    f: &OutgoingFilter,
    page: &Pageable,
) -> Result<Loaded, StoreError> {
    let mut w = Where::default();
    w.eq("m.conversation_id", &f.conversation_id);
    w.eq("m.message_id", &f.message_id);
    w.eq("c.process_identifier", &f.process_identifier);
    w.eq("c.receiver_identifier", &f.receiver_identifier);
    w.eq("c.sender_identifier", &f.sender_identifier);
    w.eq("m.service_identifier", &f.service_identifier.map(|s| s.as_str().to_owned()));
    let from = "FROM outgoing_message m LEFT JOIN conversation c ON c.message_id = m.message_id AND c.direction = 'OUTGOING'";
    let order = order_and_page(page, outgoing_column, "m.message_id");
    let (texts, total) =
        paged(conn, "m.sbd", from, &w, order, |r| r.get::<_, String>(0).map(Some))?;
    let sbds = texts
        .iter()
        .map(|t| {
            Sbd::from_json(t.as_bytes()).map_err(|e| {
                StoreError::Unavailable(format!("a stored SBD does not read back: {e}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Loaded::OutgoingMessages { sbds, total })
}

/// The oldest queued status, or the queued status with this id.
pub(crate) fn queued_status(conn: &Connection, id: Option<i64>) -> Result<Loaded, StoreError> {
    let (clause, value) = match id {
        None => ("", Value::Null),
        Some(id) => (" AND s.id = ?1", Value::Integer(id)),
    };
    let sql = format!(
        "SELECT {STATUS_COLUMNS} FROM message_status s JOIN conversation c ON s.conversation = c.id
         WHERE s.queued = 1{clause} ORDER BY s.id LIMIT 1"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(unavailable)?;
    let params: Vec<Value> = if id.is_some() { vec![value] } else { Vec::new() };
    let row = stmt
        .query_map(params_from_iter(&params), status_row)
        .map_err(unavailable)?
        .filter_map(|r| r.transpose())
        .next()
        .transpose()
        .map_err(unavailable)?;
    Ok(Loaded::Status(row))
}
