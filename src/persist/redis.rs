//! A store in Redis, for a fleet whose replicas share operator states: one key holding
//! the JSON of every saved state, read and written with plain `GET` / `SET` over RESP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::{SavedState, StateStore, StoreError};

/// Saved states under one Redis key (default `breakerbox:states`). Each load and save
/// opens a connection with a 2 s connect, read and write timeout: the store runs in a
/// background task, never on the call path, and a dead Redis costs a logged error, not
/// a hang. Replicas that share the key share operator states (last save wins).
#[derive(Debug, Clone)]
pub struct RedisStore {
    addr: SocketAddr,
    key: String,
    timeout: Duration,
}

impl RedisStore {
    /// A store on the Redis server at `addr`, key `breakerbox:states`.
    pub fn new(addr: SocketAddr) -> RedisStore {
        RedisStore {
            addr,
            key: "breakerbox:states".to_owned(),
            timeout: Duration::from_secs(2),
        }
    }

    /// Uses `key` instead (e.g. one per service).
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// One command on a fresh connection; the reply as a bulk string (`None` for nil).
    fn command(&self, args: &[&[u8]]) -> Result<Option<Vec<u8>>, StoreError> {
        let stream =
            TcpStream::connect_timeout(&self.addr, self.timeout).map_err(StoreError::Io)?;
        stream
            .set_read_timeout(Some(self.timeout))
            .and_then(|()| stream.set_write_timeout(Some(self.timeout)))
            .map_err(StoreError::Io)?;
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        let mut conn = BufReader::new(stream);
        conn.get_mut().write_all(&out).map_err(StoreError::Io)?;
        let mut line = String::new();
        conn.read_line(&mut line).map_err(StoreError::Io)?;
        let line = line.trim_end();
        let protocol = |what: &str| StoreError::Corrupt(format!("redis replied {what}"));
        match line.as_bytes().first() {
            Some(b'+') => Ok(Some(line.as_bytes()[1..].to_vec())),
            Some(b'-') => Err(protocol(line)),
            Some(b'$') if line == "$-1" => Ok(None),
            Some(b'$') => {
                let n: usize = line[1..].parse().map_err(|_| protocol(line))?;
                let mut buf = vec![0; n.saturating_add(2)];
                conn.read_exact(&mut buf).map_err(StoreError::Io)?;
                buf.truncate(n);
                Ok(Some(buf))
            }
            _ => Err(protocol(line)),
        }
    }
}

impl StateStore for RedisStore {
    fn load(&self) -> Result<Vec<SavedState>, StoreError> {
        match self.command(&[b"GET", self.key.as_bytes()])? {
            None => Ok(Vec::new()),
            Some(json) => {
                serde_json::from_slice(&json).map_err(|e| StoreError::Corrupt(e.to_string()))
            }
        }
    }

    fn save(&self, states: &[SavedState]) -> Result<(), StoreError> {
        let json = serde_json::to_vec(states).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.command(&[b"SET", self.key.as_bytes(), &json])
            .map(drop)
    }
}
