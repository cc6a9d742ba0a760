//! The breaker itself: every transition, config validation and presets, a reference model
//! (property test), robustness against extreme inputs, exact counts under contention, the
//! metric-name contract, and `Send + Sync` of the public types. One test binary (one link)
//! for all of them.

#[path = "../support/mod.rs"]
mod support;

mod coarse_timing;
mod config;
mod contract;
mod half_open_timeout;
mod model;
mod rate_limit_extremes;
mod robustness;
mod send_sync;
mod stress;
mod transitions;

/// Proptest's config running `cases` cases, with the seeds of past failures kept next to
/// the test's source (`model.rs`: `model.proptest-regressions`, committed). Proptest's
/// default would look in `tests/proptest-regressions/` once the source is a module of a
/// `main.rs`.
#[cfg(feature = "test-util")]
fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    use proptest::test_runner::FileFailurePersistence;
    proptest::test_runner::Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..proptest::test_runner::Config::default()
    }
}
