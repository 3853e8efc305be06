//! Message files in the data folder: `files/<messageId>/<position>`. A file is
//! written to a temporary name (or streamed to `staging/` by the runtime as it was
//! uploaded), flushed to disk, renamed into place and its folder flushed, all
//! before the row naming it commits; a crash leaves at worst an orphan file, never
//! a row without its content.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::cached::Cached;
use efm_core::arkivmelding::ConversationFields;
use efm_core::ids::MessageId;
use efm_core::node::{StagedFile, StoreError, StoredFile};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use crate::incoming_asic::staged_path;
use crate::unavailable;

const FILES: &str = "files";

fn io(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("message file: {e}"))
}

pub(crate) fn message_dir(data: &Path, id: MessageId) -> PathBuf {
    data.join(FILES).join(id.to_string())
}

/// Where a new file's content comes from.
pub(crate) enum Source<'a> {
    /// In memory: written here.
    Bytes(&'a [u8]),
    /// Written and flushed by the runtime under `staging/`: moved here.
    Staged(&'a StagedFile),
}

/// Put `content` in place durably and record it as the message's next file.
pub(crate) fn add(
    conn: &mut Connection,
    data: &Path,
    id: MessageId,
    file: &StoredFile,
    content: Source<'_>,
    conversation: Option<&ConversationFields>,
) -> Result<(), StoreError> {
    let key = id.to_string();
    let tx = conn.transaction().map_err(unavailable)?;
    let position: i64 = tx
        .row(
            "SELECT COALESCE(MAX(position), -1) + 1 FROM outgoing_file WHERE message_id = ?1",
            params![key],
            |r| r.get(0),
        )
        .map_err(unavailable)?;
    let dir = message_dir(data, id);
    fs::create_dir_all(&dir).map_err(io)?;
    let path = dir.join(position.to_string());
    match content {
        Source::Bytes(content) => {
            let partial = dir.join(format!("{position}.partial"));
            let mut f = File::create(&partial).map_err(io)?;
            f.write_all(content).map_err(io)?;
            f.sync_all().map_err(io)?;
            fs::rename(&partial, &path).map_err(io)?;
        }
        Source::Staged(staged) => {
            let from = staged_path(data, staged)?;
            let f = File::open(&from).map_err(io)?;
            let size = f.metadata().map_err(io)?.len();
            if size != staged.size || size != file.size {
                return Err(StoreError::Unavailable(format!(
                    "staged file {} holds {size} bytes, not the {} announced",
                    staged.name, file.size
                )));
            }
            // Flushed here whoever wrote it, so that the rename below never makes
            // a name point at content still only in the page cache. The content
            // and its size are what matter (`sync_data`): when the runtime flushed
            // it already, nothing is left to write, whereas a full `sync_all`
            // would commit the file system's journal again for the times alone.
            f.sync_data().map_err(io)?;
            drop(f);
            // `staging/` itself is not flushed: should the old name come back
            // after a power cut, staging is emptied when the store opens.
            fs::rename(&from, &path).map_err(io)?;
        }
    }
    File::open(&dir).and_then(|d| d.sync_all()).map_err(io)?;
    let relative = format!("{FILES}/{key}/{position}");
    let inserted = tx.run(
        "INSERT INTO outgoing_file (message_id, position, filename, title, mime, size, sha256, is_primary, path)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            key,
            position,
            file.filename,
            file.title,
            file.mime,
            file.size as i64,
            file.sha256,
            file.primary,
            relative
        ],
    );
    if let Err(e) = inserted {
        let _ = fs::remove_file(&path);
        return Err(match e.sqlite_error_code() {
            Some(ErrorCode::ConstraintViolation) => StoreError::Conflict,
            _ => unavailable(e),
        });
    }
    if let Some(c) = conversation {
        tx.run(
            "UPDATE conversation SET message_title = ?2, message_reference = COALESCE(?3, message_reference)
             WHERE message_id = ?1 AND direction = 'OUTGOING'",
            params![key, c.title, c.reference],
        )
        .map_err(unavailable)?;
    }
    tx.commit().map_err(unavailable)
}

/// The files of a message, in upload order.
pub(crate) fn list(conn: &Connection, id: &str) -> Result<Vec<StoredFile>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT filename, title, mime, size, sha256, is_primary FROM outgoing_file
             WHERE message_id = ?1 ORDER BY position",
        )
        .map_err(unavailable)?;
    stmt.query_map(params![id], |r| {
        Ok(StoredFile {
            filename: r.get(0)?,
            title: r.get(1)?,
            mime: r.get(2)?,
            size: r.get::<_, i64>(3)?.max(0) as u64,
            sha256: r.get(4)?,
            primary: r.get(5)?,
        })
    })
    .map_err(unavailable)?
    .collect::<Result<Vec<_>, _>>()
    .map_err(unavailable)
}

/// Remove a message's files from disk (after its rows are gone).
pub(crate) fn remove(data: &Path, id: MessageId) -> Result<(), StoreError> {
    match fs::remove_dir_all(message_dir(data, id)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
        _ => Ok(()),
    }
}

/// The largest file the node reads itself (arkivmelding.xml): more is not an
/// arkivmelding, and is not read into memory.
const MAX_READ: u64 = 16 * 1024 * 1024;

/// The content of one of a message's files, if it has one by that name.
pub(crate) fn content(
    conn: &Connection,
    data: &Path,
    id: MessageId,
    filename: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let path = path(conn, data, id, filename)?;
    let Some(path) = path else { return Ok(None) };
    let file = File::open(data.join(&path)).map_err(io)?;
    read_small(file, filename).map(Some)
}

/// The content of a staged file, if there is one by that name; like
/// [`content`], only small files are read.
pub(crate) fn staged_content(data: &Path, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let path = staged_path(data, &StagedFile { name: name.to_owned(), size: 0 })?;
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    read_small(file, name).map(Some)
}

/// Read a file of at most [`MAX_READ`] bytes.
fn read_small(file: File, name: &str) -> Result<Vec<u8>, StoreError> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    file.take(MAX_READ + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_READ {
        return Err(StoreError::Unavailable(format!("{name} is larger than {MAX_READ} bytes")));
    }
    Ok(bytes)
}

/// The path of one of a message's files, if it has one by that name.
pub(crate) fn path(
    conn: &Connection,
    data: &Path,
    id: MessageId,
    filename: &str,
) -> Result<Option<PathBuf>, StoreError> {
    let path: Option<String> = conn
        .row(
            "SELECT path FROM outgoing_file WHERE message_id = ?1 AND filename = ?2",
            params![id.to_string(), filename],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    Ok(path.map(|p| data.join(p)))
}
