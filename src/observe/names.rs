//! Every metric, label and span name breakerbox emits: the public contract documented in
//! `docs/METRICS.md`. Dashboards and alert rules depend on these strings.

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
/// Counter of notification deliveries, labelled `breaker`, `channel` and `result`.
pub const NOTIFICATIONS_TOTAL: &str = "breakerbox_notifications_total";

/// Label: the breaker's name.
pub const LABEL_BREAKER: &str = "breaker";
/// Label: `success`, `failure`, `ignored` or `rejected`.
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
/// Label: notification result (`sent`, `failed`, `dropped`).
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
/// Span event name for a state transition.
pub const EVENT_TRANSITION: &str = "breakerbox.transition";
/// Tracing target used for all breakerbox spans and events.
pub const TARGET: &str = "breakerbox";
