//! A quotes client with one circuit breaker per upstream host: a `reqwest-middleware`
//! client with breakerbox's middleware inside `reqwest-retry`'s retries, so each attempt
//! counts and a rejection ends the retries at once.
//!
//! The example starts two upstreams on loopback (a quotes API and a news API), breaks the
//! quotes API (503 with `Retry-After`), and shows that only its breaker opens: the news
//! API keeps answering, and a quote request fails fast with the breaker's `BreakerOpen`
//! until the upstream's `Retry-After` has passed.
//!
//! Run: `cargo run --example reqwest_client --features reqwest`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use breakerbox::reqwest::{CircuitBreakerMiddleware, rejection};
use breakerbox::{Config, Registry};
use reqwest_middleware::ClientBuilder;
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;

/// An upstream on loopback that answers 503 with `Retry-After: 2` while `down` is set.
async fn upstream(name: &'static str, down: Arc<AtomicBool>) -> String {
    let app = Router::new().route(
        "/",
        get(move || {
            let down = down.load(Ordering::SeqCst);
            async move {
                if down {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [("retry-after", "2")],
                        "down",
                    )
                } else {
                    (StatusCode::OK, [("retry-after", "0")], name)
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // reqwest without a TLS default here: install one crypto provider (ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let quotes_down = Arc::new(AtomicBool::new(false));
    let quotes = upstream("quotes", quotes_down.clone()).await;
    let news = upstream("news", Arc::default()).await;

    let registry = Registry::new();
    // The external API preset, tripping after 3 failures in a row, open for 1 s (an
    // upstream's Retry-After may stretch it up to max_reset_timeout).
    let config = Config::external_api()
        .into_builder()
        .failure_threshold(3)
        .reset_timeout(Duration::from_secs(1))
        .max_reset_timeout(Duration::from_secs(30))
        .success_threshold(1)
        .build()?;
    let breakers = CircuitBreakerMiddleware::builder(&registry)
        .config(config)
        .honor_retry_after(true)
        .build()?;
    let retries = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(10), Duration::from_millis(50))
        .build_with_max_retries(2);
    let client = ClientBuilder::new(reqwest::Client::builder().no_proxy().build()?)
        .with(RetryTransientMiddleware::new_with_policy(retries)) // outside
        .with(breakers) // inside: every attempt is a call of the host's breaker
        .build();

    quotes_down.store(true, Ordering::SeqCst);
    println!("the quotes API is down (503, Retry-After: 2)");
    for _ in 0..2 {
        match client.get(&quotes).send().await {
            Ok(res) => println!("quotes: {}", res.status()),
            Err(e) => match rejection(&e) {
                Some(open) => println!(
                    "quotes: rejected by `{}` ({}), retry in {:?}",
                    open.name(),
                    open.state(),
                    open.retry_after().unwrap_or_default()
                ),
                None => println!("quotes: {e}"),
            },
        }
        let res = client.get(&news).send().await?;
        println!("news: {} {}", res.status(), res.text().await?);
    }

    quotes_down.store(false, Ordering::SeqCst);
    println!("the quotes API is back; waiting for its Retry-After (2 s, not the 1 s reset)");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let res = client.get(&quotes).send().await?;
    println!("quotes: {} {}", res.status(), res.text().await?);
    for b in registry.snapshot_all() {
        let t = b.totals;
        println!(
            "{}: {:?}, {} successes, {} failures, {} rejected",
            b.name, b.state, t.successes, t.failures, t.rejected
        );
    }
    Ok(())
}
