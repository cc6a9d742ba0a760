//! Per-breaker de-duplication and flap suppression: which transitions become notices.
//!
//! Pure bookkeeping driven by the dispatcher's worker with Tokio's clock, so tests can run
//! it with paused time.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use super::message::{Kind, Notification, local_host};
use super::policy::FlapPolicy;
use crate::event::Transition;
use crate::state::State;

/// What was last announced about a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Announced {
    /// A problem: open or forced open.
    Down,
    /// Closed again.
    Up,
    /// Another state a filter let through.
    Other(State),
    /// A flapping notice; the settled state follows when it is quiet.
    Flapping,
}

fn condition(to: State) -> Announced {
    match to {
        State::Open | State::ForcedOpen => Announced::Down,
        State::Closed => Announced::Up,
        other => Announced::Other(other),
    }
}

#[derive(Debug)]
struct Flap {
    last: Transition,
    last_seen: Instant,
}

#[derive(Debug, Default)]
struct Track {
    announced: Option<Announced>,
    since: Option<SystemTime>,
    /// When recent notices were sent, at most `threshold` of them.
    recent: VecDeque<Instant>,
    held_back: u64,
    flap: Option<Flap>,
}

/// The outcome of one transition. Returned once per transition and matched at once, so
/// the notice is moved, not boxed (a box would be an allocation per notice).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Verdict {
    Notify(Notification),
    Suppress,
}

#[derive(Debug)]
pub(crate) struct Suppressor {
    policy: FlapPolicy,
    host: Arc<str>,
    tracks: HashMap<Arc<str>, Track>,
}

impl Suppressor {
    pub(crate) fn new(policy: FlapPolicy, host: Option<Arc<str>>) -> Suppressor {
        Suppressor {
            policy,
            host: host.unwrap_or_else(local_host),
            tracks: HashMap::new(),
        }
    }

    /// Decides whether `t` becomes a notice.
    pub(crate) fn on_transition(&mut self, t: Transition, now: Instant) -> Verdict {
        let track = self.tracks.entry(t.breaker.clone()).or_default();
        if let Some(flap) = &mut track.flap {
            track.held_back += 1;
            flap.last = t;
            flap.last_seen = now;
            return Verdict::Suppress;
        }
        let cond = condition(t.to);
        let duplicate = track.announced == Some(cond)
            || (cond == Announced::Up && matches!(track.announced, None | Some(Announced::Up)));
        if duplicate {
            track.held_back += 1;
            return Verdict::Suppress;
        }
        if self.policy.enabled() {
            while track
                .recent
                .front()
                .is_some_and(|&at| now.duration_since(at) >= self.policy.window)
            {
                track.recent.pop_front();
            }
            track.recent.push_back(now);
            if track.recent.len() >= self.policy.threshold as usize {
                let kind = Kind::Flapping {
                    transitions: track.recent.len() as u32,
                    window: self.policy.window,
                };
                track.recent.clear();
                let n = announce(track, &self.host, kind, Announced::Flapping, t.clone());
                track.flap = Some(Flap {
                    last: t,
                    last_seen: now,
                });
                return Verdict::Notify(n);
            }
        }
        let kind = match cond {
            Announced::Down => Kind::Opened,
            Announced::Up => Kind::Recovered,
            _ => Kind::Changed,
        };
        Verdict::Notify(announce(track, &self.host, kind, cond, t))
    }

    /// When the next flapping breaker may have settled.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.tracks
            .values()
            .filter_map(|t| t.flap.as_ref())
            .map(|f| super::deadline::after(f.last_seen, self.policy.window))
            .min()
    }

    /// Ends the flapping of every breaker quiet since `window` (all of them if `all`), with
    /// one notice each for the state it settled in.
    pub(crate) fn settle(&mut self, now: Instant, all: bool) -> Vec<Notification> {
        let mut out = Vec::new();
        for track in self.tracks.values_mut() {
            let quiet = track
                .flap
                .as_ref()
                .is_some_and(|f| all || now.duration_since(f.last_seen) >= self.policy.window);
            if !quiet {
                continue;
            }
            let Some(flap) = track.flap.take() else {
                continue;
            };
            let cond = condition(flap.last.to);
            let kind = match cond {
                Announced::Down => Kind::Opened,
                Announced::Up => Kind::Recovered,
                _ => Kind::Changed,
            };
            out.push(announce(track, &self.host, kind, cond, flap.last));
        }
        out
    }
}

/// Records `cond` as announced and builds the notice.
fn announce(
    track: &mut Track,
    host: &Arc<str>,
    kind: Kind,
    cond: Announced,
    t: Transition,
) -> Notification {
    let since = match track.since {
        Some(since) => since,
        None => t.at,
    };
    let mut n = Notification::new(kind, t);
    n.host = host.clone();
    n.since = since;
    n.suppressed = std::mem::take(&mut track.held_back);
    track.announced = Some(cond);
    track.since = if cond == Announced::Up {
        None
    } else {
        Some(since)
    };
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::transition;
    use crate::state::Reason;
    use std::time::Duration;

    fn t(from: State, to: State) -> Transition {
        transition("postgres", from, to, Reason::Manual)
    }

    fn kind(v: Verdict) -> Option<Kind> {
        match v {
            Verdict::Notify(n) => Some(n.kind),
            Verdict::Suppress => None,
        }
    }

    #[test]
    fn one_notice_per_open_and_one_per_recovery() {
        let mut s = Suppressor::new(FlapPolicy::disabled(), None);
        let now = Instant::now();
        assert_eq!(
            kind(s.on_transition(t(State::HalfOpen, State::Closed), now)),
            None
        );
        assert_eq!(
            kind(s.on_transition(t(State::Closed, State::Open), now)),
            Some(Kind::Opened)
        );
        assert_eq!(
            kind(s.on_transition(t(State::HalfOpen, State::Open), now)),
            None
        );
        let Verdict::Notify(n) = s.on_transition(t(State::HalfOpen, State::Closed), now) else {
            panic!("recovery suppressed");
        };
        assert_eq!((n.kind, n.suppressed), (Kind::Recovered, 1));
        assert_eq!(
            kind(s.on_transition(t(State::Open, State::Closed), now)),
            None
        );
    }

    #[test]
    fn flapping_is_one_notice_then_the_settled_state() {
        let policy = FlapPolicy::new(3, Duration::from_secs(60));
        let mut s = Suppressor::new(policy, None);
        let start = Instant::now();
        let mut kinds = Vec::new();
        for i in 0..50u64 {
            let (from, to) = if i % 2 == 0 {
                (State::Closed, State::Open)
            } else {
                (State::HalfOpen, State::Closed)
            };
            kinds.extend(kind(
                s.on_transition(t(from, to), start + Duration::from_secs(i)),
            ));
        }
        assert!(matches!(
            kinds[..],
            [
                Kind::Opened,
                Kind::Recovered,
                Kind::Flapping { transitions: 3, .. }
            ]
        ));
        let last = start + Duration::from_secs(49);
        assert_eq!(s.next_deadline(), Some(last + Duration::from_secs(60)));
        assert!(s.settle(last + Duration::from_secs(59), false).is_empty());
        let settled = s.settle(last + Duration::from_secs(60), false);
        assert_eq!(settled.len(), 1);
        assert_eq!(settled[0].kind, Kind::Recovered);
        assert_eq!(settled[0].suppressed, 47);
        assert_eq!(s.next_deadline(), None);
    }
}
