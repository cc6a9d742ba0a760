//! Config presets for the dependencies a service usually has, and for the HTTP edge.
//!
//! Every preset lists all of its values; a field not named in the table of a preset has
//! the [`Default`](Config::default) value. Adjust a preset with
//! [`Config::into_builder`].
//!
//! | field | default | database | cache | rpc | external_api | edge |
//! |---|---|---|---|---|---|---|
//! | failure_threshold | 5 | 10 | 5 | 5 | 3 | 50 |
//! | success_threshold | 3 | 3 | 3 | 3 | 3 | 3 |
//! | reset_timeout | 30 s | 60 s | 10 s | 30 s | 60 s | 15 s |
//! | half_open_max_calls | 3 | 3 | 3 | 3 | 5 | 10 |
//! | window | 60 s time | 60 s time | 60 s time | 60 s time | 60 s time | 60 s time |
//! | window_buckets | 10 | 10 | 10 | 10 | 10 | 10 |
//! | min_calls | 10 | 10 | 10 | 10 | 10 | 50 |
//! | failure_rate_threshold | 0.5 | 0.7 | 0.5 | 0.5 | 0.4 | 0.9 |
//! | slow_call_duration | 5 s | 10 s | 2 s | 5 s | 5 s | 1 h |
//! | slow_call_rate_threshold | 0.5 | 0.5 | 0.5 | 0.5 | 0.5 | 1.0 |
//! | backoff_factor | 1.0 | 1.0 | 1.0 | 1.0 | 1.0 | 1.0 |
//! | max_reset_timeout | 10 × reset | 10 × reset | 10 × reset | 10 × reset | 10 × reset | 10 × reset |
//! | reset_jitter | 0 | 0 | 0 | 0 | 0 | 0 |
//! | half_open_timeout | 60 s | 60 s | 60 s | 60 s | 60 s | 60 s |
//! | call_timeout | none | 15 s | 1 s | 10 s | 10 s | none |
//!
//! The default config has no call timeout, so that code written before `call_timeout`
//! existed behaves as it did; every dependency preset has one, above its slow-call
//! duration for the database, RPC and HTTP presets (a slow call is a warning, a timed-out
//! call a failure) and below it for the cache (a cache that takes a second is no cache).

use std::time::Duration;

use super::{Config, preset};

impl Config {
    /// For a relational database: 10 consecutive failures, 70% failure rate, 60 s reset
    /// timeout, calls slower than 10 s are slow, calls longer than 15 s time out. Every
    /// other field has its default value (the full table is in the crate's `presets`
    /// documentation and in the README).
    #[doc(alias = "postgres")]
    pub fn database() -> Self {
        preset(
            Config::builder()
                .failure_threshold(10)
                .failure_rate_threshold(0.7)
                .reset_timeout(Duration::from_secs(60))
                .slow_call_duration(Duration::from_secs(10))
                .call_timeout(Duration::from_secs(15)),
        )
    }

    /// For a cache such as Redis: 5 consecutive failures, 10 s reset timeout, calls slower
    /// than 2 s are slow, calls longer than 1 s time out (so a hung cache trips the breaker
    /// in about five seconds instead of never). Every other field has its default value.
    #[doc(alias = "redis")]
    pub fn cache() -> Self {
        preset(
            Config::builder()
                .failure_threshold(5)
                .reset_timeout(Duration::from_secs(10))
                .slow_call_duration(Duration::from_secs(2))
                .call_timeout(Duration::from_secs(1)),
        )
    }

    /// For an RPC node (e.g. a Solana RPC endpoint): 30 s reset timeout, calls slower than
    /// 5 s are slow, calls longer than 10 s time out. Every other field has its default
    /// value.
    #[doc(alias = "solana")]
    pub fn rpc() -> Self {
        preset(
            Config::builder()
                .reset_timeout(Duration::from_secs(30))
                .slow_call_duration(Duration::from_secs(5))
                .call_timeout(Duration::from_secs(10)),
        )
    }

    /// For a third-party HTTP API: 3 consecutive failures, 40% failure rate, 60 s reset
    /// timeout, 5 half-open trial calls, calls slower than 5 s are slow, calls longer than
    /// 10 s time out. Every other field has its default value.
    pub fn external_api() -> Self {
        preset(
            Config::builder()
                .failure_threshold(3)
                .failure_rate_threshold(0.4)
                .reset_timeout(Duration::from_secs(60))
                .half_open_max_calls(5)
                .call_timeout(Duration::from_secs(10)),
        )
    }

    /// For the HTTP edge: a breaker per route of your own service (the tower layer).
    ///
    /// A route is slow because a dependency is; the dependency's breaker should trip and
    /// be named, not the route's. So the edge preset never trips on slow calls (slow
    /// calls are those over an hour, and only a rate of 100% would trip) and its failure
    /// thresholds are loose: 50 consecutive failures, or 90% of at least 50 calls in the
    /// window; 15 s reset timeout; 10 half-open trials; no call timeout (each dependency
    /// call has its own). Every other field has its default value.
    ///
    /// ```
    /// let edge = breakerbox::Config::edge();
    /// assert_eq!(edge.slow_call_rate_threshold(), 1.0);
    /// assert_eq!(edge.call_timeout(), None);
    /// ```
    pub fn edge() -> Self {
        preset(
            Config::builder()
                .failure_threshold(50)
                .failure_rate_threshold(0.9)
                .min_calls(50)
                .reset_timeout(Duration::from_secs(15))
                .half_open_max_calls(10)
                .slow_call_duration(Duration::from_secs(3600))
                .slow_call_rate_threshold(1.0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid_and_matches_the_table() {
        let presets = [
            ("database", Config::database(), Some(15)),
            ("cache", Config::cache(), Some(1)),
            ("rpc", Config::rpc(), Some(10)),
            ("external_api", Config::external_api(), Some(10)),
            ("edge", Config::edge(), None),
        ];
        for (name, cfg, timeout) in presets {
            let rebuilt = cfg.clone().into_builder().build();
            assert_eq!(rebuilt.as_ref(), Ok(&cfg), "{name}");
            assert_eq!(
                cfg.call_timeout(),
                timeout.map(Duration::from_secs),
                "{name}"
            );
        }
        assert_eq!(Config::default().call_timeout(), None);
    }
}
