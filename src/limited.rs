//! A call refused by a concurrency limit (bulkhead) or a rate limit: not a dependency
//! failure, and never recorded by a circuit breaker.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use crate::name::Name;

/// Why a limit refused a call: the `reason` label of `breakerbox_limit_rejections_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitReason {
    /// Every slot of the bulkhead was taken.
    BulkheadFull,
    /// The rate limit had no capacity left.
    RateLimited,
}

impl LimitReason {
    /// Every reason, in label order.
    pub const ALL: [LimitReason; 2] = [LimitReason::BulkheadFull, LimitReason::RateLimited];

    /// The label value: `bulkhead_full` or `rate_limited`.
    pub const fn as_str(self) -> &'static str {
        match self {
            LimitReason::BulkheadFull => "bulkhead_full",
            LimitReason::RateLimited => "rate_limited",
        }
    }
}

impl fmt::Display for LimitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A call refused by a bulkhead or a rate limit; it did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub(crate) name: Name,
    pub(crate) reason: LimitReason,
    pub(crate) retry_after: Option<Duration>,
}

impl Limited {
    /// The name of the limit (by convention, the name of the breaker it guards).
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// Why the call was refused.
    pub fn reason(&self) -> LimitReason {
        self.reason
    }

    /// When the rate limit will admit a call (`None` for a bulkhead: a slot frees when a
    /// call finishes). Suitable for an HTTP `Retry-After` header.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for Limited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            LimitReason::BulkheadFull => write!(f, "bulkhead `{}` is full", self.name())?,
            LimitReason::RateLimited => write!(f, "rate limit `{}` exceeded", self.name())?,
        }
        if let Some(after) = self.retry_after {
            write!(f, "; retry after {}ms", after.as_millis())?;
        }
        Ok(())
    }
}

impl StdError for Limited {}
