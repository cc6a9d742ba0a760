//! Memory per breaker with the default window, counted by a counting global allocator.
//! One test in this binary, so nothing else allocates while it measures. Run with
//! `--nocapture` to see the numbers (`scripts/bench.sh` does).

use std::alloc::System;
use std::mem::size_of;

use breakerbox::{CircuitBreaker, Registry};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const N: usize = 1_000;

/// Bytes still allocated after `build` ran, per breaker, plus the handle itself.
fn bytes_per_breaker<T>(build: impl Fn(usize) -> T) -> usize {
    let mut kept = Vec::with_capacity(N);
    let region = Region::new(GLOBAL);
    for i in 0..N {
        kept.push(build(i));
    }
    let stats = region.change();
    let live =
        stats.bytes_allocated as isize - stats.bytes_deallocated as isize + stats.bytes_reallocated;
    drop(kept);
    live.max(0) as usize / N + size_of::<T>()
}

#[test]
fn a_breaker_with_the_default_window_takes_under_4_kib() {
    // Warm-up: process-wide lazy state (clock calibration, the metrics facade).
    drop(CircuitBreaker::new("warm-up"));

    let alone = bytes_per_breaker(|i| CircuitBreaker::new(format!("breaker-{i:05}")));
    let registry = Registry::new();
    let in_registry = bytes_per_breaker(|i| {
        registry
            .breaker(&format!("breaker-{i:05}"), breakerbox::Config::default())
            .unwrap()
    });
    println!("memory per breaker (default window): {alone} B alone, {in_registry} B in a registry");

    #[cfg(feature = "prometheus")]
    {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let with_recorder = metrics::with_local_recorder(&recorder, || {
            bytes_per_breaker(|i| CircuitBreaker::new(format!("recorded-{i:05}")))
        });
        println!("memory per breaker (default window): {with_recorder} B with a recorder");
    }

    assert!(alone < 4096, "{alone} bytes per breaker");
    assert!(
        in_registry < 4096,
        "{in_registry} bytes per breaker in a registry"
    );
}
