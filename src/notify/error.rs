//! Errors of the notifier: invalid configuration at construction ([`NotifyError`]) and a
//! failed delivery attempt ([`DeliveryError`]).

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// An invalid notifier or dispatcher configuration, found at construction. Nothing in the
/// notifier panics on user input; an unreachable server is a [`DeliveryError`] later, never
/// a `NotifyError`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotifyError {
    /// A URL that does not parse, or whose scheme is not `http` or `https`.
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// An email address (or `Name <address>` mailbox) that does not parse.
    InvalidAddress {
        /// The field, e.g. `"from"` or `"to"`.
        field: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// An HTTP header name or value that is not valid.
    InvalidHeader {
        /// The header name given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// An Alertmanager label name outside `[a-zA-Z_][a-zA-Z0-9_]*`, or one the notifier
    /// sets itself (`alertname`, `breaker`).
    InvalidLabel {
        /// The label name given.
        name: String,
    },
    /// A required field was not set or is empty (no recipients, no URL, an empty host).
    Missing {
        /// The field, e.g. `"to"`.
        field: &'static str,
    },
    /// A count or duration that must be positive was zero.
    Zero {
        /// The field, e.g. `"queue_capacity"`.
        field: &'static str,
    },
    /// A value outside its accepted range.
    OutOfRange {
        /// The field, e.g. `"jitter"`.
        field: &'static str,
        /// The accepted range, in words.
        expected: &'static str,
    },
    /// The dispatcher was built outside a Tokio runtime, so it cannot start its tasks.
    NoRuntime,
    /// The HTTP client or the TLS settings could not be built.
    Client {
        /// What failed, as the underlying library put it.
        reason: String,
    },
    /// A CA certificate or a client certificate and key that is not valid PEM.
    InvalidCertificate {
        /// The setting, e.g. `"root_certificate"` or `"client_identity"`.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyError::InvalidUrl { url, reason } => write!(f, "invalid url {url:?}: {reason}"),
            NotifyError::InvalidAddress {
                field,
                value,
                reason,
            } => write!(f, "invalid email address in {field} ({value:?}): {reason}"),
            NotifyError::InvalidHeader { name, reason } => {
                write!(f, "invalid header {name:?}: {reason}")
            }
            NotifyError::InvalidLabel { name } => write!(f, "invalid label name {name:?}"),
            NotifyError::Missing { field } => write!(f, "{field} is required"),
            NotifyError::Zero { field } => write!(f, "{field} must be greater than zero"),
            NotifyError::OutOfRange { field, expected } => {
                write!(f, "{field} is out of range: expected {expected}")
            }
            NotifyError::NoRuntime => {
                f.write_str("the notification dispatcher must be built inside a tokio runtime")
            }
            NotifyError::Client { reason } => write!(f, "cannot build the client: {reason}"),
            NotifyError::InvalidCertificate { field, reason } => {
                write!(f, "invalid certificate in {field}: {reason}")
            }
        }
    }
}

impl StdError for NotifyError {}

/// Why one delivery attempt failed. The dispatcher retries the retryable ones (see
/// [`DeliveryError::is_retryable`]) with backoff, then counts a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The attempt did not finish within the delivery timeout.
    Timeout(Duration),
    /// The server answered with an HTTP status other than 2xx.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The start of the response body, for the log.
        body: String,
    },
    /// The connection failed or broke (refused, reset, DNS, TLS): worth retrying.
    Transport(String),
    /// The server refused the message for good (an SMTP 5xx reply, a malformed message):
    /// retrying would not help.
    Rejected(String),
    /// The TLS connection could not be set up: the server's certificate is not trusted,
    /// expired or for another name, the server refused the client certificate, or it does
    /// not offer STARTTLS. Not retried: only a change of configuration helps.
    Tls {
        /// What is wrong, for the log and the `cause` label.
        cause: TlsCause,
        /// The error as the TLS library put it.
        detail: String,
    },
}

/// Why a TLS connection to a notification server failed: the `cause` label of
/// `breakerbox_notification_tls_errors_total` and the log line of the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsCause {
    /// The server's certificate is not signed by a trusted CA: install the CA in the
    /// system's store or add it with the channel's `root_certificate`.
    UnknownIssuer,
    /// The server's certificate expired (or is not valid yet).
    Expired,
    /// The server's certificate is not valid for the host name in the URL or SMTP host.
    NameMismatch,
    /// Another problem with the server's certificate (bad signature, wrong purpose, ...).
    InvalidCertificate,
    /// The server refused the client certificate, or asked for one and got none.
    ClientCertificate,
    /// STARTTLS is required but the SMTP server does not offer it.
    StartTlsUnsupported,
    /// Any other TLS failure: a protocol error, a server that does not speak TLS, an alert.
    Handshake,
}

impl TlsCause {
    /// The label value: `unknown_issuer`, `expired`, `name_mismatch`,
    /// `invalid_certificate`, `client_certificate`, `starttls_unsupported` or `handshake`.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsCause::UnknownIssuer => "unknown_issuer",
            TlsCause::Expired => "expired",
            TlsCause::NameMismatch => "name_mismatch",
            TlsCause::InvalidCertificate => "invalid_certificate",
            TlsCause::ClientCertificate => "client_certificate",
            TlsCause::StartTlsUnsupported => "starttls_unsupported",
            TlsCause::Handshake => "handshake",
        }
    }
}

impl fmt::Display for TlsCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DeliveryError {
    /// Whether another attempt may succeed: timeouts, transport errors, HTTP 5xx, 408 and
    /// 429 are retried; other HTTP statuses and permanent rejections are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Timeout(_) | DeliveryError::Transport(_) => true,
            DeliveryError::Status { status, .. } => {
                *status >= 500 || *status == 408 || *status == 429
            }
            DeliveryError::Rejected(_) | DeliveryError::Tls { .. } => false,
        }
    }

    /// The TLS cause of a [`DeliveryError::Tls`], `None` for any other error.
    pub fn tls_cause(&self) -> Option<TlsCause> {
        match self {
            DeliveryError::Tls { cause, .. } => Some(*cause),
            _ => None,
        }
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliveryError::Timeout(d) => write!(f, "timed out after {d:?}"),
            DeliveryError::Status { status, body } if body.is_empty() => {
                write!(f, "server answered {status}")
            }
            DeliveryError::Status { status, body } => {
                write!(f, "server answered {status}: {body}")
            }
            DeliveryError::Transport(msg) => write!(f, "transport error: {msg}"),
            DeliveryError::Rejected(msg) => write!(f, "rejected: {msg}"),
            DeliveryError::Tls { cause, detail } => write!(f, "tls error ({cause}): {detail}"),
        }
    }
}

impl StdError for DeliveryError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses() {
        let status = |status| DeliveryError::Status {
            status,
            body: String::new(),
        };
        assert!(status(500).is_retryable());
        assert!(status(503).is_retryable());
        assert!(status(429).is_retryable());
        assert!(status(408).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(!status(404).is_retryable());
        assert!(DeliveryError::Timeout(Duration::from_secs(1)).is_retryable());
        assert!(!DeliveryError::Rejected("550".into()).is_retryable());
        let tls = DeliveryError::Tls {
            cause: TlsCause::UnknownIssuer,
            detail: "invalid peer certificate: UnknownIssuer".into(),
        };
        assert!(!tls.is_retryable());
        assert_eq!(tls.tls_cause(), Some(TlsCause::UnknownIssuer));
        assert_eq!(
            tls.to_string(),
            "tls error (unknown_issuer): invalid peer certificate: UnknownIssuer"
        );
    }

    #[test]
    fn messages_are_lowercase_without_period() {
        let errors: Vec<Box<dyn StdError + Send + Sync>> = vec![
            Box::new(NotifyError::Missing { field: "to" }),
            Box::new(NotifyError::NoRuntime),
            Box::new(DeliveryError::Transport("connection refused".into())),
        ];
        for e in errors {
            let s = e.to_string();
            assert!(!s.ends_with('.'), "{s}");
            assert!(s.chars().next().unwrap().is_lowercase(), "{s}");
        }
    }
}
