//! What a scrape may see: the one-hot state gauges are written and rendered under one
//! lock, so a render never sees a breaker with zero or two states at 1; and the series of
//! a breaker removed from its registry are left out of the render.
//!
//! The `metrics` facade cannot unregister a series, so a removed breaker's series stay in
//! the recorder; [`prometheus::render`](super::prometheus::render) and the listener of
//! [`prometheus::install`](super::prometheus::install) leave them out until a breaker of
//! the same name is built again.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Held while the six state gauges of a breaker (and its `since` gauge) are written, and
/// while a render reads them.
static PUBLISH: Mutex<()> = Mutex::new(());

/// Names of breakers removed from their registry and not built again since.
static REMOVED: Mutex<BTreeSet<Arc<str>>> = Mutex::new(BTreeSet::new());

/// The lock that keeps writes of the state gauges and renders apart.
pub(crate) fn publishing() -> MutexGuard<'static, ()> {
    PUBLISH.lock().unwrap_or_else(PoisonError::into_inner)
}

fn removed() -> MutexGuard<'static, BTreeSet<Arc<str>>> {
    REMOVED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A breaker named `name` was removed from its registry: hide its series from renders.
pub(crate) fn hide(name: &Arc<str>) {
    removed().insert(name.clone());
}

/// A breaker named `name` was built: its series are live again.
pub(crate) fn show(name: &str) {
    let mut removed = removed();
    if !removed.is_empty() {
        removed.remove(name);
    }
}

/// Whether a line of the Prometheus text format is a breakerbox series of a removed
/// breaker, which a render leaves out.
#[cfg(feature = "prometheus")]
pub(crate) fn removed_series() -> impl Fn(&str) -> bool {
    use metrics_exporter_prometheus::formatting::sanitize_label_value;

    let needles: Vec<String> = removed()
        .iter()
        .map(|name| {
            format!(
                "{}=\"{}\"",
                super::names::LABEL_BREAKER,
                sanitize_label_value(name)
            )
        })
        .collect();
    move |line| {
        !needles.is_empty()
            && line.starts_with("breakerbox_")
            && needles.iter().any(|needle| has_label(line, needle))
    }
}

/// Whether the sample `line` carries the label pair `needle` (`name="escaped value"`).
#[cfg(feature = "prometheus")]
fn has_label(line: &str, needle: &str) -> bool {
    let Some(open) = line.find('{') else {
        return false;
    };
    let labels = &line[open..];
    labels.match_indices(needle).any(|(at, _)| {
        let before = labels[..at].chars().next_back();
        let after = labels[at + needle.len()..].chars().next();
        matches!(before, Some('{' | ',')) && matches!(after, Some(',' | '}'))
    })
}

#[cfg(all(test, feature = "prometheus"))]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_breaker_label_matches() {
        let needle = "breaker=\"x\"";
        assert!(has_label(
            "breakerbox_state{breaker=\"x\",state=\"open\"} 1",
            needle
        ));
        assert!(has_label(
            "breakerbox_calls_total{outcome=\"a\",breaker=\"x\"} 1",
            needle
        ));
        assert!(!has_label(
            "breakerbox_state{breaker=\"xy\",state=\"open\"} 1",
            needle
        ));
        assert!(!has_label(
            "breakerbox_state{other_breaker=\"x\"} 1",
            needle
        ));
        assert!(!has_label("breakerbox_state 1", needle));
    }
}
