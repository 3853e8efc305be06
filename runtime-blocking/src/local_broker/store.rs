//! File transfers on disk: `<dir>/transfers/<id>.json` (the metadata, rewritten
//! atomically on every change) and `<dir>/transfers/<id>.bin` (the uploaded file).
//! All metadata is also held in memory; the files are what a restart reads back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::local_service::files::{self, FileError};

/// A transfer's status, as the Broker API names it (`FileTransferStatusExt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TransferStatus {
    Initialized,
    UploadStarted,
    UploadProcessing,
    Published,
    Cancelled,
    AllConfirmedDownloaded,
    Purged,
    Failed,
}

impl TransferStatus {
    pub const ALL: [TransferStatus; 8] = [
        TransferStatus::Initialized,
        TransferStatus::UploadStarted,
        TransferStatus::UploadProcessing,
        TransferStatus::Published,
        TransferStatus::Cancelled,
        TransferStatus::AllConfirmedDownloaded,
        TransferStatus::Purged,
        TransferStatus::Failed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TransferStatus::Initialized => "Initialized",
            TransferStatus::UploadStarted => "UploadStarted",
            TransferStatus::UploadProcessing => "UploadProcessing",
            TransferStatus::Published => "Published",
            TransferStatus::Cancelled => "Cancelled",
            TransferStatus::AllConfirmedDownloaded => "AllConfirmedDownloaded",
            TransferStatus::Purged => "Purged",
            TransferStatus::Failed => "Failed",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            TransferStatus::Initialized => "Ready for upload",
            TransferStatus::UploadStarted => "Upload started",
            TransferStatus::UploadProcessing => "Upload being processed",
            TransferStatus::Published => "Published and ready for download",
            TransferStatus::Cancelled => "Cancelled",
            TransferStatus::AllConfirmedDownloaded => "All recipients confirmed the download",
            TransferStatus::Purged => "The file was purged",
            TransferStatus::Failed => "The upload failed",
        }
    }

    /// Any case, as ASP.NET binds enum query parameters.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(s))
    }
}

/// A recipient's status (`RecipientFileTransferStatusExt`), in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RecipientStatus {
    Initialized,
    DownloadStarted,
    DownloadConfirmed,
}

impl RecipientStatus {
    pub const ALL: [RecipientStatus; 3] = [
        RecipientStatus::Initialized,
        RecipientStatus::DownloadStarted,
        RecipientStatus::DownloadConfirmed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RecipientStatus::Initialized => "Initialized",
            RecipientStatus::DownloadStarted => "DownloadStarted",
            RecipientStatus::DownloadConfirmed => "DownloadConfirmed",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            RecipientStatus::Initialized => "Not downloaded yet",
            RecipientStatus::DownloadStarted => "Download started",
            RecipientStatus::DownloadConfirmed => "Download confirmed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(s))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    /// As the sender wrote it, `0192:<orgnr>`.
    pub recipient: String,
    pub status: RecipientStatus,
    /// Unix milliseconds.
    pub changed: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusEvent {
    pub status: TransferStatus,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientEvent {
    pub recipient: String,
    pub status: RecipientStatus,
    pub at: i64,
}

/// One file transfer's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    pub file_transfer_id: String,
    pub resource_id: String,
    pub file_name: String,
    pub senders_file_transfer_reference: Option<String>,
    /// `0192:<orgnr>`.
    pub sender: String,
    pub recipients: Vec<Recipient>,
    pub property_list: Map<String, Value>,
    pub checksum: Option<String>,
    /// Unix milliseconds.
    pub created: i64,
    pub status: TransferStatus,
    pub status_changed: i64,
    pub size: u64,
    pub history: Vec<StatusEvent>,
    pub recipient_history: Vec<RecipientEvent>,
}

impl Transfer {
    pub fn set_status(&mut self, status: TransferStatus, at: i64) {
        self.status = status;
        self.status_changed = at;
        self.history.push(StatusEvent { status, at });
    }

    /// The recipient entry of organisation `org` (nine digits), if it is one.
    pub fn recipient_mut(&mut self, org: &str) -> Option<&mut Recipient> {
        self.recipients.iter_mut().find(|r| org_part(&r.recipient) == org)
    }

    pub fn recipient(&self, org: &str) -> Option<&Recipient> {
        self.recipients.iter().find(|r| org_part(&r.recipient) == org)
    }

    pub fn set_recipient_status(&mut self, org: &str, status: RecipientStatus, at: i64) {
        let mut named = None;
        if let Some(r) = self.recipient_mut(org) {
            r.status = status;
            r.changed = at;
            named = Some(r.recipient.clone());
        }
        if let Some(recipient) = named {
            self.recipient_history.push(RecipientEvent { recipient, status, at });
        }
    }

    pub fn is_sender(&self, org: &str) -> bool {
        org_part(&self.sender) == org
    }
}

/// `910077473` of `0192:910077473`.
pub fn org_part(actor: &str) -> &str {
    actor.split_once(':').map(|(_, o)| o).unwrap_or(actor)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{}: not a transfer record: {reason}", path.display())]
    BadRecord { path: PathBuf, reason: String },
}

pub struct Transfers {
    dir: PathBuf,
    map: Mutex<BTreeMap<String, Transfer>>,
}

impl Transfers {
    /// Opens `<dir>/transfers`, reading every record in it.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let dir = dir.join("transfers");
        files::ensure_dir(&dir)?;
        files::sweep_temporaries(&dir);
        let mut map = BTreeMap::new();
        let entries = std::fs::read_dir(&dir).map_err(FileError::at(&dir))?;
        for entry in entries {
            let path = entry.map_err(FileError::at(&dir))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(FileError::at(&path))?;
            let t: Transfer = serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::BadRecord { path: path.clone(), reason: e.to_string() })?;
            map.insert(t.file_transfer_id.clone(), t);
        }
        Ok(Transfers { dir, map: Mutex::new(map) })
    }

    /// The in-memory records; hold the guard across a read-modify-[`Self::save`].
    pub fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Transfer>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `t` to disk, then into `map` (the locked records).
    pub fn save(
        &self,
        map: &mut BTreeMap<String, Transfer>,
        t: Transfer,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(&t).map_err(|e| StoreError::BadRecord {
            path: self.record_path(&t.file_transfer_id),
            reason: e.to_string(),
        })?;
        files::write_atomic(&self.record_path(&t.file_transfer_id), &bytes)?;
        map.insert(t.file_transfer_id.clone(), t);
        Ok(())
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Where the file of transfer `id` is kept.
    pub fn payload_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.bin"))
    }

    /// The payload path relative to the broker's folder, for the request record.
    pub fn payload_name(id: &str) -> String {
        format!("transfers/{id}.bin")
    }
}
