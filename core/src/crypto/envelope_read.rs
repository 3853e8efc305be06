//! Streaming CMS EnvelopedData decryption, for BER (indefinite lengths, constructed
//! OCTET STRING chunks, as BouncyCastle streams it) and DER (as openssl writes it).
//!
//! The header (up to the start of the encrypted content) is gathered and parsed in
//! memory, bounded by [`MAX_HEADER`]; the content is then decrypted chunk by chunk into
//! the caller's buffer, holding back one block for the PKCS#7 padding; the trailer is
//! checked at [`CmsDecryptor::finish`] so a change anywhere in the file is caught.

use aes::Aes256;
use cbc::cipher::inout::InOutBuf;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use ring::rand::SecureRandom;
use thiserror::Error;

use super::ber::{self, BerError, Header};
use super::key_unwrap::{KeyTransport, KeyUnwrap};
use super::oid as o;
use crate::package::Progress;

/// Largest header we buffer (originator info and many recipients fit easily).
pub const MAX_HEADER: usize = 1024 * 1024;
const BLOCK: usize = 16;
/// Largest trailer: end-of-contents octets plus unprotected attributes.
const MAX_TRAILER: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecryptError {
    #[error("CMS envelope is not valid BER: {0}")]
    Ber(BerError),
    #[error("CMS input is not an EnvelopedData ({0})")]
    NotEnvelopedData(&'static str),
    #[error("CMS envelope header is larger than {MAX_HEADER} bytes")]
    HeaderTooLarge,
    #[error("CMS envelope is not addressed to our certificate (no matching recipient)")]
    NotForUs,
    #[error(
        "CMS key transport algorithm is not supported (need RSAES-OAEP SHA-256/MGF1-SHA-256 or PKCS#1 v1.5)"
    )]
    UnsupportedKeyTransport,
    #[error("CMS content encryption is not AES-256-CBC")]
    UnsupportedContentEncryption,
    #[error("CMS envelope has no encrypted content")]
    NoContent,
    #[error("CMS envelope is malformed: {0}")]
    Malformed(&'static str),
    #[error("CMS input ended early ({0})")]
    Truncated(&'static str),
    #[error("bytes after the end of the CMS envelope")]
    TrailingData,
    #[error("content decryption failed: wrong key, or the encrypted content was altered")]
    ContentDecryption,
    #[error("decrypt called after finish")]
    Finished,
}

impl From<BerError> for DecryptError {
    fn from(e: BerError) -> Self {
        DecryptError::Ber(e)
    }
}

#[derive(Debug, Clone, Copy)]
struct Level {
    indefinite: bool,
    /// Absolute end offset for definite lengths.
    end: u64,
}

enum Content {
    /// `[0]` primitive: `remaining` ciphertext bytes.
    Primitive { remaining: u64 },
    /// `[0]` constructed: a series of OCTET STRING chunks.
    Constructed { level: Level, chunk_remaining: u64, header: Vec<u8> },
}

enum State {
    Header(Vec<u8>),
    Content { content: Content, levels: Vec<Level> },
    Trailer { levels: Vec<Level>, start: u64, buf: Vec<u8> },
    Done,
}

/// What the envelope header told us, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeInfo {
    pub key_transport: KeyTransport,
}

pub struct CmsDecryptor<'a> {
    unwrap: &'a dyn KeyUnwrap,
    /// DER IssuerAndSerialNumber of our certificate.
    me: Vec<u8>,
    rng: &'a dyn SecureRandom,
    state: State,
    offset: u64,
    cipher: Option<cbc::Decryptor<Aes256>>,
    partial: [u8; BLOCK],
    partial_len: usize,
    held: Option<[u8; BLOCK]>,
    info: Option<EnvelopeInfo>,
}

struct Parsed {
    levels: Vec<Level>,
    content: Content,
    transport: KeyTransport,
    encrypted_key: Vec<u8>,
    iv: [u8; BLOCK],
    consumed: usize,
}

fn level(h: &Header, at: usize) -> Level {
    Level { indefinite: h.len.is_none(), end: (at + h.header_len + h.len.unwrap_or(0)) as u64 }
}

/// Splits an AlgorithmIdentifier into its OID and optional parameters, strictly.
fn algorithm<'a>(alg: &ber::Tlv<'a>) -> Result<(&'a [u8], Option<ber::Tlv<'a>>), DecryptError> {
    if alg.tag != 0x30 {
        return Err(DecryptError::Malformed("algorithm identifier"));
    }
    let mut it = alg.children();
    let id = it.next().ok_or(DecryptError::Malformed("algorithm identifier"))??;
    if id.tag != 0x06 {
        return Err(DecryptError::Malformed("algorithm identifier"));
    }
    let params = it.next().transpose()?;
    if it.next().is_some() {
        return Err(DecryptError::Malformed("algorithm identifier"));
    }
    Ok((id.value, params))
}

/// A hash AlgorithmIdentifier that must name SHA-256, parameters absent or NULL.
fn is_sha256(alg: &ber::Tlv<'_>) -> Result<bool, DecryptError> {
    let (id, params) = algorithm(alg)?;
    let params_ok = params.is_none_or(|p| p.tag == 0x05 && p.value.is_empty());
    Ok(id == o::SHA256 && params_ok)
}

fn transport_of(alg: &ber::Tlv<'_>) -> Result<KeyTransport, DecryptError> {
    let (id, params) = algorithm(alg)?;
    if id == o::RSA_ENCRYPTION {
        if params.is_some_and(|p| p.tag != 0x05 || !p.value.is_empty()) {
            return Err(DecryptError::Malformed("rsaEncryption parameters"));
        }
        return Ok(KeyTransport::RsaPkcs1v15);
    }
    if id != o::RSAES_OAEP {
        return Err(DecryptError::UnsupportedKeyTransport);
    }
    // Absent parameters mean SHA-1 defaults, which the reference never uses.
    let params = params.ok_or(DecryptError::UnsupportedKeyTransport)?;
    if params.tag != 0x30 {
        return Err(DecryptError::Malformed("OAEP parameters"));
    }
    let mut hash_ok = false;
    let mut mgf_ok = false;
    for p in params.children() {
        let p = p?;
        let mut fields = p.children();
        let inner = fields.next().ok_or(DecryptError::Malformed("OAEP parameters"))??;
        if fields.next().is_some() {
            return Err(DecryptError::Malformed("OAEP parameters"));
        }
        match p.tag {
            0xa0 => hash_ok = is_sha256(&inner)?,
            0xa1 => {
                let (mgf, mgf_params) = algorithm(&inner)?;
                let hash = mgf_params.ok_or(DecryptError::UnsupportedKeyTransport)?;
                mgf_ok = mgf == o::MGF1 && is_sha256(&hash)?;
            }
            0xa2 => {
                // pSpecified with an empty label is the default; anything else is not.
                let (_, label) = algorithm(&inner)?;
                if label.is_some_and(|l| l.tag != 0x04 || !l.value.is_empty()) {
                    return Err(DecryptError::UnsupportedKeyTransport);
                }
            }
            _ => return Err(DecryptError::Malformed("OAEP parameters")),
        }
    }
    if hash_ok && mgf_ok {
        Ok(KeyTransport::RsaOaepSha256)
    } else {
        Err(DecryptError::UnsupportedKeyTransport)
    }
}

/// Parses the header; `Ok(None)` means more bytes are needed.
fn parse_header(buf: &[u8], me: &[u8]) -> Result<Option<Parsed>, DecryptError> {
    match parse_header_inner(buf, me) {
        Err(DecryptError::Ber(BerError::Incomplete)) => Ok(None),
        other => other.map(Some),
    }
}

fn parse_header_inner(buf: &[u8], me: &[u8]) -> Result<Parsed, DecryptError> {
    let mut pos = 0usize;
    let rest = |pos: usize| buf.get(pos..).unwrap_or_default();
    let mut levels = Vec::with_capacity(4);
    let h = ber::read_header(rest(pos))?;
    if h.tag != 0x30 {
        return Err(DecryptError::NotEnvelopedData("not a SEQUENCE"));
    }
    levels.push(level(&h, pos));
    pos += h.header_len;
    let (t, _) = ber::read(rest(pos))?;
    if t.tag != 0x06 || t.value != o::ENVELOPED_DATA {
        return Err(DecryptError::NotEnvelopedData("content type"));
    }
    pos += t.raw.len();
    for tag in [0xa0, 0x30] {
        let h = ber::read_header(rest(pos))?;
        if h.tag != tag {
            return Err(DecryptError::Malformed("EnvelopedData framing"));
        }
        levels.push(level(&h, pos));
        pos += h.header_len;
    }
    let (version, _) = ber::read(rest(pos))?;
    // RFC 5652 6.1: 0 or 2 for key-transport recipients (3 and 4 need kinds we lack).
    if version.tag != 0x02 || !matches!(version.value, [0] | [2]) {
        return Err(DecryptError::Malformed("version"));
    }
    pos += version.raw.len();
    let (mut t, _) = ber::read(rest(pos))?;
    if t.tag == 0xa0 {
        // originatorInfo: certificates we do not need.
        pos += t.raw.len();
        t = ber::read(rest(pos))?.0;
    }
    if t.tag != 0x31 {
        return Err(DecryptError::Malformed("recipientInfos"));
    }
    pos += t.raw.len();
    let mut chosen = None;
    for ri in t.children() {
        let ri = ri?;
        if ri.tag != 0x30 {
            continue; // other RecipientInfo kinds (kari, kekri, ...) are tagged
        }
        let mut it = ri.children();
        let v = it.next().ok_or(DecryptError::Malformed("recipient"))??;
        if v.tag != 0x02 || !matches!(v.value, [0] | [2]) {
            return Err(DecryptError::Malformed("recipient version"));
        }
        let rid = it.next().ok_or(DecryptError::Malformed("recipient"))??;
        let alg = it.next().ok_or(DecryptError::Malformed("recipient"))??;
        let key = it.next().ok_or(DecryptError::Malformed("recipient"))??;
        if it.next().is_some() || (key.tag != 0x04 && key.tag != 0x24) {
            return Err(DecryptError::Malformed("recipient"));
        }
        if rid.raw == me {
            chosen = Some((transport_of(&alg)?, key.octets()?));
            break;
        }
    }
    let (transport, encrypted_key) = chosen.ok_or(DecryptError::NotForUs)?;
    let h = ber::read_header(rest(pos))?;
    if h.tag != 0x30 {
        return Err(DecryptError::Malformed("EncryptedContentInfo"));
    }
    levels.push(level(&h, pos));
    pos += h.header_len;
    let (ct, _) = ber::read(rest(pos))?;
    if ct.tag != 0x06 || ct.value != o::DATA {
        return Err(DecryptError::Malformed("content type is not id-data"));
    }
    pos += ct.raw.len();
    let (alg, _) = ber::read(rest(pos))?;
    pos += alg.raw.len();
    let (id, iv_tlv) = algorithm(&alg)?;
    if id != o::AES256_CBC {
        return Err(DecryptError::UnsupportedContentEncryption);
    }
    let iv_tlv = iv_tlv.filter(|t| t.tag == 0x04).ok_or(DecryptError::Malformed("IV"))?;
    let iv: [u8; BLOCK] = iv_tlv.value.try_into().map_err(|_| DecryptError::Malformed("IV"))?;
    let h = ber::read_header(rest(pos))?;
    let content = match h.tag {
        0x80 => Content::Primitive { remaining: h.len.unwrap_or(0) as u64 },
        0xa0 => Content::Constructed {
            level: level(&h, pos),
            chunk_remaining: 0,
            header: Vec::with_capacity(8),
        },
        _ => return Err(DecryptError::NoContent),
    };
    pos += h.header_len;
    Ok(Parsed { levels, content, transport, encrypted_key, iv, consumed: pos })
}

impl<'a> CmsDecryptor<'a> {
    /// `me` is the DER IssuerAndSerialNumber of our certificate
    /// ([`Certificate::issuer_and_serial`](super::cert::Certificate::issuer_and_serial)).
    pub fn new(unwrap: &'a dyn KeyUnwrap, me: Vec<u8>, rng: &'a dyn SecureRandom) -> Self {
        CmsDecryptor {
            unwrap,
            me,
            rng,
            state: State::Header(Vec::with_capacity(4096)),
            offset: 0,
            cipher: None,
            partial: [0; BLOCK],
            partial_len: 0,
            held: None,
            info: None,
        }
    }

    /// Set once the header is parsed.
    pub fn info(&self) -> Option<EnvelopeInfo> {
        self.info
    }

    /// Decrypts what `input` holds into `out` (give it at least 32 bytes). Until the
    /// header is complete each call re-parses the buffered header (at most
    /// [`MAX_HEADER`]), so feed kilobytes at a time, not single bytes.
    pub fn decrypt(&mut self, input: &[u8], out: &mut [u8]) -> Result<Progress, DecryptError> {
        let mut consumed = 0;
        let mut written = 0;
        loop {
            let rest = input.get(consumed..).unwrap_or_default();
            match &mut self.state {
                State::Header(buf) => {
                    if rest.is_empty() {
                        break;
                    }
                    let before = buf.len();
                    let take = rest.len().min(MAX_HEADER + 1 - before);
                    buf.extend_from_slice(rest.get(..take).unwrap_or_default());
                    match parse_header(buf, &self.me)? {
                        None => {
                            if buf.len() > MAX_HEADER {
                                return Err(DecryptError::HeaderTooLarge);
                            }
                            consumed += take;
                            self.offset += take as u64;
                        }
                        Some(p) => {
                            let used = p.consumed - before;
                            consumed += used;
                            self.offset += used as u64;
                            let cek =
                                self.unwrap.unwrap_cek(p.transport, &p.encrypted_key, self.rng);
                            self.cipher =
                                Some(cbc::Decryptor::<Aes256>::new(&cek.into(), &p.iv.into()));
                            self.info = Some(EnvelopeInfo { key_transport: p.transport });
                            self.state = State::Content { content: p.content, levels: p.levels };
                        }
                    }
                }
                State::Content { content, .. } => {
                    let (n, ended) = match content {
                        Content::Primitive { remaining } => {
                            let take = (*remaining).min(rest.len() as u64) as usize;
                            let (c, w) =
                                self.feed(rest.get(..take).unwrap_or_default(), out, written);
                            // feed borrows self; re-borrow the state to update it.
                            if let State::Content {
                                content: Content::Primitive { remaining },
                                ..
                            } = &mut self.state
                            {
                                *remaining -= c as u64;
                                written += w;
                                (c, *remaining == 0)
                            } else {
                                (c, false)
                            }
                        }
                        Content::Constructed { level, chunk_remaining, header } => {
                            if *chunk_remaining > 0 {
                                let take = (*chunk_remaining).min(rest.len() as u64) as usize;
                                let (c, w) =
                                    self.feed(rest.get(..take).unwrap_or_default(), out, written);
                                if let State::Content {
                                    content: Content::Constructed { chunk_remaining, .. },
                                    ..
                                } = &mut self.state
                                {
                                    *chunk_remaining -= c as u64;
                                }
                                written += w;
                                (c, false)
                            } else if !level.indefinite && self.offset == level.end {
                                (0, true)
                            } else {
                                if rest.is_empty() {
                                    break;
                                }
                                // Gather a chunk header (at most 6 bytes) one byte at a time.
                                header.push(rest.first().copied().unwrap_or(0));
                                match ber::read_header(header) {
                                    Err(BerError::Incomplete) => (1, false),
                                    Err(e) => return Err(e.into()),
                                    Ok(h) => {
                                        let ended = match (h.tag, h.len) {
                                            (0x00, Some(0)) if level.indefinite => true,
                                            (0x04, Some(len)) => {
                                                *chunk_remaining = len as u64;
                                                false
                                            }
                                            _ => {
                                                return Err(DecryptError::Malformed(
                                                    "encrypted content chunk",
                                                ));
                                            }
                                        };
                                        header.clear();
                                        if !level.indefinite
                                            && self.offset + 1 + *chunk_remaining > level.end
                                        {
                                            return Err(DecryptError::Malformed(
                                                "chunk overruns encrypted content",
                                            ));
                                        }
                                        (1, ended)
                                    }
                                }
                            }
                        }
                    };
                    consumed += n;
                    self.offset += n as u64;
                    if ended {
                        let levels = match std::mem::replace(&mut self.state, State::Done) {
                            State::Content { levels, .. } => levels,
                            _ => Vec::new(),
                        };
                        self.state = State::Trailer { levels, start: self.offset, buf: Vec::new() };
                    } else if n == 0 {
                        break;
                    }
                }
                State::Trailer { buf, .. } => {
                    if buf.len() + rest.len() > MAX_TRAILER {
                        return Err(DecryptError::TrailingData);
                    }
                    buf.extend_from_slice(rest);
                    consumed += rest.len();
                    self.offset += rest.len() as u64;
                    break;
                }
                State::Done => return Err(DecryptError::Finished),
            }
        }
        Ok(Progress { consumed, written })
    }

    /// Decrypts ciphertext into `out[written..]`, holding back the newest block.
    fn feed(&mut self, mut c: &[u8], out: &mut [u8], written: usize) -> (usize, usize) {
        let Some(cipher) = self.cipher.as_mut() else {
            return (0, 0);
        };
        let start = c.len();
        let mut w = 0usize;
        loop {
            let avail = out.len().saturating_sub(written + w);
            if self.partial_len == BLOCK {
                if let Some(h) = self.held {
                    if avail < BLOCK {
                        break;
                    }
                    if let Some(d) = out.get_mut(written + w..written + w + BLOCK) {
                        d.copy_from_slice(&h);
                    }
                    w += BLOCK;
                }
                let mut b = self.partial;
                cipher.decrypt_block_mut((&mut b).into());
                self.held = Some(b);
                self.partial_len = 0;
                continue;
            }
            if c.is_empty() {
                break;
            }
            if self.partial_len > 0 || c.len() < BLOCK {
                let n = (BLOCK - self.partial_len).min(c.len());
                if let (Some(d), Some(s)) =
                    (self.partial.get_mut(self.partial_len..self.partial_len + n), c.get(..n))
                {
                    d.copy_from_slice(s);
                }
                self.partial_len += n;
                c = c.get(n..).unwrap_or_default();
                continue;
            }
            let held_len = if self.held.is_some() { BLOCK } else { 0 };
            let blocks = (c.len() / BLOCK).min(avail.saturating_sub(held_len) / BLOCK);
            if blocks == 0 {
                break;
            }
            let len = blocks * BLOCK;
            let base = written + w;
            if let Some(h) = self.held
                && let Some(d) = out.get_mut(base..base + BLOCK)
            {
                d.copy_from_slice(&h);
            }
            let region = out.get_mut(base + held_len..base + held_len + len).unwrap_or_default();
            region.copy_from_slice(c.get(..len).unwrap_or_default());
            let (chunks, _) = InOutBuf::from(&mut *region).into_chunks();
            cipher.decrypt_blocks_inout_mut(chunks);
            let mut last = [0u8; BLOCK];
            last.copy_from_slice(region.get(len - BLOCK..).unwrap_or(&[0; BLOCK]));
            self.held = Some(last);
            w += held_len + len - BLOCK;
            c = c.get(len..).unwrap_or_default();
        }
        (start - c.len(), w)
    }

    /// Call at end of input: checks the trailer, removes the padding and writes the last
    /// plaintext bytes (at most 15) into `out`; returns how many.
    pub fn finish(&mut self, out: &mut [u8]) -> Result<usize, DecryptError> {
        let (levels, start, buf) = match std::mem::replace(&mut self.state, State::Done) {
            State::Trailer { levels, start, buf } => (levels, start, buf),
            State::Header(_) => return Err(DecryptError::Truncated("inside the envelope header")),
            State::Content { .. } => {
                return Err(DecryptError::Truncated("inside the encrypted content"));
            }
            State::Done => return Err(DecryptError::Finished),
        };
        check_trailer(&levels, start, &buf)?;
        if self.partial_len != 0 {
            return Err(DecryptError::ContentDecryption);
        }
        let last = self.held.take().ok_or(DecryptError::ContentDecryption)?;
        let pad = usize::from(last[BLOCK - 1]);
        let pad_ok = (1..=BLOCK).contains(&pad)
            && last.iter().skip(BLOCK - pad).all(|b| usize::from(*b) == pad);
        if !pad_ok {
            return Err(DecryptError::ContentDecryption);
        }
        let n = BLOCK - pad;
        let dst =
            out.get_mut(..n).ok_or(DecryptError::Malformed("finish needs a 16-byte buffer"))?;
        dst.copy_from_slice(last.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// After the content: end-of-contents for each indefinite level (inner to outer), with
/// optional unprotectedAttrs inside EnvelopedData; definite levels must end exactly.
fn check_trailer(levels: &[Level], start: u64, buf: &[u8]) -> Result<(), DecryptError> {
    let mut pos = 0usize;
    // levels: [ContentInfo, [0], EnvelopedData, EncryptedContentInfo]
    for (i, l) in levels.iter().enumerate().rev() {
        if i == 2 && buf.get(pos) == Some(&0xa1) {
            let (t, _) = ber::read(buf.get(pos..).unwrap_or_default()).map_err(|e| match e {
                BerError::Incomplete => DecryptError::Truncated("unprotected attributes"),
                other => other.into(),
            })?;
            pos += t.raw.len();
        }
        if l.indefinite {
            match buf.get(pos..pos + 2) {
                Some([0, 0]) => pos += 2,
                Some(_) => return Err(DecryptError::Malformed("expected end-of-contents")),
                None => return Err(DecryptError::Truncated("end-of-contents")),
            }
        } else if start + pos as u64 != l.end {
            return Err(DecryptError::Malformed("definite length does not match content"));
        }
    }
    if pos != buf.len() {
        return Err(DecryptError::TrailingData);
    }
    Ok(())
}
