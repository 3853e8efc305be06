//! `efm package` and `efm unpackage`: files and keys in, a signed and encrypted ASiC-E
//! out (and back), streaming through the core encoders with fixed buffers.

pub mod keystore;
mod mime;

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use efm_core::Timestamp;
use efm_core::crypto::cert::KeyUse;
use efm_core::crypto::envelope_read::{CmsDecryptor, DecryptError};
use efm_core::crypto::envelope_write::{CmsEncryptor, EncryptError};
use efm_core::crypto::key_unwrap::{KeyTransport, RsaKeyUnwrap};
use efm_core::package::asic::{AsicError, AsicEvent, AsicReader, AsicWriter, EFORMIDLING_MANIFEST};
use efm_core::package::dos_time::DosDateTime;
use efm_core::package::eformidling_manifest::{EformidlingManifest, PrimaryDocument};
use efm_core::package::zip_read::{ZipEvent, ZipLimits, ZipReadError, ZipReader};
use efm_core::package::zip_write::{Method, ZipWriteError, ZipWriter};
use indicatif::{ProgressBar, ProgressStyle};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};

/// Read size for input files and the size of each stage's output buffer.
const CHUNK: usize = 256 * 1024;
/// Inputs above this show a progress bar (on a terminal).
const PROGRESS_THRESHOLD: u64 = 4 * 1024 * 1024;
/// Largest sbd.json / content.xml / manifest.xml we keep in memory.
const MAX_SMALL_ENTRY: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("keystore or certificate {path}: {detail}")]
    Keystore { path: String, detail: String },
    #[error("SBD {path}: {detail}")]
    Sbd { path: String, detail: String },
    #[error("receiver certificate {path}: {detail}")]
    Receiver { path: String, detail: String },
    #[error("{0}")]
    Usage(String),
    #[error("ASiC-E: {0}")]
    Asic(#[from] AsicError),
    #[error("CMS encryption: {0}")]
    Encrypt(#[from] EncryptError),
    #[error("CMS decryption: {0}")]
    Decrypt(#[from] DecryptError),
    #[error("sbd.zip: {0}")]
    ParcelRead(ZipReadError),
    #[error("sbd.zip: {0}")]
    ParcelWrite(#[from] ZipWriteError),
    #[error("the random number source failed")]
    Random,
    #[error("{stage} made no progress on its input (corrupt or truncated data)")]
    Stuck { stage: &'static str },
}

impl CliError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        CliError::Io { path: path.display().to_string(), source }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Transport {
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256 (DPO, DPF, DPV, DPI).
    Oaep,
    /// RSA PKCS#1 v1.5 (DPE).
    Pkcs1,
}

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The SBD (JSON) whose sender and receiver go into manifest.xml.
    #[arg(long)]
    sbd: PathBuf,
    /// Our keystore: PKCS#12 (.p12), or PEM with the private key and certificate(s).
    #[arg(long)]
    keystore: PathBuf,
    /// Keystore password.
    #[arg(long, default_value = "")]
    password: String,
    /// Which key in a keystore that holds several.
    #[arg(long)]
    alias: Option<String>,
    /// The receiver's certificate (PEM or DER), as the service registry gives it.
    #[arg(long)]
    to_cert: PathBuf,
    /// The primary document (hoveddokument); default: the first FILE.
    #[arg(long)]
    primary: Option<String>,
    /// Where to write the CMS (or, with --dpo-parcel, the sbd.zip).
    #[arg(long)]
    out: PathBuf,
    /// Write a DPO parcel: sbd.zip with sbd.json and asic.zip (the CMS).
    #[arg(long)]
    dpo_parcel: bool,
    /// Key transport to the receiver.
    #[arg(long, value_enum, default_value = "oaep")]
    key_transport: Transport,
    /// The documents, in order.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UnpackageArgs {
    /// Our keystore: PKCS#12 (.p12), or PEM with the private key and certificate(s).
    #[arg(long)]
    keystore: PathBuf,
    /// Keystore password.
    #[arg(long, default_value = "")]
    password: String,
    /// Which key in a keystore that holds several.
    #[arg(long)]
    alias: Option<String>,
    /// The sender's certificate (PEM or DER): when given, the signer must be it.
    #[arg(long)]
    from_cert: Option<PathBuf>,
    /// Directory to extract the documents into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// A CMS file or an sbd.zip parcel.
    input: PathBuf,
}

fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Timestamp::from_datetime(
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

fn progress_bar(total: u64) -> Option<ProgressBar> {
    use std::io::IsTerminal;
    if total < PROGRESS_THRESHOLD || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec}",
    ) {
        pb.set_style(style);
    }
    Some(pb)
}

/// Party identifiers (`0192:...`) from an SBD's header.
fn sbd_parties(sbd: &Value) -> Option<(String, String)> {
    let h = sbd.get("standardBusinessDocumentHeader")?;
    let id = |k: &str| -> Option<String> {
        h.get(k)?.get(0)?.get("identifier")?.get("value")?.as_str().map(str::to_owned)
    };
    Some((id("sender")?, id("receiver")?))
}

/// Everything after the ASiC writer: CMS encryption, then the file or the outer zip.
struct EncryptSink {
    cms: CmsEncryptor,
    parcel: Option<ZipWriter>,
    file: File,
    path: PathBuf,
    cms_buf: Vec<u8>,
    zip_buf: Vec<u8>,
}

impl EncryptSink {
    fn put(&mut self, mut data: &[u8]) -> Result<(), CliError> {
        loop {
            if data.is_empty() && self.cms.pending_len() == 0 {
                return Ok(());
            }
            let p = self.cms.encrypt(data, &mut self.cms_buf)?;
            let out = std::mem::take(&mut self.cms_buf);
            let r = self.put_cms(out.get(..p.written).unwrap_or_default());
            self.cms_buf = out;
            r?;
            data = data.get(p.consumed..).unwrap_or_default();
        }
    }

    fn put_cms(&mut self, mut data: &[u8]) -> Result<(), CliError> {
        let Some(zip) = self.parcel.as_mut() else {
            return self.file.write_all(data).map_err(|e| CliError::io(&self.path, e));
        };
        loop {
            if data.is_empty() && zip.pending_len() == 0 {
                return Ok(());
            }
            let p = zip.write(data, &mut self.zip_buf)?;
            self.file
                .write_all(self.zip_buf.get(..p.written).unwrap_or_default())
                .map_err(|e| CliError::io(&self.path, e))?;
            data = data.get(p.consumed..).unwrap_or_default();
        }
    }

    fn finish(mut self) -> Result<(), CliError> {
        self.cms.finish()?;
        let mut buf = vec![0u8; 4096];
        loop {
            let n = self.cms.drain(&mut buf);
            if n == 0 {
                break;
            }
            self.put_cms(buf.get(..n).unwrap_or_default())?;
        }
        if let Some(zip) = self.parcel.as_mut() {
            zip.finish_entry()?;
            zip.finish(b"")?;
            loop {
                let n = zip.drain(&mut self.zip_buf);
                if n == 0 {
                    break;
                }
                self.file
                    .write_all(self.zip_buf.get(..n).unwrap_or_default())
                    .map_err(|e| CliError::io(&self.path, e))?;
            }
        }
        // No fsync: like openssl and zip we leave durability to the caller (the runtimes
        // persist messages themselves); on a 1 GB output it cost more than packaging.
        self.file.flush().map_err(|e| CliError::io(&self.path, e))
    }
}

fn drain_asic(
    asic: &mut AsicWriter,
    buf: &mut [u8],
    sink: &mut EncryptPipe,
) -> Result<(), CliError> {
    loop {
        let n = asic.drain(buf);
        if n == 0 {
            return Ok(());
        }
        sink.put(buf.get(..n).unwrap_or_default())?;
    }
}

/// Runs the [`EncryptSink`] on a second thread, so AES-CBC (about 1 GB/s on one core)
/// overlaps with SHA-256, CRC-32 and deflate framing on the first: packaging then runs
/// near the slower of the two instead of their sum. Buffers circulate, none per chunk.
struct EncryptPipe {
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    free: std::sync::mpsc::Receiver<Vec<u8>>,
    worker: Option<std::thread::JoinHandle<Result<(), CliError>>>,
}

impl EncryptPipe {
    const DEPTH: usize = 4;

    fn start(mut sink: EncryptSink) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(Self::DEPTH);
        let (free_tx, free) = std::sync::mpsc::sync_channel::<Vec<u8>>(Self::DEPTH + 1);
        for _ in 0..Self::DEPTH {
            let _ = free_tx.send(Vec::with_capacity(CHUNK + 1024));
        }
        let worker = std::thread::spawn(move || {
            for buf in rx {
                sink.put(&buf)?;
                // The producer may have stopped; then the buffer is simply dropped.
                let _ = free_tx.send(buf);
            }
            sink.finish()
        });
        EncryptPipe { tx: Some(tx), free, worker: Some(worker) }
    }

    fn put(&mut self, data: &[u8]) -> Result<(), CliError> {
        if data.is_empty() {
            return Ok(());
        }
        let sent = match (self.free.recv(), self.tx.as_ref()) {
            (Ok(mut buf), Some(tx)) => {
                buf.clear();
                buf.extend_from_slice(data);
                tx.send(buf).is_ok()
            }
            _ => false,
        };
        if sent { Ok(()) } else { self.finish() }
    }

    /// Ends the stream and returns the worker's outcome (its error, if it failed).
    fn finish(&mut self) -> Result<(), CliError> {
        self.tx = None;
        match self.worker.take() {
            Some(w) => {
                w.join().unwrap_or(Err(CliError::Usage("the encryption thread panicked".into())))
            }
            None => Err(CliError::Usage("the encryption thread has already stopped".into())),
        }
    }
}

/// Removes a half-written output unless disarmed (set to `None`) after success.
struct RemoveOnError(Option<PathBuf>);

impl Drop for RemoveOnError {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn file_name(path: &Path) -> Result<String, CliError> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| CliError::Usage(format!("{}: not a file name in UTF-8", path.display())))
}

pub fn run_package(args: PackageArgs) -> Result<(), CliError> {
    let rng = SystemRandom::new();
    let now = now();
    let identity = keystore::load_identity(&args.keystore, &args.password, args.alias.as_deref())?;
    if let Some(c) = identity.certificate() {
        c.check_usable(now, KeyUse::Signing).map_err(|e| CliError::Keystore {
            path: args.keystore.display().to_string(),
            detail: e.to_string(),
        })?;
    }
    let receiver = keystore::load_certificate(&args.to_cert)?;
    receiver.check_usable(now, KeyUse::KeyTransport).map_err(|e| CliError::Receiver {
        path: args.to_cert.display().to_string(),
        detail: e.to_string(),
    })?;
    let sbd_bytes = std::fs::read(&args.sbd).map_err(|e| CliError::io(&args.sbd, e))?;
    let sbd: Value = serde_json::from_slice(&sbd_bytes).map_err(|e| CliError::Sbd {
        path: args.sbd.display().to_string(),
        detail: e.to_string(),
    })?;
    let (sender, receiver_id) = sbd_parties(&sbd).ok_or_else(|| CliError::Sbd {
        path: args.sbd.display().to_string(),
        detail: "no standardBusinessDocumentHeader sender/receiver identifier".into(),
    })?;

    // Primary document first, the rest in the order given.
    let mut files: Vec<(String, PathBuf)> = args
        .files
        .iter()
        .map(|p| Ok((file_name(p)?, p.clone())))
        .collect::<Result<_, CliError>>()?;
    let primary = args.primary.clone().or_else(|| files.first().map(|f| f.0.clone()));
    if let Some(p) = &primary {
        let pos = files
            .iter()
            .position(|f| &f.0 == p)
            .ok_or_else(|| CliError::Usage(format!("--primary {p:?} is not one of the FILEs")))?;
        let f = files.remove(pos);
        files.insert(0, f);
    }
    let manifest = EformidlingManifest {
        receiver: receiver_id,
        sender,
        primary: primary
            .as_ref()
            .map(|p| PrimaryDocument { href: p.clone(), mime: mime::for_name(p).into() }),
    }
    .to_xml();

    let mut total = 0u64;
    for (_, p) in &files {
        total += std::fs::metadata(p).map_err(|e| CliError::io(p, e))?.len();
    }
    let bar = progress_bar(total);

    let tmp = args.out.with_extension("partial");
    let file = File::create(&tmp).map_err(|e| CliError::io(&tmp, e))?;
    let mut partial = RemoveOnError(Some(tmp.clone()));
    let transport = match args.key_transport {
        Transport::Oaep => KeyTransport::RsaOaepSha256,
        Transport::Pkcs1 => KeyTransport::RsaPkcs1v15,
    };
    let parcel = if args.dpo_parcel {
        let mut z = ZipWriter::new(DosDateTime::from_timestamp(now));
        z.add_entry("sbd.json", &sbd_bytes, Method::Deflate)?;
        z.start_entry("asic.zip", Method::Auto)?;
        Some(z)
    } else {
        None
    };
    let mut sink = EncryptPipe::start(EncryptSink {
        cms: CmsEncryptor::with_wrap(
            &receiver,
            transport,
            &rng,
            &efm_blocking::key_wrap::SystemWrap,
        )?,
        parcel,
        file,
        path: tmp.clone(),
        cms_buf: vec![0u8; CHUNK + 64],
        zip_buf: vec![0u8; CHUNK + 1024],
    });
    let mut asic = AsicWriter::new(Some(manifest.as_bytes()), DosDateTime::from_timestamp(now))?;
    let mut inbuf = vec![0u8; CHUNK];
    let mut asic_buf = vec![0u8; CHUNK + 1024];
    for (name, path) in &files {
        asic.start_file(name, mime::for_name(name))?;
        drain_asic(&mut asic, &mut asic_buf, &mut sink)?;
        let mut f = File::open(path).map_err(|e| CliError::io(path, e))?;
        loop {
            let n = f.read(&mut inbuf).map_err(|e| CliError::io(path, e))?;
            if n == 0 {
                break;
            }
            let mut rest = inbuf.get(..n).unwrap_or_default();
            while !rest.is_empty() {
                let p = asic.write(rest, &mut asic_buf)?;
                sink.put(asic_buf.get(..p.written).unwrap_or_default())?;
                rest = rest.get(p.consumed..).unwrap_or_default();
            }
            if let Some(b) = &bar {
                b.inc(n as u64);
            }
        }
        asic.finish_file()?;
        drain_asic(&mut asic, &mut asic_buf, &mut sink)?;
    }
    let mut id = [0u8; 16];
    rng.fill(&mut id).map_err(|_| CliError::Random)?;
    let signature_id = uuid::Builder::from_random_bytes(id).into_uuid();
    asic.finish(&identity, signature_id, now, primary.as_deref())?;
    drain_asic(&mut asic, &mut asic_buf, &mut sink)?;
    sink.finish()?;
    std::fs::rename(&tmp, &args.out).map_err(|e| CliError::io(&args.out, e))?;
    partial.0 = None;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(())
}

/// Where decrypted ASiC bytes go: the ASiC reader, then the output directory.
struct ExtractSink<'a> {
    cms: CmsDecryptor<'a>,
    asic: AsicReader,
    out_dir: PathBuf,
    plain: Vec<u8>,
    doc: Vec<u8>,
    current: Option<(File, PathBuf)>,
    written_files: Vec<PathBuf>,
    manifest: Option<Vec<u8>>,
    capturing_manifest: bool,
}

impl ExtractSink<'_> {
    fn put_cms(&mut self, mut data: &[u8]) -> Result<(), CliError> {
        while !data.is_empty() {
            let p = self.cms.decrypt(data, &mut self.plain)?;
            let plain = std::mem::take(&mut self.plain);
            let r = self.put_plain(plain.get(..p.written).unwrap_or_default());
            self.plain = plain;
            r?;
            if p.consumed == 0 && p.written == 0 {
                return Err(CliError::Stuck { stage: "CMS decryption" });
            }
            data = data.get(p.consumed..).unwrap_or_default();
        }
        Ok(())
    }

    fn put_plain(&mut self, mut data: &[u8]) -> Result<(), CliError> {
        loop {
            let step = self.asic.read(data, &mut self.doc)?;
            let out = self.doc.get(..step.written).unwrap_or_default();
            if let Some((f, path)) = self.current.as_mut() {
                f.write_all(out).map_err(|e| CliError::io(path, e))?;
                if self.capturing_manifest
                    && let Some(m) = self.manifest.as_mut()
                    && m.len() + out.len() <= MAX_SMALL_ENTRY
                {
                    m.extend_from_slice(out);
                }
            }
            let had_event = step.event.is_some();
            match step.event {
                Some(AsicEvent::FileStart { name }) => {
                    // The core reader refused unsafe names (.., absolute, backslash).
                    let path = self.out_dir.join(&name);
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent).map_err(|e| CliError::io(parent, e))?;
                    }
                    let f = File::create(&path).map_err(|e| CliError::io(&path, e))?;
                    self.written_files.push(path.clone());
                    self.current = Some((f, path));
                    self.capturing_manifest = name == EFORMIDLING_MANIFEST;
                    if self.capturing_manifest {
                        self.manifest = Some(Vec::new());
                    }
                }
                Some(AsicEvent::FileEnd { .. }) => {
                    self.current = None;
                    self.capturing_manifest = false;
                }
                None => {}
            }
            if step.consumed == 0 && step.written == 0 && !had_event && !data.is_empty() {
                return Err(CliError::Stuck { stage: "ASiC-E reading" });
            }
            data = data.get(step.consumed..).unwrap_or_default();
            if data.is_empty() && !had_event && step.written == 0 {
                return Ok(());
            }
        }
    }

    fn finish(&mut self) -> Result<efm_core::package::asic::VerifiedAsic, CliError> {
        let mut tail = [0u8; 16];
        let n = self.cms.finish(&mut tail)?;
        self.put_plain(tail.get(..n).unwrap_or_default())?;
        self.put_plain(&[])?;
        Ok(self.asic.finish(self.manifest.as_deref())?)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn run_unpackage(args: UnpackageArgs) -> Result<(), CliError> {
    let rng = SystemRandom::new();
    let identity = keystore::load_identity(&args.keystore, &args.password, args.alias.as_deref())?;
    let me = identity
        .certificate()
        .ok_or_else(|| CliError::Usage("keystore has no certificate".into()))?
        .issuer_and_serial()
        .map_err(|e| CliError::Keystore {
            path: args.keystore.display().to_string(),
            detail: e.to_string(),
        })?;
    let unwrap = RsaKeyUnwrap { key: identity.key.unwrapper() };
    std::fs::create_dir_all(&args.out).map_err(|e| CliError::io(&args.out, e))?;
    let mut input = File::open(&args.input).map_err(|e| CliError::io(&args.input, e))?;
    let total = input.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(total);
    let mut sink = ExtractSink {
        cms: CmsDecryptor::new(&unwrap, me, &rng),
        asic: AsicReader::new(ZipLimits::default()),
        out_dir: args.out.clone(),
        plain: vec![0u8; CHUNK + 64],
        doc: vec![0u8; CHUNK],
        current: None,
        written_files: Vec::new(),
        manifest: None,
        capturing_manifest: false,
    };
    let result = unpack_into(&mut input, &args.input, &mut sink, bar.as_ref());
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let (kind, sbd, verified) = match result {
        Ok(r) => r,
        Err(e) => {
            // Nothing unverified stays behind.
            sink.current = None;
            for f in &sink.written_files {
                let _ = std::fs::remove_file(f);
            }
            return Err(e);
        }
    };
    let Some(verified) = verified else {
        // A DPO parcel without asic.zip: a message without files, nothing signed.
        if args.from_cert.is_some() {
            return Err(CliError::Usage(
                "the sbd.zip has no asic.zip, so there is no signature to check against --from-cert".into(),
            ));
        }
        let report = json!({
            "input": args.input.display().to_string(),
            "kind": kind,
            "keyTransport": null,
            "signer": null,
            "primary": null,
            "files": [],
            "sbd": sbd,
        });
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        return Ok(());
    };
    if let Some(path) = &args.from_cert {
        let expected = keystore::load_certificate(path)?;
        if expected.der() != verified.signer.certificate.der() {
            for f in &sink.written_files {
                let _ = std::fs::remove_file(f);
            }
            return Err(CliError::Usage(format!(
                "the container is signed by {:?}, not by the certificate in {}",
                verified.signer.certificate.subject(),
                path.display()
            )));
        }
    }
    let cert = &verified.signer.certificate;
    let report = json!({
        "input": args.input.display().to_string(),
        "kind": kind,
        "keyTransport": match sink.cms.info().map(|i| i.key_transport) {
            Some(KeyTransport::RsaOaepSha256) => "rsaes-oaep-sha256",
            Some(KeyTransport::RsaPkcs1v15) => "rsa-pkcs1-v1_5",
            None => "unknown",
        },
        "signer": {
            "subject": cert.subject(),
            "issuer": cert.issuer(),
            "serial": cert.serial_hex(),
            "digest": verified.signer.digest,
        },
        "primary": verified.primary,
        "files": verified.files.iter().map(|f| json!({
            "name": f.name,
            "mime": f.mime,
            "size": f.size,
            "sha256": hex(&f.sha256),
        })).collect::<Vec<_>>(),
        "sbd": sbd,
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    Ok(())
}

/// Kind of input, the SBD of a parcel, and the verified ASiC-E (none for a parcel
/// without asic.zip).
type Unpacked = (&'static str, Value, Option<efm_core::package::asic::VerifiedAsic>);

fn unpack_into(
    input: &mut File,
    path: &Path,
    sink: &mut ExtractSink<'_>,
    bar: Option<&ProgressBar>,
) -> Result<Unpacked, CliError> {
    let mut buf = vec![0u8; CHUNK];
    let first = input.read(&mut buf).map_err(|e| CliError::io(path, e))?;
    let is_parcel = buf.starts_with(b"PK\x03\x04");
    let mut n = first;
    let mut parcel = is_parcel.then(|| ZipReader::new(ZipLimits::default()));
    let mut parcel_buf = vec![0u8; CHUNK];
    // Which parcel entry is streaming: 0 = other, 1 = sbd.json/content.xml, 2 = asic.zip
    let mut route = 0u8;
    let mut sbd_bytes: Vec<u8> = Vec::new();
    let mut saw_asic = false;
    loop {
        if n == 0 {
            break;
        }
        if let Some(b) = bar {
            b.inc(n as u64);
        }
        let mut data = buf.get(..n).unwrap_or_default();
        match parcel.as_mut() {
            None => sink.put_cms(data)?,
            Some(zip) => loop {
                let step = zip.read(data, &mut parcel_buf).map_err(CliError::ParcelRead)?;
                let out = parcel_buf.get(..step.written).unwrap_or_default();
                match route {
                    1 => {
                        if sbd_bytes.len() + out.len() > MAX_SMALL_ENTRY {
                            return Err(CliError::Usage("sbd.json is too large".into()));
                        }
                        sbd_bytes.extend_from_slice(out);
                    }
                    2 => sink.put_cms(out)?,
                    _ => {}
                }
                match &step.event {
                    Some(ZipEvent::EntryStart(m)) => {
                        route = match m.name.as_str() {
                            "sbd.json" | "content.xml" => 1,
                            "asic.zip" => {
                                saw_asic = true;
                                2
                            }
                            _ => 0,
                        };
                    }
                    Some(ZipEvent::EntryEnd { .. }) => route = 0,
                    None => {}
                }
                if step.consumed == 0
                    && step.written == 0
                    && step.event.is_none()
                    && !data.is_empty()
                {
                    return Err(CliError::Stuck { stage: "sbd.zip reading" });
                }
                data = data.get(step.consumed..).unwrap_or_default();
                if data.is_empty() && step.event.is_none() && step.written == 0 {
                    break;
                }
            },
        }
        n = input.read(&mut buf).map_err(|e| CliError::io(path, e))?;
    }
    let mut sbd = Value::Null;
    if let Some(zip) = parcel.as_mut() {
        zip.finish().map_err(CliError::ParcelRead)?;
        sbd = serde_json::from_slice(&sbd_bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&sbd_bytes).into_owned()));
        if !saw_asic {
            return Ok(("dpo-parcel", sbd, None));
        }
    }
    let verified = sink.finish()?;
    Ok((if is_parcel { "dpo-parcel" } else { "cms" }, sbd, Some(verified)))
}
