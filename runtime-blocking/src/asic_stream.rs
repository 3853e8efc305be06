//! Pop's answer: an incoming message's stored ASiC, kept as it arrived (a CMS
//! envelope to our certificate), decrypted with our key while the answer is sent.
//! Memory stays at two buffers whatever the size of the ASiC.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use efm_core::crypto::envelope_read::{CmsDecryptor, DecryptError};
use efm_core::crypto::key_unwrap::RsaKeyUnwrap;
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

/// Whether the ASiC at `path` is there (`Ok(false)`: it is not) and opens with our
/// key: its envelope header names us and parses. Checked before any byte of the
/// answer goes out, so that these failures are proper error answers.
pub fn check(path: &Path, identity: Option<&Identity>) -> Result<bool, AsicError> {
    let identity = identity.ok_or(AsicError::NoKey)?;
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let unwrap = RsaKeyUnwrap { key: identity.key.unwrapper() };
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
    Ok(true)
}

/// The decrypted ASiC at `path`, written to the answer as it is decrypted. A
/// failure part way (the file changed, the content does not decrypt) ends the
/// answer early; the padding and the envelope's end are checked last.
pub fn body(path: PathBuf, identity: Arc<Identity>) -> BodyWriter {
    Box::new(move |out: &mut dyn Write| {
        let me = recipient(&identity).map_err(io::Error::other)?;
        let unwrap = RsaKeyUnwrap { key: identity.key.unwrapper() };
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
