//! Alerts posted to a real Alertmanager serving TLS with its own `--web.config.file` and
//! requiring a client certificate from the test CA (mutual TLS): accepted with the CA and
//! the client certificate, refused and counted with the cause without either. The breaker
//! only opens: Alertmanager sends nothing for an alert resolved before its group wait.
#![cfg(all(
    feature = "notify-webhook",
    feature = "notify-email",
    feature = "metrics",
    feature = "tracing"
))]

use std::process::Command;
use std::time::Duration;

use breakerbox::notify::{AlertmanagerBuilder, AlertmanagerNotifier, ChannelStats};

use crate::support::eventually::wait_for_port;
use crate::support::process::{Server, free_port, write};
use crate::support::receiver::{Answer, Receiver};
use crate::tls_support::{Observed, Pki, observed, transitions};

/// Alertmanager on `https://127.0.0.1:PORT` with the PKI's server certificate, requiring
/// and verifying a client certificate, routing every alert to `webhook_url` at once.
async fn alertmanager_with_tls(pki: &Pki, webhook_url: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        "route:\n  receiver: test\n  group_by: [alertname, breaker]\n  group_wait: 100ms\n  \
         group_interval: 200ms\n  repeat_interval: 1h\nreceivers:\n  - name: test\n    \
         webhook_configs:\n      - url: \"{webhook_url}\"\n        send_resolved: true\n"
    );
    let web = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
        pki.path("server.pem").display(),
        pki.path("server.key").display(),
        pki.path("ca.pem").display(),
    );
    let cfg = write(dir.path(), "alertmanager.yml", &config);
    let web = write(dir.path(), "web.yml", &web);
    let mut cmd = Command::new("prometheus-alertmanager");
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--web.config.file={}", web.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=");
    let am = Server::spawn("alertmanager", port, dir, cmd);
    wait_for_port(port, Duration::from_secs(20)).await;
    am
}

/// An opening posted to Alertmanager over TLS by `notifier`; returns the
/// channel's counts, the alerts Alertmanager delivered to its webhook, and what was seen.
fn run(
    pki: &Pki,
    notifier: impl Fn(String) -> AlertmanagerBuilder,
) -> (ChannelStats, Vec<serde_json::Value>, Observed) {
    let ((stats, delivered), seen) = observed(async {
        let rx = Receiver::start(Answer::Ok).await;
        let am = alertmanager_with_tls(pki, &rx.url("/alertmanager")).await;
        let url = format!("https://127.0.0.1:{}", am.port);
        let stats = transitions(notifier(url).build().unwrap(), false).await;
        let delivered = if stats.sent > 0 {
            let got = rx.wait_accepted(1, Duration::from_secs(20)).await;
            got.iter().map(|r| r.json()).collect()
        } else {
            Vec::new()
        };
        (stats, delivered)
    });
    (stats, delivered, seen)
}

#[test]
fn alertmanager_over_mutual_tls_accepts_alerts_with_the_ca_and_client_certificate() {
    let pki = Pki::new();
    let (stats, delivered, seen) = run(&pki, |url| {
        AlertmanagerNotifier::builder(url)
            .root_certificate(pki.ca())
            .client_identity(pki.pem("client.pem"), pki.pem("client.key"))
    });
    assert_eq!(
        (stats.sent, stats.failed),
        (1, 0),
        "{stats:?}\n{}",
        seen.logs
    );
    let alert = &delivered[0]["alerts"][0];
    assert_eq!(alert["labels"]["breaker"], "postgres", "{delivered:?}");
    assert!(seen.tls_errors.is_empty());
}

#[test]
fn alertmanager_over_mutual_tls_refuses_a_client_without_a_certificate() {
    let pki = Pki::new();
    let (stats, _, seen) = run(&pki, |url| {
        AlertmanagerNotifier::builder(url).root_certificate(pki.ca())
    });
    assert_eq!((stats.sent, stats.failed), (0, 1), "{stats:?}");
    assert_eq!(
        seen.tls_errors,
        vec![(
            "alertmanager".to_owned(),
            "client_certificate".to_owned(),
            1
        )]
    );
    assert_eq!(seen.tls_log_lines().len(), 1, "{}", seen.logs);
}

#[test]
fn alertmanager_with_a_ca_outside_the_system_store_is_refused_as_unknown_issuer() {
    let pki = Pki::new();
    let (stats, _, seen) = run(&pki, |url| {
        AlertmanagerNotifier::builder(url)
            .client_identity(pki.pem("client.pem"), pki.pem("client.key"))
    });
    assert_eq!((stats.sent, stats.failed), (0, 1), "{stats:?}");
    assert_eq!(
        seen.tls_errors,
        vec![("alertmanager".to_owned(), "unknown_issuer".to_owned(), 1)]
    );
}
