//! A Prometheus scrape of many breakers: `observe::prometheus::render` (poll timeouts of
//! every breaker, the recorder's upkeep, the text format) with 1,000 and 10,000 breakers
//! registered, each called once per outcome and one in ten forced open and reset, so that
//! the histogram and transition series are populated as in a service; and 10,000 breakers
//! with fewer duration histograms (`DurationHistogram::SuccessAndFailure`, `Off`).
//!
//! The breakers are built as an application that serves `render` builds them (inside
//! `prometheus::with_local_recorder`, like under `prometheus::install_recorder`), except
//! in `breakers_10000_plain`: built under a plain `metrics::with_local_recorder`, so they
//! also register their histograms with the recorder, which renders them.
//!
//! Before measuring, it prints the exposition's size: series (sample lines) per breaker
//! and bytes per breaker; and the time of the exporter's own part of one scrape
//! (`PrometheusHandle::render`) with the sample lines it writes per breaker (the rest
//! breakerbox writes from the breakers). `scripts/bench.sh` runs it and prints the table.

use std::hint::black_box;
use std::time::Duration;

use breakerbox::observe::prometheus;
use breakerbox::{CircuitBreaker, Config, DurationHistogram, Outcome, Registry};
use criterion::{Criterion, criterion_group, criterion_main};
use metrics_exporter_prometheus::PrometheusHandle;

/// A registry of `n` breakers bound to a fresh recorder with the crate's buckets, each
/// with the duration histograms `histogram` says; built served by `render` only, or,
/// when `plain`, under a plain local recorder.
fn service(n: usize, histogram: DurationHistogram, plain: bool) -> (Registry, PrometheusHandle) {
    let recorder = prometheus::builder().build_recorder();
    let handle = recorder.handle();
    let registry = Registry::new();
    registry.set_duration_histogram(histogram);
    let scope = |f: &mut dyn FnMut()| {
        if plain {
            metrics::with_local_recorder(&recorder, f)
        } else {
            prometheus::with_local_recorder(&recorder, f)
        }
    };
    scope(&mut || {
        prometheus::describe_metrics();
        for i in 0..n {
            let b = registry
                .breaker(&format!("dependency-{i:06}"), Config::default())
                .expect("valid breaker");
            exercise(&b, i % 10 == 0);
        }
    });
    (registry, handle)
}

fn exercise(b: &CircuitBreaker, trip: bool) {
    let _ = b.call_sync(|| Ok::<_, ()>(()));
    let _ = b.call_sync(|| Err::<(), _>(()));
    let _ = b.call_sync_with(|_| Outcome::Ignore, || Err::<(), _>(()));
    if trip {
        b.force_open();
        let _ = b.call_sync(|| Ok::<_, ()>(()));
        b.reset();
    }
}

fn render(c: &mut Criterion) {
    let mut g = c.benchmark_group("render");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    for (n, histogram, suffix) in [
        (1_000usize, DurationHistogram::ByOutcome, ""),
        (10_000, DurationHistogram::ByOutcome, ""),
        (
            10_000,
            DurationHistogram::SuccessAndFailure,
            "_success_and_failure",
        ),
        (10_000, DurationHistogram::Off, "_no_histogram"),
        (10_000, DurationHistogram::ByOutcome, "_plain"),
    ] {
        let id = format!("breakers_{n}{suffix}");
        let (registry, handle) = service(n, histogram, suffix == "_plain");
        let text = prometheus::render(&handle, &registry);
        let series = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count();
        println!(
            "{id}: {} bytes, {series} series: {:.1} series and {} bytes per breaker",
            text.len(),
            series as f64 / n as f64,
            text.len() / n
        );
        let t = std::time::Instant::now();
        registry.poll_timeouts();
        let poll = t.elapsed();
        let t = std::time::Instant::now();
        handle.run_upkeep();
        let upkeep = t.elapsed();
        let t = std::time::Instant::now();
        let exporter = black_box(handle.render());
        let exporter_time = t.elapsed();
        let exporter_series = exporter
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count();
        println!(
            "{id}: poll {poll:?}, upkeep {upkeep:?}, exporter's render {exporter_time:?} \
             ({:.1} of the sample lines per breaker)",
            exporter_series as f64 / n as f64
        );
        g.bench_function(id, |b| {
            b.iter(|| black_box(prometheus::render(&handle, &registry)))
        });
    }
    g.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
