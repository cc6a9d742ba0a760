//! The JSON view of breakers served by the health and admin routes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use humantime_serde::re::humantime;
use serde::Serialize;

use crate::breaker::{CallTotals, Snapshot};
use crate::config::{Config, WindowKind};
use crate::event::Transition;
use crate::state::{Reason, State};

/// `GET .../health`: every breaker, and whether any is open.
#[derive(Debug, Serialize)]
pub(crate) struct Health {
    /// `ok`, or `degraded` when a breaker is open or forced open.
    pub status: &'static str,
    /// Names of the open and forced-open breakers.
    pub open: Vec<String>,
    pub breakers: Vec<BreakerView>,
}

impl Health {
    pub(crate) fn new(snapshots: &[Snapshot]) -> Health {
        let open: Vec<String> = snapshots
            .iter()
            .filter(|s| is_open(s.state))
            .map(|s| s.name.to_string())
            .collect();
        Health {
            status: if open.is_empty() { "ok" } else { "degraded" },
            open,
            breakers: snapshots.iter().map(BreakerView::new).collect(),
        }
    }
}

/// Whether `state` rejects calls for the health endpoint's purposes.
pub(crate) fn is_open(state: State) -> bool {
    state.rejects_calls()
}

/// One breaker: state, since when, why, the window's numbers, lifetime counts and config.
#[derive(Debug, Serialize)]
pub(crate) struct BreakerView {
    name: String,
    state: State,
    since: String,
    since_unix_ms: u64,
    retry_after_secs: Option<u64>,
    last_transition: Option<TransitionView>,
    window: WindowView,
    consecutive_failures: u32,
    half_open_in_flight: u32,
    half_open_successes: u32,
    totals: TotalsView,
    /// The values in force where the config leaves a field to its default (`null` there).
    effective: EffectiveView,
    config: Config,
}

/// The effective window and caps: what `config` means where it says `null`.
#[derive(Debug, Serialize)]
struct EffectiveView {
    /// `time` or `count`.
    window_kind: &'static str,
    /// The window's length: a duration (`"1m"`) or a number of calls (`"100 calls"`).
    window: String,
    window_buckets: u32,
    /// The cap of the reset timeout when it grows by `backoff_factor`.
    max_reset_timeout: String,
    /// The call timeout, or `"none"`.
    call_timeout: String,
}

impl EffectiveView {
    fn new(c: &Config) -> EffectiveView {
        let (window_kind, window) = match c.window() {
            WindowKind::Time(d) => ("time", human(d)),
            WindowKind::Count(n) => ("count", format!("{n} calls")),
        };
        EffectiveView {
            window_kind,
            window,
            window_buckets: c.window_buckets(),
            max_reset_timeout: human(c.max_reset_timeout()),
            call_timeout: c.call_timeout().map_or_else(|| "none".to_owned(), human),
        }
    }
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

impl BreakerView {
    pub(crate) fn new(s: &Snapshot) -> BreakerView {
        BreakerView {
            name: s.name.to_string(),
            state: s.state,
            since: rfc3339(s.since),
            since_unix_ms: unix_ms(s.since),
            retry_after_secs: s.retry_after.map(ceil_secs),
            last_transition: s.last_transition.as_deref().map(TransitionView::new),
            window: WindowView {
                calls: s.window.calls,
                failures: s.window.failures,
                slow_calls: s.window.slow_calls,
                failure_rate: s.failure_rate,
                slow_call_rate: s.slow_call_rate,
            },
            consecutive_failures: s.consecutive_failures,
            half_open_in_flight: s.half_open_in_flight,
            half_open_successes: s.half_open_successes,
            totals: TotalsView::from(s.totals),
            effective: EffectiveView::new(&s.config),
            config: s.config.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
struct WindowView {
    calls: u64,
    failures: u64,
    slow_calls: u64,
    failure_rate: Option<f64>,
    slow_call_rate: Option<f64>,
}

#[derive(Debug, Serialize)]
struct TotalsView {
    successes: u64,
    failures: u64,
    ignored: u64,
    rejected: u64,
    slow: u64,
}

impl From<CallTotals> for TotalsView {
    fn from(t: CallTotals) -> Self {
        TotalsView {
            successes: t.successes,
            failures: t.failures,
            ignored: t.ignored,
            rejected: t.rejected,
            slow: t.slow,
        }
    }
}

/// The last transition: the answer to "why is it open?".
#[derive(Debug, Serialize)]
struct TransitionView {
    from: State,
    to: State,
    reason: Reason,
    at: String,
    calls: u64,
    failures: u64,
    slow_calls: u64,
    failure_rate: Option<f64>,
    slow_call_rate: Option<f64>,
    consecutive_failures: u32,
    threshold: Option<f64>,
    open_for_secs: Option<f64>,
}

impl TransitionView {
    fn new(t: &Transition) -> TransitionView {
        TransitionView {
            from: t.from,
            to: t.to,
            reason: t.reason,
            at: rfc3339(t.at),
            calls: t.counts.calls,
            failures: t.counts.failures,
            slow_calls: t.counts.slow_calls,
            failure_rate: t.failure_rate,
            slow_call_rate: t.slow_call_rate,
            consecutive_failures: t.consecutive_failures,
            threshold: t.threshold,
            open_for_secs: t.open_for.map(|d| d.as_secs_f64()),
        }
    }
}

/// RFC 3339 can carry the Unix epoch to the end of year 9999; a time outside (a clock
/// set far off) is clamped instead of failing the formatter (which would panic).
fn rfc3339(t: SystemTime) -> String {
    let last = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    humantime::format_rfc3339_millis(t.clamp(UNIX_EPOCH, last)).to_string()
}

fn unix_ms(t: SystemTime) -> u64 {
    let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
}
