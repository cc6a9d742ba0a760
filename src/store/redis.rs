//! [`RedisStore`]: the records of a fleet's breakers in one Redis hash (feature
//! `fleet-redis`), written field by field so replicas do not overwrite each other.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::{Changes, Record, Records, StateStore, StoreError};

/// Connect, read and write timeout of the store's connection: the store runs on the
/// registry's writer thread, never on a call, but a hung Redis must not hold it forever.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A [`StateStore`] in one Redis hash: one field per breaker (its name), the record as
/// JSON. `save` is one `MULTI` of `HSET` and `HDEL`, so replicas sharing the hash only
/// touch the breakers that changed. Each replica restarting with the same key starts
/// its breakers in the fleet's persisted states.
///
/// ```no_run
/// use breakerbox::Registry;
/// use breakerbox::store::RedisStore;
///
/// let store = RedisStore::open("redis://127.0.0.1:6379", "breakerbox:state")?;
/// let registry = Registry::builder().state_store(store).build();
/// # Ok::<(), breakerbox::store::StoreError>(())
/// ```
pub struct RedisStore {
    client: redis::Client,
    key: String,
    conn: Mutex<Option<redis::Connection>>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store in the hash `key` of the Redis at `url` (no TLS). Connects lazily.
    ///
    /// # Errors
    /// [`StoreError::Other`] when the URL does not parse.
    pub fn open(url: &str, key: impl Into<String>) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError::Other(e.into()))?;
        Ok(RedisStore {
            client,
            key: key.into(),
            conn: Mutex::new(None),
        })
    }

    /// The hash's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Runs `f` on the cached connection, connecting first if needed; a failed command
    /// drops the connection so the next one reconnects.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let mut slot = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            let conn = self
                .client
                .get_connection_with_timeout(TIMEOUT)
                .and_then(|c| {
                    c.set_read_timeout(Some(TIMEOUT))?;
                    c.set_write_timeout(Some(TIMEOUT))?;
                    Ok(c)
                })
                .map_err(|e| StoreError::Other(e.into()))?;
            *slot = Some(conn);
        }
        let Some(conn) = slot.as_mut() else {
            return Err(StoreError::Other("no redis connection".into()));
        };
        f(conn).map_err(|e| {
            *slot = None;
            StoreError::Other(e.into())
        })
    }
}

impl StateStore for RedisStore {
    /// Reads every field of the hash.
    ///
    /// # Errors
    /// [`StoreError::Other`] when Redis cannot be reached, [`StoreError::Corrupt`] when a
    /// field is not a record.
    fn load(&self) -> Result<Records, StoreError> {
        let fields: Vec<(String, String)> =
            self.with_conn(|c| redis::cmd("HGETALL").arg(&self.key).query(c))?;
        fields
            .into_iter()
            .map(|(name, json)| {
                let record: Record =
                    serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                        location: format!("redis hash {} field {name}", self.key),
                        detail: e.to_string(),
                    })?;
                Ok((name, record))
            })
            .collect()
    }

    /// Writes the changed records and deletes the removed ones, in one transaction.
    ///
    /// # Errors
    /// [`StoreError::Other`] when Redis cannot be reached or refuses the commands.
    fn save(&self, changes: &Changes) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (name, record) in changes {
            match record {
                Some(r) => {
                    let json = serde_json::to_string(r).map_err(|e| StoreError::Other(e.into()))?;
                    pipe.cmd("HSET").arg(&self.key).arg(name).arg(json).ignore();
                }
                None => {
                    pipe.cmd("HDEL").arg(&self.key).arg(name).ignore();
                }
            }
        }
        self.with_conn(|c| pipe.query::<()>(c))
    }
}
