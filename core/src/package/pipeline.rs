//! The two layers of an eFormidling payload in one streaming object each: [`Sealer`]
//! (ASiC-E writer, then CMS encryption) and [`Opener`] (CMS decryption, then the ASiC-E
//! reader), so a runtime moves bytes once and does not repeat the glue. Between the
//! layers sits one fixed buffer; output goes into the caller's buffers (give them at
//! least 64 bytes).

use thiserror::Error;
use uuid::Uuid;

use super::Progress;
use super::asic::{AsicError, AsicReader, AsicStep, AsicWriter, VerifiedAsic};
use crate::Timestamp;
use crate::crypto::envelope_read::{CmsDecryptor, DecryptError};
use crate::crypto::envelope_write::{CmsEncryptor, EncryptError};
use crate::crypto::keys::Identity;

/// Size of the buffer between the two layers.
const MID: usize = 256 * 1024;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PipelineError {
    #[error("ASiC-E: {0}")]
    Asic(#[from] AsicError),
    #[error("CMS encryption: {0}")]
    Encrypt(#[from] EncryptError),
    #[error("CMS decryption: {0}")]
    Decrypt(#[from] DecryptError),
    #[error("the output buffer is too small to make progress (give at least 64 bytes)")]
    OutputTooSmall,
    #[error("called after the end of the stream")]
    Ended,
}

/// Documents in, CMS EnvelopedData of a signed ASiC-E out.
pub struct Sealer {
    asic: AsicWriter,
    cms: CmsEncryptor,
    mid: Vec<u8>,
    start: usize,
    end: usize,
    finishing: bool,
    cms_finished: bool,
}

impl Sealer {
    pub fn new(asic: AsicWriter, cms: CmsEncryptor) -> Self {
        Sealer::with_buffer(asic, cms, MID)
    }

    /// With a buffer of `len` bytes (at least 4 KiB) between the layers: a small
    /// message need not have a 256 KiB buffer cleared for it.
    pub fn with_buffer(asic: AsicWriter, cms: CmsEncryptor, len: usize) -> Self {
        Sealer {
            asic,
            cms,
            mid: vec![0u8; len.clamp(4096, MID)],
            start: 0,
            end: 0,
            finishing: false,
            cms_finished: false,
        }
    }

    pub fn start_file(&mut self, name: &str, mime: &str) -> Result<(), PipelineError> {
        Ok(self.asic.start_file(name, mime)?)
    }

    pub fn finish_file(&mut self) -> Result<(), PipelineError> {
        Ok(self.asic.finish_file()?)
    }

    /// Moves buffered ASiC bytes through the encryptor into `out`.
    fn pump(&mut self, out: &mut [u8]) -> Result<usize, PipelineError> {
        let pending = self.mid.get(self.start..self.end).unwrap_or_default();
        let p = self.cms.encrypt(pending, out)?;
        self.start += p.consumed;
        Ok(p.written)
    }

    fn backed_up(&self) -> bool {
        self.start < self.end || self.cms.pending_len() > 0
    }

    /// Streams document bytes; may consume less than `input`, call again with the rest.
    pub fn write(&mut self, input: &[u8], out: &mut [u8]) -> Result<Progress, PipelineError> {
        if self.cms_finished {
            return Err(PipelineError::Ended);
        }
        let mut consumed = 0;
        let mut written = 0;
        loop {
            if self.backed_up() {
                written += self.pump(out.get_mut(written..).unwrap_or_default())?;
                if self.backed_up() {
                    return Ok(Progress { consumed, written });
                }
            }
            let rest = input.get(consumed..).unwrap_or_default();
            if rest.is_empty() && self.asic.pending_len() == 0 {
                return Ok(Progress { consumed, written });
            }
            let p = self.asic.write(rest, &mut self.mid)?;
            self.start = 0;
            self.end = p.written;
            consumed += p.consumed;
            if p.consumed == 0 && p.written == 0 {
                return Ok(Progress { consumed, written });
            }
        }
    }

    /// Queues the manifests and the signature; then call [`flush`](Self::flush) until
    /// [`is_done`](Self::is_done).
    pub fn finish(
        &mut self,
        me: &Identity,
        signature_id: Uuid,
        signing_time: Timestamp,
        primary: Option<&str>,
    ) -> Result<(), PipelineError> {
        self.asic.finish(me, signature_id, signing_time, primary)?;
        self.finishing = true;
        Ok(())
    }

    /// As [`finish`](Self::finish), with an XAdES signature (a DPI dokumentpakke).
    pub fn finish_xades(
        &mut self,
        me: &Identity,
        signing_time: Timestamp,
    ) -> Result<(), PipelineError> {
        self.asic.finish_xades(me, signing_time)?;
        self.finishing = true;
        Ok(())
    }

    /// Writes queued output into `out`; returns how many bytes.
    pub fn flush(&mut self, out: &mut [u8]) -> Result<usize, PipelineError> {
        let mut written = 0;
        if !self.cms_finished {
            written = self.write(&[], out)?.written;
            let idle = !self.backed_up() && self.asic.pending_len() == 0;
            if self.finishing && idle {
                self.cms.finish()?;
                self.cms_finished = true;
            }
        }
        if self.cms_finished {
            written += self.cms.drain(out.get_mut(written..).unwrap_or_default());
        }
        if written == 0 && !self.is_done() {
            return Err(PipelineError::OutputTooSmall);
        }
        Ok(written)
    }

    /// True once everything, trailer included, has been handed out.
    pub fn is_done(&self) -> bool {
        self.cms_finished && self.cms.pending_len() == 0
    }
}

/// CMS EnvelopedData in, verified documents out (with the ASiC-E reader's events).
pub struct Opener<'a> {
    cms: CmsDecryptor<'a>,
    asic: AsicReader,
    mid: Vec<u8>,
    start: usize,
    end: usize,
    input_ended: bool,
}

impl<'a> Opener<'a> {
    pub fn new(cms: CmsDecryptor<'a>, asic: AsicReader) -> Self {
        Opener { cms, asic, mid: vec![0u8; MID], start: 0, end: 0, input_ended: false }
    }

    /// Consumes CMS bytes, writes document bytes into `out`. Returns at each event like
    /// [`AsicReader::read`]; call again with the unconsumed rest (or `&[]` after
    /// [`end_of_input`](Self::end_of_input)) until a call returns nothing.
    pub fn read(&mut self, input: &[u8], out: &mut [u8]) -> Result<AsicStep, PipelineError> {
        let mut consumed = 0;
        loop {
            if self.start < self.end || (self.input_ended && consumed == 0) {
                let plain = self.mid.get(self.start..self.end).unwrap_or_default();
                let step = self.asic.read(plain, out)?;
                self.start += step.consumed;
                if step.event.is_some() || step.written > 0 {
                    return Ok(AsicStep { consumed, written: step.written, event: step.event });
                }
                if self.start < self.end {
                    if step.consumed == 0 {
                        return Err(PipelineError::OutputTooSmall);
                    }
                    continue;
                }
                if self.input_ended {
                    return Ok(AsicStep { consumed, written: 0, event: None });
                }
            }
            let rest = input.get(consumed..).unwrap_or_default();
            if rest.is_empty() {
                return Ok(AsicStep { consumed, written: 0, event: None });
            }
            let p = self.cms.decrypt(rest, &mut self.mid)?;
            consumed += p.consumed;
            self.start = 0;
            self.end = p.written;
            if p.consumed == 0 && p.written == 0 {
                return Ok(AsicStep { consumed, written: 0, event: None });
            }
        }
    }

    /// Call when the CMS input has ended: checks the envelope's end and padding and
    /// queues the last plaintext bytes. Then keep calling `read(&[], out)` until it
    /// returns nothing, and [`verify`](Self::verify).
    pub fn end_of_input(&mut self) -> Result<(), PipelineError> {
        if self.input_ended {
            return Err(PipelineError::Ended);
        }
        // Make room for the last (at most 15) bytes.
        if self.start > 0 {
            self.mid.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let mut tail = [0u8; 16];
        let n = self.cms.finish(&mut tail)?;
        let dst = self.mid.get_mut(self.end..self.end + n).ok_or(PipelineError::OutputTooSmall)?;
        dst.copy_from_slice(tail.get(..n).unwrap_or_default());
        self.end += n;
        self.input_ended = true;
        Ok(())
    }

    /// Checks the signature and every digest; `eformidling_manifest` is `manifest.xml`
    /// if the caller kept it (to name the primary document).
    pub fn verify(
        &mut self,
        eformidling_manifest: Option<&[u8]>,
    ) -> Result<VerifiedAsic, PipelineError> {
        if !self.input_ended {
            return Err(PipelineError::Decrypt(DecryptError::Truncated("end_of_input not called")));
        }
        Ok(self.asic.finish(eformidling_manifest)?)
    }

    /// The envelope's key transport, once its header was read.
    pub fn envelope(&self) -> Option<crate::crypto::envelope_read::EnvelopeInfo> {
        self.cms.info()
    }
}
