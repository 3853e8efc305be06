//! Everything that can be wrong with a configuration, and where it came from.

use std::fmt;

use crate::expected::Expected;

/// Where a setting was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A line of a TOML or properties file; `path` as the user gave it.
    File { path: String, line: usize },
    /// An `EFM_*` environment variable (the key names the variable).
    Env,
}

impl Origin {
    pub(crate) fn file(path: &str, line: usize) -> Self {
        Origin::File { path: path.to_owned(), line }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{path}:{line}"),
            Origin::Env => f.write_str("environment"),
        }
    }
}

/// One configuration error. Each names the source, the key, the value and what was
/// expected, so that it can be fixed without reading efm's code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("{origin}: {key} = {value}: expected {expected}")]
    BadValue {
        origin: Origin,
        /// As the source spells it: `listen`, `EFM_LISTEN`, `server.port`.
        key: String,
        /// As written, quoted if it was text.
        value: String,
        expected: Expected,
    },
    #[error("{origin}: unknown key {key}{}", did_you_mean(.suggestion))]
    UnknownKey { origin: Origin, key: String, suggestion: Option<String> },
    /// A setting that is only usable with another one, which is missing.
    #[error("{origin}: {key} is set but {missing} is not ({hint})")]
    Incomplete { origin: Origin, key: String, missing: String, hint: &'static str },
    /// The file is not valid TOML (or, for properties, has a broken escape).
    #[error("{origin}: {message}")]
    Syntax { origin: Origin, message: String },
    #[error("{path}: cannot read the file ({reason})")]
    Unreadable { path: String, reason: String },
}

/// Something efm ignored; start-up goes on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Warning {
    /// Reference settings that efm has no use for, each listed once.
    #[error("{path}: ignored {} setting{} that efm does not support: {}", .keys.len(), plural(.keys.len()), .keys.join(", "))]
    UnsupportedKeys { path: String, keys: Vec<String> },
    /// An `EFM_*` variable efm does not read (a typo, or a setting only the file has).
    #[error("environment: unknown variable {var}{}", did_you_mean(.suggestion))]
    UnknownEnv { var: String, suggestion: Option<String> },
    /// A setting read in a way its writer may not expect.
    #[error("{origin}: {key}: {note}")]
    Note { origin: Origin, key: String, note: &'static str },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean {s}?)"),
        None => String::new(),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Every error found, with the warnings, returned together so that one start-up
/// shows all there is to fix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problems {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Warning>,
}

impl fmt::Display for Problems {
    /// One line per error, then one per warning (prefixed `warning: `), ready to print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        writeln!(f, "{n} configuration error{}:", plural(n))?;
        for e in &self.errors {
            writeln!(f, "{e}")?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}
