//! The demo's simulated dependencies: healthy, failing, slow and recovering in a 30 s
//! cycle, shifted per dependency and seed; two of them (`solana-rpc`, `pricing-api`) leave
//! 2% of requests hanging, far beyond the breakers' `call_timeout`. With `--calm` they stay
//! healthy except during the incidents started on demand (see `incidents`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::incidents::{Incident, Incidents, picked};

/// A simulated dependency whose health changes in phases.
pub struct Dependency {
    name: &'static str,
    started: Instant,
    /// Where in its 30 s cycle this dependency starts.
    shift: u64,
    /// Share of requests that hang (never answer before the call timeout).
    hang_probability: f64,
    seed: AtomicU64,
    incidents: Arc<Incidents>,
    /// The share of requests that fail in the near-threshold incident: 90% of the
    /// breaker's failure-rate threshold.
    near_share: f64,
    /// Requests made, for the incidents' fixed patterns.
    requests: AtomicU64,
}

/// Share of requests that hang, for the dependencies that sometimes hang.
pub fn hang_probability(name: &str) -> f64 {
    match name {
        "solana-rpc" | "pricing-api" => 0.02,
        _ => 0.0,
    }
}

/// How long a hung request takes: far beyond any call timeout.
const HANG: Duration = Duration::from_secs(5);

/// How a dependency behaves during one phase.
#[derive(Debug, Clone, Copy)]
pub struct Phase {
    pub name: &'static str,
    pub failure_probability: f64,
    pub latency: Duration,
}

impl Dependency {
    /// A dependency named `name`; `seed` picks its random outcomes and its phase shift;
    /// `failure_rate_threshold` is its breaker's (for the near-threshold incident).
    pub fn new(
        name: &'static str,
        seed: u64,
        incidents: Arc<Incidents>,
        failure_rate_threshold: f64,
    ) -> Self {
        let mixed = seed
            .wrapping_add(name.len() as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Dependency {
            name,
            started: Instant::now(),
            shift: (mixed >> 32).wrapping_add(name.len() as u64 * 7) % 30,
            hang_probability: hang_probability(name),
            // xorshift must not start at 0
            seed: AtomicU64::new(mixed | 1),
            incidents,
            near_share: 0.9 * failure_rate_threshold,
            requests: AtomicU64::new(0),
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

    /// The phase now: healthy, failing, slow and recovering in a 30 s cycle, shifted per
    /// dependency and seed so they do not all fail at once, nor in lockstep across replicas.
    pub fn phase(&self) -> Phase {
        if self.incidents.calm() {
            return Phase {
                name: "calm",
                failure_probability: 0.0,
                latency: Duration::from_millis(2),
            };
        }
        let (name, failure_probability, ms) =
            match (self.started.elapsed().as_secs() + self.shift) % 30 {
                0..=9 => ("healthy", 0.02, 2),
                10..=16 => ("failing", 0.9, 1),
                17..=22 => ("slow", 0.05, 40),
                _ => ("recovering", 0.1, 3),
            };
        Phase {
            name,
            failure_probability,
            latency: Duration::from_millis(ms),
        }
    }

    /// One request to the dependency; some hang, in any phase, when it sometimes hangs.
    pub async fn request(&self) -> Result<u32, String> {
        let phase = self.phase();
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let on = |incident| self.incidents.on_breaker(incident, self.name);
        let hangs = if on(Incident::Timeouts) {
            picked(n, 0.2)
        } else {
            !self.incidents.calm()
                && self.hang_probability > 0.0
                && self.random() < self.hang_probability
        };
        if hangs {
            tokio::time::sleep(HANG).await;
        }
        tokio::time::sleep(phase.latency).await;
        let fails = if on(Incident::StuckProbe) {
            true
        } else if on(Incident::FleetTrip) {
            picked(n, 0.8)
        } else if on(Incident::NearThreshold) {
            picked(n, self.near_share)
        } else if on(Incident::Flapping) {
            // 1 s failing in every 6 s.
            self.started.elapsed().as_millis() % 6_000 < 1_000
        } else {
            self.random() < phase.failure_probability
        };
        if fails {
            Err(format!("{} is {}", self.name, phase.name))
        } else {
            Ok(200)
        }
    }
}
