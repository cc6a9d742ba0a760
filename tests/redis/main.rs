//! Against a real redis-server: fleet mode (breakers that agree across replicas through
//! Redis) and an axum handler whose Redis dies and comes back. One test binary for both.
//!
//! Needs `redis-server` on the PATH (Debian package `redis-server`); each test starts its
//! own on 127.0.0.1 and a free port, stopped by PID, also when the test panics.

#[path = "../support/mod.rs"]
mod support;

mod fleet;
mod fleet_keys;
mod fleet_scale;
mod fleet_upgrade;
mod fleet_window;
mod redis_breaker;

/// The process-wide metrics recorder and log subscriber the fleet's task reports to (it
/// runs on the runtime's worker threads), installed once for every test of this binary.
/// Tests tell their series and lines apart by breaker and replica names of their own.
#[cfg(all(feature = "fleet-redis", feature = "metrics", feature = "tracing"))]
fn globals() -> &'static (metrics_util::debugging::Snapshotter, support::logs::Logs) {
    static GLOBALS: std::sync::OnceLock<(
        metrics_util::debugging::Snapshotter,
        support::logs::Logs,
    )> = std::sync::OnceLock::new();
    GLOBALS.get_or_init(|| {
        let logs = support::logs::Logs::default();
        tracing::subscriber::set_global_default(logs.subscriber()).expect("one subscriber");
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::set_global_recorder(recorder).expect("one recorder");
        (snapshotter, logs)
    })
}
