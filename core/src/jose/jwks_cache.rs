//! The registry's JWK set, cached, with exactly one refetch when a JWS names a `kid` we
//! do not hold.
//!
//! The reference fetches `/jwk` on every lookup and ignores `kid`. We keep the set and go
//! back to the registry only on a miss (key rotation). The refetch is an output: core
//! hands back a [`PendingVerification`], the runtime fetches `/jwk`, and
//! [`JwksCache::complete`] gives the final answer. `complete` never asks for another
//! fetch, so a registry that keeps signing with an unpublished key cannot make us loop.

use super::jwk::JwkSet;
use super::jws::{CompactJws, JwsError};

/// The path of the JWK set, relative to the registry's base URL.
pub const JWKS_PATH: &str = "jwk";

#[derive(Debug, Clone, Default)]
pub struct JwksCache {
    set: Option<JwkSet>,
    fetches: u64,
}

/// What [`JwksCache::verify`] decided.
#[derive(Debug)]
pub enum Verification {
    /// The signature verified with a cached key: here is the payload.
    Verified(Vec<u8>),
    /// The key is not cached: fetch [`JWKS_PATH`] and call [`JwksCache::complete`].
    FetchJwks(PendingVerification),
}

/// A JWS waiting for a fresh JWK set.
#[derive(Debug)]
pub struct PendingVerification {
    jws: CompactJws,
}

impl PendingVerification {
    pub fn jws(&self) -> &CompactJws {
        &self.jws
    }
}

impl JwksCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache that starts with `set` (e.g. configured, or loaded at startup).
    pub fn with_set(set: JwkSet) -> Self {
        JwksCache { set: Some(set), fetches: 0 }
    }

    /// How many JWK sets have been fed in through [`complete`](Self::complete).
    pub fn fetches(&self) -> u64 {
        self.fetches
    }

    /// Verifies with a cached key when there is one. A bad signature from a known key is
    /// final: refetching would not change the key the `kid` names.
    pub fn verify(&self, jws: CompactJws) -> Result<Verification, JwsError> {
        match self.set.as_ref().and_then(|s| s.find(jws.kid())) {
            Some(key) => Ok(Verification::Verified(jws.verify(key)?.to_vec())),
            None => Ok(Verification::FetchJwks(PendingVerification { jws })),
        }
    }

    /// Feeds the answer to the JWK fetch and finishes the verification. The new set
    /// replaces the cached one even when the key is still missing, so the next lookup
    /// does not refetch a set we already have.
    pub fn complete(
        &mut self,
        pending: PendingVerification,
        jwks: Result<&[u8], String>,
    ) -> Result<Vec<u8>, JwsError> {
        let body = jwks.map_err(JwsError::JwksUnavailable)?;
        let set = JwkSet::parse(body)?;
        self.fetches += 1;
        let set = self.set.insert(set);
        let key = set
            .find(pending.jws.kid())
            .ok_or_else(|| JwsError::UnknownKid(pending.jws.kid().map(str::to_owned)))?;
        Ok(pending.jws.verify(key)?.to_vec())
    }
}
