//! The schema, as an ordered list of migrations. Each runs once, in a transaction,
//! and is recorded in `schema_migrations` with the time it ran, so the history of a
//! data folder can be read back. Never edit a released migration: add one.

use rusqlite::{Connection, params};

/// `(version, SQL)`, in order. The SQL is plain enough that the same statements, with
/// `BIGSERIAL` for the keys, carry over to PostgreSQL.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "
    CREATE TABLE outgoing_message (
        message_id      TEXT PRIMARY KEY,
        conversation_id TEXT,
        sbd             TEXT    NOT NULL,
        request         TEXT    NOT NULL,
        created         INTEGER NOT NULL,
        expiry          INTEGER NOT NULL
    );
    CREATE TABLE conversation (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id     TEXT,
        message_id          TEXT    NOT NULL,
        direction           TEXT    NOT NULL CHECK (direction IN ('OUTGOING', 'INCOMING')),
        sender              TEXT,
        receiver            TEXT,
        process_identifier  TEXT,
        document_identifier TEXT,
        service_identifier  TEXT,
        expiry              INTEGER,
        finished            INTEGER NOT NULL DEFAULT 0,
        pollable            INTEGER NOT NULL DEFAULT 0,
        last_update         INTEGER NOT NULL,
        UNIQUE (message_id, direction)
    );
    CREATE INDEX conversation_conversation_id ON conversation (conversation_id);
    CREATE TABLE message_status (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation INTEGER NOT NULL REFERENCES conversation (id) ON DELETE CASCADE,
        status       TEXT    NOT NULL,
        description  TEXT,
        raw_receipt  TEXT,
        last_update  INTEGER NOT NULL,
        -- Each status value at most once per message: the store enforces what the
        -- lifecycle promises, whatever a caller does.
        UNIQUE (conversation, status)
    );
    ",
    ),
    (
        2,
        "
    -- The message service the registry routed the message to.
    ALTER TABLE outgoing_message ADD COLUMN service_identifier TEXT NOT NULL DEFAULT 'UNKNOWN';
    ",
    ),
    (
        3,
        "
    -- What the conversation API shows and filters on.
    ALTER TABLE conversation ADD COLUMN sender_identifier TEXT;
    ALTER TABLE conversation ADD COLUMN receiver_identifier TEXT;
    ALTER TABLE conversation ADD COLUMN message_reference TEXT;
    ALTER TABLE conversation ADD COLUMN message_title TEXT;
    CREATE INDEX message_status_conversation ON message_status (conversation);
    ",
    ),
    (
        4,
        "
    -- The files of an outgoing message; the content is a file under files/, never
    -- a BLOB.
    CREATE TABLE outgoing_file (
        message_id TEXT    NOT NULL REFERENCES outgoing_message (message_id) ON DELETE CASCADE,
        position   INTEGER NOT NULL,
        filename   TEXT    NOT NULL,
        title      TEXT,
        mime       TEXT    NOT NULL,
        size       INTEGER NOT NULL,
        sha256     TEXT    NOT NULL,
        is_primary INTEGER NOT NULL,
        path       TEXT    NOT NULL,
        PRIMARY KEY (message_id, position),
        UNIQUE (message_id, filename)
    );
    ",
    ),
    (
        5,
        "
    -- Set once, when the message is handed to the sending queue.
    ALTER TABLE outgoing_message ADD COLUMN queued_at INTEGER;
    CREATE INDEX outgoing_message_queued ON outgoing_message (queued_at);
    ",
    ),
    (
        6,
        "
    -- 1 while the status waits in the queue GET /api/statuses/peek reads.
    ALTER TABLE message_status ADD COLUMN queued INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX message_status_queued ON message_status (queued, id);
    ",
    ),
    (
        7,
        "
    CREATE TABLE subscription (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        name          TEXT NOT NULL,
        push_endpoint TEXT NOT NULL,
        resource      TEXT NOT NULL,
        event         TEXT NOT NULL,
        filter        TEXT,
        UNIQUE (name, push_endpoint)
    );
    ",
    ),
    (
        8,
        "
    -- Status pushes to webhook subscribers, written with the status they tell of.
    CREATE TABLE push_outbox (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        url      TEXT    NOT NULL,
        body     TEXT    NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at  INTEGER NOT NULL
    );
    CREATE INDEX push_outbox_due ON push_outbox (next_at);
    ",
    ),
    (
        9,
        "
    -- Received messages waiting for their consumer. The ASiC, still encrypted to
    -- us, is a file under incoming/<messageId>/, never a BLOB.
    CREATE TABLE incoming_message (
        message_id          TEXT    PRIMARY KEY,
        conversation_id     TEXT,
        sbd                 TEXT    NOT NULL,
        service             TEXT    NOT NULL,
        received            INTEGER NOT NULL,
        expiry              INTEGER NOT NULL,
        -- Leased to a consumer (a peek) until then.
        lock_until          INTEGER,
        asic                TEXT,
        asic_size           INTEGER,
        -- What GET /api/messages/in filters on.
        process_identifier  TEXT,
        sender_identifier   TEXT,
        receiver_identifier TEXT
    );
    CREATE INDEX incoming_message_received ON incoming_message (received);
    CREATE INDEX incoming_message_expiry ON incoming_message (expiry);
    -- Status SBDs (MOTTATT, LEVERT) to send back to the senders of incoming
    -- messages, written with the change they tell of.
    CREATE TABLE status_reply (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        sbd          TEXT    NOT NULL,
        service      TEXT    NOT NULL,
        created      INTEGER NOT NULL,
        next_attempt INTEGER NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX status_reply_due ON status_reply (next_attempt);
    ",
    ),
    (
        10,
        "
    -- Delivery attempts of queued outgoing messages.
    ALTER TABLE outgoing_message ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outgoing_message ADD COLUMN next_attempt INTEGER;
    CREATE INDEX outgoing_message_due ON outgoing_message (queued_at, next_attempt);
    ",
    ),
    (
        11,
        "
    -- Handed-off messages whose receipts are polled for (DPV, DPF, DPI), written
    -- with the hand-off; gone when the conversation ends.
    CREATE TABLE receipt_watch (
        message_id TEXT    PRIMARY KEY,
        service    TEXT    NOT NULL,
        -- The message service's own id for the message, if it gave one.
        reference  TEXT,
        handed_off INTEGER NOT NULL,
        next_poll  INTEGER NOT NULL
    );
    CREATE INDEX receipt_watch_due ON receipt_watch (service, next_poll);
    ",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "the data folder's schema is version {found}, newer than this efm knows ({known}); use a newer efm"
    )]
    TooNew { found: i64, known: i64 },
    #[error("migration {version} failed: {source}")]
    Failed { version: i64, source: rusqlite::Error },
}

/// Bring the schema up to date. `now` is recorded as each migration's time.
pub fn migrate(conn: &mut Connection, now_ms: i64) -> Result<(), MigrationError> {
    let failed = |version| move |source| MigrationError::Failed { version, source };
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .map_err(failed(0))?;
    let current: i64 = conn
        .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))
        .map_err(failed(0))?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(MigrationError::TooNew { found: current, known });
    }
    for &(version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction().map_err(failed(version))?;
        tx.execute_batch(sql).map_err(failed(version))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![version, now_ms],
        )
        .map_err(failed(version))?;
        tx.commit().map_err(failed(version))?;
    }
    Ok(())
}
