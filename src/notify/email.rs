//! The email channel: SMTP through lettre, with STARTTLS, implicit TLS, or plain text for
//! local relays, and optional authentication. The server's certificate is checked against
//! the system's certificate store and the CAs given to the builder.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, Error as SmtpError};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::message::Kind;
use super::{BoxFuture, DeliveryError, Notification, Notifier, NotifyError, TlsCause};

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
    roots: Vec<Vec<u8>>,
}

impl fmt::Debug for EmailBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailBuilder")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("roots", &self.roots.len())
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

    /// Trusts the CA certificates in `pem` (one or more `BEGIN CERTIFICATE` blocks, e.g. the
    /// company CA that signed the relay's certificate) besides the system's certificate
    /// store, which is always trusted. Checked at [`build`](Self::build).
    pub fn root_certificate(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.roots.push(pem.as_ref().to_vec());
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
    /// [`NotifyError::Missing`] without a host, sender or recipient,
    /// [`NotifyError::InvalidCertificate`] for a root certificate that is not PEM, and
    /// [`NotifyError::Client`] if the TLS settings cannot be built for the host (e.g. no CA
    /// certificate at all: an empty system store and no root certificate).
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
        let tls_params = || tls_parameters(&self.host, &self.roots);
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

/// TLS for `host`: the system's store (rustls-platform-verifier) plus `roots`.
fn tls_parameters(host: &str, roots: &[Vec<u8>]) -> Result<TlsParameters, NotifyError> {
    let mut builder = TlsParameters::builder(host.to_owned());
    for pem in roots {
        let invalid = |reason: String| NotifyError::InvalidCertificate {
            field: "root_certificate",
            reason,
        };
        let cert = Certificate::from_pem(pem).map_err(|e| invalid(e.to_string()))?;
        if !String::from_utf8_lossy(pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(invalid("no certificate in the PEM text".to_owned()));
        }
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| NotifyError::Client {
        reason: crate::error_chain::Chain(&e).to_string(),
    })
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
            roots: Vec::new(),
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

/// lettre's message when STARTTLS is required and the server does not offer it (lettre has
/// no error kind for it; a test against a real server without STARTTLS holds it to this).
const NO_STARTTLS: &str = "STARTTLS is not supported";

fn smtp_error(e: SmtpError) -> DeliveryError {
    // lettre's message already ends with its source's.
    if let Some(tls) = super::tls::delivery_error(&e, || e.to_string()) {
        tls
    } else if e.is_client() && e.to_string().contains(NO_STARTTLS) {
        DeliveryError::Tls {
            cause: TlsCause::StartTlsUnsupported,
            detail: e.to_string(),
        }
    } else if e.is_permanent() {
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
