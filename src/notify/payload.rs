//! The webhook's JSON document (schema version 1), documented field by field in
//! `docs/NOTIFY.md`. Receivers written in Rust can deserialize it with this type.

use serde::{Deserialize, Serialize};

use super::message::{Kind, Notification, timestamp};
use crate::state::{Reason, State};

/// The JSON body the webhook channel (`WebhookNotifier`, feature `notify-webhook`) posts
/// in JSON mode.
///
/// ```json
/// {
///   "version": 1,
///   "kind": "opened",
///   "breaker": "postgres",
///   "from": "closed",
///   "to": "open",
///   "reason": "failure_rate",
///   "summary": "postgres opened: failure rate 65.0% >= 50.0%",
///   "firing": true,
///   "at": "2025-03-01T12:00:00.000Z",
///   "at_unix_ms": 1740830400000,
///   "since": "2025-03-01T12:00:00.000Z",
///   "host": "web-1",
///   "window": {
///     "calls": 20, "failures": 13, "slow_calls": 1,
///     "failure_rate": 0.65, "slow_call_rate": 0.05,
///     "consecutive_failures": 4, "threshold": 0.5
///   },
///   "open_for_ms": 30000,
///   "suppressed": 0,
///   "flapping": null
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebhookPayload {
    /// Schema version: 1. Fields may be added within a version, never removed or renamed.
    pub version: u32,
    /// `opened`, `recovered`, `changed` or `flapping`.
    pub kind: String,
    /// The breaker's name.
    pub breaker: String,
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Why, e.g. `failure_rate`.
    pub reason: Reason,
    /// One line for humans.
    pub summary: String,
    /// Whether the notice reports a live problem (see
    /// [`Notification::is_firing`](super::Notification::is_firing)).
    pub firing: bool,
    /// Time of the transition, RFC 3339 UTC.
    pub at: String,
    /// Time of the transition, Unix milliseconds.
    pub at_unix_ms: u64,
    /// When the incident began, RFC 3339 UTC.
    pub since: String,
    /// The sending host.
    pub host: String,
    /// The window's numbers at the transition.
    pub window: WindowNumbers,
    /// How long the breaker stays open before probing, in milliseconds, if it is open.
    pub open_for_ms: Option<u64>,
    /// Transitions held back since the previous notice.
    pub suppressed: u64,
    /// Set on a `flapping` notice.
    pub flapping: Option<FlapDetails>,
}

/// The window's numbers in a [`WebhookPayload`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WindowNumbers {
    /// Calls in the window.
    pub calls: u64,
    /// Failed calls in the window.
    pub failures: u64,
    /// Slow calls in the window.
    pub slow_calls: u64,
    /// Failure rate (0 to 1), `null` below `min_calls`.
    pub failure_rate: Option<f64>,
    /// Slow-call rate (0 to 1), `null` below `min_calls`.
    pub slow_call_rate: Option<f64>,
    /// Consecutive failures.
    pub consecutive_failures: u32,
    /// The threshold of the trigger that fired, if any.
    pub threshold: Option<f64>,
}

/// The flapping details in a [`WebhookPayload`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FlapDetails {
    /// State changes within the window.
    pub transitions: u32,
    /// The flap window in milliseconds.
    pub window_ms: u64,
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl From<&Notification> for WebhookPayload {
    fn from(n: &Notification) -> WebhookPayload {
        let t = &n.transition;
        WebhookPayload {
            version: 1,
            kind: n.kind.as_str().to_owned(),
            breaker: t.breaker.to_string(),
            from: t.from,
            to: t.to,
            reason: t.reason,
            summary: n.summary(),
            firing: n.is_firing(),
            at: timestamp(t.at),
            at_unix_ms: t.at.duration_since(std::time::UNIX_EPOCH).map_or(0, millis),
            since: timestamp(n.since),
            host: n.host.to_string(),
            window: WindowNumbers {
                calls: t.counts.calls,
                failures: t.counts.failures,
                slow_calls: t.counts.slow_calls,
                failure_rate: t.failure_rate,
                slow_call_rate: t.slow_call_rate,
                consecutive_failures: t.consecutive_failures,
                threshold: t.threshold,
            },
            open_for_ms: t.open_for.map(millis),
            suppressed: n.suppressed,
            flapping: match n.kind {
                Kind::Flapping {
                    transitions,
                    window,
                } => Some(FlapDetails {
                    transitions,
                    window_ms: millis(window),
                }),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::transition;

    #[test]
    fn payload_round_trips_with_documented_names() {
        let t = transition("postgres", State::Closed, State::Open, Reason::FailureRate);
        let p = WebhookPayload::from(&Notification::new(Kind::Opened, t));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["kind"], "opened");
        assert_eq!(json["to"], "open");
        assert_eq!(json["reason"], "failure_rate");
        assert_eq!(json["window"]["failures"], 13);
        assert_eq!(json["open_for_ms"], 30000);
        assert_eq!(json["at_unix_ms"], 1_700_000_000_000u64);
        assert!(json["flapping"].is_null());
        let back: WebhookPayload = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
    }
}
