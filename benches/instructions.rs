//! Instructions per call, for `valgrind --tool=callgrind` (deterministic, unlike timings
//! on a shared machine): `scripts/instructions.sh` runs this binary for each case,
//! counting only inside the `hot_*` loops (not the set-up, the scrapes or the clock's
//! upkeep thread), and divides by the number of calls.
//!
//! `instructions CASE CALLS` makes CALLS calls of one kind after the same set-up:
//! `none`, `counters`, `histogram` (breakerbox closed, by observation environment, with a
//! Prometheus scrape after the set-up and after the calls), `rejected`,
//! `rejected_counters`, `recloser`, `recloser_rejected`, and the async calls
//! `permit` (`try_acquire` then `success`, no recorder), `async_counters` and
//! `recloser_async` (awaited one after another inside one
//! `block_on` of a current-thread runtime, counted with it).

mod common;

use std::hint::black_box;
use std::time::Duration;

use breakerbox::MonotonicClock;
use common::observe::{Env, Obs};
use common::peers;

fn breakerbox(obs: Obs, open: bool, calls: u64) {
    let upkeep = MonotonicClock::start_upkeep(Duration::from_millis(1)).expect("upkeep");
    let env = Env::new(obs);
    let config = if open {
        common::trip_on_first_failure()
    } else {
        common::default_config()
    };
    let b = env.breaker("instructions", config);
    env.scope(|| {
        if open {
            common::trip(&b);
        }
        // Warm: the thread's counter stripe is claimed, handles touched, first scrape done.
        let _ = black_box(b.call_sync(|| Ok::<u64, ()>(black_box(1))));
        env.drain();
        hot_breakerbox(&b, calls);
        env.drain();
    });
    drop(upkeep);
}

fn breakerbox_permit(calls: u64) {
    let b = breakerbox::CircuitBreaker::new("permit");
    if let Ok(p) = b.try_acquire() {
        p.success();
    }
    hot_breakerbox_permit(&b, calls);
}

fn breakerbox_async(obs: Obs, calls: u64) {
    let upkeep = MonotonicClock::start_upkeep(Duration::from_millis(1)).expect("upkeep");
    let env = Env::new(obs);
    let b = env.breaker("instructions", common::default_config());
    let rt = common::runtime();
    env.scope(|| {
        let _ = black_box(rt.block_on(b.call(async { Ok::<u64, ()>(black_box(1)) })));
        env.drain();
        hot_breakerbox_async(&rt, &b, calls);
        env.drain();
    });
    drop(upkeep);
}

fn recloser_async(calls: u64) {
    let r = peers::recloser_async();
    let rt = common::runtime();
    let _ = black_box(rt.block_on(r.call(async { Ok::<u64, ()>(black_box(1)) })));
    hot_recloser_async(&rt, &r, calls);
}

fn recloser(open: bool, calls: u64) {
    let r = if open {
        peers::recloser_open()
    } else {
        peers::recloser()
    };
    let _ = black_box(r.call(|| Ok::<u64, ()>(black_box(1))));
    hot_recloser(&r, calls);
}

/// The measured loop: callgrind counts only inside the `hot_*` functions.
#[inline(never)]
fn hot_breakerbox(b: &breakerbox::CircuitBreaker, calls: u64) {
    for _ in 0..calls {
        let _ = black_box(b.call_sync(|| Ok::<u64, ()>(black_box(1))));
    }
}

#[inline(never)]
fn hot_breakerbox_permit(b: &breakerbox::CircuitBreaker, calls: u64) {
    for _ in 0..calls {
        if let Ok(p) = b.try_acquire() {
            p.success();
        }
    }
}

#[inline(never)]
fn hot_recloser(r: &recloser::Recloser, calls: u64) {
    for _ in 0..calls {
        let _ = black_box(r.call(|| Ok::<u64, ()>(black_box(1))));
    }
}

/// The measured async loop: one `block_on` (its cost spread over every call) in which
/// the calls are awaited one after another.
#[inline(never)]
fn hot_breakerbox_async(rt: &tokio::runtime::Runtime, b: &breakerbox::CircuitBreaker, calls: u64) {
    rt.block_on(async {
        for _ in 0..calls {
            let _ = black_box(b.call(async { Ok::<u64, ()>(black_box(1)) }).await);
        }
    });
}

#[inline(never)]
fn hot_recloser_async(rt: &tokio::runtime::Runtime, r: &recloser::AsyncRecloser, calls: u64) {
    rt.block_on(async {
        for _ in 0..calls {
            let _ = black_box(r.call(async { Ok::<u64, ()>(black_box(1)) }).await);
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` runs every bench binary with `--bench`: nothing to do then.
    let (Some(case), Some(calls)) = (args.get(1), args.get(2)) else {
        return;
    };
    let Ok(calls) = calls.parse::<u64>() else {
        return;
    };
    match case.as_str() {
        "none" => breakerbox(Obs::None, false, calls),
        "counters" => breakerbox(Obs::Counters, false, calls),
        "histogram" => breakerbox(Obs::Histogram, false, calls),
        "rejected" => breakerbox(Obs::None, true, calls),
        "rejected_counters" => breakerbox(Obs::Counters, true, calls),
        "recloser" => recloser(false, calls),
        "recloser_rejected" => recloser(true, calls),
        "async_counters" => breakerbox_async(Obs::Counters, calls),
        "permit" => breakerbox_permit(calls),
        "recloser_async" => recloser_async(calls),
        other => eprintln!("unknown case {other}"),
    }
}
