//! efm-store: carries out the node's store outputs (`Output::Load`, `Output::Persist`)
//! against a data folder: SQLite for metadata (`efm.sqlite`), payload files beside
//! it, never BLOBs (`files/` for outgoing messages, `incoming/` for received ASiCs,
//! `staging/` for received files on their way in). The whole folder can be backed
//! up by copying it.
//!
//! With [`Durability::EachCommit`] (what [`Store::open`] gives) a write returns only
//! after SQLite has made it durable (WAL with `synchronous=FULL`), which is what lets
//! the node acknowledge an API call after `Persisted(Ok)`. With
//! [`Durability::Grouped`] a write returns once committed, and the runtime makes it
//! durable before acting on it, for many writes at once (see [`group_sync`]).

#![forbid(unsafe_code)]

mod cached;
mod conversations;
mod delivery;
mod files;
pub mod group_sync;
mod incoming;
mod incoming_asic;
mod migrations;
mod pushes;
mod records;
mod replies;
mod sbd_cache;
mod subscriptions;
mod watches;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cached::Cached;
use efm_core::Timestamp;
use efm_core::api::subscription::StatusPush;
use efm_core::ids::MessageId;
use efm_core::node::{Loaded, OutgoingMessage, Query, StatusRecord, StoreError, Write};
use efm_core::registry::model::ServiceIdentifier;
use efm_core::sbd::PartnerIdentifier;
use efm_core::status::{Direction, Lifecycle, Status};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

pub use group_sync::{GroupSync, SyncError};
pub use incoming_asic::STAGING_DIR;
pub use migrations::MigrationError;

pub const DATABASE_FILE: &str = "efm.sqlite";

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data folder {path}: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("cannot open {path}: {source}")]
    Database { path: PathBuf, source: rusqlite::Error },
    #[error("{path}: {source}")]
    Migration { path: PathBuf, source: MigrationError },
}

/// How a committed write becomes durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Each commit fsyncs the WAL before it returns (`synchronous=FULL`).
    #[default]
    EachCommit,
    /// Commits return once written to the WAL (`synchronous=NORMAL`); the caller
    /// makes them durable with [`Store::group_sync`] before it acknowledges
    /// anything that depends on them. Falls back to `EachCommit` if the WAL file
    /// cannot be opened.
    Grouped,
}

pub struct Store {
    conn: Connection,
    dir: PathBuf,
    /// With [`Durability::Grouped`]: where the runtime waits for durability.
    group: Option<Arc<GroupSync>>,
    sbds: sbd_cache::SbdCache,
}

impl Store {
    /// Open (or create) the data folder `dir` and bring its schema up to date;
    /// every write durable when it returns.
    pub fn open(dir: &Path, now: Timestamp) -> Result<Store, OpenError> {
        Store::open_with(dir, now, Durability::EachCommit)
    }

    /// As [`Store::open`], with the durability of writes chosen.
    pub fn open_with(
        dir: &Path,
        now: Timestamp,
        durability: Durability,
    ) -> Result<Store, OpenError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| OpenError::Folder { path: dir.to_owned(), source })?;
        let path = dir.join(DATABASE_FILE);
        let db_err = |source| OpenError::Database { path: path.clone(), source };
        let mut conn = Connection::open(&path).map_err(db_err)?;
        conn.set_prepared_statement_cache_capacity(cached::STATEMENT_CACHE);
        // The query planner's stability guarantee: without it (this SQLite is built
        // with STAT4) a statement whose range bound is a parameter, such as every
        // "due at or before now" query, is compiled again whenever the value bound
        // changes, which undid the statement cache for the node's most frequent reads.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(db_err)?;
        // One process owns the folder: exclusive locking takes SQLite's file lock
        // once and keeps it, where the normal mode took and released POSIX locks
        // (fcntl) several times per transaction, 3-4 % of a busy node's CPU; and
        // with it set before WAL is entered, the WAL index lives in the heap, not
        // in a shared-memory file. A second process opening the folder (another
        // `efm serve` by mistake) is refused instead of sharing it.
        conn.execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )
        .map_err(db_err)?;
        migrations::migrate(&mut conn, now.as_unix_millis())
            .map_err(|source| OpenError::Migration { path: path.clone(), source })?;
        // Staged payloads belonged to work that died with the last process: no
        // committed row names them.
        let staging = dir.join(STAGING_DIR);
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)
            .map_err(|source| OpenError::Folder { path: staging, source })?;
        let group = match durability {
            Durability::EachCommit => None,
            Durability::Grouped => grouped(&conn, &path).map_err(db_err)?,
        };
        Ok(Store { conn, dir: dir.to_owned(), group, sbds: sbd_cache::SbdCache::default() })
    }

    /// With [`Durability::Grouped`], what makes commits durable: take
    /// [`GroupSync::written`] after a write and wait on
    /// [`GroupSync::sync_through`] before acknowledging it. `None`: every write is
    /// durable when it returns.
    pub fn group_sync(&self) -> Option<Arc<GroupSync>> {
        self.group.clone()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a runtime writes (and flushes) a payload before a write such as
    /// `Write::CreateIncoming` moves it into place by its name, or an upload
    /// streams it: parcels being sent, downloads being opened.
    pub fn staging_dir(&self) -> PathBuf {
        self.dir.join(STAGING_DIR)
    }

    /// Where a file of an outgoing message is stored.
    pub fn file_path(&self, id: MessageId, filename: &str) -> Result<Option<PathBuf>, StoreError> {
        files::path(&self.conn, &self.dir, id, filename)
    }

    /// Carry out a read.
    pub fn load(&mut self, q: &Query) -> Result<Loaded, StoreError> {
        match q {
            Query::OutgoingMessage(id) => self.outgoing(*id).map(Loaded::OutgoingMessage),
            Query::Statuses { filter, page } => conversations::statuses(&self.conn, filter, page),
            Query::Conversations { filter, page } => conversations::find(&self.conn, filter, page),
            Query::OutgoingConversation(key) => conversations::outgoing(&self.conn, key),
            Query::PeekStatus => conversations::queued_status(&self.conn, None),
            Query::DuePushes { now, limit } => pushes::due(&self.conn, *now, *limit),
            Query::FileContent { message_id, filename } => {
                files::content(&self.conn, &self.dir, *message_id, filename)
                    .map(|c| Loaded::FileContent(c.map(Into::into)))
            }
            Query::StagedContent { name } => files::staged_content(&self.dir, name)
                .map(|c| Loaded::FileContent(c.map(Into::into))),
            Query::Subscriptions { page } => subscriptions::page(&self.conn, page),
            Query::Subscription(id) => subscriptions::by_id(&self.conn, *id),
            Query::SubscriptionNamed { name, push_endpoint } => {
                subscriptions::by_name(&self.conn, name, push_endpoint)
            }
            Query::QueuedStatus(id) => conversations::queued_status(&self.conn, Some(*id)),
            Query::DueOutgoing { now, limit, skip } => delivery::due(self, *now, *limit, skip),
            Query::DueWatches { service, now, limit, skip } => {
                watches::due(&self.conn, *service, *now, *limit, skip)
            }
            Query::Health => {
                let count = |sql: &str| -> Result<u64, StoreError> {
                    let n: i64 = self.conn.row(sql, [], |r| r.get(0)).map_err(unavailable)?;
                    Ok(n.max(0) as u64)
                };
                Ok(Loaded::Health {
                    outgoing: count("SELECT COUNT(*) FROM outgoing_message")?,
                    incoming: count("SELECT COUNT(*) FROM incoming_message")?,
                    pollable: count("SELECT COUNT(*) FROM conversation WHERE pollable = 1")?,
                })
            }
            Query::OutgoingMessages { filter, page } => {
                conversations::outgoing_messages(&self.conn, filter, page)
            }
            Query::DueReplies { now, limit } => {
                replies::due(&self.conn, &mut self.sbds, *now, *limit)
            }
            Query::IncomingMessages { filter, page, now } => {
                incoming::find(&self.conn, &mut self.sbds, filter, page, *now)
            }
            Query::LeasableIncoming { filter, now, limit } => {
                incoming::leasable(&self.conn, &mut self.sbds, filter, *now, *limit)
            }
            Query::IncomingMessage(id) => incoming::one(&self.conn, &mut self.sbds, *id),
            Query::ExpiredIncoming { now, limit } => {
                incoming::expired(&self.conn, &mut self.sbds, *now, *limit)
            }
        }
    }

    /// Carry out a write in one transaction: durable when it returns, or (grouped)
    /// once [`GroupSync::sync_through`] has covered it.
    pub fn persist(&mut self, w: &Write) -> Result<(), StoreError> {
        let result = self.write(w);
        // Counted whatever the outcome: a failed write's rollback needs no fsync,
        // but counting it costs at most one fsync that finds nothing to do.
        if let Some(g) = &self.group {
            g.committed();
        }
        result
    }

    fn write(&mut self, w: &Write) -> Result<(), StoreError> {
        match w {
            Write::CreateOutgoing { message, status } => self.create_outgoing(message, status),
            Write::DeleteConversations(key) => conversations::delete(&mut self.conn, key),
            Write::DeleteOutgoing(id) => {
                self.conn
                    .run(
                        "DELETE FROM outgoing_message WHERE message_id = ?1",
                        params![id.to_string()],
                    )
                    .map_err(unavailable)?;
                files::remove(&self.dir, *id)
            }
            Write::AddFile { message_id, file, content, conversation } => files::add(
                &mut self.conn,
                &self.dir,
                *message_id,
                file,
                files::Source::Bytes(content),
                conversation.as_ref(),
            ),
            Write::AddStagedFile { message_id, file, staged, conversation } => files::add(
                &mut self.conn,
                &self.dir,
                *message_id,
                file,
                files::Source::Staged(staged),
                conversation.as_ref(),
            ),
            Write::QueueOutgoing { message_id, at } => {
                self.conn
                    .run(
                        "UPDATE outgoing_message SET queued_at = ?2
                         WHERE message_id = ?1 AND queued_at IS NULL",
                        params![message_id.to_string(), at.as_unix_millis()],
                    )
                    .map_err(unavailable)?;
                Ok(())
            }
            Write::RecordOutgoingStatus(record) => self.record_status(record, "OUTGOING"),
            Write::HandOff(record) => delivery::hand_off(&mut self.conn, &self.dir, record),
            Write::RetryOutgoing { message_id, at } => {
                delivery::retry(&self.conn, *message_id, *at)
            }
            Write::ExpireConversations { now } => delivery::expire(&mut self.conn, &self.dir, *now),
            Write::ApplyReceivedStatus(record) => delivery::apply_received(&mut self.conn, record),
            Write::HandOffWatched { statuses, service, reference, next_poll } => watches::hand_off(
                &mut self.conn,
                &self.dir,
                statuses,
                *service,
                reference.as_deref(),
                *next_poll,
            ),
            Write::Watched { message_id, statuses, next_poll } => {
                watches::polled(&mut self.conn, *message_id, statuses, *next_poll)
            }
            Write::SaveSubscription { id, spec } => subscriptions::save(&self.conn, *id, spec),
            Write::DeleteSubscriptions(id) => subscriptions::delete(&self.conn, *id),
            Write::PushDone(id) => pushes::done(&self.conn, *id),
            Write::PushRetry { id, at } => pushes::retry(&self.conn, *id, *at),
            Write::DequeueStatus(id) => {
                self.conn
                    .run("UPDATE message_status SET queued = 0 WHERE id = ?1", params![id])
                    .map_err(unavailable)?;
                Ok(())
            }
            Write::CreateIncoming { message, reply } => {
                incoming::create(&mut self.conn, &self.dir, message, reply.as_ref())
            }
            Write::RecordIncomingExpired { sbd, service, at } => {
                incoming::record_expired(&mut self.conn, sbd, *service, *at)
            }
            Write::ReplyDone(id) => replies::done(&self.conn, *id),
            Write::ReplyRetry { id, at } => replies::retry(&self.conn, *id, *at),
            Write::LeaseIncoming { message_id, now, until } => {
                incoming::lease(&self.conn, *message_id, *now, *until)
            }
            Write::DeleteIncoming { status, reply } => {
                incoming::delete(&mut self.conn, &self.dir, status, reply.as_ref())
            }
            Write::ExpireIncoming(status) => incoming::expire(&mut self.conn, &self.dir, status),
        }
    }

    /// A status row on the message's conversation, and the conversation's flags: a
    /// finishing status ends it and its polling. A value it has already is no error.
    fn record_status(
        &mut self,
        r: &StatusRecord,
        direction: &'static str,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(unavailable)?;
        let Some(conversation) = records::find(&tx, &r.message_id.to_string(), direction)? else {
            return Err(StoreError::Unavailable(format!(
                "no {direction} conversation for {}",
                r.message_id
            )));
        };
        records::add_status(&tx, &conversation, r)?;
        tx.commit().map_err(unavailable)
    }

    fn create_outgoing(
        &mut self,
        m: &OutgoingMessage,
        status: &StatusRecord,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(unavailable)?;
        let sbd = &m.sbd;
        let conversation_id = sbd.header.conversation_id().map(|c| c.to_string());
        let message_id = status.message_id.to_string();
        tx.run(
            "INSERT INTO outgoing_message (message_id, conversation_id, sbd, request, created, expiry, service_identifier)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                message_id,
                conversation_id,
                sbd.to_json_value().to_string(),
                m.request,
                m.created.as_unix_millis(),
                m.expiry.as_unix_millis(),
                m.service.as_str()
            ],
        )
        .map_err(conflict_or_unavailable)?;
        tx.run(
            "INSERT INTO conversation (conversation_id, message_id, direction, sender, sender_identifier,
                 receiver, receiver_identifier, process_identifier, document_identifier, service_identifier,
                 message_reference, expiry, last_update)
             VALUES (?1, ?2, 'OUTGOING', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                conversation_id,
                message_id,
                sbd.header.sender.as_ref().map(|p| p.value.clone()),
                sbd.header.sender.as_ref().map(|p| part_or_primary(&p.identifier)),
                sbd.header.receiver.as_ref().map(|p| p.value.clone()),
                sbd.header.receiver.as_ref().map(|p| p.identifier.primary()),
                sbd.header.process(),
                sbd.standard(),
                m.service.as_str(),
                // The reference starts every conversation's reference at its id.
                conversation_id,
                m.expiry.as_unix_millis(),
                status.at.as_unix_millis()
            ],
        )
        .map_err(conflict_or_unavailable)?;
        let conversation = tx.last_insert_rowid();
        tx.run(
            "INSERT INTO message_status (conversation, status, description, last_update, queued)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                conversation,
                status.status.name(),
                status.description,
                status.at.as_unix_millis(),
                status.queued
            ],
        )
        .map_err(conflict_or_unavailable)?;
        pushes::enqueue(
            &tx,
            &StatusPush {
                at: status.at,
                message_id: &message_id,
                conversation_id: conversation_id.as_deref(),
                direction: "OUTGOING",
                service: m.service.as_str(),
                status: status.status.name(),
                description: status.description.as_deref(),
            },
        )?;
        tx.commit().map_err(unavailable)
    }

    pub(crate) fn outgoing(
        &mut self,
        id: MessageId,
    ) -> Result<Option<Box<OutgoingMessage>>, StoreError> {
        let key = id.to_string();
        let row = self
            .conn
            .row(
                "SELECT sbd, request, created, expiry, service_identifier, queued_at
                 FROM outgoing_message WHERE message_id = ?1",
                params![key],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                    ))
                },
            )
            .optional()
            .map_err(unavailable)?;
        let Some((sbd, request, created, expiry, service, queued)) = row else {
            return Ok(None);
        };
        let sbd = self.sbds.parse(sbd_cache::Form::Created, &sbd).map_err(|e| {
            StoreError::Unavailable(format!("stored SBD of {key} does not read back: {e}"))
        })?;
        let history = self.statuses(&key, Direction::Outgoing)?;
        Ok(Some(Box::new(OutgoingMessage {
            sbd,
            request,
            created: Timestamp::from_unix_millis(created),
            expiry: Timestamp::from_unix_millis(expiry),
            service: ServiceIdentifier::from_name(&service),
            files: files::list(&self.conn, &key)?,
            queued: queued.map(Timestamp::from_unix_millis),
            lifecycle: Lifecycle::replay(Direction::Outgoing, history),
        })))
    }

    /// The statuses of a message, in the order they were recorded.
    fn statuses(
        &mut self,
        message_id: &str,
        direction: Direction,
    ) -> Result<Vec<Status>, StoreError> {
        let dir = match direction {
            Direction::Outgoing => "OUTGOING",
            Direction::Incoming => "INCOMING",
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT s.status FROM message_status s JOIN conversation c ON s.conversation = c.id
                 WHERE c.message_id = ?1 AND c.direction = ?2 ORDER BY s.id",
            )
            .map_err(unavailable)?;
        let rows = stmt
            .query_map(params![message_id, dir], |r| r.get::<_, String>(0))
            .map_err(unavailable)?;
        let mut out = Vec::new();
        for name in rows {
            let name = name.map_err(unavailable)?;
            // A value this version does not know (written by a newer one) is skipped
            // rather than failing the whole message.
            if let Some(s) = Status::from_name(&name) {
                out.push(s);
            }
        }
        Ok(out)
    }
}

/// Switch a migrated store to `synchronous=NORMAL` and open its WAL for the
/// group fsyncs. Without a WAL file to open (not in WAL mode after all) it stays
/// at `FULL`, each commit durable by itself.
fn grouped(conn: &Connection, db: &Path) -> Result<Option<Arc<GroupSync>>, rusqlite::Error> {
    // A read opens (and creates) the WAL if the migrations wrote nothing.
    let _: i64 = conn.row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))?;
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let Ok(file) = std::fs::File::open(&wal) else { return Ok(None) };
    conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
    Ok(Some(Arc::new(GroupSync::new(file))))
}

/// The on-behalf-of organisation when there is one, else the primary identifier.
pub(crate) fn part_or_primary(id: &PartnerIdentifier) -> String {
    match id {
        PartnerIdentifier::Organization(o) => o.on_behalf_of().unwrap_or(o.org()).to_owned(),
        other => other.primary(),
    }
}

pub(crate) fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

pub(crate) fn conflict_or_unavailable(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => StoreError::Conflict,
        _ => unavailable(e),
    }
}

#[cfg(test)]
mod incoming_tests;
#[cfg(test)]
mod tests;
