//! The eager timer keeps the state gauge true on an idle service: Open becomes HalfOpen
//! when the reset timeout elapses, without a call. Tokio time is paused (the timer's ticks)
//! and the breakers run on a manual clock (their timeouts).
#![cfg(all(feature = "rt-tokio", feature = "prometheus", feature = "test-util"))]

use crate::support::drive::*;
use crate::support::prom_text::*;
use breakerbox::observe::names;
use breakerbox::{CircuitBreaker, Config, ManualClock, Registry, State};

fn trip(b: &CircuitBreaker) {
    let _ = b.call_sync(|| Err::<(), _>(()));
    assert_eq!(b.state(), State::Open);
}

fn one_cfg() -> Config {
    Config::builder()
        .failure_threshold(1)
        .min_calls(1)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_idle_open_breaker_moves_to_half_open_and_the_gauge_follows() {
    let (rec, handle) = recorder();
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let db = metrics::with_local_recorder(&rec, || registry.breaker("db", one_cfg()).unwrap());
    let timer = registry.spawn_timer(secs(1));
    assert_eq!(timer.period(), secs(1));
    assert!(timer.is_running());
    trip(&db);
    let gauge = |st: &str| {
        value(
            &parse(&handle.render()),
            names::STATE,
            &[("breaker", "db"), ("state", st)],
        )
        .unwrap()
    };
    let failure_rate = || {
        value(
            &parse(&handle.render()),
            names::FAILURE_RATE,
            &[("breaker", "db")],
        )
        .unwrap()
    };
    assert_eq!(gauge("open"), 1.0);
    assert_eq!(failure_rate(), 1.0);

    clock.advance(secs(30)); // the reset timeout elapses; no call arrives
    tokio::time::sleep(secs(2)).await;
    assert_eq!(db.state(), State::HalfOpen, "moved without a call");
    assert_eq!((gauge("open"), gauge("half_open")), (0.0, 1.0));

    // The rate gauges are refreshed as the window slides, without calls: a disabled
    // breaker records one failure, which slides out of the 60 s window.
    db.disable();
    let _ = db.call_sync(|| Err::<(), _>(()));
    tokio::time::sleep(secs(2)).await;
    assert_eq!(failure_rate(), 1.0);
    clock.advance(secs(61));
    tokio::time::sleep(secs(2)).await;
    assert!(
        failure_rate().is_nan(),
        "the failure slid out of the window"
    );

    // Dropping the handle stops the timer.
    drop(timer);
    tokio::task::yield_now().await;
    db.reset();
    trip(&db);
    clock.advance(secs(30));
    tokio::time::sleep(secs(5)).await;
    assert_eq!(
        db.state(),
        State::Open,
        "no timer: lazy until the next call"
    );
}

#[tokio::test(start_paused = true)]
async fn the_eager_timer_reopens_an_idle_half_open_breaker_whose_trial_hung() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let cfg = Config::builder()
        .failure_threshold(1)
        .half_open_max_calls(1)
        .half_open_timeout(secs(60))
        .build()
        .unwrap();
    let db = registry.breaker("db", cfg).unwrap();
    let _timer = registry.spawn_timer(secs(1));
    trip(&db);
    clock.advance(secs(30));
    tokio::time::sleep(secs(2)).await;
    assert_eq!(db.state(), State::HalfOpen);
    let _hung = db.try_acquire().expect("the trial slot");
    clock.advance(secs(61)); // the trial hangs past half_open_timeout; no call arrives
    tokio::time::sleep(secs(2)).await;
    assert_eq!(db.state(), State::Open, "reopened by the timer");
}

#[tokio::test(start_paused = true)]
async fn a_breaker_timer_can_be_detached() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("solo")
        .config(one_cfg())
        .clock(clock.clone())
        .build()
        .unwrap();
    b.spawn_timer(secs(1)).detach();
    trip(&b);
    clock.advance(secs(30));
    tokio::time::sleep(secs(2)).await;
    assert_eq!(b.state(), State::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn a_zero_period_is_raised_to_the_minimum() {
    let timer = Registry::new().spawn_timer(std::time::Duration::ZERO);
    assert_eq!(timer.period(), breakerbox::MIN_TIMER_PERIOD);
    tokio::time::sleep(secs(1)).await;
    assert!(timer.is_running());
    timer.stop();
}
