//! Group commit: many writes, one fsync.
//!
//! With [`Durability::Grouped`](crate::Durability::Grouped) SQLite commits with
//! `synchronous=NORMAL` in WAL mode: a commit is written to the WAL file (so another
//! process, or this one after a crash, sees it) but not fsynced. The runtime holds
//! back everything a write lets it tell the outside (an API answer, a download
//! confirmation, a status message, any HTTP request) until [`GroupSync::sync_through`]
//! has fsynced the WAL past that write. Whoever calls it first fsyncs for every
//! commit written so far; callers that arrive while an fsync runs wait for it, or
//! for the next one, which covers them all. So "durable before acknowledged" holds
//! as with `synchronous=FULL`, at one fsync for a group of writes instead of one
//! for each, and the fsync runs outside the node's lock.
//!
//! Why fsyncing the WAL file is enough: a WAL commit is frames appended to that one
//! file (SQLite's own `synchronous=FULL` commit is exactly an fsync of it after the
//! commit frame); frames already checkpointed into the database were fsynced there
//! by the checkpoint (WAL synced before it, database after it, in `NORMAL` too).
//! The file is opened read-only once and kept open for the store's life: SQLite
//! takes no POSIX locks on the WAL file (its locks are on the database file, which
//! the store holds in exclusive mode), so our descriptor cannot release one of
//! SQLite's when it closes.
//!
//! What this does not change: payload files are still flushed before the commit
//! that names them (a durable row never names a lost file).

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

/// The fsync side of a grouped store; shared with the threads that must wait for
/// durability.
#[derive(Debug)]
pub struct GroupSync {
    wal: File,
    /// Commits made so far (a counter, not a position in the file).
    written: AtomicU64,
    /// Every commit up to this count is durable. Read without the lock: most
    /// callers find their writes flushed already (another caller's fsync covered
    /// them, or they wrote nothing) and need neither the lock nor a wake-up. Raised
    /// only under the lock, by the caller that fsynced.
    synced: AtomicU64,
    state: Mutex<State>,
    synced_now: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// An fsync is under way (by another thread).
    syncing: bool,
    /// Callers waiting for the fsync under way: woken only if there are some.
    waiting: usize,
}

/// The WAL could not be flushed: what was committed since the last good fsync
/// may not be durable, and on Linux a second fsync would not say so (the failed
/// pages are marked clean). Nothing written since may be acknowledged.
#[derive(Debug, thiserror::Error)]
#[error("flushing the database's write-ahead log failed: {0}")]
pub struct SyncError(#[from] std::io::Error);

impl GroupSync {
    pub(crate) fn new(wal: File) -> GroupSync {
        GroupSync {
            wal,
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            synced_now: Condvar::new(),
        }
    }

    /// Count a commit that has returned (called by the store after each write).
    pub(crate) fn committed(&self) {
        self.written.fetch_add(1, Ordering::SeqCst);
    }

    /// The commits made so far: pass it to [`sync_through`](Self::sync_through).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// Return once every commit up to `written` is durable, fsyncing if no fsync
    /// under way or done already covers them.
    pub fn sync_through(&self, written: u64) -> Result<(), SyncError> {
        if self.synced() >= written {
            return Ok(());
        }
        let mut s = self.lock();
        loop {
            if self.synced() >= written {
                return Ok(());
            }
            if s.syncing {
                s.waiting += 1;
                s = self.synced_now.wait(s).unwrap_or_else(|p| p.into_inner());
                s.waiting -= 1;
                continue;
            }
            s.syncing = true;
            // Every commit counted by now has been written to the WAL (the
            // count goes up after the commit returns), so this fsync covers it.
            let target = self.written();
            drop(s);
            let result = self.wal.sync_data();
            s = self.lock();
            s.syncing = false;
            if result.is_ok() {
                self.synced.fetch_max(target, Ordering::SeqCst);
            }
            if s.waiting > 0 {
                self.synced_now.notify_all();
            }
            result?;
        }
    }

    fn synced(&self) -> u64 {
        self.synced.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn one_sync_covers_every_commit_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let g = GroupSync::new(File::create(dir.path().join("wal")).unwrap());
        assert!(g.sync_through(0).is_ok());
        g.committed();
        g.committed();
        assert_eq!(g.written(), 2);
        g.sync_through(1).unwrap();
        // The fsync for 1 took 2 along: nothing left to do for it.
        assert_eq!(g.synced(), 2);
        g.sync_through(2).unwrap();
        assert_eq!(g.synced(), 2);
    }

    #[test]
    fn concurrent_callers_all_return_durable() {
        let dir = tempfile::tempdir().unwrap();
        let g = Arc::new(GroupSync::new(File::create(dir.path().join("wal")).unwrap()));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        g.committed();
                        let upto = g.written();
                        g.sync_through(upto).unwrap();
                        assert!(g.synced() >= upto);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(g.synced(), 400);
    }
}
