//! A real Redis that hangs: stopped with SIGSTOP, every call blocks on a read that never
//! returns. The cache breaker's call timeout cancels each call, counts it as a `timeout`,
//! trips the breaker, and the fallback serves the request without the cache; after
//! SIGCONT the breaker probes and closes.
//!
//! Needs `redis-server` on the PATH (Debian package `redis-server`); set
//! `BREAKERBOX_SKIP_E2E=1` to skip where it is not installed.

use std::net::SocketAddr;
use std::time::Duration;

use breakerbox::observe::names::{CALLS_TOTAL, FALLBACKS_TOTAL};
use breakerbox::{CallError, CircuitBreaker, Config, Fallback, ManualClock, State};
use metrics_util::debugging::DebuggingRecorder;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::counter;
use crate::support::eventually::eventually;
use crate::support::process::{Server, free_port};
use crate::support::redis;

/// `GET key` on a fresh connection, with no timeout of its own: against a stopped Redis
/// it waits forever (the kernel still accepts the connection).
async fn get(addr: SocketAddr, key: &str) -> std::io::Result<Option<String>> {
    let mut conn = BufReader::new(TcpStream::connect(addr).await?);
    let cmd = format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len());
    conn.get_mut().write_all(cmd.as_bytes()).await?;
    let mut line = String::new();
    conn.read_line(&mut line).await?;
    match line.trim_end() {
        "$-1" => Ok(None),
        l if l.starts_with('$') => {
            let mut value = String::new();
            conn.read_line(&mut value).await?;
            Ok(Some(value.trim_end().to_owned()))
        }
        l => Err(std::io::Error::other(format!("unexpected reply {l:?}"))),
    }
}

/// The cached price, or `None` (read through to the source) when the cache is unavailable.
async fn cached_price(cache: &CircuitBreaker, addr: SocketAddr) -> Option<String> {
    cache
        .call(get(addr, "price"))
        .await
        .or_fallback(cache, |_why| None)
        .filter(|p| !p.is_empty())
}

/// Starts a `redis-server` on a free port and waits until it answers.
async fn start_redis() -> (Server, SocketAddr) {
    let port = free_port();
    let redis = redis::start(port);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    eventually("redis answers", Duration::from_secs(10), || async {
        get(addr, "price").await.ok()
    })
    .await;
    (redis, addr)
}

#[tokio::test]
async fn a_hung_redis_times_out_trips_the_breaker_and_the_fallback_serves() {
    if std::env::var_os("BREAKERBOX_SKIP_E2E").is_some() {
        return;
    }
    let (redis, addr) = start_redis().await;

    let rec = DebuggingRecorder::new();
    let clock = ManualClock::new();
    let config = Config::cache()
        .into_builder()
        .call_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let cache = metrics::with_local_recorder(&rec, || {
        CircuitBreaker::builder("redis")
            .config(config)
            .clock(clock.clone())
            .build()
            .unwrap()
    });
    assert_eq!(
        cached_price(&cache, addr).await,
        None,
        "a miss, not a fallback"
    );
    assert_eq!(
        counter(&rec, CALLS_TOTAL, &[("outcome", "success")]),
        Some(1)
    );

    redis.signal("-STOP");
    let failure_threshold = Config::cache().failure_threshold();
    for _ in 0..failure_threshold {
        let r = cache.call(get(addr, "price")).await;
        assert!(matches!(r, Err(CallError::Timeout(_))), "{r:?}");
    }
    assert_eq!(cache.state(), State::Open);
    // Open: the request is served by the fallback without touching Redis.
    assert_eq!(cached_price(&cache, addr).await, None);
    let timeouts = u64::from(failure_threshold);
    assert_eq!(
        counter(&rec, CALLS_TOTAL, &[("outcome", "timeout")]),
        Some(timeouts)
    );
    assert_eq!(
        counter(&rec, FALLBACKS_TOTAL, &[("reason", "rejected")]),
        Some(1)
    );

    redis.signal("-CONT");
    clock.advance(Config::cache().reset_timeout());
    for _ in 0..Config::cache().success_threshold() {
        assert_eq!(cached_price(&cache, addr).await, None);
    }
    assert_eq!(
        cache.state(),
        State::Closed,
        "probed and closed after SIGCONT"
    );
    assert_eq!(
        counter(&rec, FALLBACKS_TOTAL, &[("reason", "timeout")]),
        Some(0)
    );
    drop(redis);
}

/// A bulkhead in front of a hung Redis: the calls stuck inside hold every slot, the next
/// call is refused at once (it does not queue behind them), and the breaker, which sees
/// no outcome yet, is not blamed for the refusal.
#[cfg(feature = "limit")]
#[tokio::test]
async fn a_bulkhead_sheds_calls_while_redis_hangs() {
    use breakerbox::LimitReason;
    use breakerbox::limit::Bulkhead;
    if std::env::var_os("BREAKERBOX_SKIP_E2E").is_some() {
        return;
    }
    let (redis, addr) = start_redis().await;
    let cache = CircuitBreaker::builder("redis").build().unwrap(); // no call timeout
    let slots = Bulkhead::new("redis", 2).unwrap();
    redis.signal("-STOP");
    let stuck: Vec<_> = (0..2)
        .map(|_| {
            let (cache, slots) = (cache.clone(), slots.clone());
            tokio::spawn(async move { slots.call(cache.call(get(addr, "price"))).await })
        })
        .collect();
    eventually("both slots taken", Duration::from_secs(10), || async {
        (slots.in_use() == 2).then_some(())
    })
    .await;
    let refused = slots.call(cache.call(get(addr, "price"))).await;
    match refused {
        Err(CallError::Limited(l)) => assert_eq!(l.reason(), LimitReason::BulkheadFull),
        other => panic!("{other:?}"),
    }
    let totals = cache.snapshot().totals;
    assert_eq!((totals.failures, totals.rejected), (0, 0));
    redis.signal("-CONT");
    for call in stuck {
        assert!(call.await.unwrap().is_ok(), "answered after SIGCONT");
    }
    assert_eq!(slots.in_use(), 0);
    assert_eq!(cache.snapshot().totals.successes, 2);
}
