//! The call path neither allocates nor locks. This binary installs a counting global
//! allocator and holds a single test, so nothing else allocates while it measures.
//!
//! Locks: the engine holds no `Mutex` or `RwLock` (the state is one atomic word, the window
//! is atomics, the config is read through `arc-swap`'s lock-free `load`); the registry's lock
//! is taken only to create or look up a breaker by name, never on a call.

#![cfg(feature = "test-util")]

use std::alloc::System;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, ManualClock, State};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn call_paths_do_not_allocate() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("no-alloc")
        .config(
            Config::builder()
                .failure_threshold(1_000_000)
                .min_calls(1_000_000)
                .build()
                .unwrap(),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    let run = |n: u32| {
        for i in 0..n {
            let r: Result<u32, breakerbox::CallError<()>> =
                b.call_sync(|| if i % 3 == 0 { Err(()) } else { Ok(i) });
            let _ = r;
            let p = b.try_acquire().unwrap();
            p.success();
            drop(b.try_acquire().unwrap());
        }
    };
    run(100); // warm-up: thread-local state and the window's first slots
    // The allocator counts the whole process, and the test harness's own threads may
    // allocate at any moment. A call path that allocated would do so in every run (10,000
    // calls each), so one clean run out of three proves it does not.
    let closed = clean_run(|| run(10_000));
    assert_eq!(closed.allocations, 0, "closed path allocated: {closed:?}");

    b.force_open_for(Duration::from_secs(3600));
    let _ = b.try_acquire(); // warm-up of the rejection path
    // A `BreakerOpen` holds the name as an `Arc<str>`: cloning it is a reference count,
    // not an allocation.
    let rejected = clean_run(|| {
        for _ in 0..10_000 {
            let e = b.try_acquire().unwrap_err();
            assert_eq!(e.state(), State::ForcedOpen);
            drop(e);
        }
    });
    assert_eq!(
        rejected.allocations, 0,
        "rejected path allocated: {rejected:?}"
    );
    #[cfg(feature = "otel")]
    unsampled_calls_under_an_otel_layer(&clock);
}

/// With an OpenTelemetry layer installed, a call the span policy does not choose creates
/// no span, so it allocates nothing either (a span allocates in the layer).
#[cfg(feature = "otel")]
fn unsampled_calls_under_an_otel_layer(clock: &ManualClock) {
    use breakerbox::SpanPolicy;
    use tracing_subscriber::layer::SubscriberExt;

    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber =
        tracing_subscriber::registry().with(breakerbox::observe::otel::layer(&provider));
    let b = CircuitBreaker::builder("no-alloc-otel")
        .span_policy(SpanPolicy::only_what_matters())
        .clock(clock.clone())
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        assert!(tracing::enabled!(target: "breakerbox", tracing::Level::INFO));
        let run = || {
            for i in 0..10_000u32 {
                let r = b.call_sync(|| Ok::<u32, ()>(i));
                assert!(r.is_ok());
            }
        };
        run(); // warm-up
        let unsampled = clean_run(run);
        assert_eq!(
            unsampled.allocations, 0,
            "unsampled call allocated: {unsampled:?}"
        );
        // The same calls with a span each do allocate: the measurement can fail.
        b.set_span_policy(SpanPolicy::all());
        let sampled = clean_run(run);
        assert!(sampled.allocations >= 10_000, "{sampled:?}");
    });
}

/// Runs `f` up to three times; returns the first allocation-free measurement, or the last.
fn clean_run(mut f: impl FnMut()) -> stats_alloc::Stats {
    let mut last = stats_alloc::Stats::default();
    for _ in 0..3 {
        let region = Region::new(GLOBAL);
        f();
        last = region.change();
        if last.allocations == 0 {
            break;
        }
    }
    last
}
