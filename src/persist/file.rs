//! The embedded store: one JSON file, replaced atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{SavedState, StateStore, StoreError};

/// Saved states in one JSON file. A save writes a temporary file next to it, flushes it to
/// disk and renames it over the old one, so a crash mid-save leaves the previous file
/// whole. A missing file loads as empty; a corrupt one is a [`StoreError::Corrupt`] (and
/// [`restore`](super::restore) starts every breaker as built).
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// A store at `path` (its directory must exist).
    pub fn new(path: impl Into<PathBuf>) -> FileStore {
        FileStore { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl StateStore for FileStore {
    fn load(&self) -> Result<Vec<SavedState>, StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::Io(e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    fn save(&self, states: &[SavedState]) -> Result<(), StoreError> {
        let json =
            serde_json::to_vec_pretty(states).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(".tmp{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            StoreError::Io(e)
        })
    }
}
