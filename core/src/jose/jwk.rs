//! RSA JSON Web Keys (RFC 7517/7518) and the registry's `/jwk` set.

use ring::signature::RsaKeyPair;
use serde::Deserialize;

use super::jws::JwsError;
use super::{b64url, b64url_decode};

/// An RSA public key from a JWK set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaPublicJwk {
    pub kid: Option<String>,
    /// Big-endian modulus and exponent.
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    /// `x5c` as given (standard base64 DER), for serving it back.
    pub x5c: Vec<String>,
}

/// The RSA signing keys of a JWK set; other key types are skipped, as the reference does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwkSet {
    pub keys: Vec<RsaPublicJwk>,
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawKey {
    kty: String,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x5c: Option<Vec<String>>,
}

impl JwkSet {
    /// Parses `{"keys":[…]}`. Keys that are not RSA signing keys are skipped; a
    /// malformed RSA key is an error, because silently dropping it would turn a
    /// registry bug into a confusing "unknown kid".
    pub fn parse(bytes: &[u8]) -> Result<Self, JwsError> {
        let raw: RawSet =
            serde_json::from_slice(bytes).map_err(|e| JwsError::BadJwks(e.to_string()))?;
        let mut keys = Vec::new();
        for value in raw.keys {
            let Ok(k) = serde_json::from_value::<RawKey>(value) else {
                continue;
            };
            let for_signing = k.use_.as_deref().is_none_or(|u| u == "sig")
                && k.alg.as_deref().is_none_or(|a| a == "RS256");
            if k.kty != "RSA" || !for_signing {
                continue;
            }
            let n = k.n.as_deref().and_then(b64url_decode);
            let e = k.e.as_deref().and_then(b64url_decode);
            let (Some(n), Some(e)) = (n, e) else {
                return Err(JwsError::BadJwks(format!(
                    "RSA key {:?} lacks a base64url \"n\" or \"e\"",
                    k.kid
                )));
            };
            keys.push(RsaPublicJwk { kid: k.kid, n, e, x5c: k.x5c.unwrap_or_default() });
        }
        Ok(JwkSet { keys })
    }

    /// The key a JWS with this `kid` is verified with. Without a `kid`, the first RSA
    /// key, which is what the reference always uses.
    pub fn find(&self, kid: Option<&str>) -> Option<&RsaPublicJwk> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None => self.keys.first(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.keys.iter().map(RsaPublicJwk::to_json).collect::<Vec<_>>() })
    }
}

impl RsaPublicJwk {
    /// The public half of `key`, with `kid` set to its RFC 7638 thumbprint.
    pub fn from_key_pair(key: &RsaKeyPair, x5c_der: &[Vec<u8>]) -> Self {
        let c: ring::rsa::PublicKeyComponents<Vec<u8>> = key.public().into();
        let mut jwk = RsaPublicJwk {
            kid: None,
            n: strip_zeros(c.n),
            e: strip_zeros(c.e),
            x5c: x5c_der.iter().map(|d| super::b64std(d)).collect(),
        };
        jwk.kid = Some(jwk.thumbprint());
        jwk
    }

    /// RFC 7638 SHA-256 thumbprint: the required members in lexicographic order, no
    /// whitespace.
    pub fn thumbprint(&self) -> String {
        let canonical =
            format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64url(&self.e), b64url(&self.n));
        b64url(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// The member order the registry's `/jwk` uses.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("kty".into(), "RSA".into());
        m.insert("use".into(), "sig".into());
        m.insert("alg".into(), "RS256".into());
        if let Some(kid) = &self.kid {
            m.insert("kid".into(), kid.clone().into());
        }
        if !self.x5c.is_empty() {
            m.insert("x5c".into(), self.x5c.clone().into());
        }
        m.insert("n".into(), b64url(&self.n).into());
        m.insert("e".into(), b64url(&self.e).into());
        serde_json::Value::Object(m)
    }
}

/// JWK integers carry no leading zero octets (RFC 7518 §6.3.1.1).
fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let lead = v.iter().take_while(|&&b| b == 0).count();
    v.drain(..lead.min(v.len().saturating_sub(1)));
    v
}
