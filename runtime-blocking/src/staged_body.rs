//! An upload's body on its way to disk: written to `staging/` by a runtime as it
//! arrives, hashed and counted on the way, and refused past the message's
//! allowance. The store moves the file into place when the upload is recorded;
//! whatever is left when this is dropped (a refused, failed or cut-off upload) is
//! removed, and a crash leaves nothing either, since the store empties `staging/`
//! when it opens.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use efm_core::api::MessageRef;
use efm_core::node::{StagedFile, StagedUpload, UploadAllowance, UploadHead};

/// Names staged uploads apart within this process; `staging/` starts empty.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// The body exceeds what the message may still take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exceeded {
    /// The body's bytes counted when it was refused.
    pub seen: u64,
}

/// The part of an upload that is known before its body: where it goes, what its
/// headers say, and how large it may be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedUpload {
    pub message: MessageRef,
    pub head: UploadHead,
    pub allowance: UploadAllowance,
}

pub struct StagedBody {
    name: String,
    path: PathBuf,
    digest: ring::digest::Context,
    size: u64,
    pub upload: PlannedUpload,
}

impl std::fmt::Debug for StagedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedBody").field("path", &self.path).field("size", &self.size).finish()
    }
}

impl StagedBody {
    /// A staged body under `staging` (the store's `staging/` folder). The file
    /// itself is created by the runtime that writes it.
    pub fn new(staging: &Path, upload: PlannedUpload) -> Self {
        let name = format!("upload-{}.part", NEXT.fetch_add(1, Ordering::Relaxed));
        StagedBody {
            path: staging.join(&name),
            name,
            digest: ring::digest::Context::new(&ring::digest::SHA256),
            size: 0,
            upload,
        }
    }

    /// The file the body is written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The most bytes the body may have.
    pub fn limit(&self) -> u64 {
        self.upload.allowance.remaining()
    }

    /// Count and hash the next piece, before it is written. Refused once the body
    /// passes its limit: the runtime then stops reading.
    pub fn take(&mut self, piece: &[u8]) -> Result<(), Exceeded> {
        self.size = self.size.saturating_add(piece.len() as u64);
        if self.size > self.limit() {
            return Err(Exceeded { seen: self.size });
        }
        self.digest.update(piece);
        Ok(())
    }

    /// The upload for the node, once the whole body is written and closed. The
    /// staged file stays this value's until it is dropped: the node's call must
    /// be answered first.
    pub fn upload(&self) -> StagedUpload {
        let sha256 = self.digest.clone().finish();
        StagedUpload {
            head: self.upload.head.clone(),
            file: StagedFile { name: self.name.clone(), size: self.size },
            sha256: sha256.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

impl Drop for StagedBody {
    fn drop(&mut self) {
        // Gone already when the store took it.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use efm_core::registry::model::ServiceIdentifier;

    fn planned(limit: u64, used: u64) -> PlannedUpload {
        PlannedUpload {
            message: MessageRef::NoSuchMessage("x".into()),
            head: UploadHead {
                filename: "a.pdf".into(),
                title: None,
                mime: "application/pdf".into(),
            },
            allowance: UploadAllowance { service: ServiceIdentifier::Dpo, limit, used },
        }
    }

    #[test]
    fn hashes_counts_refuses_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = StagedBody::new(dir.path(), planned(10, 4));
        let b = StagedBody::new(dir.path(), planned(10, 4));
        assert_ne!(a.path(), b.path());
        std::fs::write(a.path(), b"abc").unwrap();
        assert_eq!(a.take(b"ab"), Ok(()));
        assert_eq!(a.take(b"c"), Ok(()));
        let u = a.upload();
        assert_eq!(u.file.size, 3);
        assert_eq!(u.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(a.take(b"defg"), Err(Exceeded { seen: 7 }), "6 bytes were left");
        let path = a.path().to_owned();
        drop(a);
        assert!(!path.exists(), "a dropped body leaves no file");
    }
}
