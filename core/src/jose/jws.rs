//! Compact JWS (RFC 7515 §7.1) restricted to RS256.
//!
//! Only RS256 is accepted because it is what the registry and Maskinporten use; accepting
//! the header's `alg` blindly (as the reference's verifier does) would let `none` or an
//! HMAC keyed with the public key through.

use ring::rand::SecureRandom;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair};
use serde::Deserialize;

use super::jwk::RsaPublicJwk;
use super::{b64url, b64url_decode};
use crate::crypto::keys::PrivateKey;

/// Why a JWS was not accepted, or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwsError {
    #[error("not a compact JWS: expected 3 dot-separated parts, found {0}")]
    NotCompact(usize),
    #[error("JWS {0} is not base64url")]
    BadBase64(&'static str),
    #[error("JWS header is not a JSON object with a string \"alg\": {0}")]
    BadHeader(String),
    #[error("JWS algorithm \"{0}\" is not accepted (only RS256)")]
    UnsupportedAlgorithm(String),
    #[error("JWS header has \"crit\" members, which are not supported")]
    CriticalHeader,
    #[error("JWS signature does not verify with key {kid:?}")]
    BadSignature { kid: Option<String> },
    #[error("the JWK set has no RSA key with kid {0:?}, even after a refetch")]
    UnknownKid(Option<String>),
    #[error("the JWK set could not be fetched: {0}")]
    JwksUnavailable(String),
    #[error("bad JWK set: {0}")]
    BadJwks(String),
    #[error("RSA key rejected: {0}")]
    KeyRejected(String),
    #[error("signing failed")]
    SigningFailed,
}

/// The header members we act on; the rest are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JwsHeader {
    pub alg: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub x5c: Option<Vec<String>>,
    #[serde(default)]
    pub crit: Option<serde_json::Value>,
}

/// A parsed compact JWS whose header names RS256. Not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactJws {
    header: JwsHeader,
    signing_input: String,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl CompactJws {
    /// Splits and decodes `header.payload.signature`. Surrounding whitespace (a trailing
    /// newline from a file or a proxy) is ignored.
    pub fn parse(text: &str) -> Result<Self, JwsError> {
        let text = text.trim();
        let parts: Vec<&str> = text.split('.').collect();
        if parts.len() != 3 {
            return Err(JwsError::NotCompact(parts.len()));
        }
        let header_bytes = b64url_decode(parts[0]).ok_or(JwsError::BadBase64("header"))?;
        let header: JwsHeader = serde_json::from_slice(&header_bytes)
            .map_err(|e| JwsError::BadHeader(e.to_string()))?;
        if header.alg != "RS256" {
            return Err(JwsError::UnsupportedAlgorithm(header.alg));
        }
        if header.crit.is_some() {
            return Err(JwsError::CriticalHeader);
        }
        let payload = b64url_decode(parts[1]).ok_or(JwsError::BadBase64("payload"))?;
        let signature = b64url_decode(parts[2]).ok_or(JwsError::BadBase64("signature"))?;
        let signing_input = format!("{}.{}", parts[0], parts[1]);
        Ok(CompactJws { header, signing_input, payload, signature })
    }

    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    pub fn kid(&self) -> Option<&str> {
        self.header.kid.as_deref()
    }

    /// The payload, unverified: only for diagnostics.
    pub fn unverified_payload(&self) -> &[u8] {
        &self.payload
    }

    /// Verifies the RS256 signature with `key` and returns the payload.
    pub fn verify(&self, key: &RsaPublicJwk) -> Result<&[u8], JwsError> {
        let components = ring::signature::RsaPublicKeyComponents { n: &key.n, e: &key.e };
        components
            .verify(&RSA_PKCS1_2048_8192_SHA256, self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| JwsError::BadSignature { kid: key.kid.clone() })?;
        Ok(&self.payload)
    }

    /// Verifies the RS256 signature with an RSAPublicKey (PKCS#1 DER, as a
    /// certificate carries it) and returns the payload.
    pub fn verify_with_rsa_der(&self, rsa_public_key: &[u8]) -> Result<&[u8], JwsError> {
        ring::signature::UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa_public_key)
            .verify(self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| JwsError::BadSignature { kid: self.header.kid.clone() })?;
        Ok(&self.payload)
    }
}

/// Header members of a JWS we produce. `alg` is always RS256.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignHeader {
    pub kid: Option<String>,
    /// DER certificates, leaf first; encoded into `x5c` as standard base64.
    pub x5c: Vec<Vec<u8>>,
}

/// Signs `payload` as a compact RS256 JWS. RSA PKCS#1 v1.5 is deterministic; ring still
/// asks for a random source (for blinding), which the runtime injects.
pub fn sign_rs256(
    header: &SignHeader,
    payload: &[u8],
    key: &dyn Rs256Key,
    rng: &dyn SecureRandom,
) -> Result<String, JwsError> {
    let mut h = serde_json::Map::new();
    h.insert("alg".into(), "RS256".into());
    if let Some(kid) = &header.kid {
        h.insert("kid".into(), kid.clone().into());
    }
    if !header.x5c.is_empty() {
        let certs = header.x5c.iter().map(|c| super::b64std(c).into()).collect();
        h.insert("x5c".into(), serde_json::Value::Array(certs));
    }
    let header_json = serde_json::Value::Object(h).to_string();
    let signing_input = format!("{}.{}", b64url(header_json.as_bytes()), b64url(payload));
    let sig = key.sign_rs256(signing_input.as_bytes(), rng)?;
    Ok(format!("{signing_input}.{}", b64url(&sig)))
}

/// A key that makes RS256 signatures: our own [`PrivateKey`], or a `ring` key pair
/// loaded on its own (a registry's signing key, test keys).
pub trait Rs256Key {
    fn sign_rs256(&self, message: &[u8], rng: &dyn SecureRandom) -> Result<Vec<u8>, JwsError>;
}

impl Rs256Key for RsaKeyPair {
    fn sign_rs256(&self, message: &[u8], rng: &dyn SecureRandom) -> Result<Vec<u8>, JwsError> {
        let mut sig = vec![0u8; self.public().modulus_len()];
        self.sign(&RSA_PKCS1_SHA256, rng, message, &mut sig)
            .map_err(|_| JwsError::SigningFailed)?;
        Ok(sig)
    }
}

impl Rs256Key for PrivateKey {
    /// PKCS#1 v1.5 signatures are deterministic: `rng` is not needed.
    fn sign_rs256(&self, message: &[u8], _rng: &dyn SecureRandom) -> Result<Vec<u8>, JwsError> {
        self.sign_pkcs1_sha256(message).map_err(|_| JwsError::SigningFailed)
    }
}

/// Loads an RSA private key from PKCS#8 DER or from PEM (`PRIVATE KEY`, PKCS#8;
/// `RSA PRIVATE KEY`, PKCS#1).
pub fn load_rsa_key(bytes: &[u8]) -> Result<RsaKeyPair, JwsError> {
    let rejected = |e: ring::error::KeyRejected| JwsError::KeyRejected(e.to_string());
    if let Some(der) = pem_block(bytes, "PRIVATE KEY") {
        return RsaKeyPair::from_pkcs8(&der).map_err(rejected);
    }
    if let Some(der) = pem_block(bytes, "RSA PRIVATE KEY") {
        return RsaKeyPair::from_der(&der).map_err(rejected);
    }
    RsaKeyPair::from_pkcs8(bytes).map_err(rejected)
}

/// The DER inside the first PEM block labelled `label`, if any.
pub fn pem_block(bytes: &[u8], label: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let b64: String = text[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    super::b64std_decode(&b64)
}

/// Every PEM block labelled `label`, in order (a certificate chain file).
pub fn pem_blocks(bytes: &[u8], label: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let Ok(mut text) = std::str::from_utf8(bytes) else {
        return out;
    };
    let end = format!("-----END {label}-----");
    while let Some(der) = pem_block(text.as_bytes(), label) {
        out.push(der);
        match text.find(&end) {
            Some(i) => text = &text[i + end.len()..],
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jws(header: &str, payload: &str, sig: &[u8]) -> String {
        format!("{}.{}.{}", b64url(header.as_bytes()), b64url(payload.as_bytes()), b64url(sig))
    }

    #[test]
    fn refuses_other_algorithms_and_bad_shapes() {
        for alg in ["none", "HS256", "RS512", "PS256"] {
            let e =
                CompactJws::parse(&jws(&format!(r#"{{"alg":"{alg}"}}"#), "{}", b"")).unwrap_err();
            assert_eq!(e, JwsError::UnsupportedAlgorithm(alg.into()));
            assert!(e.to_string().contains("only RS256"));
        }
        assert_eq!(CompactJws::parse("a.b").unwrap_err(), JwsError::NotCompact(2));
        assert_eq!(CompactJws::parse("a.b.c.d").unwrap_err(), JwsError::NotCompact(4));
        assert_eq!(CompactJws::parse("*.b.c").unwrap_err(), JwsError::BadBase64("header"));
        assert!(matches!(
            CompactJws::parse(&jws("[1]", "{}", b"")).unwrap_err(),
            JwsError::BadHeader(_)
        ));
        assert_eq!(
            CompactJws::parse(&jws(r#"{"alg":"RS256","crit":["exp"]}"#, "{}", b"")).unwrap_err(),
            JwsError::CriticalHeader
        );
    }

    #[test]
    fn parses_rs256_with_kid() {
        let j = CompactJws::parse(&format!(
            "{}\n",
            jws(r#"{"alg":"RS256","kid":"k1","x5c":["AA=="]}"#, r#"{"a":1}"#, b"sig")
        ))
        .unwrap();
        assert_eq!(j.kid(), Some("k1"));
        assert_eq!(j.unverified_payload(), br#"{"a":1}"#);
        assert_eq!(j.header().x5c.as_deref(), Some(&["AA==".to_owned()][..]));
    }

    #[test]
    fn pem_blocks_are_found() {
        let pem = b"junk\n-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nAwQ=\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_blocks(pem, "CERTIFICATE"), vec![vec![0, 1, 2], vec![3, 4]]);
        assert!(pem_block(pem, "PRIVATE KEY").is_none());
        assert!(matches!(load_rsa_key(b"nope"), Err(JwsError::KeyRejected(_))));
    }
}
