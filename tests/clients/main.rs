//! The client integrations against real servers on loopback: the reqwest middleware
//! against an axum upstream that can fail in each way a real one does (5xx, 429 with
//! `Retry-After`, hangs, closed ports), and gRPC against a real tonic server whose method
//! answers each status code. One test binary for both.

#![cfg(all(
    feature = "reqwest",
    feature = "tonic",
    feature = "axum",
    feature = "test-util"
))]

#[path = "../support/mod.rs"]
mod support;

mod grpc;
mod grpc_server;
mod middleware;
mod retry;
mod upstream;
