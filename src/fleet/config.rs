//! [`FleetConfig`] and its validation errors.

use std::time::Duration;

/// How a replica joins its fleet: the Redis URL, its id, the period and the quorum.
///
/// ```
/// use std::time::Duration;
/// use breakerbox::fleet::FleetConfig;
///
/// let cfg = FleetConfig::new("redis://127.0.0.1:6379", "api-1")
///     .period(Duration::from_millis(500))
///     .quorum(3);
/// assert_eq!(cfg.quorum, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetConfig {
    /// The Redis URL, e.g. `redis://127.0.0.1:6379` (no TLS).
    pub url: String,
    /// This replica's id, unique in the fleet: no whitespace and no `:`.
    pub replica_id: String,
    /// How often the replica publishes and reads the fleet's view (default 1 s). A replica
    /// is live while its heartbeat, refreshed each period, is younger than 3 periods.
    pub period: Duration,
    /// Replicas that must have seen failures for a fleet verdict (default 2).
    pub quorum: u32,
    /// The prefix of every Redis key (default `breakerbox`), so fleets can share a Redis.
    pub key_prefix: String,
    /// The fleet window of breakers with a count-based window (a time-based window uses
    /// its own length): default 10 periods.
    pub count_window: Option<Duration>,
}

impl FleetConfig {
    /// A config with the defaults: period 1 s, quorum 2, key prefix `breakerbox`.
    pub fn new(url: impl Into<String>, replica_id: impl Into<String>) -> FleetConfig {
        FleetConfig {
            url: url.into(),
            replica_id: replica_id.into(),
            period: Duration::from_secs(1),
            quorum: 2,
            key_prefix: "breakerbox".into(),
            count_window: None,
        }
    }

    /// Sets the period.
    pub fn period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }

    /// Sets the quorum.
    pub fn quorum(mut self, quorum: u32) -> Self {
        self.quorum = quorum;
        self
    }

    /// Sets the key prefix.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Sets the fleet window of count-based breakers.
    pub fn count_window(mut self, window: Duration) -> Self {
        self.count_window = Some(window);
        self
    }

    /// The heartbeat's time to live: 3 periods, saturating.
    pub(crate) fn heartbeat_ttl(&self) -> Duration {
        self.period.saturating_mul(3)
    }

    /// Checks every field and opens the Redis client (no connection yet).
    pub(crate) fn validate(&self) -> Result<redis::Client, FleetError> {
        if self.period.is_zero() {
            return Err(FleetError::ZeroPeriod);
        }
        if self.quorum == 0 {
            return Err(FleetError::ZeroQuorum);
        }
        if self.count_window.is_some_and(|w| w.is_zero()) {
            return Err(FleetError::ZeroCountWindow);
        }
        let bad_id = |s: &str| s.is_empty() || s.chars().any(|c| c.is_whitespace() || c == ':');
        if bad_id(&self.replica_id) {
            return Err(FleetError::InvalidReplicaId(self.replica_id.clone()));
        }
        if bad_id(&self.key_prefix) {
            return Err(FleetError::InvalidKeyPrefix(self.key_prefix.clone()));
        }
        redis::Client::open(self.url.as_str()).map_err(|e| FleetError::InvalidUrl(e.to_string()))
    }
}

/// A fleet config that cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FleetError {
    /// The Redis URL does not parse (the client's message).
    InvalidUrl(String),
    /// `period` is zero.
    ZeroPeriod,
    /// `quorum` is zero.
    ZeroQuorum,
    /// `count_window` is zero.
    ZeroCountWindow,
    /// `replica_id` is empty or holds whitespace or `:`.
    InvalidReplicaId(String),
    /// `key_prefix` is empty or holds whitespace or `:`.
    InvalidKeyPrefix(String),
    /// [`Fleet::start`](super::Fleet::start) was called outside a Tokio runtime.
    NoRuntime,
}

impl std::fmt::Display for FleetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FleetError::InvalidUrl(e) => write!(f, "invalid redis url: {e}"),
            FleetError::ZeroPeriod => f.write_str("fleet period must not be zero"),
            FleetError::ZeroQuorum => f.write_str("fleet quorum must not be zero"),
            FleetError::ZeroCountWindow => f.write_str("fleet count_window must not be zero"),
            FleetError::InvalidReplicaId(id) => write!(f, "invalid replica id {id:?}"),
            FleetError::InvalidKeyPrefix(p) => write!(f, "invalid key prefix {p:?}"),
            FleetError::NoRuntime => f.write_str("fleet must start inside a tokio runtime"),
        }
    }
}

impl std::error::Error for FleetError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configs_are_typed_errors() {
        let ok = FleetConfig::new("redis://127.0.0.1:1", "a");
        assert!(ok.validate().is_ok());
        let cases = [
            (ok.clone().period(Duration::ZERO), FleetError::ZeroPeriod),
            (ok.clone().quorum(0), FleetError::ZeroQuorum),
            (
                ok.clone().count_window(Duration::ZERO),
                FleetError::ZeroCountWindow,
            ),
            (
                FleetConfig::new("redis://x", "a b"),
                FleetError::InvalidReplicaId("a b".into()),
            ),
            (
                ok.clone().key_prefix("a:b"),
                FleetError::InvalidKeyPrefix("a:b".into()),
            ),
        ];
        for (cfg, err) in cases {
            assert_eq!(cfg.validate().unwrap_err(), err);
        }
        assert!(matches!(
            FleetConfig::new("nope://", "a").validate(),
            Err(FleetError::InvalidUrl(_))
        ));
    }

    #[test]
    fn the_heartbeat_ttl_saturates() {
        let cfg = FleetConfig::new("redis://x", "a").period(Duration::MAX);
        assert_eq!(cfg.heartbeat_ttl(), Duration::MAX);
    }
}
