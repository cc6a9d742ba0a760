//! breakerbox side by side with failsafe, recloser and tower-resilience-circuitbreaker, in
//! one run: the floor (clock read, atomic add, metric handles), a bare call, the closed
//! path (sync and async), the rejected path, and two threads sharing one breaker; for
//! breakerbox with no recorder, counters into a Prometheus recorder, the duration
//! histogram too, and spans through an OpenTelemetry layer (a span per call, sampled and
//! not; the default span policy; no ordinary call chosen).
//!
//! `scripts/bench.sh` runs it and prints the tables of docs/BENCHMARKS.md.
//!
//! Every benchmark times the same plain loop (`common::run`, `common::run_async`), so the
//! harness costs the same everywhere and the bare call is the loop alone. The span groups
//! come last: once a tracing subscriber has existed in the process, callsites stay
//! registered with it, and the no-subscriber numbers must not depend on that.

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use breakerbox::{CircuitBreaker, Clock, MonotonicClock};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

use common::observe::{Env, Obs};
use common::{peers, per_thread, run, run_async, runtime, timed};

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// What the hot path is made of, measured on this machine.
fn floor(c: &mut Criterion) {
    let mut g = c.benchmark_group("floor");
    g.bench_function("std_instant_now", |b| run(b, Instant::now));
    let clock = MonotonicClock::new();
    g.bench_function("clock_now", |b| run(b, || clock.now()));
    g.bench_function("clock_recent_no_upkeep", |b| run(b, || clock.recent()));
    let upkeep = MonotonicClock::start_upkeep(Duration::from_millis(1)).expect("upkeep");
    g.bench_function("clock_recent_upkeep", |b| run(b, || clock.recent()));
    drop(upkeep);
    let n = AtomicU64::new(0);
    g.bench_function("atomic_add", |b| {
        run(b, || n.fetch_add(black_box(1), Ordering::Relaxed))
    });
    // What a rejection pays for the breaker's name in its `BreakerOpen`.
    let name: std::sync::Arc<str> = "postgres".into();
    g.bench_function("arc_clone_drop", |b| run(b, || name.clone()));
    let swap = ArcSwap::from_pointee(7u64);
    g.bench_function("arc_swap_load", |b| run(b, || **swap.load()));
    let env = Env::new(Obs::Histogram);
    let (counter, histogram) = env.scope(|| {
        (
            metrics::counter!("floor_total", "breaker" => "x"),
            metrics::histogram!("floor_seconds", "breaker" => "x"),
        )
    });
    g.bench_function("metrics_counter", |b| {
        run(b, || counter.increment(black_box(1)))
    });
    g.bench_function("metrics_histogram", |b| {
        b.iter_custom(|iters| {
            let t = timed(|| {
                for _ in 0..iters {
                    histogram.record(black_box(0.000_1));
                }
            });
            env.drain();
            t
        })
    });
    g.finish();
}

/// One breakerbox call per iteration, inside the environment; the recorder is drained
/// between samples, outside the timed loop.
fn bb_sync(g: &mut Group<'_>, id: &str, env: &Env, b: &CircuitBreaker) {
    env.scope(|| {
        g.bench_function(id, |bch| {
            bch.iter_custom(|iters| {
                let t = timed(|| {
                    for _ in 0..iters {
                        let _ = black_box(b.call_sync(|| Ok::<u64, ()>(black_box(1))));
                    }
                });
                env.drain();
                t
            })
        });
    });
}

fn bb_async(g: &mut Group<'_>, rt: &Runtime, env: &Env, b: &CircuitBreaker) {
    env.scope(|| {
        g.bench_function(env.obs.id(), |bch| {
            bch.to_async(rt).iter_custom(|iters| async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let r = b.call(async { Ok::<u64, ()>(black_box(1)) }).await;
                    let _ = black_box(r);
                }
                let t = start.elapsed();
                env.drain();
                t
            })
        });
    });
}

const METRIC_ENVS: [Obs; 3] = [Obs::None, Obs::Counters, Obs::Histogram];
/// Spans on every call (sampled or not by OpenTelemetry), then the span policies: the
/// default (one call in 100) and none chosen (the unsampled ordinary success).
const SPAN_ENVS: [Obs; 4] = [
    Obs::OtelSampled,
    Obs::OtelNotSampled,
    Obs::OtelDefaultPolicy,
    Obs::OtelUnchosen,
];

fn closed_sync_with(c: &mut Criterion, group: &str, envs: &[Obs], peers: bool) {
    let mut g = c.benchmark_group(group);
    if peers {
        g.bench_function("bare", |b| run(b, || Ok::<u64, ()>(black_box(1))));
    }
    if peers {
        // Without the upkeep thread every call is timed with two TSC reads.
        let env = Env::new(Obs::Counters);
        let b = env.breaker("closed_sync", common::default_config());
        bb_sync(&mut g, "breakerbox_counters_no_upkeep", &env, &b);
    }
    // As an application runs it (`MonotonicClock::start_upkeep`, docs/ARCHITECTURE.md):
    // the default `slow_call_duration` (5 s) is then timed with the cached clock, except
    // with a duration histogram.
    let upkeep = MonotonicClock::start_upkeep(Duration::from_millis(1)).expect("upkeep");
    for &obs in envs {
        let env = Env::new(obs);
        let b = env.breaker("closed_sync", common::default_config());
        bb_sync(&mut g, obs.id(), &env, &b);
        assert_eq!(b.snapshot().totals.failures, 0);
    }
    if peers {
        // The permit API: no span is created, the cost of the engine alone.
        let b = CircuitBreaker::new("permit");
        g.bench_function("breakerbox_permit", |bch| {
            run(bch, || {
                if let Ok(p) = b.try_acquire() {
                    p.success();
                }
            })
        });
    }
    drop(upkeep);
    if peers {
        let r = peers::recloser();
        g.bench_function("recloser", |b| {
            run(b, || r.call(|| Ok::<u64, ()>(black_box(1))))
        });
        let f = peers::failsafe_consecutive(5);
        g.bench_function("failsafe_consecutive", |b| {
            run(b, || {
                failsafe::CircuitBreaker::call(&f, || Ok::<u64, ()>(black_box(1)))
            })
        });
        let f = peers::failsafe_default();
        g.bench_function("failsafe_default", |b| {
            run(b, || {
                failsafe::CircuitBreaker::call(&f, || Ok::<u64, ()>(black_box(1)))
            })
        });
    }
    g.finish();
}

fn closed_sync(c: &mut Criterion) {
    closed_sync_with(c, "closed_sync", &METRIC_ENVS, true);
}

/// tower-resilience: `poll_ready` then `call`, with no recorder or a Prometheus recorder.
fn tower_peer(g: &mut Group<'_>, rt: &Runtime, open: bool) {
    for (id, obs) in [
        ("tower_resilience", Obs::None),
        ("tower_resilience_metrics", Obs::Histogram),
    ] {
        let env = Env::new(obs);
        let svc = peers::tower_cb();
        if open {
            rt.block_on(svc.force_open());
        }
        env.scope(|| {
            g.bench_function(id, |b| {
                b.to_async(rt).iter_custom(|iters| {
                    let mut svc = svc.clone();
                    let env = &env;
                    async move {
                        let start = Instant::now();
                        for i in 0..iters {
                            let _ = black_box(peers::tower_call(&mut svc, i).await);
                        }
                        let t = start.elapsed();
                        env.drain();
                        t
                    }
                })
            });
        });
    }
}

fn closed_async_with(c: &mut Criterion, group: &str, envs: &[Obs], peers: bool) {
    let rt = runtime();
    let mut g = c.benchmark_group(group);
    if peers {
        g.bench_function("bare", |b| {
            run_async(b, &rt, || async { Ok::<u64, ()>(black_box(1)) })
        });
    }
    let upkeep = MonotonicClock::start_upkeep(Duration::from_millis(1)).expect("upkeep");
    for &obs in envs {
        let env = Env::new(obs);
        let b = env.breaker("closed_async", common::default_config());
        bb_async(&mut g, &rt, &env, &b);
    }
    drop(upkeep);
    if peers {
        let r = peers::recloser_async();
        g.bench_function("recloser", |b| {
            run_async(b, &rt, || r.call(async { Ok::<u64, ()>(black_box(1)) }))
        });
        let f = peers::failsafe_consecutive(5);
        g.bench_function("failsafe_consecutive", |b| {
            run_async(b, &rt, || {
                failsafe::futures::CircuitBreaker::call(&f, async { Ok::<u64, ()>(black_box(1)) })
            })
        });
        let f = peers::failsafe_default();
        g.bench_function("failsafe_default", |b| {
            run_async(b, &rt, || {
                failsafe::futures::CircuitBreaker::call(&f, async { Ok::<u64, ()>(black_box(1)) })
            })
        });
        tower_peer(&mut g, &rt, false);
    }
    g.finish();
}

fn closed_async(c: &mut Criterion) {
    closed_async_with(c, "closed_async", &METRIC_ENVS, true);
}

fn bb_rejected(g: &mut Group<'_>, id: &str, env: &Env) {
    let b = env.breaker("rejected", common::trip_on_first_failure());
    env.scope(|| common::trip(&b));
    bb_sync(g, id, env, &b);
    assert!(b.snapshot().totals.rejected > 0);
}

fn rejected_with(c: &mut Criterion, group: &str, envs: &[Obs], peers: bool) {
    let mut g = c.benchmark_group(group);
    if peers {
        bb_rejected(&mut g, "breakerbox_no_upkeep", &Env::new(Obs::None));
    }
    // The coarse clock: the open-deadline check reads a cached time instead of the TSC.
    let upkeep = MonotonicClock::start_upkeep(Duration::from_millis(1)).expect("upkeep");
    for &obs in envs {
        bb_rejected(&mut g, obs.id(), &Env::new(obs));
    }
    drop(upkeep);
    if peers {
        let r = peers::recloser_open();
        g.bench_function("recloser", |b| {
            run(b, || r.call(|| Ok::<u64, ()>(black_box(1))))
        });
        let f = peers::failsafe_consecutive(1);
        peers::failsafe_trip(&f);
        g.bench_function("failsafe_consecutive", |b| {
            run(b, || {
                failsafe::CircuitBreaker::call(&f, || Ok::<u64, ()>(black_box(1)))
            })
        });
        tower_peer(&mut g, &runtime(), true);
    }
    g.finish();
}

fn rejected(c: &mut Criterion) {
    rejected_with(c, "rejected", &METRIC_ENVS, true);
}

/// One shared breaker, one and two threads: the time per call each thread sees.
fn contention(c: &mut Criterion) {
    let mut g = c.benchmark_group("contention");
    for threads in [1usize, 2] {
        let upkeep = MonotonicClock::start_upkeep(Duration::from_millis(1)).expect("upkeep");
        for obs in METRIC_ENVS {
            let env = Env::new(obs);
            let b = env.breaker("contention", common::default_config());
            g.bench_function(format!("{}_{threads}t", obs.id()), |bch| {
                bch.iter_custom(|iters| {
                    let t = per_thread(threads, iters, |n| {
                        timed(|| {
                            for _ in 0..n {
                                let _ = black_box(b.call_sync(|| Ok::<u64, ()>(black_box(1))));
                            }
                        })
                    });
                    env.drain();
                    t
                })
            });
        }
        drop(upkeep);
        let r = peers::recloser();
        g.bench_function(format!("recloser_{threads}t"), |bch| {
            bch.iter_custom(|iters| {
                per_thread(threads, iters, |n| {
                    timed(|| {
                        for _ in 0..n {
                            let _ = black_box(r.call(|| Ok::<u64, ()>(black_box(1))));
                        }
                    })
                })
            })
        });
        let f = peers::failsafe_consecutive(5);
        g.bench_function(format!("failsafe_consecutive_{threads}t"), |bch| {
            bch.iter_custom(|iters| {
                per_thread(threads, iters, |n| {
                    timed(|| {
                        for _ in 0..n {
                            let _ = black_box(failsafe::CircuitBreaker::call(&f, || {
                                Ok::<u64, ()>(black_box(1))
                            }));
                        }
                    })
                })
            })
        });
        let svc = peers::tower_cb();
        g.bench_function(format!("tower_resilience_{threads}t"), |bch| {
            bch.iter_custom(|iters| {
                per_thread(threads, iters, |n| {
                    let mut svc = svc.clone();
                    runtime().block_on(async {
                        let start = Instant::now();
                        for i in 0..n {
                            let _ = black_box(peers::tower_call(&mut svc, i).await);
                        }
                        start.elapsed()
                    })
                })
            })
        });
    }
    g.finish();
}

/// The closed path of a breaker whose registry runs a fleet (connected to a real
/// redis-server, period 100 ms) next to one whose registry does not: fleet mode reads the
/// breaker's counters from its own task and adds nothing to the call. Skipped without
/// `redis-server` on the PATH.
#[cfg(feature = "fleet-redis")]
fn fleet(c: &mut Criterion) {
    use breakerbox::Registry;
    use breakerbox::fleet::{Fleet, FleetConfig};
    let Some(redis) = common::redis::Redis::start() else {
        eprintln!("fleet: redis-server is not on the PATH, skipped");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let off = Registry::new();
    let b_off = off.breaker("fleet_off", common::default_config()).unwrap();
    let on = Registry::new();
    let b_on = on.breaker("fleet_on", common::default_config()).unwrap();
    let cfg = FleetConfig::new(redis.url(), "bench").period(Duration::from_millis(100));
    let fleet = {
        let _runtime = rt.enter();
        Fleet::start(&on, cfg).expect("fleet")
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fleet.connected() {
        assert!(Instant::now() < deadline, "the fleet did not connect");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut g = c.benchmark_group("fleet");
    g.bench_function("closed_sync_fleet_off", |b| {
        run(b, || b_off.call_sync(|| Ok::<u64, ()>(black_box(1))))
    });
    g.bench_function("closed_sync_fleet_on", |b| {
        run(b, || b_on.call_sync(|| Ok::<u64, ()>(black_box(1))))
    });
    g.finish();
    assert!(fleet.connected(), "measured while connected");
    drop(fleet);
}

#[cfg(not(feature = "fleet-redis"))]
fn fleet(_: &mut Criterion) {}

/// Spans last (see the module docs).
fn spans(c: &mut Criterion) {
    closed_sync_with(c, "spans_closed_sync", &SPAN_ENVS, false);
    closed_async_with(c, "spans_closed_async", &SPAN_ENVS, false);
    // A rejection is always a span, whatever the policy.
    rejected_with(c, "spans_rejected", &SPAN_ENVS[..2], false);
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = floor, closed_sync, closed_async, rejected, contention, fleet, spans
}
criterion_main!(benches);
