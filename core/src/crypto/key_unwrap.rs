//! Unwrapping the content-encryption key with our RSA private key.
//!
//! The `rsa` crate's private-key operations are not constant time (RUSTSEC-2023-0071,
//! "Marvin", no patched release in 0.9). `ring` has no RSA decryption, and `aws-lc-rs`
//! would add a C build, so the default [`RsaKeyUnwrap`] keeps `rsa` and narrows what an
//! attacker can measure:
//! - blinding: `decrypt_blinded` randomises the exponentiation input per call with the
//!   injected RNG, so timing does not track the attacker's ciphertext directly;
//! - one uniform failure path: whatever goes wrong (padding, length), we carry on with a
//!   random 32-byte key instead of returning an error. Decryption then fails later as
//!   "content decryption failed", the same error a corrupted body gives, so the
//!   attacker learns nothing padding-specific (the implicit-rejection idea of RFC 8017
//!   7.2.2 note and of the TLS 1.2 RSA countermeasure).
//!
//! Other back ends (an HSM, aws-lc) plug in through the [`KeyUnwrap`] trait.

use ring::rand::SecureRandom;
use rsa::{Oaep, Pkcs1v15Encrypt, RsaPrivateKey};

use super::rng::RingRng;

/// AES-256 content-encryption key length.
pub const CEK_LEN: usize = 32;

/// How the content key was wrapped for the recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTransport {
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256 (DPO, DPF, DPI, DPV).
    RsaOaepSha256,
    /// RSAES-PKCS1-v1_5 (DPE: the reference passes no scheme to BouncyCastle).
    RsaPkcs1v15,
}

/// Turns an encrypted content key into a content key. Never reports failure: on any
/// error it returns an unpredictable key, so failures look like corrupt content.
pub trait KeyUnwrap {
    fn unwrap_cek(
        &self,
        scheme: KeyTransport,
        encrypted_key: &[u8],
        rng: &dyn SecureRandom,
    ) -> [u8; CEK_LEN];
}

/// The default unwrapper over the `rsa` crate (blinded; see the module documentation).
pub struct RsaKeyUnwrap<'a> {
    pub key: &'a RsaPrivateKey,
}

impl KeyUnwrap for RsaKeyUnwrap<'_> {
    fn unwrap_cek(
        &self,
        scheme: KeyTransport,
        encrypted_key: &[u8],
        rng: &dyn SecureRandom,
    ) -> [u8; CEK_LEN] {
        // Draw the fallback first, so success and failure do the same work.
        let mut fallback = [0u8; CEK_LEN];
        let fallback_ok = rng.fill(&mut fallback).is_ok();
        let mut r = RingRng(rng);
        let result = match scheme {
            KeyTransport::RsaOaepSha256 => {
                self.key.decrypt_blinded(&mut r, Oaep::new::<sha2::Sha256>(), encrypted_key)
            }
            KeyTransport::RsaPkcs1v15 => {
                self.key.decrypt_blinded(&mut r, Pkcs1v15Encrypt, encrypted_key)
            }
        };
        let mut out = fallback;
        if let Ok(key) = result
            && key.len() == CEK_LEN
            && fallback_ok
        {
            out.copy_from_slice(&key);
        }
        out
    }
}
