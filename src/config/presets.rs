//! Presets for common dependencies.

use std::time::Duration;

use super::{Config, ConfigBuilder};

impl Config {
    /// For a relational database: 10 consecutive failures, 70% failure rate, 60 s reset
    /// timeout, calls slower than 10 s are slow.
    pub fn database() -> Self {
        preset(
            Config::builder()
                .failure_threshold(10)
                .failure_rate_threshold(0.7)
                .reset_timeout(Duration::from_secs(60))
                .slow_call_duration(Duration::from_secs(10)),
        )
    }

    /// For a cache such as Redis: 5 consecutive failures, 10 s reset timeout, calls slower
    /// than 2 s are slow.
    pub fn cache() -> Self {
        preset(
            Config::builder()
                .failure_threshold(5)
                .reset_timeout(Duration::from_secs(10))
                .slow_call_duration(Duration::from_secs(2)),
        )
    }

    /// For an RPC node (e.g. a Solana RPC endpoint): 30 s reset timeout, calls slower than
    /// 5 s are slow.
    pub fn rpc() -> Self {
        preset(
            Config::builder()
                .reset_timeout(Duration::from_secs(30))
                .slow_call_duration(Duration::from_secs(5)),
        )
    }

    /// For a third-party HTTP API: 3 consecutive failures, 40% failure rate, 60 s reset
    /// timeout, 5 half-open trial calls.
    pub fn external_api() -> Self {
        preset(
            Config::builder()
                .failure_threshold(3)
                .failure_rate_threshold(0.4)
                .reset_timeout(Duration::from_secs(60))
                .half_open_max_calls(5),
        )
    }
}

fn preset(b: ConfigBuilder) -> Config {
    // Presets are constant and valid by construction; `validate` is covered by tests.
    Config { b }
}
