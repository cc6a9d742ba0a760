//! The fleet window kept server-side (`src/fleet/window.lua`), run by a real redis-server
//! against a reference model: whatever the replicas publish, with their clocks skewed,
//! replicas going silent (dead: reaped by the first call of a period once their heartbeat
//! is 3 periods old) and coming back, every read equals the sum of the deltas published in the slots of the window by
//! the replicas not reaped, and the count of those replicas with failures in it.
#![cfg(feature = "fleet-redis")]

use std::collections::HashMap;

use proptest::prelude::*;

use crate::support::process::free_port;

const SCRIPT: &str = include_str!("../../src/fleet/window.lua");
const PERIOD: u64 = 1_000;
const SLOTS: u64 = 10;
const TTL: u64 = 3 * PERIOD;
/// The keys' time to live in real milliseconds: longer than any case runs.
const KEEP: u64 = 60_000;
const REPLICAS: usize = 4;

#[derive(Debug, Clone)]
struct Step {
    /// Fake time advanced before the call, ms.
    advance: u64,
    replica: usize,
    calls: u64,
    failures: u64,
    slow: u64,
    /// How long ago the caller's breaker closed, if it did.
    closed_age: Option<u64>,
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop_oneof![4 => 0..1_500u64, 1 => 3_000..15_000u64],
        0..REPLICAS,
        0..5u64,
        0..5u64,
        0..5u64,
        prop::option::weighted(0.2, 0..8_000u64),
    )
        .prop_map(|(advance, replica, calls, f, s, closed_age)| Step {
            advance,
            replica,
            calls: calls.max(f).max(s),
            failures: f,
            slow: s,
            closed_age,
        })
}

/// What the model remembers: every publish still counted, and each replica's last call.
#[derive(Default)]
struct Model {
    now: u64,
    /// (replica, slot, calls, failures, slow)
    published: Vec<(usize, u64, u64, u64, u64)>,
    heartbeat: HashMap<usize, u64>,
    /// The window's first slot at the last call: dead replicas are reaped when it moves.
    lo: Option<u64>,
}

impl Model {
    /// One call of the script by `s.replica` at (its skewed) `sent` time: the expected
    /// reply.
    fn call(&mut self, s: &Step, sent: u64) -> [u64; 5] {
        self.now = self.now.max(sent);
        let now = self.now;
        let cur = now / PERIOD;
        let lo = (cur + 1).saturating_sub(SLOTS);
        let slid = self.lo.is_none_or(|l| l < lo);
        self.lo = Some(lo);
        let dead: Vec<usize> = self
            .heartbeat
            .iter()
            .filter(|&(&r, &hb)| slid && r != s.replica && hb + TTL <= now)
            .map(|(&r, _)| r)
            .collect();
        for d in dead {
            self.heartbeat.remove(&d);
            self.published.retain(|p| p.0 != d);
        }
        self.heartbeat.insert(s.replica, now);
        if s.calls + s.failures + s.slow > 0 {
            self.published
                .push((s.replica, cur, s.calls, s.failures, s.slow));
        }
        let from = match s.closed_age {
            Some(age) => lo.max(now.saturating_sub(age) / PERIOD + 1),
            None => lo,
        };
        let inside = || self.published.iter().filter(move |p| p.1 >= from);
        let mut failing: Vec<usize> = inside().filter(|p| p.3 > 0).map(|p| p.0).collect();
        let mut slow: Vec<usize> = inside().filter(|p| p.4 > 0).map(|p| p.0).collect();
        failing.sort_unstable();
        failing.dedup();
        slow.sort_unstable();
        slow.dedup();
        [
            inside().map(|p| p.2).sum(),
            inside().map(|p| p.3).sum(),
            inside().map(|p| p.4).sum(),
            failing.len() as u64,
            slow.len() as u64,
        ]
    }
}

fn run(
    conn: &mut redis::Connection,
    case: u64,
    skews: &[u64],
    steps: &[Step],
) -> Result<(), TestCaseError> {
    let base = format!("pt:v2:{{case-{case}}}");
    let mut model = Model::default();
    // Far from 0, so that skews never go below it.
    let mut clock = 1_000_000_000u64;
    for (i, s) in steps.iter().enumerate() {
        clock += s.advance;
        let sent = clock - skews[s.replica];
        let expected = model.call(s, sent);
        let got: Vec<i64> = redis::cmd("EVAL")
            .arg(SCRIPT)
            .arg(2)
            .arg(format!("{base}:w"))
            .arg(format!("{base}:hb"))
            .arg(s.replica)
            .arg(sent)
            .arg(PERIOD)
            .arg(SLOTS)
            .arg(TTL)
            .arg(s.calls)
            .arg(s.failures)
            .arg(s.slow)
            .arg(s.closed_age.map_or(-1, |a| a as i64))
            .arg(KEEP)
            .query(conn)
            .map_err(|e| TestCaseError::fail(format!("step {i}: {e}")))?;
        let got: Vec<u64> = got.into_iter().map(|n| n as u64).collect();
        prop_assert_eq!(&got[..], &expected[..], "step {}: {:?}", i, s);
    }
    Ok(())
}

#[test]
fn the_server_side_window_equals_the_sum_of_the_published_deltas_in_it() {
    let server = crate::support::redis::start(free_port());
    let client = redis::Client::open(crate::support::redis::url(server.port)).unwrap();
    let conn = std::cell::RefCell::new(client.get_connection().unwrap());
    let case = std::cell::Cell::new(0u64);
    let config = proptest::test_runner::Config {
        cases: 200,
        ..proptest::test_runner::Config::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let strategy = (
        prop::collection::vec(0..2_500u64, REPLICAS),
        prop::collection::vec(step(), 1..60),
    );
    runner
        .run(&strategy, |(skews, steps)| {
            case.set(case.get() + 1);
            run(&mut conn.borrow_mut(), case.get(), &skews, &steps)
        })
        .unwrap();
}
