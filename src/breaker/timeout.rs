//! Call timeouts: recording an overlong call that could not be cancelled, and the error
//! of a cancelled one (the async call's future, `call.rs`, cancels a call that runs past
//! `call_timeout` with feature `rt-tokio`).

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use super::engine::{Admission, Inner, nanos};
use crate::error::Name;
use crate::event::Outcome;

/// The outcome to record for a call that completed: `Timeout` if it ran strictly longer
/// than `limit` by the breaker's clock (the reading that timed it: see
/// [`Inner::end_of`]), whatever its result, else the classifier's.
#[inline(always)]
pub(super) fn after_the_fact(
    inner: &Inner,
    adm: &Admission,
    limit: Option<Duration>,
    outcome: Outcome,
) -> Outcome {
    match limit {
        Some(limit) if inner.end_of(adm).saturating_sub(adm.start) > nanos(limit) => {
            Outcome::Timeout
        }
        _ => outcome,
    }
}

#[cfg(feature = "rt-tokio")]
pub(super) fn timed_out<E>(inner: &Inner, after: Duration) -> crate::error::CallError<E> {
    crate::error::CallError::Timeout(CallTimeout {
        name: Name::new(&inner.name),
        after,
    })
}

/// A call cancelled because it ran longer than the breaker's
/// [`call_timeout`](crate::Config::call_timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTimeout {
    pub(crate) name: Name,
    pub(crate) after: Duration,
}

impl CallTimeout {
    /// The name of the breaker whose timeout cancelled the call.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The timeout that elapsed.
    pub fn after(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for CallTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "call through circuit breaker `{}` timed out after {}ms",
            self.name(),
            self.after.as_millis()
        )
    }
}

impl StdError for CallTimeout {}
