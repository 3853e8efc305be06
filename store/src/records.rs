//! Conversation and status rows, written inside the transaction of whatever write
//! records them: a status, its conversation's flags and its webhook pushes are
//! stored together or not at all.

use crate::cached::Cached;
use efm_core::Timestamp;
use efm_core::api::subscription::StatusPush;
use efm_core::node::{StatusRecord, StoreError};
use efm_core::registry::model::ServiceIdentifier;
use efm_core::sbd::Sbd;
use efm_core::status::{Direction, Lifecycle, Status};
use rusqlite::{ErrorCode, OptionalExtension, Transaction, params};

use crate::{conflict_or_unavailable, part_or_primary, pushes, unavailable};

/// A conversation row, as a status needs it.
pub(crate) struct ConversationRef {
    pub id: i64,
    pub conversation_id: Option<String>,
    pub service: Option<String>,
    pub direction: &'static str,
}

/// The conversation of `message_id` in `direction` (`OUTGOING`, `INCOMING`).
pub(crate) fn find(
    tx: &Transaction<'_>,
    message_id: &str,
    direction: &'static str,
) -> Result<Option<ConversationRef>, StoreError> {
    tx.row(
        "SELECT id, conversation_id, service_identifier FROM conversation
         WHERE message_id = ?1 AND direction = ?2",
        params![message_id, direction],
        |row| {
            Ok(ConversationRef {
                id: row.get(0)?,
                conversation_id: row.get(1)?,
                service: row.get(2)?,
                direction,
            })
        },
    )
    .optional()
    .map_err(unavailable)
}

/// A new conversation for `sbd`, as the reference registers one: the sender's and
/// receiver's identifiers, process, document type and service, its reference set
/// to the conversationId. `Conflict` if the message has one in this direction.
pub(crate) fn insert(
    tx: &Transaction<'_>,
    sbd: &Sbd,
    direction: &'static str,
    service: ServiceIdentifier,
    expiry: Timestamp,
    at: Timestamp,
) -> Result<ConversationRef, StoreError> {
    let message_id = sbd
        .message_id()
        .ok_or_else(|| StoreError::Unavailable("a message without a messageId".into()))?;
    let conversation_id = sbd.header.conversation_id().map(|c| c.to_string());
    let h = &sbd.header;
    tx.run(
        "INSERT INTO conversation (conversation_id, message_id, direction, sender, sender_identifier,
             receiver, receiver_identifier, process_identifier, document_identifier, service_identifier,
             message_reference, expiry, last_update)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            conversation_id,
            message_id.to_string(),
            direction,
            h.sender.as_ref().map(|p| p.value.clone()),
            h.sender.as_ref().map(|p| part_or_primary(&p.identifier)),
            h.receiver.as_ref().map(|p| p.value.clone()),
            h.receiver.as_ref().map(|p| p.identifier.primary()),
            h.process(),
            sbd.standard(),
            service.as_str(),
            conversation_id,
            expiry.as_unix_millis(),
            at.as_unix_millis()
        ],
    )
    .map_err(conflict_or_unavailable)?;
    Ok(ConversationRef {
        id: tx.last_insert_rowid(),
        conversation_id,
        service: Some(service.as_str().to_owned()),
        direction,
    })
}

/// Record `r` on conversation `c`, with the conversation's flags (a finishing
/// status ends it and its polling) and the status's webhook pushes. A value the
/// conversation has already is no error and changes nothing; nor is one the
/// lifecycle table would not record after the statuses it has (SENDT after a
/// receipt already said MOTTATT, LEVETID_UTLOPT after LEVERT): statuses only move
/// forward, whatever order the writes that tell of them come in.
pub(crate) fn add_status(
    tx: &Transaction<'_>,
    c: &ConversationRef,
    r: &StatusRecord,
) -> Result<(), StoreError> {
    if !moves_forward(tx, c, r.status)? {
        return Ok(());
    }
    let inserted = tx.run(
        "INSERT INTO message_status (conversation, status, description, last_update, queued)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![c.id, r.status.name(), r.description, r.at.as_unix_millis(), r.queued],
    );
    match inserted {
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => return Ok(()),
        Err(e) => return Err(unavailable(e)),
        Ok(_) => {}
    }
    let finishing = matches!(
        r.status,
        Status::Levert
            | Status::Lest
            | Status::Feil
            | Status::LevetidUtlopt
            | Status::InnkommendeLevert
    );
    let ends_polling = !matches!(r.status, Status::Levert) && finishing;
    tx.run(
        "UPDATE conversation SET last_update = ?2,
             finished = CASE WHEN ?3 THEN 1 ELSE finished END,
             pollable = CASE WHEN ?4 THEN 0 ELSE pollable END
         WHERE id = ?1",
        params![c.id, r.at.as_unix_millis(), finishing, ends_polling],
    )
    .map_err(unavailable)?;
    if ends_polling && c.direction == "OUTGOING" {
        tx.run(
            "DELETE FROM receipt_watch WHERE message_id = ?1",
            params![r.message_id.to_string()],
        )
        .map_err(unavailable)?;
    }
    let message_id = r.message_id.to_string();
    pushes::enqueue(
        tx,
        &StatusPush {
            at: r.at,
            message_id: &message_id,
            conversation_id: c.conversation_id.as_deref(),
            direction: c.direction,
            service: c.service.as_deref().unwrap_or("UNKNOWN"),
            status: r.status.name(),
            description: r.description.as_deref(),
        },
    )
}

/// Whether the lifecycle table records `status` after the conversation's statuses
/// so far (a conversation's first row is always its OPPRETTET).
fn moves_forward(
    tx: &Transaction<'_>,
    c: &ConversationRef,
    status: Status,
) -> Result<bool, StoreError> {
    let mut stmt = tx
        .prepare_cached("SELECT status FROM message_status WHERE conversation = ?1 ORDER BY id")
        .map_err(unavailable)?;
    let history = stmt
        .query_map(params![c.id], |row| row.get::<_, String>(0))
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    if history.is_empty() {
        return Ok(true);
    }
    let direction =
        if c.direction == "INCOMING" { Direction::Incoming } else { Direction::Outgoing };
    let lifecycle =
        Lifecycle::replay(direction, history.iter().filter_map(|s| Status::from_name(s)));
    let mut next = lifecycle;
    Ok(next.apply(status).is_recorded())
}
