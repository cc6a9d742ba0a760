//! What a service author reaches for: call timeouts, error composition and fallbacks,
//! against injected time and against a real Redis that hangs (SIGSTOP) and resumes.
#![cfg(feature = "test-util")]

mod errors;
mod fallbacks;
#[cfg(feature = "limit")]
mod limits;
#[cfg(feature = "rt-tokio")]
mod redis_hang;
mod test_util;
mod timeouts;

use std::cell::RefCell;
use std::collections::HashMap;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};

thread_local! {
    /// Every counter seen so far: the debugging recorder hands out increments since the
    /// last snapshot, so the totals are summed here.
    static TOTALS: RefCell<HashMap<(usize, String), u64>> = RefCell::new(HashMap::new());
}

/// The total of the counter `name` whose labels include all of `labels`, summed over the
/// matching series; `None` if no such series was ever registered.
pub fn counter(rec: &DebuggingRecorder, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    let id = rec as *const DebuggingRecorder as usize;
    TOTALS.with(|totals| {
        let mut totals = totals.borrow_mut();
        for (key, _, _, value) in rec.snapshotter().snapshot().into_vec() {
            if let DebugValue::Counter(n) = value {
                let key = key.key();
                let mut flat = key.name().to_owned();
                for l in key.labels() {
                    flat.push_str(&format!("|{}={}", l.key(), l.value()));
                }
                *totals.entry((id, flat)).or_insert(0) += n;
            }
        }
        let mut found = None;
        for ((rid, flat), n) in totals.iter() {
            let mut parts = flat.split('|');
            let matches = *rid == id
                && parts.next() == Some(name)
                && labels
                    .iter()
                    .all(|(k, v)| flat.split('|').any(|p| p == format!("{k}={v}")));
            if matches {
                *found.get_or_insert(0) += n;
            }
        }
        found
    })
}
