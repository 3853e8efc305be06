//! Streaming CMS EnvelopedData encryption: AES-256-CBC content, the key wrapped to one
//! recipient certificate (RSAES-OAEP SHA-256 or PKCS#1 v1.5).
//!
//! We write BER with indefinite lengths, as BouncyCastle's stream generator does, so the
//! header goes out before we know the size. The ciphertext is a constructed OCTET
//! STRING whose chunks are as large as the caller's output buffer. openssl and
//! BouncyCastle both read this.

use aes::Aes256;
use cbc::cipher::inout::InOutBuf;
use cbc::cipher::{BlockEncryptMut, KeyIvInit};
use ring::rand::SecureRandom;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::{Oaep, Pkcs1v15Encrypt, RsaPublicKey};
use thiserror::Error;

use super::cert::{CertError, Certificate};
use super::der_write::{INTEGER, NULL, OCTET_STRING, SEQUENCE, SET, alg_id, cons, oid, tlv};
use super::key_unwrap::{CEK_LEN, KeyTransport};
use super::oid as o;
use super::rng::{RingRng, fill};
use crate::package::Progress;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncryptError {
    #[error("receiver certificate: {0}")]
    Cert(#[from] CertError),
    #[error("receiver public key is not a usable RSA key")]
    BadPublicKey,
    #[error("RSA key transport failed")]
    KeyTransport,
    #[error("the random number source failed")]
    Random,
    #[error("encrypt called after finish")]
    Finished,
}

const BLOCK: usize = 16;
/// Largest chunk header: OCTET STRING tag plus a 5-byte length.
const CHUNK_HEADER_MAX: usize = 6;
/// The trailer: end-of-contents for [0] encryptedContent, EncryptedContentInfo,
/// EnvelopedData, the [0] wrapper and ContentInfo.
const TRAILER: [u8; 10] = [0; 10];

/// The RSAES-OAEP parameters: SHA-256, MGF1 with SHA-256, empty label (default, omitted).
fn oaep_params() -> Vec<u8> {
    let sha256 = alg_id(o::SHA256, Some(&[NULL, 0]));
    cons(SEQUENCE, &[&cons(0xa0, &[&sha256]), &cons(0xa1, &[&alg_id(o::MGF1, Some(&sha256))])])
}

/// `OCTET STRING` tag and minimal DER length for a chunk of `len` bytes.
fn chunk_header(len: usize) -> ([u8; CHUNK_HEADER_MAX], usize) {
    let mut h = [0u8; CHUNK_HEADER_MAX];
    h[0] = OCTET_STRING;
    if len < 0x80 {
        h[1] = len as u8;
        return (h, 2);
    }
    let bytes = (len as u32).to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let n = 4 - skip;
    h[1] = 0x80 | n as u8;
    for (i, b) in bytes.iter().skip(skip).enumerate() {
        if let Some(slot) = h.get_mut(2 + i) {
            *slot = *b;
        }
    }
    (h, 2 + n)
}

/// The streaming encryptor. Bytes in through [`encrypt`](Self::encrypt), ciphertext out
/// into the caller's buffer; header and trailer are queued and handed out first.
pub struct CmsEncryptor {
    cipher: cbc::Encryptor<Aes256>,
    pending: Vec<u8>,
    pending_pos: usize,
    partial: [u8; BLOCK],
    partial_len: usize,
    finished: bool,
}

/// Encrypts a content key to a recipient's RSA public key under a key-transport
/// scheme.
///
/// The padding of both schemes is random. [`PortableWrap`] draws it from the
/// injected source, so a simulation reproduces every byte it writes; a runtime may
/// pass a wrap that draws from the system and runs faster.
pub trait KeyWrap {
    fn wrap_cek(
        &self,
        recipient: &Certificate,
        scheme: KeyTransport,
        cek: &[u8; CEK_LEN],
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, EncryptError>;
}

/// RSA with the `rsa` crate, padded from the injected randomness.
pub struct PortableWrap;

impl KeyWrap for PortableWrap {
    fn wrap_cek(
        &self,
        recipient: &Certificate,
        scheme: KeyTransport,
        cek: &[u8; CEK_LEN],
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, EncryptError> {
        let public = RsaPublicKey::from_pkcs1_der(&recipient.rsa_public_key()?)
            .map_err(|_| EncryptError::BadPublicKey)?;
        let mut r = RingRng(rng);
        match scheme {
            KeyTransport::RsaOaepSha256 => public.encrypt(&mut r, Oaep::new::<sha2::Sha256>(), cek),
            KeyTransport::RsaPkcs1v15 => public.encrypt(&mut r, Pkcs1v15Encrypt, cek),
        }
        .map_err(|_| EncryptError::KeyTransport)
    }
}

impl CmsEncryptor {
    /// Draws a content key and IV from `rng`, wraps the key to `recipient`, and queues
    /// the envelope header. The caller has checked the certificate (`check_usable`).
    pub fn new(
        recipient: &Certificate,
        transport: KeyTransport,
        rng: &dyn SecureRandom,
    ) -> Result<Self, EncryptError> {
        CmsEncryptor::with_wrap(recipient, transport, rng, &PortableWrap)
    }

    /// As [`CmsEncryptor::new`], the content key wrapped by `wrap`.
    pub fn with_wrap(
        recipient: &Certificate,
        transport: KeyTransport,
        rng: &dyn SecureRandom,
        wrap: &dyn KeyWrap,
    ) -> Result<Self, EncryptError> {
        let mut cek = [0u8; CEK_LEN];
        let mut iv = [0u8; BLOCK];
        fill(rng, &mut cek).map_err(|_| EncryptError::Random)?;
        fill(rng, &mut iv).map_err(|_| EncryptError::Random)?;
        let wrapped = wrap.wrap_cek(recipient, transport, &cek, rng)?;
        let key_alg = match transport {
            KeyTransport::RsaOaepSha256 => alg_id(o::RSAES_OAEP, Some(&oaep_params())),
            KeyTransport::RsaPkcs1v15 => alg_id(o::RSA_ENCRYPTION, Some(&[NULL, 0])),
        };
        let ktri = cons(
            SEQUENCE,
            &[
                &tlv(INTEGER, &[0]),
                &recipient.issuer_and_serial()?,
                &key_alg,
                &tlv(OCTET_STRING, &wrapped),
            ],
        );
        let mut h = Vec::with_capacity(ktri.len() + 96);
        h.extend_from_slice(&[SEQUENCE, 0x80]);
        h.extend_from_slice(&oid(o::ENVELOPED_DATA));
        h.extend_from_slice(&[0xa0, 0x80, SEQUENCE, 0x80]);
        h.extend_from_slice(&tlv(INTEGER, &[0]));
        h.extend_from_slice(&cons(SET, &[&ktri]));
        h.extend_from_slice(&[SEQUENCE, 0x80]);
        h.extend_from_slice(&oid(o::DATA));
        h.extend_from_slice(&alg_id(o::AES256_CBC, Some(&tlv(OCTET_STRING, &iv))));
        h.extend_from_slice(&[0xa0, 0x80]);
        let cipher = cbc::Encryptor::<Aes256>::new(&cek.into(), &iv.into());
        Ok(CmsEncryptor {
            cipher,
            pending: h,
            pending_pos: 0,
            partial: [0; BLOCK],
            partial_len: 0,
            finished: false,
        })
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len() - self.pending_pos
    }

    /// Hands out queued header or trailer bytes.
    pub fn drain(&mut self, out: &mut [u8]) -> usize {
        let avail = self.pending.get(self.pending_pos..).unwrap_or_default();
        let n = avail.len().min(out.len());
        if let (Some(d), Some(s)) = (out.get_mut(..n), avail.get(..n)) {
            d.copy_from_slice(s);
        }
        self.pending_pos += n;
        if self.pending_pos == self.pending.len() {
            self.pending.clear();
            self.pending_pos = 0;
        }
        n
    }

    /// Encrypts as much of `input` as fits into `out` (give it at least 64 bytes; larger
    /// buffers make larger chunks and less framing).
    pub fn encrypt(&mut self, input: &[u8], out: &mut [u8]) -> Result<Progress, EncryptError> {
        if self.finished {
            return Err(EncryptError::Finished);
        }
        let mut written = self.drain(out);
        if self.pending_len() > 0 {
            return Ok(Progress { consumed: 0, written });
        }
        let avail = out.len() - written;
        let have = self.partial_len + input.len();
        let blocks = (have / BLOCK).min(avail.saturating_sub(CHUNK_HEADER_MAX) / BLOCK);
        let mut consumed = 0;
        if blocks > 0 {
            let len = blocks * BLOCK;
            // Chunk header on the stack: no allocation per chunk.
            let (hdr, hdr_len) = chunk_header(len);
            let hdr = hdr.get(..hdr_len).unwrap_or_default();
            let dst = out.get_mut(written..).unwrap_or_default();
            let (h, body) = dst.split_at_mut(hdr.len().min(dst.len()));
            h.copy_from_slice(hdr);
            let body = body.get_mut(..len).unwrap_or_default();
            let (head, tail) = body.split_at_mut(self.partial_len.min(body.len()));
            head.copy_from_slice(self.partial.get(..self.partial_len).unwrap_or_default());
            consumed = len - self.partial_len;
            tail.copy_from_slice(input.get(..consumed).unwrap_or_default());
            self.partial_len = 0;
            let (chunks, _) = InOutBuf::from(body).into_chunks();
            self.cipher.encrypt_blocks_inout_mut(chunks);
            written += hdr.len() + len;
        }
        let rest = input.get(consumed..).unwrap_or_default();
        if self.partial_len + rest.len() < BLOCK {
            if let Some(d) = self.partial.get_mut(self.partial_len..self.partial_len + rest.len()) {
                d.copy_from_slice(rest);
            }
            self.partial_len += rest.len();
            consumed += rest.len();
        }
        Ok(Progress { consumed, written })
    }

    /// Pads the last block (PKCS#7) and queues it with the end-of-contents octets; then
    /// drain until [`pending_len`](Self::pending_len) is 0.
    pub fn finish(&mut self) -> Result<(), EncryptError> {
        if self.finished {
            return Err(EncryptError::Finished);
        }
        self.finished = true;
        let pad = (BLOCK - self.partial_len) as u8;
        let mut block = self.partial;
        for b in block.iter_mut().skip(self.partial_len) {
            *b = pad;
        }
        self.cipher.encrypt_block_mut((&mut block).into());
        self.pending.extend_from_slice(&[OCTET_STRING, BLOCK as u8]);
        self.pending.extend_from_slice(&block);
        self.pending.extend_from_slice(&TRAILER);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::chunk_header;
    use crate::crypto::der_write::push_len;

    #[test]
    fn chunk_headers_match_the_der_writer() {
        for len in
            [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 256 * 1024, 0xff_ffff, 0x1000_0000]
        {
            let mut want = vec![0x04];
            push_len(&mut want, len);
            let (h, n) = chunk_header(len);
            assert_eq!(&h[..n], &want[..], "len {len}");
        }
    }
}
