//! What a scrape may see: the one-hot state gauges are written and rendered under one
//! lock, so a render never sees a breaker with zero or two states at 1; and the series of
//! a breaker removed from its registry are left out of the render.
//!
//! The `metrics` facade cannot unregister a series, so a removed breaker's series stay in
//! the recorder; [`prometheus::render`](super::prometheus::render) and the listener of
//! [`prometheus::install`](super::prometheus::install) leave them out while no breaker
//! writes them again.
//!
//! # Whose series
//! A series is named by the recorder it lives in and the breaker's name: two breakers of
//! the same name built with one recorder (in two registries, say) write the same series.
//! So the breakers are counted by recorder and name: a series is left out when a breaker
//! of its recorder and name was removed from its registry and none of them is live now
//! (built, and neither removed nor dropped). Removing `twin` from one registry leaves the
//! `twin` of another registry in the render, whether the two share a recorder (its
//! series are the live one's) or not (they are other series). A render does not know its
//! recorder: it asks about the recorders its registry's breakers were built with
//! ([`Recorders`]) and the one in force on the rendering thread (the global recorder,
//! which the listener serves).
//!
//! # Memory
//! An entry exists per recorder and name with a live breaker, and per removed name not
//! built again: churn over a bounded set of names keeps it bounded (measured by the test
//! `add_remove_churn_leaves_the_maps_flat`). The recorder itself keeps every series it
//! ever held, one set per distinct name.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::lifetime::RecorderId;

/// Held while the six state gauges of a breaker (and its `since` gauge) are written, and
/// while a render reads them.
static PUBLISH: Mutex<()> = Mutex::new(());

/// The breakers of one recorder and name.
#[derive(Debug, Default)]
struct Entry {
    /// Built, and neither removed from a registry nor dropped.
    live: usize,
    /// One was removed from its registry since the last was built.
    removed: bool,
}

/// Breakers by recorder and name; see the module's docs.
static SERIES: Mutex<BTreeMap<(RecorderId, Arc<str>), Entry>> = Mutex::new(BTreeMap::new());

/// The lock that keeps writes of the state gauges and renders apart.
pub(crate) fn publishing() -> MutexGuard<'static, ()> {
    PUBLISH.lock().unwrap_or_else(PoisonError::into_inner)
}

fn series() -> MutexGuard<'static, BTreeMap<(RecorderId, Arc<str>), Entry>> {
    SERIES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A breaker named `name` was built with `recorder`: its series are live (again).
pub(crate) fn built(recorder: RecorderId, name: &Arc<str>) {
    let mut series = series();
    let e = series.entry((recorder, name.clone())).or_default();
    e.live += 1;
    e.removed = false;
}

/// A breaker named `name` built with `recorder` was removed from its registry: its series
/// leave the render unless another breaker writes them.
pub(crate) fn removed(recorder: RecorderId, name: &Arc<str>) {
    leave(recorder, name, true);
}

/// A breaker named `name` built with `recorder` and not removed was dropped.
pub(crate) fn dropped(recorder: RecorderId, name: &Arc<str>) {
    leave(recorder, name, false);
}

fn leave(recorder: RecorderId, name: &Arc<str>, removed: bool) {
    let mut series = series();
    let key = (recorder, name.clone());
    let Some(e) = series.get_mut(&key) else {
        return;
    };
    e.live = e.live.saturating_sub(1);
    e.removed |= removed;
    if e.live == 0 && !e.removed {
        series.remove(&key);
    }
}

/// The recorders the breakers of a registry were built with: the scope of its renders.
#[derive(Debug, Default)]
pub(crate) struct Recorders(Mutex<Vec<RecorderId>>);

impl Recorders {
    /// A breaker of the registry was built with `recorder`.
    pub(crate) fn add(&self, recorder: RecorderId) {
        let mut ids = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !ids.contains(&recorder) {
            ids.push(recorder);
        }
    }

    /// How many recorders (for the memory test).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// These recorders, and the one in force on the calling thread.
    #[cfg(feature = "prometheus")]
    pub(crate) fn with_current(&self) -> Vec<RecorderId> {
        let mut ids = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        ids.push(super::lifetime::recorder_id());
        ids
    }
}

/// The names whose series a render of `recorders` leaves out: removed from a registry
/// under one of them, and live under none.
#[cfg(any(test, feature = "prometheus"))]
fn hidden(recorders: &[RecorderId]) -> Vec<Arc<str>> {
    let series = series();
    let mut out: Vec<Arc<str>> = Vec::new();
    for ((recorder, name), e) in series.iter() {
        if e.removed && e.live == 0 && recorders.contains(recorder) {
            let live_elsewhere = recorders
                .iter()
                .any(|r| series.get(&(*r, name.clone())).is_some_and(|e| e.live > 0));
            if !live_elsewhere {
                out.push(name.clone());
            }
        }
    }
    out
}

/// Whether a line of the Prometheus text format is a breakerbox series a render of
/// `recorders` leaves out (see [`hidden`]). Read under the scrape lock.
#[cfg(feature = "prometheus")]
pub(crate) fn removed_series(recorders: &[RecorderId]) -> impl Fn(&str) -> bool {
    use metrics_exporter_prometheus::formatting::sanitize_label_value;
    use std::collections::HashSet;

    let labels: HashSet<String> = hidden(recorders)
        .iter()
        .map(|name| sanitize_label_value(name))
        .collect();
    move |line| {
        !labels.is_empty()
            && line.starts_with("breakerbox_")
            && super::exposition::breaker_label(line).is_some_and(|b| labels.contains(b))
    }
}

/// Entries of `recorder` and names starting with `prefix` (for the memory test: a
/// recorder's address may be an earlier one's).
#[cfg(test)]
pub(crate) fn entries_of(recorder: RecorderId, prefix: &str) -> usize {
    series()
        .keys()
        .filter(|(r, name)| *r == recorder && name.starts_with(prefix))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Registry};
    use metrics_util::debugging::DebuggingRecorder;

    #[test]
    fn a_removed_name_is_hidden_only_where_no_breaker_of_it_lives() {
        // Recorder ids no real recorder has (an id is an address).
        let (a, b) = (usize::MAX - 7, usize::MAX - 8);
        let name: Arc<str> = "scrape-unit-twin".into();
        built(a, &name);
        built(b, &name);
        removed(a, &name);
        assert_eq!(hidden(&[a]), std::slice::from_ref(&name));
        assert!(hidden(&[b]).is_empty(), "the other recorder's twin lives");
        assert!(
            hidden(&[a, b]).is_empty(),
            "a render of both shows the live one"
        );
        built(a, &name);
        assert!(hidden(&[a]).is_empty(), "built again");
        // Dropped without a removal: shown as before, and forgotten.
        dropped(a, &name);
        assert!(hidden(&[a]).is_empty());
        assert_eq!(entries_of(a, "scrape-unit-twin"), 0);
        removed(b, &name);
        assert_eq!(hidden(&[b]), std::slice::from_ref(&name));
    }

    /// 100,000 cycles of building and removing breakers (over 100 names, each built and
    /// removed 1,000 times) leave the maps kept per recorder and name exactly as large as
    /// after the first 1,000 cycles: one entry per name in each.
    #[test]
    fn add_remove_churn_leaves_the_maps_flat() {
        let rec = DebuggingRecorder::new();
        metrics::with_local_recorder(&rec, || {
            let id = super::super::lifetime::recorder_id();
            let registry = Registry::new();
            let cycle = |i: usize| {
                let name = format!("churn-{}", i % 100);
                registry.breaker(&name, Config::default()).unwrap();
                registry.remove(&name).unwrap();
            };
            (0..1_000).for_each(cycle);
            let sizes = || {
                (
                    entries_of(id, "churn-"),
                    super::super::lifetime::retired_of(id, "churn-"),
                    registry.recorders().len(),
                )
            };
            let early = sizes();
            assert_eq!(early, (100, 100, 1));
            (1_000..100_000).for_each(cycle);
            assert_eq!(sizes(), early);
        });
    }
}
