//! `call_timeout`: an async call is cancelled (with `rt-tokio`), a blocking call that
//! overran is recorded as a timeout after the fact; both count as failures, `timeout`,
//! and slow.

#[cfg(feature = "rt-tokio")]
use std::sync::Arc;
#[cfg(feature = "rt-tokio")]
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[cfg(feature = "rt-tokio")]
use breakerbox::CallError;
use breakerbox::observe::names::{CALLS_TOTAL, SLOW_CALLS_TOTAL};
use breakerbox::{CircuitBreaker, Config, ManualClock, State};
use metrics_util::debugging::DebuggingRecorder;

use super::counter;

fn breaker(rec: &DebuggingRecorder, clock: &ManualClock, timeout: Duration) -> CircuitBreaker {
    let config = Config::builder()
        .failure_threshold(2)
        .call_timeout(timeout)
        .build()
        .unwrap();
    metrics::with_local_recorder(rec, || {
        CircuitBreaker::builder("dep")
            .config(config)
            .clock(clock.clone())
            .build()
            .unwrap()
    })
}

#[test]
fn a_zero_call_timeout_is_a_config_error() {
    let err = Config::builder()
        .call_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "call_timeout");
}

#[test]
fn a_blocking_call_that_overran_is_a_slow_timeout_failure_and_keeps_its_result() {
    let (rec, clock) = (DebuggingRecorder::new(), ManualClock::new());
    let b = breaker(&rec, &clock, Duration::from_secs(1));
    // Exactly at the limit: not a timeout (the limit is inclusive, like slow_call_duration).
    let r = b.call_sync(|| {
        clock.advance(Duration::from_secs(1));
        Ok::<_, ()>(1)
    });
    assert_eq!(r, Ok(1));
    assert_eq!(
        counter(&rec, CALLS_TOTAL, &[("outcome", "timeout")]),
        Some(0)
    );
    let r = b.call_sync(|| {
        clock.advance(Duration::from_millis(1001));
        Ok::<_, ()>(2)
    });
    assert_eq!(r, Ok(2), "the result of a blocking call is returned");
    assert_eq!(
        counter(&rec, CALLS_TOTAL, &[("outcome", "timeout")]),
        Some(1)
    );
    assert_eq!(
        counter(&rec, CALLS_TOTAL, &[("outcome", "success")]),
        Some(1)
    );
    assert_eq!(
        counter(&rec, SLOW_CALLS_TOTAL, &[("outcome", "timeout")]),
        Some(1)
    );
    let _ = b.call_sync(|| {
        clock.advance(Duration::from_secs(2));
        Ok::<_, ()>(3)
    });
    assert_eq!(b.state(), State::Open, "two timeouts in a row trip it");
    let totals = b.snapshot().totals;
    assert_eq!(
        (totals.failures, totals.timeouts),
        (2, 2),
        "failures include the timeouts, and say how many"
    );
}

#[cfg(feature = "rt-tokio")]
#[tokio::test(start_paused = true)]
async fn a_hung_async_call_is_cancelled_counted_and_trips_the_breaker() {
    let (rec, clock) = (DebuggingRecorder::new(), ManualClock::new());
    let b = breaker(&rec, &clock, Duration::from_millis(200));
    struct Dropped(Arc<AtomicBool>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    for _ in 0..2 {
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = Dropped(dropped.clone());
        let r: Result<(), CallError<()>> = b
            .call(async move {
                let _guard = guard;
                std::future::pending().await
            })
            .await;
        let err = r.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        let t = err.timeout().unwrap();
        assert_eq!((t.name(), t.after()), ("dep", Duration::from_millis(200)));
        assert_eq!(
            t.to_string(),
            "call through circuit breaker `dep` timed out after 200ms"
        );
        assert!(dropped.load(Ordering::SeqCst), "the future was cancelled");
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        counter(&rec, CALLS_TOTAL, &[("outcome", "timeout")]),
        Some(2)
    );
    assert_eq!(
        counter(&rec, SLOW_CALLS_TOTAL, &[("outcome", "timeout")]),
        Some(2),
        "a timed-out call is slow although the breaker's clock did not move"
    );
    assert_eq!(
        counter(&rec, CALLS_TOTAL, &[("outcome", "failure")]),
        Some(0)
    );
}

#[cfg(feature = "rt-tokio")]
#[tokio::test(start_paused = true)]
async fn a_timed_out_half_open_trial_reopens_the_breaker() {
    let (rec, clock) = (DebuggingRecorder::new(), ManualClock::new());
    let b = breaker(&rec, &clock, Duration::from_millis(200));
    b.force_open_for(Duration::from_secs(1));
    clock.advance(Duration::from_secs(1));
    let r: Result<(), CallError<()>> = b.call(std::future::pending()).await;
    assert!(r.unwrap_err().is_timeout());
    assert_eq!(b.state(), State::Open);
    let last = b.snapshot().last_transition.unwrap();
    assert_eq!(last.reason, breakerbox::Reason::HalfOpenFailure);
}

#[cfg(feature = "rt-tokio")]
#[tokio::test(start_paused = true)]
async fn a_call_within_its_timeout_is_untouched() {
    let (rec, clock) = (DebuggingRecorder::new(), ManualClock::new());
    let b = breaker(&rec, &clock, Duration::from_secs(5));
    let r = b
        .call(async {
            tokio::time::sleep(Duration::from_secs(4)).await;
            Err::<(), _>("refused")
        })
        .await;
    assert_eq!(r, Err(CallError::Inner("refused")));
    assert_eq!(
        counter(&rec, CALLS_TOTAL, &[("outcome", "failure")]),
        Some(1)
    );
    assert_eq!(
        counter(&rec, CALLS_TOTAL, &[("outcome", "timeout")]),
        Some(0)
    );
}

/// A handler's one call for a foreign error type: the library's 504 for a timeout, 503
/// for a rejection, and the handler's own answer for the call's error.
#[cfg(feature = "axum")]
#[tokio::test(start_paused = true)]
async fn into_response_with_keeps_the_library_answers_and_maps_the_call_error() {
    use axum::http::StatusCode;
    let config = Config::builder()
        .call_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let b = CircuitBreaker::builder("db")
        .config(config)
        .build()
        .unwrap();
    let respond = |e: std::io::Error| (StatusCode::BAD_GATEWAY, e.to_string());
    let hung = b
        .call(async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok::<u32, std::io::Error>(1)
        })
        .await
        .unwrap_err();
    let res = hung.into_response_with(respond);
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let own = b
        .call(async { Err::<u32, _>(std::io::Error::other("syntax error")) })
        .await
        .unwrap_err();
    assert_eq!(
        own.into_response_with(respond).status(),
        StatusCode::BAD_GATEWAY
    );
    b.force_open_for(Duration::from_secs(30));
    let rejected = b
        .call(async { Ok::<u32, std::io::Error>(1) })
        .await
        .unwrap_err()
        .into_response_with(respond);
    assert_eq!(rejected.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(rejected.headers().contains_key("retry-after"));
}
