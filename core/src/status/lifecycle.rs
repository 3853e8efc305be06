//! One message's status history, driven by the transition table.

use super::Status;
use super::table::{Direction, Move, transition};
use crate::Timestamp;

/// The lifecycle of one message: its direction, its current status, and which
/// statuses have been recorded (each value at most once, as the reference promises
/// its clients).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    direction: Direction,
    current: Status,
    recorded: u16,
}

/// What registering a status did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded; the message is now in this status.
    Advanced,
    /// Recorded as information (`ANNET`); the current status is unchanged.
    Noted,
    /// Already recorded once: nothing to do.
    Repeat,
    /// Superseded by the current status: nothing recorded.
    Stale,
    /// Not a status this message can have: nothing recorded.
    Illegal,
}

impl Outcome {
    /// Whether the caller must persist a new status row.
    pub fn is_recorded(self) -> bool {
        matches!(self, Outcome::Advanced | Outcome::Noted)
    }
}

impl Lifecycle {
    /// A new message, with `OPPRETTET` recorded.
    pub fn new(direction: Direction) -> Self {
        Lifecycle { direction, current: Status::Opprettet, recorded: Status::Opprettet.bit() }
    }

    /// Rebuild from stored status rows, in the order they were recorded. Rows the
    /// table would not have recorded are skipped, so a history written by an older
    /// version cannot put the message in an impossible state.
    pub fn replay(direction: Direction, history: impl IntoIterator<Item = Status>) -> Self {
        let mut l = Lifecycle::new(direction);
        for s in history {
            l.apply(s);
        }
        l
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    pub fn current(&self) -> Status {
        self.current
    }

    pub fn has_recorded(&self, s: Status) -> bool {
        self.recorded & s.bit() != 0
    }

    pub fn is_terminal(&self) -> bool {
        self.direction.is_terminal(self.current)
    }

    /// Register `status`.
    pub fn apply(&mut self, status: Status) -> Outcome {
        if self.has_recorded(status) {
            return Outcome::Repeat;
        }
        match transition(self.direction, self.current, status) {
            Move::Advance => {
                self.current = status;
                self.recorded |= status.bit();
                Outcome::Advanced
            }
            Move::Note => {
                self.recorded |= status.bit();
                Outcome::Noted
            }
            Move::Stale => Outcome::Stale,
            Move::Illegal => Outcome::Illegal,
        }
    }

    /// `LEVETID_UTLOPT` if `expiry` has passed and the message can still expire.
    pub fn expire_if_due(&mut self, now: Timestamp, expiry: Timestamp) -> Option<Outcome> {
        if now >= expiry && self.direction.can_expire(self.current) {
            Some(self.apply(Status::LevetidUtlopt))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn outgoing_happy_path_and_repeats() {
        let mut l = Lifecycle::new(Direction::Outgoing);
        assert_eq!(l.apply(Status::Opprettet), Outcome::Repeat);
        assert_eq!(l.apply(Status::Sendt), Outcome::Advanced);
        assert_eq!(l.apply(Status::Levert), Outcome::Advanced);
        // MOTTATT arriving after LEVERT: reordered receipts are dropped, not recorded.
        assert_eq!(l.apply(Status::Mottatt), Outcome::Stale);
        assert_eq!(l.apply(Status::Levert), Outcome::Repeat);
        assert_eq!(l.apply(Status::Annet), Outcome::Noted);
        assert_eq!(l.apply(Status::Annet), Outcome::Repeat);
        assert_eq!(l.current(), Status::Levert);
        assert_eq!(l.apply(Status::InnkommendeLevert), Outcome::Illegal);
        assert_eq!(l.apply(Status::Lest), Outcome::Advanced);
        assert!(l.is_terminal());
        assert_eq!(l.apply(Status::Feil), Outcome::Stale);
    }

    #[test]
    fn expiry() {
        let t = |ms| Timestamp::from_unix_millis(ms);
        let mut l = Lifecycle::new(Direction::Outgoing);
        assert_eq!(l.expire_if_due(t(99), t(100)), None);
        assert_eq!(l.expire_if_due(t(100), t(100)), Some(Outcome::Advanced));
        assert_eq!(l.current(), Status::LevetidUtlopt);
        assert_eq!(l.expire_if_due(t(200), t(100)), None);

        let mut l = Lifecycle::replay(Direction::Outgoing, [Status::Sendt, Status::Levert]);
        assert_eq!(l.expire_if_due(t(200), t(100)), None, "delivered messages do not expire");

        let mut l = Lifecycle::replay(Direction::Incoming, [Status::InnkommendeMottatt]);
        assert_eq!(l.expire_if_due(t(200), t(100)), Some(Outcome::Advanced));
    }

    fn any_status() -> impl Strategy<Value = Status> {
        (0..Status::ALL.len()).prop_map(|i| Status::ALL[i])
    }

    proptest! {
        /// Whatever order statuses arrive in: each is recorded at most once, the
        /// current status only moves along the table, and a terminal status is final.
        #[test]
        fn any_sequence_keeps_the_invariants(
            incoming in any::<bool>(),
            events in proptest::collection::vec(any_status(), 0..40),
        ) {
            let d = if incoming { Direction::Incoming } else { Direction::Outgoing };
            let mut l = Lifecycle::new(d);
            let mut recorded = vec![Status::Opprettet];
            for e in events {
                let before = l;
                let outcome = l.apply(e);
                if outcome.is_recorded() {
                    prop_assert!(!recorded.contains(&e), "{e} recorded twice");
                    recorded.push(e);
                } else {
                    prop_assert_eq!(l, before, "a status that is not recorded changes nothing");
                }
                if outcome == Outcome::Advanced {
                    prop_assert_eq!(transition(d, before.current(), e), Move::Advance);
                    prop_assert!(!before.is_terminal());
                } else {
                    prop_assert_eq!(l.current(), before.current());
                }
                if before.is_terminal() {
                    prop_assert!(!outcome.is_recorded());
                }
            }
            // Replaying the recorded history gives the same lifecycle back.
            prop_assert_eq!(Lifecycle::replay(d, recorded.iter().copied().skip(1)), l);
        }
    }
}
