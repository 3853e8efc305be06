//! Our private key and certificate chain. Signing and content-key unwrapping both run
//! on AWS-LC (`aws-lc-rs`): an RSA-2048 signature takes about 0.26 ms there against
//! 0.6 ms in `ring`, and `ring` has no RSA decryption (see `key_unwrap`). PKCS#12 files are opened by the runtime (`p12-keystore` is on the newer
//! RustCrypto generation that core must not mix in), which hands us PKCS#8 DER and
//! certificates; PEM is read here.

use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use thiserror::Error;

use super::cert::{CertError, Certificate};
use super::der_write::{INTEGER, NULL, OCTET_STRING, SEQUENCE, alg_id, cons, tlv};
use super::key_unwrap::RsaDecrypter;
use super::oid;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("private key is not an RSA PKCS#8 or PKCS#1 key ring accepts: {0}")]
    Rejected(String),
    #[error("PEM input holds no PRIVATE KEY or RSA PRIVATE KEY block")]
    NoPemKey,
    #[error("PEM input is malformed: {0}")]
    Pem(String),
    #[error("the private key does not belong to the certificate of {subject}")]
    KeyCertMismatch { subject: String },
    #[error("no certificate for the private key")]
    NoCertificate,
    #[error(transparent)]
    Cert(#[from] CertError),
}

/// The signing operation failed (AWS-LC gives no reason; with a key it accepted, it
/// does not happen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("RSA signing failed")]
pub struct SignFailed;

/// An RSA private key, ready to sign and to unwrap content keys.
pub struct PrivateKey {
    signer: RsaKeyPair,
    unwrapper: RsaDecrypter,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKey {
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let signer = RsaKeyPair::from_pkcs8(der).map_err(|e| KeyError::Rejected(e.to_string()))?;
        let unwrapper = RsaDecrypter::from_pkcs8(der).map_err(KeyError::Rejected)?;
        Ok(PrivateKey { signer, unwrapper })
    }

    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        let signer = RsaKeyPair::from_der(der).map_err(|e| KeyError::Rejected(e.to_string()))?;
        // AWS-LC's decrypting key reads PKCS#8 only: wrap the RSAPrivateKey in a
        // PrivateKeyInfo (RFC 5208: version 0, rsaEncryption with NULL parameters).
        let pkcs8 = cons(
            SEQUENCE,
            &[
                &tlv(INTEGER, &[0]),
                &alg_id(oid::RSA_ENCRYPTION, Some(&[NULL, 0])),
                &tlv(OCTET_STRING, der),
            ],
        );
        let unwrapper = RsaDecrypter::from_pkcs8(&pkcs8).map_err(KeyError::Rejected)?;
        Ok(PrivateKey { signer, unwrapper })
    }

    /// The first PRIVATE KEY (PKCS#8) or RSA PRIVATE KEY (PKCS#1) block.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
            let block = block.map_err(|e| KeyError::Pem(e.to_string()))?;
            match block.label.as_str() {
                "PRIVATE KEY" => return Self::from_pkcs8_der(&block.contents),
                "RSA PRIVATE KEY" => return Self::from_pkcs1_der(&block.contents),
                _ => {}
            }
        }
        Err(KeyError::NoPemKey)
    }

    /// An RSASSA-PKCS1-v1_5 signature with SHA-256 over `message`. Deterministic: it
    /// takes no randomness (AWS-LC blinds the exponentiation with its own, which
    /// does not change the signature).
    pub fn sign_pkcs1_sha256(&self, message: &[u8]) -> Result<Vec<u8>, SignFailed> {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
        let mut signature = vec![0u8; self.signer.public_modulus_len()];
        self.signer
            .sign_digest(&RSA_PKCS1_SHA256, &digest, &mut signature)
            .map_err(|_| SignFailed)?;
        Ok(signature)
    }

    pub fn unwrapper(&self) -> &RsaDecrypter {
        &self.unwrapper
    }

    /// RSAPublicKey DER of this key, to match it against a certificate.
    pub fn public_key_der(&self) -> &[u8] {
        self.signer.public_key().as_ref()
    }
}

/// Our key with its certificate chain; `chain[0]` is the key's own certificate.
#[derive(Debug)]
pub struct Identity {
    pub key: PrivateKey,
    pub chain: Vec<Certificate>,
}

impl Identity {
    /// Pairs a key with its chain, checking the first certificate carries the key.
    pub fn new(key: PrivateKey, chain: Vec<Certificate>) -> Result<Self, KeyError> {
        let first = chain.first().ok_or(KeyError::NoCertificate)?;
        if first.rsa_public_key()? != key.public_key_der() {
            return Err(KeyError::KeyCertMismatch { subject: first.subject() });
        }
        Ok(Identity { key, chain })
    }

    /// Picks, from several certificates (a PEM bundle, a keystore's bags), the one that
    /// carries the key and puts it first.
    pub fn from_unordered(key: PrivateKey, mut certs: Vec<Certificate>) -> Result<Self, KeyError> {
        let pos = certs
            .iter()
            .position(|c| c.rsa_public_key().ok().as_deref() == Some(key.public_key_der()))
            .ok_or(KeyError::NoCertificate)?;
        let own = certs.remove(pos);
        certs.insert(0, own);
        Ok(Identity { key, chain: certs })
    }

    pub fn certificate(&self) -> Option<&Certificate> {
        self.chain.first()
    }
}
