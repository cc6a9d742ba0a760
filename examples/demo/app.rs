//! The demo service: breakers (presets) around simulated dependencies, `/metrics` for
//! Prometheus, the health/admin API, the eager timer and optional notifications. Shared by
//! the `demo` example and the end-to-end test, so the test proves what the README runs.
//! The simulated dependencies are in `dependency.rs`, the traffic that drives them in
//! `traffic.rs`.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::get;
use breakerbox::fleet::{Fleet, FleetConfig};
use breakerbox::http::BreakerApi;
use breakerbox::limit::{Bulkhead, RateLimit};
use breakerbox::notify::{AlertmanagerNotifier, Dispatcher, RetryPolicy, WebhookNotifier};
use breakerbox::observe::prometheus;
use breakerbox::store::FileStore;
use breakerbox::{CircuitBreaker, Config, Event, Registry, State, TimerHandle};

use crate::incidents::{self, Incidents};

/// What the demo serves and where it reports.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address of `/metrics` and `/api/circuit-breakers/...`.
    pub listen: SocketAddr,
    /// Bearer token of the admin routes (off without one).
    pub admin_token: Option<String>,
    /// Webhook URL for notifications.
    pub webhook: Option<String>,
    /// Alertmanager base URL for notifications.
    pub alertmanager: Option<String>,
    /// Print transitions as they happen.
    pub print_transitions: bool,
    /// JSON file keeping operator state and open deadlines across restarts.
    pub state_file: Option<std::path::PathBuf>,
    /// Seed of the simulated dependencies: their random outcomes and where each starts in
    /// its failure cycle. Replicas with different seeds do not fail in lockstep.
    pub seed: u64,
    /// Fleet mode: the Redis URL the replicas share their breakers through.
    pub redis: Option<String>,
    /// This replica's id in the fleet (and in the terminal table).
    pub replica_id: String,
    /// Healthy dependencies between incidents, which start on demand (`incidents`); no
    /// operator set-up at the first start either (every breaker starts closed).
    pub calm: bool,
}

/// The running demo service.
pub struct Demo {
    pub registry: Registry,
    pub seed: u64,
    pub addr: SocketAddr,
    pub dispatcher: Option<Dispatcher>,
    pub breakers: Vec<CircuitBreaker>,
    pub limits: Limits,
    pub replica_id: String,
    /// Fleet mode, when `--redis` is given (dropping it leaves the fleet).
    pub fleet: Option<Fleet>,
    /// The incidents started on demand (`/demo/incidents/{name}`).
    pub incidents: Arc<Incidents>,
    _timer: TimerHandle,
}

/// The limits in front of two dependencies, named after the breakers they guard (so the
/// breaker dashboard shows them with their breaker).
#[derive(Debug, Clone)]
pub struct Limits {
    /// At most [`RPC_SLOTS`] lookups in flight to the RPC node.
    pub rpc_slots: Bulkhead,
    /// The pricing provider's quota: [`PRICING_QUOTA_PER_SECOND`] calls per second.
    pub pricing_quota: RateLimit,
    /// Calls each limit refused, for the terminal table (Prometheus has them too, in
    /// `breakerbox_limit_rejections_total`).
    pub refused: Arc<Refused>,
}

/// Calls refused by the demo's limits, by the breaker they guard.
#[derive(Debug, Default)]
pub struct Refused {
    pub rpc_slots: AtomicU64,
    pub pricing_quota: AtomicU64,
}

impl Refused {
    /// The refusals of the limit in front of `breaker` (0 for a breaker without one).
    pub fn of(&self, breaker: &str) -> u64 {
        match breaker {
            "solana-rpc" => self.rpc_slots.load(Ordering::Relaxed),
            "pricing-api" => self.pricing_quota.load(Ordering::Relaxed),
            _ => 0,
        }
    }
}

/// Lookups the RPC node's bulkhead admits at once.
pub const RPC_SLOTS: u32 = 4;
/// Lookups a new block fans out at once, more than the bulkhead admits.
pub const BLOCK_FAN_OUT: u32 = 8;
/// The pricing provider's quota, in calls per second (bursts of half as many).
pub const PRICING_QUOTA_PER_SECOND: u32 = 50;
/// How long a call may run before its breaker cancels it (outcome `timeout`).
pub const CALL_TIMEOUT: Duration = Duration::from_millis(100);

impl Limits {
    /// Builds the limits (after the recorder is installed: their series register now).
    ///
    /// # Errors
    /// Never with these constants; the limits' own validation otherwise.
    pub fn new() -> Result<Self, breakerbox::BuildError> {
        Ok(Limits {
            rpc_slots: Bulkhead::new("solana-rpc", RPC_SLOTS)?,
            pricing_quota: RateLimit::per_second(
                "pricing-api",
                PRICING_QUOTA_PER_SECOND,
                PRICING_QUOTA_PER_SECOND / 2,
            )?,
            refused: Arc::default(),
        })
    }
}

/// The presets with timeouts shortened so every state shows up within a minute.
pub fn demo_config(base: Config) -> Config {
    base.into_builder()
        .reset_timeout(Duration::from_secs(3))
        .slow_call_duration(Duration::from_millis(25))
        .call_timeout(CALL_TIMEOUT)
        .failure_window(Duration::from_secs(10))
        .build()
        .expect("valid demo config")
}

/// The demo's breakers: name and config.
pub fn breakers() -> Vec<(&'static str, Config)> {
    vec![
        ("postgres", demo_config(Config::database())),
        ("redis", demo_config(Config::cache())),
        // Backs off (x2 per trip) with jitter, as the preset does.
        ("solana-rpc", demo_config(Config::rpc())),
        ("pricing-api", demo_config(Config::external_api())),
        ("recommendations", demo_config(Config::external_api())),
        ("search", demo_config(Config::default())),
    ]
}

/// Installs the Prometheus recorder (before any breaker is built), builds the breakers,
/// subscribes the notifier and serves the HTTP API.
///
/// # Errors
/// When the recorder is already installed, the address cannot be bound or a notifier URL
/// is invalid.
pub async fn start(opts: Options) -> Result<Demo, Box<dyn std::error::Error + Send + Sync>> {
    let handle = prometheus::install_recorder()?;
    // With a state file from an earlier run, the breakers start as that run left them.
    let first_start = opts.state_file.as_ref().is_none_or(|p| !p.exists());
    let mut registry = Registry::builder();
    if let Some(path) = &opts.state_file {
        registry = registry.state_store(FileStore::new(path));
    }
    let registry = registry.build();
    let dispatcher = notifier(&opts)?;
    if let Some(d) = &dispatcher {
        d.subscribe(&registry);
    }
    let mut list = Vec::new();
    for (name, cfg) in breakers() {
        list.push(registry.breaker(name, cfg)?);
    }
    // A new integration rolled out as a dry run, and one switched off by an operator.
    if first_start && !opts.calm {
        registry.get("recommendations").unwrap().metrics_only();
        registry.get("search").unwrap().disable();
    }
    // After the set-up above: the terminal shows what happens from here on (the banner
    // says how the breakers start).
    if opts.print_transitions {
        registry.subscribe(print_transition);
    }
    let fleet = match &opts.redis {
        Some(url) => Some(Fleet::start(
            &registry,
            FleetConfig::new(url.clone(), opts.replica_id.clone()),
        )?),
        None => None,
    };
    let limits = Limits::new()?;
    let timer = registry.spawn_timer(Duration::from_millis(250));

    let mut api = BreakerApi::new(&registry);
    if let Some(token) = &opts.admin_token {
        api = api.admin_token(token.clone());
    }
    let incidents = Arc::new(Incidents::new(opts.calm));
    let metrics_registry = registry.clone();
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let body = prometheus::render(&handle, &metrics_registry);
                async move { body }
            }),
        )
        .nest("/api/circuit-breakers", api.router())
        .merge(incidents::router(incidents.clone()));
    let listener = tokio::net::TcpListener::bind(opts.listen).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Demo {
        registry,
        seed: opts.seed,
        addr,
        dispatcher,
        breakers: list,
        limits,
        replica_id: opts.replica_id.clone(),
        fleet,
        incidents,
        _timer: timer,
    })
}

fn notifier(
    opts: &Options,
) -> Result<Option<Dispatcher>, Box<dyn std::error::Error + Send + Sync>> {
    if opts.webhook.is_none() && opts.alertmanager.is_none() {
        return Ok(None);
    }
    let mut builder = Dispatcher::builder().retry(
        RetryPolicy::new()
            .attempts(3)
            .backoff(Duration::from_millis(100), Duration::from_secs(1))
            .timeout(Duration::from_secs(2)),
    );
    if let Some(url) = &opts.webhook {
        builder = builder.channel(WebhookNotifier::builder(url.clone()).build()?);
    }
    if let Some(url) = &opts.alertmanager {
        builder = builder.channel(AlertmanagerNotifier::builder(url.clone()).build()?);
    }
    Ok(Some(builder.build()?))
}

fn print_transition(e: &Event<'_>) {
    let rate = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{:.0}%", r * 100.0));
    let (t, change) = match e {
        Event::Transition(t) => (
            *t,
            format!("{:>12} -> {:<12}", t.from.as_str(), t.to.as_str()),
        ),
        // A dry run never opens: it says what it would have done, and keeps serving.
        Event::WouldOpen(t) => (*t, format!("{:>12}    {:<12}", "dry run:", "would open")),
        _ => return,
    };
    println!(
        "  {:<16} {change} reason={:<21} calls={:<4} failure_rate={:<5} slow_rate={:<5}",
        t.breaker,
        t.reason.as_str(),
        t.counts.calls,
        rate(t.failure_rate),
        rate(t.slow_call_rate),
    );
}

/// How every breaker starts, for the banner: the operator states set up before the
/// terminal shows transitions (or restored from the state file).
pub fn starting_states(registry: &Registry) -> String {
    let list: Vec<String> = registry
        .snapshot_all()
        .iter()
        .map(|s| format!("{} {}", s.name, s.state.as_str()))
        .collect();
    list.join(", ")
}

/// A table of every breaker, for the terminal: the window, lifetime outcomes (timeouts
/// apart from the other failures), calls the breaker and its limit refused, when an open
/// breaker probes next, and the reason of the transition into the current state.
pub fn table(registry: &Registry, replica_id: &str, refused: &Refused) -> String {
    let mut out = format!(
        "replica {replica_id}\n{:<16} {:<12} {:>6} {:>5} {:>5} {:>7} {:>7} {:>7} {:>8} {:>7} {:>6}  {}\n",
        "breaker",
        "state",
        "window",
        "fail%",
        "slow%",
        "success",
        "failure",
        "timeout",
        "rejected",
        "limited",
        "probe",
        "why in this state"
    );
    let pct = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{:.0}", r * 100.0));
    for s in registry.snapshot_all() {
        let probe = s
            .retry_after
            .filter(|_| s.state.rejects_calls())
            .map_or("-".to_owned(), |d| format!("{}s", d.as_secs_f64().ceil()));
        // The last transition only when it led into the current state: a state restored
        // from the state file, say, has none of its own.
        let why = s
            .last_transition
            .as_ref()
            .filter(|t| t.to == s.state)
            .map_or("-".to_owned(), |t| {
                let ago = SystemTime::now()
                    .duration_since(t.at)
                    .map_or(0, |d| d.as_secs());
                format!(
                    "{} ({ago}s ago, from {})",
                    t.reason.as_str(),
                    t.from.as_str()
                )
            });
        out.push_str(&format!(
            "{:<16} {:<12} {:>6} {:>5} {:>5} {:>7} {:>7} {:>7} {:>8} {:>7} {:>6}  {}\n",
            s.name,
            s.state.as_str(),
            s.window.calls,
            pct(s.failure_rate),
            pct(s.slow_call_rate),
            s.totals.successes,
            s.totals.failures - s.totals.timeouts,
            s.totals.timeouts,
            s.totals.rejected,
            refused.of(&s.name),
            probe,
            why,
        ));
    }
    out
}

/// Whether `state` is one the demo should show at some point.
pub fn shown(state: State) -> bool {
    State::ALL.contains(&state)
}
