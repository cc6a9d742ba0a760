//! The webhook channel: a JSON POST ([`WebhookPayload`]) or a Slack-compatible
//! `{"text": ...}`, optionally signed with HMAC-SHA256 over the body.

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Client, Url};
use sha2::Sha256;

use super::http::{HttpOptions, client, header_map, http_option_setters, parse_url, post_json};
use super::message::Kind;
use super::{BoxFuture, DeliveryError, Notification, Notifier, NotifyError, WebhookPayload};

/// The header carrying the signature: `sha256=` and the lowercase hex HMAC-SHA256 of the
/// exact body bytes under the shared secret.
pub const SIGNATURE_HEADER: &str = "x-breakerbox-signature";

/// What a webhook posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WebhookFormat {
    /// A [`WebhookPayload`] (schema version 1).
    #[default]
    Json,
    /// `{"text": "..."}`, which Slack, Mattermost and Rocket.Chat incoming webhooks accept.
    Slack,
}

/// Builds a [`WebhookNotifier`]; see [`WebhookNotifier::builder`].
#[derive(Clone)]
#[must_use]
pub struct WebhookBuilder {
    url: String,
    format: WebhookFormat,
    secret: Option<Vec<u8>>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    channel: Option<String>,
    http: HttpOptions,
}

impl fmt::Debug for WebhookBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookBuilder")
            .field("url", &self.url)
            .field("format", &self.format)
            .field("signed", &self.secret.is_some())
            .field("http", &self.http.describe())
            .finish_non_exhaustive()
    }
}

impl WebhookBuilder {
    http_option_setters!();

    /// JSON (the default) or Slack-compatible text.
    pub fn format(mut self, format: WebhookFormat) -> Self {
        self.format = format;
        self
    }

    /// Signs every body with HMAC-SHA256 under `secret`, in the [`SIGNATURE_HEADER`].
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret = Some(secret.as_ref().to_vec());
        self
    }

    /// Adds a header to every request (e.g. an `Authorization` token).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The client's timeout per request (default 10 s). The dispatcher's
    /// [`RetryPolicy::timeout`](super::RetryPolicy::timeout) applies as well.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `channel` label (default `webhook`, or `slack` for the Slack format).
    pub fn channel_name(mut self, name: impl Into<String>) -> Self {
        self.channel = Some(name.into());
        self
    }

    /// Validates the settings and builds the client.
    ///
    /// # Errors
    /// [`NotifyError::InvalidUrl`] (also for a proxy URL), [`NotifyError::InvalidHeader`],
    /// [`NotifyError::Missing`] for an empty secret or channel name,
    /// [`NotifyError::InvalidCertificate`] for PEM text that does not parse, and
    /// [`NotifyError::Client`] if no CA certificate can be loaded at all (an empty system
    /// store and no [`root_certificate`](Self::root_certificate)).
    pub fn build(self) -> Result<WebhookNotifier, NotifyError> {
        let url = parse_url(&self.url)?;
        let headers = header_map(&self.headers)?;
        if self.secret.as_ref().is_some_and(Vec::is_empty) {
            return Err(NotifyError::Missing { field: "secret" });
        }
        let channel = self.channel.unwrap_or_else(|| match self.format {
            WebhookFormat::Json => "webhook".to_owned(),
            WebhookFormat::Slack => "slack".to_owned(),
        });
        if channel.is_empty() {
            return Err(NotifyError::Missing {
                field: "channel_name",
            });
        }
        Ok(WebhookNotifier {
            client: client(self.timeout, &self.http)?,
            url,
            format: self.format,
            secret: self.secret,
            headers,
            channel,
        })
    }
}

/// Posts each notification to a URL, as JSON or Slack-compatible text.
///
/// ```
/// use breakerbox::notify::{WebhookFormat, WebhookNotifier};
///
/// let hook = WebhookNotifier::builder("http://127.0.0.1:9000/hooks/breakers")
///     .secret("s3cret")
///     .header("X-Team", "payments")
///     .build()?;
/// let slack = WebhookNotifier::builder("https://hooks.slack.com/services/T0/B0/XYZ")
///     .format(WebhookFormat::Slack)
///     .build()?;
/// assert!(WebhookNotifier::builder("not a url").build().is_err());
/// # let _ = (hook, slack);
/// # Ok::<(), breakerbox::notify::NotifyError>(())
/// ```
#[derive(Clone)]
pub struct WebhookNotifier {
    client: Client,
    url: Url,
    format: WebhookFormat,
    secret: Option<Vec<u8>>,
    headers: HeaderMap,
    channel: String,
}

impl fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("url", &self.url.as_str())
            .field("format", &self.format)
            .field("signed", &self.secret.is_some())
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    /// A builder posting to `url`.
    pub fn builder(url: impl Into<String>) -> WebhookBuilder {
        WebhookBuilder {
            url: url.into(),
            format: WebhookFormat::Json,
            secret: None,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            channel: None,
            http: HttpOptions::default(),
        }
    }

    /// The exact body posted for `n`.
    pub fn body(&self, n: &Notification) -> Vec<u8> {
        let body = match self.format {
            WebhookFormat::Json => serde_json::to_vec(&WebhookPayload::from(n)),
            WebhookFormat::Slack => {
                serde_json::to_vec(&serde_json::json!({ "text": slack_text(n) }))
            }
        };
        // Serializing strings and numbers cannot fail.
        body.unwrap_or_default()
    }

    /// The [`SIGNATURE_HEADER`] value for `body` under `secret`: `sha256=<hex>`. A receiver
    /// recomputes it over the raw body and compares in constant time.
    pub fn signature(secret: &[u8], body: &[u8]) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
            // HMAC takes keys of any length; this branch is unreachable.
            return String::new();
        };
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }
}

impl Notifier for WebhookNotifier {
    fn channel(&self) -> &str {
        &self.channel
    }

    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let body = self.body(n);
            let mut headers = self.headers.clone();
            if let Some(secret) = &self.secret {
                let sig = WebhookNotifier::signature(secret, &body);
                if let Ok(v) = HeaderValue::from_str(&sig) {
                    headers.insert(SIGNATURE_HEADER, v);
                }
            }
            post_json(&self.client, &self.url, headers, body).await
        })
    }
}

fn slack_text(n: &Notification) -> String {
    let icon = match n.kind {
        Kind::Opened => ":red_circle:",
        Kind::Recovered => ":large_green_circle:",
        Kind::Flapping { .. } => ":warning:",
        Kind::Changed => ":large_yellow_circle:",
    };
    format!("{icon} *{}*\n```\n{}```", n.summary(), n.text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2.
        let sig = WebhookNotifier::signature(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let err = WebhookNotifier::builder("http://127.0.0.1:1/")
            .header("bad header", "x")
            .build()
            .unwrap_err();
        assert!(matches!(err, NotifyError::InvalidHeader { .. }), "{err}");
        let err = WebhookNotifier::builder("http://127.0.0.1:1/")
            .secret("")
            .build()
            .unwrap_err();
        assert_eq!(err, NotifyError::Missing { field: "secret" });
        let slack = WebhookNotifier::builder("http://127.0.0.1:1/")
            .format(WebhookFormat::Slack)
            .build()
            .unwrap();
        assert_eq!(slack.channel(), "slack");
    }
}
