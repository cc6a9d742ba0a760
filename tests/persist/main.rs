//! State that survives a restart: the file store and a registry restarted on injected
//! time, and the demo service killed and started again as a real process.
#![cfg(all(feature = "persist", feature = "test-util", feature = "tracing"))]

#[path = "../support/mod.rs"]
mod support;

#[cfg(feature = "full")]
mod restart;
mod restored;
mod shutdown;
mod store;
