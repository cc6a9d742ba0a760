//! The atomics the core uses: std's, or loom's when built with `--cfg breakerbox_loom` so the loom
//! models check every interleaving of the real code.

#[cfg(breakerbox_loom)]
pub(crate) use loom::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[cfg(not(breakerbox_loom))]
pub(crate) use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
