//! How a breaker's series reach a scrape, decided once, when the breaker is built.
//!
//! - **No recorder in force** (or no feature `prometheus`): every series goes through the
//!   `metrics` facade, registered at build (no-ops without a recorder), as the contract in
//!   `docs/METRICS.md` describes.
//! - **A recorder in force** (feature `prometheus`): the same, and the breaker also keeps
//!   its own duration histogram (`histogram`), which `prometheus::render` writes: calls
//!   record through the facade's histogram until a render first shows the breaker, then
//!   only into the breaker's own.
//! - **Served by `render` only**: built inside `prometheus::with_local_recorder`, or while
//!   the global recorder that `prometheus::install_recorder` installed is in force. The
//!   application renders scrapes with `prometheus::render`, so the breaker registers no
//!   histogram with the recorder at all, and leaves the transition series it owes at 0
//!   unregistered until they move (`transitions`): `render` writes both, and the exporter
//!   has no per-series work to do for them.
//! - **Served by the `prometheus::install` listener**, which renders the recorder and no
//!   registry: no histogram of its own; every series registered at build.

#[cfg(feature = "prometheus")]
use std::cell::Cell;
#[cfg(feature = "prometheus")]
use std::sync::atomic::{AtomicUsize, Ordering};

/// How one breaker's series reach a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Mode {
    /// Keeps its own duration histogram, which `prometheus::render` writes.
    pub(crate) own: bool,
    /// Served by `prometheus::render` only: no histogram registered with the recorder, and
    /// the transition series owed at 0 left unregistered until they move.
    pub(crate) render_only: bool,
}

impl Mode {
    /// The mode of a breaker built now, on this thread.
    pub(crate) fn at_build() -> Mode {
        #[cfg(feature = "prometheus")]
        {
            let in_force = metrics::with_recorder(|r| std::mem::size_of_val(r) != 0);
            let recorder = super::lifetime::recorder_id();
            let listener = LISTENER.load(Ordering::Relaxed) == recorder;
            let render_only = IN_SCOPE.get() || RENDERED.load(Ordering::Relaxed) == recorder;
            Mode {
                own: in_force && !listener,
                render_only: in_force && !listener && render_only,
            }
        }
        #[cfg(not(feature = "prometheus"))]
        Mode::default()
    }
}

/// The global recorder installed by `prometheus::install_recorder` (0: none). The facade's
/// no-op recorder has size zero and is never taken for one (see `Mode::at_build`).
#[cfg(feature = "prometheus")]
static RENDERED: AtomicUsize = AtomicUsize::new(0);

/// The global recorder installed by `prometheus::install`, served by its listener.
#[cfg(feature = "prometheus")]
static LISTENER: AtomicUsize = AtomicUsize::new(0);

#[cfg(feature = "prometheus")]
thread_local! {
    /// Inside `prometheus::with_local_recorder` on this thread.
    static IN_SCOPE: Cell<bool> = const { Cell::new(false) };
}

/// The recorder in force (the global one, just installed) is served by `render`.
#[cfg(feature = "prometheus")]
pub(crate) fn served_by_render() {
    RENDERED.store(super::lifetime::recorder_id(), Ordering::Relaxed);
}

/// The recorder in force (the global one, just installed) is served by the listener.
#[cfg(feature = "prometheus")]
pub(crate) fn served_by_listener() {
    LISTENER.store(super::lifetime::recorder_id(), Ordering::Relaxed);
}

/// Runs `f` with breakers built on this thread served by `render` only.
#[cfg(feature = "prometheus")]
pub(crate) fn render_only<T>(f: impl FnOnce() -> T) -> T {
    /// Restores the flag, also when `f` panics.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            IN_SCOPE.set(self.0);
        }
    }
    let _restore = Restore(IN_SCOPE.replace(true));
    f()
}
