//! Shared set-up for the benches: criterion settings, the observation environments
//! (no recorder, a Prometheus recorder with or without the duration histogram, an
//! OpenTelemetry tracing layer sampled or not), the peers, and a timer for N threads
//! sharing one breaker.

#![allow(dead_code)]

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use breakerbox::{CircuitBreaker, Config};
use criterion::{Bencher, Criterion};
use tokio::runtime::Runtime;

/// Short runs: the whole suite must finish in a few minutes on a 2-core machine.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200))
        .sample_size(40)
        .noise_threshold(0.05)
        .configure_from_args()
}

/// Reset timeout long enough that an open breaker stays open for the whole run.
pub const LONG: Duration = Duration::from_secs(3600);

/// The default config, as a user gets it.
pub fn default_config() -> Config {
    Config::default()
}

/// A config that opens on the first failure and stays open for an hour.
pub fn trip_on_first_failure() -> Config {
    Config::builder()
        .failure_threshold(1)
        .reset_timeout(LONG)
        .build()
        .expect("valid config")
}

/// Opens `b` with one failed call.
pub fn trip(b: &CircuitBreaker) {
    let _ = b.call_sync(|| Err::<(), _>("down"));
    assert!(b.try_acquire().is_err(), "the breaker must be open");
}

/// Runs `f(iters)` on each of `threads` threads at once; `f` times its own loop of
/// `iters` calls on whatever it shares with the other threads. Returns the mean time of
/// one thread, so that time / iters is the cost of one call as a caller sees it.
pub fn per_thread<F>(threads: usize, iters: u64, f: F) -> Duration
where
    F: Fn(u64) -> Duration + Sync,
{
    if threads == 1 {
        return f(iters);
    }
    let barrier = Barrier::new(threads);
    let total: Duration = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    f(iters)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total / threads as u32
}

/// Times `f`.
pub fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// Times `iters` calls of `f`, its result through `black_box`. Every sync benchmark uses
/// this loop: criterion's `iter` hands a returned value back through memory in a way that
/// costs about 6 ns here for a 16-byte `Result`, more than some of what is measured.
pub fn run<R>(b: &mut Bencher<'_>, mut f: impl FnMut() -> R) {
    b.iter_custom(|iters| {
        timed(|| {
            for _ in 0..iters {
                let _ = black_box(f());
            }
        })
    });
}

/// The async counterpart of [`run`]: one `block_on` per sample, `iters` awaits inside.
pub fn run_async<F: Future>(b: &mut Bencher<'_>, rt: &Runtime, f: impl Fn() -> F) {
    let f = &f;
    b.to_async(rt).iter_custom(|iters| async move {
        let start = Instant::now();
        for _ in 0..iters {
            let _ = black_box(f().await);
        }
        start.elapsed()
    });
}

/// A current-thread runtime: the benchmark's thread polls every future itself.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

pub mod observe;
pub mod peers;
#[cfg(feature = "fleet-redis")]
pub mod redis;
