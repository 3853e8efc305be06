//! JOSE as the registry and Maskinporten use it: compact JWS with RS256 only, RSA JWK sets,
//! and the Maskinporten JWT bearer grant.
//!
//! Hand-rolled on `ring` (and AWS-LC for our own key's signatures) rather than a JOSE
//! crate: we need exact bytes, an exact `x5c` header, and RSA signing that is not
//! exposed to the Marvin attack (see the crate choices in the spec).

pub mod jwk;
pub mod jwks_cache;
pub mod jws;
pub mod maskinporten;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// base64url without padding, as RFC 7515 §2 requires.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; a trailing `=` is tolerated because some JWK
/// producers pad the `n`/`e` members.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

/// Standard base64 with padding: the encoding `x5c` uses (RFC 7515 §4.1.6).
pub fn b64std(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub fn b64std_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}
