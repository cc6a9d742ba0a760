//! Webhook notifications delivered to a real HTTP receiver: schema, signature, retries,
//! timeouts and Slack mode.
#![cfg(feature = "notify-webhook")]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::eventually::eventually;
use crate::support::process::dead_port;
use crate::support::receiver::{Answer, Receiver};
use breakerbox::notify::{
    DeliveryError, Dispatcher, FlapPolicy, Kind, Notification, Notifier, NotifyError, RetryPolicy,
    SIGNATURE_HEADER, WebhookFormat, WebhookNotifier, WebhookPayload,
};
use breakerbox::{CircuitBreaker, Config, Event, State};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// A dispatcher with `hook` as its only channel, and a breaker it listens to.
fn subscribed(hook: WebhookNotifier) -> (Dispatcher, CircuitBreaker) {
    let d = dispatcher(hook);
    let b = breaker();
    b.subscribe(d.listener());
    (d, b)
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
    let (d, b) = subscribed(hook);
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
    let (d, b) = subscribed(hook);
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
    let (d, b) = subscribed(hook);
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

/// The transition of `b` opening, as a listener sees it, for a notice sent by hand.
fn opened_notice(b: &CircuitBreaker) -> Notification {
    let seen = Arc::new(Mutex::new(None));
    let keep = seen.clone();
    b.subscribe(move |e: &Event<'_>| {
        if let Event::Transition(t) = e {
            *keep.lock().unwrap() = Some((*t).clone());
        }
    });
    trip(b);
    let t = seen.lock().unwrap().take().expect("a transition");
    Notification::new(Kind::Opened, t)
}

/// Reads one request head (up to the blank line) from `stream`.
async fn read_head(stream: &mut tokio::net::TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        if n == 0 {
            return;
        }
        head.extend_from_slice(&buf[..n]);
    }
}

/// A server answering one request with a 500 whose body is `total` bytes of `x`, written
/// in 64 KiB chunks; the returned counter holds the bytes it managed to write, and the flag
/// turns true once it stopped writing (body done, or the client went away).
async fn huge_error_server(total: u64) -> (String, Arc<AtomicU64>, Arc<AtomicBool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let written = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (w, d) = (written.clone(), done.clone());
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        read_head(&mut stream).await;
        let head = format!(
            "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\n\
             content-length: {total}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        while w.load(Ordering::SeqCst) < total {
            match stream.write(&chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => w.fetch_add(n as u64, Ordering::SeqCst),
            };
        }
        d.store(true, Ordering::SeqCst);
    });
    (url, written, done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_error_body_is_read_only_to_a_small_prefix() {
    const TOTAL: u64 = 64 << 20;
    let (url, written, done) = huge_error_server(TOTAL).await;
    let hook = WebhookNotifier::builder(url)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let err = hook.send(&opened_notice(&breaker())).await.unwrap_err();
    match &err {
        DeliveryError::Status { status, body } => {
            assert_eq!(*status, 500);
            assert_eq!(body, &"x".repeat(256));
        }
        other => panic!("{other:?}"),
    }
    // The client dropped the connection after a prefix: the server's writes failed long
    // before the body's end (socket buffers hold a few MiB at most).
    eventually(
        "the server to stop writing",
        Duration::from_secs(30),
        || std::future::ready(done.load(Ordering::SeqCst).then_some(())),
    )
    .await;
    let sent = written.load(Ordering::SeqCst);
    assert!(sent < TOTAL / 4, "the server wrote {sent} of {TOTAL} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_origin_is_not_followed_with_the_signed_body() {
    let other = Receiver::start(Answer::Ok).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let location = other.url("/stolen");
    let redirects = Arc::new(AtomicU64::new(0));
    let count = redirects.clone();
    let target = location.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_head(&mut stream).await;
            count.fetch_add(1, Ordering::SeqCst);
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: {target}\r\n\
                 content-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    let hook = WebhookNotifier::builder(url)
        .secret("shared-secret")
        .build()
        .unwrap();
    let err = hook.send(&opened_notice(&breaker())).await.unwrap_err();
    match &err {
        DeliveryError::Status { status, body } => {
            assert_eq!(*status, 307);
            assert_eq!(body, &format!("redirect to `{location}` not followed"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retryable(), "a redirect is a configuration error");
    assert_eq!(redirects.load(Ordering::SeqCst), 1);
    assert!(other.requests().is_empty(), "{:?}", other.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_max_everywhere_is_accepted_and_delivers() {
    let rx = Receiver::start(Answer::Ok).await;
    let hook = WebhookNotifier::builder(rx.url("/hook"))
        .timeout(Duration::MAX)
        .build()
        .unwrap();
    let d = Dispatcher::builder()
        .channel(hook)
        .retry(
            RetryPolicy::new()
                .backoff(Duration::MAX, Duration::MAX)
                .timeout(Duration::MAX),
        )
        .flapping(FlapPolicy::new(2, Duration::MAX))
        .build()
        .unwrap();
    let b = breaker();
    b.subscribe(d.listener());
    trip(&b);
    rx.wait_accepted(1, Duration::from_secs(10)).await;
    let stats = d.shutdown(Duration::MAX).await;
    assert_eq!(stats.channels[0].sent, 1);
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
