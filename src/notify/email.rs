//! The email channel: SMTP through lettre, with STARTTLS, implicit TLS, or plain text for
//! local relays, and optional authentication.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, Error as SmtpError};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::message::Kind;
use super::{BoxFuture, DeliveryError, Notification, Notifier, NotifyError};

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SmtpSecurity {
    /// Plain SMTP upgraded with STARTTLS, which is required (port 587 by default).
    #[default]
    StartTls,
    /// TLS from the first byte, "SMTPS" (port 465 by default).
    Tls,
    /// No encryption, for a relay on localhost or a trusted network (port 25 by default).
    None,
}

/// Builds an [`EmailNotifier`]; see [`EmailNotifier::builder`].
#[derive(Clone)]
#[must_use]
pub struct EmailBuilder {
    host: String,
    port: Option<u16>,
    security: SmtpSecurity,
    credentials: Option<(String, String)>,
    from: Option<String>,
    to: Vec<String>,
    timeout: Duration,
    html: bool,
}

impl fmt::Debug for EmailBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailBuilder")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl EmailBuilder {
    /// The server's port (default by security: 587, 465 or 25).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// STARTTLS (the default), implicit TLS, or none for local relays.
    pub fn security(mut self, security: SmtpSecurity) -> Self {
        self.security = security;
        self
    }

    /// Authenticates with a user name and password.
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// The sender, `alerts@example.com` or `Breakers <alerts@example.com>`.
    pub fn from(mut self, mailbox: impl Into<String>) -> Self {
        self.from = Some(mailbox.into());
        self
    }

    /// Adds a recipient.
    pub fn to(mut self, mailbox: impl Into<String>) -> Self {
        self.to.push(mailbox.into());
        self
    }

    /// The SMTP command timeout (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether to add an HTML alternative to the plain-text body (default yes).
    pub fn html(mut self, html: bool) -> Self {
        self.html = html;
        self
    }

    /// Validates the settings. The SMTP connection pool is created on the first delivery.
    ///
    /// # Errors
    /// [`NotifyError::InvalidAddress`] for a sender or recipient that does not parse,
    /// [`NotifyError::Missing`] without a host, sender or recipient, and
    /// [`NotifyError::Client`] if the TLS settings cannot be built for the host.
    pub fn build(self) -> Result<EmailNotifier, NotifyError> {
        if self.host.trim().is_empty() {
            return Err(NotifyError::Missing { field: "host" });
        }
        if self.timeout.is_zero() {
            return Err(NotifyError::Zero { field: "timeout" });
        }
        let from = mailbox("from", self.from.as_deref().unwrap_or_default())?;
        if self.to.is_empty() {
            return Err(NotifyError::Missing { field: "to" });
        }
        let to = self
            .to
            .iter()
            .map(|m| mailbox("to", m))
            .collect::<Result<Vec<_>, _>>()?;
        let tls_params = || {
            TlsParameters::new(self.host.clone()).map_err(|e| NotifyError::Client {
                reason: e.to_string(),
            })
        };
        let (tls, default_port) = match self.security {
            SmtpSecurity::StartTls => (Tls::Required(tls_params()?), 587),
            SmtpSecurity::Tls => (Tls::Wrapper(tls_params()?), 465),
            SmtpSecurity::None => (Tls::None, 25),
        };
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port.unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(self.timeout));
        if let Some((user, password)) = self.credentials {
            transport = transport.credentials(Credentials::new(user, password));
        }
        Ok(EmailNotifier {
            builder: transport,
            transport: OnceLock::new(),
            from,
            to,
            html: self.html,
            server: format!("{}:{}", self.host, self.port.unwrap_or(default_port)),
        })
    }
}

fn mailbox(field: &'static str, value: &str) -> Result<Mailbox, NotifyError> {
    if value.trim().is_empty() {
        return Err(NotifyError::Missing { field });
    }
    value
        .parse::<Mailbox>()
        .map_err(|e| NotifyError::InvalidAddress {
            field,
            value: value.to_owned(),
            reason: e.to_string(),
        })
}

/// Mails each notification: the subject line, a plain-text body with breaker, transition,
/// reason, window numbers, time and host, and an HTML alternative.
///
/// ```
/// use breakerbox::notify::{EmailNotifier, SmtpSecurity};
///
/// let local = EmailNotifier::builder("127.0.0.1")
///     .port(2525)
///     .security(SmtpSecurity::None)
///     .from("breakerbox@example.com")
///     .to("oncall@example.com")
///     .build()?;
/// let bad = EmailNotifier::builder("smtp.example.com").from("not an address").to("a@b.c").build();
/// assert!(bad.is_err());
/// # let _ = local;
/// # Ok::<(), breakerbox::notify::NotifyError>(())
/// ```
pub struct EmailNotifier {
    builder: AsyncSmtpTransportBuilder,
    transport: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    to: Vec<Mailbox>,
    html: bool,
    server: String,
}

impl fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .field("to", &self.to.len())
            .finish_non_exhaustive()
    }
}

impl EmailNotifier {
    /// A builder for the SMTP server at `host`.
    pub fn builder(host: impl Into<String>) -> EmailBuilder {
        EmailBuilder {
            host: host.into(),
            port: None,
            security: SmtpSecurity::StartTls,
            credentials: None,
            from: None,
            to: Vec::new(),
            timeout: Duration::from_secs(10),
            html: true,
        }
    }

    /// The message sent for `n`.
    ///
    /// # Errors
    /// [`DeliveryError::Rejected`] if lettre cannot build the message.
    pub fn message(&self, n: &Notification) -> Result<Message, DeliveryError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(n.subject());
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let text = n.text();
        let built = if self.html {
            builder.multipart(MultiPart::alternative_plain_html(
                text.clone(),
                html(n, &text),
            ))
        } else {
            builder.singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(text),
            )
        };
        built.map_err(|e| DeliveryError::Rejected(e.to_string()))
    }
}

impl Notifier for EmailNotifier {
    fn channel(&self) -> &str {
        "email"
    }

    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let message = self.message(n)?;
            // Built here, inside the runtime: lettre's pool spawns a task.
            let transport = self.transport.get_or_init(|| self.builder.clone().build());
            transport.send(message).await.map(drop).map_err(smtp_error)
        })
    }
}

fn smtp_error(e: SmtpError) -> DeliveryError {
    if e.is_permanent() {
        DeliveryError::Rejected(e.to_string())
    } else {
        DeliveryError::Transport(crate::error_chain::Chain(&e).to_string())
    }
}

fn html(n: &Notification, text: &str) -> String {
    let color = match n.kind {
        Kind::Opened => "#c62828",
        Kind::Recovered => "#2e7d32",
        Kind::Flapping { .. } => "#ef6c00",
        Kind::Changed => "#f9a825",
    };
    format!(
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif\">\
         <h2 style=\"border-left:6px solid {color};padding-left:8px\">{}</h2>\
         <pre style=\"font-size:13px\">{}</pre></body></html>",
        escape(&n.summary()),
        escape(text)
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_addresses_are_config_errors() {
        let base = || {
            EmailNotifier::builder("127.0.0.1")
                .security(SmtpSecurity::None)
                .from("a@example.com")
        };
        let err = base().to("nope").build().unwrap_err();
        assert!(
            matches!(err, NotifyError::InvalidAddress { field: "to", .. }),
            "{err}"
        );
        let err = base().build().unwrap_err();
        assert_eq!(err, NotifyError::Missing { field: "to" });
        let err = EmailNotifier::builder("")
            .from("a@example.com")
            .to("b@example.com")
            .build()
            .unwrap_err();
        assert_eq!(err, NotifyError::Missing { field: "host" });
        assert!(base().to("Ops <ops@example.com>").build().is_ok());
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
