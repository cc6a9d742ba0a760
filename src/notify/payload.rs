//! The webhook's JSON document (schema version 1), documented field by field in
//! `docs/NOTIFY.md`. Receivers written in Rust can deserialize it with this type.

use serde::{Deserialize, Serialize};

use super::message::{Kind, Notification};
use crate::time::{millis, rfc3339};
pub use crate::view::{FleetView, TransitionView, WindowNumbers};

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
    /// The transition: `from`, `to`, `reason`, `at`, `at_unix_ms` and `open_for_ms`,
    /// written at the top level of the document.
    #[serde(flatten)]
    pub transition: TransitionView,
    /// One line for humans.
    pub summary: String,
    /// Whether the notice reports a live problem (see
    /// [`Notification::is_firing`](super::Notification::is_firing)).
    pub firing: bool,
    /// When the incident began, RFC 3339 UTC with milliseconds.
    pub since: String,
    /// The sending host.
    pub host: String,
    /// The window's numbers at the transition.
    pub window: WindowNumbers,
    /// Transitions held back since the previous notice.
    pub suppressed: u64,
    /// Set on a `flapping` notice.
    pub flapping: Option<FlapDetails>,
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

impl From<&Notification> for WebhookPayload {
    fn from(n: &Notification) -> WebhookPayload {
        let t = &n.transition;
        WebhookPayload {
            version: 1,
            kind: n.kind.as_str().to_owned(),
            breaker: t.breaker.to_string(),
            transition: TransitionView::from(t),
            summary: n.summary(),
            firing: n.is_firing(),
            since: rfc3339(n.since),
            host: n.host.to_string(),
            window: WindowNumbers::from(t),
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
    use crate::state::{Reason, State};

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
