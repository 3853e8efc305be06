//! Content-key wrapping with AWS-LC, padded from the system's randomness.
//!
//! Core's [`PortableWrap`] pads from the randomness it is handed, so that a
//! simulation reproduces its bytes, and runs the public-key operation on the `rsa`
//! crate's big numbers: about 0.25 ms per RSA-2048 wrap, a tenth of a sending
//! node's CPU per small message. A runtime has the system's randomness to hand, and
//! AWS-LC (already linked for unwrapping and signing) does the same in a few tens
//! of microseconds. Keys AWS-LC does not take (below 2048 or above 8192 bits) still
//! go the portable way.

use aws_lc_rs::rsa::{
    OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, Pkcs1PublicEncryptingKey, PublicEncryptingKey,
};
use efm_core::crypto::cert::Certificate;
use efm_core::crypto::envelope_write::{EncryptError, KeyWrap, PortableWrap};
use efm_core::crypto::key_unwrap::{CEK_LEN, KeyTransport};
use ring::rand::SecureRandom;

pub struct SystemWrap;

impl KeyWrap for SystemWrap {
    fn wrap_cek(
        &self,
        recipient: &Certificate,
        scheme: KeyTransport,
        cek: &[u8; CEK_LEN],
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, EncryptError> {
        let spki = recipient.rsa_subject_public_key_info()?;
        let Ok(public) = PublicEncryptingKey::from_der(&spki) else {
            return PortableWrap.wrap_cek(recipient, scheme, cek, rng);
        };
        let mut out = vec![0u8; public.key_size_bytes()];
        let n = match scheme {
            KeyTransport::RsaOaepSha256 => {
                let key =
                    OaepPublicEncryptingKey::new(public).map_err(|_| EncryptError::BadPublicKey)?;
                key.encrypt(&OAEP_SHA256_MGF1SHA256, cek, &mut out, None).map(|c| c.len())
            }
            KeyTransport::RsaPkcs1v15 => {
                let key = Pkcs1PublicEncryptingKey::new(public)
                    .map_err(|_| EncryptError::BadPublicKey)?;
                key.encrypt(cek, &mut out).map(|c| c.len())
            }
        }
        .map_err(|_| EncryptError::KeyTransport)?;
        out.truncate(n);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use efm_core::Timestamp;
    use efm_core::crypto::issue;
    use efm_core::crypto::key_unwrap::{KeyUnwrap, RsaKeyUnwrap};
    use efm_core::crypto::keys::PrivateKey;
    use ring::rand::SystemRandom;
    use rsa::pkcs8::DecodePrivateKey;

    fn identity() -> (Certificate, issue::Issued) {
        let rng = SystemRandom::new();
        let now = Timestamp::from_unix_millis(1_763_000_000_000);
        let issued = issue::self_signed("910077473", "wrap", now, 2, &rng).expect("a certificate");
        (Certificate::from_der(&issued.certificate).expect("a certificate"), issued)
    }

    #[test]
    fn both_schemes_unwrap_with_aws_lc_and_with_the_rsa_crate() {
        let rng = SystemRandom::new();
        let (cert, issued) = identity();
        let key = PrivateKey::from_pkcs8_der(&issued.private_key_pkcs8).expect("a key");
        let other = rsa::RsaPrivateKey::from_pkcs8_der(&issued.private_key_pkcs8).expect("a key");
        let cek = [7u8; CEK_LEN];
        for scheme in [KeyTransport::RsaOaepSha256, KeyTransport::RsaPkcs1v15] {
            let wrapped = SystemWrap.wrap_cek(&cert, scheme, &cek, &rng).expect("wrapped");
            assert_eq!(wrapped.len(), 256, "{scheme:?}");
            assert_ne!(&wrapped[..CEK_LEN], &cek[..]);
            let unwrapper = RsaKeyUnwrap { key: key.unwrapper() };
            assert_eq!(unwrapper.unwrap_cek(scheme, &wrapped, &rng), cek, "{scheme:?}");
            let plain = match scheme {
                KeyTransport::RsaOaepSha256 => {
                    other.decrypt(rsa::Oaep::new::<sha2::Sha256>(), &wrapped)
                }
                KeyTransport::RsaPkcs1v15 => other.decrypt(rsa::Pkcs1v15Encrypt, &wrapped),
            }
            .expect("the rsa crate reads it");
            assert_eq!(plain, cek, "{scheme:?}");
        }
    }

    #[test]
    fn the_padding_is_fresh_each_time() {
        let rng = SystemRandom::new();
        let (cert, _) = identity();
        let cek = [1u8; CEK_LEN];
        let a = SystemWrap.wrap_cek(&cert, KeyTransport::RsaPkcs1v15, &cek, &rng).expect("a");
        let b = SystemWrap.wrap_cek(&cert, KeyTransport::RsaPkcs1v15, &cek, &rng).expect("b");
        assert_ne!(a, b);
    }
}
