//! The transition table: for each direction, what registering status `event` does to
//! a message whose current status is `current`. Data, not code, so that a reader can
//! check it against the specification row by row and the tests can walk every cell.
//!
//! The reference has no guard at all (any status may follow any other, de-duplicated
//! by value). We keep its vocabulary and its happy paths, and add the rules its users
//! are missing: no moving backwards, nothing after a terminal status, and no statuses
//! of the other direction.

use super::Status;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Outgoing,
    Incoming,
}

/// What registering a status does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Move {
    /// Recorded, and becomes the current status.
    Advance,
    /// Recorded as information; the current status stays (`ANNET`).
    Note,
    /// Older than, or made moot by, the current status: peers reorder and repeat
    /// receipts, so this is dropped quietly rather than refused.
    Stale,
    /// Never valid here: a status of the other direction, or a state the direction
    /// never reaches.
    Illegal,
}

const A: Move = Move::Advance;
const N: Move = Move::Note;
const S: Move = Move::Stale;
const X: Move = Move::Illegal;

/// Rows and columns follow `Status::ALL`:
/// OPPRETTET, SENDT, MOTTATT, LEVERT, LEST, FEIL, ANNET, INNKOMMENDE_MOTTATT,
/// INNKOMMENDE_LEVERT, LEVETID_UTLOPT.
#[rustfmt::skip]
const OUTGOING: [[Move; 10]; 10] = [
    //            OPP SEN MOT LEV LES FEI ANN IMO ILE TTL   <- event
    /* OPPRETT */ [S,  A,  A,  A,  A,  A,  N,  X,  X,  A],
    /* SENDT   */ [S,  S,  A,  A,  A,  A,  N,  X,  X,  A],
    /* MOTTATT */ [S,  S,  S,  A,  A,  A,  N,  X,  X,  A],
    // Delivered: the TTL no longer applies, but a later receipt may still say
    // LEST or FEIL (an arkivmelding_kvittering of type ERROR, say).
    /* LEVERT  */ [S,  S,  S,  S,  A,  A,  N,  X,  X,  S],
    /* LEST    */ [S,  S,  S,  S,  S,  S,  S,  X,  X,  S],
    /* FEIL    */ [S,  S,  S,  S,  S,  S,  S,  X,  X,  S],
    /* ANNET   */ [X,  X,  X,  X,  X,  X,  X,  X,  X,  X],
    /* INN_MOT */ [X,  X,  X,  X,  X,  X,  X,  X,  X,  X],
    /* INN_LEV */ [X,  X,  X,  X,  X,  X,  X,  X,  X,  X],
    /* UTLOPT  */ [S,  S,  S,  S,  S,  S,  S,  X,  X,  S],
];

#[rustfmt::skip]
const INCOMING: [[Move; 10]; 10] = [
    //            OPP SEN MOT LEV LES FEI ANN IMO ILE TTL   <- event
    /* OPPRETT */ [S,  X,  X,  X,  X,  A,  N,  A,  A,  A],
    /* SENDT   */ [X,  X,  X,  X,  X,  X,  X,  X,  X,  X],
    /* MOTTATT */ [X,  X,  X,  X,  X,  X,  X,  X,  X,  X],
    /* LEVERT  */ [X,  X,  X,  X,  X,  X,  X,  X,  X,  X],
    /* LEST    */ [X,  X,  X,  X,  X,  X,  X,  X,  X,  X],
    /* FEIL    */ [S,  X,  X,  X,  X,  S,  S,  S,  S,  S],
    /* ANNET   */ [X,  X,  X,  X,  X,  X,  X,  X,  X,  X],
    /* INN_MOT */ [S,  X,  X,  X,  X,  A,  N,  S,  A,  A],
    /* INN_LEV */ [S,  X,  X,  X,  X,  S,  S,  S,  S,  S],
    /* UTLOPT  */ [S,  X,  X,  X,  X,  S,  S,  S,  S,  S],
];

/// Look up the table.
pub const fn transition(direction: Direction, current: Status, event: Status) -> Move {
    let table = match direction {
        Direction::Outgoing => &OUTGOING,
        Direction::Incoming => &INCOMING,
    };
    table[current as usize][event as usize]
}

impl Direction {
    /// The statuses after which nothing more is recorded.
    pub const fn is_terminal(self, s: Status) -> bool {
        match self {
            Direction::Outgoing => matches!(s, Status::Lest | Status::Feil | Status::LevetidUtlopt),
            Direction::Incoming => {
                matches!(s, Status::InnkommendeLevert | Status::Feil | Status::LevetidUtlopt)
            }
        }
    }

    /// Whether a message in status `s` can still expire: exactly when the table lets
    /// `LEVETID_UTLOPT` advance it.
    pub const fn can_expire(self, s: Status) -> bool {
        matches!(transition(self, s, Status::LevetidUtlopt), Move::Advance)
    }

    /// The states a message of this direction can be in.
    pub fn states(self) -> impl Iterator<Item = Status> {
        Status::ALL.into_iter().filter(move |&s| {
            s == Status::Opprettet
                || Status::ALL.iter().any(|&from| transition(self, from, s) == Move::Advance)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIRS: [Direction; 2] = [Direction::Outgoing, Direction::Incoming];

    /// Position on the happy path; statuses off the path have none.
    fn rank(d: Direction, s: Status) -> Option<u8> {
        let path: &[Status] = match d {
            Direction::Outgoing => {
                &[Status::Opprettet, Status::Sendt, Status::Mottatt, Status::Levert, Status::Lest]
            }
            Direction::Incoming => {
                &[Status::Opprettet, Status::InnkommendeMottatt, Status::InnkommendeLevert]
            }
        };
        path.iter().position(|&p| p == s).map(|p| p as u8)
    }

    fn belongs(d: Direction, s: Status) -> bool {
        matches!(s, Status::Opprettet | Status::Feil | Status::Annet | Status::LevetidUtlopt)
            || rank(d, s).is_some()
    }

    /// Every (direction, state, event) cell, checked against the rules the table
    /// is meant to encode, stated independently here.
    #[test]
    fn every_cell_follows_the_rules() {
        let mut cells = 0;
        for d in DIRS {
            let reachable: Vec<Status> = d.states().collect();
            for current in Status::ALL {
                for event in Status::ALL {
                    cells += 1;
                    let got = transition(d, current, event);
                    let expected = if !reachable.contains(&current) || !belongs(d, event) {
                        Move::Illegal
                    } else if d.is_terminal(current) {
                        Move::Stale
                    } else if event == Status::Annet {
                        Move::Note
                    } else if event == Status::Feil {
                        Move::Advance
                    } else if event == Status::LevetidUtlopt {
                        // Only what is not yet delivered can expire.
                        let delivered = matches!(current, Status::Levert);
                        if delivered { Move::Stale } else { Move::Advance }
                    } else {
                        match (rank(d, current), rank(d, event)) {
                            (Some(c), Some(e)) if e > c => Move::Advance,
                            _ => Move::Stale,
                        }
                    };
                    assert_eq!(got, expected, "{d:?}: {current} + {event}");
                }
            }
        }
        assert_eq!(cells, 200);
    }

    #[test]
    fn reachable_states() {
        let out: Vec<_> = Direction::Outgoing.states().collect();
        assert_eq!(
            out,
            [
                Status::Opprettet,
                Status::Sendt,
                Status::Mottatt,
                Status::Levert,
                Status::Lest,
                Status::Feil,
                Status::LevetidUtlopt
            ]
        );
        let inc: Vec<_> = Direction::Incoming.states().collect();
        assert_eq!(
            inc,
            [
                Status::Opprettet,
                Status::Feil,
                Status::InnkommendeMottatt,
                Status::InnkommendeLevert,
                Status::LevetidUtlopt
            ]
        );
    }

    #[test]
    fn terminal_states_accept_nothing() {
        for d in DIRS {
            for s in d.states().filter(|&s| d.is_terminal(s)) {
                for e in Status::ALL {
                    assert!(
                        matches!(transition(d, s, e), Move::Stale | Move::Illegal),
                        "{d:?} {s} {e}"
                    );
                }
                assert!(!d.can_expire(s));
            }
        }
    }

    #[test]
    fn expiry_stops_at_delivery() {
        let d = Direction::Outgoing;
        assert!(
            d.can_expire(Status::Opprettet)
                && d.can_expire(Status::Sendt)
                && d.can_expire(Status::Mottatt)
        );
        assert!(!d.can_expire(Status::Levert));
        let d = Direction::Incoming;
        assert!(d.can_expire(Status::InnkommendeMottatt));
        assert!(!d.can_expire(Status::InnkommendeLevert));
    }
}
