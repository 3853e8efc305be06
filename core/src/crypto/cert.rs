//! X.509 certificates: parsed with x509-parser, checked for validity period, key type and
//! key usage before we encrypt to or trust one.

use thiserror::Error;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::der_write::{INTEGER, SEQUENCE, cons, tlv};
use crate::Timestamp;

/// What we are about to use a certificate for, to check its key usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Encrypting a content key to the holder (keyEncipherment).
    KeyTransport,
    /// Verifying or making signatures (digitalSignature or nonRepudiation).
    Signing,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CertError {
    #[error("certificate is not valid DER X.509: {0}")]
    Parse(String),
    #[error("PEM input holds no CERTIFICATE block")]
    NoPemCertificate,
    #[error("PEM input is malformed: {0}")]
    Pem(String),
    #[error("certificate of {subject} is not valid before {not_before} (unix seconds), now {now}")]
    NotYetValid { subject: String, not_before: i64, now: i64 },
    #[error("certificate of {subject} expired at {not_after} (unix seconds), now {now}")]
    Expired { subject: String, not_after: i64, now: i64 },
    #[error("certificate of {subject} has no RSA public key (only RSA is supported)")]
    NotRsa { subject: String },
    #[error("certificate of {subject} does not allow {needed} (key usage extension)")]
    KeyUsage { subject: String, needed: &'static str },
    #[error("certificate of {subject} has a malformed key usage extension")]
    BadKeyUsage { subject: String },
}

/// A certificate we hold as DER and parse on demand (x509-parser borrows its input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";

impl Certificate {
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        let (rest, _) =
            X509Certificate::from_der(der).map_err(|e| CertError::Parse(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CertError::Parse("trailing bytes after the certificate".into()));
        }
        Ok(Certificate { der: der.to_vec() })
    }

    /// Every CERTIFICATE block in a PEM text, in order.
    pub fn from_pem(pem: &[u8]) -> Result<Vec<Self>, CertError> {
        let mut out = Vec::new();
        for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
            let block = block.map_err(|e| CertError::Pem(e.to_string()))?;
            if block.label == "CERTIFICATE" {
                out.push(Certificate::from_der(&block.contents)?);
            }
        }
        if out.is_empty() {
            return Err(CertError::NoPemCertificate);
        }
        Ok(out)
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    fn parsed(&self) -> Result<X509Certificate<'_>, CertError> {
        X509Certificate::from_der(&self.der)
            .map(|(_, c)| c)
            .map_err(|e| CertError::Parse(e.to_string()))
    }

    pub fn subject(&self) -> String {
        self.parsed().map(|c| c.subject().to_string()).unwrap_or_default()
    }

    pub fn issuer(&self) -> String {
        self.parsed().map(|c| c.issuer().to_string()).unwrap_or_default()
    }

    /// Serial number as lowercase hex.
    pub fn serial_hex(&self) -> String {
        self.parsed()
            .map(|c| c.raw_serial().iter().map(|b| format!("{b:02x}")).collect())
            .unwrap_or_default()
    }

    /// DER `IssuerAndSerialNumber`, how CMS names a recipient or signer.
    pub fn issuer_and_serial(&self) -> Result<Vec<u8>, CertError> {
        let c = self.parsed()?;
        let serial = tlv(INTEGER, c.raw_serial());
        Ok(cons(SEQUENCE, &[c.issuer().as_raw(), &serial]))
    }

    /// The RSAPublicKey (PKCS#1) DER, or `NotRsa`.
    pub fn rsa_public_key(&self) -> Result<Vec<u8>, CertError> {
        self.rsa_key(|spki| spki.subject_public_key.data.to_vec())
    }

    /// The SubjectPublicKeyInfo DER of an RSA key (algorithm and key), or `NotRsa`.
    pub fn rsa_subject_public_key_info(&self) -> Result<Vec<u8>, CertError> {
        self.rsa_key(|spki| spki.raw.to_vec())
    }

    /// `take` of the certificate's public key, which must be RSA.
    fn rsa_key(
        &self,
        take: impl FnOnce(&x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Vec<u8>,
    ) -> Result<Vec<u8>, CertError> {
        let c = self.parsed()?;
        let spki = c.public_key();
        if spki.algorithm.algorithm.to_id_string() != OID_RSA {
            return Err(CertError::NotRsa { subject: c.subject().to_string() });
        }
        Ok(take(spki))
    }

    /// The end of the validity period.
    pub fn not_after(&self) -> Result<Timestamp, CertError> {
        let c = self.parsed()?;
        Ok(Timestamp::from_unix_millis(c.validity().not_after.timestamp().saturating_mul(1000)))
    }

    /// Validity period at `now`, an RSA key, and a key usage that allows `usage`.
    pub fn check_usable(&self, now: Timestamp, usage: KeyUse) -> Result<(), CertError> {
        let c = self.parsed()?;
        let subject = c.subject().to_string();
        let now_s = now.to_datetime().unix_timestamp();
        let not_before = c.validity().not_before.timestamp();
        let not_after = c.validity().not_after.timestamp();
        if now_s < not_before {
            return Err(CertError::NotYetValid { subject, not_before, now: now_s });
        }
        if now_s > not_after {
            return Err(CertError::Expired { subject, not_after, now: now_s });
        }
        self.rsa_public_key()?;
        match c.key_usage() {
            Ok(None) => Ok(()),
            Ok(Some(ku)) => {
                let ok = match usage {
                    KeyUse::KeyTransport => ku.value.key_encipherment(),
                    KeyUse::Signing => ku.value.digital_signature() || ku.value.non_repudiation(),
                };
                if ok {
                    Ok(())
                } else {
                    Err(CertError::KeyUsage {
                        subject,
                        needed: match usage {
                            KeyUse::KeyTransport => "keyEncipherment",
                            KeyUse::Signing => "digitalSignature or nonRepudiation",
                        },
                    })
                }
            }
            Err(_) => Err(CertError::BadKeyUsage { subject }),
        }
    }
}
