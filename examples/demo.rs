//! A few breakers around simulated flaky dependencies, printing every transition with its
//! reason and window numbers as it happens.
//!
//! Run: `cargo run --example demo` (add `-- --seconds 60` for a longer run).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use breakerbox::{CallError, CircuitBreaker, Config, Event, Registry};

/// A simulated dependency whose health changes in phases.
struct Dependency {
    name: &'static str,
    started: Instant,
    seed: AtomicU64,
}

impl Dependency {
    fn new(name: &'static str) -> Self {
        Dependency {
            name,
            started: Instant::now(),
            seed: AtomicU64::new(name.len() as u64 * 0x9E37_79B9 + 1),
        }
    }

    fn random(&self) -> f64 {
        let mut x = self.seed.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.store(x, Ordering::Relaxed);
        (x % 10_000) as f64 / 10_000.0
    }

    /// Failure probability and latency for the current phase: healthy, failing, slow,
    /// recovering, in a 24 s cycle shifted per dependency.
    fn phase(&self) -> (&'static str, f64, Duration) {
        let shift = (self.name.len() as u64 * 5) % 24;
        match (self.started.elapsed().as_secs() + shift) % 24 {
            0..=7 => ("healthy", 0.02, Duration::from_millis(2)),
            8..=13 => ("failing", 0.9, Duration::from_millis(1)),
            14..=17 => ("slow", 0.05, Duration::from_millis(40)),
            _ => ("recovering", 0.1, Duration::from_millis(3)),
        }
    }

    async fn request(&self) -> Result<u32, String> {
        let (phase, p_fail, latency) = self.phase();
        tokio::time::sleep(latency).await;
        if self.random() < p_fail {
            Err(format!("{} is {phase}", self.name))
        } else {
            Ok(200)
        }
    }
}

fn demo_config(base: Config) -> Config {
    // The presets with timeouts shortened so every state shows up within a minute.
    base.into_builder()
        .reset_timeout(Duration::from_secs(3))
        .slow_call_duration(Duration::from_millis(25))
        .failure_window(Duration::from_secs(10))
        .build()
        .expect("valid demo config")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);

    let registry = Registry::new();
    registry.subscribe(|e: &Event<'_>| {
        if let Event::Transition(t) = e {
            let rate = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{:.0}%", r * 100.0));
            println!(
                "{:<10} {:>12} -> {:<10} reason={:<22} calls={:<4} failure_rate={:<5} slow_rate={:<5} open_for={:?}",
                t.breaker,
                t.from.as_str(),
                t.to.as_str(),
                t.reason.as_str(),
                t.counts.calls,
                rate(t.failure_rate),
                rate(t.slow_call_rate),
                t.open_for.unwrap_or_default(),
            );
        }
    });

    let deps: Vec<(CircuitBreaker, Arc<Dependency>)> = vec![
        (
            registry.breaker("postgres", demo_config(Config::database()))?,
            Arc::new(Dependency::new("postgres")),
        ),
        (
            registry.breaker("redis", demo_config(Config::cache()))?,
            Arc::new(Dependency::new("redis")),
        ),
        (
            registry.breaker("solana-rpc", demo_config(Config::rpc()))?,
            Arc::new(Dependency::new("solana-rpc")),
        ),
        (
            registry.breaker("pricing-api", demo_config(Config::external_api()))?,
            Arc::new(Dependency::new("pricing-api")),
        ),
    ];

    println!(
        "driving {} breakers for {seconds}s; transitions as they happen:",
        deps.len()
    );
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (breaker, dep) in deps {
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match breaker.call(dep.request()).await {
                    Ok(_) | Err(CallError::Inner(_)) => {}
                    Err(CallError::Rejected(_)) => {
                        tokio::time::sleep(Duration::from_millis(20)).await
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }

    println!(
        "\n{:<12} {:<10} {:>8} {:>8} {:>8} {:>8}",
        "breaker", "state", "success", "failure", "rejected", "slow"
    );
    for s in registry.snapshot_all() {
        println!(
            "{:<12} {:<10} {:>8} {:>8} {:>8} {:>8}",
            s.name,
            s.state.as_str(),
            s.totals.successes,
            s.totals.failures,
            s.totals.rejected,
            s.totals.slow
        );
    }
    Ok(())
}
