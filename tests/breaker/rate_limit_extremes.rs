//! A rate limit's builder and clock at their extremes: every rate and burst either builds a
//! limit that never panics, whatever the clock does (`Duration::MAX` included), and whose
//! refusal says truly how long to wait, or is refused with a `ConfigError` naming the
//! field. Regression tests for the cases found, then a property test.
#![cfg(all(feature = "limit", feature = "test-util"))]

use std::time::Duration;

use breakerbox::limit::{RateLimit, RateLimitBuilder};
use breakerbox::{BuildError, ConfigError, ManualClock};

fn builder(rate: u32, per_minute: bool) -> RateLimitBuilder {
    let b = RateLimit::builder("quota");
    if per_minute {
        b.per_minute(rate)
    } else {
        b.per_second(rate)
    }
}

#[test]
fn a_burst_whose_span_does_not_fit_is_a_config_error_naming_the_burst() {
    let err = builder(1, true).burst(u32::MAX).build().unwrap_err();
    assert_eq!(
        err,
        BuildError::Config(ConfigError::TooLarge {
            field: "burst",
            value: u64::from(u32::MAX),
            max: 76_861_433,
        })
    );
    assert!(builder(1, true).burst(76_861_433).build().is_ok());
    // A second's spacing fits any burst.
    assert!(builder(1, false).burst(u32::MAX).build().is_ok());
}

#[test]
fn a_clock_advanced_by_duration_max_neither_panics_nor_admits_more_than_the_burst() {
    let clock = ManualClock::new();
    let limit = builder(1, false)
        .burst(2)
        .clock(clock.clone())
        .build()
        .unwrap();
    clock.advance(Duration::MAX);
    assert!(limit.check().is_ok());
    assert!(limit.check().is_ok());
    let refused = limit.check().unwrap_err();
    assert!(refused.retry_after().is_some());
    clock.advance(Duration::MAX);
    assert!(limit.check().is_err(), "a saturated clock does not refill");
}

mod property {
    use super::*;
    use proptest::prelude::*;

    fn count() -> impl Strategy<Value = u32> {
        prop_oneof![
            Just(0),
            Just(1),
            Just(u32::MAX),
            Just(76_861_433),
            Just(76_861_434),
            1u32..100,
            any::<u32>(),
        ]
    }

    fn advance() -> impl Strategy<Value = Duration> {
        prop_oneof![
            Just(Duration::ZERO),
            Just(Duration::MAX),
            Just(Duration::from_nanos(u64::MAX)),
            (1u64..=120_000).prop_map(Duration::from_millis),
            any::<u64>().prop_map(Duration::from_nanos),
        ]
    }

    /// The clock's reading up to which a refusal's wait is exact (2^62 ns).
    const CLOCK_LIMIT: u128 = 1 << 62;

    proptest! {
        #![proptest_config(crate::proptest_config(256))]

        /// Built or refused by field; a built limit never panics, and when it refuses,
        /// waiting the `retry_after` it gave admits the next call.
        #[test]
        fn any_rate_and_burst_builds_a_limit_that_never_panics_or_names_the_field(
            rate in count(),
            burst in prop::option::of(count()),
            per_minute in any::<bool>(),
            steps in prop::collection::vec((advance(), 1usize..4), 1..20),
        ) {
            let clock = ManualClock::new();
            let mut b = builder(rate, per_minute).clock(clock.clone());
            if let Some(burst) = burst {
                b = b.burst(burst);
            }
            let limit = match b.build() {
                Ok(limit) => limit,
                Err(e) => {
                    prop_assert!(["rate", "burst"].contains(&e.field()), "{e}");
                    return Ok(());
                }
            };
            for (by, checks) in steps {
                clock.advance(by);
                for _ in 0..checks {
                    let Err(refused) = limit.check() else { continue };
                    let wait = refused.retry_after().expect("a rate limit says when");
                    if clock.elapsed().as_nanos() + wait.as_nanos() < CLOCK_LIMIT {
                        clock.advance(wait);
                        prop_assert!(limit.check().is_ok(), "admitted after {wait:?}");
                    }
                }
            }
        }
    }
}
