//! # breakerbox
//!
//! An observability-first circuit breaker. Wrap calls to a database, a cache, an RPC node
//! or an external API in a named breaker: it fails fast while the dependency is sick,
//! probes it in half-open, and closes again when it recovers. Every call, rejection and
//! transition is a Prometheus metric (through the `metrics` facade) and a `tracing` span
//! (exportable to OpenTelemetry), and every transition carries the reason and the window
//! numbers that caused it.
//!
//! ## Quick start
//! ```
//! use breakerbox::{CallError, Config, Registry};
//!
//! # async fn fetch_user(id: u32) -> Result<String, std::io::Error> { Ok(format!("user {id}")) }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let registry = Registry::new();
//! // 10 failures in a row or 70% of the window trip it; calls over 15 s are cancelled.
//! let db = registry.breaker("postgres", Config::database())?;
//!
//! match db.call(fetch_user(7)).await {
//!     Ok(user) => println!("{user}"),
//!     Err(CallError::Rejected(open)) => println!("{open}; retry in {:?}", open.retry_after()),
//!     Err(CallError::Timeout(t)) => println!("{t}"),
//!     Err(CallError::Inner(e)) => println!("query failed: {e}"),
//!     Err(e) => println!("{e}"),
//! }
//! # Ok::<(), breakerbox::RegistryError>(())
//! # }).unwrap();
//! ```
//!
//! ## Semantics
//! - **Closed → Open** when `failure_threshold` consecutive failures occur, or, once the
//!   window holds `min_calls` calls, when the failure rate or the slow-call rate reaches its
//!   threshold (a rate *equal* to the threshold trips; a call is slow when it runs
//!   *strictly longer* than `slow_call_duration`).
//! - **Open → HalfOpen** after the reset timeout (optionally growing by a backoff factor on
//!   repeated trips, with jitter), on the next call or through
//!   [`CircuitBreaker::poll_timeouts`].
//! - **HalfOpen** admits at most `half_open_max_calls` trials at once; `success_threshold`
//!   successes close it; a failed or slow trial reopens it.
//! - An outcome counts in the state epoch its call was admitted in: a call that started
//!   before a trip is not a half-open trial. Every operator action starts a new epoch and
//!   is a reported transition, also on the state the breaker is already in (a reset of a
//!   Closed breaker is `closed -> closed`, reason `manual`).
//! - A dry run ([`CircuitBreaker::metrics_only`]) keeps its window through a
//!   would-have-opened trip, and reports a would-open at most once per reset timeout.
//! - Operator states: [`CircuitBreaker::disable`], [`CircuitBreaker::force_open`],
//!   [`CircuitBreaker::force_open_for`] (expires into HalfOpen, never straight to Closed),
//!   [`CircuitBreaker::metrics_only`] (dry run) and [`CircuitBreaker::reset`].
//!
//! Each transition has a [`Reason`]; when two triggers fire on the same call the reason is
//! the first in [`Reason::ALL`].
//!
//! ## Presets
//! Every value of every preset; a preset is a starting point, adjust it with
//! [`Config::into_builder`].
//!
//! | field | default | [`database`](Config::database) | [`cache`](Config::cache) (Redis) | [`rpc`](Config::rpc) (Solana) | [`external_api`](Config::external_api) | [`edge`](Config::edge) |
//! |---|---|---|---|---|---|---|
//! | failure_threshold | 5 | 10 | 5 | 5 | 3 | 50 |
//! | success_threshold | 3 | 3 | 3 | 3 | 3 | 3 |
//! | reset_timeout | 30 s | 60 s | 10 s | 30 s | 60 s | 15 s |
//! | half_open_max_calls | 3 | 3 | 3 | 3 | 5 | 10 |
//! | window | 60 s (time) | 60 s | 60 s | 60 s | 60 s | 60 s |
//! | window_buckets | 10 | 10 | 10 | 10 | 10 | 10 |
//! | min_calls | 10 | 10 | 10 | 10 | 10 | 50 |
//! | failure_rate_threshold | 0.5 | 0.7 | 0.5 | 0.5 | 0.4 | 0.9 |
//! | slow_call_duration | 5 s | 10 s | 2 s | 5 s | 5 s | 1 h |
//! | slow_call_rate_threshold | 0.5 | 0.5 | 0.5 | 0.5 | 0.5 | 1.0 |
//! | backoff_factor | 1.0 | 1.0 | 1.0 | 2.0 | 1.0 | 1.0 |
//! | max_reset_timeout | 10 × reset_timeout | same | same | same (5 min) | same | same |
//! | reset_jitter | 0 | 0 | 0 | 0.2 | 0 | 0 |
//! | half_open_timeout | 60 s | 60 s | 60 s | 60 s | 60 s | 60 s |
//! | call_timeout | none | 15 s | 1 s | 10 s | 10 s | none |
//!
//! The default has no call timeout, so code written before `call_timeout` existed behaves
//! as it did; each dependency preset has one (above its slow-call duration for the
//! database, RPC and HTTP presets; below it for the cache, which is no cache at a second).
//! The RPC preset backs off: its open time doubles on each trip without recovery, up to
//! 5 minutes, with ±20% jitter, so a fleet of replicas does not keep an overloaded node
//! down by probing it in lockstep.
//! The edge preset is for per-route breakers of your own HTTP service: it never trips on
//! slow calls, so the dependency's breaker trips and is named, not the route's.
//!
//! ## Testing without sleeping
//! ```
//! # #[cfg(feature = "test-util")] {
//! use breakerbox::{CircuitBreaker, Config, ManualClock, State};
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! let b = CircuitBreaker::builder("api")
//!     .config(Config::builder().failure_threshold(1).build().unwrap())
//!     .clock(clock.clone())
//!     .build()
//!     .unwrap();
//! let _ = b.call_sync(|| Err::<(), _>("down"));
//! assert_eq!(b.state(), State::Open);
//! clock.advance(Duration::from_secs(30));
//! let _ = b.call_sync(|| Ok::<_, ()>(()));
//! assert_eq!(b.state(), State::HalfOpen);
//! # }
//! ```
//!
//! ## Feature flags
//! | feature | default | what it adds |
//! |---|---|---|
//! | `metrics` | yes | Prometheus-style metrics through the `metrics` facade |
//! | `tracing` | yes | `breakerbox.call` spans (every call that matters, 1 in 100 fast successes by default: [`SpanPolicy`]), transition events and logs |
//! | `serde` | no | (de)serializable [`Config`] with human-readable durations |
//! | `test-util` | no | `ManualClock` for tests without sleeps |
//! | `persist` | no | `store::FileStore`: operator state and open deadlines in a JSON file, across restarts |
//! | `fleet-redis` | no | `fleet::Fleet`: breakers that agree across replicas through Redis (verdicts with a quorum, coordinated probing), off the call path |
//! | `rt-tokio` | no | the eager timer task; cancelling async calls at their `call_timeout` |
//! | `limit` | no | a bulkhead (concurrency limit) and a rate limit (`breakerbox::limit`) |
//! | `prometheus` | no | helpers that install a Prometheus recorder and exporter |
//! | `otel` | no | helpers that build an OpenTelemetry tracing layer |
//! | `tower` | no | a tower `Layer` answering 503 when a breaker is open, `UNAVAILABLE` with a retry pushback to gRPC (`breakerbox::http`) |
//! | `axum` | no | health and admin routes (`http::BreakerApi`) |
//! | `notify` | no | the notification dispatcher and the `Notifier` trait (`breakerbox::notify`) |
//! | `notify-email`, `notify-webhook` | no | email (SMTP), webhook/Slack and Alertmanager channels |
//! | `reqwest` | no | a `reqwest-middleware` middleware with one breaker per upstream host (`breakerbox::reqwest`) |
//! | `tonic` | no | a gRPC client layer over a tonic `Channel`, classified by gRPC status (`breakerbox::tonic`) |
//! | `full` | no | everything |
//!
//! ## State that survives a restart
//! A registry built with a [`store::StateStore`] (the embedded one is `store::FileStore`,
//! feature `persist`) starts each breaker in its persisted state: forced open for the rest
//! of its TTL, disabled, metrics-only, or Open until its deadline. Transitions are saved
//! by a background thread, never on the call path. See [`store`].
//!
//! ```
//! # #[cfg(feature = "persist")] {
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("breakers.json");
//! let registry = breakerbox::Registry::builder()
//!     .state_store(breakerbox::store::FileStore::new(path))
//!     .build();
//! # let _ = registry;
//! # }
//! ```
//!
//! ## Guides
//! The repository's `docs/` folder has the metric and span contract (`METRICS.md`), the
//! alert runbooks (`ALERTS.md`), the HTTP edge (`HTTP.md`), outbound clients through
//! reqwest and tonic (`CLIENTS.md`), notifications (`NOTIFY.md`),
//! persistence across restarts (`PERSISTENCE.md`), the engine's design (`ARCHITECTURE.md`)
//! and the benchmarks (`BENCHMARKS.md`).

#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod breaker;
mod clock;
mod config;
mod error;
mod error_chain;
mod event;
mod fallback;
#[cfg(feature = "fleet-redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "fleet-redis")))]
pub mod fleet;
#[cfg(doctest)]
mod guides;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod http;
#[cfg(feature = "limit")]
#[cfg_attr(docsrs, doc(cfg(feature = "limit")))]
pub mod limit;
mod limited;
mod name;
#[cfg(feature = "notify")]
#[cfg_attr(docsrs, doc(cfg(feature = "notify")))]
pub mod notify;
pub mod observe;
mod registry;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest;
mod state;
pub mod store;
mod stripe;
mod sync;
mod time;
#[cfg(feature = "rt-tokio")]
mod timer;
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub mod tonic;
#[cfg(any(feature = "axum", feature = "notify"))]
mod view;
mod window;

pub use breaker::{
    CallTotals, CircuitBreaker, CircuitBreakerBuilder, OwnedPermit, Permit, Snapshot,
    TransitionCount,
};
#[cfg(any(test, feature = "test-util"))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub use clock::ManualClock;
pub use clock::{COARSE_TIMING_FACTOR, Clock, MonotonicClock, UpkeepHandle};
pub use config::{Config, ConfigBuilder, MAX_HALF_OPEN_COUNT, MAX_WINDOW_BUCKETS, WindowKind};
pub use error::{BreakerOpen, BuildError, CallError, CallTimeout, ConfigError, RegistryError};
pub use event::{Event, FleetNumbers, Listener, ListenerId, Outcome, Transition};
pub use fallback::Fallback;
pub use limited::{LimitReason, Limited};
pub use name::{MAX_NAME_LEN, NameError, NameProblem};
pub use observe::{DurationBuckets, DurationHistogram, SpanPolicy, Successes};
pub use registry::{Registry, RegistryBuilder, ShutdownReport};
pub use state::{FallbackReason, Reason, State};
#[cfg(feature = "rt-tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "rt-tokio")))]
pub use timer::{MIN_TIMER_PERIOD, TimerHandle};
pub use window::WindowCounts;
