//! The demo's traffic: a caller per breaker in a loop (`recommendations` over HTTP through
//! the reqwest middleware, `search` over gRPC through the tonic layer, see `clients`), a new block fanning out RPC lookups
//! every second, and an operator forcing `pricing-api` open now and then.
//!
//! Two dependencies sometimes hang: `solana-rpc` and `pricing-api` leave 2% of requests
//! unanswered, and the breakers' `call_timeout` cancels them (outcome `timeout`). The RPC
//! node's lookups hold a slot of a bulkhead of 4, and a new block fans out 8 lookups at once,
//! so the bulkhead refuses some; the pricing API's quota is a rate limit of 50 calls per
//! second, and a refused, rejected, failed or timed-out quote falls back to the last known
//! price.
//!
//! With `--calm` (see `incidents`) the callers pace themselves under the pricing quota,
//! no block fans out and no operator forces anything, until an incident says otherwise.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use breakerbox::{CallError, CircuitBreaker, Fallback, State};

use crate::app::{BLOCK_FAN_OUT, Demo, Limits, breakers};
use crate::clients;
use crate::dependency::Dependency;
use crate::incidents::{Incident, Incidents};

/// A calm caller's pause between requests: about 20 requests a second, under the pricing
/// quota.
const CALM_PAUSE: Duration = Duration::from_millis(45);
/// The postgres caller's pause in the fleet-trip incident: 6 or 7 calls in the demo's 10 s
/// window on one replica (under `min_calls`, 10), 13 on two.
pub const FLEET_TRIP_PAUSE: Duration = Duration::from_millis(1_500);

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
        let threshold = b.config().failure_rate_threshold();
        let dep = Arc::new(Dependency::new(
            name,
            demo.seed,
            demo.incidents.clone(),
            threshold,
        ));
        if name == "solana-rpc" {
            rpc = Some((b.clone(), dep.clone()));
        }
        match name {
            "recommendations" => {
                let config = b.config();
                let api = clients::Recommendations::start(&demo.registry, name, config, dep)
                    .await
                    .expect("the recommendations upstream starts");
                tasks.push(tokio::spawn(over_network(
                    running,
                    clients::Remote::Http(api),
                    demo.incidents.clone(),
                )));
                continue;
            }
            "search" => {
                let search = clients::Search::start(b.clone(), dep)
                    .await
                    .expect("the search server starts");
                tasks.push(tokio::spawn(over_network(
                    running,
                    clients::Remote::Grpc(search),
                    demo.incidents.clone(),
                )));
                continue;
            }
            _ => {}
        }
        let limits = demo.limits.clone();
        let incidents = demo.incidents.clone();
        tasks.push(tokio::spawn(async move {
            let mut last_price = 0;
            while running() {
                // The stuck probe: no call while the breaker is not closed.
                if incidents.on_breaker(Incident::StuckProbe, b.name())
                    && b.state() != State::Closed
                {
                    tokio::time::sleep(CALM_PAUSE).await;
                    continue;
                }
                if request(&b, &dep, &limits, &mut last_price).await {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                tokio::time::sleep(pause(&incidents, b.name())).await;
            }
        }));
    }
    if let Some((rpc, dep)) = rpc {
        let limits = demo.limits.clone();
        let incidents = demo.incidents.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while running() {
                tick.tick().await;
                if !incidents.calm() || incidents.on(Incident::Bulkhead) {
                    new_block(&rpc, &dep, &limits).await;
                }
            }
        }));
    }
    let pricing = demo.registry.get("pricing-api").unwrap();
    let calm = demo.incidents.calm();
    tasks.push(tokio::spawn(async move {
        if calm {
            return;
        }
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
    match deadline {
        // Stop at the deadline, also in the middle of a hung call or a long interval.
        Some(d) => {
            tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await;
            for t in &tasks {
                t.abort();
            }
        }
        None => {
            for t in tasks {
                let _ = t.await;
            }
        }
    }
}

/// A caller of a dependency over the network.
async fn over_network(
    running: impl Fn() -> bool,
    remote: clients::Remote,
    incidents: Arc<Incidents>,
) {
    let pause = if incidents.calm() {
        CALM_PAUSE
    } else {
        Duration::from_millis(5)
    };
    while running() {
        if remote.request().await {
            tokio::time::sleep(Duration::from_millis(20)).await
        }
        tokio::time::sleep(pause).await;
    }
}

/// A caller's pause between requests: short (about 140 a second, over the pricing quota)
/// unless the demo runs calm and no rate-limit incident hurries the pricing caller.
fn pause(incidents: &Incidents, breaker: &str) -> Duration {
    if incidents.on_breaker(Incident::FleetTrip, breaker) {
        FLEET_TRIP_PAUSE
    } else if incidents.calm() && !incidents.on_breaker(Incident::RateLimit, breaker) {
        CALM_PAUSE
    } else {
        Duration::from_millis(5)
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
        "solana-rpc" => {
            let r = limits.rpc_slots.call(b.call(dep.request())).await;
            if matches!(r, Err(CallError::Limited(_))) {
                limits.refused.rpc_slots.fetch_add(1, Ordering::Relaxed);
            }
            refused(&r)
        }
        "pricing-api" => {
            let quote = limits.pricing_quota.call(b.call(dep.request())).await;
            if matches!(quote, Err(CallError::Limited(_))) {
                limits.refused.pricing_quota.fetch_add(1, Ordering::Relaxed);
            }
            let refused = refused(&quote);
            let last = *last_price;
            *last_price = quote.or_fallback(b, |_why| last);
            refused
        }
        _ => refused(&b.call(dep.request()).await),
    }
}

/// A new block: its transactions are looked up all at once, [`BLOCK_FAN_OUT`] of them.
/// The bulkhead admits `RPC_SLOTS` in flight (fewer while other lookups run) and refuses
/// the others at once, without queueing them.
async fn new_block(rpc: &CircuitBreaker, dep: &Arc<Dependency>, limits: &Limits) {
    let mut lookups = tokio::task::JoinSet::new();
    for _ in 0..BLOCK_FAN_OUT {
        let Ok(slot) = limits.rpc_slots.try_acquire() else {
            // refused: counted as bulkhead_full
            limits.refused.rpc_slots.fetch_add(1, Ordering::Relaxed);
            continue;
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
