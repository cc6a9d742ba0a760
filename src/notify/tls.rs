//! What a TLS failure was, read from the rustls error inside a client's error chain, so
//! that a delivery refused by TLS is a [`DeliveryError::Tls`] naming its cause instead of a
//! transport error retried to no avail.

use std::error::Error as StdError;

use rustls::{AlertDescription, CertificateError};

use super::{DeliveryError, TlsCause};

/// The [`DeliveryError::Tls`] for `e` if a rustls error is in its chain, else `None`;
/// `detail` tells `e` for the log (the error and its sources, as the client writes them).
pub(crate) fn delivery_error(
    e: &(dyn StdError + 'static),
    detail: impl FnOnce() -> String,
) -> Option<DeliveryError> {
    let cause = cause(e)?;
    Some(DeliveryError::Tls {
        cause,
        detail: detail(),
    })
}

/// The cause of the first rustls error in `e`'s chain.
///
/// An `io::Error` hides the error it wraps from `source()` (it returns that error's own
/// source), and clients wrap one `io::Error` in another: each `io::Error` of the chain is
/// opened with `get_ref`.
pub(crate) fn cause(e: &(dyn StdError + 'static)) -> Option<TlsCause> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(of_rustls(tls));
    }
    let inner = match e.downcast_ref::<std::io::Error>() {
        Some(io) => io.get_ref().map(|w| w as &(dyn StdError + 'static)),
        None => e.source(),
    };
    inner.and_then(cause)
}

fn of_rustls(e: &rustls::Error) -> TlsCause {
    match e {
        rustls::Error::InvalidCertificate(c) => of_certificate(c),
        rustls::Error::AlertReceived(alert) => of_alert(*alert),
        _ => TlsCause::Handshake,
    }
}

fn of_certificate(e: &CertificateError) -> TlsCause {
    match e {
        CertificateError::UnknownIssuer => TlsCause::UnknownIssuer,
        CertificateError::Expired
        | CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYet
        | CertificateError::NotValidYetContext { .. } => TlsCause::Expired,
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            TlsCause::NameMismatch
        }
        _ => TlsCause::InvalidCertificate,
    }
}

/// An alert from the server: the ones about certificates are about ours (the server
/// verified the client certificate, or wanted one).
fn of_alert(alert: AlertDescription) -> TlsCause {
    match alert {
        AlertDescription::CertificateRequired
        | AlertDescription::BadCertificate
        | AlertDescription::UnsupportedCertificate
        | AlertDescription::CertificateRevoked
        | AlertDescription::CertificateExpired
        | AlertDescription::CertificateUnknown
        | AlertDescription::UnknownCA
        | AlertDescription::AccessDenied => TlsCause::ClientCertificate,
        _ => TlsCause::Handshake,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }

    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    /// How hyper-rustls hands a handshake failure to reqwest: an `io::Error` around the
    /// `io::Error` of tokio-rustls around the rustls error.
    fn wrapped(e: rustls::Error) -> Outer {
        let tls = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        Outer(std::io::Error::other(tls))
    }

    #[test]
    fn a_rustls_error_inside_an_io_error_is_found() {
        let e = wrapped(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert_eq!(cause(&e), Some(TlsCause::UnknownIssuer));
        let d = delivery_error(&e, || crate::error_chain::Chain(&e).to_string()).unwrap();
        assert!(!d.is_retryable());
        assert!(d.to_string().contains("UnknownIssuer"), "{d}");
    }

    #[test]
    fn certificate_errors_and_alerts_map_to_causes() {
        let of = |e| cause(&wrapped(e));
        let cert = rustls::Error::InvalidCertificate;
        assert_eq!(of(cert(CertificateError::Expired)), Some(TlsCause::Expired));
        assert_eq!(
            of(cert(CertificateError::NotValidForName)),
            Some(TlsCause::NameMismatch)
        );
        assert_eq!(
            of(cert(CertificateError::BadSignature)),
            Some(TlsCause::InvalidCertificate)
        );
        assert_eq!(
            of(rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired
            )),
            Some(TlsCause::ClientCertificate)
        );
        assert_eq!(of(rustls::Error::DecryptError), Some(TlsCause::Handshake));
    }

    #[test]
    fn an_error_without_tls_in_its_chain_has_no_cause() {
        let e = Outer(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(cause(&e), None);
        assert_eq!(delivery_error(&e, String::new), None);
    }
}
