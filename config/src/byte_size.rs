//! Sizes such as upload limits, written the way Spring's `DataSize` writes them.

use std::fmt;
use std::str::FromStr;

use crate::expected::Expected;
use crate::unit_amount::Units;

/// A positive number of bytes.
///
/// Text form: a whole number with an optional unit `B`, `KB`, `MB`, `GB` or `TB`
/// (any case). As in Spring's `DataSize`, which the reference's `upload-size-limit`
/// settings use, the units are binary: `1KB` is 1024 bytes, `1GB` is 2^30.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(u64);

const SHAPE: &str = "a size like 250MB (units B, KB, MB, GB, TB)";

const UNITS: Units = Units {
    table: &[("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10), ("B", 1)],
    shape: SHAPE,
    any_case: true,
    bare: Some(1),
    too_big: "too large",
};

impl ByteSize {
    pub fn from_bytes(bytes: u64) -> Result<Self, Expected> {
        if bytes == 0 {
            return Err(Expected::because(SHAPE, "must be more than zero"));
        }
        Ok(ByteSize(bytes))
    }

    pub const fn mib(n: u64) -> Self {
        ByteSize(n << 20)
    }

    pub const fn gib(n: u64) -> Self {
        ByteSize(n << 30)
    }

    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = Expected;

    fn from_str(s: &str) -> Result<Self, Expected> {
        ByteSize::from_bytes(UNITS.parse(s)?)
    }
}

impl fmt::Display for ByteSize {
    /// The largest unit that divides the size exactly, so `1GB` prints as `1GB`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        UNITS.write(f, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spring_units_are_binary() {
        assert_eq!("1GB".parse::<ByteSize>().unwrap().bytes(), 1 << 30);
        assert_eq!("250mb".parse::<ByteSize>().unwrap().bytes(), 250 << 20);
        assert_eq!("17".parse::<ByteSize>().unwrap().bytes(), 17);
        assert_eq!(ByteSize::mib(2048).to_string(), "2GB");
        assert_eq!("1536KB".parse::<ByteSize>().unwrap().to_string(), "1536KB");
    }

    #[test]
    fn bad_sizes_say_why() {
        for bad in ["", "MB", "12XB", "0", "-1MB", "99999999999999999999", "99999999TB"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
        }
    }
}
