//! The JSON view of breakers served by the health and admin routes.

use std::time::Duration;

use humantime_serde::re::humantime;
use serde::Serialize;

use crate::breaker::{Snapshot, TransitionCount};
use crate::config::{Config, WindowKind};
use crate::event::Transition;
use crate::state::State;
use crate::time::{ceil_secs, rfc3339, unix_ms};
use crate::view::{TotalsView, TransitionView, WindowNumbers, WindowView};

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
    last_transition: Option<LastTransition>,
    window: WindowView,
    consecutive_failures: u32,
    half_open_in_flight: u32,
    half_open_successes: u32,
    totals: TotalsView,
    /// Transitions since the breaker was built, by `from`, `to` and `reason`: the same
    /// counts as `breakerbox_transitions_total` (both start from zero with the process).
    transitions: Vec<TransitionCount>,
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
            last_transition: s.last_transition.as_deref().map(LastTransition::new),
            window: WindowView::new(s.window, s.failure_rate, s.slow_call_rate),
            consecutive_failures: s.consecutive_failures,
            half_open_in_flight: s.half_open_in_flight,
            half_open_successes: s.half_open_successes,
            totals: TotalsView::from(s.totals),
            transitions: s.transitions.clone(),
            effective: EffectiveView::new(&s.config),
            config: s.config.clone(),
        }
    }
}

/// The last transition: the answer to "why is it open?". The transition's fields and the
/// window's numbers at that moment, side by side in one object, and whether it was made
/// before a restart (`restored`: the breaker started in its state from a state store; the
/// state, reason and time are the persisted record's, the window's numbers are zero).
#[derive(Debug, Serialize)]
struct LastTransition {
    #[serde(flatten)]
    transition: TransitionView,
    #[serde(flatten)]
    window: WindowNumbers,
    restored: bool,
}

impl LastTransition {
    fn new(t: &Transition) -> LastTransition {
        LastTransition {
            transition: TransitionView::from(t),
            window: WindowNumbers::from(t),
            restored: t.restored,
        }
    }
}

#[cfg(all(test, feature = "notify-webhook"))]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::BreakerView;
    use crate::notify::{AlertmanagerNotifier, Kind, Notification, WebhookNotifier};
    use crate::view::{TransitionView, WindowNumbers};
    use crate::{CircuitBreaker, Config, ManualClock, State};

    /// A breaker opened by one failure, with a 30 s reset timeout and 25% jitter (an
    /// `open_for` with sub-second digits).
    fn opened() -> CircuitBreaker {
        let cfg = Config::builder()
            .failure_threshold(1)
            .reset_timeout(Duration::from_secs(30))
            .reset_jitter(0.25)
            .build()
            .unwrap();
        let clock = ManualClock::new();
        clock.advance(Duration::from_millis(1_234_567));
        let b = CircuitBreaker::builder("postgres")
            .config(cfg)
            .clock(clock)
            .build()
            .unwrap();
        let _ = b.call_sync(|| Err::<(), _>("connection refused"));
        assert_eq!(b.state(), State::Open);
        b
    }

    fn fields(v: &impl serde::Serialize) -> serde_json::Map<String, Value> {
        match serde_json::to_value(v).unwrap() {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn health_counts_each_transition_by_from_to_and_reason() {
        let b = opened();
        b.reset();
        let _ = b.call_sync(|| Err::<(), _>("connection refused"));
        b.force_open();
        let health = serde_json::to_value(BreakerView::new(&b.snapshot())).unwrap();
        assert_eq!(
            health["transitions"],
            serde_json::json!([
                {"from": "closed", "to": "open", "reason": "consecutive_failures", "count": 2},
                {"from": "open", "to": "closed", "reason": "manual", "count": 1},
                {"from": "open", "to": "forced_open", "reason": "forced", "count": 1},
            ])
        );
    }

    #[test]
    fn health_webhook_and_alertmanager_write_a_transition_identically() {
        let b = opened();
        let snapshot = b.snapshot();
        let t = snapshot.last_transition.clone().unwrap();
        let n = Notification::new(Kind::Opened, (*t).clone());

        // The one source of truth.
        let view = fields(&TransitionView::from(&*t));
        let numbers = fields(&WindowNumbers::from(&*t));
        assert_eq!(
            view.keys().collect::<Vec<_>>(),
            ["at", "at_unix_ms", "from", "open_for_ms", "reason", "to"]
        );
        assert!(
            view["open_for_ms"].is_u64(),
            "an opened breaker says how long"
        );

        let health = serde_json::to_value(BreakerView::new(&snapshot)).unwrap();
        let last = &health["last_transition"];
        let webhook: Value = serde_json::from_slice(
            &WebhookNotifier::builder("http://127.0.0.1:1/")
                .build()
                .unwrap()
                .body(&n),
        )
        .unwrap();
        let alerts = AlertmanagerNotifier::builder("http://127.0.0.1:1")
            .build()
            .unwrap()
            .alerts(&n, t.at);
        let annotations = &alerts[0]["annotations"];

        for (key, value) in &view {
            assert_eq!(&last[key], value, "health last_transition.{key}");
            assert_eq!(&webhook[key], value, "webhook {key}");
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            assert_eq!(annotations[key], text, "alertmanager annotation {key}");
        }
        for (key, value) in &numbers {
            assert_eq!(&last[key], value, "health last_transition.{key}");
            assert_eq!(&webhook["window"][key], value, "webhook window.{key}");
        }
        // The time formatter is shared too: the incident start and the alert's start.
        assert_eq!(webhook["since"], view["at"]);
        assert_eq!(alerts[0]["startsAt"], view["at"]);
        assert_eq!(health["since"], view["at"]);
        assert_eq!(health["since_unix_ms"], view["at_unix_ms"]);
    }
}
