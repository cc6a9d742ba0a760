//! What a `metrics-util` `DebuggingRecorder` recorded, by series.

use std::collections::BTreeMap;

use metrics_util::debugging::{DebugValue, Snapshotter};

/// Every series of the metric `name` in a snapshot taken now: its labels (name to value)
/// and its value.
pub fn series(
    snapshotter: &Snapshotter,
    name: &str,
) -> Vec<(BTreeMap<String, String>, DebugValue)> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == name)
        .map(|(key, _, _, value)| {
            let labels = key
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (labels, value)
        })
        .collect()
}
