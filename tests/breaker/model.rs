//! Random operation sequences against a small reference model of the state machine.
//! The model is the specification written as plainly as possible (a `VecDeque` window, no
//! atomics); the breaker must agree with it after every operation.

#![cfg(feature = "test-util")]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, Event, ManualClock, Outcome, Permit, Reason, State};
use proptest::prelude::*;

const FAILURE_THRESHOLD: u32 = 3;
const SUCCESS_THRESHOLD: u32 = 2;
const HALF_OPEN_MAX: u32 = 2;
const WINDOW: usize = 6;
const MIN_CALLS: usize = 4;
const RESET: u64 = 10;
const HALF_OPEN_TIMEOUT: u64 = 60;
const SLOW_SECS: u64 = 1;

fn config() -> Config {
    Config::builder()
        .failure_threshold(FAILURE_THRESHOLD)
        .success_threshold(SUCCESS_THRESHOLD)
        .half_open_max_calls(HALF_OPEN_MAX)
        .window_size(WINDOW as u32)
        .window_buckets(WINDOW as u32)
        .min_calls(MIN_CALLS as u32)
        .failure_rate_threshold(0.5)
        .slow_call_rate_threshold(0.5)
        .slow_call_duration(Duration::from_secs(SLOW_SECS))
        .reset_timeout(Duration::from_secs(RESET))
        .backoff_factor(2.0)
        .max_reset_timeout(Duration::from_secs(40))
        .half_open_timeout(Duration::from_secs(HALF_OPEN_TIMEOUT))
        .build()
        .unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Acquire,
    Complete { idx: usize, outcome: u8, slow: bool },
    Drop { idx: usize },
    Advance(u64),
    Reset,
    ForceOpen,
    ForceOpenFor(u64),
    Disable,
    MetricsOnly,
    Poll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => Just(Op::Acquire),
        8 => (0usize..4, 0u8..3, prop::bool::weighted(0.2))
            .prop_map(|(idx, outcome, slow)| Op::Complete { idx, outcome, slow }),
        1 => (0usize..4).prop_map(|idx| Op::Drop { idx }),
        3 => (1u64..25).prop_map(Op::Advance),
        1 => Just(Op::Reset),
        1 => Just(Op::ForceOpen),
        1 => (0u64..20).prop_map(Op::ForceOpenFor),
        1 => Just(Op::Disable),
        1 => Just(Op::MetricsOnly),
        1 => Just(Op::Poll),
    ]
}

#[derive(Debug, Clone, Copy)]
struct MPermit {
    epoch: u64,
    trial: bool,
    start: u64,
}

#[derive(Debug, Default)]
struct Model {
    state: Option<State>,
    epoch: u64,
    in_flight: u32,
    successes: u32,
    consecutive: u32,
    window: VecDeque<(bool, bool)>,
    deadline: Option<u64>,
    since: u64,
    last_trial_done: u64,
    trips: u32,
    dry_quiet_until: Option<u64>,
    now: u64,
    totals: [u64; 4], // success, failure, ignored, rejected
    log: Vec<(State, State, Reason)>,
}

impl Model {
    fn state(&self) -> State {
        self.state.unwrap_or(State::Closed)
    }

    fn transition(&mut self, to: State, reason: Reason, ttl: Option<u64>) {
        let from = self.state();
        let dry = from == State::MetricsOnly && to == State::Open;
        self.epoch += 1;
        self.in_flight = 0;
        self.successes = 0;
        let next = if dry { State::MetricsOnly } else { to };
        self.state = Some(next);
        self.dry_quiet_until = dry.then_some(self.now + RESET);
        match next {
            State::Open => {
                self.trips = if from == State::HalfOpen {
                    self.trips + 1
                } else {
                    1
                };
                let t = (RESET << (self.trips - 1).min(10)).min(40);
                self.deadline = Some(self.now + t);
            }
            State::ForcedOpen => self.deadline = ttl.map(|t| self.now + t),
            _ => {}
        }
        if !dry {
            self.since = self.now;
            self.log.push((from, to, reason));
        }
        if !dry && matches!(next, State::Closed | State::MetricsOnly | State::Disabled) {
            self.window.clear();
            self.consecutive = 0;
        }
        if next == State::Closed {
            self.trips = 0;
        }
    }

    /// Operator actions are transitions, also into the current state (a new epoch).
    fn force(&mut self, to: State, reason: Reason, ttl: Option<u64>) {
        self.transition(to, reason, ttl);
    }

    fn acquire(&mut self) -> Result<MPermit, State> {
        loop {
            match self.state() {
                State::Closed | State::Disabled | State::MetricsOnly => {
                    return Ok(MPermit {
                        epoch: self.epoch,
                        trial: false,
                        start: self.now,
                    });
                }
                s @ (State::Open | State::ForcedOpen) => match self.deadline {
                    Some(d) if self.now >= d => {
                        self.transition(State::HalfOpen, Reason::TimeoutElapsed, None)
                    }
                    _ => {
                        self.totals[3] += 1;
                        return Err(s);
                    }
                },
                State::HalfOpen => {
                    if self.in_flight < HALF_OPEN_MAX {
                        self.in_flight += 1;
                        return Ok(MPermit {
                            epoch: self.epoch,
                            trial: true,
                            start: self.now,
                        });
                    }
                    let active = self.since.max(self.last_trial_done);
                    if self.now - active > HALF_OPEN_TIMEOUT {
                        self.transition(State::Open, Reason::TimeoutElapsed, None);
                    } else {
                        self.totals[3] += 1;
                        return Err(State::HalfOpen);
                    }
                }
            }
        }
    }

    fn complete(&mut self, p: MPermit, outcome: Outcome) {
        let slow = self.now - p.start > SLOW_SECS;
        self.totals[match outcome {
            Outcome::Success => 0,
            Outcome::Failure => 1,
            Outcome::Ignore => 2,
            _ => unreachable!("the model draws success, failure and ignore only"),
        }] += 1;
        let current = self.state() == State::HalfOpen && self.epoch == p.epoch;
        if p.trial {
            self.last_trial_done = self.now;
            let reopen = match outcome {
                Outcome::Failure => Some(Reason::HalfOpenFailure),
                Outcome::Success if slow => Some(Reason::HalfOpenSlowCall),
                _ => None,
            };
            if !current {
                return;
            }
            if let Some(r) = reopen {
                self.transition(State::Open, r, None);
                return;
            }
            self.in_flight -= 1;
            if outcome == Outcome::Success {
                self.successes += 1;
                if self.successes >= SUCCESS_THRESHOLD {
                    self.transition(State::Closed, Reason::HalfOpenSuccess, None);
                }
            }
            return;
        }
        if outcome == Outcome::Ignore || p.epoch != self.epoch {
            return;
        }
        let state = self.state();
        if !matches!(state, State::Closed | State::MetricsOnly | State::Disabled) {
            return;
        }
        let failure = outcome == Outcome::Failure;
        self.window.push_back((failure, slow));
        if self.window.len() > WINDOW {
            self.window.pop_front();
        }
        self.consecutive = if failure { self.consecutive + 1 } else { 0 };
        if state == State::Disabled {
            return;
        }
        let calls = self.window.len();
        let fails = self.window.iter().filter(|c| c.0).count();
        let slows = self.window.iter().filter(|c| c.1).count();
        let reason = if self.consecutive >= FAILURE_THRESHOLD {
            Some(Reason::ConsecutiveFailures)
        } else if calls >= MIN_CALLS && fails * 2 >= calls && fails > 0 {
            Some(Reason::FailureRate)
        } else if calls >= MIN_CALLS && slows * 2 >= calls && slows > 0 {
            Some(Reason::SlowCallRate)
        } else {
            None
        };
        if let Some(r) = reason {
            if state == State::MetricsOnly && self.dry_quiet_until.is_some_and(|q| self.now < q) {
                return;
            }
            self.transition(State::Open, r, None);
        }
    }

    fn poll(&mut self) {
        if matches!(self.state(), State::Open | State::ForcedOpen)
            && self.deadline.is_some_and(|d| self.now >= d)
        {
            self.transition(State::HalfOpen, Reason::TimeoutElapsed, None);
        }
    }
}

fn outcome_of(code: u8) -> Outcome {
    [Outcome::Success, Outcome::Failure, Outcome::Ignore][code as usize]
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let b = CircuitBreaker::builder("model")
        .config(config())
        .clock(clock.clone())
        .listener(move |e: &Event<'_>| {
            if let Event::Transition(t) = e {
                sink.lock().unwrap().push((t.from, t.to, t.reason));
            }
        })
        .build()
        .unwrap();
    let mut m = Model::default();
    let mut held: Vec<(Permit<'_>, MPermit)> = Vec::new();
    for op in ops {
        match op {
            Op::Acquire => {
                let real = b.try_acquire();
                let model = m.acquire();
                match (real, model) {
                    (Ok(p), Ok(mp)) => {
                        prop_assert_eq!(p.is_trial(), mp.trial);
                        if held.len() < 4 {
                            held.push((p, mp));
                        } else {
                            p.success();
                            m.complete(mp, Outcome::Success);
                        }
                    }
                    (Err(e), Err(s)) => prop_assert_eq!(e.state(), s),
                    (r, mo) => {
                        prop_assert!(false, "real {:?} vs model {:?}", r.map(|p| p.state()), mo)
                    }
                }
            }
            Op::Complete { idx, outcome, slow } => {
                if idx < held.len() {
                    let (p, mp) = held.remove(idx);
                    if slow {
                        clock.advance(Duration::from_secs(SLOW_SECS + 1));
                        m.now += SLOW_SECS + 1;
                    }
                    p.record(outcome_of(outcome));
                    m.complete(mp, outcome_of(outcome));
                }
            }
            Op::Drop { idx } => {
                if idx < held.len() {
                    let (p, mp) = held.remove(idx);
                    drop(p);
                    m.complete(mp, Outcome::Ignore);
                }
            }
            Op::Advance(s) => {
                clock.advance(Duration::from_secs(s));
                m.now += s;
            }
            Op::Reset => {
                b.reset();
                m.force(State::Closed, Reason::Manual, None);
            }
            Op::ForceOpen => {
                b.force_open();
                m.force(State::ForcedOpen, Reason::Forced, None);
            }
            Op::ForceOpenFor(s) => {
                b.force_open_for(Duration::from_secs(s));
                m.force(State::ForcedOpen, Reason::Forced, Some(s));
            }
            Op::Disable => {
                b.disable();
                m.force(State::Disabled, Reason::Manual, None);
            }
            Op::MetricsOnly => {
                b.metrics_only();
                m.force(State::MetricsOnly, Reason::Manual, None);
            }
            Op::Poll => {
                b.poll_timeouts();
                m.poll();
            }
        }
        let s = b.snapshot();
        prop_assert_eq!(s.state, m.state());
        prop_assert_eq!(
            s.half_open_in_flight,
            if m.state() == State::HalfOpen {
                m.in_flight
            } else {
                0
            }
        );
        let calls = m.window.len() as u64;
        let fails = m.window.iter().filter(|c| c.0).count() as u64;
        let slows = m.window.iter().filter(|c| c.1).count() as u64;
        prop_assert_eq!(
            (s.window.calls, s.window.failures, s.window.slow_calls),
            (calls, fails, slows)
        );
        prop_assert_eq!(
            [
                s.totals.successes,
                s.totals.failures,
                s.totals.ignored,
                s.totals.rejected
            ],
            m.totals
        );
        prop_assert_eq!(&*log.lock().unwrap(), &m.log);
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::proptest_config(512))]
    #[test]
    fn breaker_agrees_with_reference_model(ops in prop::collection::vec(op(), 1..120)) {
        run(ops)?;
    }
}
