//! The service registry (adresseregister) as seen from the integration point: lookup
//! requests, answer parsing (plain and JWS-signed), a lookup cache, and the capabilities
//! answer built from the records.
//!
//! A lookup runs as: [`request::request`] → the runtime GETs it → [`decode`] → when it
//! asks for the JWK set, the runtime GETs [`crate::jose::jwks_cache::JWKS_PATH`] and calls
//! [`crate::jose::jwks_cache::JwksCache::complete`] → [`answer::parse_identifier_resource`].

pub mod answer;
pub mod cache;
pub mod capabilities;
pub mod model;
pub mod request;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

use crate::jose::jwks_cache::{JwksCache, PendingVerification, Verification};
use crate::jose::jws::CompactJws;
use answer::{Body, LookupError, classify};

/// The verified (or plain) payload of an answer, or the need to fetch the JWK set.
#[derive(Debug)]
pub enum Decoded {
    Payload(Vec<u8>),
    NeedJwks(PendingVerification),
}

/// Turns an HTTP answer into its payload. With `signed`, a plain answer is refused as
/// the reference's `JWSObject.parse` would refuse it: we never fall back to unsigned
/// data once signing is configured.
pub fn decode(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    signed: bool,
    jwks: &JwksCache,
) -> Result<Decoded, LookupError> {
    let jws = match classify(status, content_type, body)? {
        Body::Plain(bytes) if !signed => return Ok(Decoded::Payload(bytes)),
        Body::Plain(bytes) => {
            let text = std::str::from_utf8(&bytes).unwrap_or("");
            CompactJws::parse(text)?
        }
        Body::Signed(jws) => jws,
    };
    Ok(match jwks.verify(jws)? {
        Verification::Verified(payload) => Decoded::Payload(payload),
        Verification::FetchJwks(pending) => Decoded::NeedJwks(pending),
    })
}
