//! A setting's value as a source wrote it, before it is checked.

use std::path::PathBuf;
use std::str::FromStr;

use crate::byte_size::ByteSize;
use crate::expected::Expected;
use crate::interval::Interval;
use crate::service::{LIST_SHAPE, Service, ServiceSet};

/// TOML values keep their type; environment variables and properties are untyped
/// text, which each setting reads as its type (`"true"`, `"24"`, `"DPO,DPE"`).
#[derive(Clone, Debug, PartialEq)]
pub enum Raw {
    /// From the environment or a properties file.
    Text(String),
    /// A TOML string.
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<Raw>),
    /// Any other TOML value (float, date, table), by type name, with its source text.
    Other {
        kind: &'static str,
        shown: String,
    },
}

impl Raw {
    /// The value as an error message shows it: text quoted, numbers and booleans bare.
    pub fn shown(&self) -> String {
        match self {
            Raw::Text(s) | Raw::Str(s) => format!("{s:?}"),
            Raw::Int(n) => n.to_string(),
            Raw::Bool(b) => b.to_string(),
            Raw::List(items) => {
                let items: Vec<String> = items.iter().map(Raw::shown).collect();
                format!("[{}]", items.join(", "))
            }
            Raw::Other { shown, .. } => shown.clone(),
        }
    }

    /// [`Raw::shown`], unless `key` holds a secret: an error message may end up in a
    /// log, so a password is shown only when it is empty or an unresolved placeholder,
    /// the two cases where seeing it helps.
    pub fn shown_for(&self, key: &str) -> String {
        let shown = self.shown();
        if crate::keys::is_secret(key) && shown != "\"\"" && !shown.contains("${") {
            return "\"****\"".to_owned();
        }
        shown
    }

    fn kind(&self) -> &'static str {
        match self {
            Raw::Text(_) | Raw::Str(_) => "a string",
            Raw::Int(_) => "an integer",
            Raw::Bool(_) => "a boolean",
            Raw::List(_) => "an array",
            Raw::Other { kind, .. } => kind,
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Raw::Text(s) | Raw::Str(s) => Some(s),
            _ => None,
        }
    }

    fn not_a(&self, want: &str) -> Expected {
        Expected::new(format!("{want}, not {}", self.kind()))
    }

    /// A string value parsed as `T`.
    pub fn parse<T: FromStr<Err = Expected>>(&self) -> Result<T, Expected> {
        self.text().ok_or_else(|| self.not_a("a string"))?.parse()
    }

    /// A string value taken as it is, but not empty (an empty value is almost always
    /// a placeholder someone forgot to fill in).
    pub fn non_empty(&self) -> Result<String, Expected> {
        let s = self.text().ok_or_else(|| self.not_a("a string"))?;
        if s.trim().is_empty() {
            return Err(Expected::new("a non-empty string"));
        }
        Ok(s.to_owned())
    }

    pub fn path(&self) -> Result<PathBuf, Expected> {
        self.non_empty().map(PathBuf::from)
    }

    pub fn bool(&self) -> Result<bool, Expected> {
        match self {
            Raw::Bool(b) => Ok(*b),
            Raw::Text(s) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
            Raw::Text(s) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(Expected::new("true or false")),
        }
    }

    /// A whole number in `min..=max`.
    pub fn number(&self, min: u32, max: u32) -> Result<u32, Expected> {
        let shape = format!("a whole number from {min} to {max}");
        let n: i64 = match self {
            Raw::Int(n) => *n,
            Raw::Text(s) => s.trim().parse().map_err(|_| Expected::new(shape.clone()))?,
            _ => return Err(Expected::new(shape)),
        };
        u32::try_from(n).ok().filter(|n| (min..=max).contains(n)).ok_or(Expected::new(shape))
    }

    /// A whole number in `1..=max`.
    pub fn positive(&self, max: u32) -> Result<std::num::NonZeroU32, Expected> {
        let n = self.number(1, max)?;
        std::num::NonZeroU32::new(n)
            .ok_or_else(|| Expected::new(format!("a whole number from 1 to {max}")))
    }

    /// A string with a unit (`"1GB"`) or, in TOML, a number of bytes.
    pub fn byte_size(&self) -> Result<ByteSize, Expected> {
        match self {
            Raw::Int(n) => ByteSize::from_bytes(u64::try_from(*n).unwrap_or(0)),
            _ => self.parse(),
        }
    }

    pub fn interval(&self) -> Result<Interval, Expected> {
        match self {
            Raw::Int(_) => Err(Expected::new(
                "a duration like 30s (units ms, s, m, h, d), as a string with a unit",
            )),
            _ => self.parse(),
        }
    }

    /// A TOML array of names, or a comma list in text.
    pub fn services(&self) -> Result<ServiceSet, Expected> {
        match self {
            Raw::Text(s) => ServiceSet::parse_comma_list(s),
            Raw::List(items) => {
                let mut found = Vec::new();
                for item in items {
                    let name = item.text().ok_or_else(|| Expected::new(LIST_SHAPE))?;
                    found.push(name.parse::<Service>()?);
                }
                Ok(ServiceSet::of(&found))
            }
            _ => Err(Expected::new(format!("{LIST_SHAPE}, like [\"DPO\", \"DPE\"]"))),
        }
    }
}
