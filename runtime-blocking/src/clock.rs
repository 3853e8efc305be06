//! The host's wall clock, read by the runtimes and handed to core as an input.

use efm_core::Timestamp;

pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Timestamp::from_unix_millis(ms)
}

/// The ticker's sleep, cut short when the node wants waking sooner than planned.
///
/// The ticker sleeps until the node's `wake_at` (at most a quarter second). Inputs fed
/// on other threads can move `wake_at` earlier meanwhile: a DPE round that ended
/// at its `read_max` asks for the next one now. Without an alarm that waited out
/// the rest of the sleep, up to 250 ms per round.
#[derive(Default)]
pub struct Alarm {
    state: std::sync::Mutex<AlarmState>,
    bell: std::sync::Condvar,
}

#[derive(Default)]
struct AlarmState {
    /// When the sleeping ticker means to wake; none while it is awake.
    planned: Option<Timestamp>,
    /// The `wake_at` the ticker saw when it went to sleep: work it already knows
    /// of (a `wake_at` left in the past is work waiting for a free slot, which
    /// must not make the ticker spin).
    seen: Option<Timestamp>,
    rung: bool,
}

impl Alarm {
    /// Sleep for `span` at most, having seen `wake_at`.
    pub fn sleep(&self, wake_at: Option<Timestamp>, span: std::time::Duration) {
        let deadline = std::time::Instant::now() + span;
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.seen = wake_at;
        s.planned = Some(now() + efm_core::Duration::from_millis(span.as_millis() as i64));
        s.rung = false;
        while !s.rung {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            s = self.bell.wait_timeout(s, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        s.planned = None;
    }

    /// The node now wants waking at `wake_at`: ring if that is new to the ticker
    /// and sooner than it means to wake.
    pub fn wake_by(&self, wake_at: Option<Timestamp>) {
        let Some(at) = wake_at else { return };
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.seen == Some(at) || s.planned.is_none_or(|p| at >= p) {
            return;
        }
        s.rung = true;
        self.bell.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;

    /// Starts a sleep of `span` having seen `seen`, and waits until it is asleep.
    fn sleeping(
        alarm: &Arc<Alarm>,
        seen: Option<Timestamp>,
        span: Duration,
    ) -> std::thread::JoinHandle<Duration> {
        let a = alarm.clone();
        let handle = std::thread::spawn(move || {
            let t = Instant::now();
            a.sleep(seen, span);
            t.elapsed()
        });
        while alarm.state.lock().unwrap().planned.is_none() {
            std::thread::yield_now();
        }
        handle
    }

    #[test]
    fn an_earlier_wake_at_cuts_the_sleep_short() {
        let alarm = Arc::new(Alarm::default());
        let slept = sleeping(&alarm, None, Duration::from_secs(60));
        alarm.wake_by(Some(now()));
        let slept = slept.join().unwrap();
        assert!(slept < Duration::from_secs(30), "slept {slept:?} though woken");
    }

    #[test]
    fn a_wake_at_already_seen_or_later_does_not() {
        let alarm = Arc::new(Alarm::default());
        let seen = now() + efm_core::Duration::from_secs(-5);
        let span = Duration::from_millis(300);
        let slept = sleeping(&alarm, Some(seen), span);
        // Work the ticker knows of (waiting for a slot), and a time after its plan.
        alarm.wake_by(Some(seen));
        alarm.wake_by(Some(now() + efm_core::Duration::from_secs(60)));
        alarm.wake_by(None);
        assert!(slept.join().unwrap() >= span);
    }
}
