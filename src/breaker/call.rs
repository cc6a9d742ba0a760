//! The future of an async call ([`CircuitBreaker::call`], [`CircuitBreaker::call_with`]):
//! it asks for a permit on its first poll, polls the caller's future (inside the call's
//! span when there is one, against the call timeout when one applies) and records the
//! outcome the poll that completes it.
//!
//! One hand-written state machine instead of an `async fn` per layer (admission, span,
//! timeout): each layer was a state machine of its own that moved the call's result (80
//! bytes with a [`CallError`]) and its state through memory once more, and the stores and
//! loads of those moves were most of what an async call cost over a blocking one.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::engine::Admission;
#[cfg(feature = "tracing")]
use super::run;
use super::{CircuitBreaker, Permit, timeout};
use crate::error::CallError;
use crate::event::Outcome;

/// The span a call runs in, when a subscriber may want one.
#[cfg(feature = "tracing")]
type SpanSlot = Option<crate::observe::spans::CallSpan>;
#[cfg(not(feature = "tracing"))]
type SpanSlot = ();

/// The call timeout's timer, when it can cancel the call (feature `rt-tokio`, inside a
/// Tokio runtime).
#[cfg(feature = "rt-tokio")]
type Deadline = Option<tokio::time::Sleep>;
#[cfg(not(feature = "rt-tokio"))]
type Deadline = ();

pin_project! {
    /// An async call through a breaker: admitted on its first poll. Dropped after its
    /// first poll and before it completes, its permit counts the call as ignored (and
    /// returns a half-open trial slot).
    pub(super) struct Call<'a, F, C> {
        breaker: &'a CircuitBreaker,
        // `Some` from admission to completion. The admission, not a `Permit`: a permit
        // moved into the future and read back went through memory in pieces that stalled
        // on store forwarding; the drop below does what a permit's drop would.
        adm: Option<Admission>,
        // `Some` until the call completes or is refused.
        classify: Option<C>,
        // The call timeout read at admission, for an overlong call that was not cancelled.
        limit: Option<Duration>,
        span: SpanSlot,
        #[pin]
        deadline: Deadline,
        // `None` once a call timeout cancelled the call: dropped then, as the caller's
        // future is dropped at the limit.
        #[pin]
        fut: Option<F>,
    }
    impl<F, C> PinnedDrop for Call<'_, F, C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(adm) = this.adm.take() {
                // Dropped while running: the call counts as ignored.
                drop(Permit::new(this.breaker, adm));
            }
        }
    }
}

impl<'a, F, C> Call<'a, F, C> {
    #[inline]
    pub(super) fn new(breaker: &'a CircuitBreaker, classify: C, fut: F) -> Self {
        Call {
            breaker,
            adm: None,
            classify: Some(classify),
            limit: None,
            span: Default::default(),
            deadline: Default::default(),
            fut: Some(fut),
        }
    }
}

impl<T, E, F, C> Future for Call<'_, F, C>
where
    F: Future<Output = Result<T, E>>,
    C: FnOnce(&Result<T, E>) -> Outcome,
{
    type Output = Result<T, CallError<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        #[cfg_attr(not(feature = "rt-tokio"), allow(unused_mut))]
        let mut this = self.project();
        let breaker: &CircuitBreaker = this.breaker;
        if this.adm.is_none() {
            assert!(this.classify.is_some(), "`Call` polled after completion");
            let adm = match breaker.inner.acquire() {
                Ok(adm) => adm,
                Err(refusal) => {
                    *this.classify = None;
                    let open = breaker.inner.open_error(refusal);
                    return Poll::Ready(Err(CallError::Rejected(open)));
                }
            };
            *this.limit = breaker.inner.hot.call_timeout();
            #[cfg(feature = "tracing")]
            if crate::observe::spans::wanted() {
                *this.span = Some(run::start(breaker, &adm));
            }
            #[cfg(feature = "rt-tokio")]
            if let Some(after) = *this.limit
                && tokio::runtime::Handle::try_current().is_ok()
            {
                this.deadline.set(Some(tokio::time::sleep(after)));
            }
            *this.adm = Some(adm);
        }

        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            unreachable!("a running call has its future");
        };
        #[cfg(feature = "tracing")]
        let polled = match this.span {
            Some(span) => span.in_scope(|| fut.poll(cx)),
            None => fut.poll(cx),
        };
        #[cfg(not(feature = "tracing"))]
        let polled = fut.poll(cx);

        if let Poll::Ready(result) = polled {
            let (Some(adm), Some(classify)) = (this.adm.take(), this.classify.take()) else {
                unreachable!("a running call holds its permit and classifier");
            };
            let permit = Permit::new(breaker, adm);
            let outcome =
                timeout::after_the_fact(&breaker.inner, &adm, *this.limit, classify(&result));
            finish(breaker, permit, this.span, outcome);
            return Poll::Ready(result.map_err(CallError::Inner));
        }

        #[cfg(feature = "rt-tokio")]
        if let Some(deadline) = this.deadline.as_mut().as_pin_mut()
            && deadline.poll(cx).is_ready()
        {
            let (Some(adm), Some(after)) = (this.adm.take(), *this.limit) else {
                unreachable!("a call with a deadline holds its permit and its timeout");
            };
            *this.classify = None;
            this.fut.set(None);
            finish(
                breaker,
                Permit::new(breaker, adm),
                this.span,
                Outcome::Timeout,
            );
            return Poll::Ready(Err(timeout::timed_out(&breaker.inner, after)));
        }
        Poll::Pending
    }
}

/// Records `outcome` for the call `permit` admitted, inside its span if it has one.
#[inline(always)]
fn finish(breaker: &CircuitBreaker, permit: Permit<'_>, span: &mut SpanSlot, outcome: Outcome) {
    #[cfg(feature = "tracing")]
    if let Some(span) = span.take() {
        run::end(breaker, permit, span, outcome);
        return;
    }
    let _ = (breaker, span);
    let _ = permit.finish(outcome);
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::future::Future;
    use std::pin::{Pin, pin};
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use crate::clock::ManualClock;
    use crate::error::CallError;
    use crate::{CircuitBreaker, Config, State};

    /// A breaker that opens on one failure, probes again after a second and closes on
    /// one successful trial.
    fn breaker(clock: &ManualClock, call_timeout: Option<Duration>) -> CircuitBreaker {
        let mut config = Config::builder()
            .failure_threshold(1)
            .success_threshold(1)
            .reset_timeout(Duration::from_secs(1));
        if let Some(limit) = call_timeout {
            config = config.call_timeout(limit);
        }
        CircuitBreaker::builder("call-future")
            .config(config.build().unwrap())
            .clock(clock.clone())
            .build()
            .unwrap()
    }

    /// Opens `b`, then lets its reset timeout elapse: the next call is a half-open trial.
    fn trip_and_wait(b: &CircuitBreaker, clock: &ManualClock) {
        let _ = b.call_sync(|| Err::<(), _>("down"));
        assert_eq!(b.state(), State::Open);
        clock.advance(Duration::from_secs(2));
    }

    fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
        fut.poll(&mut Context::from_waker(Waker::noop()))
    }

    fn assert_send<T: Send>(_: &T) {}

    /// A call's future asks for its permit when first polled: made and dropped unpolled,
    /// it takes no trial slot and counts nothing.
    #[test]
    fn an_unpolled_call_takes_no_permit_and_counts_nothing() {
        let clock = ManualClock::new();
        let b = breaker(&clock, None);
        trip_and_wait(&b, &clock);
        let unpolled = b.call(async { Ok::<(), ()>(()) });
        assert_send(&unpolled);
        drop(unpolled);
        let s = b.snapshot();
        assert_eq!(s.half_open_in_flight, 0);
        assert_eq!((s.totals.successes, s.totals.ignored), (0, 0));
    }

    /// Refused on its first poll, the call never polls the caller's future. Admitted,
    /// it holds its trial slot while pending, counts once when it completes, and the
    /// completion closes the breaker.
    #[test]
    fn a_refused_call_never_polls_and_a_pending_trial_holds_its_slot() {
        let clock = ManualClock::new();
        let b = breaker(&clock, None);
        let _ = b.call_sync(|| Err::<(), _>("down"));
        let polled = Cell::new(false);
        let refused = pin!(b.call(async {
            polled.set(true);
            Ok::<(), ()>(())
        }));
        match poll_once(refused) {
            Poll::Ready(Err(CallError::Rejected(open))) => assert_eq!(open.state(), State::Open),
            other => panic!("expected a rejection, got {other:?}"),
        }
        assert!(!polled.get());

        clock.advance(Duration::from_secs(2));
        let ready = Cell::new(false);
        let mut trial = pin!(b.call(std::future::poll_fn(|_| {
            if ready.get() {
                Poll::Ready(Ok::<u8, ()>(7))
            } else {
                Poll::Pending
            }
        })));
        assert!(poll_once(trial.as_mut()).is_pending());
        assert!(poll_once(trial.as_mut()).is_pending());
        assert_eq!(b.snapshot().half_open_in_flight, 1);
        assert_eq!(b.snapshot().totals.successes, 0);
        ready.set(true);
        assert!(matches!(poll_once(trial.as_mut()), Poll::Ready(Ok(7))));
        let s = b.snapshot();
        assert_eq!((s.totals.successes, s.half_open_in_flight), (1, 0));
        assert_eq!(s.state, State::Closed);
    }

    /// Dropped after its first poll and before it completes, the call counts as ignored
    /// and gives its trial slot back.
    #[test]
    fn a_call_dropped_while_pending_counts_as_ignored_and_frees_its_slot() {
        let clock = ManualClock::new();
        let b = breaker(&clock, None);
        trip_and_wait(&b, &clock);
        {
            let mut pending = pin!(b.call(std::future::pending::<Result<(), ()>>()));
            assert!(poll_once(pending.as_mut()).is_pending());
            assert_eq!(b.snapshot().half_open_in_flight, 1);
        }
        let s = b.snapshot();
        assert_eq!((s.totals.ignored, s.half_open_in_flight), (1, 0));
        assert_eq!(s.state, State::HalfOpen);
    }

    /// Without a runtime to cancel it, an async call that overran its `call_timeout`
    /// completes, keeps its result, and is recorded as a timeout: a failure, and slow.
    #[test]
    fn an_overlong_call_outside_a_runtime_is_recorded_as_a_timeout() {
        let clock = ManualClock::new();
        let b = breaker(&clock, Some(Duration::from_millis(100)));
        let c = clock.clone();
        let call = pin!(b.call(async move {
            c.advance(Duration::from_millis(101));
            Ok::<u8, ()>(1)
        }));
        assert!(matches!(poll_once(call), Poll::Ready(Ok(1))));
        let s = b.snapshot();
        assert_eq!((s.totals.failures, s.totals.slow), (1, 1));
        assert_eq!(
            b.state(),
            State::Open,
            "a timeout is a failure, and one trips"
        );
    }

    /// Cancelled at its call timeout, the caller's future is dropped when the call
    /// completes, not later when the caller drops the call's future, and the outcome is
    /// a timeout.
    #[cfg(feature = "rt-tokio")]
    #[test]
    fn a_cancelled_call_drops_the_callers_future_when_it_completes() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};

        struct Dropped(Arc<AtomicBool>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let clock = ManualClock::new();
        let b = breaker(&clock, Some(Duration::from_millis(50)));
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = Dropped(dropped.clone());
        rt.block_on(async {
            let mut call = pin!(b.call(async move {
                let _guard = guard;
                std::future::pending::<Result<(), ()>>().await
            }));
            let done = std::future::poll_fn(|cx| call.as_mut().poll(cx)).await;
            assert!(matches!(done, Err(CallError::Timeout(_))), "{done:?}");
            assert!(
                dropped.load(Ordering::SeqCst),
                "dropped with the call still held"
            );
        });
        assert_eq!(b.snapshot().totals.failures, 1);
    }

    /// The longest call timeout a config accepts arms a timer that never fires, inside a
    /// real runtime: no overflow, no panic, the call completes as usual.
    #[cfg(feature = "rt-tokio")]
    #[test]
    fn the_longest_call_timeout_arms_a_timer_without_overflow() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let clock = ManualClock::new();
        let b = breaker(&clock, Some(Duration::MAX));
        let done = rt.block_on(async {
            b.call(async {
                tokio::task::yield_now().await;
                Ok::<u8, ()>(3)
            })
            .await
        });
        assert!(matches!(done, Ok(3)));
        assert_eq!(b.snapshot().totals.successes, 1);
    }
}
