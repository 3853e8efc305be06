//! Wall-clock time as core sees it: an input, never read from a clock.
//!
//! Deadlines (TTL expiry, retry-after, poll schedules) are persisted and compared
//! across restarts, so core works in Unix milliseconds rather than a monotonic clock.

use std::fmt;
use std::ops::{Add, Sub};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// A span of time in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(i64);

impl Duration {
    pub const ZERO: Duration = Duration(0);

    pub const fn from_millis(ms: i64) -> Self {
        Duration(ms)
    }
    pub const fn from_secs(s: i64) -> Self {
        Duration(s * 1000)
    }
    pub const fn from_mins(m: i64) -> Self {
        Duration(m * 60_000)
    }
    pub const fn from_hours(h: i64) -> Self {
        Duration(h * 3_600_000)
    }
    pub const fn as_millis(self) -> i64 {
        self.0
    }
}

impl Timestamp {
    pub const fn from_unix_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub const fn as_unix_millis(self) -> i64 {
        self.0
    }

    /// The instant an `OffsetDateTime` denotes, at millisecond precision.
    pub fn from_datetime(dt: OffsetDateTime) -> Self {
        Timestamp((dt.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    /// This instant in UTC. Out-of-range values (beyond year ±9999) saturate.
    pub fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000).unwrap_or(
            if self.0 < 0 {
                OffsetDateTime::UNIX_EPOCH
            } else {
                time::macros::datetime!(9999-12-31 23:59:59.999 UTC)
            },
        )
    }

    /// RFC 3339 in UTC, e.g. `2019-03-25T10:38:23Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime().format(&Rfc3339).unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
    }

    pub fn saturating_add(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(d.0))
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        self.saturating_add(d)
    }
}

impl Sub<Timestamp> for Timestamp {
    type Output = Duration;
    fn sub(self, other: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_datetime() {
        let dt = time::macros::datetime!(2019-03-25 11:38:23.5 +01:00);
        let ts = Timestamp::from_datetime(dt);
        assert_eq!(ts.as_unix_millis(), 1_553_510_303_500);
        assert_eq!(ts.to_datetime(), dt);
        assert_eq!(ts.to_rfc3339(), "2019-03-25T10:38:23.5Z");
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_unix_millis(i64::MAX - 1);
        assert_eq!(t + Duration::from_hours(1), Timestamp::from_unix_millis(i64::MAX));
        assert_eq!(Timestamp::from_unix_millis(i64::MAX).to_datetime().year(), 9999);
    }
}
