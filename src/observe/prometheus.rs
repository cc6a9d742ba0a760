//! Prometheus helpers for applications (feature `prometheus`): install a recorder with the
//! right histogram buckets, serve it on an address, or render it from an existing HTTP
//! server. breakerbox calls none of these itself: a library never installs a global
//! recorder.
//!
//! Install the recorder **before** building breakers: a breaker registers its metric
//! handles with the recorder in force when it is built.
//!
//! Serve `/metrics` on its own port:
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use breakerbox::{Config, Registry};
//!
//! breakerbox::observe::prometheus::install(([0, 0, 0, 0], 9000))?; // serves on a thread of its own
//! let registry = Registry::new();
//! let db = registry.breaker("postgres", Config::database())?;
//! # Ok(()) }
//! ```
//!
//! Or render from your own server (e.g. an axum route):
//! ```
//! use breakerbox::Registry;
//! use breakerbox::observe::prometheus;
//!
//! let recorder = prometheus::builder().build_recorder();
//! let handle = recorder.handle();
//! // In an application: `prometheus::install_recorder()?` installs it globally instead.
//! let registry = metrics::with_local_recorder(&recorder, || {
//!     let registry = Registry::new();
//!     registry.breaker("postgres", breakerbox::Config::database()).unwrap();
//!     registry
//! });
//! let body = prometheus::render(&handle, &registry); // the body of GET /metrics
//! assert!(body.contains("breakerbox_state{breaker=\"postgres\",state=\"closed\"} 1"));
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

pub use metrics_exporter_prometheus::{
    BuildError, Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

pub use super::describe_metrics;
use super::exposition::{self, Own};
use super::lifetime::{self, RecorderId};
use super::names::CALL_DURATION_SECONDS;
use super::scrape;
use crate::Registry;

/// Bucket bounds of `breakerbox_call_duration_seconds`, in seconds: 0.5 ms to 60 s, dense
/// around the usual database, cache and API latencies and the `slow_call_duration`
/// presets (2 s, 5 s, 10 s).
pub const DURATION_BUCKETS: &[f64] = &super::duration::STANDARD;

/// A [`PrometheusBuilder`] with real buckets (not a summary) for the call-duration
/// histogram, so quantiles aggregate across instances. Add your own settings (listener,
/// global labels, buckets for your metrics) before installing it.
///
/// ```
/// let recorder = breakerbox::observe::prometheus::builder().build_recorder();
/// # drop(recorder);
/// ```
pub fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(CALL_DURATION_SECONDS.to_owned()),
            DURATION_BUCKETS,
        )
        .expect("DURATION_BUCKETS is not empty")
}

/// Installs the global recorder and serves the Prometheus text format at `addr` (any
/// path), then describes every breakerbox metric.
///
/// The listener is a thread of its own that renders like [`render`] (without a registry
/// to poll: run the eager timer, or [`Registry::poll_timeouts`], for idle breakers to leave
/// Open on time; with the timer, the call counters are as of its last tick). It answers one scrape at a time and gives a client 5 seconds to send its
/// request and read the answer.
///
/// # Errors
/// [`BuildError`] if the address cannot be bound or a global recorder is already installed.
pub fn install(addr: impl Into<SocketAddr>) -> Result<(), BuildError> {
    let listener = TcpListener::bind(addr.into())
        .map_err(|e| BuildError::FailedToCreateHTTPListener(e.to_string()))?;
    let handle = install_global()?;
    super::mode::served_by_listener();
    thread::Builder::new()
        .name("breakerbox-metrics".into())
        .spawn(move || serve(&listener, &handle))
        .map_err(|e| BuildError::FailedToCreateHTTPListener(e.to_string()))?;
    Ok(())
}

/// Installs the global recorder without a listener and returns the handle that renders it,
/// for serving `/metrics` from an existing server (see [`render`]). Also describes every
/// breakerbox metric.
///
/// Call [`PrometheusHandle::run_upkeep`] now and then (every few seconds) if scrapes are
/// rare, or use [`render`], which does it.
///
/// Breakers built while this recorder is in force are served by [`render`] only, like
/// those built inside [`with_local_recorder`]: their duration histograms and the
/// transition series they have not moved are written by `render` from the breakers, not
/// registered with the recorder, so render every registry whose breakers you want to see
/// (a direct [`PrometheusHandle::render`] shows neither).
///
/// # Errors
/// [`BuildError`] if a global recorder is already installed.
pub fn install_recorder() -> Result<PrometheusHandle, BuildError> {
    let handle = install_global()?;
    super::mode::served_by_render();
    Ok(handle)
}

/// Installs the global recorder and describes every breakerbox metric.
fn install_global() -> Result<PrometheusHandle, BuildError> {
    let handle = builder().install_recorder()?;
    describe_metrics();
    Ok(handle)
}

/// Runs `f` with `recorder` as the thread's local recorder (like
/// [`metrics::with_local_recorder`]), for breakers whose scrapes are served with [`render`]
/// only: a breaker built inside registers no duration histogram with the recorder (its
/// own, striped by thread, is what `render` writes) and leaves its transition series at 0
/// to `render` until they move, so the exporter has less per-series work on every scrape.
/// The global recorder installed by [`install_recorder`] is served so too.
///
/// A breaker built this way shows no duration histogram through
/// [`PrometheusHandle::render`] directly; see "The duration histogram at scrape time" in
/// `docs/METRICS.md`.
///
/// ```
/// use breakerbox::Registry;
/// use breakerbox::observe::prometheus;
///
/// let recorder = prometheus::builder().build_recorder();
/// let handle = recorder.handle();
/// let registry = Registry::new();
/// let db = prometheus::with_local_recorder(&recorder, || {
///     registry.breaker("postgres", breakerbox::Config::database()).unwrap()
/// });
/// db.call_sync(|| Ok::<_, ()>(())).unwrap();
/// let body = prometheus::render(&handle, &registry);
/// assert!(body.contains(
///     "breakerbox_call_duration_seconds_count{breaker=\"postgres\",outcome=\"success\"} 1"
/// ));
/// ```
pub fn with_local_recorder<T>(recorder: &PrometheusRecorder, f: impl FnOnce() -> T) -> T {
    metrics::with_local_recorder(recorder, || super::mode::render_only(f))
}

/// Renders a scrape: applies elapsed timeouts and refreshes the rate gauges of every breaker
/// in `registry` (so the state and rates are true even on an idle service without the
/// eager timer), runs the recorder's upkeep and renders the Prometheus text format.
///
/// Serve this rather than [`PrometheusHandle::render`]. Under one lock, it writes the
/// one-hot state gauges of every breaker in `registry` from the newest state each
/// reported, then renders: a scrape never sees a breaker with zero or two states at 1, and
/// `breakerbox_state_since_timestamp_seconds` always belongs to the state shown. From then
/// on those breakers leave their state gauges to the renders, so a transition never waits
/// for one (a direct [`PrometheusHandle::render`] shows them as of the last `render`).
/// Breakers removed from their registry are left out (see [`Registry::remove`]).
///
/// Under the same lock it publishes the call counters (`breakerbox_calls_total`,
/// `breakerbox_slow_calls_total`) of every breaker in `registry` from the breaker's exact,
/// thread-striped lifetime totals; from then on those breakers' calls no longer touch
/// the recorder's counters (one shared atomic per series), which is what keeps counting
/// cheap with several threads. Breakers not rendered here count per call (exact too).
pub fn render(handle: &PrometheusHandle, registry: &Registry) -> String {
    registry.poll_timeouts();
    let breakers = registry.all();
    render_consistent(handle, &registry.recorders().with_current(), || {
        let mut own = Own::default();
        for b in &breakers {
            b.observer().publish();
            let metrics = b.observer().metrics();
            if let Some(durations) = metrics.render_durations() {
                own.durations(metrics.name(), durations);
            }
            metrics.transition_zeros(|key| own.transition_zero(metrics.name(), key));
        }
        super::publish::publish_counters_locked(&breakers);
        own
    })
}

/// Under the scrape lock: `publish` (which returns the histograms breakerbox writes
/// itself), upkeep and render; then joins the histograms to the text and leaves out the
/// series of removed breakers of `recorders` (see `scrape`).
fn render_consistent(
    handle: &PrometheusHandle,
    recorders: &[RecorderId],
    publish: impl FnOnce() -> Own,
) -> String {
    let (text, own, hidden) = {
        let _publishing = scrape::publishing();
        let own = publish();
        handle.run_upkeep();
        (handle.render(), own, scrape::removed_series(recorders))
    };
    // The values were read under the lock; their text is written after it.
    exposition::merge(&text, &own, hidden)
}

/// Answers scrapes on `listener` one at a time, for as long as the process runs.
fn serve(listener: &TcpListener, handle: &PrometheusHandle) {
    for stream in listener.incoming() {
        match stream {
            // A client that goes away mid-answer is no concern of the next one.
            Ok(stream) => drop(answer(stream, handle)),
            // Out of file descriptors, say: wait a little instead of spinning.
            Err(_) => thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Reads the request head (at most 8 KiB) and answers with a render.
fn answer(mut stream: TcpStream, handle: &PrometheusHandle) -> io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut head = [0u8; 8192];
    let mut len = 0;
    while len < head.len() {
        let n = stream.read(&mut head[len..])?;
        len += n;
        if n == 0 || head[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    // The listener's thread has no local recorder: this is the global one it serves.
    let body = render_consistent(handle, &[lifetime::recorder_id()], Own::default);
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// How long a scraper may take to send its request or read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(all(test, feature = "test-util"))]
#[path = "render_tests.rs"]
mod tests;
