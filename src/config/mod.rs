//! Breaker configuration: [`Config`], its [`ConfigBuilder`], validation and presets.

use std::time::Duration;

use crate::error::ConfigError;

mod presets;
#[cfg(feature = "serde")]
mod serde_map;
mod window;

pub use window::WindowKind;
use window::default_buckets;

/// The largest `success_threshold` and `half_open_max_calls` (they live in 16 bits of the
/// state word).
pub const MAX_HALF_OPEN_COUNT: u32 = u16::MAX as u32;
/// The most buckets a sliding window may have.
pub const MAX_WINDOW_BUCKETS: u32 = 64;

/// A validated breaker configuration. Build one with [`Config::builder`], start from a
/// preset ([`Config::database`], [`Config::cache`], [`Config::rpc`],
/// [`Config::external_api`], [`Config::edge`]) or take the [`Default`].
///
/// With the `serde` feature a `Config` (de)serializes as a flat map whose durations are
/// human-readable (`"30s"`, `"500ms"`); deserializing validates.
///
/// ```
/// use breakerbox::Config;
/// use std::time::Duration;
///
/// let cfg = Config::builder()
///     .failure_threshold(3)
///     .reset_timeout(Duration::from_secs(10))
///     .build()?;
/// assert_eq!(cfg.failure_threshold(), 3);
/// assert_eq!(cfg.success_threshold(), 3); // the default
/// # Ok::<(), breakerbox::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(try_from = "ConfigBuilder", into = "ConfigBuilder")
)]
pub struct Config {
    b: ConfigBuilder,
}

/// Builder for [`Config`]; every setter takes and returns `self`, and
/// [`build`](ConfigBuilder::build) checks every rule.
///
/// With the `serde` feature it (de)serializes as a map, like [`Config`], and refuses any
/// other shape (a sequence would set fields by position).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(remote = "Self", default, deny_unknown_fields)
)]
pub struct ConfigBuilder {
    failure_threshold: u32,
    success_threshold: u32,
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    reset_timeout: Duration,
    half_open_max_calls: u32,
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    failure_window: Option<Duration>,
    window_size: Option<u32>,
    /// `None`: chosen from the window (see [`WindowKind`]).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    window_buckets: Option<u32>,
    min_calls: u32,
    failure_rate_threshold: f64,
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    slow_call_duration: Duration,
    slow_call_rate_threshold: f64,
    backoff_factor: f64,
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    max_reset_timeout: Option<Duration>,
    reset_jitter: f64,
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    half_open_timeout: Duration,
    #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
    call_timeout: Option<Duration>,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        ConfigBuilder {
            failure_threshold: 5,
            success_threshold: 3,
            reset_timeout: Duration::from_secs(30),
            half_open_max_calls: 3,
            failure_window: None,
            window_size: None,
            window_buckets: None,
            min_calls: 10,
            failure_rate_threshold: 0.5,
            slow_call_duration: Duration::from_secs(5),
            slow_call_rate_threshold: 0.5,
            backoff_factor: 1.0,
            max_reset_timeout: None,
            reset_jitter: 0.0,
            half_open_timeout: Duration::from_secs(60),
            call_timeout: None,
        }
    }
}

const DEFAULT_FAILURE_WINDOW: Duration = Duration::from_secs(60);

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = value;
            self
        }
    };
}

impl ConfigBuilder {
    setter!(
        /// Consecutive failures in Closed that trip the breaker (default 5).
        failure_threshold: u32
    );
    setter!(
        /// Successful trials in HalfOpen that close the breaker (default 3).
        success_threshold: u32
    );
    setter!(
        /// How long the breaker stays Open before admitting trials (default 30 s).
        reset_timeout: Duration
    );
    setter!(
        /// Trial calls admitted at once in HalfOpen (default 3).
        half_open_max_calls: u32
    );
    setter!(
        /// Calls the window must hold before rates can trip the breaker (default 10).
        min_calls: u32
    );
    setter!(
        /// Failure rate over the window that trips the breaker, in `(0, 1]`; a rate equal
        /// to it trips (default 0.5).
        failure_rate_threshold: f64
    );
    setter!(
        /// A call running strictly longer than this is slow (default 5 s).
        slow_call_duration: Duration
    );
    setter!(
        /// Slow-call rate over the window that trips the breaker, in `(0, 1]` (default 0.5).
        slow_call_rate_threshold: f64
    );
    setter!(
        /// Multiplier of the reset timeout for each consecutive trip without recovery
        /// (default 1.0: no backoff). Must be at least 1.
        backoff_factor: f64
    );
    setter!(
        /// Random spread of each reset timeout, as a fraction in `[0, 1)` (default 0): with
        /// 0.1 a 30 s timeout becomes 27 to 33 s, so replicas do not probe in lockstep.
        reset_jitter: f64
    );
    setter!(
        /// The longest a HalfOpen breaker with all trial slots busy waits for a trial to
        /// finish before it reopens (default 60 s), so hung trials cannot leave it stuck.
        /// Applied by the next call, or without calls by
        /// [`poll_timeouts`](crate::CircuitBreaker::poll_timeouts) and the eager timer.
        half_open_timeout: Duration
    );

    /// A time-based sliding window over the calls of the last `window` (the default, 60 s).
    #[must_use]
    pub fn failure_window(mut self, window: Duration) -> Self {
        self.failure_window = Some(window);
        self
    }

    /// A count-based sliding window over the last `size` calls.
    #[must_use]
    pub fn window_size(mut self, size: u32) -> Self {
        self.window_size = Some(size);
        self
    }

    /// Buckets of the sliding window, at most 64: the window slides in steps of
    /// `window / buckets`. When not set, chosen from the window: one call per bucket for a
    /// count window of up to 64 calls (exact), 10 for a time window (see [`WindowKind`]
    /// for how exact each window is).
    #[must_use]
    pub fn window_buckets(mut self, buckets: u32) -> Self {
        self.window_buckets = Some(buckets);
        self
    }

    /// The cap of the reset timeout when it grows by `backoff_factor` (default: ten times
    /// `reset_timeout`).
    #[must_use]
    pub fn max_reset_timeout(mut self, max: Duration) -> Self {
        self.max_reset_timeout = Some(max);
        self
    }

    /// The longest a call may run (default: none). An async call (`call`, `call_with`)
    /// still running at this limit is cancelled (its future dropped), counted as a failure
    /// with the outcome `timeout`, slow by definition, and returns
    /// [`CallError::Timeout`](crate::CallError::Timeout). Cancelling needs a timer: with
    /// the feature `rt-tokio` the future runs under `tokio::time::timeout`; without it, and
    /// always for a blocking call (`call_sync`), which nothing can cancel, a call that ran
    /// past the limit is recorded as a `timeout` when it returns and its result is handed
    /// back unchanged. Must be positive.
    ///
    /// # With a client library's own timeout
    /// Whichever timeout fires first decides how a hung call is counted. When the client's
    /// is shorter, the call returns the client's error before `call_timeout`: it counts as
    /// a `failure` (not a `timeout`, and not slow unless it ran past
    /// `slow_call_duration`), so `breakerbox_calls_total{outcome="timeout"}` and the
    /// `BreakerboxCallTimeouts` alert stay at zero while the dependency hangs. The usual
    /// case: the `redis` crate (1.x) gives up on a response after 500 ms and on a connect
    /// after 1 s by default, both at or under [`Config::cache`]'s 1 s `call_timeout`. To
    /// have hangs counted as timeouts, give the client a longer limit than the breaker's
    /// (`redis::aio::ConnectionManagerConfig::new().set_response_timeout(Some(2s))` with
    /// `cache()`'s 1 s), or the breaker a shorter one than the client's (`call_timeout`
    /// 400 ms): the breaker's timeout then fires first and the client's stays a backstop.
    /// Either way both still fail the call: only the outcome label differs.
    ///
    /// ```
    /// use std::time::Duration;
    /// use breakerbox::Config;
    ///
    /// // The redis client answers "timed out" after 500 ms: cancel before it does.
    /// let cache = Config::cache()
    ///     .into_builder()
    ///     .call_timeout(Duration::from_millis(400))
    ///     .build()?;
    /// assert_eq!(cache.call_timeout(), Some(Duration::from_millis(400)));
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    #[must_use]
    pub fn call_timeout(mut self, limit: Duration) -> Self {
        self.call_timeout = Some(limit);
        self
    }

    /// Removes the call timeout (a preset's included).
    #[must_use]
    pub fn no_call_timeout(mut self) -> Self {
        self.call_timeout = None;
        self
    }

    /// Checks every rule and returns the config.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first field that breaks a rule: a zero count or
    /// duration, a rate outside `(0, 1]`, a count too large, or contradictory fields.
    pub fn build(self) -> Result<Config, ConfigError> {
        self.validate()?;
        Ok(Config { b: self })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        nonzero("failure_threshold", self.failure_threshold)?;
        nonzero("success_threshold", self.success_threshold)?;
        nonzero("half_open_max_calls", self.half_open_max_calls)?;
        nonzero("min_calls", self.min_calls)?;
        at_most(
            "success_threshold",
            self.success_threshold,
            MAX_HALF_OPEN_COUNT,
        )?;
        at_most(
            "half_open_max_calls",
            self.half_open_max_calls,
            MAX_HALF_OPEN_COUNT,
        )?;
        if let Some(buckets) = self.window_buckets {
            nonzero("window_buckets", buckets)?;
            at_most("window_buckets", buckets, MAX_WINDOW_BUCKETS)?;
        }
        let buckets = self.buckets();
        positive("reset_timeout", self.reset_timeout)?;
        positive("slow_call_duration", self.slow_call_duration)?;
        positive("half_open_timeout", self.half_open_timeout)?;
        if let Some(limit) = self.call_timeout {
            positive("call_timeout", limit)?;
        }
        rate("failure_rate_threshold", self.failure_rate_threshold)?;
        rate("slow_call_rate_threshold", self.slow_call_rate_threshold)?;
        if !(self.backoff_factor >= 1.0 && self.backoff_factor.is_finite()) {
            return Err(ConfigError::OutOfRange {
                field: "backoff_factor",
                value: self.backoff_factor,
                expected: "a finite number of at least 1",
            });
        }
        if !(0.0..1.0).contains(&self.reset_jitter) {
            return Err(ConfigError::OutOfRange {
                field: "reset_jitter",
                value: self.reset_jitter,
                expected: "in [0, 1)",
            });
        }
        if let Some(max) = self.max_reset_timeout
            && max < self.reset_timeout
        {
            return Err(ConfigError::Conflict {
                field: "max_reset_timeout",
                other: "reset_timeout",
                reason: "the cap is shorter than the timeout it caps",
            });
        }
        match (self.failure_window, self.window_size) {
            (Some(_), Some(_)) => Err(ConfigError::Conflict {
                field: "window_size",
                other: "failure_window",
                reason: "a window is either count-based or time-based",
            }),
            (Some(w), None) => {
                positive("failure_window", w)?;
                if crate::time::nanos(w) < u64::from(buckets).saturating_mul(1_000_000) {
                    return Err(ConfigError::Conflict {
                        field: "failure_window",
                        other: "window_buckets",
                        reason: "buckets must be at least 1ms long",
                    });
                }
                Ok(())
            }
            (None, Some(n)) => {
                nonzero("window_size", n)?;
                if n < buckets {
                    return Err(ConfigError::Conflict {
                        field: "window_size",
                        other: "window_buckets",
                        reason: "fewer calls than buckets",
                    });
                }
                if self.min_calls > n {
                    return Err(ConfigError::Conflict {
                        field: "min_calls",
                        other: "window_size",
                        reason: "the window can never hold min_calls calls",
                    });
                }
                Ok(())
            }
            (None, None) => Ok(()),
        }
    }
}

impl ConfigBuilder {
    /// The window's kind, as [`Config::window`] reports it.
    fn window(&self) -> WindowKind {
        match self.window_size {
            Some(n) => WindowKind::Count(n),
            None => WindowKind::Time(self.failure_window.unwrap_or(DEFAULT_FAILURE_WINDOW)),
        }
    }

    /// The bucket count: the one set, or the one chosen for the window.
    fn buckets(&self) -> u32 {
        self.window_buckets
            .unwrap_or_else(|| default_buckets(self.window()))
    }
}

fn nonzero(field: &'static str, v: u32) -> Result<(), ConfigError> {
    if v == 0 {
        return Err(ConfigError::Zero { field });
    }
    Ok(())
}

fn at_most(field: &'static str, v: u32, max: u32) -> Result<(), ConfigError> {
    if v > max {
        return Err(ConfigError::TooLarge {
            field,
            value: v.into(),
            max: max.into(),
        });
    }
    Ok(())
}

fn positive(field: &'static str, d: Duration) -> Result<(), ConfigError> {
    if d.is_zero() {
        return Err(ConfigError::ZeroDuration { field });
    }
    Ok(())
}

fn rate(field: &'static str, v: f64) -> Result<(), ConfigError> {
    if !(v > 0.0 && v <= 1.0) {
        return Err(ConfigError::RateOutOfRange { field, value: v });
    }
    Ok(())
}

impl Default for Config {
    /// The defaults: 5 consecutive failures, 3 successes, 30 s reset timeout, 3 half-open
    /// calls, a 60 s window, 10 minimum calls, 50% failure rate, 5 s slow calls, 50%
    /// slow-call rate.
    fn default() -> Self {
        Config {
            b: ConfigBuilder::default(),
        }
    }
}

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// A builder starting from this config, to adjust a preset.
    ///
    /// ```
    /// let cfg = breakerbox::Config::cache().into_builder().min_calls(20).build()?;
    /// assert_eq!(cfg.min_calls(), 20);
    /// # Ok::<(), breakerbox::ConfigError>(())
    /// ```
    pub fn into_builder(self) -> ConfigBuilder {
        self.b
    }

    /// Consecutive failures that trip the breaker.
    pub fn failure_threshold(&self) -> u32 {
        self.b.failure_threshold
    }
    /// Successful trials that close a half-open breaker.
    pub fn success_threshold(&self) -> u32 {
        self.b.success_threshold
    }
    /// Base time Open before trials are admitted.
    pub fn reset_timeout(&self) -> Duration {
        self.b.reset_timeout
    }
    /// Trials admitted at once in HalfOpen.
    pub fn half_open_max_calls(&self) -> u32 {
        self.b.half_open_max_calls
    }
    /// The sliding window.
    pub fn window(&self) -> WindowKind {
        self.b.window()
    }
    /// Buckets of the sliding window: the value set, or the one chosen from the window
    /// when none was (see [`WindowKind`]).
    pub fn window_buckets(&self) -> u32 {
        self.b.buckets()
    }
    /// Calls needed in the window before rates are evaluated.
    pub fn min_calls(&self) -> u32 {
        self.b.min_calls
    }
    /// Failure rate that trips the breaker.
    pub fn failure_rate_threshold(&self) -> f64 {
        self.b.failure_rate_threshold
    }
    /// Duration beyond which a call is slow.
    pub fn slow_call_duration(&self) -> Duration {
        self.b.slow_call_duration
    }
    /// Slow-call rate that trips the breaker.
    pub fn slow_call_rate_threshold(&self) -> f64 {
        self.b.slow_call_rate_threshold
    }
    /// Growth factor of the reset timeout on consecutive trips.
    pub fn backoff_factor(&self) -> f64 {
        self.b.backoff_factor
    }
    /// Cap of the grown reset timeout.
    pub fn max_reset_timeout(&self) -> Duration {
        self.b
            .max_reset_timeout
            .unwrap_or_else(|| self.b.reset_timeout.saturating_mul(10))
    }
    /// Random spread of each reset timeout, as a fraction.
    pub fn reset_jitter(&self) -> f64 {
        self.b.reset_jitter
    }
    /// How long a half-open breaker with busy trial slots waits before it reopens.
    pub fn half_open_timeout(&self) -> Duration {
        self.b.half_open_timeout
    }
    /// The longest a call may run, if limited (see [`ConfigBuilder::call_timeout`]).
    pub fn call_timeout(&self) -> Option<Duration> {
        self.b.call_timeout
    }

    /// The reset timeout after `trips` consecutive trips without recovery (1 for the first),
    /// before jitter: `reset_timeout * backoff_factor^(trips - 1)`, capped at
    /// [`max_reset_timeout`](Config::max_reset_timeout). Never overflows: a growth beyond
    /// what a `Duration` holds is the cap.
    pub fn reset_timeout_for(&self, trips: u32) -> Duration {
        let base = self.b.reset_timeout;
        let cap = self.max_reset_timeout().max(base);
        crate::backoff::Backoff::new(base, self.b.backoff_factor, cap).delay(trips)
    }

    /// The longest an Open breaker with this config can stay open before it probes: the
    /// grown reset timeout's cap, spread by the largest jitter. Saturates.
    pub(crate) fn longest_open(&self) -> Duration {
        let cap = self.max_reset_timeout().max(self.b.reset_timeout);
        let secs = cap.as_secs_f64() * (1.0 + self.b.reset_jitter.max(0.0));
        Duration::try_from_secs_f64(secs).map_or(Duration::MAX, |d| d.max(cap))
    }
}

pub(crate) fn preset(b: ConfigBuilder) -> Config {
    // Presets are constant and valid by construction; `validate` is covered by tests.
    Config { b }
}

impl TryFrom<ConfigBuilder> for Config {
    type Error = ConfigError;
    fn try_from(b: ConfigBuilder) -> Result<Self, ConfigError> {
        b.build()
    }
}

impl From<Config> for ConfigBuilder {
    fn from(c: Config) -> Self {
        c.b
    }
}
