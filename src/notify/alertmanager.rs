//! The Alertmanager channel: POST `/api/v2/alerts`, firing while a breaker is open,
//! resolved (with `endsAt`) when it closes. Every replica sends the same labels, so
//! Alertmanager de-duplicates a fleet into one alert and routes it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use reqwest::{Client, Url};
use serde_json::{Value, json};

use super::http::{HttpOptions, client, header_map, http_option_setters, parse_url, post_json};
use super::{BoxFuture, DeliveryError, Notification, Notifier, NotifyError};
use crate::time::rfc3339;
use crate::view::TransitionView;

/// The path alerts are posted to, below each Alertmanager base URL.
const ALERTS_PATH: &str = "api/v2/alerts";

/// Builds an [`AlertmanagerNotifier`]; see [`AlertmanagerNotifier::builder`].
#[derive(Clone)]
#[must_use]
pub struct AlertmanagerBuilder {
    urls: Vec<String>,
    alertname: String,
    labels: BTreeMap<String, String>,
    headers: Vec<(String, String)>,
    generator_url: Option<String>,
    refresh: Duration,
    timeout: Duration,
    http: HttpOptions,
}

impl fmt::Debug for AlertmanagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Headers may carry credentials: only their names are shown.
        let headers: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("AlertmanagerBuilder")
            .field("urls", &self.urls)
            .field("alertname", &self.alertname)
            .field("labels", &self.labels)
            .field("headers", &headers)
            .field("http", &self.http.describe())
            .finish_non_exhaustive()
    }
}

impl AlertmanagerBuilder {
    http_option_setters!();

    /// Adds another Alertmanager of the same cluster; each receives every alert, and a
    /// delivery succeeds when one of them accepts it.
    pub fn url(mut self, base_url: impl Into<String>) -> Self {
        self.urls.push(base_url.into());
        self
    }

    /// The `alertname` label (default `BreakerboxCircuitOpen`).
    pub fn alertname(mut self, name: impl Into<String>) -> Self {
        self.alertname = name.into();
        self
    }

    /// Adds a label to every alert, e.g. `service` or `severity` (default `severity` is
    /// `warning`). Keep labels the same on every replica: they identify the alert.
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(name.into(), value.into());
        self
    }

    /// Adds a header to every request (e.g. `Authorization` for a proxy in front).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The `generatorURL` of the alerts, e.g. the service's breaker dashboard.
    pub fn generator_url(mut self, url: impl Into<String>) -> Self {
        self.generator_url = Some(url.into());
        self
    }

    /// How often a firing alert is sent again (default 60 s). Its `endsAt` is four
    /// intervals ahead, so Alertmanager resolves it by itself if this process dies.
    pub fn refresh_interval(mut self, every: Duration) -> Self {
        self.refresh = every;
        self
    }

    /// The client's timeout per request (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Validates the settings and builds the client.
    ///
    /// # Errors
    /// [`NotifyError::InvalidUrl`], [`NotifyError::InvalidLabel`],
    /// [`NotifyError::InvalidHeader`], [`NotifyError::Missing`] for an empty alert name,
    /// [`NotifyError::Zero`] for a zero refresh interval or timeout,
    /// [`NotifyError::InvalidCertificate`] for PEM text that does not parse, and
    /// [`NotifyError::Client`] if no CA certificate can be loaded at all.
    pub fn build(self) -> Result<AlertmanagerNotifier, NotifyError> {
        let urls = self
            .urls
            .iter()
            .map(|u| alerts_url(u))
            .collect::<Result<Vec<_>, _>>()?;
        if self.alertname.is_empty() {
            return Err(NotifyError::Missing { field: "alertname" });
        }
        if self.refresh.is_zero() {
            return Err(NotifyError::Zero {
                field: "refresh_interval",
            });
        }
        for name in self.labels.keys() {
            if !valid_label(name) || name == "alertname" || name == "breaker" {
                return Err(NotifyError::InvalidLabel { name: name.clone() });
            }
        }
        if let Some(g) = &self.generator_url {
            parse_url(g)?;
        }
        Ok(AlertmanagerNotifier {
            client: client(self.timeout, &self.http)?,
            headers: header_map(&self.headers)?,
            urls,
            alertname: self.alertname,
            labels: self.labels,
            generator_url: self.generator_url,
            refresh: self.refresh,
        })
    }
}

fn alerts_url(base: &str) -> Result<Url, NotifyError> {
    let mut url = parse_url(base)?;
    if !url.path().trim_end_matches('/').ends_with(ALERTS_PATH) {
        let path = format!("{}/{ALERTS_PATH}", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    Ok(url)
}

fn valid_label(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Posts alerts to Alertmanager's v2 API: firing when a breaker opens (or flaps),
/// resolved when it recovers.
///
/// Labels: `alertname`, `breaker` and yours (`severity=warning` unless set). The host and
/// the numbers go in annotations, so replicas of one service make one alert.
///
/// ```
/// use breakerbox::notify::AlertmanagerNotifier;
///
/// let am = AlertmanagerNotifier::builder("http://alertmanager:9093")
///     .label("service", "checkout")
///     .label("severity", "critical")
///     .build()?;
/// # let _ = am;
/// # Ok::<(), breakerbox::notify::NotifyError>(())
/// ```
#[derive(Clone)]
pub struct AlertmanagerNotifier {
    client: Client,
    urls: Vec<Url>,
    headers: HeaderMap,
    alertname: String,
    labels: BTreeMap<String, String>,
    generator_url: Option<String>,
    refresh: Duration,
}

impl fmt::Debug for AlertmanagerNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let urls: Vec<&str> = self.urls.iter().map(Url::as_str).collect();
        f.debug_struct("AlertmanagerNotifier")
            .field("urls", &urls)
            .field("alertname", &self.alertname)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl AlertmanagerNotifier {
    /// A builder posting to the Alertmanager at `base_url` (`/api/v2/alerts` is appended
    /// unless the URL already ends with it).
    pub fn builder(base_url: impl Into<String>) -> AlertmanagerBuilder {
        AlertmanagerBuilder {
            urls: vec![base_url.into()],
            alertname: "BreakerboxCircuitOpen".to_owned(),
            labels: BTreeMap::from([("severity".to_owned(), "warning".to_owned())]),
            headers: Vec::new(),
            generator_url: None,
            refresh: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            http: HttpOptions::default(),
        }
    }

    /// The JSON array posted for `n` at time `now`.
    pub fn alerts(&self, n: &Notification, now: SystemTime) -> Value {
        let t = &n.transition;
        let mut labels: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, v) in &self.labels {
            labels.insert(k, v);
        }
        labels.insert("alertname", &self.alertname);
        labels.insert("breaker", &t.breaker);
        let ends_at = if n.is_firing() {
            super::deadline::wall_after(now, self.refresh.saturating_mul(4))
        } else {
            t.at.max(n.since)
        };
        let mut annotations = string_fields(&TransitionView::from(t));
        for (k, v) in [
            ("summary", n.summary()),
            ("description", n.text()),
            ("kind", n.kind.as_str().to_owned()),
            ("host", n.host.to_string()),
        ] {
            annotations.insert(k.to_owned(), v);
        }
        let mut alert = json!({
            "labels": labels,
            "annotations": annotations,
            "startsAt": rfc3339(n.since),
            "endsAt": rfc3339(ends_at),
        });
        if let Some(g) = &self.generator_url {
            alert["generatorURL"] = Value::String(g.clone());
        }
        Value::Array(vec![alert])
    }
}

/// The fields of `view` as strings, as Alertmanager wants annotations: a string as it is,
/// any other value as its JSON text; `null` fields are left out.
fn string_fields(view: &impl serde::Serialize) -> BTreeMap<String, String> {
    let Ok(Value::Object(fields)) = serde_json::to_value(view) else {
        return BTreeMap::new();
    };
    fields
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::Null => None,
            Value::String(s) => Some((k, s)),
            other => Some((k, other.to_string())),
        })
        .collect()
}

impl Notifier for AlertmanagerNotifier {
    fn channel(&self) -> &str {
        "alertmanager"
    }

    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let body = self.alerts(n, SystemTime::now()).to_string().into_bytes();
            let mut first_error = None;
            for url in &self.urls {
                match post_json(&self.client, url, self.headers.clone(), body.clone()).await {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            Err(first_error.unwrap_or_else(|| DeliveryError::Rejected("no url".into())))
        })
    }

    fn refresh_interval(&self) -> Option<Duration> {
        Some(self.refresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Kind;
    use crate::notify::message::tests::transition;
    use crate::state::{Reason, State};

    #[test]
    fn alerts_path_is_appended_once() {
        let u = alerts_url("http://127.0.0.1:9093").unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:9093/api/v2/alerts");
        let u = alerts_url("http://am.example/prefix/api/v2/alerts/").unwrap();
        assert_eq!(u.path(), "/prefix/api/v2/alerts/");
        let u = alerts_url("http://am.example/prefix/").unwrap();
        assert_eq!(u.path(), "/prefix/api/v2/alerts");
    }

    #[test]
    fn bad_labels_are_config_errors() {
        for bad in ["1x", "with-dash", "", "breaker", "alertname"] {
            let err = AlertmanagerNotifier::builder("http://127.0.0.1:9093")
                .label(bad, "v")
                .build()
                .unwrap_err();
            assert!(matches!(err, NotifyError::InvalidLabel { .. }), "{bad}");
        }
    }

    #[test]
    fn firing_then_resolved() {
        let am = AlertmanagerNotifier::builder("http://127.0.0.1:9093")
            .label("service", "checkout")
            .build()
            .unwrap();
        let open = transition("postgres", State::Closed, State::Open, Reason::FailureRate);
        let now = open.at;
        let firing = am.alerts(&Notification::new(Kind::Opened, open.clone()), now);
        assert_eq!(firing[0]["labels"]["breaker"], "postgres");
        assert_eq!(firing[0]["labels"]["service"], "checkout");
        assert_eq!(firing[0]["startsAt"], rfc3339(now));
        assert_eq!(firing[0]["endsAt"], rfc3339(now + Duration::from_secs(240)));
        let mut closed = open;
        closed.to = State::Closed;
        closed.at = now + Duration::from_secs(90);
        let mut n = Notification::new(Kind::Recovered, closed);
        n.since = now;
        let resolved = am.alerts(&n, now + Duration::from_secs(91));
        assert_eq!(resolved[0]["startsAt"], rfc3339(now));
        assert_eq!(
            resolved[0]["endsAt"],
            rfc3339(now + Duration::from_secs(90))
        );
    }

    #[test]
    fn a_refresh_interval_of_duration_max_caps_ends_at_instead_of_panicking() {
        let am = AlertmanagerNotifier::builder("http://127.0.0.1:9093")
            .refresh_interval(Duration::MAX)
            .build()
            .unwrap();
        let open = transition("postgres", State::Closed, State::Open, Reason::FailureRate);
        let firing = am.alerts(&Notification::new(Kind::Opened, open.clone()), open.at);
        assert_eq!(firing[0]["endsAt"], "9999-12-31T23:59:59.000Z");
    }
}
