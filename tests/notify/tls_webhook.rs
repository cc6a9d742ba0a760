//! Webhooks over real TLS: an HTTPS receiver (Python's `ssl`) with certificates from a test
//! CA. Delivered when the CA is trusted; refused, counted and logged with the cause when
//! it is not, when the certificate expired or names another host, and when mutual TLS
//! lacks the client certificate. A TLS refusal is not retried (one handshake per notice).
#![cfg(all(
    feature = "notify-webhook",
    feature = "notify-email",
    feature = "metrics",
    feature = "tracing"
))]

use std::time::Duration;

use breakerbox::notify::{ChannelStats, WebhookBuilder, WebhookNotifier};

use crate::support::eventually::eventually;
use crate::tls_support::{Observed, Pki, TlsServer, observed, open_and_recover, wait_received};

/// Delivers an open and a recovery through `hook` to `server`, recording metrics and logs.
fn run(pki: &Pki, cert: &str, mutual: bool, hook: impl Fn(String) -> WebhookBuilder) -> Run {
    let ((stats, received, handshakes), seen) = observed(async {
        let server = TlsServer::https(pki, cert, mutual).await;
        let notifier = hook(server.url("127.0.0.1")).build().unwrap();
        let stats = open_and_recover(notifier).await;
        let received = if stats.sent > 0 {
            wait_received(&server, stats.sent as usize).await
        } else {
            Vec::new()
        };
        let handshakes = if stats.failed > 0 {
            failed_handshakes(&server, stats.failed as usize).await
        } else {
            0
        };
        (stats, received, handshakes)
    });
    Run {
        stats,
        received,
        handshakes,
        seen,
    }
}

struct Run {
    stats: ChannelStats,
    received: Vec<serde_json::Value>,
    /// Handshakes the server saw fail.
    handshakes: usize,
    seen: Observed,
}

impl Run {
    /// Both notices refused for `cause`: counted under it, logged once, one handshake each.
    fn assert_refused(&self, cause: &str) {
        assert_eq!(
            (self.stats.sent, self.stats.failed),
            (0, 2),
            "{:?}",
            self.stats
        );
        assert!(self.received.is_empty());
        assert_eq!(
            self.seen.tls_errors,
            vec![("webhook".to_owned(), cause.to_owned(), 2)],
            "{}",
            self.seen.logs
        );
        let lines = self.seen.tls_log_lines();
        assert_eq!(
            lines.len(),
            1,
            "once per channel and cause: {}",
            self.seen.logs
        );
        assert!(lines[0].contains("WARN"), "{}", lines[0]);
        assert!(
            lines[0].contains(&format!("tls_cause=\"{cause}\"")),
            "{}",
            lines[0]
        );
        assert_eq!(self.handshakes, 2, "not retried: one handshake per notice");
    }

    fn assert_delivered(&self) {
        assert_eq!(
            (self.stats.sent, self.stats.failed),
            (2, 0),
            "{:?}",
            self.stats
        );
        let kinds: Vec<&str> = self
            .received
            .iter()
            .map(|r| r["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["opened", "recovered"]);
        assert!(self.seen.tls_errors.is_empty());
    }
}

/// Waits until the server logged at least `n` failed handshakes; returns how many.
async fn failed_handshakes(server: &TlsServer, n: usize) -> usize {
    eventually("failed handshakes", Duration::from_secs(10), || {
        let seen = server.failed_handshakes();
        std::future::ready((seen >= n).then_some(seen))
    })
    .await
}

#[test]
fn https_webhook_is_delivered_when_its_ca_is_added_with_root_certificate() {
    let pki = Pki::new();
    run(&pki, "server", false, |url| {
        WebhookNotifier::builder(url).root_certificate(pki.ca())
    })
    .assert_delivered();
}

#[test]
fn https_webhook_signed_by_a_ca_outside_the_system_store_is_refused_as_unknown_issuer() {
    let pki = Pki::new();
    run(&pki, "server", false, WebhookNotifier::builder).assert_refused("unknown_issuer");
}

#[test]
fn https_webhook_from_another_ca_than_the_added_one_is_refused_as_unknown_issuer() {
    let pki = Pki::new();
    run(&pki, "rogue", false, |url| {
        WebhookNotifier::builder(url).root_certificate(pki.ca())
    })
    .assert_refused("unknown_issuer");
}

#[test]
fn https_webhook_with_an_expired_certificate_is_refused_as_expired() {
    let pki = Pki::new();
    run(&pki, "expired", false, |url| {
        WebhookNotifier::builder(url).root_certificate(pki.ca())
    })
    .assert_refused("expired");
}

#[test]
fn https_webhook_whose_certificate_names_another_host_is_refused_as_name_mismatch() {
    let pki = Pki::new();
    run(&pki, "other-name", false, |url| {
        WebhookNotifier::builder(url).root_certificate(pki.ca())
    })
    .assert_refused("name_mismatch");
}

#[test]
fn mutual_tls_webhook_is_delivered_with_the_client_certificate() {
    let pki = Pki::new();
    run(&pki, "server", true, |url| {
        WebhookNotifier::builder(url)
            .root_certificate(pki.ca())
            .client_identity(pki.pem("client.pem"), pki.pem("client.key"))
    })
    .assert_delivered();
}

#[test]
fn mutual_tls_webhook_without_a_client_certificate_is_refused_as_client_certificate() {
    let pki = Pki::new();
    run(&pki, "server", true, |url| {
        WebhookNotifier::builder(url).root_certificate(pki.ca())
    })
    .assert_refused("client_certificate");
}

#[test]
fn certificates_that_are_not_pem_are_config_errors() {
    use breakerbox::notify::NotifyError;
    let err = WebhookNotifier::builder("https://127.0.0.1:1/")
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
    let pki = Pki::new();
    let err = WebhookNotifier::builder("https://127.0.0.1:1/")
        .client_identity(pki.pem("client.pem"), "no key here")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            NotifyError::InvalidCertificate {
                field: "client_identity",
                ..
            }
        ),
        "{err}"
    );
}

/// Ten outages in a row while one channel's server presents a certificate nobody trusts:
/// that channel fails each notice at once (one handshake each, nothing retried), the
/// queue and the other channel never wait for it, and every channel's count adds up.
#[test]
fn a_channel_refused_by_tls_holds_up_neither_the_queue_nor_the_other_channels() {
    use breakerbox::notify::{Dispatcher, FlapPolicy, RetryPolicy};
    use breakerbox::{CircuitBreaker, Config};

    use crate::support::receiver::{Answer, Receiver};

    const OUTAGES: u64 = 10;
    let pki = Pki::new();
    let ((stats, accepted, handshakes), seen) = observed(async {
        let server = TlsServer::https(&pki, "rogue", false).await;
        let rx = Receiver::start(Answer::Ok).await;
        let refused = WebhookNotifier::builder(server.url("127.0.0.1"))
            .root_certificate(pki.ca())
            .build()
            .unwrap();
        let good = WebhookNotifier::builder(rx.url("/hook"))
            .channel_name("good")
            .build()
            .unwrap();
        let dispatcher = Dispatcher::builder()
            .channel(refused)
            .channel(good)
            .retry(RetryPolicy::new().attempts(4))
            .flapping(FlapPolicy::disabled())
            .build()
            .unwrap();
        let config = Config::builder().failure_threshold(1).build().unwrap();
        let b = CircuitBreaker::builder("postgres")
            .config(config)
            .build()
            .unwrap();
        b.subscribe(dispatcher.listener());
        for _ in 0..OUTAGES {
            let _ = b.call_sync(|| Err::<(), _>("connection refused"));
            b.reset();
        }
        let stats = dispatcher.shutdown(Duration::from_secs(60)).await;
        let handshakes = failed_handshakes(&server, (2 * OUTAGES) as usize).await;
        (stats, rx.accepted().len(), handshakes)
    });
    for c in &stats.channels {
        assert_eq!(c.sent + c.failed + c.dropped, c.queued, "{c:?}");
        assert_eq!((c.queued, c.dropped), (2 * OUTAGES, 0), "{c:?}");
    }
    assert_eq!(stats.channels[0].failed, 2 * OUTAGES);
    assert_eq!(stats.channels[1].sent, 2 * OUTAGES);
    assert_eq!(accepted as u64, 2 * OUTAGES);
    assert_eq!(handshakes as u64, 2 * OUTAGES, "not retried");
    assert_eq!(
        seen.tls_errors,
        vec![(
            "webhook".to_owned(),
            "unknown_issuer".to_owned(),
            2 * OUTAGES
        )]
    );
    assert_eq!(seen.tls_log_lines().len(), 1, "{}", seen.logs);
}
