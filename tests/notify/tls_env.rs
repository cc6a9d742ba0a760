//! What the channels read from the environment: the system's certificate store (on Linux,
//! `SSL_CERT_FILE` points rustls-native-certs, under rustls-platform-verifier, at a bundle)
//! and the proxy variables (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`), with a real tinyproxy
//! on loopback whose access log shows what went through it.
//!
//! The environment of a process is shared by its threads, so the environment cases run this
//! test binary again as a child process with the variables set, running one `#[ignore]`d
//! test, [`child_delivers_an_open_and_a_recovery`], which the parent asserts passed.
#![cfg(all(
    feature = "notify-webhook",
    feature = "notify-email",
    feature = "metrics",
    feature = "tracing"
))]

use std::time::Duration;

use breakerbox::notify::{EmailNotifier, SmtpSecurity, WebhookNotifier};

use crate::support::receiver::{Answer, Receiver};
use crate::tls_support::{Pki, Tinyproxy, TlsServer, observed, open_and_recover, wait_received};

/// The child's channel: a webhook URL, or the port of an SMTP server requiring STARTTLS.
const WEBHOOK_URL: &str = "BREAKERBOX_TEST_WEBHOOK_URL";
const STARTTLS_PORT: &str = "BREAKERBOX_TEST_STARTTLS_PORT";
/// When set, the child's webhook names this proxy with `.proxy(..)`.
const PROXY_OPTION: &str = "BREAKERBOX_TEST_PROXY_OPTION";
/// Every variable the child may read: cleared, then set as each case says.
const CLEARED: [&str; 10] = [
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Run only as a child of the tests below, with the environment they set: a channel built
/// with no TLS option (and no proxy option unless [`PROXY_OPTION`] says) delivers both
/// notices.
#[test]
#[ignore = "run by the tls_env tests in a child process with the environment they set"]
fn child_delivers_an_open_and_a_recovery() {
    let webhook = std::env::var(WEBHOOK_URL).ok();
    let starttls = std::env::var(STARTTLS_PORT).ok();
    let proxy = std::env::var(PROXY_OPTION).ok();
    let (stats, _) = observed(async {
        match (webhook, starttls) {
            (Some(url), _) => {
                let mut hook = WebhookNotifier::builder(url);
                if let Some(proxy) = proxy {
                    hook = hook.proxy(proxy);
                }
                open_and_recover(hook.build().unwrap()).await
            }
            (None, Some(port)) => {
                let email = EmailNotifier::builder("127.0.0.1")
                    .port(port.parse().unwrap())
                    .security(SmtpSecurity::StartTls)
                    .from("breakerbox@example.com")
                    .to("oncall@example.com")
                    .build()
                    .unwrap();
                open_and_recover(email).await
            }
            (None, None) => panic!("{WEBHOOK_URL} or {STARTTLS_PORT} must be set"),
        }
    });
    assert_eq!((stats.sent, stats.failed), (2, 0), "{stats:?}");
}

/// Runs [`child_delivers_an_open_and_a_recovery`] in a child process with `env` and
/// asserts it passed.
async fn child(env: &[(&str, String)]) {
    let mut cmd = tokio::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "tls_env::child_delivers_an_open_and_a_recovery",
        "--exact",
        "--ignored",
        "--test-threads=1",
    ]);
    for name in CLEARED {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("the child finished")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child with {env:?}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_webhook_trusts_a_ca_in_the_system_store() {
    let pki = Pki::new();
    let server = TlsServer::https(&pki, "server", false).await;
    let ca = pki.path("ca.pem").display().to_string();
    child(&[
        (WEBHOOK_URL, server.url("127.0.0.1")),
        ("SSL_CERT_FILE", ca),
    ])
    .await;
    assert_eq!(wait_received(&server, 2).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_email_trusts_a_ca_in_the_system_store() {
    let pki = Pki::new();
    let server = TlsServer::smtp_starttls(&pki, "server").await;
    let ca = pki.path("ca.pem").display().to_string();
    child(&[
        (STARTTLS_PORT, server.port.to_string()),
        ("SSL_CERT_FILE", ca),
    ])
    .await;
    let received = wait_received(&server, 2).await;
    assert!(received.iter().all(|m| m["tls"] == true), "{received:?}");
}

/// tinyproxy's access-log lines naming `target` (a `POST http://...` forward or a
/// `CONNECT host:port` tunnel).
fn proxied(proxy: &Tinyproxy, target: &str) -> usize {
    proxy
        .log()
        .lines()
        .filter(|l| l.contains("Request") && l.contains(target))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_goes_through_the_proxy_in_http_proxy() {
    let proxy = Tinyproxy::start();
    let rx = Receiver::start(Answer::Ok).await;
    let url = rx.url("/hook");
    child(&[(WEBHOOK_URL, url.clone()), ("HTTP_PROXY", proxy.url())]).await;
    assert_eq!(rx.accepted().len(), 2);
    assert_eq!(
        proxied(&proxy, &format!("POST {url}")),
        2,
        "{}",
        proxy.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_to_a_host_in_no_proxy_bypasses_the_proxy() {
    let proxy = Tinyproxy::start();
    let rx = Receiver::start(Answer::Ok).await;
    let url = rx.url("/hook");
    child(&[
        (WEBHOOK_URL, url.clone()),
        ("HTTP_PROXY", proxy.url()),
        ("NO_PROXY", "127.0.0.1".to_owned()),
    ])
    .await;
    assert_eq!(rx.accepted().len(), 2);
    assert_eq!(proxied(&proxy, "127.0.0.1"), 0, "{}", proxy.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_with_the_proxy_option_goes_direct_to_a_host_in_no_proxy() {
    let proxy = Tinyproxy::start();
    let rx = Receiver::start(Answer::Ok).await;
    let url = rx.url("/hook");
    child(&[
        (WEBHOOK_URL, url.clone()),
        (PROXY_OPTION, proxy.url()),
        ("NO_PROXY", "127.0.0.1".to_owned()),
    ])
    .await;
    assert_eq!(rx.accepted().len(), 2);
    assert_eq!(proxied(&proxy, "127.0.0.1"), 0, "{}", proxy.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_webhook_tunnels_through_the_proxy_in_https_proxy() {
    let proxy = Tinyproxy::start();
    let pki = Pki::new();
    let server = TlsServer::https(&pki, "server", false).await;
    let ca = pki.path("ca.pem").display().to_string();
    child(&[
        (WEBHOOK_URL, server.url("127.0.0.1")),
        ("HTTPS_PROXY", proxy.url()),
        ("SSL_CERT_FILE", ca),
    ])
    .await;
    assert_eq!(wait_received(&server, 2).await.len(), 2);
    let tunnel = format!("CONNECT 127.0.0.1:{}", server.port);
    assert!(proxied(&proxy, &tunnel) >= 1, "{}", proxy.log());
}

#[test]
fn webhook_goes_through_the_proxy_option_and_direct_with_no_proxy() {
    let proxy = Tinyproxy::start();
    let ((via_option, direct, url), _) = observed(async {
        let rx = Receiver::start(Answer::Ok).await;
        let url = rx.url("/hook");
        let hook = WebhookNotifier::builder(url.clone()).proxy(proxy.url());
        let via_option = open_and_recover(hook.build().unwrap()).await;
        let direct = WebhookNotifier::builder(url.clone())
            .proxy(proxy.url())
            .no_proxy();
        let direct = open_and_recover(direct.build().unwrap()).await;
        assert_eq!(rx.accepted().len(), 4);
        (via_option, direct, url)
    });
    assert_eq!((via_option.sent, direct.sent), (2, 2));
    assert_eq!(
        proxied(&proxy, &format!("POST {url}")),
        2,
        "{}",
        proxy.log()
    );
}
