//! ASiC-E assembly and verification on top of the streaming zip writer and reader.
//!
//! Writing: `mimetype` (STORED), `manifest.xml`, the documents (streamed, digested on
//! the fly), then `META-INF/ASiCManifest.xml`, `META-INF/signature-<uuid>.p7s` and
//! `META-INF/manifest.xml`. Reading: documents stream out to the caller while we digest
//! them; the small META-INF entries are kept; [`AsicReader::finish`] checks the signature
//! and every digest.

use base64::Engine;
use ring::digest::{Context, SHA256};
use thiserror::Error;
use uuid::Uuid;

use super::asic_manifest::{AsicManifest, AsicManifestError, DataObjectReference, DigestAlg};
use super::dos_time::DosDateTime;
use super::oasis_manifest::oasis_manifest_xml;
use super::xades::{SignedFile, signatures_xml};
use super::zip_read::{EntryMeta, ZipEvent, ZipLimits, ZipReadError, ZipReader, check_name};
use super::zip_write::{Method, ZipWriteError, ZipWriter};
use super::{ASIC_E_MEDIA_TYPE, Progress};
use crate::Timestamp;
use crate::crypto::keys::Identity;
use crate::crypto::signed_data::{SignError, Signer, VerifyError, sign_detached};

pub const MIMETYPE_ENTRY: &str = "mimetype";
pub const EFORMIDLING_MANIFEST: &str = "manifest.xml";
pub const ASIC_MANIFEST: &str = "META-INF/ASiCManifest.xml";
pub const OASIS_MANIFEST: &str = "META-INF/manifest.xml";
/// The XAdES signature of a DPI dokumentpakke.
pub const XADES_SIGNATURES: &str = "META-INF/signatures.xml";
/// The archive comment the reference's library writes.
pub const ZIP_COMMENT: &str = "mimetype=application/vnd.etsi.asic-e+zip";
/// Bound on each META-INF entry we keep in memory.
const MAX_META_ENTRY: usize = 4 * 1024 * 1024;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AsicError {
    #[error(transparent)]
    ZipWrite(#[from] ZipWriteError),
    #[error(transparent)]
    ZipRead(#[from] ZipReadError),
    #[error("file name {name:?} is not allowed in an ASiC-E (reserved, unsafe or duplicate)")]
    BadFileName { name: String },
    #[error("no file is open")]
    NoFileOpen,
    #[error("a file is still open")]
    FileOpen,
    #[error("signing META-INF/ASiCManifest.xml failed: {0}")]
    Sign(#[from] SignError),
    #[error("signing META-INF/signatures.xml failed: {0}")]
    Xades(#[from] super::xades::XadesError),
    #[error("ASiC-E has no mimetype entry first, or it is not {ASIC_E_MEDIA_TYPE}")]
    BadMimetype,
    #[error("ASiC-E entry {name:?} under META-INF/ is not allowed")]
    UnexpectedMetaInf { name: String },
    #[error("ASiC-E entry {name:?} is larger than {MAX_META_ENTRY} bytes")]
    MetaTooLarge { name: String },
    #[error("ASiC-E has no META-INF/ASiCManifest.xml (unsigned container)")]
    NoAsicManifest,
    #[error("ASiC-E has several META-INF/ASiCManifest*.xml (several signatures are not supported)")]
    SeveralAsicManifests,
    #[error(
        "ASiC-E has no CAdES signature for META-INF/ASiCManifest.xml (XAdES-only containers are not verified)"
    )]
    NoSignature,
    #[error("ASiCManifest.xml: {0}")]
    Manifest(#[from] AsicManifestError),
    #[error("signature META-INF/{name}: {source}")]
    Signature { name: String, source: VerifyError },
    #[error("file {name:?} does not match its digest in ASiCManifest.xml")]
    DigestMismatch { name: String },
    #[error("file {name:?} is not listed in ASiCManifest.xml")]
    Unlisted { name: String },
    #[error("ASiCManifest.xml lists {name:?}, which the container lacks")]
    Missing { name: String },
    #[error("ASiCManifest.xml digests {name:?} with an algorithm other than SHA-256")]
    UnsupportedDigest { name: String },
    #[error("the zip comment is neither empty nor {ZIP_COMMENT:?}")]
    BadComment,
}

struct WrittenFile {
    name: String,
    mime: String,
    sha256: Vec<u8>,
}

/// The streaming ASiC-E writer. Output model as [`ZipWriter`]: queued bytes come out
/// through [`drain`](Self::drain) and [`write`](Self::write).
pub struct AsicWriter {
    zip: ZipWriter,
    files: Vec<WrittenFile>,
    open: Option<(String, String, Context)>,
}

impl AsicWriter {
    /// Queues `mimetype` and, when given, the eFormidling `manifest.xml`.
    pub fn new(
        eformidling_manifest: Option<&[u8]>,
        modified: DosDateTime,
    ) -> Result<Self, AsicError> {
        let mut zip = ZipWriter::new(modified);
        zip.add_entry(MIMETYPE_ENTRY, ASIC_E_MEDIA_TYPE.as_bytes(), Method::Stored)?;
        let mut files = Vec::new();
        if let Some(m) = eformidling_manifest {
            zip.add_entry(EFORMIDLING_MANIFEST, m, Method::Deflate)?;
            files.push(WrittenFile {
                name: EFORMIDLING_MANIFEST.into(),
                mime: "application/xml".into(),
                sha256: ring::digest::digest(&SHA256, m).as_ref().to_vec(),
            });
        }
        Ok(AsicWriter { zip, files, open: None })
    }

    fn check_file_name(&self, name: &str) -> Result<(), AsicError> {
        let reserved = name == MIMETYPE_ENTRY || name.starts_with("META-INF/");
        if reserved || check_name(name).is_err() || self.files.iter().any(|f| f.name == name) {
            return Err(AsicError::BadFileName { name: name.into() });
        }
        Ok(())
    }

    /// Opens a document; stream its bytes with [`write`](Self::write).
    pub fn start_file(&mut self, name: &str, mime: &str) -> Result<(), AsicError> {
        if self.open.is_some() {
            return Err(AsicError::FileOpen);
        }
        self.check_file_name(name)?;
        self.zip.start_entry(name, Method::Auto)?;
        self.open = Some((name.into(), mime.into(), Context::new(&SHA256)));
        Ok(())
    }

    pub fn write(&mut self, input: &[u8], out: &mut [u8]) -> Result<Progress, AsicError> {
        let p = self.zip.write(input, out)?;
        if p.consumed > 0 {
            let (_, _, ctx) = self.open.as_mut().ok_or(AsicError::NoFileOpen)?;
            ctx.update(input.get(..p.consumed).unwrap_or_default());
        }
        Ok(p)
    }

    pub fn finish_file(&mut self) -> Result<(), AsicError> {
        let (name, mime, ctx) = self.open.take().ok_or(AsicError::NoFileOpen)?;
        self.zip.finish_entry()?;
        self.files.push(WrittenFile { name, mime, sha256: ctx.finish().as_ref().to_vec() });
        Ok(())
    }

    /// Queues the ASiC manifest, its signature, the OASIS manifest and the directory.
    /// `signature_id` names the signature file; `primary` gets `Rootfile="true"`.
    pub fn finish(
        &mut self,
        me: &Identity,
        signature_id: Uuid,
        signing_time: Timestamp,
        primary: Option<&str>,
    ) -> Result<(), AsicError> {
        if self.open.is_some() {
            return Err(AsicError::FileOpen);
        }
        let sig_name = format!("META-INF/signature-{signature_id}.p7s");
        let manifest = AsicManifest {
            sig_reference: Some(sig_name.clone()),
            references: self
                .files
                .iter()
                .map(|f| DataObjectReference {
                    uri: f.name.clone(),
                    mime: f.mime.clone(),
                    alg: DigestAlg::Sha256,
                    digest: f.sha256.clone(),
                    rootfile: primary == Some(f.name.as_str()),
                })
                .collect(),
        };
        let xml = manifest.to_xml();
        let sig = sign_detached(me, xml.as_bytes(), signing_time)?;
        self.zip.add_entry(ASIC_MANIFEST, xml.as_bytes(), Method::Deflate)?;
        self.zip.add_entry(&sig_name, &sig, Method::Deflate)?;
        let oasis =
            oasis_manifest_xml(self.files.iter().map(|f| (f.name.as_str(), f.mime.as_str())));
        self.zip.add_entry(OASIS_MANIFEST, oasis.as_bytes(), Method::Deflate)?;
        self.zip.finish(ZIP_COMMENT.as_bytes())?;
        Ok(())
    }

    /// Queues `META-INF/signatures.xml` (an XAdES signature over every file, as a
    /// DPI dokumentpakke carries it), the OASIS manifest and the directory.
    pub fn finish_xades(
        &mut self,
        me: &Identity,
        signing_time: Timestamp,
    ) -> Result<(), AsicError> {
        if self.open.is_some() {
            return Err(AsicError::FileOpen);
        }
        let files: Vec<SignedFile> = self
            .files
            .iter()
            .map(|f| SignedFile {
                name: f.name.clone(),
                mime: f.mime.clone(),
                sha256: f.sha256.clone(),
            })
            .collect();
        let xml = signatures_xml(&files, me, signing_time)?;
        self.zip.add_entry(XADES_SIGNATURES, xml.as_bytes(), Method::Deflate)?;
        let oasis =
            oasis_manifest_xml(self.files.iter().map(|f| (f.name.as_str(), f.mime.as_str())));
        self.zip.add_entry(OASIS_MANIFEST, oasis.as_bytes(), Method::Deflate)?;
        self.zip.finish(ZIP_COMMENT.as_bytes())?;
        Ok(())
    }

    pub fn drain(&mut self, out: &mut [u8]) -> usize {
        self.zip.drain(out)
    }

    pub fn pending_len(&self) -> usize {
        self.zip.pending_len()
    }
}

/// A document as it came out of a verified container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedFile {
    pub name: String,
    pub mime: String,
    pub size: u64,
    pub sha256: Vec<u8>,
}

/// The outcome of [`AsicReader::finish`]: every document checked against the signed
/// manifest, and who signed it.
#[derive(Debug, Clone)]
pub struct VerifiedAsic {
    pub files: Vec<VerifiedFile>,
    /// The primary document: `Rootfile`, else the eFormidling manifest's `hoveddokument`.
    pub primary: Option<String>,
    pub signer: Signer,
}

/// What one [`AsicReader::read`] call ended on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsicEvent {
    /// A document begins; the bytes written by later calls are its content.
    FileStart { name: String },
    /// The document ended (bytes written in this call still belong to it).
    FileEnd { name: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsicStep {
    pub consumed: usize,
    pub written: usize,
    pub event: Option<AsicEvent>,
}

enum Current {
    None,
    Document { name: String, ctx: Box<Context>, size: u64 },
    Kept { name: String, data: Vec<u8> },
}

pub struct AsicReader {
    zip: ZipReader,
    current: Current,
    scratch: Vec<u8>,
    entry_count: usize,
    kept: Vec<(String, Vec<u8>)>,
    documents: Vec<(String, u64, Vec<u8>)>,
}

impl AsicReader {
    pub fn new(limits: ZipLimits) -> Self {
        AsicReader {
            zip: ZipReader::new(limits),
            current: Current::None,
            scratch: vec![0u8; 16 * 1024],
            entry_count: 0,
            kept: Vec::new(),
            documents: Vec::new(),
        }
    }

    fn classify(&mut self, meta: &EntryMeta) -> Result<Option<AsicEvent>, AsicError> {
        let name = meta.name.clone();
        let first = self.entry_count == 0;
        self.entry_count += 1;
        if first != (name == MIMETYPE_ENTRY) {
            return Err(AsicError::BadMimetype);
        }
        // META-INF names are matched case-insensitively, as the reference's reader does:
        // its writer names the manifest `META-INF/asicmanifest.xml`, ETSI `ASiCManifest.xml`.
        let lower = name.to_ascii_lowercase();
        let meta = lower.strip_prefix("meta-inf/");
        let kept = name == MIMETYPE_ENTRY
            || meta.is_some_and(|m| {
                m == "manifest.xml"
                    || (m.starts_with("asicmanifest") && m.ends_with(".xml"))
                    || (m.starts_with("signature") && (m.ends_with(".p7s") || m.ends_with(".xml")))
            });
        if kept {
            self.current = Current::Kept { name, data: Vec::new() };
            return Ok(None);
        }
        if meta.is_some() {
            return Err(AsicError::UnexpectedMetaInf { name });
        }
        self.current =
            Current::Document { name: name.clone(), ctx: Box::new(Context::new(&SHA256)), size: 0 };
        Ok(Some(AsicEvent::FileStart { name }))
    }

    /// Consumes container bytes; document content goes into `out`.
    pub fn read(&mut self, input: &[u8], out: &mut [u8]) -> Result<AsicStep, AsicError> {
        let keeping = matches!(self.current, Current::Kept { .. });
        let dst: &mut [u8] = if keeping { &mut self.scratch } else { out };
        let step = self.zip.read(input, dst)?;
        let data = dst.get(..step.written).unwrap_or_default();
        match &mut self.current {
            Current::Document { ctx, size, .. } => {
                ctx.update(data);
                *size += data.len() as u64;
            }
            Current::Kept { name, data: kept } => {
                if kept.len() + data.len() > MAX_META_ENTRY {
                    return Err(AsicError::MetaTooLarge { name: name.clone() });
                }
                kept.extend_from_slice(data);
            }
            Current::None => {}
        }
        let written = if keeping { 0 } else { step.written };
        let event = match step.event {
            None => None,
            Some(ZipEvent::EntryStart(meta)) => self.classify(&meta)?,
            Some(ZipEvent::EntryEnd { .. }) => {
                match std::mem::replace(&mut self.current, Current::None) {
                    Current::Document { name, ctx, size } => {
                        self.documents.push((name.clone(), size, ctx.finish().as_ref().to_vec()));
                        Some(AsicEvent::FileEnd { name })
                    }
                    Current::Kept { name, data } => {
                        if name == EFORMIDLING_MANIFEST {
                            None
                        } else {
                            self.kept.push((name, data));
                            None
                        }
                    }
                    Current::None => None,
                }
            }
        };
        Ok(AsicStep { consumed: step.consumed, written, event })
    }

    fn kept(&self, name: &str) -> Option<&[u8]> {
        self.kept.iter().find(|(n, _)| n == name).map(|(_, d)| d.as_slice())
    }

    /// Call at end of input: checks the zip directory, the signature over the ASiC
    /// manifest, and every document's digest. `eformidling_manifest` is the content of
    /// `manifest.xml` if the caller kept it (to find the primary document).
    pub fn finish(
        &mut self,
        eformidling_manifest: Option<&[u8]>,
    ) -> Result<VerifiedAsic, AsicError> {
        self.zip.finish()?;
        if self.kept(MIMETYPE_ENTRY) != Some(ASIC_E_MEDIA_TYPE.as_bytes()) {
            return Err(AsicError::BadMimetype);
        }
        // The comment is not signed, and the CMS layer (CBC) has no integrity of its
        // own, so we accept only what ASiC writers put there: nothing, or the mimetype.
        let comment = self.zip.comment();
        if !comment.is_empty() && comment != ZIP_COMMENT.as_bytes() {
            return Err(AsicError::BadComment);
        }
        let mut manifests = self.kept.iter().filter(|(n, _)| {
            let l = n.to_ascii_lowercase();
            l.starts_with("meta-inf/asicmanifest") && l.ends_with(".xml")
        });
        let (_, manifest_bytes) = manifests.next().ok_or(AsicError::NoAsicManifest)?;
        if manifests.next().is_some() {
            return Err(AsicError::SeveralAsicManifests);
        }
        let manifest = AsicManifest::parse(manifest_bytes)?;
        let sig_name = manifest.sig_reference.clone().ok_or(AsicError::NoSignature)?;
        let sig = self
            .kept(&sig_name)
            .or_else(|| {
                let want = sig_name.to_ascii_lowercase();
                self.kept
                    .iter()
                    .find(|(n, _)| n.to_ascii_lowercase() == want)
                    .map(|(_, d)| d.as_slice())
            })
            .ok_or(AsicError::NoSignature)?;
        let signer =
            crate::crypto::signed_data::verify_detached(sig, manifest_bytes).map_err(|source| {
                AsicError::Signature {
                    name: sig_name.trim_start_matches("META-INF/").to_owned(),
                    source,
                }
            })?;
        let mut files = Vec::with_capacity(self.documents.len());
        for (name, size, sha256) in &self.documents {
            let r = manifest
                .references
                .iter()
                .find(|r| &r.uri == name)
                .ok_or_else(|| AsicError::Unlisted { name: name.clone() })?;
            if r.alg != DigestAlg::Sha256 {
                return Err(AsicError::UnsupportedDigest { name: name.clone() });
            }
            if &r.digest != sha256 {
                return Err(AsicError::DigestMismatch { name: name.clone() });
            }
            files.push(VerifiedFile {
                name: name.clone(),
                mime: r.mime.clone(),
                size: *size,
                sha256: sha256.clone(),
            });
        }
        for r in &manifest.references {
            if !self.documents.iter().any(|(n, _, _)| n == &r.uri) {
                return Err(AsicError::Missing { name: r.uri.clone() });
            }
        }
        let primary = manifest
            .references
            .iter()
            .find(|r| r.rootfile)
            .map(|r| r.uri.clone())
            .or_else(|| eformidling_manifest.and_then(hoveddokument_href));
        Ok(VerifiedAsic { files, primary, signer })
    }
}

/// The `href` of `<hoveddokument>` in an eFormidling manifest, if any.
pub fn hoveddokument_href(xml: &[u8]) -> Option<String> {
    let mut r = quick_xml::Reader::from_reader(xml);
    loop {
        match r.read_event() {
            Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e))
                if e.local_name().as_ref() == "hoveddokument" =>
            {
                return e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.local_name().as_ref() == "href")
                    .and_then(|a| {
                        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .ok()
                            .map(|v| v.into_owned())
                    });
            }
            Ok(quick_xml::events::Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
}

/// Base64 of a digest, as reports print it.
pub fn b64(digest: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(digest)
}
