//! Permits: the right to make one call, recorded exactly once.

use std::fmt;

use super::CircuitBreaker;
use super::engine::Admission;
use crate::event::{Completion, Outcome};
use crate::state::State;

/// The methods both permit types share: what was admitted, and recording the outcome
/// exactly once (a drop without a record counts as ignored).
macro_rules! permit_methods {
    ($ty:ident $(<$lt:lifetime>)?) => {
        impl$(<$lt>)? $ty$(<$lt>)? {
            /// The state in which the call was admitted (`HalfOpen` for a trial call).
            pub fn state(&self) -> State {
                self.adm.state()
            }

            /// Whether this call is a half-open trial.
            pub fn is_trial(&self) -> bool {
                self.adm.trial()
            }

            /// The state epoch the call was admitted in. The epoch changes on every
            /// transition, so two permits with the same epoch belong to the same Closed or
            /// HalfOpen phase.
            pub fn epoch(&self) -> u64 {
                self.adm.epoch()
            }

            /// What the admission recorded (state, epoch, trial, start).
            #[allow(dead_code)] // used through `Permit` only
            pub(crate) fn admission(&self) -> Admission {
                self.adm
            }

            /// The clock reading at admission, in the breaker clock's nanoseconds.
            #[allow(dead_code)] // used through `Permit` only
            pub(crate) fn started(&self) -> u64 {
                self.adm.start
            }

            /// Records a success.
            #[inline]
            pub fn success(self) {
                self.record(Outcome::Success);
            }

            /// Records a failure.
            #[inline]
            pub fn failure(self) {
                self.record(Outcome::Failure);
            }

            /// Records an outcome that neither helps nor hurts (counted as `ignored`).
            #[inline]
            pub fn ignore(self) {
                self.record(Outcome::Ignore);
            }

            /// Records `outcome`.
            // Inlined into the caller, which hands the engine the admission in registers:
            // a permit passed by reference to an out-of-line recorder was copied with wide
            // loads from narrow stores, which stall on store forwarding.
            #[inline]
            pub fn record(mut self, outcome: Outcome) {
                self.done = true;
                self.breaker.inner.record(self.adm, outcome);
            }

            /// Records `outcome`; returns what the recording did. The call paths' own
            /// (`call_sync`, the async call's future), with the completion inlined.
            #[allow(dead_code)] // used through `Permit` only
            #[inline(always)]
            pub(crate) fn finish(mut self, outcome: Outcome) -> Completion {
                self.done = true;
                self.breaker.inner.complete(self.adm, outcome)
            }
        }

        impl$(<$lt>)? Drop for $ty$(<$lt>)? {
            #[inline(always)]
            fn drop(&mut self) {
                if !self.done {
                    self.breaker.inner.complete_dropped(self.adm);
                }
            }
        }

        impl$(<$lt>)? fmt::Debug for $ty$(<$lt>)? {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("breaker", &self.breaker.name())
                    .field("state", &self.adm.state())
                    .field("trial", &self.adm.trial())
                    .finish()
            }
        }
    };
}

/// Permission to make one call, from [`CircuitBreaker::try_acquire`]. Record how the call
/// went with [`success`](Permit::success), [`failure`](Permit::failure),
/// [`ignore`](Permit::ignore) or [`record`](Permit::record). A permit dropped without a
/// record counts as `ignored` and returns its half-open trial slot, so a cancelled call
/// never leaks a slot.
///
/// ```
/// use breakerbox::CircuitBreaker;
///
/// let breaker = CircuitBreaker::new("ledger");
/// let permit = breaker.try_acquire()?;
/// // ... make the call any way you like ...
/// permit.success();
/// # Ok::<(), breakerbox::BreakerOpen>(())
/// ```
#[must_use = "a permit counts as ignored unless its outcome is recorded"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    adm: Admission,
    done: bool,
}

impl<'a> Permit<'a> {
    pub(crate) fn new(breaker: &'a CircuitBreaker, adm: Admission) -> Self {
        Permit {
            breaker,
            adm,
            done: false,
        }
    }
}

permit_methods!(Permit<'a>);

/// A [`Permit`] that owns a handle to its breaker, for futures and services that must be
/// `'static`. From [`CircuitBreaker::try_acquire_owned`]; same rules as `Permit`.
#[must_use = "a permit counts as ignored unless its outcome is recorded"]
pub struct OwnedPermit {
    breaker: CircuitBreaker,
    adm: Admission,
    done: bool,
}

impl OwnedPermit {
    pub(crate) fn new(breaker: CircuitBreaker, adm: Admission) -> Self {
        OwnedPermit {
            breaker,
            adm,
            done: false,
        }
    }

    /// The breaker this permit belongs to.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }
}

permit_methods!(OwnedPermit);
