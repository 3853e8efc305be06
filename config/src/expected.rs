//! What a setting expected when it was given something else.

use std::fmt;

/// The second half of a bad-value message: `expected <this>`.
///
/// Kept as text because it is only ever shown to a person, and each parser knows best
/// how to say what a good value looks like (and, in parentheses, what was wrong).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected(pub String);

impl Expected {
    pub(crate) fn new(text: impl Into<String>) -> Self {
        Expected(text.into())
    }

    /// `expected <what> (<why>)`: the shape of a good value, then the reason this one failed.
    pub(crate) fn because(what: &str, why: impl fmt::Display) -> Self {
        Expected(format!("{what} ({why})"))
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
