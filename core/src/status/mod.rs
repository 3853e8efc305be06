//! The status lifecycle of a message: the values, the transition table, TTL expiry.

mod lifecycle;
mod table;
mod ttl;

pub use lifecycle::{Lifecycle, Outcome};
pub use table::{Direction, Move, transition};
pub use ttl::{DEFAULT_TTL, expiry};

use serde::{Deserialize, Serialize};
use std::fmt;

/// A message status, as the reference's `ReceiptStatus` names it on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Opprettet,
    Sendt,
    Mottatt,
    Levert,
    Lest,
    Feil,
    Annet,
    InnkommendeMottatt,
    InnkommendeLevert,
    LevetidUtlopt,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Opprettet,
        Status::Sendt,
        Status::Mottatt,
        Status::Levert,
        Status::Lest,
        Status::Feil,
        Status::Annet,
        Status::InnkommendeMottatt,
        Status::InnkommendeLevert,
        Status::LevetidUtlopt,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Status::Opprettet => "OPPRETTET",
            Status::Sendt => "SENDT",
            Status::Mottatt => "MOTTATT",
            Status::Levert => "LEVERT",
            Status::Lest => "LEST",
            Status::Feil => "FEIL",
            Status::Annet => "ANNET",
            Status::InnkommendeMottatt => "INNKOMMENDE_MOTTATT",
            Status::InnkommendeLevert => "INNKOMMENDE_LEVERT",
            Status::LevetidUtlopt => "LEVETID_UTLOPT",
        }
    }

    pub fn from_name(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|v| v.name() == s)
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
