//! The HTTP edge over real HTTP: an axum server on 127.0.0.1:0 and a reqwest client.
//! Rejections keep keep-alive clients healthy, can hide breaker names, route breakers
//! exist before the first request, readiness can ignore optional dependencies.
#![cfg(all(feature = "axum", feature = "test-util"))]

mod keepalive;
#[cfg(feature = "limit")]
mod limits;
mod public;
mod routes;
