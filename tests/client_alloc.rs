//! What the reqwest middleware costs in allocations, against a real upstream on loopback:
//! the same requests through the same client without middleware, with a pass-through
//! middleware (the chain's own cost) and with the breaker middleware. This binary
//! installs a counting global allocator and holds a single test, so nothing else
//! allocates while it measures.
//!
//! Measured: any middleware costs reqwest-middleware's chain 2 allocations per request
//! (the boxed future of its `async_trait` `handle`, and one more in the chain); the
//! breaker middleware adds none of its own on top: the per-host lookup is a slice of the
//! URL and a lock-free read of the family's map, the permit a reference count.

#![cfg(all(feature = "reqwest", feature = "axum"))]

use std::alloc::System;

use axum::Router;
use axum::routing::get;
use breakerbox::Registry;
use breakerbox::reqwest::CircuitBreakerMiddleware;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const REQUESTS: usize = 200;

/// Allocations made by `REQUESTS` requests to `url` through `http`.
async fn allocations(http: &ClientWithMiddleware, url: &str) -> usize {
    let region = Region::new(GLOBAL);
    for _ in 0..REQUESTS {
        let res = http.get(url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        drop(res);
    }
    region.change().allocations
}

/// A middleware that only calls the next one: what the chain itself costs.
struct PassThrough;

#[async_trait::async_trait]
impl Middleware for PassThrough {
    async fn handle(
        &self,
        req: reqwest::Request,
        ext: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        next.run(req, ext).await
    }
}

#[test]
fn the_middleware_allocates_nothing_beyond_the_chain_of_any_middleware() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // The upstream runs on the same thread: its allocations are the same in every run.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let app = Router::new().route("/", get(|| async { "ok" }));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let registry = Registry::new();
        let clients = [
            ClientBuilder::new(client.clone()).build(),
            ClientBuilder::new(client.clone()).with(PassThrough).build(),
            ClientBuilder::new(client)
                .with(CircuitBreakerMiddleware::new(&registry))
                .build(),
        ];
        // Warm-up: the connection, the host's breaker, thread-local state.
        for http in &clients {
            allocations(http, &url).await;
        }
        // The harness's own threads may allocate at any moment: the fewest of five runs.
        let mut fewest = [usize::MAX; 3];
        for _ in 0..5 {
            for (http, min) in clients.iter().zip(&mut fewest) {
                *min = (*min).min(allocations(http, &url).await);
            }
        }
        let [bare, chain, breaker] = fewest;
        eprintln!(
            "{REQUESTS} requests: {bare} allocations without middleware, {chain} through a \
             pass-through middleware, {breaker} through the breaker middleware"
        );
        assert!(
            breaker <= chain + REQUESTS,
            "more than one allocation per request beyond the chain's own: {breaker} vs {chain}"
        );
        assert!(breaker <= bare + 2 * REQUESTS, "{breaker} vs {bare}");
        assert_eq!(registry.names().len(), 1);
    });
}
