//! Config presets for the dependencies a service usually has, and for the HTTP edge. The
//! table of every preset's values is in the crate documentation (section "Presets"), kept
//! in step with the test `every_preset_is_valid_and_matches_the_table` below.

use std::time::Duration;

use super::{Config, preset};

impl Config {
    /// For a relational database: 10 consecutive failures, 70% failure rate, 60 s reset
    /// timeout, calls slower than 10 s are slow, calls longer than 15 s time out. Every
    /// other field has its default value (every value: the [crate docs](crate#presets)).
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
    /// in about five seconds instead of never). Every other field has its default value
    /// (every value: the [crate docs](crate#presets)).
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

    /// For an RPC node (e.g. a Solana RPC endpoint): 30 s reset timeout that doubles on
    /// each trip without recovery up to 5 minutes, each spread by ±20% jitter; calls
    /// slower than 5 s are slow, calls longer than 10 s time out. Every other field has
    /// its default value (every value: the [crate docs](crate#presets)).
    ///
    /// An RPC node that fails is usually overloaded, rate-limiting or behind the chain, and
    /// every replica of a service talks to the same few nodes: probing it at a fixed pace,
    /// all replicas at once, keeps it down. So the open time grows (as Resilience4j's
    /// exponential `waitIntervalFunctionInOpenState` and Polly's `BreakDurationGenerator`
    /// do) and is jittered, so a fleet does not probe in lockstep; a client with a second
    /// node fails over meanwhile.
    ///
    /// ```
    /// use breakerbox::Config;
    /// use std::time::Duration;
    ///
    /// let rpc = Config::rpc();
    /// let open_times: Vec<u64> = (1..=5).map(|trip| rpc.reset_timeout_for(trip).as_secs()).collect();
    /// assert_eq!(open_times, [30, 60, 120, 240, 300]); // before jitter
    /// assert_eq!(rpc.reset_jitter(), 0.2);
    /// assert_eq!(rpc.call_timeout(), Some(Duration::from_secs(10)));
    /// ```
    #[doc(alias = "solana")]
    pub fn rpc() -> Self {
        preset(
            Config::builder()
                .reset_timeout(Duration::from_secs(30))
                .backoff_factor(2.0)
                .reset_jitter(0.2)
                .slow_call_duration(Duration::from_secs(5))
                .call_timeout(Duration::from_secs(10)),
        )
    }

    /// For a third-party HTTP API: 3 consecutive failures, 40% failure rate, 60 s reset
    /// timeout, 5 half-open trial calls, calls slower than 5 s are slow, calls longer than
    /// 10 s time out. Every other field has its default value (every value: the
    /// [crate docs](crate#presets)).
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
    /// call has its own). Every other field has its default value (every value: the
    /// [crate docs](crate#presets)).
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

    /// The rows of the crate docs' table that differ between presets; no preset is the
    /// default under another name.
    #[test]
    fn every_preset_is_valid_and_matches_the_table() {
        type Row = (u32, u64, u32, u32, f64, u64, f64, Option<u64>);
        let presets: [(&str, Config, Row); 6] = [
            (
                "default",
                Config::default(),
                (5, 30, 3, 10, 0.5, 5, 0.5, None),
            ),
            (
                "database",
                Config::database(),
                (10, 60, 3, 10, 0.7, 10, 0.5, Some(15)),
            ),
            (
                "cache",
                Config::cache(),
                (5, 10, 3, 10, 0.5, 2, 0.5, Some(1)),
            ),
            ("rpc", Config::rpc(), (5, 30, 3, 10, 0.5, 5, 0.5, Some(10))),
            (
                "external_api",
                Config::external_api(),
                (3, 60, 5, 10, 0.4, 5, 0.5, Some(10)),
            ),
            (
                "edge",
                Config::edge(),
                (50, 15, 10, 50, 0.9, 3600, 1.0, None),
            ),
        ];
        for (name, cfg, _) in &presets[1..] {
            assert_ne!(
                cfg,
                &Config::default(),
                "{name} must differ from the default"
            );
        }
        for (name, cfg, row) in presets {
            let rebuilt = cfg.clone().into_builder().build();
            assert_eq!(rebuilt.as_ref(), Ok(&cfg), "{name}");
            let actual: Row = (
                cfg.failure_threshold(),
                cfg.reset_timeout().as_secs(),
                cfg.half_open_max_calls(),
                cfg.min_calls(),
                cfg.failure_rate_threshold(),
                cfg.slow_call_duration().as_secs(),
                cfg.slow_call_rate_threshold(),
                cfg.call_timeout().map(|d| d.as_secs()),
            );
            assert_eq!(actual, row, "{name}");
            assert_eq!(cfg.success_threshold(), 3, "{name}");
            let (backoff, jitter) = if name == "rpc" {
                (2.0, 0.2)
            } else {
                (1.0, 0.0)
            };
            assert_eq!(
                (cfg.backoff_factor(), cfg.reset_jitter()),
                (backoff, jitter),
                "{name}"
            );
            assert_eq!(cfg.max_reset_timeout(), cfg.reset_timeout() * 10, "{name}");
            assert_eq!(
                cfg.window(),
                crate::WindowKind::Time(Duration::from_secs(60))
            );
        }
    }
}
