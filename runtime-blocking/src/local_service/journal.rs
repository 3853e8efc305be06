//! An append-only file of JSON lines, one per change, each flushed before the
//! change is answered: how the local services keep state that changes at every
//! request. Rewriting a record file per change (a temporary name, a flush, a
//! rename, a flush of the folder) cost a work-alike more than serving the request.
//!
//! Reading back takes every whole line (one ended by its newline); a last line
//! that a crash cut short is a change that never happened and is left out, while
//! a whole line that does not read is damage and an error. The owner replays the lines into its state and
//! [`rewrite`](Journal::rewrite)s the journal with that state alone, at start and
//! whenever [`lines`](Journal::lines) has grown well past it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::files::{self, FileError};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{}, line {line}: {reason}", path.display())]
    BadLine { path: PathBuf, line: usize, reason: String },
}

pub struct Journal {
    path: PathBuf,
    file: File,
    lines: usize,
}

impl Journal {
    /// The entries of the journal at `path`, oldest first; none if there is no file.
    pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, JournalError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(FileError::at(path)(e).into()),
        };
        // Only lines ended by their newline count: a line and its newline go out
        // in one write, so a crash leaves at most a last line without one.
        let whole = match text.iter().rposition(|b| *b == b'\n') {
            Some(end) => &text[..end],
            None => &[][..],
        };
        let mut entries = Vec::new();
        for (i, line) in whole.split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let entry = serde_json::from_slice(line).map_err(|e| JournalError::BadLine {
                path: path.to_owned(),
                line: i + 1,
                reason: e.to_string(),
            })?;
            entries.push(entry);
        }
        Ok(entries)
    }

    /// Replaces the journal at `path` with `entries`, atomically, and opens it for
    /// appending.
    pub fn rewrite<T: Serialize>(
        path: &Path,
        entries: impl IntoIterator<Item = T>,
    ) -> Result<Journal, JournalError> {
        let mut text = Vec::new();
        let mut lines = 0;
        for entry in entries {
            line(path, &entry, &mut text)?;
            lines += 1;
        }
        files::write_atomic(path, &text)?;
        let file = OpenOptions::new().append(true).open(path).map_err(FileError::at(path))?;
        Ok(Journal { path: path.to_owned(), file, lines })
    }

    /// Appends `entry` and flushes it.
    pub fn append<T: Serialize>(&mut self, entry: &T) -> Result<(), JournalError> {
        let mut text = Vec::new();
        line(&self.path, entry, &mut text)?;
        let at = FileError::at(&self.path);
        self.file.write_all(&text).and_then(|()| self.file.sync_data()).map_err(at)?;
        self.lines += 1;
        Ok(())
    }

    /// Lines written since the journal was last rewritten, and in that rewrite.
    pub fn lines(&self) -> usize {
        self.lines
    }
}

fn line<T: Serialize>(path: &Path, entry: &T, out: &mut Vec<u8>) -> Result<(), JournalError> {
    serde_json::to_writer(&mut *out, entry).map_err(|e| JournalError::BadLine {
        path: path.to_owned(),
        line: 0,
        reason: format!("cannot be written: {e}"),
    })?;
    out.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_lines_read_back_and_a_cut_last_line_is_left_out() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join("journal");
        assert!(Journal::read::<u32>(&path).expect("no file").is_empty());
        let mut j = Journal::rewrite(&path, [1u32, 2]).expect("written");
        j.append(&3u32).expect("appended");
        assert_eq!(j.lines(), 3);
        assert_eq!(Journal::read::<u32>(&path).expect("read"), vec![1, 2, 3]);
        drop(j);
        // A cut line, even one that would read: it never happened.
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"4").expect("a cut line");
        drop(f);
        assert_eq!(Journal::read::<u32>(&path).expect("read"), vec![1, 2, 3]);
        // Appending after it starts a line of its own on reopening's rewrite.
        let mut j = Journal::rewrite(&path, [1u32, 2, 3]).expect("rewritten");
        j.append(&5u32).expect("appended");
        assert_eq!(Journal::read::<u32>(&path).expect("read"), vec![1, 2, 3, 5]);
    }

    #[test]
    fn a_bad_line_before_the_last_is_an_error() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join("journal");
        std::fs::write(&path, b"1\nnonsense\n3\n").expect("written");
        assert!(matches!(Journal::read::<u32>(&path), Err(JournalError::BadLine { line: 2, .. })));
        std::fs::write(&path, b"1\n[\n").expect("written");
        assert!(matches!(Journal::read::<u32>(&path), Err(JournalError::BadLine { line: 2, .. })));
    }
}
