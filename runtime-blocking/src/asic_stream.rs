//! Pop's answer: an incoming message's stored ASiC, kept as it arrived (a CMS
//! envelope to our certificate), decrypted with our key while the answer is sent.
//! Memory stays at two buffers whatever the size of the ASiC.
//!
//! The content key is unwrapped once per pop: [`check`] unwraps it while reading
//! the envelope's header and hands it to [`body`], which would otherwise repeat
//! the RSA private-key operation, most of a small message's pop.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use efm_core::crypto::envelope_read::{CmsDecryptor, DecryptError};
use efm_core::crypto::key_unwrap::{CEK_LEN, KeyTransport, KeyUnwrap, RsaKeyUnwrap};
use efm_core::crypto::keys::Identity;
use ring::rand::SystemRandom;

use crate::http_server::BodyWriter;

/// Bytes read from the stored envelope at a time.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AsicError {
    #[error("no keystore is configured, so incoming messages cannot be decrypted")]
    NoKey,
    #[error("our keystore's key has no certificate: {0}")]
    Certificate(String),
    #[error("the stored ASiC cannot be read: {0}")]
    Io(#[from] io::Error),
    #[error("the stored ASiC cannot be decrypted: {0}")]
    Decrypt(#[from] DecryptError),
}

/// Who we are, as the decryptor needs it.
fn recipient(identity: &Identity) -> Result<Vec<u8>, AsicError> {
    let cert = identity.certificate().ok_or_else(|| AsicError::Certificate("none".into()))?;
    cert.issuer_and_serial().map_err(|e| AsicError::Certificate(e.to_string()))
}

/// What [`check`] learnt for [`body`]: the content key, when the header had one.
#[derive(Debug, Default)]
pub struct Checked(Option<UnwrappedKey>);

/// A content key as the envelope's header gave it and as our key unwrapped it.
struct UnwrappedKey {
    scheme: KeyTransport,
    encrypted: Vec<u8>,
    key: [u8; CEK_LEN],
}

impl std::fmt::Debug for UnwrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnwrappedKey").field("scheme", &self.scheme).finish_non_exhaustive()
    }
}

/// Unwraps with `rsa`, but answers from `known` when asked for the same
/// encrypted key, and remembers the last unwrap. Whatever `rsa` gave (a key, or
/// the random stand-in of a failed unwrap) is what is remembered, so a repeat
/// behaves exactly as a second unwrap would.
struct Remembering<'a> {
    rsa: RsaKeyUnwrap<'a>,
    known: RefCell<Option<UnwrappedKey>>,
}

impl KeyUnwrap for Remembering<'_> {
    fn unwrap_cek(
        &self,
        scheme: KeyTransport,
        encrypted_key: &[u8],
        rng: &dyn ring::rand::SecureRandom,
    ) -> [u8; CEK_LEN] {
        if let Some(k) = self.known.borrow().as_ref()
            && k.scheme == scheme
            && k.encrypted == encrypted_key
        {
            return k.key;
        }
        let key = self.rsa.unwrap_cek(scheme, encrypted_key, rng);
        *self.known.borrow_mut() =
            Some(UnwrappedKey { scheme, encrypted: encrypted_key.to_vec(), key });
        key
    }
}

/// Whether the ASiC at `path` is there (`Ok(None)`: it is not) and opens with our
/// key: its envelope header names us and parses. Checked before any byte of the
/// answer goes out, so that these failures are proper error answers. The content
/// key found on the way is for [`body`].
pub fn check(path: &Path, identity: Option<&Identity>) -> Result<Option<Checked>, AsicError> {
    let identity = identity.ok_or(AsicError::NoKey)?;
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let unwrap =
        Remembering { rsa: RsaKeyUnwrap { key: identity.key.unwrapper() }, known: None.into() };
    let rng = SystemRandom::new();
    let mut cms = CmsDecryptor::new(&unwrap, recipient(identity)?, &rng);
    let mut input = vec![0u8; CHUNK];
    let mut plain = vec![0u8; CHUNK + 64];
    // The header is bounded (envelope_read::MAX_HEADER), so this reads little.
    while cms.info().is_none() {
        let n = file.read(&mut input)?;
        if n == 0 {
            cms.finish(&mut plain)?;
            break;
        }
        let mut data = input.get(..n).unwrap_or_default();
        while !data.is_empty() && cms.info().is_none() {
            let p = cms.decrypt(data, &mut plain)?;
            if p.consumed == 0 && p.written == 0 {
                break;
            }
            data = data.get(p.consumed..).unwrap_or_default();
        }
    }
    drop(cms);
    Ok(Some(Checked(unwrap.known.into_inner())))
}

/// The decrypted ASiC at `path`, written to the answer as it is decrypted. A
/// failure part way (the file changed, the content does not decrypt) ends the
/// answer early; the padding and the envelope's end are checked last. The content
/// key [`check`] unwrapped is reused; a different encrypted key (the file was
/// replaced meanwhile) is unwrapped anew.
pub fn body(path: PathBuf, identity: Arc<Identity>, checked: Checked) -> BodyWriter {
    Box::new(move |out: &mut dyn Write| {
        let me = recipient(&identity).map_err(io::Error::other)?;
        let unwrap = Remembering {
            rsa: RsaKeyUnwrap { key: identity.key.unwrapper() },
            known: checked.0.into(),
        };
        let rng = SystemRandom::new();
        let mut cms = CmsDecryptor::new(&unwrap, me, &rng);
        let mut file = File::open(&path)?;
        let mut input = vec![0u8; CHUNK];
        let mut plain = vec![0u8; CHUNK + 64];
        loop {
            let n = file.read(&mut input)?;
            if n == 0 {
                break;
            }
            let mut data = input.get(..n).unwrap_or_default();
            while !data.is_empty() {
                let p = cms.decrypt(data, &mut plain).map_err(io::Error::other)?;
                if p.written > 0 {
                    out.write_all(plain.get(..p.written).unwrap_or_default())?;
                }
                if p.consumed == 0 && p.written == 0 {
                    return Err(io::Error::other("CMS decryption made no progress"));
                }
                data = data.get(p.consumed..).unwrap_or_default();
            }
        }
        let n = cms.finish(&mut plain).map_err(io::Error::other)?;
        out.write_all(plain.get(..n).unwrap_or_default())?;
        out.flush()
    })
}
