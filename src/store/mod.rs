//! State that survives a restart: an operator's force-open for maintenance (with the rest
//! of its TTL), a disabled or metrics-only breaker, and an Open breaker's deadline.
//!
//! A [`Registry`](crate::Registry) built with a [`StateStore`] restores each breaker's
//! record when [`Registry::breaker`](crate::Registry::breaker) builds it, and records every
//! transition. Writes never happen on the call path: a transition only marks the breaker's
//! record as changed, and a background thread of the registry saves what changed. Closed
//! and HalfOpen breakers have no record (they start Closed).
//!
//! ```
//! # #[cfg(feature = "persist")] {
//! use breakerbox::store::FileStore;
//! use breakerbox::{Config, Registry};
//!
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("breakers.json");
//! let registry = Registry::builder().state_store(FileStore::new(&path)).build();
//! let db = registry.breaker("postgres", Config::database())?; // restored if persisted
//! db.force_open_for(std::time::Duration::from_secs(600)); // survives a restart
//! registry.persist_now()?; // optional: at shutdown, or in tests
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The trait is synchronous and takes whole maps: a store is called from the registry's
//! writer thread and when the registry is built, never from a call, so blocking I/O is
//! fine there and no async runtime is needed. `save` gets only what changed, as
//! `Some(record)` to write and `None` to delete, so a shared store (Redis, for a fleet)
//! can apply it as one `HSET`/`HDEL` without overwriting other replicas' breakers.
//! The repository's `docs/PERSISTENCE.md` has the details.

#[cfg(feature = "persist")]
mod file;
mod persister;
mod record;
#[cfg(feature = "fleet-redis")]
mod redis;

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt;
use std::path::PathBuf;

#[cfg(feature = "persist")]
#[cfg_attr(docsrs, doc(cfg(feature = "persist")))]
pub use file::FileStore;
pub(crate) use persister::Persister;
pub use persister::StoreStats;
#[cfg(feature = "axum")]
pub(crate) use record::MAX_RESTORED_TTL;
pub use record::Record;
#[cfg(feature = "fleet-redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "fleet-redis")))]
pub use redis::RedisStore;

/// Persisted records by breaker name.
pub type Records = BTreeMap<String, Record>;

/// What changed since the last save, by breaker name: `Some(record)` to store, `None` to
/// delete the breaker's record (it is Closed or HalfOpen now).
pub type Changes = BTreeMap<String, Option<Record>>;

/// Where a registry's breakers keep the state that must survive a restart.
///
/// Implementations may block (file or network I/O): the registry calls [`load`] once,
/// when it is built, and [`save`] from its writer thread (or from
/// [`Registry::persist_now`](crate::Registry::persist_now)), never from a protected call.
/// Saves are serialized: `save` is never called twice at once by one registry.
///
/// [`load`]: StateStore::load
/// [`save`]: StateStore::save
pub trait StateStore: Send + Sync + fmt::Debug + 'static {
    /// Every persisted record. A store with nothing in it yet returns an empty map.
    ///
    /// # Errors
    /// A [`StoreError`] when the records cannot be read or make no sense; the registry then
    /// logs a warning and starts every breaker Closed.
    fn load(&self) -> Result<Records, StoreError>;

    /// Applies `changes`: stores each `Some` record under its name and deletes the record
    /// of each `None`. Records of other names are kept.
    ///
    /// # Errors
    /// A [`StoreError`] when the changes could not be written; the registry logs and
    /// counts it and retries the same changes (merged with newer ones) later.
    fn save(&self, changes: &Changes) -> Result<(), StoreError>;
}

/// Why a [`StateStore`] could not load or save.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done: `read`, `write`, `sync` or `rename`.
        op: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The stored data is not a state file this version understands.
    Corrupt {
        /// Where the data came from (a path, a key).
        location: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Another store's own error (a network store's client error, for example).
    Other(Box<dyn Error + Send + Sync>),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { path, op, .. } => {
                write!(f, "cannot {op} breaker state file {}", path.display())
            }
            StoreError::Corrupt { location, detail } => {
                write!(f, "breaker state in {location} is unreadable: {detail}")
            }
            StoreError::Other(_) => f.write_str("breaker state store failed"),
        }
    }
}

impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            StoreError::Corrupt { .. } => None,
            StoreError::Other(e) => Some(&**e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_and_keep_the_cause_as_source() {
        let e = StoreError::Io {
            path: PathBuf::from("state.json"),
            op: "write",
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(e.to_string(), "cannot write breaker state file state.json");
        assert_eq!(e.source().unwrap().to_string(), "disk full");
        let c = StoreError::Corrupt {
            location: "state.json".into(),
            detail: "expected value".into(),
        };
        assert!(c.source().is_none());
    }
}
