//! The demo service: breakers (presets) around simulated dependencies, `/metrics` for
//! Prometheus, the health/admin API, the eager timer and optional notifications. Shared by
//! the `demo` example and the end-to-end test, so the test proves what the README runs.
//!
//! Two dependencies sometimes hang: `solana-rpc` and `pricing-api` leave 2% of requests
//! unanswered, and the breakers' `call_timeout` cancels them (outcome `timeout`). The RPC
//! node's lookups hold a slot of a bulkhead of 4, and a new block fans out 8 lookups at once,
//! so the bulkhead refuses some; the pricing API's quota is a rate limit of 50 calls per
//! second, and a refused, rejected, failed or timed-out quote falls back to the last known
//! price.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use breakerbox::http::BreakerApi;
use breakerbox::limit::{Bulkhead, RateLimit};
use breakerbox::notify::{AlertmanagerNotifier, Dispatcher, RetryPolicy, WebhookNotifier};
use breakerbox::observe::prometheus;
use breakerbox::store::FileStore;
use breakerbox::{
    CallError, CircuitBreaker, Config, Event, Fallback, Registry, State, TimerHandle,
};

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
}

/// The running demo service.
pub struct Demo {
    pub registry: Registry,
    pub seed: u64,
    pub addr: SocketAddr,
    pub dispatcher: Option<Dispatcher>,
    pub breakers: Vec<CircuitBreaker>,
    pub limits: Limits,
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
    pub fn new() -> Result<Self, breakerbox::ConfigError> {
        Ok(Limits {
            rpc_slots: Bulkhead::new("solana-rpc", RPC_SLOTS)?,
            pricing_quota: RateLimit::per_second(
                "pricing-api",
                PRICING_QUOTA_PER_SECOND,
                PRICING_QUOTA_PER_SECOND / 2,
            )?,
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
        (
            "solana-rpc",
            demo_config(Config::rpc())
                .into_builder()
                .backoff_factor(2.0)
                .build()
                .unwrap(),
        ),
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
    if opts.print_transitions {
        registry.subscribe(print_transition);
    }
    let dispatcher = notifier(&opts)?;
    if let Some(d) = &dispatcher {
        d.subscribe(&registry);
    }
    let mut list = Vec::new();
    for (name, cfg) in breakers() {
        list.push(registry.breaker(name, cfg)?);
    }
    // A new integration rolled out as a dry run, and one switched off by an operator.
    if first_start {
        registry.get("recommendations").unwrap().metrics_only();
        registry.get("search").unwrap().disable();
    }
    let limits = Limits::new()?;
    let timer = registry.spawn_timer(Duration::from_millis(250));

    let mut api = BreakerApi::new(&registry);
    if let Some(token) = &opts.admin_token {
        api = api.admin_token(token.clone());
    }
    let metrics_registry = registry.clone();
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let body = prometheus::render(&handle, &metrics_registry);
                async move { body }
            }),
        )
        .nest("/api/circuit-breakers", api.router());
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
    let (t, note) = match e {
        Event::Transition(t) => (*t, ""),
        Event::WouldOpen(t) => (*t, "  (dry run: would have opened)"),
        _ => return,
    };
    let rate = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{:.0}%", r * 100.0));
    println!(
        "  {:<16} {:>12} -> {:<12} reason={:<21} calls={:<4} failure_rate={:<5} slow_rate={:<5}{}",
        t.breaker,
        t.from.as_str(),
        t.to.as_str(),
        t.reason.as_str(),
        t.counts.calls,
        rate(t.failure_rate),
        rate(t.slow_call_rate),
        note
    );
}

/// A simulated dependency whose health changes in phases.
pub struct Dependency {
    name: &'static str,
    started: Instant,
    /// Where in its 30 s cycle this dependency starts.
    shift: u64,
    /// Share of requests that hang (never answer before the call timeout).
    hang_probability: f64,
    seed: AtomicU64,
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
    /// A dependency named `name`; `seed` picks its random outcomes and its phase shift.
    pub fn new(name: &'static str, seed: u64) -> Self {
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
        if self.hang_probability > 0.0 && self.random() < self.hang_probability {
            tokio::time::sleep(HANG).await;
        }
        tokio::time::sleep(phase.latency).await;
        if self.random() < phase.failure_probability {
            Err(format!("{} is {}", self.name, phase.name))
        } else {
            Ok(200)
        }
    }
}

/// Drives every breaker with simulated traffic until `deadline` (forever with `None`);
/// a new block fans out RPC lookups every second; an operator forces `pricing-api` open for
/// 5 s every 40 s.
pub async fn drive(demo: &Demo, deadline: Option<Instant>) {
    let running = move || deadline.is_none_or(|d| Instant::now() < d);
    let mut tasks = Vec::new();
    let mut rpc = None;
    for b in &demo.breakers {
        let b = b.clone();
        let name: &'static str = breakers()
            .into_iter()
            .map(|(n, _)| n)
            .find(|n| *n == b.name())
            .unwrap();
        let dep = Arc::new(Dependency::new(name, demo.seed));
        if name == "solana-rpc" {
            rpc = Some((b.clone(), dep.clone()));
        }
        let limits = demo.limits.clone();
        tasks.push(tokio::spawn(async move {
            let mut last_price = 0;
            while running() {
                if request(&b, &dep, &limits, &mut last_price).await {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    if let Some((rpc, dep)) = rpc {
        let slots = demo.limits.rpc_slots.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while running() {
                tick.tick().await;
                new_block(&rpc, &dep, &slots).await;
            }
        }));
    }
    let pricing = demo.registry.get("pricing-api").unwrap();
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(40));
        tick.tick().await;
        loop {
            tick.tick().await;
            if !running() {
                break;
            }
            println!("  operator: force-open pricing-api for 5s");
            pricing.force_open_for(Duration::from_secs(5));
        }
    }));
    for t in tasks {
        let _ = t.await;
    }
}

/// One request to `dep` through its breaker `b`, as the demo's callers make it: an RPC
/// lookup holds a bulkhead slot while it runs; a price quote goes through the provider's
/// rate limit and falls back to the last known price when it does not come. Whether it was
/// refused (breaker open, bulkhead full, over the rate), so the caller backs off a little.
async fn request(
    b: &CircuitBreaker,
    dep: &Dependency,
    limits: &Limits,
    last_price: &mut u32,
) -> bool {
    match b.name() {
        "solana-rpc" => refused(&limits.rpc_slots.call(b.call(dep.request())).await),
        "pricing-api" => {
            let quote = limits.pricing_quota.call(b.call(dep.request())).await;
            let refused = refused(&quote);
            let last = *last_price;
            *last_price = quote.or_fallback(b, |_why| last);
            refused
        }
        _ => refused(&b.call(dep.request()).await),
    }
}

/// A new block: its transactions are looked up all at once, [`BLOCK_FAN_OUT`] of them.
/// The bulkhead admits [`RPC_SLOTS`] in flight (fewer while other lookups run) and refuses
/// the others at once, without queueing them.
async fn new_block(rpc: &CircuitBreaker, dep: &Arc<Dependency>, slots: &Bulkhead) {
    let mut lookups = tokio::task::JoinSet::new();
    for _ in 0..BLOCK_FAN_OUT {
        let Ok(slot) = slots.try_acquire() else {
            continue; // refused: counted as bulkhead_full
        };
        let (rpc, dep) = (rpc.clone(), dep.clone());
        lookups.spawn(async move {
            let _slot = slot;
            let _ = rpc.call(dep.request()).await;
        });
    }
    lookups.join_all().await;
}

fn refused<T, E>(result: &Result<T, CallError<E>>) -> bool {
    matches!(result, Err(CallError::Rejected(_) | CallError::Limited(_)))
}

/// A table of every breaker, for the terminal.
pub fn table(registry: &Registry) -> String {
    let mut out = format!(
        "{:<16} {:<12} {:>7} {:>6} {:>6} {:>8} {:>8} {:>8}  {}\n",
        "breaker",
        "state",
        "window",
        "fail%",
        "slow%",
        "success",
        "failure",
        "rejected",
        "last reason"
    );
    let pct = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{:.0}", r * 100.0));
    for s in registry.snapshot_all() {
        out.push_str(&format!(
            "{:<16} {:<12} {:>7} {:>6} {:>6} {:>8} {:>8} {:>8}  {}\n",
            s.name,
            s.state.as_str(),
            s.window.calls,
            pct(s.failure_rate),
            pct(s.slow_call_rate),
            s.totals.successes,
            s.totals.failures,
            s.totals.rejected,
            s.last_transition
                .as_ref()
                .map_or("-", |t| t.reason.as_str()),
        ));
    }
    out
}

/// Whether `state` is one the demo should show at some point.
pub fn shown(state: State) -> bool {
    State::ALL.contains(&state)
}
