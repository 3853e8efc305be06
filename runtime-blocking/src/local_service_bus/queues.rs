//! Queues on disk: `<dir>/queues/<queue>/<sequence number>.json` (the message's
//! properties, rewritten atomically when its delivery count changes) and `….body`
//! (the body as sent), plus `next-sequence` per queue. Locks live in memory only:
//! after a restart every message is unlocked again, as when its lock expires.
//!
//! A message exists once its `.json` does: the body is written first, under a
//! name nothing refers to yet, and a body without its record (a crash between the
//! two) is dropped when the queue is read back. `next-sequence` reserves numbers
//! [`RESERVE`] at a time, so a send rarely rewrites it; after a restart the
//! numbers continue above the last reservation, never reused, as Service Bus's
//! sequence numbers only grow.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::local_service::files::{self, FileError};

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
    #[error("{}: not a message record: {reason}", path.display())]
    BadRecord { path: PathBuf, reason: String },
}

struct Lock {
    token: String,
    until: i64,
}

/// Sequence numbers reserved in `next-sequence` at a time.
const RESERVE: i64 = 1024;

#[derive(Default)]
struct Queue {
    messages: BTreeMap<i64, (Message, Option<Lock>)>,
    next_sequence: i64,
    /// The numbers below this are reserved on disk.
    reserved: i64,
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
        if !map.contains_key(queue) {
            files::ensure_dir(&qdir)?;
        }
        let q = map.entry(queue.to_owned()).or_default();
        let seq = q.next_sequence.max(1);
        if seq >= q.reserved {
            let upto = seq + RESERVE;
            files::write_atomic(&qdir.join("next-sequence"), upto.to_string().as_bytes())?;
            q.reserved = upto;
        }
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
        write_record(&qdir, &m)?;
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
            if message.delivery_count >= max_deliveries {
                message.dead_lettered = true;
                *lock = None;
                write_record(&qdir, message)?;
                continue;
            }
            let body_path = qdir.join(format!("{}.body", message.sequence_number));
            let body = std::fs::read(&body_path).map_err(FileError::at(&body_path))?;
            message.delivery_count += 1;
            write_record(&qdir, message)?;
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
        // The record first: without it the message is gone, whatever became of
        // the body.
        let (record, body) = (qdir.join(format!("{seq}.json")), qdir.join(format!("{seq}.body")));
        files::remove_in(&qdir, &[&record, &body])?;
        q.messages.remove(&seq);
        Ok(true)
    }
}

fn write_record(qdir: &Path, m: &Message) -> Result<(), QueueError> {
    let path = qdir.join(format!("{}.json", m.sequence_number));
    let bytes = serde_json::to_vec_pretty(m)
        .map_err(|e| QueueError::BadRecord { path: path.clone(), reason: e.to_string() })?;
    Ok(files::write_atomic(&path, &bytes)?)
}

fn load_queue(qdir: &Path) -> Result<Queue, QueueError> {
    files::sweep_temporaries(qdir);
    let mut q = Queue::default();
    for entry in std::fs::read_dir(qdir).map_err(FileError::at(qdir))? {
        let path = entry.map_err(FileError::at(qdir))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(FileError::at(&path))?;
        let m: Message = serde_json::from_slice(&bytes)
            .map_err(|e| QueueError::BadRecord { path: path.clone(), reason: e.to_string() })?;
        q.next_sequence = q.next_sequence.max(m.sequence_number + 1);
        q.messages.insert(m.sequence_number, (m, None));
    }
    let counter = qdir.join("next-sequence");
    if let Ok(text) = std::fs::read_to_string(&counter)
        && let Ok(n) = text.trim().parse::<i64>()
    {
        q.next_sequence = q.next_sequence.max(n);
    }
    // The first send reserves again, above everything handed out before.
    q.reserved = q.next_sequence;
    // Bodies whose record was never written.
    for entry in std::fs::read_dir(qdir).map_err(FileError::at(qdir))? {
        let path = entry.map_err(FileError::at(qdir))?.path();
        let seq = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".body"));
        if let Some(seq) = seq.and_then(|n| n.parse::<i64>().ok())
            && !q.messages.contains_key(&seq)
        {
            files::remove(&path)?;
        }
    }
    Ok(q)
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

    const LOCK_MS: i64 = 30_000;

    fn send(q: &Queues, id: &str, body: &[u8]) -> i64 {
        q.send("q", id, None, Map::new(), body, 1_000).expect("sent")
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir.join("queues").join("q"))
            .expect("the queue's folder")
            .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn sequence_numbers_grow_across_restarts_and_are_never_reused() {
        let dir = tempfile::tempdir().expect("a folder");
        let q = Queues::open(dir.path()).expect("opened");
        assert_eq!((send(&q, "a", b"1"), send(&q, "b", b"2")), (1, 2));
        drop(q);
        let q = Queues::open(dir.path()).expect("reopened");
        let third = send(&q, "c", b"3");
        assert!(third > 2, "{third}");
        let locked = q.peek_lock("q", 2_000, LOCK_MS, 10, "t".into()).expect("read").expect("one");
        assert_eq!((locked.message.sequence_number, locked.body.as_slice()), (1, &b"1"[..]));
        assert!(q.complete("q", "a", "t", 2_000).expect("completed"));
        // Every number in use is gone from the queue; the next is above all of them.
        drop(q);
        let q = Queues::open(dir.path()).expect("reopened");
        let fourth = send(&q, "d", b"4");
        assert!(fourth > third, "{fourth} after {third}");
    }

    #[test]
    fn a_body_without_its_record_is_dropped_and_a_completed_message_leaves_nothing() {
        let dir = tempfile::tempdir().expect("a folder");
        let q = Queues::open(dir.path()).expect("opened");
        let seq = send(&q, "a", b"kept");
        // As a crash between the body and its record leaves it.
        std::fs::write(dir.path().join("queues/q/999.body"), b"half").expect("written");
        drop(q);
        let q = Queues::open(dir.path()).expect("reopened");
        assert_eq!(
            names(dir.path()),
            vec![format!("{seq}.body"), format!("{seq}.json"), "next-sequence".into()]
        );
        let locked = q.peek_lock("q", 2_000, LOCK_MS, 10, "t".into()).expect("read").expect("one");
        assert_eq!(locked.body, b"kept");
        assert!(q.peek_lock("q", 2_000, LOCK_MS, 10, "u".into()).expect("read").is_none());
        assert!(q.complete("q", &seq.to_string(), "t", 2_000).expect("completed"));
        assert_eq!(names(dir.path()), vec!["next-sequence".to_string()]);
    }
}
