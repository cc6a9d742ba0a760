//! Threads racing one breaker: the config the contention tests share, and the cheap
//! per-thread random numbers that pick each call's outcome.

use std::thread;
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, ManualClock};

/// Trips after 4 failures (or a 50% failure rate over at least 20 of the last 100
/// calls), probes after 5 ms with 2 trial calls and closes after 2 successes: under
/// contention the breaker cycles through every state many times.
pub fn contention_config() -> Config {
    Config::builder()
        .failure_threshold(4)
        .min_calls(20)
        .window_size(100)
        .reset_timeout(Duration::from_millis(5))
        .success_threshold(2)
        .half_open_max_calls(2)
        .build()
        .unwrap()
}

/// A xorshift generator, one per thread (seeded by the thread's number).
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (not 0).
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The generator of thread `t`.
    pub fn for_thread(t: u64) -> Rng {
        Rng(0x9E37_79B9 + t * 7919)
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `threads` threads make `calls` calls each through `b`, with outcomes picked at random:
/// successes, failures, ignored calls and dropped permits, and with `slow` some successes
/// that take 3 ms on `clock`; a rejected call advances `clock` by 1 ms, so the breaker
/// keeps cycling. Returns when every thread is done.
pub fn random_calls(b: &CircuitBreaker, clock: &ManualClock, threads: u64, calls: u64, slow: bool) {
    let callers: Vec<_> = (0..threads)
        .map(|t| {
            let (b, clock) = (b.clone(), clock.clone());
            thread::spawn(move || {
                let mut rng = Rng::for_thread(t);
                for _ in 0..calls {
                    let x = rng.next();
                    match b.try_acquire() {
                        Ok(p) => match x % 10 {
                            5 if slow => {
                                clock.advance(Duration::from_millis(3));
                                p.success()
                            }
                            0..=5 => p.success(),
                            6..=7 => p.failure(),
                            8 => p.ignore(),
                            _ => drop(p),
                        },
                        Err(_) => clock.advance(Duration::from_millis(1)),
                    }
                }
            })
        })
        .collect();
    for t in callers {
        t.join().unwrap();
    }
}
