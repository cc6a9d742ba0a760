//! Which calls get a `breakerbox.call` span: the calls that matter always, ordinary
//! successes sampled at the source.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};

/// Which ordinary calls (admitted in a closed-like state, not a half-open trial) get a
/// span of their own when they start.
///
/// The decision is made when the call is admitted, before a span exists: creating a span
/// with an OpenTelemetry layer installed costs microseconds, sampled or not, so a call
/// that is not chosen creates none. Calls that matter are traced whatever the policy:
/// rejections, half-open trials and transitions always; a failure, a timeout or a slow
/// call that was not chosen gets a short `breakerbox.call` span when it ends, with its
/// start time and duration as attributes (see `docs/METRICS.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Successes {
    /// One call in `n`, counted per breaker: the first call, then every `n`-th. `1` traces
    /// every call, like [`All`](Successes::All); `n` above `u32::MAX - 1` is taken as
    /// `u32::MAX - 1`.
    SampleEvery(NonZeroU32),
    /// Only a call made inside a span that is recording: with the `otel` feature, a span
    /// OpenTelemetry sampled; with any other subscriber, any enabled span.
    FollowParent,
    /// Every call.
    All,
    /// No ordinary call: only the calls that matter.
    None,
}

/// The span policy of a breaker: which ordinary calls are traced. Set it with
/// [`CircuitBreakerBuilder::span_policy`](crate::CircuitBreakerBuilder::span_policy) or for all the breakers of a
/// registry with [`Registry::set_span_policy`](crate::Registry::set_span_policy).
///
/// The default traces one ordinary call in 100 and every call that matters.
///
/// ```
/// use std::num::NonZeroU32;
/// use breakerbox::{CircuitBreaker, SpanPolicy, Successes};
///
/// let every_1000 = SpanPolicy::sample_every(NonZeroU32::new(1000).unwrap());
/// assert_eq!(every_1000.successes, Successes::SampleEvery(NonZeroU32::new(1000).unwrap()));
/// let breaker = CircuitBreaker::builder("ledger")
///     .span_policy(SpanPolicy::follow_parent())
///     .build()?;
/// assert_eq!(breaker.span_policy(), SpanPolicy::follow_parent());
/// # Ok::<(), breakerbox::BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpanPolicy {
    /// Which ordinary calls get a span when they start.
    pub successes: Successes,
}

/// The default sampling of ordinary calls: one in 100.
pub const DEFAULT_SAMPLE_EVERY: NonZeroU32 = NonZeroU32::new(100).unwrap();

impl Default for SpanPolicy {
    fn default() -> Self {
        SpanPolicy::sample_every(DEFAULT_SAMPLE_EVERY)
    }
}

impl SpanPolicy {
    /// One ordinary call in `n` (the first, then every `n`-th), per breaker.
    pub const fn sample_every(n: NonZeroU32) -> SpanPolicy {
        SpanPolicy {
            successes: Successes::SampleEvery(n),
        }
    }

    /// Ordinary calls only inside a recording (sampled) span of the caller.
    pub const fn follow_parent() -> SpanPolicy {
        SpanPolicy {
            successes: Successes::FollowParent,
        }
    }

    /// Every call has a span (the behaviour before span policies).
    pub const fn all() -> SpanPolicy {
        SpanPolicy {
            successes: Successes::All,
        }
    }

    /// Only the calls that matter: rejections, failures, timeouts, slow calls, half-open
    /// trials and transitions.
    pub const fn only_what_matters() -> SpanPolicy {
        SpanPolicy {
            successes: Successes::None,
        }
    }

    /// The policy as one word: 0 none, `u32::MAX` follow parent, `n` one in `n` (1: all).
    fn encode(self) -> u32 {
        match self.successes {
            Successes::None => 0,
            Successes::FollowParent => u32::MAX,
            Successes::All => 1,
            Successes::SampleEvery(n) => n.get().min(u32::MAX - 1),
        }
    }

    fn decode(word: u32) -> SpanPolicy {
        match word {
            0 => SpanPolicy::only_what_matters(),
            u32::MAX => SpanPolicy::follow_parent(),
            1 => SpanPolicy::all(),
            n => NonZeroU32::new(n).map_or_else(SpanPolicy::all, SpanPolicy::sample_every),
        }
    }
}

/// What [`Sampler::choose`] says about an ordinary call.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))] // chosen only by the span code
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// A span now.
    Span,
    /// No span unless the outcome matters.
    Skip,
    /// A span if the caller's current span is recording.
    IfParentRecords,
}

/// A breaker's policy and its 1-in-N counter.
///
/// # Memory ordering
/// Both words are `Relaxed`: the policy is a value of its own, and the counter is read and
/// written back, not incremented atomically, so no call pays for a locked
/// read-modify-write. Two threads that race on it may choose the same call number or skip
/// one: the sampling is one in about `n` under contention and exactly one in `n` on one
/// thread.
#[derive(Debug)]
pub(crate) struct Sampler {
    policy: AtomicU32,
    /// Written only while a subscriber wants call spans and the policy samples one in
    /// `n`. Not padded to a cache line of its own: 128 bytes per breaker for a cost that
    /// only threads sharing a breaker under a tracing subscriber would see.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    count: AtomicU32,
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler {
            policy: AtomicU32::new(SpanPolicy::default().encode()),
            count: AtomicU32::new(0),
        }
    }
}

impl Sampler {
    pub(crate) fn set(&self, policy: SpanPolicy) {
        self.policy.store(policy.encode(), Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> SpanPolicy {
        SpanPolicy::decode(self.policy.load(Ordering::Relaxed))
    }

    /// Whether an ordinary call starting now gets a span.
    #[inline]
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn choose(&self) -> Choice {
        match self.policy.load(Ordering::Relaxed) {
            0 => Choice::Skip,
            1 => Choice::Span,
            u32::MAX => Choice::IfParentRecords,
            every => {
                let n = self.count.load(Ordering::Relaxed);
                let next = n.saturating_add(1);
                let next = if next >= every { 0 } else { next };
                self.count.store(next, Ordering::Relaxed);
                if n == 0 { Choice::Span } else { Choice::Skip }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_round_trips_through_its_word() {
        for p in [
            SpanPolicy::default(),
            SpanPolicy::all(),
            SpanPolicy::follow_parent(),
            SpanPolicy::only_what_matters(),
            SpanPolicy::sample_every(NonZeroU32::new(u32::MAX - 1).unwrap()),
        ] {
            let s = Sampler::default();
            s.set(p);
            assert_eq!(s.get(), p);
        }
        // The largest n saturates instead of meaning another policy.
        let s = Sampler::default();
        s.set(SpanPolicy::sample_every(NonZeroU32::MAX));
        let most = SpanPolicy::sample_every(NonZeroU32::new(u32::MAX - 1).unwrap());
        assert_eq!(s.get(), most);
        // One in one is every call.
        let s = Sampler::default();
        s.set(SpanPolicy::sample_every(NonZeroU32::MIN));
        assert_eq!(s.get(), SpanPolicy::all());
    }

    #[test]
    fn one_in_n_chooses_the_first_call_then_every_nth() {
        let s = Sampler::default();
        s.set(SpanPolicy::sample_every(NonZeroU32::new(3).unwrap()));
        let chosen: Vec<usize> = (0..10)
            .filter(|_| s.choose() == Choice::Span)
            .collect::<Vec<_>>();
        assert_eq!(chosen.len(), 4);
        let s = Sampler::default();
        let picks: Vec<bool> = (0..250).map(|_| s.choose() == Choice::Span).collect();
        let at: Vec<usize> = (0..250).filter(|&i| picks[i]).collect();
        assert_eq!(at, [0, 100, 200]);
    }

    #[test]
    fn the_largest_n_does_not_overflow_the_counter() {
        let s = Sampler::default();
        s.set(SpanPolicy::sample_every(
            NonZeroU32::new(u32::MAX - 1).unwrap(),
        ));
        s.count.store(u32::MAX - 2, Ordering::Relaxed);
        assert_eq!(s.choose(), Choice::Skip);
        assert_eq!(s.choose(), Choice::Span);
    }
}
