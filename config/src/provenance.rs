//! Where each effective setting came from, for `efm config check` and for runtime
//! errors about a setting (a keystore that cannot be opened, say).

use std::collections::BTreeMap;
use std::fmt;

use crate::problem::Origin;

/// The source of one setting: where, and under which name there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    pub origin: Origin,
    /// As the source spells it: `EFM_LISTEN`, `server.port`, `listen`.
    pub key: String,
}

impl fmt::Display for Provenance {
    /// `efm.toml:4`, `environment EFM_LISTEN`, `local.properties:2 server.port`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::Env => write!(f, "environment {}", self.key),
            Origin::File { .. } => write!(f, "{} {}", self.origin, self.key),
        }
    }
}

/// Provenance by efm.toml key; a key not in it has its default value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origins(BTreeMap<String, Provenance>);

impl Origins {
    pub fn get(&self, key: &str) -> Option<&Provenance> {
        self.0.get(key)
    }

    pub(crate) fn record(&mut self, key: &str, origin: &Origin, shown_key: &str) {
        self.0.insert(
            key.to_owned(),
            Provenance { origin: origin.clone(), key: shown_key.to_owned() },
        );
    }
}
