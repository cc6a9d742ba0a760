//! A breaker restored from its state store, as one entered by a transition: the series
//! a transition into its state creates, its last transition (marked restored), and a
//! deadline no longer than the breaker could have chosen itself.

use std::time::Duration;

use breakerbox::{Config, ManualClock, Reason, State};

use crate::store::{config, first_run_forced_open_for, registry, state_file};
use crate::support::logs::Logs;

/// The longest TTL the admin API accepts, and the most a restored forced open waits.
const YEAR: Duration = Duration::from_secs(365 * 86_400);

/// A TTL longer than the admin API accepts (365 days), here one beyond any clock, is cut
/// to 365 days when the breaker is restored, with a warning naming the breaker.
#[test]
fn a_ttl_beyond_the_admin_limit_is_cut_to_it_across_a_restart() {
    let (_dir, path) = state_file();
    let clock = ManualClock::new();
    first_run_forced_open_for(&clock, &path, Duration::MAX);

    clock.advance(Duration::from_secs(365 * 86_400));
    let logs = Logs::default();
    let after = tracing::subscriber::with_default(logs.subscriber(), || {
        let after = registry(&clock, &path);
        after.breaker("postgres", config()).unwrap();
        after
    });
    let db = after.get("postgres").unwrap();
    assert_eq!(db.state(), State::ForcedOpen);
    assert_eq!(db.snapshot().retry_after, Some(YEAR));
    let text = logs.text();
    assert!(text.contains("WARN") && text.contains("postgres"), "{text}");
    clock.advance(YEAR);
    db.poll_timeouts();
    assert_eq!(db.state(), State::HalfOpen);
}

/// A state file written by hand (or by an attacker) with a deadline 584 million years
/// away: an Open breaker waits at most the longest reset timeout its config can choose,
/// a forced-open one at most 365 days, and each cut is a warning naming the record.
#[test]
fn a_hostile_deadline_in_the_state_file_is_capped_with_a_warning() {
    let (_dir, path) = state_file();
    std::fs::write(
        &path,
        r#"{"version":1,"breakers":{
            "pricing-api":{"state":"open","until_unix_ms":18446744073709551615},
            "payments":{"state":"forced_open","until_unix_ms":18446744073709551615,"open_for_ms":18446744073709551615}
        }}"#,
    )
    .unwrap();
    let cfg = Config::builder()
        .failure_threshold(1)
        .reset_timeout(Duration::from_secs(30))
        .backoff_factor(2.0)
        .max_reset_timeout(Duration::from_secs(300))
        .reset_jitter(0.5)
        .build()
        .unwrap();
    let clock = ManualClock::new();
    let logs = Logs::default();
    let registry = tracing::subscriber::with_default(logs.subscriber(), || {
        let registry = registry(&clock, &path);
        registry.breaker("pricing-api", cfg.clone()).unwrap();
        registry.breaker("payments", cfg.clone()).unwrap();
        registry
    });
    let api = registry.get("pricing-api").unwrap();
    assert_eq!(api.state(), State::Open);
    // 300 s spread by up to 50%: the longest the breaker could have chosen itself.
    assert_eq!(api.snapshot().retry_after, Some(Duration::from_secs(450)));
    let payments = registry.get("payments").unwrap();
    assert_eq!(payments.state(), State::ForcedOpen);
    assert_eq!(payments.snapshot().retry_after, Some(YEAR));
    let text = logs.text();
    for name in ["pricing-api", "payments"] {
        let line = text
            .lines()
            .find(|l| l.contains("WARN") && l.contains(name))
            .unwrap_or_else(|| panic!("no warning names {name}:\n{text}"));
        assert!(line.contains("18446744073709551615"), "{line}");
    }
    // And the cap is a real deadline: the breaker probes at it.
    clock.advance(Duration::from_secs(450));
    api.poll_timeouts();
    assert_eq!(api.state(), State::HalfOpen);
}

/// The restored breaker's last transition is the one that entered its state before the
/// restart, marked restored: the state, reason and time come from the record.
#[test]
fn a_restored_breaker_reports_the_persisted_transition_as_restored() {
    let (_dir, path) = state_file();
    let clock = ManualClock::new();
    let before = registry(&clock, &path);
    let db = before.breaker("postgres", config()).unwrap();
    db.force_open_for(Duration::from_secs(600));
    let forced = db.snapshot().last_transition.unwrap();
    let api = before.breaker("pricing-api", config()).unwrap();
    let _ = api.call_sync(|| Err::<(), _>("down"));
    let tripped = api.snapshot().last_transition.unwrap();
    before.persist_now().unwrap();
    drop((before, db, api));

    clock.advance(Duration::from_secs(20));
    let after = registry(&clock, &path);
    let db = after.breaker("postgres", config()).unwrap();
    let t = db
        .snapshot()
        .last_transition
        .expect("a restored last transition");
    assert!(t.restored && !forced.restored);
    let ms =
        |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    assert_eq!(
        (t.from, t.to, t.reason, ms(t.at), t.open_for),
        (
            State::Closed,
            State::ForcedOpen,
            Reason::Forced,
            ms(forced.at),
            forced.open_for
        )
    );
    let api = after.breaker("pricing-api", config()).unwrap();
    let t = api.snapshot().last_transition.unwrap();
    assert!(t.restored);
    assert_eq!(
        (t.from, t.to, t.reason, ms(t.at)),
        (
            State::Closed,
            State::Open,
            Reason::ConsecutiveFailures,
            ms(tripped.at)
        )
    );
    // The next real transition replaces it.
    db.reset();
    assert!(!db.snapshot().last_transition.unwrap().restored);
}

/// The `breakerbox_transitions_total` series out of `from` in `text` (Prometheus text),
/// with their values.
#[cfg(feature = "prometheus")]
fn out_of(text: &str, breaker: &str, from: &str) -> Vec<(String, f64)> {
    use crate::support::prom_text::parse;
    parse(text)
        .into_iter()
        .filter(|s| {
            let label = |k: &str| s.labels.get(k).map(String::as_str);
            s.name == "breakerbox_transitions_total"
                && label("breaker") == Some(breaker)
                && label("from") == Some(from)
        })
        .map(|s| {
            (
                format!("{}/{}", s.labels["to"], s.labels["reason"]),
                s.value,
            )
        })
        .collect()
}

/// A breaker restored forced open, open or metrics-only exports, at 0, every series a
/// transition into that state would have created (METRICS.md, "Which transition series
/// exist when"): the operator transitions out of it, and for metrics_only the dry-run
/// trips. So the reset that follows a restore is counted from 0, and `increase()` sees it.
/// Checked for both kinds of breaker: one registering its series with the recorder, and
/// one served by `render` only (its series owed at 0 are written by the render).
#[cfg(feature = "prometheus")]
#[test]
fn a_restored_state_exports_the_transition_series_out_of_it_at_zero() {
    use breakerbox::observe::prometheus;

    let (_dir, path) = state_file();
    let clock = ManualClock::new();
    let before = registry(&clock, &path);
    before.breaker("forced", config()).unwrap().force_open();
    let _ = before
        .breaker("open", config())
        .unwrap()
        .call_sync(|| Err::<(), _>("down"));
    before.breaker("dry", config()).unwrap().metrics_only();
    before.persist_now().unwrap();
    drop(before);

    // Both restarted registries read the file before either resets a breaker.
    let restarted = [false, true].map(|render_only| {
        let recorder = prometheus::builder().build_recorder();
        let after = registry(&clock, &path);
        let build = || {
            for name in ["forced", "open", "dry"] {
                after.breaker(name, config()).unwrap();
            }
        };
        if render_only {
            prometheus::with_local_recorder(&recorder, build);
        } else {
            metrics::with_local_recorder(&recorder, build);
        }
        (render_only, recorder, after)
    });
    for (render_only, recorder, after) in restarted {
        let handle = recorder.handle();
        let text = prometheus::render(&handle, &after);
        let forced = out_of(&text, "forced", "forced_open");
        let expected = vec![
            ("closed/manual".to_owned(), 0.0),
            ("disabled/manual".to_owned(), 0.0),
            ("forced_open/forced".to_owned(), 0.0),
            ("half_open/timeout_elapsed".to_owned(), 0.0),
            ("metrics_only/manual".to_owned(), 0.0),
        ];
        let sorted = |mut v: Vec<(String, f64)>| {
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        assert_eq!(
            sorted(forced),
            expected,
            "render_only {render_only}:\n{text}"
        );
        let open = sorted(out_of(&text, "open", "open"));
        assert_eq!(open.len(), 5, "render_only {render_only}: {open:?}\n{text}");
        assert!(open.iter().all(|(_, v)| *v == 0.0), "{open:?}");
        assert!(open.iter().any(|(k, _)| k == "closed/manual"), "{open:?}");
        let dry = out_of(&text, "dry", "metrics_only");
        assert_eq!(dry.len(), 4, "render_only {render_only}: {dry:?}\n{text}");
        let dry_run = text
            .lines()
            .filter(|l| {
                l.starts_with("breakerbox_dry_run_trips_total{") && l.contains(r#"breaker="dry""#)
            })
            .count();
        assert_eq!(dry_run, 3, "render_only {render_only}:\n{text}");

        // The reset that follows is counted from the 0 a scrape saw.
        metrics::with_local_recorder(&recorder, || after.get("forced").unwrap().reset());
        let text = prometheus::render(&handle, &after);
        let reset = out_of(&text, "forced", "forced_open");
        assert!(
            reset.contains(&("closed/manual".to_owned(), 1.0)),
            "{reset:?}"
        );
    }
}
