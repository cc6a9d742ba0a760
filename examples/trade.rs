//! One operation through four breakers: a trade checks the balance in PostgreSQL, reads
//! market data from Redis, fetches a price from an external API and submits the
//! transaction to a Solana RPC node. Each dependency has its own breaker with its preset;
//! when one refuses, the trade says which breaker refused, since when, why it opened and
//! when to retry, and the steps after it never run.
//!
//! Every preset has a call timeout: a dependency that hangs is cancelled and counted as a
//! `timeout` instead of holding the trade forever. The market-data cache is optional: when
//! Redis hangs or its breaker is open, the trade reads the book from the source (a
//! fallback, counted in `breakerbox_fallbacks_total`) and goes through.
//!
//! The RPC node sits behind a bulkhead (at most 4 submissions in flight) and the price API
//! behind a rate limit (its quota): refusals by either are not dependency failures and
//! never reach the breakers.
//!
//! Run: `cargo run --example trade --features limit` (bulkhead, rate limit, and the timer
//! that cancels calls).
//! The presets' reset timeouts (10 s to 60 s) and the cache's call timeout (1 s) are cut
//! so the run takes a few seconds.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use breakerbox::limit::{Bulkhead, RateLimit};
use breakerbox::{
    BreakerOpen, CallError, CircuitBreaker, Config, Event, Fallback, Limited, Reason, Registry,
};

/// A simulated dependency that can be switched off, or made to hang.
struct Dependency {
    what: &'static str,
    down: AtomicBool,
    hung: AtomicBool,
}

impl Dependency {
    const fn new(what: &'static str) -> Self {
        Dependency {
            what,
            down: AtomicBool::new(false),
            hung: AtomicBool::new(false),
        }
    }

    async fn request<T>(&self, value: T) -> Result<T, String> {
        tokio::time::sleep(Duration::from_millis(2)).await;
        if self.hung.load(Ordering::Relaxed) {
            // Never answers, like a stopped server that still accepts connections.
            std::future::pending::<()>().await;
        }
        if self.down.load(Ordering::Relaxed) {
            Err(format!("{} unreachable", self.what))
        } else {
            Ok(value)
        }
    }
}

static POSTGRES: Dependency = Dependency::new("postgres");
static REDIS: Dependency = Dependency::new("redis");
static PRICES: Dependency = Dependency::new("price API");
static RPC: Dependency = Dependency::new("solana RPC");

/// The four breakers of the trading service, one per dependency, from the presets.
struct Breakers {
    db: CircuitBreaker,
    cache: CircuitBreaker,
    prices: CircuitBreaker,
    rpc: CircuitBreaker,
    /// At most 4 submissions in flight to the RPC node.
    rpc_slots: Bulkhead,
    /// The price API's quota: 5 calls per second, bursts of 10.
    price_quota: RateLimit,
}

impl Breakers {
    fn new(registry: &Registry) -> Result<Self, Box<dyn std::error::Error>> {
        // The presets, with reset timeouts short enough for a demo.
        let short = |c: Config, secs| {
            c.into_builder()
                .reset_timeout(Duration::from_secs(secs))
                .build()
        };
        // The cache's 1 s call timeout, cut too: a cache is only worth a few milliseconds.
        let cache = short(Config::cache(), 1)?
            .into_builder()
            .call_timeout(Duration::from_millis(200))
            .build()?;
        Ok(Breakers {
            db: registry.breaker("postgres", short(Config::database(), 2)?)?,
            cache: registry.breaker("redis", cache)?,
            prices: registry.breaker("price-api", short(Config::external_api(), 2)?)?,
            rpc: registry.breaker("solana-rpc", short(Config::rpc(), 2)?)?,
            rpc_slots: Bulkhead::new("solana-rpc", 4)?,
            price_quota: RateLimit::per_second("price-api", 5, 10)?,
        })
    }
}

/// Why a trade did not go through.
#[derive(Debug)]
enum TradeError {
    /// A breaker refused the step: the dependency is known to be down.
    Refused {
        step: &'static str,
        open: BreakerOpen,
        why: String,
    },
    /// A bulkhead or a rate limit refused the step: we protect the dependency (or our
    /// quota with it); it is not down.
    Limited {
        step: &'static str,
        limited: Limited,
    },
    /// The step ran too long and was cancelled.
    TimedOut { step: &'static str, after: Duration },
    /// The step ran and its dependency failed.
    Failed { step: &'static str, error: String },
}

impl fmt::Display for TradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TradeError::Refused { step, open, why } => {
                let retry = open
                    .retry_after()
                    .map_or("when an operator resets it".to_owned(), |d| {
                        format!("in {:.1}s", d.as_secs_f64())
                    });
                let name = open.name();
                write!(
                    f,
                    "refused at `{step}` by breaker `{name}`, {why}; retry {retry}"
                )
            }
            TradeError::Limited { step, limited } => write!(f, "held back at `{step}`: {limited}"),
            TradeError::TimedOut { step, after } => {
                write!(f, "timed out at `{step}` after {}ms", after.as_millis())
            }
            TradeError::Failed { step, error } => write!(f, "failed at `{step}`: {error}"),
        }
    }
}

/// Runs one step through its breaker; a refusal carries the breaker's last transition.
async fn step<T>(
    name: &'static str,
    breaker: &CircuitBreaker,
    call: impl Future<Output = Result<T, String>>,
) -> Result<T, TradeError> {
    settle(name, breaker, breaker.call(call).await)
}

/// The outcome of a step as a trade error.
fn settle<T>(
    name: &'static str,
    breaker: &CircuitBreaker,
    result: Result<T, CallError<String>>,
) -> Result<T, TradeError> {
    result.map_err(|e| match e {
        CallError::Rejected(open) => TradeError::Refused {
            step: name,
            why: why_open(breaker),
            open,
        },
        CallError::Limited(limited) => TradeError::Limited {
            step: name,
            limited,
        },
        CallError::Timeout(t) => TradeError::TimedOut {
            step: name,
            after: t.after(),
        },
        CallError::Inner(error) => TradeError::Failed { step: name, error },
        other => TradeError::Failed {
            step: name,
            error: other.to_string(),
        },
    })
}

/// "open for 3ms, reason consecutive_failures: 3 of 4 calls failed, 3 in a row
/// (threshold 3)": the breaker's last transition, the answer to "why did it open?".
fn why_open(breaker: &CircuitBreaker) -> String {
    let snap = breaker.snapshot();
    let ago = snap.since.elapsed().unwrap_or_default().as_millis();
    let Some(t) = snap.last_transition else {
        return format!("{} for {ago}ms", snap.state);
    };
    let numbers = match t.reason {
        Reason::Forced | Reason::Manual => "by an operator".to_owned(),
        _ => {
            let threshold = t
                .threshold
                .map_or(String::new(), |v| format!(" (threshold {v})"));
            let c = t.counts;
            let row = t.consecutive_failures;
            format!(
                "{} of {} calls failed, {row} in a row{threshold}",
                c.failures, c.calls
            )
        }
    };
    format!("{} for {ago}ms, reason {}: {numbers}", snap.state, t.reason)
}

/// The composite operation: four protected calls, one line each.
async fn trade(b: &Breakers, user: u32, symbol: &str, qty: u64) -> Result<String, TradeError> {
    let balance = step("check balance", &b.db, POSTGRES.request(10_000u64)).await?;
    // Market data: from the cache, or, when the cache is unavailable (open, timed out,
    // failed), from the source. The trade goes through either way.
    let book = b
        .cache
        .call(REDIS.request(format!("{symbol} book")))
        .await
        .or_fallback(&b.cache, |why| {
            let reason = breakerbox::FallbackReason::of(&why);
            format!("{symbol} book from the source, cache {reason}")
        });
    // The quota first: a call the rate limit refuses never reaches the breaker.
    let price = b
        .price_quota
        .call(b.prices.call(PRICES.request(142u64)))
        .await;
    let price = settle("fetch price", &b.prices, price)?;
    if price * qty > balance {
        return Err(TradeError::Failed {
            step: "check balance",
            error: format!("user {user} cannot afford {qty} {symbol}"),
        });
    }
    let sig = b
        .rpc_slots
        .call(b.rpc.call(RPC.request(format!("sig-{user}-{qty}"))))
        .await;
    let sig = settle("submit on chain", &b.rpc, sig)?;
    Ok(format!("{qty} {symbol} at {price} ({book}), tx {sig}"))
}

async fn attempt(b: &Breakers, n: u32) {
    match trade(b, 7, "SOL", 3).await {
        Ok(receipt) => println!("  trade {n}: ok, {receipt}"),
        Err(e) => println!("  trade {n}: {e}"),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = Registry::new();
    registry.subscribe(|e: &Event<'_>| {
        if let Event::Transition(t) = e {
            println!("    [{}] {} -> {} ({})", t.breaker, t.from, t.to, t.reason);
        }
    });
    let b = std::sync::Arc::new(Breakers::new(&registry)?);

    println!("All dependencies healthy:");
    attempt(&b, 1).await;

    println!("\nThe price API goes down (external_api preset: 3 failures trip it):");
    PRICES.down.store(true, Ordering::Relaxed);
    for n in 2..=6 {
        attempt(&b, n).await;
    }

    println!("\nIt recovers; after the reset timeout, trial trades close the breaker:");
    PRICES.down.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    for n in 7..=9 {
        attempt(&b, n).await;
    }

    println!("\nAn operator forces the RPC breaker open for 1 s (maintenance):");
    b.rpc.force_open_for(Duration::from_secs(1));
    attempt(&b, 10).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    attempt(&b, 11).await;

    println!("\nRedis hangs: each read times out after 200 ms and the book comes from the");
    println!("source; after 5 timeouts the breaker opens and trades skip Redis at once:");
    REDIS.hung.store(true, Ordering::Relaxed);
    for n in 12..=18 {
        attempt(&b, n).await;
    }
    REDIS.hung.store(false, Ordering::Relaxed);

    println!("\nPostgreSQL is down; nothing after the failing step runs:");
    POSTGRES.down.store(true, Ordering::Relaxed);
    for n in 19..=31 {
        attempt(&b, n).await;
    }

    println!("\nA burst of 20 trades at once: the RPC bulkhead lets 4 submit at a time and");
    println!("the price API's quota (bursts of 10) holds back the rest; no breaker trips:");
    REDIS.hung.store(false, Ordering::Relaxed);
    POSTGRES.down.store(false, Ordering::Relaxed);
    b.db.reset();
    b.cache.reset();
    let mut burst = tokio::task::JoinSet::new();
    for n in 32..52 {
        let b = b.clone();
        burst.spawn(async move { attempt(&b, n).await });
    }
    while burst.join_next().await.is_some() {}

    println!("\nBreakers at the end:");
    for s in registry.snapshot_all() {
        let t = s.totals;
        println!(
            "  {:<10} {:<9} ok {:>2}  failed {:>2} (timeouts included)  refused {:>2}",
            s.name,
            s.state.as_str(),
            t.successes,
            t.failures,
            t.rejected
        );
    }
    Ok(())
}
