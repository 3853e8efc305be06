//! Queues on disk: `<dir>/queues/<queue>/<sequence number>.json` (the message's
//! properties, rewritten atomically when its delivery count changes) and `….body`
//! (the body as sent), plus `next-sequence` per queue. Locks live in memory only:
//! after a restart every message is unlocked again, as when its lock expires.

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

#[derive(Default)]
struct Queue {
    messages: BTreeMap<i64, (Message, Option<Lock>)>,
    next_sequence: i64,
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
        files::ensure_dir(&qdir)?;
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let q = map.entry(queue.to_owned()).or_default();
        let seq = q.next_sequence.max(1);
        files::write_atomic(&qdir.join("next-sequence"), (seq + 1).to_string().as_bytes())?;
        q.next_sequence = seq + 1;
        files::write_atomic(&qdir.join(format!("{seq}.body")), body)?;
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
        files::remove(&qdir.join(format!("{seq}.json")))?;
        files::remove(&qdir.join(format!("{seq}.body")))?;
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
