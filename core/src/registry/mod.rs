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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::jws::JwsError;

    #[test]
    fn plain_answers_pass_unless_signing_is_required() {
        let jwks = JwksCache::new();
        let d = decode(200, Some("application/json"), b"{}", false, &jwks).unwrap();
        assert!(matches!(d, Decoded::Payload(p) if p == b"{}"));
        // Signing configured: an unsigned answer is refused, never read.
        let e = decode(200, Some("application/json"), b"{}", true, &jwks).unwrap_err();
        assert_eq!(e, LookupError::BadSignature(JwsError::NotCompact(1)));
        // Errors come through unsigned in both modes.
        let e = decode(404, None, b"", true, &jwks).unwrap_err();
        assert_eq!(e, LookupError::NotFound { description: None });
    }

    #[test]
    fn a_signed_answer_without_cached_keys_asks_for_the_jwk_set() {
        let jws = format!(
            "{}.{}.{}",
            crate::jose::b64url(br#"{"alg":"RS256","kid":"k"}"#),
            crate::jose::b64url(b"{}"),
            crate::jose::b64url(b"sig")
        );
        let d = decode(200, Some("application/jose"), jws.as_bytes(), true, &JwksCache::new());
        assert!(matches!(d, Ok(Decoded::NeedJwks(p)) if p.jws().kid() == Some("k")));
    }

    proptest::proptest! {
        #[test]
        fn segments_round_trip(s in "\\PC*") {
            let enc = request::encode_segment(&s);
            proptest::prop_assert!(!enc.contains('/') && !enc.contains('?') && !enc.contains('#'));
            proptest::prop_assert_eq!(request::decode_segment(&enc), Some(s));
        }

        #[test]
        fn cache_never_exceeds_its_bound(ops in proptest::collection::vec((0u8..20, 0i64..1000), 0..200), cap in 0usize..8) {
            let mut c = cache::LookupCache::<u8>::new(crate::Duration::from_secs(60), cap);
            let mut now = crate::Timestamp::from_unix_millis(0);
            for (k, dt) in ops {
                now = now + crate::Duration::from_millis(dt);
                let key = request::Lookup::Info(k.to_string()).cache_key();
                c.insert(key.clone(), k, now);
                proptest::prop_assert!(c.len() <= cap);
                if cap > 0 {
                    proptest::prop_assert_eq!(c.get(&key, now), Some(&k));
                }
            }
        }

        #[test]
        fn any_bytes_give_a_value_or_an_error(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300), status in 100u16..600) {
            let _ = decode(status, Some("application/jose"), &data, true, &JwksCache::new());
            let _ = answer::parse_identifier_resource(&data);
        }
    }
}
