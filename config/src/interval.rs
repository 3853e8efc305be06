//! Durations such as polling rates and timeouts, written with a unit: `30s`, `5m`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::expected::Expected;
use crate::unit_amount::Units;

/// A positive duration, whole milliseconds.
///
/// Text form: a whole number followed by `ms`, `s`, `m`, `h` or `d`. A unit is
/// required because the reference mixes milliseconds (`pollingrate`) and minutes
/// (`lockTimeoutMinutes`) for bare numbers, and a guessed unit is a silent error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval(u64);

const SHAPE: &str = "a duration like 30s (units ms, s, m, h, d)";

const UNITS: Units = Units {
    table: &[("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)],
    shape: SHAPE,
    any_case: false,
    bare: None,
    too_big: "too long",
};

/// Longer than any setting needs (about 31 years); keeps `Duration` and `u64` sums safe.
const MAX_MILLIS: u64 = 1_000_000_000_000;

impl Interval {
    pub fn from_millis(ms: u64) -> Result<Self, Expected> {
        if ms == 0 {
            return Err(Expected::because(SHAPE, "must be more than zero"));
        }
        if ms > MAX_MILLIS {
            return Err(Expected::because(SHAPE, "too long"));
        }
        Ok(Interval(ms))
    }

    pub const fn secs(n: u64) -> Self {
        Interval(n * 1_000)
    }

    pub const fn mins(n: u64) -> Self {
        Interval(n * 60_000)
    }

    pub fn millis(self) -> u64 {
        self.0
    }

    pub fn as_duration(self) -> Duration {
        Duration::from_millis(self.0)
    }
}

impl FromStr for Interval {
    type Err = Expected;

    fn from_str(s: &str) -> Result<Self, Expected> {
        Interval::from_millis(UNITS.parse(s)?)
    }
}

impl fmt::Display for Interval {
    /// The largest unit that divides the duration exactly: `15m`, not `900000ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        UNITS.write(f, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!("15s".parse::<Interval>().unwrap().millis(), 15_000);
        assert_eq!("5m".parse::<Interval>().unwrap(), Interval::mins(5));
        assert_eq!("1500ms".parse::<Interval>().unwrap().to_string(), "1500ms");
        assert_eq!(Interval::from_millis(900_000).unwrap().to_string(), "15m");
        assert_eq!("2d".parse::<Interval>().unwrap().to_string(), "2d");
    }

    #[test]
    fn bad_durations() {
        for bad in ["", "s", "30", "0s", "5 minutes", "-5s", "99999999999999999999d", "400000d"] {
            assert!(bad.parse::<Interval>().is_err(), "{bad}");
        }
    }
}
