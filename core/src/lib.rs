//! efm-core: the eFormidling integration point as a sans-IO state machine.
//!
//! Nothing in this crate reads a clock, draws OS randomness, opens a file or a socket,
//! or starts a thread: `core/clippy.toml` forbids each of them. Time comes in as a
//! [`Timestamp`] argument, randomness as bytes, and every effect goes out as an output
//! for a runtime to carry out.
#![forbid(unsafe_code)]

pub mod api;
pub mod arkivmelding;
pub mod crypto;
pub mod entropy;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod http_framing;
pub mod ids;
pub mod jose;
pub mod mail;
pub mod node;
pub mod package;
pub mod registry;
pub mod routing;
pub mod sbd;
pub mod status;
pub mod timestamp;
pub mod transport;
pub mod xml_reference;

pub use timestamp::{Duration, Timestamp};
