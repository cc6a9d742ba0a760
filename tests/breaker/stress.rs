//! Concurrency claims checked with exact counts, not asserted in prose.

#![cfg(feature = "test-util")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, Event, ManualClock, Outcome, State};

use crate::support::contention::{Rng, contention_config};

#[derive(Default)]
struct Tally {
    success: AtomicU64,
    failure: AtomicU64,
    ignored: AtomicU64,
    rejected: AtomicU64,
}

#[test]
fn every_call_is_counted_exactly_once_under_contention() {
    const THREADS: u64 = 2;
    const CALLS: u64 = 1_000_000;
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("stress")
        .config(contention_config())
        .clock(clock.clone())
        .build()
        .unwrap();
    let tally = Arc::new(Tally::default());
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let b = b.clone();
            let clock = clock.clone();
            let tally = tally.clone();
            thread::spawn(move || {
                let mut rng = Rng::for_thread(t);
                for _ in 0..CALLS {
                    let r = rng.next();
                    match b.try_acquire() {
                        Ok(p) => match r % 10 {
                            0..=5 => {
                                p.success();
                                tally.success.fetch_add(1, Ordering::Relaxed);
                            }
                            6..=7 => {
                                p.failure();
                                tally.failure.fetch_add(1, Ordering::Relaxed);
                            }
                            8 => {
                                p.ignore();
                                tally.ignored.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {
                                drop(p);
                                tally.ignored.fetch_add(1, Ordering::Relaxed);
                            }
                        },
                        Err(_) => {
                            tally.rejected.fetch_add(1, Ordering::Relaxed);
                            clock.advance(Duration::from_millis(1));
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let s = b.snapshot().totals;
    assert_eq!(s.successes, tally.success.load(Ordering::Relaxed));
    assert_eq!(s.failures, tally.failure.load(Ordering::Relaxed));
    assert_eq!(s.ignored, tally.ignored.load(Ordering::Relaxed));
    assert_eq!(s.rejected, tally.rejected.load(Ordering::Relaxed));
    assert_eq!(s.total(), THREADS * CALLS);
    assert!(
        s.rejected > 0 && s.failures > 0,
        "the run must exercise trips: {s:?}"
    );
}

#[test]
fn half_open_never_admits_more_than_its_limit_across_10000_trips() {
    const MAX: u32 = 3;
    let clock = ManualClock::new();
    let trips = Arc::new(AtomicU64::new(0));
    let trip_counter = trips.clone();
    let b = CircuitBreaker::builder("half-open")
        .config(
            Config::builder()
                .failure_threshold(1)
                .reset_timeout(Duration::from_millis(1))
                .half_open_max_calls(MAX)
                .success_threshold(4)
                .build()
                .unwrap(),
        )
        .clock(clock.clone())
        .listener(move |e: &Event<'_>| {
            if let Event::Transition(t) = e
                && t.to == State::Open
            {
                trip_counter.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build()
        .unwrap();
    // Trials in flight per half-open phase, indexed by epoch.
    let active: Arc<Vec<AtomicU32>> = Arc::new((0..4096).map(|_| AtomicU32::new(0)).collect());
    let worst = Arc::new(AtomicU32::new(0));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (b, clock, trips) = (b.clone(), clock.clone(), trips.clone());
            let (active, worst) = (active.clone(), worst.clone());
            thread::spawn(move || {
                let mut rng = Rng::new(0xDEAD_BEEF + t * 104_729);
                while trips.load(Ordering::Relaxed) < 10_000 {
                    let Ok(p) = b.try_acquire() else {
                        clock.advance(Duration::from_millis(1));
                        continue;
                    };
                    if !p.is_trial() {
                        p.record(if rng.next().is_multiple_of(4) {
                            Outcome::Failure
                        } else {
                            Outcome::Success
                        });
                        continue;
                    }
                    let slot = &active[(p.epoch() % 4096) as usize];
                    let now = slot.fetch_add(1, Ordering::SeqCst) + 1;
                    worst.fetch_max(now, Ordering::SeqCst);
                    thread::yield_now();
                    slot.fetch_sub(1, Ordering::SeqCst);
                    p.record(if rng.next().is_multiple_of(8) {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    });
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(trips.load(Ordering::Relaxed) >= 10_000);
    let worst = worst.load(Ordering::SeqCst);
    assert!(
        worst <= MAX,
        "{worst} trials at once in one half-open phase"
    );
    assert!(
        worst >= 2,
        "the test must produce concurrent trials, saw {worst}"
    );
}
