//! Error types: invalid configuration, a rejected call, and the error of a protected call.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

pub use crate::breaker::CallTimeout;
use crate::limited::Limited;
pub(crate) use crate::name::Name;
use crate::name::NameError;
use crate::state::State;

/// An invalid configuration. Each variant names the offending field; nothing in breakerbox
/// panics on user input.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A count that must be at least 1 was 0.
    Zero {
        /// The field, e.g. `"failure_threshold"`.
        field: &'static str,
    },
    /// A duration that must be positive was zero.
    ZeroDuration {
        /// The field, e.g. `"reset_timeout"`.
        field: &'static str,
    },
    /// A rate outside `(0, 1]`, or NaN.
    RateOutOfRange {
        /// The field, e.g. `"failure_rate_threshold"`.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// A count above the largest supported value.
    TooLarge {
        /// The field, e.g. `"half_open_max_calls"`.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The largest accepted value.
        max: u64,
    },
    /// A factor or fraction outside its range (backoff factor below 1, jitter outside `[0, 1)`).
    OutOfRange {
        /// The field, e.g. `"backoff_factor"`.
        field: &'static str,
        /// The value given.
        value: f64,
        /// The accepted range, in words.
        expected: &'static str,
    },
    /// Two fields contradict each other.
    Conflict {
        /// The field that was rejected.
        field: &'static str,
        /// The field it contradicts.
        other: &'static str,
        /// Why, in a few words.
        reason: &'static str,
    },
}

impl ConfigError {
    /// The name of the field this error is about.
    pub fn field(&self) -> &'static str {
        match self {
            ConfigError::Zero { field }
            | ConfigError::ZeroDuration { field }
            | ConfigError::RateOutOfRange { field, .. }
            | ConfigError::TooLarge { field, .. }
            | ConfigError::OutOfRange { field, .. }
            | ConfigError::Conflict { field, .. } => field,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Zero { field } => write!(f, "`{field}` must be at least 1"),
            ConfigError::ZeroDuration { field } => write!(f, "`{field}` must be longer than zero"),
            ConfigError::RateOutOfRange { field, value } => {
                write!(f, "`{field}` must be in (0, 1], got {value}")
            }
            ConfigError::TooLarge { field, value, max } => {
                write!(f, "`{field}` must be at most {max}, got {value}")
            }
            ConfigError::OutOfRange {
                field,
                value,
                expected,
            } => write!(f, "`{field}` must be {expected}, got {value}"),
            ConfigError::Conflict {
                field,
                other,
                reason,
            } => write!(f, "`{field}` contradicts `{other}`: {reason}"),
        }
    }
}

impl StdError for ConfigError {}

/// A call refused because the breaker does not admit calls right now.
///
/// Carries the breaker's name, the state that refused the call and how long until the
/// breaker will admit a probe. Building one allocates nothing and, for short names (up to
/// 46 bytes), touches no shared reference count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerOpen {
    pub(crate) name: Name,
    pub(crate) state: State,
    pub(crate) retry_after: Option<Duration>,
}

impl BreakerOpen {
    /// The name of the breaker that refused the call.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The state that refused the call: `Open`, `HalfOpen` (all trial slots busy) or
    /// `ForcedOpen`.
    pub fn state(&self) -> State {
        self.state
    }

    /// How long until the breaker admits a trial call: the remaining open time, or `None`
    /// when that is not known (forced open without a TTL, or half-open with all trial slots
    /// taken). Suitable for an HTTP `Retry-After` header.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for BreakerOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit breaker `{}` is {}", self.name(), self.state)?;
        if let Some(after) = self.retry_after {
            write!(f, "; retry after {}ms", after.as_millis())?;
        }
        Ok(())
    }
}

impl StdError for BreakerOpen {}

/// The error of a call made through a breaker: the breaker refused it, the call timed out,
/// or the call ran and returned its own error.
///
/// `Display` is the display of the variant's error, and [`source`](StdError::source) is
/// *that error's* source, never the error itself: an error reporter that prints the chain
/// prints each message once.
///
/// # Composing with an application error
/// Map it once into your own error type and `?` works across every client:
///
/// ```
/// use breakerbox::{CallError, CircuitBreaker};
///
/// #[derive(Debug)]
/// enum AppError {
///     /// A dependency is unavailable: answer 503 with `Retry-After`.
///     Unavailable { dependency: String },
///     Db(String),
///     Cache(std::io::Error),
/// }
///
/// impl From<CallError<String>> for AppError {
///     fn from(e: CallError<String>) -> Self {
///         match e {
///             CallError::Inner(e) => AppError::Db(e),
///             other => AppError::Unavailable { dependency: other.breaker().unwrap_or("db").into() },
///         }
///     }
/// }
///
/// impl From<CallError<std::io::Error>> for AppError {
///     fn from(e: CallError<std::io::Error>) -> Self {
///         match e {
///             CallError::Inner(e) => AppError::Cache(e),
///             other => AppError::Unavailable { dependency: other.breaker().unwrap_or("cache").into() },
///         }
///     }
/// }
///
/// async fn handler(db: &CircuitBreaker, cache: &CircuitBreaker) -> Result<u32, AppError> {
///     let cached: Option<u32> = cache.call(async { Ok::<_, std::io::Error>(None) }).await?;
///     let row = db.call(async { Ok::<_, String>(7) }).await?;
///     Ok(cached.unwrap_or(row))
/// }
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # let (db, cache) = (CircuitBreaker::new("db"), CircuitBreaker::new("cache"));
/// # assert_eq!(rt.block_on(handler(&db, &cache)).unwrap(), 7);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError<E> {
    /// The breaker refused the call; it did not run.
    Rejected(BreakerOpen),
    /// The call ran longer than the breaker's `call_timeout` and was cancelled.
    Timeout(CallTimeout),
    /// A bulkhead or a rate limit refused the call; it did not run (feature `limit`).
    Limited(Limited),
    /// The call ran and failed with this error.
    Inner(E),
}

impl<E> CallError<E> {
    /// The call's own error, or `None` if the breaker rejected the call or it timed out.
    pub fn into_inner(self) -> Option<E> {
        match self {
            CallError::Inner(e) => Some(e),
            CallError::Rejected(_) | CallError::Timeout(_) | CallError::Limited(_) => None,
        }
    }

    /// Maps the call's own error, keeping a rejection or a timeout as it is.
    ///
    /// ```
    /// use breakerbox::CallError;
    /// let e: CallError<&str> = CallError::Inner("refused");
    /// assert_eq!(e.map_inner(str::len), CallError::Inner(7));
    /// ```
    pub fn map_inner<F, O>(self, f: O) -> CallError<F>
    where
        O: FnOnce(E) -> F,
    {
        match self {
            CallError::Inner(e) => CallError::Inner(f(e)),
            CallError::Rejected(r) => CallError::Rejected(r),
            CallError::Timeout(t) => CallError::Timeout(t),
            CallError::Limited(l) => CallError::Limited(l),
        }
    }

    /// Whether the breaker refused the call.
    pub fn is_rejected(&self) -> bool {
        matches!(self, CallError::Rejected(_))
    }

    /// Whether the call was cancelled by the breaker's `call_timeout`.
    pub fn is_timeout(&self) -> bool {
        matches!(self, CallError::Timeout(_))
    }

    /// The rejection, if the breaker refused the call.
    pub fn rejection(&self) -> Option<&BreakerOpen> {
        match self {
            CallError::Rejected(r) => Some(r),
            _ => None,
        }
    }

    /// The timeout, if the call timed out.
    pub fn timeout(&self) -> Option<&CallTimeout> {
        match self {
            CallError::Timeout(t) => Some(t),
            _ => None,
        }
    }

    /// The name of the breaker (or limit) that rejected, limited or timed out the call;
    /// `None` for the call's own error (which does not know the breaker).
    pub fn breaker(&self) -> Option<&str> {
        match self {
            CallError::Rejected(r) => Some(r.name()),
            CallError::Timeout(t) => Some(t.name()),
            CallError::Limited(l) => Some(l.name()),
            CallError::Inner(_) => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(r) => r.fmt(f),
            CallError::Timeout(t) => t.fmt(f),
            CallError::Limited(l) => l.fmt(f),
            CallError::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: StdError + 'static> StdError for CallError<E> {
    /// The source of the displayed error: `Display` already shows the variant's error, so
    /// it is not its own source (reporters would print it twice).
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            CallError::Rejected(_) | CallError::Timeout(_) | CallError::Limited(_) => None,
            CallError::Inner(e) => e.source(),
        }
    }
}

impl<E> From<BreakerOpen> for CallError<E> {
    fn from(r: BreakerOpen) -> Self {
        CallError::Rejected(r)
    }
}

impl<E> From<Limited> for CallError<E> {
    fn from(l: Limited) -> Self {
        CallError::Limited(l)
    }
}

impl<E> From<CallTimeout> for CallError<E> {
    fn from(t: CallTimeout) -> Self {
        CallError::Timeout(t)
    }
}

/// An error from a [`Registry`](crate::Registry).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RegistryError {
    /// A breaker with this name exists with a different config; the registry does not
    /// silently replace it. Use [`CircuitBreaker::set_config`](crate::CircuitBreaker::set_config)
    /// to change a live breaker's config.
    ConfigMismatch {
        /// The breaker's name.
        name: String,
    },
    /// The config was invalid.
    Config(ConfigError),
    /// The name was empty, longer than [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes or held
    /// a backslash ([`NameError`]).
    Name(NameError),
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::ConfigMismatch { name } => {
                write!(f, "breaker `{name}` already exists with a different config")
            }
            RegistryError::Config(e) => write!(f, "invalid breaker config: {e}"),
            RegistryError::Name(e) => write!(f, "invalid breaker name: {e}"),
        }
    }
}

impl StdError for RegistryError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            RegistryError::Config(e) => Some(e),
            RegistryError::Name(e) => Some(e),
            RegistryError::ConfigMismatch { .. } => None,
        }
    }
}

impl From<ConfigError> for RegistryError {
    fn from(e: ConfigError) -> Self {
        RegistryError::Config(e)
    }
}

impl From<NameError> for RegistryError {
    fn from(e: NameError) -> Self {
        RegistryError::Name(e)
    }
}

impl From<BuildError> for RegistryError {
    fn from(e: BuildError) -> Self {
        match e {
            BuildError::Name(e) => RegistryError::Name(e),
            BuildError::Config(e) => RegistryError::Config(e),
        }
    }
}

/// An error from building a breaker ([`CircuitBreakerBuilder::build`](crate::CircuitBreakerBuilder::build))
/// or a limit (`limit::Bulkhead::new`, `limit::RateLimit::per_second`): an invalid name or
/// an invalid setting.
///
/// `?` converts a [`ConfigError`] or a [`NameError`] into it, so one function can build a
/// config and a breaker:
///
/// ```
/// use breakerbox::{BuildError, CircuitBreaker, Config};
///
/// fn ledger() -> Result<CircuitBreaker, BuildError> {
///     let config = Config::builder().failure_threshold(3).build()?;
///     CircuitBreaker::builder("ledger").config(config).build()
/// }
/// assert_eq!(ledger().unwrap().name(), "ledger");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BuildError {
    /// The name was empty, longer than [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes or held
    /// a backslash ([`NameError`]).
    Name(NameError),
    /// A setting was invalid; the error names the field.
    Config(ConfigError),
}

impl BuildError {
    /// The field this error is about: `"name"` for an invalid name, else the config
    /// field ([`ConfigError::field`]).
    pub fn field(&self) -> &'static str {
        match self {
            BuildError::Name(_) => "name",
            BuildError::Config(e) => e.field(),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Name(e) => e.fmt(f),
            BuildError::Config(e) => e.fmt(f),
        }
    }
}

impl StdError for BuildError {
    /// `Display` already shows the variant's error, so it is not the source (reporters
    /// would print it twice); neither variant has a source of its own.
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        None
    }
}

impl From<NameError> for BuildError {
    fn from(e: NameError) -> Self {
        BuildError::Name(e)
    }
}

impl From<ConfigError> for BuildError {
    fn from(e: ConfigError) -> Self {
        BuildError::Config(e)
    }
}
