//! The lifetime counter series (`breakerbox_calls_total`, `breakerbox_slow_calls_total`)
//! are published from the breaker's striped totals by `prometheus::render` and by the
//! eager timer's tick, and counted per call only until a breaker is first published: exact
//! counts, series at 0 from the start, and no recorder atomic touched per call once
//! scraped.
#![cfg(all(feature = "prometheus", feature = "rt-tokio", feature = "test-util"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::support::drive::*;
use crate::support::prom_text::*;
use breakerbox::observe::names;
use breakerbox::observe::prometheus::{self, PrometheusHandle};
use breakerbox::{CallTotals, CircuitBreaker, Config, ManualClock, Registry};

use crate::support::contention::{contention_config, random_calls};

const RAN: [&str; 4] = ["success", "failure", "ignored", "timeout"];

/// `breakerbox_calls_total` of `breaker` by outcome (rejected last), and
/// `breakerbox_slow_calls_total` by outcome, as rendered in `text`.
fn counters(text: &str, breaker: &str) -> ([f64; 5], [f64; 4]) {
    let samples = parse(text);
    let get = |name: &str, outcome: &str| {
        value(
            &samples,
            name,
            &[("breaker", breaker), ("outcome", outcome)],
        )
        .unwrap_or_else(|| panic!("{name}{{outcome={outcome}}} of {breaker} is rendered"))
    };
    let calls = [RAN[0], RAN[1], RAN[2], RAN[3], "rejected"].map(|o| get(names::CALLS_TOTAL, o));
    let slow = RAN.map(|o| get(names::SLOW_CALLS_TOTAL, o));
    (calls, slow)
}

/// What the counters must show for lifetime totals `t` (no call timed out here).
fn expected(t: &CallTotals) -> ([f64; 5], f64) {
    let calls = [t.successes, t.failures, t.ignored, 0, t.rejected].map(|v| v as f64);
    (calls, t.slow as f64)
}

fn stress_config() -> Config {
    contention_config()
        .into_builder()
        .slow_call_duration(Duration::from_millis(2))
        .build()
        .unwrap()
}

/// N threads x M calls with random outcomes (some slow, some rejected) while another
/// thread renders in a loop: every render shows at most the true totals, and the render
/// after the threads finish shows exactly the breaker's totals, summing to N x M.
#[test]
fn rendered_counters_are_exact_after_threads_x_calls_racing_renders() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 20_000;
    let (rec, handle) = recorder();
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let b = metrics::with_local_recorder(&rec, || {
        registry.breaker("scraped", stress_config()).unwrap()
    });
    // Before the first call: every series exists, at 0.
    let (calls, slow) = counters(&prometheus::render(&handle, &registry), "scraped");
    assert_eq!((calls, slow), ([0.0; 5], [0.0; 4]), "born at 0");

    let done = Arc::new(AtomicBool::new(false));
    let renderer = {
        let (handle, registry, b, done) =
            (handle.clone(), registry.clone(), b.clone(), done.clone());
        thread::spawn(move || {
            let mut renders = 0u32;
            while !done.load(Ordering::Relaxed) || renders < 3 {
                let (calls, _) = counters(&prometheus::render(&handle, &registry), "scraped");
                let t = b.snapshot().totals;
                let (bound, _) = expected(&t);
                for (shown, max) in calls.iter().zip(bound) {
                    assert!(*shown <= max, "a render never runs ahead: {calls:?} {t:?}");
                }
                renders += 1;
            }
        })
    };
    random_calls(&b, &clock, THREADS, CALLS, true);
    done.store(true, Ordering::Relaxed);
    renderer.join().unwrap();

    let (calls, slow) = counters(&prometheus::render(&handle, &registry), "scraped");
    let t = b.snapshot().totals;
    let (want, want_slow) = expected(&t);
    assert_eq!(calls, want, "exact after the calls");
    assert_eq!(slow.iter().sum::<f64>(), want_slow, "slow calls exact");
    assert_eq!(calls.iter().sum::<f64>(), (THREADS * CALLS) as f64);
    assert!(
        t.rejected > 0 && t.slow > 0,
        "the workload tripped and was slow"
    );
}

/// Once rendered, a breaker's calls no longer touch the recorder's counters: the plain
/// exporter render (no publish) keeps the last published values, and the next
/// `prometheus::render` shows the new totals.
#[test]
fn after_the_first_render_calls_leave_the_counters_to_the_renders() {
    let (rec, handle) = recorder();
    let registry = Registry::new();
    let b = metrics::with_local_recorder(&rec, || {
        registry.breaker("lazy", Config::default()).unwrap()
    });
    let ok = || drop(b.call_sync(|| Ok::<(), ()>(())));
    ok();
    // Not yet rendered: counted per call, as an exporter with no hook needs.
    assert_eq!(counters(&handle.render(), "lazy").0[0], 1.0);
    assert_eq!(
        counters(&prometheus::render(&handle, &registry), "lazy").0[0],
        1.0
    );
    ok();
    ok();
    assert_eq!(
        counters(&handle.render(), "lazy").0[0],
        1.0,
        "no per-call increment once published"
    );
    assert_eq!(
        counters(&prometheus::render(&handle, &registry), "lazy").0[0],
        3.0
    );
}

/// A breaker removed and built again under its name continues its counters: they never go
/// back.
#[test]
fn a_breaker_built_again_continues_the_counters_of_the_removed_one() {
    let (rec, handle) = recorder();
    let registry = Registry::new();
    let build = || {
        metrics::with_local_recorder(&rec, || {
            registry.breaker("again", Config::default()).unwrap()
        })
    };
    let b = build();
    for _ in 0..5 {
        drop(b.call_sync(|| Ok::<(), ()>(())));
    }
    assert_eq!(
        counters(&prometheus::render(&handle, &registry), "again").0[0],
        5.0
    );
    registry.remove("again");
    let b = build();
    drop(b.call_sync(|| Ok::<(), ()>(())));
    assert_eq!(
        counters(&prometheus::render(&handle, &registry), "again").0[0],
        6.0
    );
}

/// Other exporters: the eager timer's tick publishes the counters. Between ticks they
/// show the last tick's totals.
#[tokio::test(start_paused = true)]
async fn the_timer_tick_publishes_the_counters_for_other_exporters() {
    let (rec, handle) = recorder();
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let b: CircuitBreaker =
        metrics::with_local_recorder(&rec, || registry.breaker("ticked", config()).unwrap());
    let timer = registry.spawn_timer(secs(1));
    tokio::time::sleep(Duration::from_millis(1500)).await; // one tick: published from now on
    let shown = |h: &PrometheusHandle| counters(&h.render(), "ticked");
    for _ in 0..7 {
        drop(b.call_sync(|| Ok::<(), ()>(())));
    }
    drop(b.call_sync(|| Err::<(), ()>(())));
    assert_eq!(
        shown(&handle).0[..2],
        [0.0, 0.0],
        "not per call after a tick"
    );
    tokio::time::sleep(secs(1)).await;
    assert_eq!(shown(&handle).0[..2], [7.0, 1.0], "the next tick publishes");
    drop(timer);
}
