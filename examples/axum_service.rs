//! An axum service with breakers at the edge and around its dependencies:
//! - every route behind its own breaker (`CircuitBreakerLayer::per_route`), answering 503
//!   with `Retry-After` and a problem+json body while it is open;
//! - handlers that call PostgreSQL, Redis, a Solana RPC node and a price API through
//!   breakers with the matching presets, one line each (`?` turns a refusal into a 503);
//! - the health and admin API under `/api/circuit-breakers`.
//!
//! Run it and play:
//! ```text
//! BREAKERBOX_ADMIN_TOKEN=s3cret cargo run --example axum_service --features axum
//! curl -i localhost:3000/balance/7
//! curl -X POST localhost:3000/chaos/postgres          # the simulated database goes down
//! for i in $(seq 12); do curl -s -o /dev/null -w '%{http_code} ' localhost:3000/balance/7; done
//! curl -s localhost:3000/api/circuit-breakers/health
//! curl -X POST -H 'Authorization: Bearer s3cret' localhost:3000/api/circuit-breakers/reset/postgres
//! ```
//! or let it drive itself and exit: `cargo run --example axum_service --features axum -- --self-test`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use breakerbox::http::{BreakerApi, CircuitBreakerLayer};
use breakerbox::{CallError, CircuitBreaker, Config, Registry};
use serde_json::{Value, json};

/// A simulated dependency that `POST /chaos/{name}` switches on and off.
#[derive(Default)]
struct Dependency {
    down: AtomicBool,
}

impl Dependency {
    async fn request<T>(&self, value: T) -> Result<T, DepError> {
        if self.down.load(Ordering::Relaxed) {
            Err(DepError)
        } else {
            Ok(value)
        }
    }
}

/// A dependency failed: 502.
#[derive(Debug)]
struct DepError;

impl IntoResponse for DepError {
    fn into_response(self) -> Response {
        (StatusCode::BAD_GATEWAY, "dependency failed").into_response()
    }
}

/// Breakers and (simulated) clients, shared by the handlers.
struct Deps {
    db: CircuitBreaker,
    cache: CircuitBreaker,
    rpc: CircuitBreaker,
    prices: CircuitBreaker,
    postgres: Dependency,
    redis: Dependency,
    solana: Dependency,
    price_api: Dependency,
}

type Ctx = State<Arc<Deps>>;
type Answer<T> = Result<T, CallError<DepError>>;

async fn balance(State(d): Ctx, Path(user): Path<u32>) -> Answer<Json<Value>> {
    let cents = d.db.call(d.postgres.request(10_000 + user)).await?;
    Ok(Json(json!({ "user": user, "balance_cents": cents })))
}

async fn market(State(d): Ctx, Path(symbol): Path<String>) -> Answer<Json<Value>> {
    let book = d
        .cache
        .call(d.redis.request(format!("{symbol}: 12 bids")))
        .await?;
    Ok(Json(json!({ "symbol": symbol, "book": book })))
}

async fn trade(State(d): Ctx, Path(symbol): Path<String>) -> Answer<Json<Value>> {
    let balance = d.db.call(d.postgres.request(10_000)).await?;
    let book = d.cache.call(d.redis.request("12 bids")).await?;
    let price = d.prices.call(d.price_api.request(142)).await?;
    let tx = d.rpc.call(d.solana.request("5VfY...sig")).await?;
    Ok(Json(
        json!({ "symbol": symbol, "price": price, "balance": balance, "book": book, "tx": tx }),
    ))
}

async fn chaos(State(d): Ctx, Path(name): Path<String>) -> Result<String, StatusCode> {
    let dep = match name.as_str() {
        "postgres" => &d.postgres,
        "redis" => &d.redis,
        "solana" => &d.solana,
        "prices" => &d.price_api,
        _ => return Err(StatusCode::NOT_FOUND),
    };
    let down = !dep.down.fetch_xor(true, Ordering::Relaxed);
    Ok(format!("{name} is {}\n", if down { "down" } else { "up" }))
}

fn app(
    registry: &Registry,
    admin_token: Option<String>,
) -> Result<Router, breakerbox::RegistryError> {
    let deps = Arc::new(Deps {
        db: registry.breaker("postgres", Config::database())?,
        cache: registry.breaker("redis", Config::cache())?,
        rpc: registry.breaker("solana-rpc", Config::rpc())?,
        prices: registry.breaker("price-api", Config::external_api())?,
        postgres: Dependency::default(),
        redis: Dependency::default(),
        solana: Dependency::default(),
        price_api: Dependency::default(),
    });
    // The edge breakers are looser than the dependencies' (the database preset trips after
    // 10 failures or a 70% failure rate over 10 calls), so that a route trips only when it
    // keeps failing on its own account. Refusals of the dependency breakers are not counted
    // against the routes.
    let edge = Config::builder()
        .failure_threshold(20)
        .min_calls(50)
        .build()?;
    let mut api = BreakerApi::new(registry);
    if let Some(token) = admin_token {
        api = api.admin_token(token);
    }
    Ok(Router::new()
        .route("/balance/{user}", get(balance))
        .route("/market/{symbol}", get(market))
        .route("/trade/{symbol}", post(trade))
        .route("/chaos/{dependency}", post(chaos))
        .with_state(deps)
        .layer(CircuitBreakerLayer::per_route(registry, edge))
        // Mounted after the layer: an open breaker never locks operators out.
        .nest("/api/circuit-breakers", api.router()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let self_test = std::env::args().any(|a| a == "--self-test");
    let token = std::env::var("BREAKERBOX_ADMIN_TOKEN").ok();
    let token = if self_test {
        Some("demo-token".to_owned())
    } else {
        token
    };
    let registry = Registry::new();
    let app = app(&registry, token.clone())?;

    let addr: SocketAddr = if self_test {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:3000"
    }
    .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    if !self_test {
        let admin = if token.is_some() {
            "on"
        } else {
            "off (set BREAKERBOX_ADMIN_TOKEN)"
        };
        println!("listening on http://{addr}; admin routes {admin}");
        axum::serve(listener, app).await?;
        return Ok(());
    }
    let server = tokio::spawn(axum::serve(listener, app).into_future());
    drive(addr, token.as_deref().unwrap_or_default()).await?;
    server.abort();
    Ok(())
}

/// The self-test: a database outage seen from the outside.
async fn drive(addr: SocketAddr, token: &str) -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().build()?;
    let url = |p: &str| format!("http://{addr}{p}");

    let res = http.get(url("/balance/7")).send().await?;
    println!("GET /balance/7 -> {} {}", res.status(), res.text().await?);
    http.post(url("/chaos/postgres")).send().await?;
    println!("postgres goes down");
    let mut codes = Vec::new();
    for _ in 0..12 {
        codes.push(http.get(url("/balance/7")).send().await?.status().as_u16());
    }
    println!("12 x GET /balance/7 -> {codes:?}");
    let res = http.post(url("/trade/SOL")).send().await?;
    let retry = res.headers().get("retry-after").cloned();
    println!(
        "POST /trade/SOL -> {} (Retry-After {retry:?})",
        res.status()
    );
    println!("  {}", res.text().await?);

    let health: Value = http
        .get(url("/api/circuit-breakers/health"))
        .send()
        .await?
        .json()
        .await?;
    println!(
        "health: status {}, open {}",
        health["status"], health["open"]
    );
    for b in health["breakers"].as_array().into_iter().flatten() {
        let reason = &b["last_transition"]["reason"];
        println!("  {:<24} {:<10} reason {reason}", b["name"], b["state"]);
    }

    http.post(url("/chaos/postgres")).send().await?;
    let res = http
        .post(url("/api/circuit-breakers/reset/postgres"))
        .send()
        .await?;
    println!("reset without a token -> {}", res.status());
    let res = http
        .post(url("/api/circuit-breakers/reset/postgres"))
        .bearer_auth(token)
        .send()
        .await?;
    println!("reset with the token -> {}", res.status());
    let res = http.get(url("/balance/7")).send().await?;
    println!("GET /balance/7 -> {} {}", res.status(), res.text().await?);
    Ok(())
}
