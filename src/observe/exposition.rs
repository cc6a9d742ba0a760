//! The Prometheus text of the series breakerbox renders itself (feature `prometheus`), and
//! how it joins the exporter's text: the `breakerbox_call_duration_seconds` family of the
//! breakers [`prometheus::render`](super::prometheus::render) renders, written from their
//! striped histograms (`histogram`) in place of the exporter's lines for them, under the
//! exporter's one `# HELP` and `# TYPE` line of the family.
//!
//! The lines are those the exporter writes for the family: the same name, labels (the
//! exporter's global labels first, then `breaker`, `outcome`, `le`), bucket bounds
//! (`DURATION_BUCKETS`) and number formats, so dashboards, alerts and `promtool check
//! metrics` see no difference.

use std::collections::HashSet;
use std::fmt::Write as _;

use metrics_exporter_prometheus::formatting::sanitize_label_value;

use super::histogram::Buckets;
use super::names::{self, CALL_DURATION_SECONDS, LABEL_BREAKER, LABEL_OUTCOME};
use super::prometheus::DURATION_BUCKETS;

/// The label values of `outcome`, by `ran_index`.
const OUTCOMES: [&str; 4] = ["success", "failure", "ignored", "timeout"];

/// The `breakerbox_call_duration_seconds` lines of the rendered breakers.
#[derive(Debug, Default)]
pub(crate) struct OwnDurations {
    lines: String,
    /// The escaped `breaker` label values written here: the exporter's lines for them are
    /// left out.
    breakers: HashSet<String>,
}

impl OwnDurations {
    /// Adds the histograms `snapshot` (by `ran_index`) of breaker `name`.
    pub(crate) fn add(&mut self, name: &str, snapshot: &[Option<Buckets>; 4]) {
        let breaker = sanitize_label_value(name);
        for (outcome, b) in OUTCOMES.iter().zip(snapshot) {
            if let Some(b) = b {
                self.write(&breaker, outcome, b);
            }
        }
        self.breakers.insert(breaker);
    }

    fn write(&mut self, breaker: &str, outcome: &str, b: &Buckets) {
        let out = &mut self.lines;
        let mut cumulative = 0u64;
        for (le, count) in DURATION_BUCKETS.iter().zip(b.counts) {
            cumulative = cumulative.saturating_add(count);
            let _ = writeln!(
                out,
                "{CALL_DURATION_SECONDS}_bucket{{{LABEL_BREAKER}=\"{breaker}\",{LABEL_OUTCOME}=\"{outcome}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let count = b.count();
        let sum = b.sum_nanos as f64 / 1e9;
        let _ = writeln!(
            out,
            "{CALL_DURATION_SECONDS}_bucket{{{LABEL_BREAKER}=\"{breaker}\",{LABEL_OUTCOME}=\"{outcome}\",le=\"+Inf\"}} {count}\n\
             {CALL_DURATION_SECONDS}_sum{{{LABEL_BREAKER}=\"{breaker}\",{LABEL_OUTCOME}=\"{outcome}\"}} {sum}\n\
             {CALL_DURATION_SECONDS}_count{{{LABEL_BREAKER}=\"{breaker}\",{LABEL_OUTCOME}=\"{outcome}\"}} {count}"
        );
    }

    /// Whether a sample line of the exporter is one of the family's for a breaker written
    /// here.
    fn replaces(&self, line: &str) -> bool {
        !self.breakers.is_empty()
            && line
                .strip_prefix(CALL_DURATION_SECONDS)
                .is_some_and(|rest| rest.starts_with('_'))
            && breaker_label(line).is_some_and(|b| self.breakers.contains(b))
    }
}

/// The escaped value of the `breaker` label of a sample line, if it has one.
fn breaker_label(line: &str) -> Option<&str> {
    let open = line.find('{')?;
    let labels = &line[open..];
    let needle = "breaker=\"";
    let at = labels
        .match_indices(needle)
        .find(|(at, _)| matches!(labels[..*at].chars().next_back(), Some('{' | ',')))?
        .0;
    let value = &labels[at + needle.len()..];
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(&value[..i]),
            _ => {}
        }
    }
    None
}

/// The exporter's `text` with `own`'s lines in place of the exporter's for the same
/// breakers, and without the lines `hidden` rejects (series of removed breakers). The
/// family keeps one `# HELP` and `# TYPE` line: the exporter's, or written here when the
/// exporter has none.
pub(crate) fn merge(text: &str, own: &OwnDurations, hidden: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(text.len() + own.lines.len());
    let type_line = format!("# TYPE {CALL_DURATION_SECONDS} histogram");
    let mut inserted = own.lines.is_empty();
    for line in text.lines() {
        if own.replaces(line) || hidden(line) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if !inserted && line == type_line {
            out.push_str(&own.lines);
            inserted = true;
        }
    }
    if !inserted {
        let help = names::METRICS
            .iter()
            .find(|m| m.name == CALL_DURATION_SECONDS)
            .map_or("", |m| m.help);
        let _ = writeln!(out, "# HELP {CALL_DURATION_SECONDS} {help}\n{type_line}");
        out.push_str(&own.lines);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_label_is_read_with_its_escapes() {
        let line = "breakerbox_call_duration_seconds_sum{env=\"x\",breaker=\"a\\\"b\\\\\",outcome=\"success\"} 1";
        assert_eq!(breaker_label(line), Some("a\\\"b\\\\"));
        assert_eq!(
            breaker_label("x{other_breaker=\"a\",breaker=\"b\"} 1"),
            Some("b")
        );
        assert_eq!(breaker_label("x 1"), None);
    }

    #[test]
    fn own_lines_replace_the_exporters_under_one_type_line() {
        let mut own = OwnDurations::default();
        let mut b = Buckets {
            counts: [0; DURATION_BUCKETS.len() + 1],
            sum_nanos: 1_500_000,
        };
        b.counts[1] = 1;
        own.add("a", &[Some(b), None, None, None]);
        let text = "# HELP breakerbox_call_duration_seconds h\n\
                    # TYPE breakerbox_call_duration_seconds histogram\n\
                    breakerbox_call_duration_seconds_count{breaker=\"a\",outcome=\"success\"} 7\n\
                    breakerbox_call_duration_seconds_count{breaker=\"b\",outcome=\"success\"} 3\n\
                    \n";
        let out = merge(text, &own, |_| false);
        assert_eq!(out.matches("# TYPE").count(), 1);
        assert!(out.contains(
            "breakerbox_call_duration_seconds_count{breaker=\"b\",outcome=\"success\"} 3\n"
        ));
        assert!(out.contains(
            "breakerbox_call_duration_seconds_count{breaker=\"a\",outcome=\"success\"} 1\n"
        ));
        assert!(out.contains(
            "breakerbox_call_duration_seconds_sum{breaker=\"a\",outcome=\"success\"} 0.0015\n"
        ));
        assert!(out.contains("breakerbox_call_duration_seconds_bucket{breaker=\"a\",outcome=\"success\",le=\"0.0005\"} 0\n"));
        assert!(out.contains("breakerbox_call_duration_seconds_bucket{breaker=\"a\",outcome=\"success\",le=\"0.001\"} 1\n"));
        assert!(out.contains("breakerbox_call_duration_seconds_bucket{breaker=\"a\",outcome=\"success\",le=\"60\"} 1\n"));
        assert!(!out.contains("} 7"));

        let alone = merge("", &own, |_| false);
        assert_eq!(
            alone
                .matches("# TYPE breakerbox_call_duration_seconds histogram")
                .count(),
            1
        );
        assert!(alone.starts_with("# HELP breakerbox_call_duration_seconds "));
    }
}
