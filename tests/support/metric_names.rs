//! The metric-name scanner: every `breakerbox_*` name a text mentions (exporter output,
//! dashboards, alert rules, docs), and the metric reference in `docs/METRICS.md`.

use std::collections::BTreeSet;

use breakerbox::observe::names::{METRICS, MetricKind};

/// `breakerbox_*` names in a text, with histogram suffixes stripped.
pub fn metric_names(text: &str) -> BTreeSet<String> {
    let histograms: BTreeSet<&str> = METRICS
        .iter()
        .filter(|m| m.kind == MetricKind::Histogram)
        .map(|m| m.name)
        .collect();
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("breakerbox_") {
        let before = &rest[..i];
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let mut name = &tail[..end];
        if !before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            for suffix in ["_bucket", "_sum", "_count"] {
                if let Some(base) = name.strip_suffix(suffix)
                    && histograms.contains(base)
                {
                    name = base;
                }
            }
            out.insert(name.to_owned());
        }
        rest = &tail[end..];
    }
    out
}

/// The text of `docs/METRICS.md`, the metric reference.
pub fn metrics_md() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/METRICS.md"))
        .expect("docs/METRICS.md")
}
