//! The dispatcher's policies: which transitions notify ([`Filter`]), how deliveries are
//! retried ([`RetryPolicy`]) and when a breaker counts as flapping ([`FlapPolicy`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::NotifyError;
use crate::backoff::{Backoff, Random, jitter};
use crate::event::Transition;
use crate::state::State;

/// Which transitions notify. Runs on the call path, before the queue: keep it cheap.
///
/// The default lets through transitions into `Open`, `ForcedOpen` and `Closed` (the
/// dispatcher turns a close into a recovery notice, and drops it if no problem was
/// announced), except a reset of a breaker that was already Closed (closed -> closed):
/// nothing changed for the dependency, so nobody is paged.
///
/// ```
/// use breakerbox::State;
/// use breakerbox::notify::Filter;
///
/// let opens_and_probes = Filter::entering([State::Open, State::HalfOpen, State::Closed]);
/// let only_postgres = Filter::new(|t| &*t.breaker == "postgres" && t.to != State::HalfOpen);
/// # let _ = (opens_and_probes, only_postgres);
/// ```
#[derive(Clone)]
pub struct Filter(Arc<dyn Fn(&Transition) -> bool + Send + Sync>);

impl Filter {
    /// A filter from a predicate.
    pub fn new(f: impl Fn(&Transition) -> bool + Send + Sync + 'static) -> Filter {
        Filter(Arc::new(f))
    }

    /// Transitions into any of `states`.
    pub fn entering(states: impl IntoIterator<Item = State>) -> Filter {
        let mask = states.into_iter().fold(0u8, |m, s| m | bit(s));
        Filter::new(move |t| mask & bit(t.to) != 0)
    }

    /// Every transition.
    pub fn all() -> Filter {
        Filter::new(|_| true)
    }

    /// Whether `transition` notifies.
    pub fn matches(&self, transition: &Transition) -> bool {
        (self.0)(transition)
    }
}

fn bit(s: State) -> u8 {
    1 << s.code()
}

impl Default for Filter {
    fn default() -> Filter {
        let entering = Filter::entering([State::Open, State::ForcedOpen, State::Closed]);
        Filter::new(move |t| {
            !(t.from == State::Closed && t.to == State::Closed) && entering.matches(t)
        })
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Filter(..)")
    }
}

/// How each channel's deliveries are attempted: a timeout per attempt, then retries with
/// exponential backoff and jitter, then a counted failure.
///
/// The wait before attempt `n + 1` is `initial_backoff * 2^(n-1)`, capped at
/// `max_backoff`, then scaled by a random factor in `[1 - jitter, 1 + jitter]`.
///
/// ```
/// use breakerbox::notify::RetryPolicy;
/// use std::time::Duration;
///
/// let fast = RetryPolicy::new()
///     .attempts(3)
///     .backoff(Duration::from_millis(10), Duration::from_millis(100))
///     .timeout(Duration::from_millis(500));
/// # let _ = fast;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub(crate) attempts: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) timeout: Duration,
    pub(crate) jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// The defaults: 4 attempts, backoff from 500 ms up to 30 s, a 10 s timeout per attempt,
    /// 20% jitter.
    pub fn new() -> RetryPolicy {
        RetryPolicy::default()
    }

    /// Attempts in all, the first included (at least 1).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// The wait before the first retry and the cap on any wait.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// How long one attempt may take before it counts as failed (and is retried).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The random spread of each wait, in `[0, 1]` (0 for none).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), NotifyError> {
        if self.attempts == 0 {
            return Err(NotifyError::Zero { field: "attempts" });
        }
        if self.timeout.is_zero() {
            return Err(NotifyError::Zero { field: "timeout" });
        }
        if self.max_backoff < self.initial_backoff {
            return Err(NotifyError::OutOfRange {
                field: "max_backoff",
                expected: "at least initial_backoff",
            });
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(NotifyError::OutOfRange {
                field: "jitter",
                expected: "a fraction in [0, 1]",
            });
        }
        Ok(())
    }

    /// The wait after failed attempt `attempt` (1-based), at most [`MAX_WAIT`].
    pub(crate) fn backoff_after(&self, attempt: u32) -> Duration {
        // Doubling stops at 2^62: far beyond any cap that matters, and below overflow.
        let base = Backoff::new(self.initial_backoff, 2.0, self.max_backoff).delay(attempt.min(63));
        jitter(base, self.jitter, Random::shared()).min(MAX_WAIT)
    }
}

/// The longest wait between two attempts, whatever the policy: 10^9 seconds (about 31
/// years), the stand-in for "never".
const MAX_WAIT: Duration = Duration::from_secs(1_000_000_000);

/// When a breaker counts as flapping: `threshold` notices within `window`. Its notices are
/// then replaced by one "flapping" notice, and held back until no transition has happened
/// for `window`; one notice then tells the state the breaker settled in and how many
/// transitions were held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlapPolicy {
    pub(crate) threshold: u32,
    pub(crate) window: Duration,
}

impl Default for FlapPolicy {
    fn default() -> FlapPolicy {
        FlapPolicy {
            threshold: 4,
            window: Duration::from_secs(300),
        }
    }
}

impl FlapPolicy {
    /// Flapping at `threshold` notices (at least 2) within `window`. The default is 4
    /// within 5 minutes: open, recovered, open, recovered.
    pub fn new(threshold: u32, window: Duration) -> FlapPolicy {
        FlapPolicy { threshold, window }
    }

    /// Never flapping: every notice that is not a duplicate is sent.
    pub fn disabled() -> FlapPolicy {
        FlapPolicy {
            threshold: u32::MAX,
            window: Duration::ZERO,
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.threshold != u32::MAX
    }

    pub(crate) fn validate(&self) -> Result<(), NotifyError> {
        if !self.enabled() {
            return Ok(());
        }
        if self.threshold < 2 {
            return Err(NotifyError::OutOfRange {
                field: "flap threshold",
                expected: "at least 2",
            });
        }
        if self.window.is_zero() {
            return Err(NotifyError::Zero {
                field: "flap window",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::transition;
    use crate::state::Reason;

    #[test]
    fn backoff_doubles_up_to_the_cap_within_jitter() {
        let p = RetryPolicy::new()
            .backoff(Duration::from_millis(100), Duration::from_millis(500))
            .jitter(0.2);
        for _ in 0..100 {
            let b1 = p.backoff_after(1).as_secs_f64();
            let b3 = p.backoff_after(3).as_secs_f64();
            let b9 = p.backoff_after(9).as_secs_f64();
            assert!((0.08..=0.12).contains(&b1), "{b1}");
            assert!((0.32..=0.48).contains(&b3), "{b3}");
            assert!((0.4..=0.6).contains(&b9), "{b9}");
        }
        let exact = p.jitter(0.0);
        assert_eq!(exact.backoff_after(2), Duration::from_millis(200));
        assert_eq!(exact.backoff_after(u32::MAX), Duration::from_millis(500));
    }

    #[test]
    fn invalid_policies_are_errors() {
        assert!(RetryPolicy::new().attempts(0).validate().is_err());
        assert!(RetryPolicy::new().jitter(1.5).validate().is_err());
        assert!(RetryPolicy::new().jitter(f64::NAN).validate().is_err());
        assert!(
            RetryPolicy::new()
                .timeout(Duration::ZERO)
                .validate()
                .is_err()
        );
        let inverted = RetryPolicy::new().backoff(Duration::from_secs(2), Duration::from_secs(1));
        assert!(inverted.validate().is_err());
        assert!(
            FlapPolicy::new(1, Duration::from_secs(1))
                .validate()
                .is_err()
        );
        assert!(FlapPolicy::new(3, Duration::ZERO).validate().is_err());
        assert!(FlapPolicy::disabled().validate().is_ok());
    }

    #[test]
    fn default_filter_passes_opens_and_closes() {
        let f = Filter::default();
        let t = |from, to| transition("x", from, to, Reason::Manual);
        assert!(f.matches(&t(State::Closed, State::Open)));
        assert!(f.matches(&t(State::Closed, State::ForcedOpen)));
        assert!(f.matches(&t(State::HalfOpen, State::Closed)));
        assert!(!f.matches(&t(State::Open, State::HalfOpen)));
        assert!(!f.matches(&t(State::Closed, State::Disabled)));
        assert!(
            !f.matches(&t(State::Closed, State::Closed)),
            "a reset of Closed"
        );
        assert!(
            f.matches(&t(State::ForcedOpen, State::ForcedOpen)),
            "a new TTL"
        );
        assert!(Filter::all().matches(&t(State::Open, State::HalfOpen)));
    }
}
