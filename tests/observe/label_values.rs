//! Hostile breaker names through the text exposition: every name a registry accepts
//! renders as itself, and no two names share a label, as read back by a real parser
//! (prometheus_client's, under `/usr/bin/python3`, Debian package
//! `python3-prometheus-client`), by the strict parser of the test support, and checked by
//! `promtool check metrics`. A name holding a backslash is refused: the exporter reads it
//! as an escape start and would render another value (see `NameError`).
#![cfg(all(feature = "prometheus", feature = "test-util"))]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use proptest::prelude::*;

use crate::promtool::{promtool_available, promtool_check};
use crate::support::drive::recorder;
use crate::support::prom_text::{self, Sample, hot_states};
use breakerbox::observe::prometheus;
use breakerbox::{Config, MAX_NAME_LEN, NameProblem, Registry, RegistryError};

/// Every sample of `text` as prometheus_client's parser reads it.
fn python_parse(text: &str) -> Vec<Sample> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/parse_exposition.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn /usr/bin/python3");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client failed: {}\n--- text ---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<(String, BTreeMap<String, String>, String)> =
        serde_json::from_slice(&out.stdout).unwrap();
    rows.into_iter()
        .map(|(name, labels, value)| Sample {
            name,
            labels,
            value: match value.as_str() {
                "nan" => f64::NAN,
                v => v.parse().unwrap(),
            },
        })
        .collect()
}

/// Builds a breaker per name in a registry with its own recorder and renders it: the
/// accepted names (deduplicated) and the text. A refused name must break a rule.
fn render(names: &[String]) -> (BTreeSet<String>, String) {
    let (rec, handle) = recorder();
    let registry = Registry::new();
    let mut accepted = BTreeSet::new();
    metrics::with_local_recorder(&rec, || {
        for name in names {
            match registry.breaker(name, Config::default()) {
                Ok(_) => {
                    assert!(!name.contains('\\'), "{name:?} was accepted");
                    accepted.insert(name.clone());
                }
                Err(RegistryError::Name(e)) => {
                    let expected = if name.is_empty() || name.len() > MAX_NAME_LEN {
                        NameProblem::Length
                    } else {
                        NameProblem::Backslash
                    };
                    assert_eq!(e.problem(), expected, "{name:?}");
                }
                Err(e) => panic!("{name:?}: {e}"),
            }
        }
    });
    (accepted, prometheus::render(&handle, &registry))
}

/// Each accepted name has its own six state series, one at 1, under its own label, and
/// the breakerbox series carry no other `breaker` label.
fn assert_round_trip(accepted: &BTreeSet<String>, samples: &[Sample], parser: &str) {
    for name in accepted {
        assert_eq!(
            hot_states(samples, name),
            (vec!["closed".to_owned()], 6),
            "{parser}: {name:?}"
        );
    }
    let labels: BTreeSet<String> = samples
        .iter()
        .filter(|s| s.name.starts_with("breakerbox_"))
        .filter_map(|s| s.labels.get("breaker").cloned())
        .collect();
    assert_eq!(&labels, accepted, "{parser}: the breaker labels");
}

/// The accepted names of `names` round-trip through the exposition, read by both parsers
/// and checked by promtool (skipped with a message where promtool is missing, outside CI).
fn assert_names_round_trip(names: &[String]) -> BTreeSet<String> {
    let (accepted, text) = render(names);
    assert_round_trip(&accepted, &prom_text::parse(&text), "strict parser");
    assert_round_trip(&accepted, &python_parse(&text), "prometheus_client");
    if promtool_available() {
        let (ok, msg) = promtool_check(&text);
        assert!(ok && msg.trim().is_empty(), "promtool: {msg}\n{text}");
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is required under CI"
        );
        eprintln!("promtool not found on PATH: its check skipped");
    }
    accepted
}

#[test]
fn names_that_broke_the_exposition_are_refused_and_the_rest_render_as_themselves() {
    let names = [
        "all\"\\\n3", // backslash and line feed came out swapped
        "bq\\\"x",    // rendered as the label of `bq"x`
        "bq\"x",
        "hx\\\ny", // rendered as another value
        "a\nb",
        "\"",
        "x}y",
        "a,b=\"c\"",
        "# HELP x",
        " ",
        "\r",
        "\t",
        "\u{0}",
        "\u{2028}\u{85}",
        "é 日本 🦀",
    ]
    .map(str::to_owned);
    let accepted = assert_names_round_trip(&names);
    let refused: Vec<_> = names.iter().filter(|n| !accepted.contains(*n)).collect();
    assert_eq!(refused, ["all\"\\\n3", "bq\\\"x", "hx\\\ny"]);
}

/// Characters a label value must escape or a parser may trip on, beside arbitrary ones.
fn name_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        2 => prop::sample::select(vec![
            '\\', '"', '\n', '\r', '\t', '{', '}', ',', '=', ' ', '#', '\0', '\u{85}',
            '\u{2028}', '\u{feff}', 'é', '🦀',
        ]),
        1 => prop::char::range('a', 'c'),
    ]
}

proptest! {
    // The seeds of past failures are kept next to this file
    // (`label_values.proptest-regressions`, committed).
    #![proptest_config(ProptestConfig {
        cases: 16,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_accepted_name_round_trips_through_the_exposition_and_no_two_share_a_label(
        names in prop::collection::vec(
            prop::collection::vec(name_char(), 0..40).prop_map(String::from_iter),
            1..24,
        )
    ) {
        assert_names_round_trip(&names);
    }
}
