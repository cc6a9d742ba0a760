//! Incidents on demand, for seeing each alert fire and resolve. With `--calm` the demo's
//! dependencies stay healthy (no failure cycle, no hangs, no operator force-opens, no block
//! fan-out, callers under the pricing quota), so nothing fires until an incident starts:
//!
//! ```sh
//! curl -X POST   localhost:9464/demo/incidents/timeouts   # start
//! curl -X DELETE localhost:9464/demo/incidents/timeouts   # stop
//! curl           localhost:9464/demo/incidents            # the active ones
//! ```
//!
//! Each incident acts on one breaker's dependency or caller. Failures and hangs follow a
//! fixed pattern (evenly spread, never more in a row than the share needs), not chance, so
//! an incident meant to stay below a trip threshold never trips by bad luck.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};

/// An incident the demo can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incident {
    /// `redis`: one request in five hangs past the call timeout (BreakerboxCallTimeouts).
    Timeouts,
    /// `postgres`: failures at 90% of the breaker's failure-rate threshold, closed
    /// (BreakerboxFailureRateNearThreshold).
    NearThreshold,
    /// `postgres`: fails until its breaker opens, then its caller stops calling, so the
    /// breaker moves to half-open and no trial call ever comes (BreakerboxHalfOpenStuck).
    /// Stopping it resumes healthy calls: the trial succeeds and the breaker closes.
    StuckProbe,
    /// `recommendations`: fails for 1 s every 6 s, so its breaker trips, recovers and
    /// trips again (BreakerboxFlapping).
    Flapping,
    /// `solana-rpc`: a new block fans out lookups every second, more than its bulkhead
    /// admits (BreakerboxBulkheadSaturated).
    Bulkhead,
    /// `pricing-api`: its caller asks faster than the quota (BreakerboxRateLimited).
    RateLimit,
    /// `postgres`, in fleet mode: its caller slows to one call every
    /// [`FLEET_TRIP_PAUSE`](crate::traffic::FLEET_TRIP_PAUSE) and 4 calls in 5 fail (never
    /// more than 4 in a row), so no replica's own window reaches `min_calls` nor its
    /// consecutive-failure threshold, while the fleet's window does: only a fleet verdict
    /// opens it (reason `fleet`, with the fleet's numbers).
    FleetTrip,
}

impl Incident {
    /// Every incident.
    pub const ALL: [Incident; 7] = [
        Incident::Timeouts,
        Incident::NearThreshold,
        Incident::StuckProbe,
        Incident::Flapping,
        Incident::Bulkhead,
        Incident::RateLimit,
        Incident::FleetTrip,
    ];

    /// The incident's name in the URL.
    pub fn name(self) -> &'static str {
        match self {
            Incident::Timeouts => "timeouts",
            Incident::NearThreshold => "near-threshold",
            Incident::StuckProbe => "stuck-probe",
            Incident::Flapping => "flapping",
            Incident::Bulkhead => "bulkhead",
            Incident::RateLimit => "rate-limit",
            Incident::FleetTrip => "fleet-trip",
        }
    }

    /// The breaker it acts on.
    pub fn breaker(self) -> &'static str {
        match self {
            Incident::Timeouts => "redis",
            Incident::NearThreshold | Incident::StuckProbe | Incident::FleetTrip => "postgres",
            Incident::Flapping => "recommendations",
            Incident::Bulkhead => "solana-rpc",
            Incident::RateLimit => "pricing-api",
        }
    }

    fn parse(name: &str) -> Option<Incident> {
        Incident::ALL.into_iter().find(|i| i.name() == name)
    }
}

/// Whether the demo runs calm, and which incidents are on. Shared by the dependencies,
/// the callers and the routes.
#[derive(Debug, Default)]
pub struct Incidents {
    calm: bool,
    on: [AtomicBool; 7],
}

impl Incidents {
    /// No incident on; `calm`: healthy dependencies between incidents.
    pub fn new(calm: bool) -> Incidents {
        Incidents {
            calm,
            ..Incidents::default()
        }
    }

    /// Whether the demo runs calm.
    pub fn calm(&self) -> bool {
        self.calm
    }

    /// Whether `incident` is on.
    pub fn on(&self, incident: Incident) -> bool {
        self.on[incident as usize].load(Ordering::Relaxed)
    }

    /// Whether an incident acting on `breaker` is on.
    pub fn on_breaker(&self, incident: Incident, breaker: &str) -> bool {
        incident.breaker() == breaker && self.on(incident)
    }

    fn set(&self, incident: Incident, on: bool) {
        self.on[incident as usize].store(on, Ordering::Relaxed);
        let verb = if on { "started" } else { "stopped" };
        tracing::warn!(target: "demo::incident", breaker = incident.breaker(), "incident {} {verb}", incident.name());
    }

    /// The names of the incidents that are on.
    pub fn active(&self) -> Vec<&'static str> {
        Incident::ALL
            .into_iter()
            .filter(|i| self.on(*i))
            .map(Incident::name)
            .collect()
    }
}

/// Whether call number `n` is one of the share `share` (0 to 1) spread evenly: `n` is
/// picked when `floor((n + 1) * share)` passes an integer.
pub fn picked(n: u64, share: f64) -> bool {
    let at = |k: u64| (k as f64 * share).floor();
    at(n + 1) > at(n)
}

/// `GET /demo/incidents` (the active ones), `POST` and `DELETE /demo/incidents/{name}`.
pub fn router(incidents: std::sync::Arc<Incidents>) -> Router {
    async fn list(State(i): State<std::sync::Arc<Incidents>>) -> axum::Json<Vec<&'static str>> {
        axum::Json(i.active())
    }
    async fn start(
        State(i): State<std::sync::Arc<Incidents>>,
        Path(name): Path<String>,
    ) -> StatusCode {
        toggle(&i, &name, true)
    }
    async fn stop(
        State(i): State<std::sync::Arc<Incidents>>,
        Path(name): Path<String>,
    ) -> StatusCode {
        toggle(&i, &name, false)
    }
    fn toggle(i: &Incidents, name: &str, on: bool) -> StatusCode {
        match Incident::parse(name) {
            Some(incident) => {
                i.set(incident, on);
                StatusCode::NO_CONTENT
            }
            None => StatusCode::NOT_FOUND,
        }
    }
    Router::new()
        .route("/demo/incidents", get(list))
        .route("/demo/incidents/{name}", post(start).delete(stop))
        .with_state(incidents)
}

#[cfg(test)]
mod tests {
    use super::picked;

    #[test]
    fn picked_spreads_a_share_evenly() {
        let n = (0..1000).filter(|n| picked(*n, 0.63)).count();
        assert_eq!(n, 630);
        let runs = (0..1000)
            .filter(|n| picked(*n, 0.2) && picked(n + 1, 0.2))
            .count();
        assert_eq!(runs, 0);
    }
}
