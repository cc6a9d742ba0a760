//! The atomics the core uses: std's, or loom's when built with `--cfg breakerbox_loom` so
//! the loom models check every interleaving of the real code (the state word, the window,
//! and the engine's own atomics: deadline, since-time, consecutive failures, trips, the
//! call path's config copy).
//!
//! Statics stay on std's atomics (loom's cannot be built in a `const`): the lifetime
//! counters' stripe owners.

#[cfg(breakerbox_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

#[cfg(not(breakerbox_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
