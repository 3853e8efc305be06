//! Files that survive a crash whole or not at all: written to a temporary name in the
//! same folder, fsynced, renamed over the target, and the folder fsynced.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ring::rand::{SecureRandom, SystemRandom};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// An I/O failure with the path it happened on.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FileError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl FileError {
    pub fn at(path: &Path) -> impl FnOnce(io::Error) -> FileError + '_ {
        move |source| FileError { path: path.to_owned(), source }
    }
}

/// Replaces `path` with `bytes` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
    if let Err(e) = write_flushed(&temp, bytes) {
        let _ = fs::remove_file(&temp);
        return Err(FileError::at(&temp)(e));
    }
    if let Err(e) = fs::rename(&temp, path) {
        let _ = fs::remove_file(&temp);
        return Err(FileError::at(path)(e));
    }
    sync_dir(dir);
    Ok(())
}

/// Writes `bytes` to `path` and flushes them and the folder, without the temporary
/// name and rename of [`write_atomic`]: for a file no record names yet. A crash
/// may leave it partial, but then nothing names it, and the reader of the folder
/// drops it.
pub fn write_unnamed(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    write_flushed(path, bytes).map_err(FileError::at(path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")));
    Ok(())
}

/// `bytes` as the whole of `path`, flushed to the disk.
fn write_flushed(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Removes `path` and syncs its folder; a file already gone is fine.
pub fn remove(path: &Path) -> Result<(), FileError> {
    match fs::remove_file(path) {
        Ok(()) => {
            sync_dir(path.parent().unwrap_or(Path::new(".")));
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FileError::at(path)(e)),
    }
}

/// Makes the rename durable. Folders cannot be opened for syncing on every platform;
/// there, the rename is as durable as the platform makes it.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Creates `dir` and its parents.
pub fn ensure_dir(dir: &Path) -> Result<(), FileError> {
    fs::create_dir_all(dir).map_err(FileError::at(dir))
}

/// Removes temporary files a crash left behind in `dir`.
pub fn sweep_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".tmp") {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// A secret of 32 random bytes kept in `path`, made on first use.
pub fn secret(path: &Path) -> Result<Vec<u8>, FileError> {
    match fs::read(path) {
        Ok(bytes) if bytes.len() >= 32 => return Ok(bytes),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(FileError::at(path)(e)),
    }
    let mut bytes = vec![0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| {
        FileError::at(path)(io::Error::other("the operating system gave no randomness"))
    })?;
    write_atomic(path, &bytes)?;
    Ok(bytes)
}

/// 32 bytes from the operating system, to seed id generators.
pub fn os_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    if SystemRandom::new().fill(&mut seed).is_err() {
        // No OS randomness: ids are still unique enough for a local test service.
        let t = crate::clock::now().as_unix_millis();
        seed[..8].copy_from_slice(&t.to_le_bytes());
        seed[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    }
    seed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporaries() {
        let dir = std::env::temp_dir().join(format!("efm-files-{}", std::process::id()));
        ensure_dir(&dir).unwrap();
        let p = dir.join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["a.json".to_string()]);
        let s1 = secret(&dir.join("secret")).unwrap();
        assert_eq!(s1, secret(&dir.join("secret")).unwrap(), "kept, not remade");
        remove(&p).unwrap();
        remove(&p).unwrap();
        let _ = fs::remove_dir_all(&dir);
    }
}
