//! The metric names are a public contract: every name the dashboards and alert rules use
//! is documented in docs/METRICS.md and defined in `breakerbox::observe::names`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// Every `breakerbox_*` metric name in `text`, with histogram suffixes stripped.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("breakerbox_") {
        let start = i + pos;
        let before_ok = start == 0 || !is_ident(bytes[start - 1]);
        let mut end = start;
        while end < bytes.len() && is_ident(bytes[end]) {
            end += 1;
        }
        let is_file = [".yml", ".yaml", ".json", ".md"]
            .iter()
            .any(|ext| text[end..].starts_with(ext));
        if before_ok && !is_file {
            let mut name = &text[start..end];
            for suffix in ["_bucket", "_sum", "_count"] {
                if let Some(base) = name.strip_suffix(suffix)
                    && base.ends_with("_seconds")
                {
                    name = base;
                }
            }
            names.insert(name.to_owned());
        }
        i = end.max(start + 1);
    }
    names
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn read_all(dir: &str, ext: &str) -> String {
    let mut all = String::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                // alerts/tests/ holds promtool fixtures, not rules.
                if !p.ends_with("tests") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == ext) {
                all.push_str(&fs::read_to_string(&p).unwrap());
                all.push('\n');
            }
        }
    }
    all
}

fn documented() -> BTreeSet<String> {
    let doc = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/METRICS.md"))
        .expect("docs/METRICS.md exists");
    metric_names(&doc)
}

fn defined() -> BTreeSet<String> {
    let src =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/observe/names.rs"))
            .unwrap();
    src.lines()
        .filter(|l| l.trim_start().starts_with("pub const") && l.contains("\"breakerbox_"))
        .flat_map(metric_names)
        .collect()
}

/// Every name in `used` is documented in METRICS.md and defined in `names.rs`.
fn assert_documented_and_defined(used: &BTreeSet<String>, by: &str, at_least: usize) {
    assert!(used.len() >= at_least, "{by} use too few metrics: {used:?}");
    let (doc, def) = (documented(), defined());
    let missing: Vec<_> = used
        .iter()
        .filter(|n| !doc.contains(*n) || !def.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "used by {by} but not documented/defined: {missing:?}"
    );
}

#[test]
fn every_metric_in_dashboards_is_documented_and_defined() {
    let used = metric_names(&read_all("dashboards", "json"));
    assert_documented_and_defined(&used, "dashboards", 8);
}

#[test]
fn every_metric_in_alert_rules_is_documented_and_defined() {
    let used = metric_names(&read_all("alerts", "yml"));
    assert_documented_and_defined(&used, "alert rules", 5);
}

#[test]
fn metric_scanner_strips_histogram_suffixes_only() {
    let names = metric_names(
        "rate(breakerbox_call_duration_seconds_bucket[1m]) breakerbox_calls_total x_breakerbox_no",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        vec!["breakerbox_call_duration_seconds", "breakerbox_calls_total"]
    );
}
