//! Bulkhead and rate limit: refusals are immediate, counted by reason, and never reach the
//! breaker they wrap (they are not dependency failures).

use std::time::Duration;

use breakerbox::limit::{Bulkhead, RateLimit};
use breakerbox::observe::names::{
    BULKHEAD_IN_USE, BULKHEAD_MAX_CONCURRENT, CALLS_TOTAL, LIMIT_REJECTIONS_TOTAL,
    RATE_LIMIT_PER_SECOND,
};
use breakerbox::{CallError, CircuitBreaker, LimitReason, ManualClock};
use metrics_util::debugging::DebuggingRecorder;
use tokio::sync::oneshot;

use super::counter;

#[tokio::test]
async fn a_full_bulkhead_refuses_at_once_without_touching_the_breaker() {
    let rec = DebuggingRecorder::new();
    let (rpc, slots) = metrics::with_local_recorder(&rec, || {
        (CircuitBreaker::new("rpc"), Bulkhead::new("rpc", 2).unwrap())
    });
    assert_eq!(
        counter(&rec, LIMIT_REJECTIONS_TOTAL, &[("reason", "bulkhead_full")]),
        Some(0),
        "registered at 0"
    );
    // Two calls hang inside the bulkhead.
    let mut release = Vec::new();
    let mut running = Vec::new();
    for _ in 0..2 {
        let (tx, rx) = oneshot::channel::<()>();
        release.push(tx);
        let (rpc, slots) = (rpc.clone(), slots.clone());
        running.push(tokio::spawn(async move {
            slots
                .call(rpc.call(async move { rx.await.map_err(|_| "dropped") }))
                .await
        }));
    }
    while slots.in_use() < 2 {
        tokio::task::yield_now().await;
    }
    let refused: Result<(), CallError<&str>> = slots.call(rpc.call(async { Ok(()) })).await;
    let limited = match refused {
        Err(CallError::Limited(l)) => l,
        other => panic!("{other:?}"),
    };
    assert_eq!(limited.reason(), LimitReason::BulkheadFull);
    assert_eq!(limited.to_string(), "bulkhead `rpc` is full");
    assert_eq!(
        counter(&rec, LIMIT_REJECTIONS_TOTAL, &[("reason", "bulkhead_full")]),
        Some(1)
    );
    for tx in release {
        tx.send(()).unwrap();
    }
    for task in running {
        assert_eq!(task.await.unwrap(), Ok(()));
    }
    assert_eq!(slots.in_use(), 0);
    let totals = rpc.snapshot().totals;
    assert_eq!(
        (totals.successes, totals.failures, totals.rejected),
        (2, 0, 0)
    );
    assert_eq!(
        counter(&rec, CALLS_TOTAL, &[("outcome", "rejected")]),
        Some(0)
    );
    assert_eq!(slots.call(rpc.call(async { Ok::<_, ()>(7) })).await, Ok(7));
}

#[tokio::test]
async fn a_rate_limit_refuses_over_its_rate_and_says_when_to_retry() {
    let rec = DebuggingRecorder::new();
    let clock = ManualClock::new();
    let (api, limit) = metrics::with_local_recorder(&rec, || {
        (
            CircuitBreaker::new("price-api"),
            RateLimit::builder("price-api")
                .per_second(1)
                .burst(2)
                .clock(clock.clone())
                .build()
                .unwrap(),
        )
    });
    for _ in 0..2 {
        assert_eq!(limit.call(api.call(async { Ok::<_, ()>(1) })).await, Ok(1));
    }
    let err = limit
        .call(api.call(async { Ok::<_, ()>(1) }))
        .await
        .unwrap_err();
    let limited = match err {
        CallError::Limited(l) => l,
        other => panic!("{other:?}"),
    };
    assert_eq!(limited.reason(), LimitReason::RateLimited);
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(
        counter(&rec, LIMIT_REJECTIONS_TOTAL, &[("reason", "rate_limited")]),
        Some(1)
    );
    assert_eq!(
        api.snapshot().totals.rejected,
        0,
        "not the breaker's refusal"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(limit.call(api.call(async { Ok::<_, ()>(2) })).await, Ok(2));
}

/// The names of the series registered with `rec`, each with its `breaker` label.
fn series(rec: &DebuggingRecorder) -> Vec<(String, String)> {
    let mut out: Vec<_> = rec
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, _)| {
            let key = key.key();
            let breaker = key
                .labels()
                .find(|l| l.key() == "breaker")
                .map_or(String::new(), |l| l.value().to_owned());
            (key.name().to_owned(), breaker)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn each_limit_exports_only_its_own_gauges() {
    let rec = DebuggingRecorder::new();
    metrics::with_local_recorder(&rec, || {
        let _slots = Bulkhead::new("solana-rpc", 4).unwrap();
        let _quota = RateLimit::per_second("pricing-api", 50, 25).unwrap();
    });
    let found = series(&rec);
    let has = |name: &str, breaker: &str| found.contains(&(name.to_owned(), breaker.to_owned()));
    assert!(has(BULKHEAD_IN_USE, "solana-rpc"), "{found:?}");
    assert!(has(BULKHEAD_MAX_CONCURRENT, "solana-rpc"), "{found:?}");
    assert!(has(RATE_LIMIT_PER_SECOND, "pricing-api"), "{found:?}");
    // A rate limit has no slots: a bulkhead gauge for it would be a bulkhead at 0 of
    // nothing on the dashboards.
    assert!(!has(BULKHEAD_IN_USE, "pricing-api"), "{found:?}");
    assert!(!has(BULKHEAD_MAX_CONCURRENT, "pricing-api"), "{found:?}");
    assert!(!has(RATE_LIMIT_PER_SECOND, "solana-rpc"), "{found:?}");
}

#[test]
fn invalid_limits_are_config_errors() {
    assert_eq!(Bulkhead::new("x", 0).unwrap_err().field(), "max_concurrent");
    assert_eq!(
        RateLimit::per_second("x", 0, 1).unwrap_err().field(),
        "rate"
    );
    assert_eq!(
        RateLimit::per_minute("x", 1, 0).unwrap_err().field(),
        "burst"
    );
    assert_eq!(Bulkhead::new("", 1).unwrap_err().field(), "name");
}

#[cfg(feature = "axum")]
#[test]
fn a_rate_limit_answers_429_with_retry_after_and_a_full_bulkhead_503() {
    use axum::response::IntoResponse;
    let clock = ManualClock::new();
    let limit = RateLimit::builder("price-api")
        .per_second(2)
        .burst(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    limit.check().unwrap();
    let res = limit.check().unwrap_err().into_response();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "1");
    let slots = Bulkhead::new("rpc", 1).unwrap();
    let _held = slots.try_acquire().unwrap();
    let res = slots.try_acquire().unwrap_err().into_response();
    assert_eq!(res.status(), 503);
    assert!(res.headers().get("retry-after").is_none());
}
