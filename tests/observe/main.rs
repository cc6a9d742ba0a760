//! Observability: exact metric values from a debugging recorder, the Prometheus rendering
//! (counters at scrape, the one-hot state gauge, scrapes racing operator actions, the eager
//! timer), hostile breaker names read back by real parsers, `promtool check metrics` on
//! the exporter's output, spans and span policies as
//! OpenTelemetry receives them, and end to end: the demo, a real Prometheus with the
//! shipped rules, Alertmanager, the dashboards' queries; two replicas in fleet mode with a
//! real Redis, the fleet panels.
//!
//! One test binary, so one link; and the end-to-end test, which mostly waits on the alert
//! rules' one-minute clocks, runs while the other tests of the binary use the CPU.

#[path = "../support/mod.rs"]
mod support;

mod counters_at_scrape;
mod debugging;
mod e2e;
mod e2e_fleet;
mod e2e_incidents;
mod label_values;
mod prometheus;
mod promtool;
mod scrape;
mod span_policy;
mod spans;
mod timer;

/// Calls are slow after 10 s and time out after 2 s (so a timed-out call is not slow by
/// its duration alone).
#[cfg(all(feature = "otel", feature = "test-util"))]
fn slow_after_10s_timeout_after_2s() -> breakerbox::Config {
    use std::time::Duration;
    breakerbox::Config::builder()
        .slow_call_duration(Duration::from_secs(10))
        .call_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}
