//! What the two integration points noticed along the way (a retried delivery, a
//! dropped message): kept, not printed, and shown only when the demo fails, where
//! they usually say why.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use efm_blocking::serve::Notices;

use super::messages::Side;

/// The most recent notices kept; older ones are counted only.
const KEPT: usize = 40;

#[derive(Default)]
pub struct NoticeLog {
    inner: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    recent: VecDeque<String>,
    total: usize,
}

impl NoticeLog {
    /// A sink for one node's notices.
    pub fn sink(self: &Arc<Self>, side: Side) -> Notices {
        let log = self.clone();
        Notices::To(Arc::new(move |text: &str| log.push(side, text)))
    }

    fn push(&self, side: Side, text: &str) {
        let mut k = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        k.total += 1;
        if k.recent.len() == KEPT {
            k.recent.pop_front();
        }
        k.recent.push_back(format!("{side}: {text}"));
    }

    /// The kept notices, and how many there were in all.
    pub fn recent(&self) -> (Vec<String>, usize) {
        let k = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (k.recent.iter().cloned().collect(), k.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_and_counts_all() {
        let log = Arc::new(NoticeLog::default());
        let Notices::To(a) = log.sink(Side::A) else { panic!("a function sink") };
        for n in 0..KEPT + 5 {
            a(&format!("n{n}"));
        }
        let (recent, total) = log.recent();
        assert_eq!(total, KEPT + 5);
        assert_eq!(recent.len(), KEPT);
        assert_eq!(recent[0], "A: n5");
        assert_eq!(recent[KEPT - 1], format!("A: n{}", KEPT + 4));
    }
}
