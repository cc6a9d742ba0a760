//! Config validation, defaults and presets.

use std::time::Duration;

use breakerbox::{Config, ConfigError, WindowKind};

fn err(b: breakerbox::ConfigBuilder) -> ConfigError {
    b.build().unwrap_err()
}

#[test]
fn defaults_match_the_specification() {
    let c = Config::default();
    assert_eq!(c.failure_threshold(), 5);
    assert_eq!(c.success_threshold(), 3);
    assert_eq!(c.reset_timeout(), Duration::from_secs(30));
    assert_eq!(c.half_open_max_calls(), 3);
    assert_eq!(c.window(), WindowKind::Time(Duration::from_secs(60)));
    assert_eq!(c.min_calls(), 10);
    assert_eq!(c.failure_rate_threshold(), 0.5);
    assert_eq!(c.slow_call_duration(), Duration::from_secs(5));
    assert_eq!(c.slow_call_rate_threshold(), 0.5);
    assert_eq!(Config::builder().build().unwrap(), c);
}

#[test]
fn presets_have_their_documented_values_and_are_valid() {
    let db = Config::database();
    assert_eq!(
        (db.failure_threshold(), db.failure_rate_threshold()),
        (10, 0.7)
    );
    assert_eq!(db.reset_timeout(), Duration::from_secs(60));
    assert_eq!(db.slow_call_duration(), Duration::from_secs(10));
    let cache = Config::cache();
    assert_eq!(cache.failure_threshold(), 5);
    assert_eq!(cache.reset_timeout(), Duration::from_secs(10));
    assert_eq!(cache.slow_call_duration(), Duration::from_secs(2));
    let rpc = Config::rpc();
    assert_eq!(rpc.reset_timeout(), Duration::from_secs(30));
    assert_eq!(rpc.slow_call_duration(), Duration::from_secs(5));
    let api = Config::external_api();
    assert_eq!(api.failure_threshold(), 3);
    assert_eq!(api.failure_rate_threshold(), 0.4);
    assert_eq!(api.reset_timeout(), Duration::from_secs(60));
    assert_eq!(api.half_open_max_calls(), 5);
    for p in [db, cache, rpc, api] {
        assert_eq!(p.clone().into_builder().build().unwrap(), p);
    }
}

#[test]
fn zero_counts_name_their_field() {
    let b = Config::builder;
    assert_eq!(
        err(b().failure_threshold(0)),
        ConfigError::Zero {
            field: "failure_threshold"
        }
    );
    assert_eq!(
        err(b().success_threshold(0)),
        ConfigError::Zero {
            field: "success_threshold"
        }
    );
    assert_eq!(
        err(b().half_open_max_calls(0)),
        ConfigError::Zero {
            field: "half_open_max_calls"
        }
    );
    assert_eq!(
        err(b().min_calls(0)),
        ConfigError::Zero { field: "min_calls" }
    );
    assert_eq!(
        err(b().window_buckets(0)),
        ConfigError::Zero {
            field: "window_buckets"
        }
    );
    assert_eq!(err(b().window_size(0)).field(), "window_size");
}

#[test]
fn zero_durations_name_their_field() {
    let b = Config::builder;
    for (e, f) in [
        (err(b().reset_timeout(Duration::ZERO)), "reset_timeout"),
        (
            err(b().slow_call_duration(Duration::ZERO)),
            "slow_call_duration",
        ),
        (
            err(b().half_open_timeout(Duration::ZERO)),
            "half_open_timeout",
        ),
        (err(b().failure_window(Duration::ZERO)), "failure_window"),
    ] {
        assert_eq!(e, ConfigError::ZeroDuration { field: f });
    }
}

#[test]
fn rates_must_be_in_zero_one() {
    for v in [0.0, -0.1, 1.0001, f64::NAN, f64::INFINITY] {
        let e = err(Config::builder().failure_rate_threshold(v));
        assert_eq!(e.field(), "failure_rate_threshold");
        assert!(matches!(e, ConfigError::RateOutOfRange { .. }));
        let e = err(Config::builder().slow_call_rate_threshold(v));
        assert_eq!(e.field(), "slow_call_rate_threshold");
    }
    assert!(
        Config::builder()
            .failure_rate_threshold(1.0)
            .build()
            .is_ok()
    );
}

#[test]
fn too_large_counts_are_rejected() {
    let e = err(Config::builder().half_open_max_calls(70_000));
    assert_eq!(
        e,
        ConfigError::TooLarge {
            field: "half_open_max_calls",
            value: 70_000,
            max: 65_535
        }
    );
    assert_eq!(
        err(Config::builder().success_threshold(70_000)).field(),
        "success_threshold"
    );
    assert_eq!(
        err(Config::builder().window_buckets(65)).field(),
        "window_buckets"
    );
}

#[test]
fn backoff_and_jitter_ranges() {
    assert_eq!(
        err(Config::builder().backoff_factor(0.5)).field(),
        "backoff_factor"
    );
    assert_eq!(
        err(Config::builder().backoff_factor(f64::NAN)).field(),
        "backoff_factor"
    );
    assert_eq!(
        err(Config::builder().reset_jitter(1.0)).field(),
        "reset_jitter"
    );
    assert_eq!(
        err(Config::builder().reset_jitter(-0.1)).field(),
        "reset_jitter"
    );
}

#[test]
fn contradictory_fields_are_conflicts() {
    let e = err(Config::builder()
        .reset_timeout(Duration::from_secs(60))
        .max_reset_timeout(Duration::from_secs(10)));
    assert!(matches!(
        e,
        ConfigError::Conflict {
            field: "max_reset_timeout",
            other: "reset_timeout",
            ..
        }
    ));
    let e = err(Config::builder()
        .window_size(100)
        .failure_window(Duration::from_secs(1)));
    assert!(matches!(
        e,
        ConfigError::Conflict {
            field: "window_size",
            ..
        }
    ));
    let e = err(Config::builder()
        .window_size(5)
        .min_calls(10)
        .window_buckets(5));
    assert!(matches!(
        e,
        ConfigError::Conflict {
            field: "min_calls",
            other: "window_size",
            ..
        }
    ));
    let e = err(Config::builder()
        .window_size(5)
        .min_calls(5)
        .window_buckets(10));
    assert!(matches!(
        e,
        ConfigError::Conflict {
            field: "window_size",
            other: "window_buckets",
            ..
        }
    ));
    let e = err(Config::builder().failure_window(Duration::from_micros(500)));
    assert!(matches!(
        e,
        ConfigError::Conflict {
            field: "failure_window",
            ..
        }
    ));
}

#[test]
fn errors_display_lowercase_without_trailing_period() {
    let e = err(Config::builder().failure_threshold(0));
    let s = e.to_string();
    assert_eq!(s, "`failure_threshold` must be at least 1");
    let e: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
    assert!(!e.to_string().ends_with('.'));
}

#[test]
fn invalid_breaker_names_are_errors() {
    assert!(matches!(
        breakerbox::CircuitBreaker::builder("").build().unwrap_err(),
        breakerbox::BuildError::Name(_)
    ));
    let long = "x".repeat(129);
    assert!(breakerbox::CircuitBreaker::builder(long).build().is_err());
    assert!(
        breakerbox::CircuitBreaker::builder("a")
            .initial_state(breakerbox::State::Open)
            .build()
            .is_err()
    );
}

#[test]
fn reset_timeout_for_grows_and_caps() {
    let c = Config::builder()
        .reset_timeout(Duration::from_secs(10))
        .backoff_factor(3.0)
        .max_reset_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(c.reset_timeout_for(1), Duration::from_secs(10));
    assert_eq!(c.reset_timeout_for(2), Duration::from_secs(30));
    assert_eq!(c.reset_timeout_for(3), Duration::from_secs(60));
    assert_eq!(c.reset_timeout_for(u32::MAX), Duration::from_secs(60));
}

#[cfg(feature = "serde")]
#[test]
fn config_round_trips_through_serde_and_validates() {
    let c = Config::external_api();
    let json = serde_json::to_string(&c).unwrap();
    assert!(json.contains("\"reset_timeout\":\"1m\""), "{json}");
    let back: Config = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c);
    let partial: Config =
        serde_json::from_str(r#"{"failure_threshold": 7, "slow_call_duration": "250ms"}"#).unwrap();
    assert_eq!(partial.failure_threshold(), 7);
    assert_eq!(partial.slow_call_duration(), Duration::from_millis(250));
    assert_eq!(partial.min_calls(), 10);
    let bad = serde_json::from_str::<Config>(r#"{"failure_rate_threshold": 1.5}"#).unwrap_err();
    assert!(bad.to_string().contains("failure_rate_threshold"), "{bad}");
    let typo = serde_json::from_str::<Config>(r#"{"failure_treshold": 1}"#).unwrap_err();
    assert!(typo.to_string().contains("failure_treshold"), "{typo}");
}

#[test]
fn small_count_windows_build_without_window_buckets() {
    // `window_buckets` was never set: the window picks its own, one call per bucket.
    let c = Config::builder()
        .window_size(5)
        .min_calls(5)
        .build()
        .unwrap();
    assert_eq!(c.window(), WindowKind::Count(5));
    assert_eq!(c.window_buckets(), 5);
    let c = Config::builder().window_size(64).build().unwrap();
    assert_eq!(c.window_buckets(), 64);
    let c = Config::builder()
        .window_size(1)
        .min_calls(1)
        .build()
        .unwrap();
    assert_eq!(c.window_buckets(), 1);
    // Larger count windows pick a bucket count that divides them where one exists.
    let c = Config::builder().window_size(100).build().unwrap();
    assert_eq!(100 % c.window_buckets(), 0);
    assert!(c.window_buckets() <= breakerbox::MAX_WINDOW_BUCKETS);
    // A short time window gets buckets of at least 1 ms.
    let c = Config::builder()
        .failure_window(Duration::from_millis(4))
        .build()
        .unwrap();
    assert_eq!(c.window_buckets(), 4);
    assert_eq!(Config::default().window_buckets(), 10);
    // A value the user set is kept, and checked.
    let c = Config::builder()
        .window_size(100)
        .window_buckets(4)
        .build()
        .unwrap();
    assert_eq!(c.window_buckets(), 4);
}

#[cfg(feature = "serde")]
#[test]
fn serde_refuses_a_sequence_as_a_config() {
    let e = serde_json::from_str::<Config>("[7]").unwrap_err();
    assert!(e.to_string().contains("invalid type: sequence"), "{e}");
    assert!(serde_json::from_str::<Config>("[]").is_err());
    assert!(serde_json::from_str::<breakerbox::ConfigBuilder>("[7, 3]").is_err());
    // Maps still work, and a config without window_buckets round-trips as unset.
    let c = Config::builder()
        .window_size(5)
        .min_calls(5)
        .build()
        .unwrap();
    let json = serde_json::to_string(&c).unwrap();
    let back: Config = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c);
    assert_eq!(back.window_buckets(), 5);
}
