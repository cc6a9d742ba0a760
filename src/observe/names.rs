//! Every metric, label and span name breakerbox emits: the public contract documented in
//! `docs/METRICS.md`. Dashboards and alert rules depend on these strings.
//!
//! [`METRICS`] lists every metric with its kind, labels and help text; it is what
//! [`describe_metrics`](crate::observe::describe_metrics) registers and what the tests
//! compare with `docs/METRICS.md` and with the exporter's output.

/// Counter of completed and rejected calls, labelled `breaker` and `outcome`.
pub const CALLS_TOTAL: &str = "breakerbox_calls_total";
/// Counter of calls slower than `slow_call_duration`, labelled `breaker` and `outcome`.
pub const SLOW_CALLS_TOTAL: &str = "breakerbox_slow_calls_total";
/// Histogram of call durations in seconds, labelled `breaker` and `outcome`.
pub const CALL_DURATION_SECONDS: &str = "breakerbox_call_duration_seconds";
/// One-hot gauge of the current state, labelled `breaker` and `state`.
pub const STATE: &str = "breakerbox_state";
/// Gauge: Unix time in seconds of the last state change, labelled `breaker`.
pub const STATE_SINCE_TIMESTAMP_SECONDS: &str = "breakerbox_state_since_timestamp_seconds";
/// Gauge: Unix time in seconds until which an open breaker stays open before it probes
/// (`open`, or `forced_open` with a TTL; +Inf when forced open without one; NaN in any other
/// state), labelled `breaker`. With backoff this is what explains a long open.
pub const OPEN_UNTIL_TIMESTAMP_SECONDS: &str = "breakerbox_open_until_timestamp_seconds";
/// Counter of state transitions, labelled `breaker`, `from`, `to` and `reason`.
pub const TRANSITIONS_TOTAL: &str = "breakerbox_transitions_total";
/// Counter of trips a `metrics_only` breaker would have made, labelled `breaker`, `reason`.
pub const DRY_RUN_TRIPS_TOTAL: &str = "breakerbox_dry_run_trips_total";
/// Gauge of the failure rate over the window (0..=1; NaN below `min_calls`).
pub const FAILURE_RATE: &str = "breakerbox_failure_rate";
/// Gauge of the slow-call rate over the window (0..=1; NaN below `min_calls`).
pub const SLOW_CALL_RATE: &str = "breakerbox_slow_call_rate";
/// Gauge of the number of calls currently in the window.
pub const WINDOW_CALLS: &str = "breakerbox_window_calls";
/// Config gauge: consecutive failures that trip the breaker.
pub const CONFIG_FAILURE_THRESHOLD: &str = "breakerbox_config_failure_threshold";
/// Config gauge: failure rate (0..=1) that trips the breaker.
pub const CONFIG_FAILURE_RATE_THRESHOLD: &str = "breakerbox_config_failure_rate_threshold";
/// Config gauge: slow-call rate (0..=1) that trips the breaker.
pub const CONFIG_SLOW_CALL_RATE_THRESHOLD: &str = "breakerbox_config_slow_call_rate_threshold";
/// Config gauge: duration in seconds above which a call is slow.
pub const CONFIG_SLOW_CALL_DURATION_SECONDS: &str = "breakerbox_config_slow_call_duration_seconds";
/// Config gauge: calls the window must hold before rates are evaluated.
pub const CONFIG_MIN_CALLS: &str = "breakerbox_config_min_calls";
/// Config gauge: base reset timeout in seconds (open before probing).
pub const CONFIG_RESET_TIMEOUT_SECONDS: &str = "breakerbox_config_reset_timeout_seconds";
/// Config gauge: concurrent trial calls admitted in half-open.
pub const CONFIG_HALF_OPEN_MAX_CALLS: &str = "breakerbox_config_half_open_max_calls";
/// Config gauge: growth factor of the reset timeout on each trip without recovery.
pub const CONFIG_BACKOFF_FACTOR: &str = "breakerbox_config_backoff_factor";
/// Config gauge: cap in seconds of the grown reset timeout.
pub const CONFIG_MAX_RESET_TIMEOUT_SECONDS: &str = "breakerbox_config_max_reset_timeout_seconds";
/// Config gauge: random spread of each reset timeout, as a fraction (0 to 1).
pub const CONFIG_RESET_JITTER: &str = "breakerbox_config_reset_jitter";
/// Counter of fallbacks taken instead of a call's result, labelled `breaker` and `reason`
/// (`rejected`, `timeout`, `failure`).
pub const FALLBACKS_TOTAL: &str = "breakerbox_fallbacks_total";
/// Counter of calls refused by a bulkhead or a rate limit, labelled `breaker` and `reason`
/// (`bulkhead_full`, `rate_limited`). Not dependency failures: no breaker records them.
pub const LIMIT_REJECTIONS_TOTAL: &str = "breakerbox_limit_rejections_total";
/// Gauge of the calls running inside a bulkhead, labelled `breaker`.
pub const BULKHEAD_IN_USE: &str = "breakerbox_bulkhead_in_use";
/// Config gauge: the concurrent calls a bulkhead admits, labelled `breaker`.
pub const BULKHEAD_MAX_CONCURRENT: &str = "breakerbox_bulkhead_max_concurrent";
/// Config gauge: the calls per second a rate limit admits on average, labelled `breaker`.
pub const RATE_LIMIT_PER_SECOND: &str = "breakerbox_rate_limit_per_second";
/// Counter of notification deliveries, labelled `breaker`, `channel` and `result`.
pub const NOTIFICATIONS_TOTAL: &str = "breakerbox_notifications_total";
/// Counter of notification deliveries refused by TLS, labelled `channel` and `cause`
/// (`unknown_issuer`, `expired`, `name_mismatch`, ...; see `notify::TlsCause`).
pub const NOTIFICATION_TLS_ERRORS_TOTAL: &str = "breakerbox_notification_tls_errors_total";
/// Gauge: 1 while the breaker's fleet (feature `fleet-redis`) answers and fleet decisions
/// are in force, 0 while the replica falls back to local decisions.
pub const FLEET_CONNECTED: &str = "breakerbox_fleet_connected";
/// Counter of fleet rounds in which a breaker's key in Redis was unusable (wrong type or
/// content), labelled `breaker`: that breaker decided locally for the round.
pub const FLEET_KEY_ERRORS_TOTAL: &str = "breakerbox_fleet_key_errors_total";
/// Counter of a state store's saves (features `persist` or `fleet-redis`), labelled
/// `result` (`saved`, `failed`); one series per process, summed over its registries.
pub const STATE_STORE_SAVES_TOTAL: &str = "breakerbox_state_store_saves_total";
/// Gauge of the breakers whose latest state change is not in the state store yet (waiting
/// for a save, or being written by one), summed over the process's registries.
pub const STATE_STORE_UNSAVED: &str = "breakerbox_state_store_unsaved";
/// Gauge: Unix time in seconds at which breakerbox started in this process (when it first
/// registered its metrics), without labels. Changes when the process restarts, also when
/// it restarts within one scrape interval and the counters' reset is hidden.
pub const PROCESS_START_TIME_SECONDS: &str = "breakerbox_process_start_time_seconds";

/// Label: the breaker's name.
pub const LABEL_BREAKER: &str = "breaker";
/// Label: `success`, `failure`, `ignored`, `timeout` or `rejected`.
pub const LABEL_OUTCOME: &str = "outcome";
/// Label: a state name (`closed`, `open`, `half_open`, `disabled`, `forced_open`, `metrics_only`).
pub const LABEL_STATE: &str = "state";
/// Label: the state a transition left.
pub const LABEL_FROM: &str = "from";
/// Label: the state a transition entered.
pub const LABEL_TO: &str = "to";
/// Label: why a transition happened (see `Reason`).
pub const LABEL_REASON: &str = "reason";
/// Label: notification channel (`email`, `webhook`, `alertmanager`, ...).
pub const LABEL_CHANNEL: &str = "channel";
/// Label: why a notification's TLS connection failed (`unknown_issuer`, `expired`, ...).
pub const LABEL_CAUSE: &str = "cause";
/// Label: a notification's result (`sent`, `failed`, `dropped`) or a state store save's
/// (`saved`, `failed`).
pub const LABEL_RESULT: &str = "result";

/// Span name: one span per protected call.
pub const SPAN_CALL: &str = "breakerbox.call";
/// Span attribute: breaker name.
pub const ATTR_NAME: &str = "breakerbox.name";
/// Span attribute: breaker state when the call was admitted or rejected.
pub const ATTR_STATE: &str = "breakerbox.state";
/// Span attribute: call outcome.
pub const ATTR_OUTCOME: &str = "breakerbox.outcome";
/// Span attribute: whether the call was slow.
pub const ATTR_SLOW: &str = "breakerbox.slow";
/// Span attribute: `true` on the short span of a call that was not chosen for a span when
/// it started (see `SpanPolicy`) and got one when it ended because it failed, timed out or
/// was slow.
pub const ATTR_AFTER_THE_FACT: &str = "breakerbox.after_the_fact";
/// Span attribute of an after-the-fact call span: when the call started, in Unix
/// nanoseconds (the span itself starts when the call ended).
pub const ATTR_START_UNIX_NANOS: &str = "breakerbox.start_unix_nanos";
/// Span attribute of an after-the-fact call span: how long the call ran, in milliseconds.
pub const ATTR_DURATION_MS: &str = "breakerbox.duration_ms";
/// Span event name for a state transition.
pub const EVENT_TRANSITION: &str = "breakerbox.transition";
/// Span name: a short span around a transition decided outside any span (eager timer,
/// `poll_timeouts`), so OpenTelemetry-only subscribers receive its event.
pub const SPAN_TRANSITION: &str = "breakerbox.transition";
/// Span event name for a trip a `metrics_only` breaker would have made (dry run).
pub const EVENT_WOULD_OPEN: &str = "breakerbox.would_open";
/// Span and event attribute: the state a transition left.
pub const ATTR_FROM: &str = "breakerbox.from";
/// Span and event attribute: the state a transition entered.
pub const ATTR_TO: &str = "breakerbox.to";
/// Event attribute: why a transition happened (a `reason` label value).
pub const ATTR_REASON: &str = "breakerbox.reason";
/// Event attribute: calls in the window at the transition.
pub const ATTR_WINDOW_CALLS: &str = "breakerbox.window.calls";
/// Event attribute: failed calls in the window at the transition.
pub const ATTR_WINDOW_FAILURES: &str = "breakerbox.window.failures";
/// Event attribute: slow calls in the window at the transition.
pub const ATTR_WINDOW_SLOW_CALLS: &str = "breakerbox.window.slow_calls";
/// Event attribute: the window's failure rate at the transition (absent below `min_calls`).
pub const ATTR_FAILURE_RATE: &str = "breakerbox.failure_rate";
/// Event attribute: the window's slow-call rate at the transition (absent below `min_calls`).
pub const ATTR_SLOW_CALL_RATE: &str = "breakerbox.slow_call_rate";
/// Event attribute: consecutive failures at the transition.
pub const ATTR_CONSECUTIVE_FAILURES: &str = "breakerbox.consecutive_failures";
/// Event attribute: the threshold of the trigger that fired, if any.
pub const ATTR_THRESHOLD: &str = "breakerbox.threshold";
/// Event attribute: how long the breaker stays open, in seconds, if known.
pub const ATTR_OPEN_FOR_SECONDS: &str = "breakerbox.open_for_seconds";
/// Event attribute of a fleet verdict: calls in the fleet window (all live replicas).
pub const ATTR_FLEET_CALLS: &str = "breakerbox.fleet.calls";
/// Event attribute of a fleet verdict: failed calls in the fleet window.
pub const ATTR_FLEET_FAILURES: &str = "breakerbox.fleet.failures";
/// Event attribute of a fleet verdict: slow calls in the fleet window.
pub const ATTR_FLEET_SLOW_CALLS: &str = "breakerbox.fleet.slow_calls";
/// Event attribute of a fleet verdict: the fleet's failure rate.
pub const ATTR_FLEET_FAILURE_RATE: &str = "breakerbox.fleet.failure_rate";
/// Event attribute of a fleet verdict: the fleet's slow-call rate.
pub const ATTR_FLEET_SLOW_CALL_RATE: &str = "breakerbox.fleet.slow_call_rate";
/// Event attribute of a fleet verdict: live replicas that saw failures (slow calls, when
/// the slow-call rate tripped).
pub const ATTR_FLEET_REPLICAS: &str = "breakerbox.fleet.replicas";
/// Span attribute (OpenTelemetry semantic convention) set on rejected calls.
pub const ATTR_ERROR_TYPE: &str = "error.type";
/// Value of [`ATTR_ERROR_TYPE`] on a rejected call.
pub const ERROR_TYPE_CIRCUIT_OPEN: &str = "circuit_open";
/// The `tracing-opentelemetry` field that sets a span's status (`"ERROR"` on rejections
/// and failures).
pub const OTEL_STATUS_CODE: &str = "otel.status_code";
/// Tracing target of call spans (and every breakerbox span and event not listed below).
pub const TARGET: &str = "breakerbox";
/// Tracing target of transition and would-open events: enable it alone
/// (`breakerbox=off,breakerbox::transition=info`) to log every state change without the
/// per-call spans.
pub const TRANSITION_TARGET: &str = "breakerbox::transition";

/// The kind of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricKind {
    /// A monotonic counter (`_total`).
    Counter,
    /// A gauge.
    Gauge,
    /// A histogram with buckets (`_bucket`, `_sum`, `_count`).
    Histogram,
}

impl MetricKind {
    /// The Prometheus `# TYPE` word: `counter`, `gauge` or `histogram`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One metric of the contract: name, kind, labels and help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricInfo {
    /// The metric name, e.g. `breakerbox_calls_total`.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The labels every series carries, `breaker` first.
    pub labels: &'static [&'static str],
    /// The HELP text.
    pub help: &'static str,
}

const fn info(
    name: &'static str,
    kind: MetricKind,
    labels: &'static [&'static str],
    help: &'static str,
) -> MetricInfo {
    MetricInfo {
        name,
        kind,
        labels,
        help,
    }
}

const B: &[&str] = &[LABEL_BREAKER];
const B_OUTCOME: &[&str] = &[LABEL_BREAKER, LABEL_OUTCOME];

/// Every metric breakerbox emits, in documentation order.
///
/// ```
/// use breakerbox::observe::names::{METRICS, STATE};
/// assert!(METRICS.iter().any(|m| m.name == STATE));
/// ```
pub const METRICS: &[MetricInfo] = &[
    info(
        CALLS_TOTAL,
        MetricKind::Counter,
        B_OUTCOME,
        "Calls through the circuit breaker by outcome: success, failure, timeout (cancelled or overran call_timeout; a failure), ignored (ran, not counted toward a trip) or rejected (refused without running).",
    ),
    info(
        SLOW_CALLS_TOTAL,
        MetricKind::Counter,
        B_OUTCOME,
        "Calls that ran longer than the breaker's slow_call_duration, by outcome.",
    ),
    info(
        CALL_DURATION_SECONDS,
        MetricKind::Histogram,
        B_OUTCOME,
        "Duration of calls that ran through the circuit breaker, in seconds, by outcome (rejected calls are not timed).",
    ),
    info(
        STATE,
        MetricKind::Gauge,
        &[LABEL_BREAKER, LABEL_STATE],
        "Current circuit breaker state, one-hot: exactly one of closed, open, half_open, disabled, forced_open, metrics_only is 1.",
    ),
    info(
        STATE_SINCE_TIMESTAMP_SECONDS,
        MetricKind::Gauge,
        B,
        "Unix time in seconds when the circuit breaker entered its current state.",
    ),
    info(
        OPEN_UNTIL_TIMESTAMP_SECONDS,
        MetricKind::Gauge,
        B,
        "Unix time in seconds until which the circuit breaker stays open before it lets a trial call through (reset timeout with backoff and jitter applied, or a forced_open TTL); +Inf when forced open without a TTL; NaN when not open.",
    ),
    info(
        TRANSITIONS_TOTAL,
        MetricKind::Counter,
        &[LABEL_BREAKER, LABEL_FROM, LABEL_TO, LABEL_REASON],
        "Circuit breaker state transitions by from state, to state and reason.",
    ),
    info(
        DRY_RUN_TRIPS_TOTAL,
        MetricKind::Counter,
        &[LABEL_BREAKER, LABEL_REASON],
        "Trips a metrics_only (dry run) circuit breaker would have made, by reason.",
    ),
    info(
        FAILURE_RATE,
        MetricKind::Gauge,
        B,
        "Failure rate over the circuit breaker's sliding window (0 to 1); NaN while the window holds fewer than min_calls calls.",
    ),
    info(
        SLOW_CALL_RATE,
        MetricKind::Gauge,
        B,
        "Slow-call rate over the circuit breaker's sliding window (0 to 1); NaN while the window holds fewer than min_calls calls.",
    ),
    info(
        WINDOW_CALLS,
        MetricKind::Gauge,
        B,
        "Calls (successes and failures) currently in the circuit breaker's sliding window.",
    ),
    info(
        CONFIG_FAILURE_THRESHOLD,
        MetricKind::Gauge,
        B,
        "Configured consecutive failures that trip the circuit breaker.",
    ),
    info(
        CONFIG_FAILURE_RATE_THRESHOLD,
        MetricKind::Gauge,
        B,
        "Configured failure rate (0 to 1) over the window that trips the circuit breaker.",
    ),
    info(
        CONFIG_SLOW_CALL_RATE_THRESHOLD,
        MetricKind::Gauge,
        B,
        "Configured slow-call rate (0 to 1) over the window that trips the circuit breaker.",
    ),
    info(
        CONFIG_SLOW_CALL_DURATION_SECONDS,
        MetricKind::Gauge,
        B,
        "Configured duration in seconds above which a call is slow.",
    ),
    info(
        CONFIG_MIN_CALLS,
        MetricKind::Gauge,
        B,
        "Configured number of calls the window must hold before rates can trip the circuit breaker.",
    ),
    info(
        CONFIG_RESET_TIMEOUT_SECONDS,
        MetricKind::Gauge,
        B,
        "Configured base reset timeout in seconds: how long the circuit breaker stays open before probing.",
    ),
    info(
        CONFIG_HALF_OPEN_MAX_CALLS,
        MetricKind::Gauge,
        B,
        "Configured number of trial calls admitted at once in half_open.",
    ),
    info(
        CONFIG_BACKOFF_FACTOR,
        MetricKind::Gauge,
        B,
        "Configured growth factor of the reset timeout on each trip without recovery (1: no backoff).",
    ),
    info(
        CONFIG_MAX_RESET_TIMEOUT_SECONDS,
        MetricKind::Gauge,
        B,
        "Configured cap in seconds of the reset timeout grown by backoff.",
    ),
    info(
        CONFIG_RESET_JITTER,
        MetricKind::Gauge,
        B,
        "Configured random spread of each reset timeout, as a fraction (0 to 1).",
    ),
    info(
        FALLBACKS_TOTAL,
        MetricKind::Counter,
        &[LABEL_BREAKER, LABEL_REASON],
        "Fallbacks taken instead of a call's result, by reason: rejected, timeout or failure.",
    ),
    info(
        LIMIT_REJECTIONS_TOTAL,
        MetricKind::Counter,
        &[LABEL_BREAKER, LABEL_REASON],
        "Calls refused by a bulkhead or a rate limit, by reason: bulkhead_full or rate_limited. Not dependency failures.",
    ),
    info(
        BULKHEAD_IN_USE,
        MetricKind::Gauge,
        B,
        "Calls running inside the bulkhead now.",
    ),
    info(
        BULKHEAD_MAX_CONCURRENT,
        MetricKind::Gauge,
        B,
        "Configured number of concurrent calls the bulkhead admits.",
    ),
    info(
        RATE_LIMIT_PER_SECOND,
        MetricKind::Gauge,
        B,
        "Configured average calls per second the rate limit admits.",
    ),
    info(
        NOTIFICATIONS_TOTAL,
        MetricKind::Counter,
        &[LABEL_BREAKER, LABEL_CHANNEL, LABEL_RESULT],
        "Notifications of circuit breaker state changes by channel and result: sent, failed or dropped.",
    ),
    info(
        NOTIFICATION_TLS_ERRORS_TOTAL,
        MetricKind::Counter,
        &[LABEL_CHANNEL, LABEL_CAUSE],
        "Notification deliveries refused by TLS, by channel and cause: unknown_issuer, expired, name_mismatch, invalid_certificate, client_certificate, starttls_unsupported or handshake.",
    ),
    info(
        FLEET_CONNECTED,
        MetricKind::Gauge,
        B,
        "1 while the breaker's fleet (shared state through Redis) answers and fleet decisions are in force; 0 while the replica falls back to local decisions.",
    ),
    info(
        FLEET_KEY_ERRORS_TOTAL,
        MetricKind::Counter,
        B,
        "Fleet rounds in which the breaker's key in Redis was unusable (wrong type or content): the breaker decided locally for that round.",
    ),
    info(
        STATE_STORE_SAVES_TOTAL,
        MetricKind::Counter,
        &[LABEL_RESULT],
        "Saves of breaker state to the state store, by result: saved or failed (a failed save is retried).",
    ),
    info(
        STATE_STORE_UNSAVED,
        MetricKind::Gauge,
        &[],
        "Breakers whose latest state change is not in the state store yet: waiting for a save, or being written by one.",
    ),
    info(
        PROCESS_START_TIME_SECONDS,
        MetricKind::Gauge,
        &[],
        "Unix time in seconds at which breakerbox started in this process (first registered its metrics): changes on every restart.",
    ),
];
