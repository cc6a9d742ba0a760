//! Fleet mode (feature `fleet-redis`): the replicas of a service share their breakers'
//! windows through Redis and agree on trips, with no network hop on the call path.
//!
//! A [`Fleet`] is a background task per [`Registry`]. Each period it publishes every
//! breaker's counts since its last publish (read from the lifetime counters, nothing is
//! added to the call path) and a heartbeat, reads the fleet's view, and decides:
//! - **fleet verdict**: when the sum over live replicas meets the breaker's thresholds
//!   (`min_calls`, failure rate, slow-call rate) and at least `quorum` replicas saw
//!   failures, every replica whose breaker is Closed opens it with [`Reason::Fleet`];
//! - **coordinated probing**: in half-open, trials are admitted only up to the trial
//!   slots (leases in Redis) this replica holds, so the fleet runs at most
//!   `half_open_max_calls` trials at once; a peer's probe result (closed or reopened)
//!   ends the other replicas' half-open round the same way;
//! - **operator actions fan out**: a `force_open`, `force_open_for`, `reset`, `disable`
//!   or `metrics_only` on one replica is appended to a shared log and applied by the
//!   others (as their own operator action, not published again);
//! - **Redis down**: within one period the replica falls back to local decisions and
//!   local half-open limits, sets `breakerbox_fleet_connected` to 0 and logs it; it
//!   rejoins when Redis answers again;
//! - **a key of the wrong type** under the prefix costs only its breaker's fleet view for
//!   the round (counted in `breakerbox_fleet_key_errors_total`, logged once).
//!
//! The model, its guarantees and its limits are in `docs/FLEET.md`.
//!
//! ```no_run
//! # async fn run() -> Result<(), breakerbox::fleet::FleetError> {
//! use breakerbox::Registry;
//! use breakerbox::fleet::{Fleet, FleetConfig};
//!
//! let registry = Registry::new();
//! let fleet = Fleet::start(&registry, FleetConfig::new("redis://127.0.0.1:6379", "api-1"))?;
//! assert_eq!(fleet.replica_id(), "api-1");
//! # Ok(()) }
//! ```
//!
//! [`Reason::Fleet`]: crate::Reason::Fleet

mod config;
mod keys;
mod ops;
mod probe;
mod round;
mod task;
mod verdict;
mod window;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::event::ListenerId;
use crate::registry::{Attachment, Flush, Registry};

pub use config::{FleetConfig, FleetError};

/// A running fleet membership of one [`Registry`]: its background task publishes to and
/// reads from Redis. Dropping the handle stops the task; the breakers then go back to
/// local decisions and local half-open limits. The task holds a handle of the registry
/// until then.
pub struct Fleet {
    registry: Registry,
    listener: ListenerId,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

/// What the task and the handle share.
#[derive(Debug)]
struct Shared {
    config: FleetConfig,
    connected: AtomicBool,
    /// This replica's operator actions, until published.
    outbox: Arc<ops::Outbox>,
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("replica_id", &self.shared.config.replica_id)
            .field("connected", &self.connected())
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// Validates `config` and starts the background task on the current Tokio runtime.
    /// Returns at once: the first connection to Redis is made by the task, so a Redis that
    /// is down at start means local decisions until it comes up. The registry's breakers
    /// get `breakerbox_fleet_connected` at 0 here, so `BreakerboxFleetDisconnected` can
    /// fire even while a first round against a Redis that hangs lasts its whole period (a
    /// breaker added later gets the gauge when the round in progress ends).
    ///
    /// # Errors
    /// A [`FleetError`] for an invalid config, or [`FleetError::NoRuntime`] outside a
    /// Tokio runtime.
    pub fn start(registry: &Registry, config: FleetConfig) -> Result<Fleet, FleetError> {
        let client = config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| FleetError::NoRuntime)?;
        let outbox = Arc::<ops::Outbox>::default();
        let listener = ops::Outbox::listen(registry, outbox.clone());
        let shared = Arc::new(Shared {
            config,
            connected: AtomicBool::new(false),
            outbox,
        });
        // Born at 0: a first round against a Redis that hangs lasts a whole period.
        let breakers = registry.all();
        task::set_gauge(&breakers, false);
        keys::register(&breakers);
        let task = runtime.spawn(task::run(registry.clone(), client, shared.clone()));
        registry.attach(Box::new(Stop {
            task: task.abort_handle(),
            listener,
        }));
        Ok(Fleet {
            registry: registry.clone(),
            listener,
            shared,
            task,
        })
    }

    /// Whether the last exchange with Redis succeeded (fleet decisions are in force).
    pub fn connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    /// This replica's id in the fleet.
    pub fn replica_id(&self) -> &str {
        &self.shared.config.replica_id
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.task.abort();
        leave(&self.registry, self.listener);
    }
}

/// The fleet's side after its task stopped: the operator-action listener unsubscribed,
/// and local half-open limits again (no lease will be granted any more).
fn leave(registry: &Registry, listener: ListenerId) {
    registry.unsubscribe(listener);
    for b in registry.all() {
        b.inner.set_trial_gate(None);
    }
}

/// The fleet as a registry attachment: [`Registry::shutdown`] stops its task and leaves
/// the fleet, as dropping the [`Fleet`] does.
struct Stop {
    task: tokio::task::AbortHandle,
    listener: ListenerId,
}

impl Attachment for Stop {
    fn is_gone(&self) -> bool {
        self.task.is_finished()
    }

    fn stop(&self, registry: &Registry) -> Option<Box<dyn FnOnce(Duration) -> Flush + Send>> {
        self.task.abort();
        leave(registry, self.listener);
        None
    }
}
