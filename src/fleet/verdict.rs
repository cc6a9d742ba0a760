//! The fleet verdict: a pure function over the fleet's aggregated window.

#[cfg(test)]
use std::collections::HashMap;

use crate::config::Config;
use crate::event::FleetNumbers;
use crate::state::Reason;

/// One replica's counts over one period, as the previous key layout published them (the
/// reference the tests sum by hand).
#[cfg(test)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Bucket {
    /// Wall-clock time of the publish, Unix milliseconds.
    pub(crate) at_ms: u64,
    /// Calls with an outcome (successes and failures; ignored calls are not counted).
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

#[cfg(test)]
impl Bucket {
    /// The stored form: `"at_ms calls failures slow"`.
    pub(crate) fn encode(&self) -> String {
        format!(
            "{} {} {} {}",
            self.at_ms, self.calls, self.failures, self.slow
        )
    }

    /// Parses the stored form; `None` for anything else (another writer's garbage).
    pub(crate) fn decode(s: &str) -> Option<Bucket> {
        let mut it = s.split(' ').map(|n| n.parse::<u64>().ok());
        let b = Bucket {
            at_ms: it.next()??,
            calls: it.next()??,
            failures: it.next()??,
            slow: it.next()??,
        };
        it.next().is_none().then_some(b)
    }
}

/// The fleet's aggregated window for one breaker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Aggregate {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
    /// Live replicas with at least one failure in the window.
    pub(crate) failing_replicas: u32,
    /// Live replicas with at least one slow call in the window.
    pub(crate) slow_replicas: u32,
}

/// Sums the buckets of live replicas published at or after `since_ms`. `buckets` maps a
/// replica id to its buckets: the reference model of what `window.lua` keeps server-side.
#[cfg(test)]
pub(crate) fn aggregate<'a>(
    buckets: impl IntoIterator<Item = (&'a str, Bucket)>,
    live: impl Fn(&str) -> bool,
    since_ms: u64,
) -> Aggregate {
    let mut per_replica: HashMap<&str, Bucket> = HashMap::new();
    for (replica, b) in buckets {
        if b.at_ms < since_ms || !live(replica) {
            continue;
        }
        let sum = per_replica.entry(replica).or_default();
        sum.calls = sum.calls.saturating_add(b.calls);
        sum.failures = sum.failures.saturating_add(b.failures);
        sum.slow = sum.slow.saturating_add(b.slow);
    }
    let mut agg = Aggregate::default();
    for b in per_replica.values() {
        agg.calls = agg.calls.saturating_add(b.calls);
        agg.failures = agg.failures.saturating_add(b.failures);
        agg.slow = agg.slow.saturating_add(b.slow);
        agg.failing_replicas = agg
            .failing_replicas
            .saturating_add(u32::from(b.failures > 0));
        agg.slow_replicas = agg.slow_replicas.saturating_add(u32::from(b.slow > 0));
    }
    agg
}

/// Whether the aggregate trips the breaker fleet-wide, and on which rate: the breaker's own
/// thresholds (`min_calls`, failure rate, slow-call rate) on the fleet's sums, and at least
/// `quorum` live replicas that saw failures (slow calls, for the slow-call rate).
pub(crate) fn verdict(agg: &Aggregate, cfg: &Config, quorum: u32) -> Option<Reason> {
    if agg.calls == 0 || agg.calls < u64::from(cfg.min_calls()) {
        return None;
    }
    let calls = agg.calls as f64;
    if agg.failing_replicas >= quorum && agg.failures as f64 / calls >= cfg.failure_rate_threshold()
    {
        return Some(Reason::FailureRate);
    }
    if agg.slow_replicas >= quorum && agg.slow as f64 / calls >= cfg.slow_call_rate_threshold() {
        return Some(Reason::SlowCallRate);
    }
    None
}

/// The numbers a fleet verdict reports in its transition: the aggregate, its rates, and
/// the threshold of the rate that tripped (`trigger`, from [`verdict`]).
pub(crate) fn numbers(agg: &Aggregate, cfg: &Config, trigger: Reason, quorum: u32) -> FleetNumbers {
    let rate = |n: u64| {
        if agg.calls == 0 {
            0.0
        } else {
            n as f64 / agg.calls as f64
        }
    };
    FleetNumbers {
        calls: agg.calls,
        failures: agg.failures,
        slow_calls: agg.slow,
        failure_rate: rate(agg.failures),
        slow_call_rate: rate(agg.slow),
        replicas_failing: agg.failing_replicas,
        replicas_slow: agg.slow_replicas,
        trigger,
        threshold: match trigger {
            Reason::SlowCallRate => cfg.slow_call_rate_threshold(),
            _ => cfg.failure_rate_threshold(),
        },
        quorum,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(at_ms: u64, calls: u64, failures: u64, slow: u64) -> Bucket {
        Bucket {
            at_ms,
            calls,
            failures,
            slow,
        }
    }

    fn cfg() -> Config {
        Config::builder()
            .min_calls(10)
            .failure_rate_threshold(0.5)
            .slow_call_rate_threshold(0.5)
            .build()
            .unwrap()
    }

    #[test]
    fn buckets_round_trip_and_garbage_is_refused() {
        let x = b(1, 2, 3, u64::MAX);
        assert_eq!(Bucket::decode(&x.encode()), Some(x));
        for bad in ["", "1 2 3", "1 2 3 4 5", "a b c d", "-1 2 3 4"] {
            assert_eq!(Bucket::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_numbers_of_a_verdict_are_the_fleets_with_the_tripping_rate() {
        let buckets = [("a", b(10, 6, 3, 0)), ("b", b(10, 6, 3, 0))];
        let agg = aggregate(buckets, |_| true, 0);
        let cfg = cfg();
        let trigger = verdict(&agg, &cfg, 2).expect("12 calls at 50% over 2 replicas trips");
        let n = numbers(&agg, &cfg, trigger, 2);
        assert_eq!((n.calls, n.failures, n.slow_calls), (12, 6, 0));
        assert_eq!((n.failure_rate, n.slow_call_rate), (0.5, 0.0));
        assert_eq!((n.replicas_failing, n.replicas_slow, n.quorum), (2, 0, 2));
        assert_eq!((n.trigger, n.threshold), (Reason::FailureRate, 0.5));
    }

    /// The examples of docs/FLEET.md, "Choosing the quorum", with `Config::database()`.
    #[test]
    fn the_quorum_examples_of_the_fleet_guide_hold() {
        let db = Config::database();
        let run = |buckets: &[(&str, Bucket)], quorum| {
            verdict(
                &aggregate(buckets.iter().copied(), |_| true, 0),
                &db,
                quorum,
            )
        };
        let one_broken_pool = [
            ("a", b(10, 10, 10, 0)),
            ("b", b(10, 10, 0, 0)),
            ("c", b(10, 10, 0, 0)),
        ];
        assert_eq!(run(&one_broken_pool, 2), None);
        let everyone = [
            ("a", b(10, 10, 8, 0)),
            ("b", b(10, 10, 8, 0)),
            ("c", b(10, 10, 6, 0)),
        ];
        assert_eq!(run(&everyone, 2), Some(Reason::FailureRate));
        let one_busy_sick_replica = [
            ("a", b(10, 30, 30, 0)),
            ("b", b(10, 5, 0, 0)),
            ("c", b(10, 5, 0, 0)),
        ];
        assert_eq!(run(&one_busy_sick_replica, 2), None);
        assert_eq!(run(&one_busy_sick_replica, 1), Some(Reason::FailureRate));
        assert_eq!(
            run(&everyone, 4),
            None,
            "a quorum above the live replicas never trips"
        );
    }

    #[test]
    fn two_failing_replicas_meet_a_quorum_of_two() {
        let buckets = [
            ("a", b(10, 5, 4, 0)),
            ("b", b(10, 5, 3, 0)),
            ("c", b(10, 10, 0, 0)),
        ];
        let agg = aggregate(buckets, |_| true, 0);
        assert_eq!((agg.calls, agg.failures, agg.failing_replicas), (20, 7, 2));
        assert_eq!(verdict(&agg, &cfg(), 2), None, "35% is below the threshold");
        let buckets = [("a", b(10, 5, 5, 0)), ("b", b(10, 5, 5, 0))];
        let agg = aggregate(buckets, |_| true, 0);
        assert_eq!(verdict(&agg, &cfg(), 2), Some(Reason::FailureRate));
    }

    #[test]
    fn one_failing_replica_is_below_a_quorum_of_two() {
        let agg = aggregate([("a", b(10, 20, 20, 0))], |_| true, 0);
        assert_eq!(verdict(&agg, &cfg(), 2), None);
        assert_eq!(verdict(&agg, &cfg(), 1), Some(Reason::FailureRate));
    }

    #[test]
    fn dead_replicas_and_old_buckets_leave_the_aggregate() {
        let buckets = [
            ("a", b(10, 10, 10, 0)),
            ("b", b(10, 10, 10, 0)),
            ("a", b(3, 7, 7, 0)),
        ];
        let agg = aggregate(buckets, |r| r == "a", 5);
        assert_eq!((agg.calls, agg.failing_replicas), (10, 1));
    }

    #[test]
    fn slow_calls_trip_on_their_own_quorum_and_below_min_calls_nothing_trips() {
        let buckets = [("a", b(10, 6, 0, 6)), ("b", b(10, 6, 0, 6))];
        let agg = aggregate(buckets, |_| true, 0);
        assert_eq!(verdict(&agg, &cfg(), 2), Some(Reason::SlowCallRate));
        let agg = aggregate([("a", b(10, 4, 4, 0)), ("b", b(10, 4, 4, 0))], |_| true, 0);
        assert_eq!(verdict(&agg, &cfg(), 2), None, "8 calls < min_calls 10");
    }

    #[test]
    fn saturating_sums_never_panic() {
        let buckets = [
            ("a", b(1, u64::MAX, u64::MAX, u64::MAX)),
            ("b", b(1, u64::MAX, 1, 1)),
        ];
        let agg = aggregate(buckets, |_| true, 0);
        assert_eq!(agg.calls, u64::MAX);
        assert_eq!(verdict(&agg, &cfg(), 2), Some(Reason::FailureRate));
    }
}
