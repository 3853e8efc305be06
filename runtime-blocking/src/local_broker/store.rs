//! File transfers on disk: `<dir>/transfers/journal` (a transfer's metadata as a
//! JSON line at every change, the last one standing; see `local_service::journal`)
//! and `<dir>/transfers/<id>.bin` (the uploaded file). All metadata is also held in
//! memory; the files are what a restart reads back, and reading them rewrites the
//! journal with one line per transfer, as does a journal grown long. Folders of the
//! older layout (`<id>.json` per transfer, rewritten atomically at every change)
//! are read and folded into the journal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::local_service::files::{self, FileError};
use crate::local_service::journal::{Journal, JournalError};

const JOURNAL: &str = "journal";

/// The journal is rewritten once it has this many lines beyond twice the transfers.
const COMPACT_SLACK: usize = 1024;

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
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{}: not a transfer record: {reason}", path.display())]
    BadRecord { path: PathBuf, reason: String },
}

pub struct Transfers {
    dir: PathBuf,
    map: Mutex<BTreeMap<String, Transfer>>,
    /// Appended to while the map's lock is held (see [`Self::save`]).
    journal: Mutex<Journal>,
}

impl Transfers {
    /// Opens `<dir>/transfers`, reading every transfer in it.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let dir = dir.join("transfers");
        files::ensure_dir(&dir)?;
        files::sweep_temporaries(&dir);
        let mut map = BTreeMap::new();
        let mut legacy = Vec::new();
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
            legacy.push(path);
        }
        // Journal lines are newer than any record of the older layout.
        for t in Journal::read::<Transfer>(&dir.join(JOURNAL))? {
            map.insert(t.file_transfer_id.clone(), t);
        }
        let journal = Journal::rewrite(&dir.join(JOURNAL), map.values())?;
        for path in legacy {
            files::remove(&path)?;
        }
        Ok(Transfers { dir, map: Mutex::new(map), journal: Mutex::new(journal) })
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
        let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        journal.append(&t)?;
        map.insert(t.file_transfer_id.clone(), t);
        if journal.lines() > 2 * map.len() + COMPACT_SLACK {
            *journal = Journal::rewrite(&self.dir.join(JOURNAL), map.values())?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(id: &str) -> Transfer {
        Transfer {
            file_transfer_id: id.into(),
            resource_id: "eformidling-meldingsteneste-test".into(),
            file_name: "sbd.zip".into(),
            senders_file_transfer_reference: None,
            sender: "0192:910077473".into(),
            recipients: vec![Recipient {
                recipient: "0192:910075918".into(),
                status: RecipientStatus::Initialized,
                changed: 1_000,
            }],
            property_list: Map::new(),
            checksum: None,
            created: 1_000,
            status: TransferStatus::Initialized,
            status_changed: 1_000,
            size: 0,
            history: Vec::new(),
            recipient_history: Vec::new(),
        }
    }

    fn journal_lines(dir: &Path) -> usize {
        std::fs::read_to_string(dir.join("transfers").join(JOURNAL)).expect("read").lines().count()
    }

    #[test]
    fn the_last_save_of_each_transfer_survives_a_restart_in_one_line() {
        let dir = tempfile::tempdir().expect("a folder");
        let store = Transfers::open(dir.path()).expect("opened");
        let mut t = transfer("a");
        store.save(&mut store.lock(), t.clone()).expect("saved");
        t.set_status(TransferStatus::Published, 2_000);
        store.save(&mut store.lock(), t.clone()).expect("saved");
        store.save(&mut store.lock(), transfer("b")).expect("saved");
        assert_eq!(journal_lines(dir.path()), 3);
        drop(store);
        let store = Transfers::open(dir.path()).expect("reopened");
        assert_eq!(store.lock().get("a"), Some(&t));
        assert_eq!(store.lock().get("b"), Some(&transfer("b")));
        assert_eq!(journal_lines(dir.path()), 2, "rewritten with one line per transfer");
    }

    #[test]
    fn a_long_journal_is_rewritten() {
        let dir = tempfile::tempdir().expect("a folder");
        let store = Transfers::open(dir.path()).expect("opened");
        let mut t = transfer("a");
        for n in 0..=COMPACT_SLACK + 2 {
            t.status_changed = n as i64;
            store.save(&mut store.lock(), t.clone()).expect("saved");
        }
        assert!(journal_lines(dir.path()) < COMPACT_SLACK, "{}", journal_lines(dir.path()));
        drop(store);
        assert_eq!(Transfers::open(dir.path()).expect("reopened").lock().get("a"), Some(&t));
    }

    #[test]
    fn records_of_the_older_layout_are_folded_in() {
        let dir = tempfile::tempdir().expect("a folder");
        let folder = dir.path().join("transfers");
        std::fs::create_dir_all(&folder).expect("made");
        let old = transfer("old");
        std::fs::write(folder.join("old.json"), serde_json::to_vec_pretty(&old).expect("json"))
            .expect("written");
        let store = Transfers::open(dir.path()).expect("opened");
        assert_eq!(store.lock().get("old"), Some(&old));
        assert!(!folder.join("old.json").exists());
        drop(store);
        assert_eq!(Transfers::open(dir.path()).expect("reopened").lock().get("old"), Some(&old));
    }
}
