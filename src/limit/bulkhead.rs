//! A bulkhead: at most `max_concurrent` calls in flight, the next one refused at once.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use super::observe::LimitObserver;
use crate::error::{BuildError, CallError, ConfigError, Name};
use crate::limited::{LimitReason, Limited};
use crate::name::NameError;

/// A concurrency limit: at most `max_concurrent` calls run at once; the next is refused at
/// once with [`LimitReason::BulkheadFull`] (no queue: a caller that waits for a slow
/// dependency holds what the bulkhead protects). A cheap `Clone`: clones share the slots.
#[derive(Clone)]
pub struct Bulkhead {
    inner: Arc<Inner>,
}

struct Inner {
    slots: Arc<Semaphore>,
    max: u32,
    observer: LimitObserver,
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("name", self.inner.observer.name())
            .field("max_concurrent", &self.inner.max)
            .field("in_use", &self.in_use())
            .finish()
    }
}

impl Bulkhead {
    /// A bulkhead named `name` (by convention, the name of the breaker it guards) admitting
    /// `max_concurrent` calls at once. Its metrics are registered now.
    ///
    /// # Errors
    /// [`BuildError::Config`] with [`ConfigError::Zero`] for 0 or [`ConfigError::TooLarge`]
    /// above the largest semaphore; [`BuildError::Name`] for an empty name or one over
    /// [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes.
    pub fn new(name: impl Into<Arc<str>>, max_concurrent: u32) -> Result<Bulkhead, BuildError> {
        let name = name.into();
        NameError::check(&name)?;
        if max_concurrent == 0 {
            return Err(BuildError::Config(ConfigError::Zero {
                field: "max_concurrent",
            }));
        }
        let max_permits = u64::try_from(Semaphore::MAX_PERMITS).unwrap_or(u64::MAX);
        if u64::from(max_concurrent) > max_permits {
            return Err(BuildError::Config(ConfigError::TooLarge {
                field: "max_concurrent",
                value: max_concurrent.into(),
                max: max_permits,
            }));
        }
        Ok(Bulkhead {
            inner: Arc::new(Inner {
                slots: Arc::new(Semaphore::new(max_concurrent as usize)),
                max: max_concurrent,
                observer: LimitObserver::new(&name, Some(max_concurrent), None),
            }),
        })
    }

    /// The bulkhead's name.
    pub fn name(&self) -> &str {
        self.inner.observer.name()
    }

    /// The calls it admits at once.
    pub fn max_concurrent(&self) -> u32 {
        self.inner.max
    }

    /// The calls in flight now.
    pub fn in_use(&self) -> u32 {
        let free = u32::try_from(self.inner.slots.available_permits()).unwrap_or(u32::MAX);
        self.inner.max.saturating_sub(free)
    }

    /// Takes a slot, held until the permit is dropped.
    ///
    /// # Errors
    /// [`Limited`] with [`LimitReason::BulkheadFull`] when every slot is taken.
    pub fn try_acquire(&self) -> Result<BulkheadPermit, Limited> {
        match self.inner.slots.clone().try_acquire_owned() {
            Ok(permit) => {
                self.inner.observer.in_use(self.in_use());
                Ok(BulkheadPermit {
                    permit: Some(permit),
                    bulkhead: self.clone(),
                })
            }
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => {
                self.inner.observer.rejected(LimitReason::BulkheadFull);
                Err(Limited {
                    name: Name::new(self.inner.observer.name()),
                    reason: LimitReason::BulkheadFull,
                    retry_after: None,
                })
            }
        }
    }

    /// Runs `fut` (typically a breaker's `call`) in a slot; the slot is freed when it
    /// completes or is dropped. A full bulkhead refuses at once and `fut` is never polled,
    /// so the breaker inside does not see the refusal.
    ///
    /// # Errors
    /// [`CallError::Limited`] when full, else `fut`'s own result.
    pub async fn call<T, E, F>(&self, fut: F) -> Result<T, CallError<E>>
    where
        F: Future<Output = Result<T, CallError<E>>>,
    {
        let _slot = self.try_acquire()?;
        fut.await
    }
}

/// A slot of a [`Bulkhead`], freed when dropped.
#[must_use = "the slot is freed when the permit is dropped"]
pub struct BulkheadPermit {
    permit: Option<OwnedSemaphorePermit>,
    bulkhead: Bulkhead,
}

impl fmt::Debug for BulkheadPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit")
            .field("bulkhead", &self.bulkhead.name())
            .finish()
    }
}

impl Drop for BulkheadPermit {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.bulkhead.inner.observer.in_use(self.bulkhead.in_use());
    }
}
