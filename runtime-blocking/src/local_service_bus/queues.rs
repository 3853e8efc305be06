//! Queues on disk, one folder per queue: `<dir>/queues/<queue>/journal` (one JSON
//! line per change: a message sent, delivered again, dead-lettered, completed) and
//! `<sequence number>.body` (a body as sent). Locks live in memory only: after a
//! restart every message is unlocked again, as when its lock expires.
//!
//! A change is one appended line of the journal (`local_service::journal`),
//! flushed before it is answered. The body is written first, under a name nothing
//! refers to yet; the message exists once its `send` line does, and a body without
//! one (a crash between the two) is dropped when the queue is read back. Reading
//! back also rewrites the journal with only what is live, as it does when
//! completed messages have made it long; its first line keeps the next sequence
//! number, so numbers are never reused.
//!
//! Folders from before the journal (`<n>.json` records and `next-sequence`) are
//! read and folded into one.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::local_service::files::{self, FileError};
use crate::local_service::journal::{Journal, JournalError};

const JOURNAL: &str = "journal";

/// A journal is rewritten once it has this many lines beyond twice the live messages.
const COMPACT_SLACK: usize = 1024;

/// A stored message's properties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub sequence_number: i64,
    pub message_id: String,
    /// Unix milliseconds.
    pub enqueued: i64,
    pub content_type: Option<String>,
    pub delivery_count: u32,
    pub dead_lettered: bool,
    /// What the sender put in its `BrokerProperties` header, server-owned members removed.
    pub properties: Map<String, Value>,
}

/// A peek-lock's answer.
pub struct Locked {
    pub message: Message,
    pub body: Vec<u8>,
    pub lock_token: String,
    /// Unix milliseconds.
    pub locked_until: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{}: not a message record: {reason}", path.display())]
    BadRecord { path: PathBuf, reason: String },
}

/// One line of a journal: written with the message borrowed, read owned.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Entry<M> {
    /// The first line of a rewritten journal: numbers below `seq` were handed out.
    Next {
        seq: i64,
    },
    Send {
        message: M,
    },
    Delivered {
        seq: i64,
        count: u32,
    },
    DeadLettered {
        seq: i64,
    },
    Completed {
        seq: i64,
    },
}

struct Lock {
    token: String,
    until: i64,
}

struct Queue {
    messages: BTreeMap<i64, (Message, Option<Lock>)>,
    next_sequence: i64,
    journal: Journal,
}

pub struct Queues {
    dir: PathBuf,
    map: Mutex<HashMap<String, Queue>>,
}

impl Queues {
    /// Opens `<dir>/queues`, reading every queue in it.
    pub fn open(dir: &Path) -> Result<Self, QueueError> {
        let dir = dir.join("queues");
        files::ensure_dir(&dir)?;
        let mut map = HashMap::new();
        for entry in std::fs::read_dir(&dir).map_err(FileError::at(&dir))? {
            let path = entry.map_err(FileError::at(&dir))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            if path.is_dir() && is_queue_name(name) {
                map.insert(name.to_owned(), load_queue(&path)?);
            }
        }
        Ok(Queues { dir, map: Mutex::new(map) })
    }

    fn queue_dir(&self, queue: &str) -> PathBuf {
        self.dir.join(queue)
    }

    /// The body file of a message, relative to the service's folder.
    pub fn body_name(queue: &str, sequence_number: i64) -> String {
        format!("queues/{queue}/{sequence_number}.body")
    }

    /// Stores a message at the tail of `queue` (made on first use); its sequence number.
    pub fn send(
        &self,
        queue: &str,
        message_id: &str,
        content_type: Option<String>,
        properties: Map<String, Value>,
        body: &[u8],
        now: i64,
    ) -> Result<i64, QueueError> {
        let qdir = self.queue_dir(queue);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let q = match map.entry(queue.to_owned()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                files::ensure_dir(&qdir)?;
                e.insert(load_queue(&qdir)?)
            }
        };
        let seq = q.next_sequence.max(1);
        q.next_sequence = seq + 1;
        files::write_unnamed(&qdir.join(format!("{seq}.body")), body)?;
        let m = Message {
            sequence_number: seq,
            message_id: message_id.to_owned(),
            enqueued: now,
            content_type,
            delivery_count: 0,
            dead_lettered: false,
            properties,
        };
        q.journal.append(&Entry::Send { message: &m })?;
        q.messages.insert(seq, (m, None));
        Ok(seq)
    }

    /// Locks the first message that is not locked (nor dead-lettered) until
    /// `now + lock_ms`. A message whose lock expired `max_deliveries` times is
    /// dead-lettered instead of delivered again.
    pub fn peek_lock(
        &self,
        queue: &str,
        now: i64,
        lock_ms: i64,
        max_deliveries: u32,
        lock_token: String,
    ) -> Result<Option<Locked>, QueueError> {
        let qdir = self.queue_dir(queue);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let Some(q) = map.get_mut(queue) else { return Ok(None) };
        for (message, lock) in q.messages.values_mut() {
            if message.dead_lettered || lock.as_ref().is_some_and(|l| l.until > now) {
                continue;
            }
            let seq = message.sequence_number;
            if message.delivery_count >= max_deliveries {
                q.journal.append(&Entry::<&Message>::DeadLettered { seq })?;
                message.dead_lettered = true;
                *lock = None;
                continue;
            }
            let body_path = qdir.join(format!("{seq}.body"));
            let body = std::fs::read(&body_path).map_err(FileError::at(&body_path))?;
            let count = message.delivery_count + 1;
            q.journal.append(&Entry::<&Message>::Delivered { seq, count })?;
            message.delivery_count = count;
            let until = now.saturating_add(lock_ms);
            *lock = Some(Lock { token: lock_token.clone(), until });
            return Ok(Some(Locked {
                message: message.clone(),
                body,
                lock_token,
                locked_until: until,
            }));
        }
        Ok(None)
    }

    /// Completes (deletes) the message `id` (its MessageId or sequence number) locked
    /// with `lock_token`. False when no such lock is held now.
    pub fn complete(
        &self,
        queue: &str,
        id: &str,
        lock_token: &str,
        now: i64,
    ) -> Result<bool, QueueError> {
        let qdir = self.queue_dir(queue);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let Some(q) = map.get_mut(queue) else { return Ok(false) };
        let found = q.messages.iter().find_map(|(seq, (m, lock))| {
            let held = lock
                .as_ref()
                .is_some_and(|l| l.until > now && l.token.eq_ignore_ascii_case(lock_token));
            let named = m.message_id == id || m.sequence_number.to_string() == id;
            (held && named).then_some(*seq)
        });
        let Some(seq) = found else { return Ok(false) };
        q.journal.append(&Entry::<&Message>::Completed { seq })?;
        q.messages.remove(&seq);
        // Not synced: a body that comes back after a crash has no live message
        // and is dropped when the queue is read back.
        let body = qdir.join(format!("{seq}.body"));
        if let Err(e) = std::fs::remove_file(&body)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(FileError::at(&body)(e).into());
        }
        if q.journal.lines() > 2 * q.messages.len() + COMPACT_SLACK {
            q.journal = compact(&qdir, q.next_sequence, &q.messages)?;
        }
        Ok(true)
    }
}

/// Reads a queue's folder back: its journal (and any records of the older
/// layout), then rewrites the journal with what is live and drops bodies no live
/// message has.
fn load_queue(qdir: &Path) -> Result<Queue, QueueError> {
    files::sweep_temporaries(qdir);
    let mut messages = BTreeMap::new();
    let mut next_sequence = 1;
    for entry in Journal::read::<Entry<Message>>(&qdir.join(JOURNAL))? {
        match entry {
            Entry::Next { seq } => next_sequence = next_sequence.max(seq),
            Entry::Send { message } => {
                next_sequence = next_sequence.max(message.sequence_number + 1);
                messages.insert(message.sequence_number, message);
            }
            Entry::Delivered { seq, count } => {
                if let Some(m) = messages.get_mut(&seq) {
                    m.delivery_count = count;
                }
            }
            Entry::DeadLettered { seq } => {
                if let Some(m) = messages.get_mut(&seq) {
                    m.dead_lettered = true;
                }
            }
            Entry::Completed { seq } => {
                messages.remove(&seq);
            }
        }
    }
    let legacy = read_legacy(qdir, &mut messages, &mut next_sequence)?;
    let live: BTreeMap<i64, (Message, Option<Lock>)> =
        messages.into_iter().map(|(seq, m)| (seq, (m, None))).collect();
    let journal = compact(qdir, next_sequence, &live)?;
    for path in legacy {
        files::remove(&path)?;
    }
    for entry in std::fs::read_dir(qdir).map_err(FileError::at(qdir))? {
        let path = entry.map_err(FileError::at(qdir))?.path();
        let name = path.file_name().and_then(|n| n.to_str());
        let seq = name.and_then(|n| n.strip_suffix(".body")).and_then(|n| n.parse::<i64>().ok());
        if let Some(seq) = seq
            && !live.contains_key(&seq)
        {
            files::remove(&path)?;
        }
    }
    Ok(Queue { messages: live, next_sequence, journal })
}

/// Records of the layout before the journal: `<n>.json` per message and
/// `next-sequence`. Folded into `messages`; the files to remove once the journal
/// holds them.
fn read_legacy(
    qdir: &Path,
    messages: &mut BTreeMap<i64, Message>,
    next_sequence: &mut i64,
) -> Result<Vec<PathBuf>, QueueError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(qdir).map_err(FileError::at(qdir))? {
        let path = entry.map_err(FileError::at(qdir))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(FileError::at(&path))?;
        let m: Message = serde_json::from_slice(&bytes)
            .map_err(|e| QueueError::BadRecord { path: path.clone(), reason: e.to_string() })?;
        *next_sequence = (*next_sequence).max(m.sequence_number + 1);
        messages.insert(m.sequence_number, m);
        found.push(path);
    }
    let counter = qdir.join("next-sequence");
    if let Ok(text) = std::fs::read_to_string(&counter) {
        if let Ok(n) = text.trim().parse::<i64>() {
            *next_sequence = (*next_sequence).max(n);
        }
        found.push(counter);
    }
    Ok(found)
}

/// Rewrites the journal of `qdir` with the live messages alone, and opens it for
/// appending.
fn compact(
    qdir: &Path,
    next_sequence: i64,
    live: &BTreeMap<i64, (Message, Option<Lock>)>,
) -> Result<Journal, QueueError> {
    let lines = std::iter::once(Entry::Next { seq: next_sequence })
        .chain(live.values().map(|(m, _)| Entry::Send { message: m }));
    Ok(Journal::rewrite(&qdir.join(JOURNAL), lines)?)
}

/// Queue names this service accepts (after lower-casing): letters, digits, `.`, `-`,
/// `_`, at most 260, not starting with `.`; so a name is always a safe folder name.
pub fn is_queue_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 260
        && !s.starts_with('.')
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;

    const LOCK_MS: i64 = 30_000;

    fn send(q: &Queues, id: &str, body: &[u8]) -> i64 {
        q.send("q", id, None, Map::new(), body, 1_000).expect("sent")
    }

    fn qdir(dir: &Path) -> PathBuf {
        dir.join("queues").join("q")
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(qdir(dir))
            .expect("the queue's folder")
            .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    fn take(q: &Queues, token: &str) -> Option<Locked> {
        q.peek_lock("q", 2_000, LOCK_MS, 3, token.into()).expect("read")
    }

    #[test]
    fn sequence_numbers_grow_across_restarts_and_are_never_reused() {
        let dir = tempfile::tempdir().expect("a folder");
        let q = Queues::open(dir.path()).expect("opened");
        assert_eq!((send(&q, "a", b"1"), send(&q, "b", b"2")), (1, 2));
        drop(q);
        let q = Queues::open(dir.path()).expect("reopened");
        assert_eq!(send(&q, "c", b"3"), 3);
        for (token, id) in [("t", "a"), ("u", "b"), ("v", "c")] {
            let locked = take(&q, token).expect("one");
            assert_eq!(locked.message.message_id, id);
            assert!(q.complete("q", id, token, 2_000).expect("completed"));
        }
        // Nothing is left, yet the next number is above every one handed out.
        drop(q);
        let q = Queues::open(dir.path()).expect("reopened");
        assert_eq!(send(&q, "d", b"4"), 4);
    }

    #[test]
    fn deliveries_and_dead_letters_survive_a_restart() {
        let dir = tempfile::tempdir().expect("a folder");
        let q = Queues::open(dir.path()).expect("opened");
        send(&q, "a", b"1");
        assert_eq!(take(&q, "t").expect("one").message.delivery_count, 1);
        drop(q);
        // The lock is gone with the process; the count is not.
        let q = Queues::open(dir.path()).expect("reopened");
        assert_eq!(take(&q, "u").expect("one").message.delivery_count, 2);
        drop(q);
        let q = Queues::open(dir.path()).expect("reopened");
        assert_eq!(take(&q, "v").expect("one").message.delivery_count, 3);
        drop(q);
        // Three deliveries is the limit here: dead-lettered, and still so after a restart.
        let q = Queues::open(dir.path()).expect("reopened");
        assert!(take(&q, "w").is_none());
        drop(q);
        let q = Queues::open(dir.path()).expect("reopened");
        assert!(take(&q, "x").is_none());
        assert!(names(dir.path()).contains(&"1.body".to_string()), "a dead letter is kept");
    }

    #[test]
    fn a_body_without_its_line_and_a_cut_last_line_are_dropped() {
        let dir = tempfile::tempdir().expect("a folder");
        let q = Queues::open(dir.path()).expect("opened");
        let seq = send(&q, "a", b"kept");
        drop(q);
        // As a crash between a body and its line leaves it, and a crash in a line.
        std::fs::write(qdir(dir.path()).join("999.body"), b"half").expect("written");
        let mut journal =
            OpenOptions::new().append(true).open(qdir(dir.path()).join(JOURNAL)).expect("open");
        journal.write_all(br#"{"op":"completed","se"#).expect("written");
        drop(journal);
        let q = Queues::open(dir.path()).expect("reopened");
        assert_eq!(names(dir.path()), vec![format!("{seq}.body"), JOURNAL.to_string()]);
        let locked = take(&q, "t").expect("still there");
        assert_eq!(locked.body, b"kept");
        assert!(take(&q, "u").is_none());
        assert!(q.complete("q", &seq.to_string(), "t", 2_000).expect("completed"));
        assert_eq!(names(dir.path()), vec![JOURNAL.to_string()]);
    }

    #[test]
    fn a_bad_line_before_the_last_is_an_error_not_a_silent_loss() {
        let dir = tempfile::tempdir().expect("a folder");
        drop(Queues::open(dir.path()).expect("opened"));
        std::fs::create_dir_all(qdir(dir.path())).expect("made");
        std::fs::write(
            qdir(dir.path()).join(JOURNAL),
            b"{\"op\":\"next\",\"seq\":5}\nnonsense\n{\"op\":\"completed\",\"seq\":1}\n",
        )
        .expect("written");
        assert!(matches!(
            Queues::open(dir.path()),
            Err(QueueError::Journal(JournalError::BadLine { line: 2, .. }))
        ));
    }

    #[test]
    fn a_long_journal_is_rewritten_with_the_live_messages() {
        let dir = tempfile::tempdir().expect("a folder");
        let q = Queues::open(dir.path()).expect("opened");
        let kept = send(&q, "kept", b"k");
        take(&q, "held").expect("the kept one, locked");
        for n in 0..COMPACT_SLACK {
            let id = format!("m{n}");
            send(&q, &id, b"x");
            let token = format!("t{n}");
            assert_eq!(take(&q, &token).expect("one").message.message_id, id);
            assert!(q.complete("q", &id, &token, 2_000).expect("completed"));
        }
        let lines = std::fs::read_to_string(qdir(dir.path()).join(JOURNAL)).expect("read");
        assert!(lines.lines().count() < COMPACT_SLACK, "{} lines", lines.lines().count());
        drop(q);
        let q = Queues::open(dir.path()).expect("reopened");
        let locked =
            q.peek_lock("q", 2_000, LOCK_MS, 10, "again".into()).expect("read").expect("one");
        assert_eq!((locked.message.sequence_number, locked.message.delivery_count), (kept, 2));
        assert_eq!(send(&q, "next", b"n"), kept + 1 + COMPACT_SLACK as i64);
    }

    #[test]
    fn records_of_the_older_layout_are_read_into_the_journal() {
        let dir = tempfile::tempdir().expect("a folder");
        std::fs::create_dir_all(qdir(dir.path())).expect("made");
        let old = Message {
            sequence_number: 7,
            message_id: "old".into(),
            enqueued: 1_000,
            content_type: None,
            delivery_count: 1,
            dead_lettered: false,
            properties: Map::new(),
        };
        std::fs::write(qdir(dir.path()).join("7.json"), serde_json::to_vec(&old).expect("json"))
            .expect("written");
        std::fs::write(qdir(dir.path()).join("7.body"), b"old body").expect("written");
        std::fs::write(qdir(dir.path()).join("next-sequence"), b"9").expect("written");
        let q = Queues::open(dir.path()).expect("opened");
        assert_eq!(names(dir.path()), vec!["7.body".to_string(), JOURNAL.to_string()]);
        let locked = take(&q, "t").expect("the old message");
        assert_eq!(
            (locked.message.message_id.as_str(), locked.body.as_slice()),
            ("old", &b"old body"[..])
        );
        assert_eq!(send(&q, "new", b"n"), 9);
    }
}
