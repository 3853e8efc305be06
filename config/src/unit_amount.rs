//! Amounts written as a whole number and a unit, as sizes (`250MB`) and durations
//! (`30s`) are: one reader and one writer for both.

use std::fmt;

use crate::expected::Expected;

/// How one kind of amount is written.
pub struct Units {
    /// `(unit, factor)`, largest first.
    pub table: &'static [(&'static str, u64)],
    /// What a value should look like, for error messages.
    pub shape: &'static str,
    /// Whether `mb` is `MB`.
    pub any_case: bool,
    /// The factor of a number written without a unit; `None`: a unit is required.
    pub bare: Option<u64>,
    /// Why an amount beyond `u64` is refused ("too large", "too long").
    pub too_big: &'static str,
}

impl Units {
    /// The amount in the smallest unit.
    pub fn parse(&self, s: &str) -> Result<u64, Expected> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        if digits.is_empty() {
            return Err(Expected::new(self.shape));
        }
        let unit = unit.trim();
        let factor = match (unit.is_empty(), self.bare) {
            (true, Some(f)) => f,
            (true, None) => return Err(Expected::because(self.shape, "no unit")),
            (false, _) => {
                let same = |name: &str| {
                    if self.any_case { name.eq_ignore_ascii_case(unit) } else { name == unit }
                };
                match self.table.iter().find(|(name, _)| same(name)) {
                    Some((_, f)) => *f,
                    None => {
                        return Err(Expected::because(self.shape, format!("unknown unit {unit}")));
                    }
                }
            }
        };
        let n: u64 = digits.parse().map_err(|_| Expected::because(self.shape, self.too_big))?;
        n.checked_mul(factor).ok_or_else(|| Expected::because(self.shape, self.too_big))
    }

    /// Write `value` in the largest unit that divides it exactly (`15m`, not
    /// `900000ms`); the smallest unit when none larger does.
    pub fn write(&self, f: &mut fmt::Formatter<'_>, value: u64) -> fmt::Result {
        for (name, factor) in self.table {
            if value.is_multiple_of(*factor) {
                return write!(f, "{}{name}", value / factor);
            }
        }
        let smallest = self.table.last().map_or("", |(name, _)| *name);
        write!(f, "{value}{smallest}")
    }
}
