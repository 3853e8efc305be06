//! Self-signed business certificates for demos and tests: an RSA key drawn from the
//! caller's randomness and an X.509 v3 certificate naming an organisation number,
//! signed SHA-256 with RSA. Nothing in production issues certificates; this lets
//! `efm demo` and the test suites make their own identities without outside tools.

use ring::rand::SecureRandom;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::EncodePrivateKey;
use thiserror::Error;

use super::der_write::{
    GENERALIZED_TIME, INTEGER, NULL, SEQUENCE, SET, UTC_TIME, alg_id, cons, oid, tlv,
};
use super::oid::{RSA_ENCRYPTION, SHA256_WITH_RSA};
use super::rng::RingRng;
use crate::Timestamp;

/// 2.5.4.3 commonName
const CN: &[u8] = &[0x55, 0x04, 0x03];
/// 2.5.4.10 organizationName
const O: &[u8] = &[0x55, 0x04, 0x0a];
/// 2.5.4.5 serialNumber: Norwegian business certificates carry the org number here.
const SERIAL_NUMBER: &[u8] = &[0x55, 0x04, 0x05];
/// 2.5.4.6 countryName
const C: &[u8] = &[0x55, 0x04, 0x06];
/// 2.5.29.15 keyUsage
const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];

const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const BIT_STRING: u8 = 0x03;
const BOOLEAN: u8 = 0x01;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IssueError {
    #[error("RSA key generation failed: {0}")]
    KeyGeneration(String),
    #[error("could not encode the key: {0}")]
    Encoding(String),
    #[error("could not sign the certificate: {0}")]
    Signing(String),
    #[error("the organisation number must be nine digits, not {0:?}")]
    OrgNumber(String),
}

/// A key and its certificate, DER.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    /// PKCS#8 PrivateKeyInfo.
    pub private_key_pkcs8: Vec<u8>,
    pub certificate: Vec<u8>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").field("certificate_len", &self.certificate.len()).finish()
    }
}

impl Issued {
    pub fn certificate_pem(&self) -> String {
        pem("CERTIFICATE", &self.certificate)
    }

    pub fn private_key_pem(&self) -> String {
        pem("PRIVATE KEY", &self.private_key_pkcs8)
    }
}

/// A new 2048-bit key and a self-signed certificate for organisation `org`
/// (`name` as its commonName and organizationName), valid from `now` for `days`.
pub fn self_signed(
    org: &str,
    name: &str,
    now: Timestamp,
    days: u32,
    rng: &dyn SecureRandom,
) -> Result<Issued, IssueError> {
    if org.len() != 9 || !org.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IssueError::OrgNumber(org.to_owned()));
    }
    let key = rsa::RsaPrivateKey::new(&mut RingRng(rng), 2048)
        .map_err(|e| IssueError::KeyGeneration(e.to_string()))?;
    let pkcs8 = key.to_pkcs8_der().map_err(|e| IssueError::Encoding(e.to_string()))?;
    let public =
        key.to_public_key().to_pkcs1_der().map_err(|e| IssueError::Encoding(e.to_string()))?;

    let mut serial = [0u8; 16];
    rng.fill(&mut serial).map_err(|_| IssueError::Signing("no randomness".into()))?;
    // Positive and minimal: clear the top bit, keep the first byte non-zero.
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7f) | 0x40;
    }
    let name_der = distinguished_name(org, name);
    let not_after = now + crate::Duration::from_hours(24 * i64::from(days));
    let validity = cons(SEQUENCE, &[&time(now), &time(not_after)]);
    let spki = cons(
        SEQUENCE,
        &[&alg_id(RSA_ENCRYPTION, Some(&tlv(NULL, &[]))), &bit_string(public.as_bytes())],
    );
    // digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment: signing
    // what we send and receiving what is encrypted to us.
    let key_usage = cons(
        SEQUENCE,
        &[&oid(KEY_USAGE), &tlv(BOOLEAN, &[0xff]), &tlv(0x04, &bit_string_bits(0xf0, 4))],
    );
    let extensions = cons(0xa3, &[&cons(SEQUENCE, &[&key_usage])]);
    let signature_alg = alg_id(SHA256_WITH_RSA, Some(&tlv(NULL, &[])));
    let tbs = cons(
        SEQUENCE,
        &[
            &cons(0xa0, &[&tlv(INTEGER, &[2])]),
            &tlv(INTEGER, &serial),
            &signature_alg,
            &name_der,
            &validity,
            &name_der,
            &spki,
            &extensions,
        ],
    );
    let signer = ring::signature::RsaKeyPair::from_pkcs8(pkcs8.as_bytes())
        .map_err(|e| IssueError::Signing(e.to_string()))?;
    let mut signature = vec![0u8; signer.public().modulus_len()];
    signer
        .sign(&ring::signature::RSA_PKCS1_SHA256, rng, &tbs, &mut signature)
        .map_err(|e| IssueError::Signing(e.to_string()))?;
    let certificate = cons(SEQUENCE, &[&tbs, &signature_alg, &bit_string(&signature)]);
    Ok(Issued { private_key_pkcs8: pkcs8.as_bytes().to_vec(), certificate })
}

fn distinguished_name(org: &str, name: &str) -> Vec<u8> {
    let rdn = |attr: &[u8], tag: u8, value: &str| {
        cons(SET, &[&cons(SEQUENCE, &[&oid(attr), &tlv(tag, value.as_bytes())])])
    };
    cons(
        SEQUENCE,
        &[
            &rdn(C, PRINTABLE_STRING, "NO"),
            &rdn(O, UTF8_STRING, name),
            &rdn(SERIAL_NUMBER, PRINTABLE_STRING, org),
            &rdn(CN, UTF8_STRING, name),
        ],
    )
}

/// UTCTime through 2049, GeneralizedTime after, as RFC 5280 4.1.2.5 asks.
fn time(t: Timestamp) -> Vec<u8> {
    let dt = t.to_datetime();
    let (y, m, d) = (dt.year(), u8::from(dt.month()), dt.day());
    let (hh, mm, ss) = (dt.hour(), dt.minute(), dt.second());
    if (1950..2050).contains(&y) {
        let s = format!("{:02}{m:02}{d:02}{hh:02}{mm:02}{ss:02}Z", y % 100);
        tlv(UTC_TIME, s.as_bytes())
    } else {
        let s = format!("{y:04}{m:02}{d:02}{hh:02}{mm:02}{ss:02}Z");
        tlv(GENERALIZED_TIME, s.as_bytes())
    }
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(bytes.len() + 1);
    v.push(0);
    v.extend_from_slice(bytes);
    tlv(BIT_STRING, &v)
}

/// A one-byte BIT STRING of `bits`, with `used` significant bits.
fn bit_string_bits(bits: u8, used: u8) -> Vec<u8> {
    tlv(BIT_STRING, &[8 - used, bits])
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

// Key generation needs real randomness (a fixed byte sequence never yields a prime);
// only these tests draw it from the OS, the library takes it as an input.
#[cfg(test)]
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
mod tests {
    use super::*;
    use crate::crypto::cert::Certificate;
    use crate::crypto::keys::{Identity, PrivateKey};

    #[test]
    fn issued_certificate_parses_and_carries_its_key() {
        let rng = ring::rand::SystemRandom::new();
        let now = Timestamp::from_unix_millis(1_800_000_000_000);
        let issued = self_signed("910077473", "Demo org A", now, 365, &rng).unwrap();
        let cert = Certificate::from_der(&issued.certificate).unwrap();
        let key = PrivateKey::from_pkcs8_der(&issued.private_key_pkcs8).unwrap();
        let identity = Identity::new(key, vec![cert]).unwrap();
        let cert = identity.certificate().unwrap();
        assert!(cert.subject().contains("910077473"), "{}", cert.subject());
        let days = (cert.not_after().unwrap() - now).as_millis() / 86_400_000;
        assert_eq!(days, 365);
        // The PEM form reads back as the same certificate.
        let again = Certificate::from_pem(issued.certificate_pem().as_bytes()).unwrap();
        assert_eq!(again.first().map(|c| c.der().to_vec()), Some(issued.certificate.clone()));
    }

    #[test]
    fn a_bad_org_number_is_refused() {
        let rng = ring::rand::SystemRandom::new();
        let now = Timestamp::from_unix_millis(0);
        assert!(matches!(self_signed("12345", "x", now, 1, &rng), Err(IssueError::OrgNumber(_))));
    }
}
