//! Email over real TLS: aiosmtpd requiring STARTTLS, and aiosmtpd speaking implicit TLS,
//! both with Python's `ssl` and certificates from a test CA. Delivered when the CA is
//! trusted; refused, counted and logged with the cause when it is not, when the certificate
//! names another host, and when STARTTLS is required of a server that does not offer it.
#![cfg(all(
    feature = "notify-webhook",
    feature = "notify-email",
    feature = "metrics",
    feature = "tracing"
))]

use breakerbox::notify::{ChannelStats, EmailBuilder, EmailNotifier, SmtpSecurity};

use crate::support::smtp::SmtpServer;
use crate::tls_support::{Observed, Pki, TlsServer, observed, open_and_recover, wait_received};

fn email(port: u16, security: SmtpSecurity) -> EmailBuilder {
    EmailNotifier::builder("127.0.0.1")
        .port(port)
        .security(security)
        .from("breakerbox@example.com")
        .to("oncall@example.com")
}

/// Delivers an open and a recovery to an SMTP server with TLS (`starttls` or implicit).
fn run(
    pki: &Pki,
    cert: &str,
    security: SmtpSecurity,
    roots: &[String],
) -> (ChannelStats, Vec<serde_json::Value>, Observed) {
    let ((stats, received), seen) = observed(async {
        let server = match security {
            SmtpSecurity::Tls => TlsServer::smtp_tls(pki, cert).await,
            _ => TlsServer::smtp_starttls(pki, cert).await,
        };
        let mut builder = email(server.port, security);
        for root in roots {
            builder = builder.root_certificate(root);
        }
        let stats = open_and_recover(builder.build().unwrap()).await;
        let received = match stats.sent {
            0 => Vec::new(),
            n => wait_received(&server, n as usize).await,
        };
        (stats, received)
    });
    (stats, received, seen)
}

fn assert_delivered(stats: &ChannelStats, received: &[serde_json::Value], seen: &Observed) {
    assert_eq!(
        (stats.sent, stats.failed),
        (2, 0),
        "{stats:?}\n{}",
        seen.logs
    );
    let subjects: Vec<&str> = received
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert!(subjects[0].contains("postgres opened"), "{subjects:?}");
    assert!(subjects[1].contains("postgres recovered"), "{subjects:?}");
    assert!(received.iter().all(|m| m["tls"] == true), "{received:?}");
    assert!(seen.tls_errors.is_empty());
}

/// Both notices refused for `cause`: counted under it and logged once.
fn assert_refused(stats: &ChannelStats, seen: &Observed, cause: &str) {
    assert_eq!(
        (stats.sent, stats.failed),
        (0, 2),
        "{stats:?}\n{}",
        seen.logs
    );
    assert_eq!(
        seen.tls_errors,
        vec![("email".to_owned(), cause.to_owned(), 2)]
    );
    let lines = seen.tls_log_lines();
    assert_eq!(lines.len(), 1, "once per channel and cause: {}", seen.logs);
    assert!(
        lines[0].contains(&format!("tls_cause=\"{cause}\"")),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains(&format!("tls error ({cause})")),
        "{}",
        lines[0]
    );
}

#[test]
fn starttls_email_is_delivered_when_its_ca_is_added_with_root_certificate() {
    let pki = Pki::new();
    let (stats, received, seen) = run(&pki, "server", SmtpSecurity::StartTls, &[pki.ca()]);
    assert_delivered(&stats, &received, &seen);
}

#[test]
fn implicit_tls_email_is_delivered_when_its_ca_is_added_with_root_certificate() {
    let pki = Pki::new();
    let (stats, received, seen) = run(&pki, "server", SmtpSecurity::Tls, &[pki.ca()]);
    assert_delivered(&stats, &received, &seen);
}

#[test]
fn starttls_email_signed_by_a_ca_outside_the_system_store_is_refused_as_unknown_issuer() {
    let pki = Pki::new();
    let (stats, _, seen) = run(&pki, "server", SmtpSecurity::StartTls, &[]);
    assert_refused(&stats, &seen, "unknown_issuer");
}

#[test]
fn implicit_tls_email_from_another_ca_than_the_added_one_is_refused_as_unknown_issuer() {
    let pki = Pki::new();
    let (stats, _, seen) = run(&pki, "rogue", SmtpSecurity::Tls, &[pki.ca()]);
    assert_refused(&stats, &seen, "unknown_issuer");
}

#[test]
fn implicit_tls_email_whose_certificate_names_another_host_is_refused_as_name_mismatch() {
    let pki = Pki::new();
    let (stats, _, seen) = run(&pki, "other-name", SmtpSecurity::Tls, &[pki.ca()]);
    assert_refused(&stats, &seen, "name_mismatch");
}

#[test]
fn starttls_email_with_an_expired_certificate_is_refused_as_expired() {
    let pki = Pki::new();
    let (stats, _, seen) = run(&pki, "expired", SmtpSecurity::StartTls, &[pki.ca()]);
    assert_refused(&stats, &seen, "expired");
}

#[test]
fn required_starttls_on_a_server_that_does_not_offer_it_is_refused_not_retried() {
    let ((stats, received), seen) = observed(async {
        let plain = SmtpServer::start(None).await;
        let stats =
            open_and_recover(email(plain.port, SmtpSecurity::StartTls).build().unwrap()).await;
        (stats, plain.messages())
    });
    assert!(received.is_empty(), "nothing sent in clear: {received:?}");
    assert_refused(&stats, &seen, "starttls_unsupported");
}

#[test]
fn a_root_certificate_that_is_not_pem_is_a_config_error() {
    use breakerbox::notify::NotifyError;
    let err = email(25, SmtpSecurity::StartTls)
        .root_certificate("not a certificate")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            NotifyError::InvalidCertificate {
                field: "root_certificate",
                ..
            }
        ),
        "{err}"
    );
}
