//! The node's payload jobs carried out on files: sealing an outgoing message's
//! stored files into a parcel, opening a downloaded parcel, staging bytes. The
//! bytes go through core's streaming encoders and decoders in fixed buffers, so
//! memory stays flat whatever the size; results are fsynced before they are
//! reported, since the node acts on them as durable.

use std::fs::File;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use efm_core::Timestamp;
use efm_core::crypto::cert::Certificate;
use efm_core::crypto::envelope_write::CmsEncryptor;
use efm_core::crypto::keys::Identity;
use efm_core::node::{
    DpiSeal, Job, JobError, JobResult, SealForm, SealJob, StoredFile, SvarInnJob, SvarUtSealJob,
    UnpackJob,
};
use efm_core::transport::dpi;

use crate::credentials::Credentials;
use crate::key_wrap::SystemWrap;
use efm_core::package::asic::AsicWriter;
use efm_core::package::dos_time::DosDateTime;
use efm_core::package::pipeline::Sealer;
use efm_core::transport::dpo_parcel::{Event, ParcelReader, ParcelWriter};
use efm_store::Store;
use ring::rand::{SecureRandom, SystemRandom};

pub(crate) const CHUNK: usize = 256 * 1024;

/// The buffer size for `len` bytes of input: CHUNK for large inputs, less for
/// small ones. Every seal and unpack takes two or three such buffers, and
/// allocating and clearing 256 KiB buffers (fresh pages, each one faulted in) for
/// a message of a few KiB was a twentieth of a sending node's CPU.
fn chunk_for(len: u64) -> usize {
    let len = usize::try_from(len).unwrap_or(CHUNK);
    len.saturating_add(1024).next_power_of_two().clamp(16 * 1024, CHUNK)
}

/// Total size of a job's inputs.
fn input_size(inputs: &[(StoredFile, PathBuf)]) -> u64 {
    inputs.iter().map(|(f, _)| f.size).fold(0, u64::saturating_add)
}

/// A job with the paths it works on, resolved while the store is at hand, so the
/// work itself runs without it (and without the node's lock).
#[derive(Debug)]
pub enum Prepared {
    Seal { job: SealJob, inputs: Vec<(StoredFile, PathBuf)>, staging: PathBuf },
    Unpack { input: PathBuf, asic_to: String, staging: PathBuf },
    Stage { name: String, content: Bytes, staging: PathBuf },
    SvarUt { job: SvarUtSealJob, inputs: Vec<PathBuf>, staging: PathBuf },
    SvarInn { job: SvarInnJob, staging: PathBuf },
}

/// Resolve the job's files in the store.
pub fn prepare(store: &Store, job: Job) -> Result<Prepared, JobError> {
    let staging = store.staging_dir();
    Ok(match job {
        Job::Seal(job) => {
            let mut inputs = Vec::with_capacity(job.files.len());
            for f in &job.files {
                let path = store
                    .file_path(job.message_id, &f.filename)
                    .map_err(|e| JobError::Io(e.to_string()))?
                    .ok_or_else(|| {
                        JobError::Io(format!("{} of {} is not stored", f.filename, job.message_id))
                    })?;
                inputs.push((f.clone(), path));
            }
            Prepared::Seal { job, inputs, staging }
        }
        Job::Unpack(UnpackJob { staged, asic_to }) => {
            Prepared::Unpack { input: staging.join(staged), asic_to, staging }
        }
        Job::Stage { name, content } => Prepared::Stage { name, content, staging },
        Job::SealSvarUt(job) => {
            let mut inputs = Vec::with_capacity(job.documents.len());
            for f in &job.documents {
                let path = store
                    .file_path(job.message_id, &f.filename)
                    .map_err(|e| JobError::Io(e.to_string()))?
                    .ok_or_else(|| {
                        JobError::Io(format!("{} of {} is not stored", f.filename, job.message_id))
                    })?;
                inputs.push(path);
            }
            Prepared::SvarUt { job, inputs, staging }
        }
        Job::OpenSvarInn(job) => Prepared::SvarInn { job, staging },
    })
}

/// Do the work. `identity` signs what we seal; without one nothing can be sealed.
pub fn run(
    p: Prepared,
    identity: Option<&Identity>,
    tokens: Option<&Credentials>,
    now: Timestamp,
) -> Result<JobResult, JobError> {
    match p {
        Prepared::Seal { job, inputs, staging } => match &job.form {
            SealForm::Dpi(dpi) => seal_dpi(&job, dpi, &inputs, &staging, identity, tokens, now),
            _ => seal(&job, &inputs, &staging, identity, now),
        },
        Prepared::Unpack { input, asic_to, staging } => {
            let r = unpack(&input, &staging, &asic_to);
            // The download is spent either way: opened, or not worth keeping.
            let _ = std::fs::remove_file(&input);
            r
        }
        Prepared::Stage { name, content, staging } => {
            write_durably(&staging.join(&name), &content)?;
            Ok(JobResult::Staged { name, size: content.len() as u64 })
        }
        Prepared::SvarUt { job, inputs, staging } => {
            crate::fiks_payloads::seal_svarut(&job, &inputs, &staging)
        }
        Prepared::SvarInn { job, staging } => {
            let input = staging.join(&job.staged);
            let r = crate::fiks_payloads::open_svarinn(&job, &input, &staging, identity, now);
            // The download is spent either way: opened, or not worth keeping.
            let _ = std::fs::remove_file(&input);
            r
        }
    }
}

pub(crate) fn io(path: &Path, e: std::io::Error) -> JobError {
    JobError::Io(format!("{}: {e}", path.display()))
}

pub(crate) fn invalid(e: impl std::fmt::Display) -> JobError {
    JobError::Invalid(e.to_string())
}

fn write_durably(path: &Path, content: &[u8]) -> Result<(), JobError> {
    let mut f = File::create(path).map_err(|e| io(path, e))?;
    f.write_all(content).map_err(|e| io(path, e))?;
    f.sync_all().map_err(|e| io(path, e))
}

/// Where sealed bytes go: memory (DPE) or a DPO parcel on disk.
enum Sink {
    Memory { buf: Vec<u8>, limit: u64 },
    Parcel { parcel: Box<ParcelWriter>, file: File, path: PathBuf, name: String, buf: Vec<u8> },
}

impl Sink {
    fn put(&mut self, mut data: &[u8]) -> Result<(), JobError> {
        match self {
            Sink::Memory { buf, limit } => {
                buf.extend_from_slice(data);
                if buf.len() as u64 > *limit {
                    return Err(JobError::Invalid(format!(
                        "the sealed message is larger than the service's limit of {limit} bytes"
                    )));
                }
                Ok(())
            }
            Sink::Parcel { parcel, file, path, buf, .. } => loop {
                let p = parcel.write(data, buf).map_err(invalid)?;
                file.write_all(buf.get(..p.written).unwrap_or_default())
                    .map_err(|e| io(path, e))?;
                data = data.get(p.consumed..).unwrap_or_default();
                if data.is_empty() && p.written == 0 {
                    return Ok(());
                }
            },
        }
    }

    fn finish(self) -> Result<JobResult, JobError> {
        match self {
            Sink::Memory { buf, .. } => Ok(JobResult::Bytes(buf.into())),
            Sink::Parcel { mut parcel, mut file, path, name, mut buf } => {
                parcel.finish().map_err(invalid)?;
                while !parcel.is_done() {
                    let n = parcel.flush(&mut buf).map_err(invalid)?;
                    file.write_all(buf.get(..n).unwrap_or_default()).map_err(|e| io(&path, e))?;
                }
                // Not fsynced: a parcel is sent from staging and forgotten, and
                // staging does not outlive a restart (the job runs again).
                let size = file.metadata().map_err(|e| io(&path, e))?.len();
                Ok(JobResult::Staged { name, size })
            }
        }
    }
}

fn seal(
    job: &SealJob,
    inputs: &[(StoredFile, PathBuf)],
    staging: &Path,
    identity: Option<&Identity>,
    now: Timestamp,
) -> Result<JobResult, JobError> {
    let mut sink = match &job.form {
        SealForm::Cms { limit } => Sink::Memory { buf: Vec::new(), limit: *limit },
        SealForm::Dpi(_) => return Err(JobError::Invalid("a DPI seal went the wrong way".into())),
        SealForm::DpoParcel { sbd_json, name } => {
            let parcel = if inputs.is_empty() {
                // A status reply or receipt: the SBD alone.
                ParcelWriter::without_asic(sbd_json, now)
            } else {
                ParcelWriter::new(sbd_json, now)
            }
            .map_err(invalid)?;
            let path = staging.join(name);
            let file = File::create(&path).map_err(|e| io(&path, e))?;
            let buf = vec![0u8; chunk_for(input_size(inputs)) + 1024];
            Sink::Parcel { parcel: Box::new(parcel), file, path, name: name.clone(), buf }
        }
    };
    if inputs.is_empty() {
        return sink.finish();
    }
    let identity = identity
        .ok_or_else(|| JobError::Invalid("no keystore is configured to sign with".into()))?;
    let receiver = first_certificate(&job.receiver_certificate, "the receiver's")?;
    let rng = SystemRandom::new();
    let cms = CmsEncryptor::with_wrap(&receiver, job.key_transport, &rng, &SystemWrap)
        .map_err(invalid)?;
    let manifest = job.manifest.to_xml();
    let asic = AsicWriter::new(Some(manifest.as_bytes()), DosDateTime::from_timestamp(now))
        .map_err(invalid)?;
    let chunk = chunk_for(input_size(inputs));
    let mut sealer = Sealer::with_buffer(asic, cms, chunk);
    let mut out = seal_inputs(&mut sealer, inputs, chunk, &mut |b| sink.put(b))?;
    let mut id = [0u8; 16];
    rng.fill(&mut id).map_err(|_| JobError::Io("no OS randomness".into()))?;
    let signature_id = uuid::Builder::from_random_bytes(id).into_uuid();
    let primary = job.manifest.primary.as_ref().map(|p| p.href.as_str());
    sealer.finish(identity, signature_id, now, primary).map_err(invalid)?;
    flush_sealer(&mut sealer, &mut out, &mut |b| sink.put(b))?;
    sink.finish()
}

/// A DPI message: the dokumentpakke (ASiC-E with the SDP manifest and an XAdES
/// signature, CMS to the provider) staged aside while its SHA-256 is taken, then
/// the multipart body: the signed forretningsmelding, the CMS streamed after it.
fn seal_dpi(
    job: &SealJob,
    form: &DpiSeal,
    inputs: &[(StoredFile, PathBuf)],
    staging: &Path,
    identity: Option<&Identity>,
    tokens: Option<&Credentials>,
    now: Timestamp,
) -> Result<JobResult, JobError> {
    let identity = identity
        .ok_or_else(|| JobError::Invalid("no keystore is configured to sign with".into()))?;
    let receiver = first_certificate(&job.receiver_certificate, "the receiver's")?;
    // The token first: without one nothing is worth packaging (and a failure to get
    // one is for later, not the message's fault).
    let token = tokens
        .ok_or_else(|| JobError::Io("no token settings to get a Maskinporten token".into()))?
        .token(&form.credential)
        .map_err(JobError::Io)?;
    let rng = SystemRandom::new();
    let cms_path = staging.join(format!("{}.cms", form.name));
    let result = (|| {
        let cms = CmsEncryptor::with_wrap(&receiver, job.key_transport, &rng, &SystemWrap)
            .map_err(invalid)?;
        let asic = AsicWriter::new(Some(&form.manifest), DosDateTime::from_timestamp(now))
            .map_err(invalid)?;
        let chunk = chunk_for(input_size(inputs));
        let mut sealer = Sealer::with_buffer(asic, cms, chunk);
        let mut file = File::create(&cms_path).map_err(|e| io(&cms_path, e))?;
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        let mut put = |bytes: &[u8]| -> Result<(), JobError> {
            digest.update(bytes);
            file.write_all(bytes).map_err(|e| io(&cms_path, e))
        };
        let mut out = seal_inputs(&mut sealer, inputs, chunk, &mut put)?;
        sealer.finish_xades(identity, now).map_err(invalid)?;
        flush_sealer(&mut sealer, &mut out, &mut put)?;
        let fingerprint = digest.finish();
        let mut sbd = form.sbd.clone();
        dpi::finalize(&mut sbd, fingerprint.as_ref(), &token);
        let jwt = dpi::forretningsmelding(&sbd, identity, &rng).map_err(invalid)?;
        let body_path = staging.join(&form.name);
        let mut body = File::create(&body_path).map_err(|e| io(&body_path, e))?;
        body.write_all(dpi::multipart_head(&form.boundary, &jwt).as_bytes())
            .map_err(|e| io(&body_path, e))?;
        let mut cms_in = File::open(&cms_path).map_err(|e| io(&cms_path, e))?;
        std::io::copy(&mut cms_in, &mut body).map_err(|e| io(&body_path, e))?;
        body.write_all(dpi::multipart_tail(&form.boundary).as_bytes())
            .map_err(|e| io(&body_path, e))?;
        body.sync_all().map_err(|e| io(&body_path, e))?;
        let size = body.metadata().map_err(|e| io(&body_path, e))?.len();
        Ok(JobResult::Staged { name: form.name.clone(), size })
    })();
    let _ = std::fs::remove_file(&cms_path);
    result
}

/// The first certificate of a PEM text (`whose` names it in the error).
pub(crate) fn first_certificate(pem: &str, whose: &str) -> Result<Certificate, JobError> {
    Certificate::from_pem(pem.as_bytes())
        .map_err(invalid)?
        .into_iter()
        .next()
        .ok_or_else(|| JobError::Invalid(format!("{whose} certificate is empty")))
}

/// Streams each input file into `sealer` as an ASiC entry, handing every piece of
/// output to `put`. Returns the output buffer (`chunk` + 1 KiB) for the flush.
fn seal_inputs(
    sealer: &mut Sealer,
    inputs: &[(StoredFile, PathBuf)],
    chunk: usize,
    put: &mut dyn FnMut(&[u8]) -> Result<(), JobError>,
) -> Result<Vec<u8>, JobError> {
    let mut inbuf = vec![0u8; chunk];
    let mut out = vec![0u8; chunk + 1024];
    for (file, path) in inputs {
        sealer.start_file(&file.filename, &file.mime).map_err(invalid)?;
        feed_file(path, &mut inbuf, &mut |piece| {
            let p = sealer.write(piece, &mut out).map_err(invalid)?;
            put(out.get(..p.written).unwrap_or_default())?;
            Ok(p.consumed)
        })?;
        sealer.finish_file().map_err(invalid)?;
    }
    Ok(out)
}

/// Reads `path` through `inbuf` and hands each piece read to `take`, again and
/// again until it has taken all of it (`take` says how much it took).
pub(crate) fn feed_file(
    path: &Path,
    inbuf: &mut [u8],
    take: &mut dyn FnMut(&[u8]) -> Result<usize, JobError>,
) -> Result<(), JobError> {
    let mut f = File::open(path).map_err(|e| io(path, e))?;
    loop {
        let n = f.read(inbuf).map_err(|e| io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        let mut rest = inbuf.get(..n).unwrap_or_default();
        while !rest.is_empty() {
            let taken = take(rest)?;
            rest = rest.get(taken..).unwrap_or_default();
        }
    }
}

/// Hands a finished sealer's remaining output (manifests, signature, the CMS end)
/// to `put`.
pub(crate) fn flush_sealer(
    sealer: &mut Sealer,
    out: &mut [u8],
    put: &mut dyn FnMut(&[u8]) -> Result<(), JobError>,
) -> Result<(), JobError> {
    while !sealer.is_done() {
        let n = sealer.flush(out).map_err(invalid)?;
        put(out.get(..n).unwrap_or_default())?;
    }
    Ok(())
}

/// Open a DPO parcel: the SBD into memory, the (encrypted) ASiC to staging.
fn unpack(input: &Path, staging: &Path, asic_to: &str) -> Result<JobResult, JobError> {
    let mut f = File::open(input).map_err(|e| io(input, e))?;
    let chunk = chunk_for(f.metadata().map_or(u64::MAX, |m| m.len()));
    let mut reader = ParcelReader::new();
    let mut sbd: Option<Bytes> = None;
    let asic_path = staging.join(asic_to);
    let mut asic: Option<File> = None;
    let mut inbuf = vec![0u8; chunk];
    let mut out = vec![0u8; chunk];
    loop {
        let n = f.read(&mut inbuf).map_err(|e| io(input, e))?;
        // After the last bytes, empty reads drain what the reader still holds.
        let mut rest = inbuf.get(..n).unwrap_or_default();
        loop {
            let step = reader.read(rest, &mut out).map_err(invalid)?;
            rest = rest.get(step.consumed..).unwrap_or_default();
            match step.event {
                Some(Event::Sbd(b)) => sbd = Some(b),
                Some(Event::AsicData(chunk)) => {
                    if asic.is_none() {
                        asic = Some(File::create(&asic_path).map_err(|e| io(&asic_path, e))?);
                    }
                    if let Some(file) = asic.as_mut() {
                        file.write_all(chunk).map_err(|e| io(&asic_path, e))?;
                    }
                }
                None => break,
            }
        }
        if n == 0 {
            break;
        }
    }
    let summary = reader.finish().map_err(invalid)?;
    let sbd = sbd.ok_or_else(|| JobError::Invalid("the parcel has no SBD".into()))?;
    let asic = match (asic, summary.asic_size) {
        (Some(file), Some(size)) => {
            file.sync_all().map_err(|e| io(&asic_path, e))?;
            Some((asic_to.to_owned(), size))
        }
        _ => None,
    };
    Ok(JobResult::Unpacked { sbd, asic })
}
