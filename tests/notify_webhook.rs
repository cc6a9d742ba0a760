//! Webhook notifications delivered to a real HTTP receiver: schema, signature, retries,
//! timeouts and Slack mode.
#![cfg(feature = "notify-webhook")]

#[path = "support/notify_servers.rs"]
mod notify_servers;

use std::time::{Duration, Instant};

use breakerbox::notify::{
    Dispatcher, FlapPolicy, NotifyError, RetryPolicy, SIGNATURE_HEADER, WebhookFormat,
    WebhookNotifier, WebhookPayload,
};
use breakerbox::{CircuitBreaker, Config, State};
use hmac::{Hmac, Mac};
use notify_servers::{Answer, Receiver, dead_port};
use sha2::Sha256;

fn fast_retry() -> RetryPolicy {
    RetryPolicy::new()
        .attempts(4)
        .backoff(Duration::from_millis(10), Duration::from_millis(40))
        .timeout(Duration::from_millis(300))
}

fn breaker() -> CircuitBreaker {
    let config = Config::builder().failure_threshold(3).build().unwrap();
    CircuitBreaker::builder("postgres")
        .config(config)
        .build()
        .unwrap()
}

fn trip(b: &CircuitBreaker) {
    for _ in 0..3 {
        let _ = b.call_sync(|| Err::<(), _>("connection refused"));
    }
    assert_eq!(b.state(), State::Open);
}

fn dispatcher(hook: WebhookNotifier) -> Dispatcher {
    Dispatcher::builder()
        .channel(hook)
        .retry(fast_retry())
        .flapping(FlapPolicy::disabled())
        .host("web-1")
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_json_reaches_the_receiver_and_verifies() {
    let rx = Receiver::start(Answer::Ok).await;
    let hook = WebhookNotifier::builder(rx.url("/hooks/breakers"))
        .secret("shared-secret")
        .header("X-Team", "payments")
        .build()
        .unwrap();
    let d = dispatcher(hook);
    let b = breaker();
    b.subscribe(d.listener());
    trip(&b);
    let got = rx.wait_accepted(1, Duration::from_secs(5)).await;
    let req = &got[0];
    assert_eq!(req.path, "/hooks/breakers");
    assert_eq!(req.headers["x-team"], "payments");
    assert_eq!(req.headers["content-type"], "application/json");

    // The signature is HMAC-SHA256 over the raw body, as a receiver would check it.
    let sig = req.headers[SIGNATURE_HEADER].to_str().unwrap();
    let hex_mac = sig.strip_prefix("sha256=").expect("sha256= prefix");
    let mut mac = Hmac::<Sha256>::new_from_slice(b"shared-secret").unwrap();
    mac.update(&req.body);
    mac.verify_slice(&hex::decode(hex_mac).unwrap())
        .expect("signature verifies");
    let mut tampered = Hmac::<Sha256>::new_from_slice(b"other-secret").unwrap();
    tampered.update(&req.body);
    assert!(
        tampered
            .verify_slice(&hex::decode(hex_mac).unwrap())
            .is_err()
    );

    let json = req.json();
    assert_eq!(json["version"], 1);
    assert_eq!(json["kind"], "opened");
    assert_eq!(json["breaker"], "postgres");
    assert_eq!(
        (&json["from"], &json["to"]),
        (&"closed".into(), &"open".into())
    );
    assert_eq!(json["reason"], "consecutive_failures");
    assert_eq!(json["firing"], true);
    assert_eq!(json["host"], "web-1");
    assert_eq!(json["window"]["calls"], 3);
    assert_eq!(json["window"]["failures"], 3);
    assert_eq!(json["window"]["consecutive_failures"], 3);
    assert_eq!(json["open_for_ms"], 30_000);
    let payload: WebhookPayload = serde_json::from_value(json).unwrap();
    assert_eq!(payload.summary, "postgres opened: 3 consecutive failures");

    b.reset();
    let got = rx.wait_accepted(2, Duration::from_secs(5)).await;
    let recovered = got[1].json();
    assert_eq!(recovered["kind"], "recovered");
    assert_eq!(recovered["firing"], false);
    assert_eq!(recovered["since"], got[0].json()["at"]);
    let stats = d.shutdown(Duration::from_secs(2)).await;
    assert_eq!(stats.channels[0].sent, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_failing_twice_gets_exactly_one_accepted_delivery() {
    let rx = Receiver::start(Answer::FailFirst(2)).await;
    let d = dispatcher(WebhookNotifier::builder(rx.url("/")).build().unwrap());
    let b = breaker();
    b.subscribe(d.listener());
    trip(&b);
    rx.wait_accepted(1, Duration::from_secs(5)).await;
    let stats = d.shutdown(Duration::from_secs(2)).await;
    let statuses: Vec<u16> = rx.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 200]);
    let bodies: Vec<_> = rx.requests().iter().map(|r| r.body.clone()).collect();
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "retries resend the same body"
    );
    let c = &stats.channels[0];
    assert_eq!((c.queued, c.sent, c.failed, c.dropped), (1, 1, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_is_timed_out_and_counted_as_failed() {
    let rx = Receiver::start(Answer::Hang).await;
    let hook = WebhookNotifier::builder(rx.url("/hang"))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let d = Dispatcher::builder()
        .channel(hook)
        .retry(
            RetryPolicy::new()
                .attempts(2)
                .backoff(Duration::from_millis(10), Duration::from_millis(10))
                .timeout(Duration::from_millis(200)),
        )
        .build()
        .unwrap();
    let b = breaker();
    b.subscribe(d.listener());
    let started = Instant::now();
    trip(&b);
    // The call returned before any delivery attempt ended (each takes 200 ms): it did not
    // wait for the notification.
    let early = d.stats();
    assert_eq!(
        (early.channels[0].sent, early.channels[0].failed),
        (0, 0),
        "the call waited for the delivery: {early:?}"
    );
    let stats = d.shutdown(Duration::from_secs(5)).await;
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
    assert_eq!(rx.requests().len(), 2);
    let c = &stats.channels[0];
    assert_eq!((c.sent, c.failed, c.dropped), (0, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_retried_counted_failure() {
    let hook = WebhookNotifier::builder(format!("http://127.0.0.1:{}/", dead_port()))
        .build()
        .unwrap();
    let d = dispatcher(hook);
    let b = breaker();
    b.subscribe(d.listener());
    trip(&b);
    b.reset();
    let stats = d.shutdown(Duration::from_secs(5)).await;
    let c = &stats.channels[0];
    assert_eq!((c.queued, c.sent, c.failed), (2, 0, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_mode_posts_text() {
    let rx = Receiver::start(Answer::Ok).await;
    let hook = WebhookNotifier::builder(rx.url("/slack"))
        .format(WebhookFormat::Slack)
        .build()
        .unwrap();
    let d = dispatcher(hook);
    let b = breaker();
    b.subscribe(d.listener());
    trip(&b);
    let got = rx.wait_accepted(1, Duration::from_secs(5)).await;
    let json = got[0].json();
    let text = json["text"].as_str().unwrap();
    assert!(
        text.starts_with(":red_circle: *postgres opened: 3 consecutive failures*"),
        "{text}"
    );
    assert!(text.contains("closed -> open"), "{text}");
    assert!(got[0].headers.get(SIGNATURE_HEADER).is_none());
    let stats = d.shutdown(Duration::from_secs(2)).await;
    assert_eq!(stats.channels[0].channel, "slack");
}

#[test]
fn invalid_urls_and_headers_are_config_errors() {
    for url in ["", "localhost:8080", "ftp://example.com/x", "http://"] {
        let err = WebhookNotifier::builder(url).build().unwrap_err();
        assert!(
            matches!(err, NotifyError::InvalidUrl { .. }),
            "{url}: {err}"
        );
    }
    let err = WebhookNotifier::builder("http://127.0.0.1:9/")
        .header("X-Token", "line\nbreak")
        .build()
        .unwrap_err();
    assert!(matches!(err, NotifyError::InvalidHeader { .. }), "{err}");
    assert!(err.to_string().starts_with("invalid header \"X-Token\""));
}
