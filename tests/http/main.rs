//! The HTTP edge: the tower layer in-process and over real HTTP, the health and admin
//! routes, the public edge (keep-alive, limits, routes) and the tower service (errors,
//! fallbacks, limits, timeouts, a hung Redis). One test binary for all of them.

#[path = "../support/mod.rs"]
mod support;

mod admin_api;
mod edge;
mod grpc_rejection;
mod layer;
mod limit_composition;
mod server;
mod service;
