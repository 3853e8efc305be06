//! DPF's payload jobs on files: the body of a SvarUt send (each document
//! CMS-encrypted to SvarUt on its way from the store into the staged body) and the
//! opening of a SvarInn download (decrypted with our key, unzipped and packed as an
//! incoming ASiC encrypted to ourselves, all in one pass). Fixed buffers throughout,
//! so memory stays flat whatever the size; results are fsynced before they are
//! reported.

use std::fs::File;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};

use efm_core::Timestamp;
use efm_core::crypto::envelope_read::CmsDecryptor;
use efm_core::crypto::envelope_write::CmsEncryptor;
use efm_core::crypto::key_unwrap::{KeyTransport, RsaKeyUnwrap};
use efm_core::crypto::keys::Identity;
use efm_core::node::{JobError, JobResult, SvarInnJob, SvarUtSealJob};
use efm_core::package::asic::AsicWriter;
use efm_core::package::dos_time::DosDateTime;
use efm_core::package::pipeline::Sealer;
use efm_core::package::zip_read::{ZipEvent, ZipLimits, ZipReader};
use ring::rand::{SecureRandom, SystemRandom};

use crate::key_wrap::SystemWrap;
use crate::payloads::{CHUNK, feed_file, first_certificate, flush_sealer, invalid, io};

/// The SvarUt request body, staged under `job.name`.
pub fn seal_svarut(
    job: &SvarUtSealJob,
    inputs: &[PathBuf],
    staging: &Path,
) -> Result<JobResult, JobError> {
    if inputs.len() != job.parts.document_heads.len() {
        return Err(JobError::Invalid("the documents do not match the request's parts".into()));
    }
    let receiver = first_certificate(&job.receiver_certificate, "SvarUt's")?;
    let path = staging.join(&job.name);
    let mut file = File::create(&path).map_err(|e| io(&path, e))?;
    file.write_all(&job.parts.root).map_err(|e| io(&path, e))?;
    let rng = SystemRandom::new();
    let mut inbuf = vec![0u8; CHUNK];
    let mut out = vec![0u8; CHUNK + 1024];
    for (head, input) in job.parts.document_heads.iter().zip(inputs) {
        file.write_all(head).map_err(|e| io(&path, e))?;
        let mut cms =
            CmsEncryptor::with_wrap(&receiver, KeyTransport::RsaOaepSha256, &rng, &SystemWrap)
                .map_err(invalid)?;
        feed_file(input, &mut inbuf, &mut |piece| {
            let p = cms.encrypt(piece, &mut out).map_err(invalid)?;
            file.write_all(out.get(..p.written).unwrap_or_default()).map_err(|e| io(&path, e))?;
            Ok(p.consumed)
        })?;
        cms.finish().map_err(invalid)?;
        while cms.pending_len() > 0 {
            let n = cms.drain(&mut out);
            file.write_all(out.get(..n).unwrap_or_default()).map_err(|e| io(&path, e))?;
        }
    }
    file.write_all(&job.parts.tail).map_err(|e| io(&path, e))?;
    file.sync_all().map_err(|e| io(&path, e))?;
    let size = file.metadata().map_err(|e| io(&path, e))?.len();
    Ok(JobResult::Staged { name: job.name.clone(), size })
}

/// Moves sealed bytes to the staged file.
struct SealedOut<'a> {
    sealer: Sealer,
    file: File,
    path: &'a Path,
    out: Vec<u8>,
}

impl SealedOut<'_> {
    fn write(&mut self, mut data: &[u8]) -> Result<(), JobError> {
        while !data.is_empty() {
            let p = self.sealer.write(data, &mut self.out).map_err(invalid)?;
            self.file
                .write_all(self.out.get(..p.written).unwrap_or_default())
                .map_err(|e| io(self.path, e))?;
            data = data.get(p.consumed..).unwrap_or_default();
        }
        Ok(())
    }
}

/// Reads the decrypted zip and routes each entry's bytes into the ASiC.
struct Unzip<'a> {
    zip: ZipReader,
    buf: Vec<u8>,
    mime_types: &'a [(String, String)],
    /// Inside a file entry (directories are skipped).
    in_file: bool,
}

impl Unzip<'_> {
    fn feed(&mut self, mut data: &[u8], to: &mut SealedOut<'_>) -> Result<(), JobError> {
        loop {
            let step = self.zip.read(data, &mut self.buf).map_err(invalid)?;
            if self.in_file && step.written > 0 {
                to.write(self.buf.get(..step.written).unwrap_or_default())?;
            }
            data = data.get(step.consumed..).unwrap_or_default();
            match step.event {
                Some(ZipEvent::EntryStart(meta)) => {
                    self.in_file = !meta.name.ends_with('/');
                    if self.in_file {
                        let mime = self
                            .mime_types
                            .iter()
                            .find(|(n, _)| *n == meta.name)
                            .map_or("application/octet-stream", |(_, m)| m.as_str());
                        to.sealer.start_file(&meta.name, mime).map_err(invalid)?;
                    }
                }
                Some(ZipEvent::EntryEnd { .. }) => {
                    if self.in_file {
                        to.sealer.finish_file().map_err(invalid)?;
                    }
                    self.in_file = false;
                }
                // No event and no progress: all of `data` is taken and nothing is held.
                None if step.consumed == 0 && step.written == 0 => return Ok(()),
                None => {}
            }
        }
    }
}

/// A SvarInn download opened into an incoming ASiC, staged under `job.asic_to`.
pub fn open_svarinn(
    job: &SvarInnJob,
    input: &Path,
    staging: &Path,
    identity: Option<&Identity>,
    now: Timestamp,
) -> Result<JobResult, JobError> {
    let identity = identity
        .ok_or_else(|| JobError::Invalid("no keystore is configured to decrypt with".into()))?;
    let me = identity
        .certificate()
        .ok_or_else(|| JobError::Invalid("our keystore's key has no certificate".into()))?;
    let rng = SystemRandom::new();
    let unwrap = RsaKeyUnwrap { key: identity.key.unwrapper() };
    let mut decryptor = CmsDecryptor::new(&unwrap, me.issuer_and_serial().map_err(invalid)?, &rng);
    let cms = CmsEncryptor::with_wrap(me, KeyTransport::RsaOaepSha256, &rng, &SystemWrap)
        .map_err(invalid)?;
    let manifest = job.manifest.to_xml();
    let asic = AsicWriter::new(Some(manifest.as_bytes()), DosDateTime::from_timestamp(now))
        .map_err(invalid)?;
    let path = staging.join(&job.asic_to);
    let file = File::create(&path).map_err(|e| io(&path, e))?;
    let mut to = SealedOut {
        sealer: Sealer::new(asic, cms),
        file,
        path: &path,
        out: vec![0u8; CHUNK + 1024],
    };
    to.sealer.start_file(efm_core::node::ARKIVMELDING_FILE, "application/xml").map_err(invalid)?;
    to.write(&job.arkivmelding)?;
    to.sealer.finish_file().map_err(invalid)?;
    let mut unzip = Unzip {
        zip: ZipReader::new(ZipLimits::default()),
        buf: vec![0u8; CHUNK],
        mime_types: &job.mime_types,
        in_file: false,
    };
    let mut f = File::open(input).map_err(|e| io(input, e))?;
    let mut inbuf = vec![0u8; CHUNK];
    let mut plain = vec![0u8; CHUNK + 64];
    loop {
        let n = f.read(&mut inbuf).map_err(|e| io(input, e))?;
        if n == 0 {
            break;
        }
        let mut data = inbuf.get(..n).unwrap_or_default();
        while !data.is_empty() {
            let p = decryptor.decrypt(data, &mut plain).map_err(invalid)?;
            unzip.feed(plain.get(..p.written).unwrap_or_default(), &mut to)?;
            if p.consumed == 0 && p.written == 0 {
                return Err(JobError::Invalid("CMS decryption made no progress".into()));
            }
            data = data.get(p.consumed..).unwrap_or_default();
        }
    }
    let n = decryptor.finish(&mut plain).map_err(invalid)?;
    unzip.feed(plain.get(..n).unwrap_or_default(), &mut to)?;
    unzip.zip.finish().map_err(invalid)?;
    let mut id = [0u8; 16];
    rng.fill(&mut id).map_err(|_| JobError::Io("no OS randomness".into()))?;
    let signature_id = uuid::Builder::from_random_bytes(id).into_uuid();
    to.sealer
        .finish(identity, signature_id, now, Some(efm_core::node::ARKIVMELDING_FILE))
        .map_err(invalid)?;
    let file = &mut to.file;
    flush_sealer(&mut to.sealer, &mut to.out, &mut |b| {
        file.write_all(b).map_err(|e| io(&path, e))
    })?;
    to.file.sync_all().map_err(|e| io(&path, e))?;
    let size = to.file.metadata().map_err(|e| io(&path, e))?.len();
    Ok(JobResult::Staged { name: job.asic_to.clone(), size })
}
