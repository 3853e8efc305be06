//! The run's data folder.

use std::path::PathBuf;
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};

use super::DemoError;

/// The run's data folder under the system's temporary folder: removed at the end
/// unless kept.
pub struct DataDir {
    pub path: PathBuf,
    keep: bool,
}

impl DataDir {
    pub fn new(keep: bool) -> Result<DataDir, DemoError> {
        let mut tag = [0u8; 4];
        SystemRandom::new().fill(&mut tag).map_err(|_| DemoError::Randomness)?;
        let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        let path = std::env::temp_dir().join(format!("efm-demo-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&path)
            .map_err(|source| DemoError::DataDir { path: path.clone(), source })?;
        Ok(DataDir { path, keep })
    }

    pub fn finish(self) {
        if self.keep {
            println!("data kept in {}", self.path.display());
            return;
        }
        // The nodes may still be writing a file as the folder goes; try again then.
        let mut last = None;
        for _ in 0..5 {
            match std::fs::remove_dir_all(&self.path) {
                Ok(()) => return,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Some(e) = last {
            eprintln!("efm demo: could not remove {}: {e}", self.path.display());
        }
    }
}
