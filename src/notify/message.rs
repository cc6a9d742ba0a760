//! What a channel delivers: a [`Notification`] built from a [`Transition`], with its
//! subject line and plain-text body.

use std::fmt::{self, Write as _};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use crate::event::Transition;
use crate::state::{Reason, State};
use crate::time::rfc3339;

/// What a notification announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// The breaker opened (or was forced open).
    Opened,
    /// The breaker closed again after an announced problem.
    Recovered,
    /// Another transition a [`Filter`](super::Filter) lets through (e.g. to half-open or
    /// disabled).
    Changed,
    /// The breaker changed state too often; notices for it are held back until it has been
    /// quiet for the flap window, then one notice tells the state it settled in.
    Flapping {
        /// Notices that would have been sent within the window.
        transitions: u32,
        /// The flap window.
        window: Duration,
    },
}

impl Kind {
    /// `opened`, `recovered`, `changed` or `flapping`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Opened => "opened",
            Kind::Recovered => "recovered",
            Kind::Changed => "changed",
            Kind::Flapping { .. } => "flapping",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One notice about one breaker, as every channel receives it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Notification {
    /// What it announces.
    pub kind: Kind,
    /// The transition that caused it (for a notice after flapping, the last one).
    pub transition: Transition,
    /// When the current incident began: the first announced problem of this breaker. For a
    /// recovery, how long the breaker was down is `transition.at - since`.
    pub since: SystemTime,
    /// Transitions of this breaker held back (duplicates, flapping) since the previous
    /// notice.
    pub suppressed: u64,
    /// The host that sent it.
    pub host: Arc<str>,
}

impl Notification {
    /// A notice of `kind` about `transition`, sent from this host.
    pub fn new(kind: Kind, transition: Transition) -> Notification {
        Notification {
            kind,
            since: transition.at,
            transition,
            suppressed: 0,
            host: local_host(),
        }
    }

    /// The breaker's name.
    pub fn breaker(&self) -> &str {
        &self.transition.breaker
    }

    /// Whether the notice reports a live problem (open, half-open, flapping) rather than a
    /// recovery: Alertmanager gets a firing alert for these, a resolved one otherwise.
    pub fn is_firing(&self) -> bool {
        match self.kind {
            Kind::Opened | Kind::Flapping { .. } => true,
            Kind::Recovered => false,
            Kind::Changed => matches!(
                self.transition.to,
                State::Open | State::HalfOpen | State::ForcedOpen
            ),
        }
    }

    /// How long the incident has lasted at the time of the transition.
    pub fn duration(&self) -> Duration {
        self.transition
            .at
            .duration_since(self.since)
            .unwrap_or_default()
    }

    /// The trigger in words, e.g. `failure rate 62.0% >= 50.0%` or `5 consecutive failures`.
    pub fn cause(&self) -> String {
        let t = &self.transition;
        let pct = |r: f64| format!("{:.1}%", r * 100.0);
        match (t.reason, t.threshold) {
            (Reason::ConsecutiveFailures, _) => {
                format!("{} consecutive failures", t.consecutive_failures)
            }
            (Reason::FailureRate, Some(th)) => match t.failure_rate {
                Some(r) => format!("failure rate {} >= {}", pct(r), pct(th)),
                None => format!("failure rate >= {}", pct(th)),
            },
            (Reason::SlowCallRate, Some(th)) => match t.slow_call_rate {
                Some(r) => format!("slow-call rate {} >= {}", pct(r), pct(th)),
                None => format!("slow-call rate >= {}", pct(th)),
            },
            (Reason::Fleet, _) if t.fleet.is_some() => {
                let f = t.fleet.as_ref().expect("checked");
                let what = match f.trigger {
                    Reason::SlowCallRate => "slow-call rate",
                    _ => "failure rate",
                };
                format!(
                    "fleet {what} {} >= {} over {} calls on {} replicas",
                    pct(f.rate()),
                    pct(f.threshold),
                    f.calls,
                    f.replicas()
                )
            }
            (reason, _) => reason.as_str().replace('_', " "),
        }
    }

    /// A one-line summary without a prefix, e.g. `postgres opened: failure rate 62.0% >=
    /// 50.0%`.
    pub fn summary(&self) -> String {
        let t = &self.transition;
        let mut s = match self.kind {
            Kind::Opened if t.to == State::ForcedOpen => format!("{} forced open", t.breaker),
            Kind::Opened => format!("{} opened: {}", t.breaker, self.cause()),
            Kind::Recovered => format!(
                "{} recovered after {}",
                t.breaker,
                readable(self.duration())
            ),
            Kind::Changed => format!("{} {} -> {} ({})", t.breaker, t.from, t.to, t.reason),
            Kind::Flapping {
                transitions,
                window,
            } => format!(
                "{} is flapping: {transitions} state changes within {}",
                t.breaker,
                readable(window)
            ),
        };
        if self.suppressed > 0 && !matches!(self.kind, Kind::Flapping { .. }) {
            let _ = write!(s, " ({} transitions held back)", self.suppressed);
        }
        s
    }

    /// The subject line: `[breakerbox] ` and the [`summary`](Notification::summary).
    pub fn subject(&self) -> String {
        format!("[breakerbox] {}", self.summary())
    }

    /// A plain-text body: breaker, transition, reason, window numbers, time and host, one
    /// per line.
    pub fn text(&self) -> String {
        let t = &self.transition;
        let mut out = String::new();
        let mut line = |k: &str, v: &dyn fmt::Display| {
            let _ = writeln!(out, "{k:<22}{v}");
        };
        line("Breaker:", &t.breaker);
        line("Event:", &self.kind);
        line("Transition:", &format_args!("{} -> {}", t.from, t.to));
        line("Reason:", &format_args!("{} ({})", t.reason, self.cause()));
        line("Failure rate:", &rate(t.failure_rate));
        line("Slow-call rate:", &rate(t.slow_call_rate));
        if let Some(th) = t.threshold {
            line("Threshold:", &th);
        }
        line(
            "Window:",
            &format_args!(
                "{} calls, {} failures, {} slow",
                t.counts.calls, t.counts.failures, t.counts.slow_calls
            ),
        );
        line("Consecutive failures:", &t.consecutive_failures);
        if let Some(f) = &t.fleet {
            line(
                "Fleet window:",
                &format_args!(
                    "{} calls, {} failures ({}), {} slow ({}) on {} replicas failing, {} slow \
                     (quorum {})",
                    f.calls,
                    f.failures,
                    rate(Some(f.failure_rate)),
                    f.slow_calls,
                    rate(Some(f.slow_call_rate)),
                    f.replicas_failing,
                    f.replicas_slow,
                    f.quorum
                ),
            );
        }
        if let Some(d) = t.open_for {
            line("Open for:", &readable(d));
        }
        line("At:", &rfc3339(t.at));
        if self.since != t.at {
            line("Incident since:", &rfc3339(self.since));
        }
        if self.suppressed > 0 {
            line(
                "Held back:",
                &format_args!("{} transitions", self.suppressed),
            );
        }
        line("Host:", &self.host);
        out
    }
}

fn rate(r: Option<f64>) -> String {
    r.map_or_else(
        || "n/a (below min_calls)".to_owned(),
        |r| format!("{:.1}%", r * 100.0),
    )
}

/// A duration rounded to whole seconds (milliseconds below one second), e.g. `4m 12s`.
pub(crate) fn readable(d: Duration) -> String {
    let d = if d >= Duration::from_secs(1) {
        Duration::from_secs(d.as_secs())
    } else {
        Duration::from_millis(crate::time::millis(d))
    };
    humantime::format_duration(d).to_string()
}

/// This machine's host name: `$HOSTNAME`, else the kernel's, else `unknown`.
pub(crate) fn local_host() -> Arc<str> {
    static HOST: OnceLock<Arc<str>> = OnceLock::new();
    HOST.get_or_init(|| {
        std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown".to_owned())
            .into()
    })
    .clone()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::window::WindowCounts;

    pub(crate) fn transition(name: &str, from: State, to: State, reason: Reason) -> Transition {
        Transition {
            breaker: name.into(),
            from,
            to,
            reason,
            counts: WindowCounts {
                calls: 20,
                failures: 13,
                slow_calls: 1,
            },
            failure_rate: Some(0.65),
            slow_call_rate: Some(0.05),
            consecutive_failures: 4,
            threshold: Some(0.5),
            open_for: Some(Duration::from_secs(30)),
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            fleet: None,
            restored: false,
        }
    }

    #[test]
    fn subject_and_body_name_the_cause() {
        let t = transition("postgres", State::Closed, State::Open, Reason::FailureRate);
        let n = Notification::new(Kind::Opened, t);
        assert_eq!(
            n.subject(),
            "[breakerbox] postgres opened: failure rate 65.0% >= 50.0%"
        );
        let body = n.text();
        for needle in [
            "postgres",
            "closed -> open",
            "failure_rate",
            "20 calls, 13 failures, 1 slow",
            "2023-11-14T22:13:20.000Z",
            "Open for:             30s",
        ] {
            assert!(body.contains(needle), "{needle} missing in\n{body}");
        }
        assert!(n.is_firing());
    }

    /// A fleet trip says the fleet's numbers (the local window may hold 6 calls and no
    /// rate), in the summary, the body and the JSON views every channel sends.
    #[test]
    fn a_fleet_trip_names_the_fleets_numbers() {
        let mut t = transition("postgres", State::Closed, State::Open, Reason::Fleet);
        t.threshold = Some(0.5);
        t.fleet = Some(crate::event::FleetNumbers {
            calls: 12,
            failures: 6,
            slow_calls: 0,
            failure_rate: 0.5,
            slow_call_rate: 0.0,
            replicas_failing: 2,
            replicas_slow: 0,
            trigger: Reason::FailureRate,
            threshold: 0.5,
            quorum: 2,
        });
        let view = serde_json::to_value(crate::view::TransitionView::from(&t)).unwrap();
        assert_eq!(view["fleet"]["calls"], 12);
        assert_eq!(view["fleet"]["replicas_failing"], 2);
        assert_eq!(view["fleet"]["trigger"], "failure_rate");
        let n = Notification::new(Kind::Opened, t);
        assert_eq!(
            n.summary(),
            "postgres opened: fleet failure rate 50.0% >= 50.0% over 12 calls on 2 replicas"
        );
        let body = n.text();
        assert!(
            body.contains("12 calls, 6 failures (50.0%), 0 slow (0.0%) on 2 replicas failing"),
            "{body}"
        );
        let local = transition("postgres", State::Closed, State::Open, Reason::FailureRate);
        let view = serde_json::to_value(crate::view::TransitionView::from(&local)).unwrap();
        assert!(
            view.get("fleet").is_none(),
            "no fleet key without a fleet verdict"
        );
    }

    #[test]
    fn recovery_says_how_long_it_was_down() {
        let t = transition(
            "postgres",
            State::HalfOpen,
            State::Closed,
            Reason::HalfOpenSuccess,
        );
        let mut n = Notification::new(Kind::Recovered, t);
        n.since = n.transition.at - Duration::from_secs(252);
        assert_eq!(n.summary(), "postgres recovered after 4m 12s");
        assert!(!n.is_firing());
    }
}
