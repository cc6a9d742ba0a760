//! Fallbacks: taken on a rejection, a timeout or a failure, counted by reason, each
//! counter present at 0 from the breaker's creation.

use std::time::Duration;

use breakerbox::observe::names::FALLBACKS_TOTAL;
use breakerbox::{CallError, CircuitBreaker, Config, Fallback, ManualClock};
use metrics_util::debugging::DebuggingRecorder;

use super::counter;

#[test]
fn fallbacks_are_counted_by_reason_from_zero() {
    let rec = DebuggingRecorder::new();
    let clock = ManualClock::new();
    let config = Config::builder()
        .call_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let b = metrics::with_local_recorder(&rec, || {
        CircuitBreaker::builder("cache")
            .config(config)
            .clock(clock.clone())
            .build()
            .unwrap()
    });
    for reason in ["rejected", "timeout", "failure"] {
        assert_eq!(
            counter(
                &rec,
                FALLBACKS_TOTAL,
                &[("breaker", "cache"), ("reason", reason)]
            ),
            Some(0),
            "{reason}"
        );
    }
    let ok = b.call_sync(|| Ok::<_, &str>(1)).or_fallback(&b, |_| 0);
    assert_eq!(ok, 1, "no fallback on success");
    let failed = b.call_sync(|| Err::<u32, _>("down")).or_fallback(&b, |e| {
        assert_eq!(e, CallError::Inner("down"));
        7
    });
    assert_eq!(failed, 7);
    b.force_open();
    let rejected = b.call_sync(|| Ok::<_, &str>(1)).or_fallback(&b, |e| {
        assert!(e.is_rejected());
        9
    });
    assert_eq!(rejected, 9);
    // Only unavailability is replaced: the call's own error stays an error.
    b.reset();
    let own = b
        .call_sync(|| Err::<u32, _>("bad request"))
        .or_fallback_unavailable(&b, |_| 0);
    assert_eq!(own, Err(CallError::Inner("bad request")));
    for (reason, n) in [("rejected", 1), ("timeout", 0), ("failure", 1)] {
        assert_eq!(
            counter(&rec, FALLBACKS_TOTAL, &[("reason", reason)]),
            Some(n),
            "{reason}"
        );
    }
}

#[test]
fn a_fallback_with_nothing_to_offer_is_not_counted() {
    let rec = DebuggingRecorder::new();
    let b = metrics::with_local_recorder(&rec, || CircuitBreaker::new("prices"));
    let fallbacks = |reason| counter(&rec, FALLBACKS_TOTAL, &[("reason", reason)]);
    // A success never asks the fallback.
    let ok = b
        .call_sync(|| Ok::<u32, &str>(1))
        .or_try_fallback(&b, |_| unreachable!("not asked on success"));
    assert_eq!(ok, Ok(1));
    // A failure with nothing cached: the error itself, and no fallback counted.
    let none = b
        .call_sync(|| Err::<u32, _>("down"))
        .or_try_fallback(&b, |e| {
            assert_eq!(*e, CallError::Inner("down"));
            None
        });
    assert_eq!(none, Err(CallError::Inner("down")));
    assert_eq!(fallbacks("failure"), Some(0));
    // A value: served and counted by reason.
    let some = b
        .call_sync(|| Err::<u32, _>("down"))
        .or_try_fallback(&b, |_| Some(5));
    assert_eq!(some, Ok(5));
    assert_eq!(fallbacks("failure"), Some(1));
    b.force_open();
    let rejected = b.call_sync(|| Ok::<u32, &str>(1)).or_try_fallback(&b, |e| {
        assert!(e.is_rejected());
        None
    });
    assert!(rejected.unwrap_err().is_rejected());
    assert_eq!(fallbacks("rejected"), Some(0));
    let served = b
        .call_sync(|| Ok::<u32, &str>(1))
        .or_try_fallback(&b, |_| Some(9));
    assert_eq!(served, Ok(9));
    assert_eq!(fallbacks("rejected"), Some(1));
}
