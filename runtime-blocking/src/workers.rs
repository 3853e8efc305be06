//! A pool of threads for the node's HTTP requests and payload jobs: at least `min`
//! threads, more while every one is busy (up to `max`), the extra ones ending after
//! a while without work. It grows rather than making work wait because a slow peer
//! (a webhook that hangs, a large upload) must not hold up the registry lookup an
//! API call waits for, as a fixed pool would once all its threads were stuck.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// How long a thread beyond `min` waits for work before it ends.
const IDLE_END: Duration = Duration::from_secs(10);

pub struct Workers<T: Send + 'static> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    min: usize,
    max: usize,
    name: String,
    handler: Box<dyn Fn(T) + Send + Sync>,
}

struct State<T> {
    queue: VecDeque<T>,
    /// Threads waiting for work.
    idle: usize,
    threads: usize,
    /// The pool is dropped: threads end once the queue is empty.
    closed: bool,
}

impl<T: Send + 'static> Workers<T> {
    /// A pool named `name` (its threads are `name-N`) that hands each item to
    /// `handler`. No thread starts before the first item.
    pub fn new(
        name: &str,
        min: usize,
        max: usize,
        handler: impl Fn(T) + Send + Sync + 'static,
    ) -> Self {
        let state = State { queue: VecDeque::new(), idle: 0, threads: 0, closed: false };
        Workers {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                ready: Condvar::new(),
                min,
                max: max.max(1),
                name: name.to_owned(),
                handler: Box::new(handler),
            }),
        }
    }

    /// Queue `item`; a thread is started for it when none is waiting. If no thread
    /// can be started (at `max`, or the system refuses) it waits for a free one.
    pub fn submit(&self, item: T) {
        let mut s = self.shared.lock();
        s.queue.push_back(item);
        if s.queue.len() <= s.idle {
            self.shared.ready.notify_one();
            return;
        }
        if s.threads >= self.shared.max {
            return;
        }
        s.threads += 1;
        let n = s.threads;
        drop(s);
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{}-{n}", self.shared.name))
            .spawn(move || shared.work());
        if spawned.is_err() {
            self.shared.lock().threads -= 1;
        }
    }
}

impl<T: Send + 'static> Drop for Workers<T> {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A thread's life: take work while there is some, wait for more, end when
    /// closed or (beyond `min`) idle too long.
    fn work(&self) {
        let mut s = self.lock();
        loop {
            if let Some(item) = s.queue.pop_front() {
                drop(s);
                (self.handler)(item);
                s = self.lock();
                continue;
            }
            if s.closed {
                break;
            }
            s.idle += 1;
            let (next, waited) =
                self.ready.wait_timeout(s, IDLE_END).unwrap_or_else(|p| p.into_inner());
            s = next;
            s.idle -= 1;
            if waited.timed_out() && s.queue.is_empty() && s.threads > self.min {
                break;
            }
        }
        s.threads -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[test]
    fn every_item_is_handled() {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let pool = Workers::new("test", 2, 8, move |n: u32| {
            let _ = tx.lock().unwrap().send(n);
        });
        for n in 0..100 {
            pool.submit(n);
        }
        let mut got: Vec<u32> =
            (0..100).map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn stuck_threads_do_not_hold_up_new_work() {
        // Every item but the last blocks until released; the last must still be
        // handled while they are stuck.
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release = Mutex::new(release_rx);
        let done = Arc::new(AtomicUsize::new(0));
        let counted = done.clone();
        let pool = Workers::new("test", 2, 64, move |stuck: bool| {
            if stuck {
                let _ = release.lock().unwrap().recv();
            }
            counted.fetch_add(1, Ordering::SeqCst);
        });
        for _ in 0..5 {
            pool.submit(true);
        }
        pool.submit(false);
        let start = std::time::Instant::now();
        while done.load(Ordering::SeqCst) == 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "the free item waited");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(release_tx);
    }
}
