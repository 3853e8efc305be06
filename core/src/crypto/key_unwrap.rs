//! Unwrapping the content-encryption key with our RSA private key.
//!
//! The default [`RsaKeyUnwrap`] runs on AWS-LC (`aws-lc-rs`): blinded, constant-time
//! RSA, about 0.25 ms per RSA-2048 unwrap. (`ring` has no RSA decryption; the `rsa`
//! crate's is not constant time, RUSTSEC-2023-0071 "Marvin", and took 2 ms.) On top of
//! that it keeps one uniform failure path: whatever goes wrong (padding, length), we
//! carry on with a random 32-byte key instead of returning an error. Decryption then
//! fails later as "content decryption failed", the same error a corrupted body gives,
//! so an attacker learns nothing padding-specific (the implicit-rejection idea of RFC
//! 8017 7.2.2 note and of the TLS 1.2 RSA countermeasure).
//!
//! AWS-LC blinds with randomness of its own, not the injected RNG. That does not make
//! the core less deterministic: the result of a decryption does not depend on the
//! blinding value.
//!
//! Other back ends (an HSM) plug in through the [`KeyUnwrap`] trait.

use aws_lc_rs::rsa::{
    OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, Pkcs1PrivateDecryptingKey,
    PrivateDecryptingKey,
};
use ring::rand::SecureRandom;

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

/// Our RSA private key, ready to unwrap under either key-transport scheme.
pub struct RsaDecrypter {
    oaep: OaepPrivateDecryptingKey,
    pkcs1: Pkcs1PrivateDecryptingKey,
}

impl RsaDecrypter {
    /// From a PKCS#8 PrivateKeyInfo holding an RSA key (2048 to 8192 bits).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        let key = PrivateDecryptingKey::from_pkcs8(der).map_err(|e| e.to_string())?;
        let oaep = OaepPrivateDecryptingKey::new(key.clone()).map_err(|e| e.to_string())?;
        let pkcs1 = Pkcs1PrivateDecryptingKey::new(key).map_err(|e| e.to_string())?;
        Ok(RsaDecrypter { oaep, pkcs1 })
    }

    /// The plaintext of `encrypted_key`, written into `out`.
    fn decrypt<'o>(
        &self,
        scheme: KeyTransport,
        encrypted_key: &[u8],
        out: &'o mut [u8],
    ) -> Option<&'o [u8]> {
        let plain = match scheme {
            KeyTransport::RsaOaepSha256 => {
                self.oaep.decrypt(&OAEP_SHA256_MGF1SHA256, encrypted_key, out, None)
            }
            KeyTransport::RsaPkcs1v15 => self.pkcs1.decrypt(encrypted_key, out),
        };
        plain.ok().map(|p| &*p)
    }
}

/// The default unwrapper (AWS-LC; see the module documentation).
pub struct RsaKeyUnwrap<'a> {
    pub key: &'a RsaDecrypter,
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
        // Room for the largest key AWS-LC takes (8192 bits); the plaintext is shorter.
        let mut plain = [0u8; 1024];
        let mut out = fallback;
        if let Some(key) = self.key.decrypt(scheme, encrypted_key, &mut plain)
            && key.len() == CEK_LEN
            && fallback_ok
        {
            out.copy_from_slice(key);
        }
        plain.fill(0);
        out
    }
}

// Key generation needs real randomness; only this test draws it from the OS.
#[cfg(test)]
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
mod tests {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::{Oaep, Pkcs1v15Encrypt, RsaPrivateKey};

    use super::*;
    use crate::Timestamp;
    use crate::crypto::issue::self_signed;
    use crate::crypto::keys::PrivateKey;
    use crate::crypto::rng::RingRng;

    /// Both schemes, from a PKCS#8 and from a PKCS#1 copy of one key, wrapped by an
    /// independent implementation (the `rsa` crate) and unwrapped by ours.
    #[test]
    fn unwraps_what_another_implementation_wrapped() {
        let rng = ring::rand::SystemRandom::new();
        let now = Timestamp::from_unix_millis(1_800_000_000_000);
        let issued = self_signed("910077473", "Unwrap test", now, 1, &rng).unwrap();
        let other = RsaPrivateKey::from_pkcs8_der(&issued.private_key_pkcs8).unwrap();
        let pkcs1 = other.to_pkcs1_der().unwrap();
        let public = other.to_public_key();
        let from_pkcs8 = PrivateKey::from_pkcs8_der(&issued.private_key_pkcs8).unwrap();
        let from_pkcs1 = PrivateKey::from_pkcs1_der(pkcs1.as_bytes()).unwrap();
        let cek = [0x5a; CEK_LEN];
        let mut r = RingRng(&rng);
        let oaep = public.encrypt(&mut r, Oaep::new::<sha2::Sha256>(), &cek).unwrap();
        let v15 = public.encrypt(&mut r, Pkcs1v15Encrypt, &cek).unwrap();
        for key in [&from_pkcs8, &from_pkcs1] {
            let unwrap = RsaKeyUnwrap { key: key.unwrapper() };
            assert_eq!(unwrap.unwrap_cek(KeyTransport::RsaOaepSha256, &oaep, &rng), cek);
            assert_eq!(unwrap.unwrap_cek(KeyTransport::RsaPkcs1v15, &v15, &rng), cek);
            // The wrong scheme, or a damaged key, gives a random key, not an error.
            let wrong = unwrap.unwrap_cek(KeyTransport::RsaPkcs1v15, &oaep, &rng);
            assert_ne!(wrong, cek);
            let mut damaged = oaep.clone();
            if let Some(b) = damaged.last_mut() {
                *b ^= 1;
            }
            let a = unwrap.unwrap_cek(KeyTransport::RsaOaepSha256, &damaged, &rng);
            let b = unwrap.unwrap_cek(KeyTransport::RsaOaepSha256, &damaged, &rng);
            assert_ne!(a, cek);
            assert_ne!(a, b, "a failed unwrap answers a fresh random key each time");
        }
    }
}
