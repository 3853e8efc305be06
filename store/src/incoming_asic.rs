//! The ASiC of an incoming message, as received (a CMS envelope to us), in the data
//! folder: `incoming/<messageId>/asic.cms`. The runtime writes and flushes it under
//! `staging/` first; a write moves it into place, durably, before the row that
//! names it commits, so a crash leaves at worst an orphan file, never a row
//! without its ASiC.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use efm_core::ids::MessageId;
use efm_core::node::{StagedFile, StoreError};

/// Where received files wait to be moved into place, under the data folder.
pub const STAGING_DIR: &str = "staging";
const INCOMING_DIR: &str = "incoming";
const ASIC_FILE: &str = "asic.cms";

fn io(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{what}: {e}"))
}

fn message_dir(data: &Path, id: MessageId) -> PathBuf {
    data.join(INCOMING_DIR).join(id.to_string())
}

/// The staged file's path, if its name is a plain file name.
pub(crate) fn staged_path(data: &Path, f: &StagedFile) -> Result<PathBuf, StoreError> {
    let plain = !f.name.is_empty()
        && f.name != "."
        && f.name != ".."
        && !f.name.contains(['/', '\\', '\0']);
    if !plain {
        return Err(StoreError::Unavailable(format!(
            "staged file {:?} is not a plain file name",
            f.name
        )));
    }
    Ok(data.join(STAGING_DIR).join(&f.name))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("flushing a folder", e))
}

/// Move the staged file into place for message `id`, durably; returns its path
/// relative to the data folder. The staged file must have the size announced.
pub(crate) fn place(data: &Path, id: MessageId, f: &StagedFile) -> Result<String, StoreError> {
    let staged = staged_path(data, f)?;
    let file = File::open(&staged).map_err(|e| io("staged ASiC", e))?;
    let size = file.metadata().map_err(|e| io("staged ASiC", e))?.len();
    if size != f.size {
        return Err(StoreError::Unavailable(format!(
            "staged ASiC {} holds {size} bytes, not the {} announced",
            f.name, f.size
        )));
    }
    // The runtime flushed it; again costs little and makes this write not depend on
    // it. Content and size only (`sync_data`): a full `sync_all` would commit the
    // file system's journal again for the times alone.
    file.sync_data().map_err(|e| io("staged ASiC", e))?;
    drop(file);
    let dir = message_dir(data, id);
    fs::create_dir_all(&dir).map_err(|e| io("incoming folder", e))?;
    fs::rename(&staged, dir.join(ASIC_FILE)).map_err(|e| io("placing the ASiC", e))?;
    // `staging/` is not flushed: should the old name come back after a power
    // cut, staging is emptied when the store opens.
    let synced = sync_dir(&dir).and_then(|()| sync_dir(&data.join(INCOMING_DIR)));
    if let Err(e) = synced {
        unplace(data, id, f);
        return Err(e);
    }
    Ok(format!("{INCOMING_DIR}/{id}/{ASIC_FILE}"))
}

/// Undo [`place`]: the file goes back under its staged name (the write failed).
pub(crate) fn unplace(data: &Path, id: MessageId, f: &StagedFile) {
    if let Ok(staged) = staged_path(data, f) {
        let _ = fs::rename(message_dir(data, id).join(ASIC_FILE), staged);
        let _ = fs::remove_dir(message_dir(data, id));
    }
}

/// Remove a staged file nothing will take (its message is known already).
pub(crate) fn discard_staged(data: &Path, f: &StagedFile) {
    if let Ok(staged) = staged_path(data, f) {
        let _ = fs::remove_file(staged);
    }
}

/// Remove a message's stored ASiC, after the row naming it is gone. A failure
/// leaves an orphan file, which no row names: it is not an error of the write.
pub(crate) fn remove(data: &Path, id: MessageId) {
    let _ = fs::remove_dir_all(message_dir(data, id));
}
