//! Email notifications delivered to a real SMTP server (aiosmtpd) and read back.
#![cfg(feature = "notify-email")]

use std::time::Duration;

use crate::support::notify::email_to_dead_server;
use crate::support::smtp::SmtpServer;
use breakerbox::notify::{Dispatcher, EmailNotifier, FlapPolicy, RetryPolicy, SmtpSecurity};
use breakerbox::{CircuitBreaker, Config};

fn fast_retry() -> RetryPolicy {
    RetryPolicy::new()
        .attempts(3)
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .timeout(Duration::from_secs(5))
}

fn breaker() -> CircuitBreaker {
    let config = Config::builder().failure_threshold(2).build().unwrap();
    CircuitBreaker::builder("postgres")
        .config(config)
        .build()
        .unwrap()
}

fn trip(b: &CircuitBreaker) {
    for _ in 0..2 {
        let _ = b.call_sync(|| Err::<(), _>("connection refused"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_and_recovery_emails_reach_a_real_smtp_server() {
    let smtp = SmtpServer::start(None).await;
    let email = EmailNotifier::builder("127.0.0.1")
        .port(smtp.port)
        .security(SmtpSecurity::None)
        .from("Breakerbox <breakerbox@example.com>")
        .to("oncall@example.com")
        .to("Database Team <db@example.com>")
        .build()
        .unwrap();
    let dispatcher = Dispatcher::builder()
        .channel(email)
        .retry(fast_retry())
        .flapping(FlapPolicy::disabled())
        .host("web-1")
        .build()
        .unwrap();
    let b = breaker();
    b.subscribe(dispatcher.listener());

    trip(&b);
    let opened = smtp.wait_messages(1, Duration::from_secs(10)).await;
    let m = &opened[0];
    assert_eq!(
        m["subject"],
        "[breakerbox] postgres opened: 2 consecutive failures"
    );
    assert_eq!(m["mail_from"], "breakerbox@example.com");
    assert_eq!(
        m["rcpt_tos"],
        serde_json::json!(["oncall@example.com", "db@example.com"])
    );
    let text = m["text"].as_str().unwrap();
    for needle in [
        "Breaker:              postgres",
        "Event:                opened",
        "Transition:           closed -> open",
        "Reason:               consecutive_failures",
        "Window:               2 calls, 2 failures, 0 slow",
        "Consecutive failures: 2",
        "Open for:             30s",
        "Host:                 web-1",
        "At:                   20",
    ] {
        assert!(text.contains(needle), "{needle:?} missing in\n{text}");
    }
    let html = m["html"].as_str().unwrap();
    assert!(html.contains("postgres opened"), "{html}");

    b.reset();
    let both = smtp.wait_messages(2, Duration::from_secs(10)).await;
    let subject = both[1]["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("[breakerbox] postgres recovered after"),
        "{subject}"
    );
    let text = both[1]["text"].as_str().unwrap();
    assert!(
        text.contains("Transition:           open -> closed"),
        "{text}"
    );
    assert!(text.contains("Incident since:"), "{text}");

    let stats = dispatcher.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats.channels[0].sent, 2);
    assert_eq!(stats.channels[0].failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_delivery_works_and_a_wrong_password_is_a_counted_failure() {
    let smtp = SmtpServer::start(Some(("alerts", "s3cret"))).await;
    let notifier = |password: &str| {
        EmailNotifier::builder("127.0.0.1")
            .port(smtp.port)
            .security(SmtpSecurity::None)
            .credentials("alerts", password)
            .from("breakerbox@example.com")
            .to("oncall@example.com")
            .build()
            .unwrap()
    };
    let dispatcher = Dispatcher::builder()
        .channel(notifier("s3cret"))
        .retry(fast_retry())
        .build()
        .unwrap();
    let b = breaker();
    b.subscribe(dispatcher.listener());
    b.force_open();
    let messages = smtp.wait_messages(1, Duration::from_secs(10)).await;
    assert_eq!(messages[0]["authenticated"], true);
    assert_eq!(messages[0]["subject"], "[breakerbox] postgres forced open");
    let stats = dispatcher.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats.channels[0].sent, 1);

    // aiosmtpd leaves a rejected login hanging: the attempt timeout ends it.
    let wrong = Dispatcher::builder()
        .channel(notifier("wrong"))
        .retry(fast_retry().attempts(2).timeout(Duration::from_millis(500)))
        .build()
        .unwrap();
    let b = breaker();
    b.subscribe(wrong.listener());
    b.force_open();
    let stats = wrong.shutdown(Duration::from_secs(10)).await;
    assert_eq!((stats.channels[0].sent, stats.channels[0].failed), (0, 1));
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_smtp_server_is_retried_and_counted_without_blocking_calls() {
    let email = email_to_dead_server();
    let dispatcher = Dispatcher::builder()
        .channel(email)
        .retry(fast_retry())
        .build()
        .unwrap();
    let b = breaker();
    b.subscribe(dispatcher.listener());
    trip(&b);
    // That the call does not wait for the dead server is proven without timing in
    // tests/notify_stress.rs; here the failure is retried and counted.
    let stats = dispatcher.shutdown(Duration::from_secs(10)).await;
    let email = &stats.channels[0];
    assert_eq!((email.queued, email.sent, email.failed), (1, 0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_timeout_of_duration_max_is_accepted_and_delivers() {
    let smtp = SmtpServer::start(None).await;
    let email = EmailNotifier::builder("127.0.0.1")
        .port(smtp.port)
        .security(SmtpSecurity::None)
        .from("breakerbox@example.com")
        .to("oncall@example.com")
        .timeout(Duration::MAX)
        .build()
        .unwrap();
    let dispatcher = Dispatcher::builder()
        .channel(email)
        .retry(fast_retry().timeout(Duration::MAX))
        .flapping(FlapPolicy::disabled())
        .build()
        .unwrap();
    let b = breaker();
    b.subscribe(dispatcher.listener());
    trip(&b);
    smtp.wait_messages(1, Duration::from_secs(10)).await;
    let stats = dispatcher.shutdown(Duration::MAX).await;
    assert_eq!(stats.channels[0].sent, 1);
}
