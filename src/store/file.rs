//! The embedded [`StateStore`]: one JSON file per registry, replaced atomically.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::{Changes, Records, StateStore, StoreError};

/// The file format's version; a file of another version is not read.
const VERSION: u32 = 1;

/// Numbers the temporary files of this process.
static WRITES: AtomicU64 = AtomicU64::new(0);

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    breakers: Records,
}

/// A [`StateStore`] in one JSON file (feature `persist`), for one registry of one process.
///
/// Every save writes the whole file atomically: a temporary file in the same directory,
/// flushed to disk (`fsync`), then renamed over the old one, so a crash or a full disk
/// leaves the previous file whole. A missing file means nothing was persisted yet, and an
/// unreadable one is reported by [`load`](StateStore::load) (the registry then starts
/// every breaker Closed with a warning, and the next save replaces it). Records of
/// breakers the process has not built (yet) are kept.
///
/// ```json
/// {"version":1,"breakers":{"postgres":{"state":"forced_open",
///   "until_unix_ms":1764560400000,"open_for_ms":600000}}}
/// ```
///
/// Two processes must not share one file: give each replica its own (or use a shared
/// store for a fleet).
pub struct FileStore {
    path: PathBuf,
    /// What the file holds, once loaded or written by this store.
    cache: Mutex<Option<Records>>,
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileStore {
    /// A store in the file at `path` (created on the first save; its directory must exist).
    pub fn new(path: impl Into<PathBuf>) -> FileStore {
        FileStore {
            path: path.into(),
            cache: Mutex::new(None),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<Records, StoreError> {
        let text = match fs::read(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                #[cfg(feature = "tracing")]
                tracing::warn!(
                    target: "breakerbox::store",
                    path = %self.path.display(),
                    "no breaker state file yet: every breaker starts closed"
                );
                return Ok(Records::new());
            }
            Err(source) => return Err(self.io("read", source)),
        };
        let corrupt = |detail: String| StoreError::Corrupt {
            location: self.path.display().to_string(),
            detail,
        };
        let file: StateFile = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.version != VERSION {
            return Err(corrupt(format!("unsupported version {}", file.version)));
        }
        Ok(file.breakers)
    }

    fn io(&self, op: &'static str, source: io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            op,
            source,
        }
    }

    /// Writes `bytes` to a temporary file next to the target, syncs it and renames it
    /// over the target; the directory is synced too, so the rename itself is durable.
    fn write_atomically(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = self.path.file_name().unwrap_or(self.path.as_os_str());
        // Unique per write, also between stores of one process on the same path.
        let seq = WRITES.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(
            ".{}.{}-{seq}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let written = File::create(&tmp)
            .and_then(|mut f| f.write_all(bytes).map(|()| f))
            .map_err(|e| self.io("write", e))
            .and_then(|f| f.sync_all().map_err(|e| self.io("sync", e)))
            .and_then(|()| fs::rename(&tmp, &self.path).map_err(|e| self.io("rename", e)));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
            return written;
        }
        // Best effort: not every platform can open or sync a directory.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl StateStore for FileStore {
    /// Reads the file. A missing file is an empty store (logged as a warning).
    ///
    /// # Errors
    /// [`StoreError::Io`] when the file cannot be read, [`StoreError::Corrupt`] when it is
    /// not a state file of this version.
    fn load(&self) -> Result<Records, StoreError> {
        let read = self.read();
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        *cache = Some(read.as_ref().map_or_else(|_| Records::new(), Clone::clone));
        read
    }

    /// Writes the file with `changes` applied to what it holds.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the temporary file cannot be written, synced or renamed;
    /// the old file is then unchanged.
    fn save(&self, changes: &Changes) -> Result<(), StoreError> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = match cache.as_ref() {
            Some(records) => records.clone(),
            None => self.read().unwrap_or_default(),
        };
        for (name, record) in changes {
            match record {
                Some(r) => next.insert(name.clone(), r.clone()),
                None => next.remove(name),
            };
        }
        let file = StateFile {
            version: VERSION,
            breakers: next,
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| StoreError::Other(e.into()))?;
        self.write_atomically(&bytes)?;
        *cache = Some(file.breakers);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::state::State;
    use crate::store::Record;

    fn forced(ttl: u64) -> Record {
        Record::open(
            State::ForcedOpen,
            SystemTime::now(),
            Duration::from_secs(ttl),
        )
    }

    fn change(name: &str, r: Option<Record>) -> Changes {
        Changes::from([(name.to_owned(), r)])
    }

    #[test]
    fn a_missing_file_is_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("state.json"));
        assert_eq!(store.load().unwrap(), Records::new());
    }

    #[test]
    fn saves_apply_changes_and_keep_other_breakers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = FileStore::new(&path);
        store.load().unwrap();
        store.save(&change("a", Some(forced(60)))).unwrap();
        store
            .save(&change("b", Some(Record::new(State::Disabled))))
            .unwrap();
        store.save(&change("a", None)).unwrap();
        let back = FileStore::new(&path).load().unwrap();
        assert_eq!(
            back,
            Records::from([("b".to_owned(), Record::new(State::Disabled))])
        );
    }

    #[test]
    fn a_save_before_any_load_keeps_what_the_file_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        FileStore::new(&path)
            .save(&change("old", Some(forced(60))))
            .unwrap();
        FileStore::new(&path)
            .save(&change("new", Some(Record::new(State::MetricsOnly))))
            .unwrap();
        let back = FileStore::new(&path).load().unwrap();
        assert_eq!(back.keys().collect::<Vec<_>>(), ["new", "old"]);
    }

    #[test]
    fn corrupt_files_and_other_versions_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        for text in [
            "",
            "{",
            "not json",
            "[]",
            r#"{"version":2,"breakers":{}}"#,
            r#"{"version":1,"breakers":{"a":{"state":"sideways"}}}"#,
            r#"{"version":1,"breakers":{"a":{"state":"open","until_unix_ms":-1}}}"#,
        ] {
            fs::write(&path, text).unwrap();
            let store = FileStore::new(&path);
            let err = store.load().unwrap_err();
            assert!(matches!(err, StoreError::Corrupt { .. }), "{text}: {err}");
            // The next save replaces the unreadable file with a good one.
            store.save(&change("a", Some(forced(1)))).unwrap();
            assert_eq!(FileStore::new(&path).load().unwrap().len(), 1);
        }
    }

    /// A writer that died between writing its temporary file and the rename leaves the
    /// previous file whole, and the next save is not disturbed by the leftover.
    #[test]
    fn an_interrupted_write_leaves_the_previous_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = FileStore::new(&path);
        store.save(&change("a", Some(forced(60)))).unwrap();
        let leftover = dir.path().join(".state.json.1-0.tmp");
        fs::write(&leftover, "{\"version\":1,\"breakers\":{\"a\":").unwrap();
        assert_eq!(FileStore::new(&path).load().unwrap().len(), 1);
        store.save(&change("b", Some(forced(60)))).unwrap();
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [".state.json.1-0.tmp", "state.json"]);
        assert_eq!(FileStore::new(&path).load().unwrap().len(), 2);
    }

    /// Stores of one process saving the same file at once never interleave their bytes:
    /// every save leaves a whole file.
    #[test]
    fn concurrent_saves_to_one_file_each_leave_a_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::thread::scope(|s| {
            for t in 0..4 {
                let path = &path;
                s.spawn(move || {
                    let store = FileStore::new(path);
                    for i in 0..25 {
                        let name = format!("b{t}-{i}");
                        store.save(&change(&name, Some(forced(60)))).unwrap();
                    }
                });
            }
        });
        assert!(!FileStore::new(&path).load().unwrap().is_empty());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// A failed rename (the target is a directory here) is a typed error; the temporary
    /// file is removed and nothing panics.
    #[test]
    fn a_failed_write_is_an_error_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("keep"), "x").unwrap();
        let store = FileStore::new(&path);
        let err = store.save(&change("a", Some(forced(60)))).unwrap_err();
        assert!(matches!(err, StoreError::Io { op: "rename", .. }), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing_dir = FileStore::new(dir.path().join("no/such/dir/state.json"));
        let err = missing_dir.save(&change("a", None)).unwrap_err();
        assert!(matches!(err, StoreError::Io { op: "write", .. }), "{err}");
    }
}
