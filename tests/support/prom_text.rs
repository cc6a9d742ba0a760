//! A parser for the Prometheus text exposition format, as the exporter renders it.

use std::collections::BTreeMap;

use breakerbox::observe::names;

/// One sample line of the text format.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Every sample line of `text` (comments and blank lines skipped), parsed strictly: label
/// values unescaped (`\\`, `\"`, `\n`; any other escape, an unquoted value or a label
/// left open panics).
pub fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name, labels, rest) = match line.find(['{', ' ']) {
            Some(i) if line.as_bytes()[i] == b'{' => {
                let (labels, rest) = parse_labels(&line[i + 1..], line);
                (&line[..i], labels, rest)
            }
            _ => {
                let (name, rest) = line.split_once(' ').expect("sample line");
                (name, BTreeMap::new(), rest)
            }
        };
        let value = rest.strip_prefix(' ').unwrap_or(rest).trim_end();
        let value = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("number {v:?}: {line:?}")),
        };
        out.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    out
}

/// The labels after a sample's `{` (in `line`), and what follows the closing `}`.
fn parse_labels<'a>(mut rest: &'a str, line: &str) -> (BTreeMap<String, String>, &'a str) {
    let mut labels = BTreeMap::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after);
        }
        let (key, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("label name: {line:?}"));
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => panic!("escape {other:?}: {line:?}"),
                },
                Some((_, c)) => value.push(c),
                None => panic!("label value left open: {line:?}"),
            }
        };
        assert!(
            labels.insert(key.to_owned(), value).is_none(),
            "label {key} twice: {line:?}"
        );
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// The value of the one series of `name` whose labels include `labels`.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<_> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
    found.first().map(|s| s.value)
}

/// The states whose `breakerbox_state` series is 1, and the number of series of the breaker.
pub fn hot_states(samples: &[Sample], breaker: &str) -> (Vec<String>, usize) {
    let series: Vec<_> = samples
        .iter()
        .filter(|s| s.name == names::STATE && s.labels["breaker"] == breaker)
        .collect();
    for s in &series {
        assert!(
            s.value == 0.0 || s.value == 1.0,
            "state gauge not 0/1: {s:?}"
        );
    }
    let hot = series
        .iter()
        .filter(|s| s.value == 1.0)
        .map(|s| s.labels["state"].clone())
        .collect();
    (hot, series.len())
}
