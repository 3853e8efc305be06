//! Payload work the node hands to the runtime: the runtime owns the files and holds
//! our key, so it moves the bytes, always through core's streaming encoders and
//! decoders ([`crate::package::pipeline`], [`crate::transport::dpo_parcel`]). The
//! node only says what to make and gets back where it was put.

use bytes::Bytes;

use super::store::StoredFile;
use crate::crypto::key_unwrap::KeyTransport;
use crate::ids::MessageId;
use crate::package::eformidling_manifest::EformidlingManifest;

#[derive(Clone, Debug, PartialEq)]
pub enum Job {
    Seal(SealJob),
    Unpack(UnpackJob),
    /// DPF: the body of a SvarUt send, with each document CMS-encrypted to SvarUt.
    SealSvarUt(SvarUtSealJob),
    /// DPF: a SvarInn download opened into an incoming ASiC.
    OpenSvarInn(SvarInnJob),
    /// Write bytes to a staged file, durably (a payload that arrived in memory).
    Stage {
        name: String,
        content: Bytes,
    },
}

/// Package an outgoing message's stored files: a signed ASiC-E, encrypted (CMS) to
/// the receiver's certificate, in the form the message service carries.
#[derive(Clone, Debug, PartialEq)]
pub struct SealJob {
    pub message_id: MessageId,
    /// In the order they go into the container (the primary document first).
    pub files: Vec<StoredFile>,
    /// The receiver's certificate, PEM, from its service record.
    pub receiver_certificate: String,
    pub key_transport: KeyTransport,
    pub manifest: EformidlingManifest,
    pub form: SealForm,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SealForm {
    /// DPO's `sbd.zip`: `sbd.json`, then the CMS as `asic.zip`, staged under `name`.
    DpoParcel { sbd_json: Bytes, name: String },
    /// The CMS alone, returned in memory; larger than `limit` is an error (DPE
    /// carries at most a few MB, base64-encoded twice inside JSON).
    Cms { limit: u64 },
    /// DPI's `POST /messages/out` body, staged: see [`DpiSeal`].
    Dpi(Box<DpiSeal>),
}

/// A DPI dokumentpakke and its forretningsmelding, as one multipart body: the ASiC-E
/// carries `manifest` (not the eFormidling manifest) and an XAdES signature; the
/// CMS's SHA-256 and a Maskinporten token (`credential`, which only the runtime can
/// obtain) go into `sbd`, which is then signed as a JWS with our key.
#[derive(Clone, Debug, PartialEq)]
pub struct DpiSeal {
    /// The DPI SBD without `dokumentpakkefingeravtrykk` and `maskinportentoken`.
    pub sbd: serde_json::Value,
    /// The SDP `manifest.xml`.
    pub manifest: Bytes,
    pub credential: super::http::Credential,
    pub boundary: String,
    /// The staged name of the multipart body.
    pub name: String,
}

/// Open a downloaded DPO `sbd.zip`: its SBD comes back in memory, its `asic.zip`
/// (still encrypted to us) is staged under `asic_to`. The input is removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnpackJob {
    pub staged: String,
    pub asic_to: String,
}

/// Assemble a SvarUt `sendForsendelseMedId` body in staging under `name`:
/// `parts.root`, then per document its head and the stored file CMS-encrypted
/// (RSAES-OAEP) to `receiver_certificate`, then `parts.tail`. Streamed, so a large
/// document is never held whole.
#[derive(Clone, Debug, PartialEq)]
pub struct SvarUtSealJob {
    pub message_id: MessageId,
    /// In the order of `parts.document_heads`.
    pub documents: Vec<StoredFile>,
    pub receiver_certificate: String,
    pub parts: crate::transport::svarut::MtomParts,
    pub name: String,
}

/// Open a downloaded SvarInn forsendelse (`staged`: a CMS envelope to our
/// certificate around a zip) into an ASiC with `arkivmelding` as `arkivmelding.xml`
/// first and then the zip's files (MIME types from `mime_types`, else
/// `application/octet-stream`), signed by us and encrypted to our own certificate
/// as every stored incoming ASiC is, staged under `asic_to`. The input is removed.
#[derive(Clone, Debug, PartialEq)]
pub struct SvarInnJob {
    pub staged: String,
    pub manifest: EformidlingManifest,
    pub arkivmelding: Bytes,
    pub mime_types: Vec<(String, String)>,
    pub asic_to: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum JobResult {
    /// A staged parcel: its name and size.
    Staged {
        name: String,
        size: u64,
    },
    /// A payload in memory.
    Bytes(Bytes),
    Unpacked {
        sbd: Bytes,
        asic: Option<(String, u64)>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The payload itself is bad (a corrupt parcel, a certificate we cannot use):
    /// doing it again would fail again.
    #[error("{0}")]
    Invalid(String),
    /// The runtime could not do the work now (disk full, a file gone).
    #[error("{0}")]
    Io(String),
}
