//! The Prometheus text of the series breakerbox renders itself (feature `prometheus`), and
//! how it joins the exporter's text. For the breakers
//! [`prometheus::render`](super::prometheus::render) renders:
//! - the `breakerbox_call_duration_seconds` family, written from their striped histograms
//!   (`histogram`) in place of the exporter's lines for them;
//! - the `breakerbox_transitions_total` series they owe at 0 and have not registered with
//!   the recorder (`transitions`): a transition registers its series, and the exporter
//!   shows it from then on.
//!
//! Each family keeps one `# HELP` and `# TYPE` line: the exporter's, or written here when
//! the exporter has none. The lines are those the exporter writes: the same names, labels
//! in the same order (the exporter's global labels, read from its `breakerbox_state`
//! lines, then `breaker`, `outcome`, `le`; or `breaker`, `from`, `to`, `reason`), the
//! same number formats and, for a breaker with the standard bounds, the bounds
//! `DURATION_BUCKETS`, so dashboards, alerts and `promtool check metrics` see no
//! difference. A breaker with other bounds (`DurationBuckets`) gets its own `le` lines.

use std::collections::HashSet;
use std::fmt::Write as _;

use metrics_exporter_prometheus::formatting::sanitize_label_value;

use super::duration::Bounds;
use super::histogram::Buckets;
use super::names::{
    self, CALL_DURATION_SECONDS, LABEL_BREAKER, LABEL_FROM, LABEL_OUTCOME, LABEL_REASON, LABEL_TO,
    TRANSITIONS_TOTAL,
};
use super::transitions::TransitionKey;

/// The label values of `outcome`, by `ran_index`.
const OUTCOMES: [&str; 4] = ["success", "failure", "ignored", "timeout"];

/// What breakerbox writes itself for the rendered breakers, collected under the scrape
/// lock and written into the text after it.
#[derive(Debug, Default)]
pub(crate) struct Own {
    /// Each breaker's escaped `breaker` label value and histograms (by `ran_index`).
    durations: Vec<(String, [Option<Buckets>; 4])>,
    /// The escaped `breaker` label values of `durations`: the exporter's histogram lines
    /// for them are left out.
    breakers: HashSet<String>,
    /// Transition series at 0: escaped `breaker` label value and transition.
    zeros: Vec<(String, TransitionKey)>,
}

impl Own {
    /// Adds the histograms `snapshot` (by `ran_index`) of breaker `name`.
    pub(crate) fn durations(&mut self, name: &str, snapshot: [Option<Buckets>; 4]) {
        let breaker = sanitize_label_value(name);
        self.breakers.insert(breaker.clone());
        self.durations.push((breaker, snapshot));
    }

    /// Adds the transition series `key` of breaker `name`, at 0.
    pub(crate) fn transition_zero(&mut self, name: &str, key: TransitionKey) {
        self.zeros.push((sanitize_label_value(name), key));
    }

    /// Writes the histogram lines.
    fn write_durations(&self, out: &mut String, globals: &str) {
        let standard = Bounds::default();
        let standard_les = les(&standard);
        let mut labels = String::new();
        for (breaker, snapshot) in &self.durations {
            // Every histogram of a breaker has the breaker's bounds.
            let Some(bounds) = snapshot.iter().flatten().map(|b| b.bounds).next() else {
                continue;
            };
            let own_les = (bounds != standard).then(|| les(&bounds));
            let les = own_les.as_ref().unwrap_or(&standard_les);
            for (outcome, b) in OUTCOMES.iter().zip(snapshot) {
                let Some(b) = b else { continue };
                labels.clear();
                let _ = write!(
                    labels,
                    "{{{globals}{LABEL_BREAKER}=\"{breaker}\",{LABEL_OUTCOME}=\"{outcome}\""
                );
                let mut cumulative = 0u64;
                for (le, &count) in les.iter().zip(b.counts()) {
                    cumulative = cumulative.saturating_add(count);
                    bucket_line(out, &labels, le, cumulative);
                }
                let count = b.count();
                bucket_line(out, &labels, "+Inf", count);
                let sum = b.sum_nanos as f64 / 1e9;
                let _ = writeln!(out, "{CALL_DURATION_SECONDS}_sum{labels}}} {sum}");
                let _ = writeln!(out, "{CALL_DURATION_SECONDS}_count{labels}}} {count}");
            }
        }
    }

    /// Writes the transition lines at 0.
    fn write_zeros(&self, out: &mut String, globals: &str) {
        for (breaker, (from, to, reason)) in &self.zeros {
            let _ = writeln!(
                out,
                "{TRANSITIONS_TOTAL}{{{globals}{LABEL_BREAKER}=\"{breaker}\",{LABEL_FROM}=\"{}\",{LABEL_TO}=\"{}\",{LABEL_REASON}=\"{}\"}} 0",
                from.as_str(),
                to.as_str(),
                reason.as_str()
            );
        }
    }

    /// Whether a sample line of the exporter is one of the histogram family's for a
    /// breaker whose histograms are written here.
    fn replaces(&self, line: &str) -> bool {
        !self.breakers.is_empty()
            && line
                .strip_prefix(CALL_DURATION_SECONDS)
                .is_some_and(|rest| rest.starts_with('_'))
            && breaker_label(line).is_some_and(|b| self.breakers.contains(b))
    }
}

/// The `le` label values of `bounds`, as the exporter writes them.
fn les(bounds: &Bounds) -> Vec<String> {
    bounds.secs().iter().map(f64::to_string).collect()
}

/// One `_bucket` line: `labels` is `{breaker="..",outcome=".."` (unclosed).
fn bucket_line(out: &mut String, labels: &str, le: &str, count: u64) {
    out.push_str(CALL_DURATION_SECONDS);
    out.push_str("_bucket");
    out.push_str(labels);
    out.push_str(",le=\"");
    out.push_str(le);
    out.push_str("\"} ");
    let _ = writeln!(out, "{count}");
}

/// The escaped value of the `breaker` label of a sample line, if it has one.
pub(crate) fn breaker_label(line: &str) -> Option<&str> {
    let labels = &line[line.find('{')? + 1..];
    let before = labels_before_breaker(labels)?;
    let value = &labels[before.len() + "breaker=\"".len()..];
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

/// The exporter's `text` with `own`'s lines: histograms in place of the exporter's for the
/// same breakers, transition series at 0 beside the exporter's; without the lines
/// `hidden` rejects (series of removed breakers).
pub(crate) fn merge(text: &str, own: &Own, hidden: impl Fn(&str) -> bool) -> String {
    /// Bytes per histogram: 20 lines of about 110 bytes.
    const PER_HISTOGRAM: usize = 20 * 110;
    let histograms: usize = own
        .durations
        .iter()
        .map(|(_, s)| s.iter().flatten().count())
        .sum();
    let mut out =
        String::with_capacity(text.len() + histograms * PER_HISTOGRAM + own.zeros.len() * 120);
    let mut families = [
        Family::new(
            CALL_DURATION_SECONDS,
            "histogram",
            !own.durations.is_empty(),
        ),
        Family::new(TRANSITIONS_TOTAL, "counter", !own.zeros.is_empty()),
    ];
    let globals = global_labels(text);
    let write = |f: usize, out: &mut String| match f {
        0 => own.write_durations(out, globals),
        _ => own.write_zeros(out, globals),
    };
    for line in text.lines() {
        if own.replaces(line) || hidden(line) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line.starts_with("# TYPE ") {
            for (i, f) in families.iter_mut().enumerate() {
                if !f.written && line == f.type_line {
                    write(i, &mut out);
                    f.written = true;
                }
            }
        }
    }
    for (i, f) in families.iter().enumerate().filter(|(_, f)| !f.written) {
        let help = names::METRICS
            .iter()
            .find(|m| m.name == f.name)
            .map_or("", |m| m.help);
        let _ = writeln!(out, "# HELP {} {help}\n{}", f.name, f.type_line);
        write(i, &mut out);
        out.push('\n');
    }
    out
}

/// The exporter's global labels (`PrometheusBuilder::add_global_label`), as it writes them
/// before a series' own labels (`name="value",` each), read from its first
/// `breakerbox_state` line; empty when it has none.
fn global_labels(text: &str) -> &str {
    let prefix = concat!("breakerbox_state", "{");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(labels_before_breaker)
        .unwrap_or("")
}

/// The `name="value",` pairs at the start of `labels` (what follows a series' `{`), up to
/// the `breaker` label.
fn labels_before_breaker(labels: &str) -> Option<&str> {
    let mut at = 0;
    loop {
        let rest = &labels[at..];
        if rest.starts_with("breaker=\"") {
            return Some(&labels[..at]);
        }
        let value = rest.find("=\"")? + 2;
        let mut escaped = false;
        let end = rest[value..].char_indices().find_map(|(i, c)| match c {
            _ if escaped => {
                escaped = false;
                None
            }
            '\\' => {
                escaped = true;
                None
            }
            '"' => Some(value + i),
            _ => None,
        })?;
        // Past the closing quote and the comma.
        at += end + 1;
        if !labels[at..].starts_with(',') {
            return None;
        }
        at += 1;
    }
}

/// A family breakerbox adds lines to.
struct Family {
    name: &'static str,
    type_line: String,
    /// Written already (or nothing to write).
    written: bool,
}

impl Family {
    fn new(name: &'static str, kind: &str, lines: bool) -> Family {
        Family {
            name,
            type_line: format!("# TYPE {name} {kind}"),
            written: !lines,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_labels_are_read_from_the_exporters_state_lines() {
        let text = "# TYPE breakerbox_state gauge\n\
                    breakerbox_state{env=\"a,breaker=\\\"x\",region=\"eu\",breaker=\"db\",state=\"open\"} 1\n";
        assert_eq!(
            global_labels(text),
            "env=\"a,breaker=\\\"x\",region=\"eu\","
        );
        assert_eq!(
            global_labels("breakerbox_state{breaker=\"db\",state=\"open\"} 1"),
            ""
        );
        assert_eq!(global_labels(""), "");
    }

    #[test]
    fn the_breaker_label_is_read_with_its_escapes() {
        let line = "breakerbox_call_duration_seconds_sum{env=\"x\",breaker=\"a\\\"b\\\\\",outcome=\"success\"} 1";
        assert_eq!(breaker_label(line), Some("a\\\"b\\\\"));
        assert_eq!(
            breaker_label("x{other_breaker=\"a\",breaker=\"b\"} 1"),
            Some("b")
        );
        assert_eq!(
            breaker_label("x{env=\"a,breaker=\\\"c\",breaker=\"b\"} 1"),
            Some("b")
        );
        assert_eq!(breaker_label("x 1"), None);
    }

    #[test]
    fn own_lines_replace_the_exporters_under_one_type_line() {
        let mut own = Own::default();
        let mut b = Buckets {
            bounds: Bounds::default(),
            counts: [0; super::super::duration::MAX_DURATION_BOUNDS + 1],
            sum_nanos: 1_500_000,
        };
        b.counts[1] = 1;
        own.durations("a", [Some(b), None, None, None]);
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
