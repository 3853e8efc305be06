//! Our organisation number.

use std::fmt;
use std::str::FromStr;

use crate::expected::Expected;

/// A Norwegian organisation number: exactly nine ASCII digits.
///
/// The reference checks only the length (`@Size(min = 9, max = 9)`), and test
/// environments use synthetic numbers, so no mod-11 check digit is enforced here.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgNr(String);

impl OrgNr {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const SHAPE: &str = "a nine-digit organisation number like 910076787";

impl FromStr for OrgNr {
    type Err = Expected;

    fn from_str(s: &str) -> Result<Self, Expected> {
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Expected::because(SHAPE, "digits only"));
        }
        if s.len() != 9 {
            return Err(Expected::because(SHAPE, format!("{} digits", s.len())));
        }
        Ok(OrgNr(s.to_owned()))
    }
}

impl fmt::Display for OrgNr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
