//! The dispatcher with in-process channels: de-duplication, flap suppression, the filter,
//! retries and backoff, the bounded queue, shutdown and the metrics. Tokio time is paused
//! where nothing talks to a real server.
#![cfg(all(feature = "notify", feature = "test-util"))]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breakerbox::notify::{
    BoxFuture, DeliveryError, Dispatcher, DispatcherBuilder, Filter, FlapPolicy, Kind,
    Notification, Notifier, NotifyError, RetryPolicy, Stats,
};
use breakerbox::{CircuitBreaker, Config, ManualClock, State};
use tokio::time::Instant;

/// A channel that records what it got and answers from a script (then `Ok`).
#[derive(Debug, Clone)]
struct Fake {
    name: &'static str,
    delivered: Arc<Mutex<Vec<Notification>>>,
    attempts: Arc<Mutex<Vec<Instant>>>,
    script: Arc<Mutex<VecDeque<Result<(), DeliveryError>>>>,
    delay: Duration,
    panics: Arc<AtomicU32>,
}

impl Fake {
    fn new(name: &'static str) -> Fake {
        Fake {
            name,
            delivered: Arc::default(),
            attempts: Arc::default(),
            script: Arc::default(),
            delay: Duration::ZERO,
            panics: Arc::default(),
        }
    }

    fn answering(self, answers: impl IntoIterator<Item = Result<(), DeliveryError>>) -> Fake {
        self.script.lock().unwrap().extend(answers);
        self
    }

    fn slow(mut self, delay: Duration) -> Fake {
        self.delay = delay;
        self
    }

    fn kinds(&self) -> Vec<Kind> {
        self.delivered
            .lock()
            .unwrap()
            .iter()
            .map(|n| n.kind)
            .collect()
    }
}

impl Notifier for Fake {
    fn channel(&self) -> &str {
        self.name
    }

    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            self.attempts.lock().unwrap().push(Instant::now());
            if self.panics.load(Ordering::SeqCst) > 0 {
                self.panics.fetch_sub(1, Ordering::SeqCst);
                panic!("a notifier bug");
            }
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            let answer = self.script.lock().unwrap().pop_front().unwrap_or(Ok(()));
            if answer.is_ok() {
                self.delivered.lock().unwrap().push(n.clone());
            }
            answer
        })
    }
}

fn breaker(clock: &ManualClock) -> CircuitBreaker {
    let config = Config::builder()
        .failure_threshold(1)
        .success_threshold(1)
        .reset_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    CircuitBreaker::builder("postgres")
        .config(config)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn fail(b: &CircuitBreaker) {
    let _ = b.call_sync(|| Err::<(), _>("down"));
}

fn succeed(b: &CircuitBreaker) {
    let _ = b.call_sync(|| Ok::<_, ()>(()));
}

fn fast() -> RetryPolicy {
    RetryPolicy::new()
        .attempts(4)
        .backoff(Duration::from_millis(100), Duration::from_secs(1))
        .timeout(Duration::from_secs(1))
        .jitter(0.0)
}

/// The identities that hold once the dispatcher has shut down.
fn assert_accounted(s: &Stats) {
    assert_eq!(s.offered, s.queued + s.dropped, "{s:?}");
    assert_eq!(
        s.queued + s.summaries,
        s.suppressed + s.notifications,
        "{s:?}"
    );
    for c in &s.channels {
        assert_eq!(c.sent + c.failed + c.dropped, c.queued, "{c:?}");
        assert_eq!(c.queued, s.notifications + c.refreshes + s.dropped, "{c:?}");
    }
}

/// Builds the dispatcher and a breaker `postgres` that it listens to.
fn subscribed(builder: DispatcherBuilder) -> (Dispatcher, CircuitBreaker) {
    let d = builder.build().unwrap();
    let b = CircuitBreaker::new("postgres");
    b.subscribe(d.listener());
    (d, b)
}

#[tokio::test(start_paused = true)]
async fn one_notice_when_postgres_opens_and_one_when_it_recovers() {
    let fake = Fake::new("fake");
    let d = Dispatcher::builder()
        .channel(fake.clone())
        .retry(fast())
        .build()
        .unwrap();
    let clock = ManualClock::new();
    let b = breaker(&clock);
    b.subscribe(d.listener());

    fail(&b); // closed -> open
    clock.advance(Duration::from_secs(2));
    fail(&b); // open -> half_open (filtered out), half_open -> open (a duplicate)
    clock.advance(Duration::from_secs(2));
    succeed(&b); // open -> half_open, half_open -> closed
    assert_eq!(b.state(), State::Closed);

    let stats = d.shutdown(Duration::from_secs(1)).await;
    assert_eq!(fake.kinds(), [Kind::Opened, Kind::Recovered]);
    let delivered = fake.delivered.lock().unwrap().clone();
    assert_eq!(delivered[1].suppressed, 1);
    assert_eq!(delivered[1].since, delivered[0].transition.at);
    assert_eq!(
        (stats.offered, stats.suppressed, stats.notifications),
        (3, 1, 2)
    );
    assert_accounted(&stats);
}

#[tokio::test(start_paused = true)]
async fn a_flapping_breaker_sends_one_summary_instead_of_a_storm() {
    let fake = Fake::new("fake");
    let (d, b) = subscribed(
        Dispatcher::builder()
            .channel(fake.clone())
            .flapping(FlapPolicy::new(3, Duration::from_secs(60))),
    );
    for _ in 0..50 {
        b.force_open();
        tokio::time::sleep(Duration::from_millis(100)).await;
        b.reset();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(matches!(
        fake.kinds()[..],
        [
            Kind::Opened,
            Kind::Recovered,
            Kind::Flapping { transitions: 3, .. }
        ]
    ));
    // Quiet for the window: one notice with the state it settled in.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let kinds = fake.kinds();
    assert_eq!(kinds.len(), 4);
    assert_eq!(kinds[3], Kind::Recovered);
    let last = fake.delivered.lock().unwrap()[3].clone();
    assert_eq!(last.suppressed, 97);
    assert!(
        last.summary().contains("97 transitions held back"),
        "{}",
        last.summary()
    );

    let stats = d.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        (stats.offered, stats.summaries, stats.notifications),
        (100, 1, 4)
    );
    assert_accounted(&stats);
}

#[tokio::test(start_paused = true)]
async fn the_filter_decides_which_transitions_notify() {
    let fake = Fake::new("fake");
    let (d, b) = subscribed(
        Dispatcher::builder()
            .channel(fake.clone())
            .filter(Filter::entering([State::Disabled])),
    );
    b.force_open();
    b.disable();
    b.reset();
    let stats = d.shutdown(Duration::from_secs(1)).await;
    assert_eq!(fake.kinds(), [Kind::Changed]);
    assert_eq!(
        fake.delivered.lock().unwrap()[0].transition.to,
        State::Disabled
    );
    assert_eq!(stats.offered, 1);
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_exponentially_then_count_one_failure() {
    let down = || Err(DeliveryError::Transport("connection refused".into()));
    let fake = Fake::new("fake").answering([down(), down(), down(), down()]);
    let (d, b) = subscribed(Dispatcher::builder().channel(fake.clone()).retry(fast()));
    b.force_open();
    let stats = d.shutdown(Duration::from_secs(10)).await;
    let at = fake.attempts.lock().unwrap().clone();
    let gaps: Vec<u128> = at.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    assert_eq!(gaps, [100, 200, 400]);
    let c = &stats.channels[0];
    assert_eq!((c.sent, c.failed), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_succeeds_is_one_sent_delivery() {
    let fake = Fake::new("fake").answering([
        Err(DeliveryError::Status {
            status: 503,
            body: String::new(),
        }),
        Ok(()),
    ]);
    let (d, b) = subscribed(Dispatcher::builder().channel(fake.clone()).retry(fast()));
    b.force_open();
    let stats = d.shutdown(Duration::from_secs(10)).await;
    assert_eq!(fake.attempts.lock().unwrap().len(), 2);
    assert_eq!((stats.channels[0].sent, stats.channels[0].failed), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_not_retried() {
    let fake = Fake::new("fake").answering([Err(DeliveryError::Status {
        status: 400,
        body: "bad payload".into(),
    })]);
    let (d, b) = subscribed(Dispatcher::builder().channel(fake.clone()).retry(fast()));
    b.force_open();
    let stats = d.shutdown(Duration::from_secs(10)).await;
    assert_eq!(fake.attempts.lock().unwrap().len(), 1);
    assert_eq!(stats.channels[0].failed, 1);
}

#[tokio::test(start_paused = true)]
async fn a_hung_channel_times_out_each_attempt() {
    let fake = Fake::new("fake").slow(Duration::from_secs(3600));
    let (d, b) = subscribed(
        Dispatcher::builder()
            .channel(fake.clone())
            .retry(fast().attempts(2).timeout(Duration::from_millis(500))),
    );
    let started = Instant::now();
    b.force_open();
    let stats = d.shutdown(Duration::from_secs(10)).await;
    assert_eq!(started.elapsed(), Duration::from_millis(1100));
    assert_eq!(stats.channels[0].failed, 1);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_drops_and_counts_and_shutdown_drops_the_rest_at_its_deadline() {
    let fake = Fake::new("fake").slow(Duration::from_secs(3600));
    let (d, b) = subscribed(
        Dispatcher::builder()
            .channel(fake.clone())
            .queue_capacity(4)
            .flapping(FlapPolicy::disabled())
            .retry(fast().timeout(Duration::from_secs(7200))),
    );
    for _ in 0..100 {
        b.force_open();
        b.reset();
    }
    let running = d.stats();
    assert!(running.queue_len <= running.queue_capacity);
    assert!(running.dropped > 0, "{running:?}");
    let stats = d.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats.offered, 200);
    assert_eq!(stats.channels[0].sent, 0);
    assert!(stats.channels[0].dropped > stats.dropped, "{stats:?}");
    assert_accounted(&stats);
}

#[tokio::test(start_paused = true)]
async fn shutdown_flushes_what_is_queued() {
    let fake = Fake::new("fake").slow(Duration::from_millis(50));
    let (d, b) = subscribed(
        Dispatcher::builder()
            .channel(fake.clone())
            .flapping(FlapPolicy::disabled()),
    );
    for _ in 0..10 {
        b.force_open();
        b.reset();
    }
    let stats = d.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats.channels[0].sent, 20);
    assert_eq!(fake.kinds().len(), 20);
    assert_accounted(&stats);
    // After shutdown, transitions are dropped and counted, never queued.
    b.force_open();
    let after = d.stats();
    assert_eq!((after.offered, after.dropped), (21, 1));
}

#[tokio::test(start_paused = true)]
async fn a_slow_channel_does_not_delay_another() {
    let slow = Fake::new("slow").slow(Duration::from_secs(3600));
    let quick = Fake::new("quick");
    let (d, b) = subscribed(
        Dispatcher::builder()
            .channel(slow.clone())
            .channel(quick.clone())
            .retry(fast().timeout(Duration::from_secs(7200))),
    );
    b.force_open();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(quick.kinds(), [Kind::Opened]);
    let stats = d.shutdown(Duration::from_millis(100)).await;
    assert_eq!(stats.channels[0].dropped, 1);
    assert_eq!(stats.channels[1].sent, 1);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_notifier_fails_the_attempt_not_the_channel() {
    let fake = Fake::new("fake");
    fake.panics.store(1, Ordering::SeqCst);
    let (d, b) = subscribed(
        Dispatcher::builder()
            .channel(fake.clone())
            .retry(fast().attempts(1)),
    );
    b.force_open();
    tokio::time::sleep(Duration::from_millis(10)).await;
    b.reset();
    let stats = d.shutdown(Duration::from_secs(1)).await;
    assert_eq!((stats.channels[0].failed, stats.channels[0].sent), (1, 1));
    assert_eq!(fake.kinds(), [Kind::Recovered]);
}

/// A channel that asks for its firing notices to be repeated every `every`.
#[derive(Debug)]
struct Refreshing(Fake, Duration);

impl Notifier for Refreshing {
    fn channel(&self) -> &str {
        self.0.channel()
    }

    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), DeliveryError>> {
        self.0.send(n)
    }

    fn refresh_interval(&self) -> Option<Duration> {
        Some(self.1)
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_with_duration_max_flushes_instead_of_panicking() {
    let fake = Fake::new("fake");
    let (d, b) = subscribed(
        Dispatcher::builder()
            .channel(fake.clone())
            .flapping(FlapPolicy::disabled()),
    );
    b.force_open();
    let stats = d.shutdown(Duration::MAX).await;
    assert_eq!(stats.channels[0].sent, 1);
    assert_accounted(&stats);
}

#[tokio::test(start_paused = true)]
async fn a_flap_window_of_duration_max_keeps_the_worker_alive() {
    let fake = Fake::new("fake");
    let (d, b) = subscribed(
        Dispatcher::builder()
            .channel(fake.clone())
            .flapping(FlapPolicy::new(2, Duration::MAX)),
    );
    for _ in 0..3 {
        b.force_open();
        tokio::time::sleep(Duration::from_millis(100)).await;
        b.reset();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Flapping never settles within the window, so shutdown sends the one summary.
    let stats = d.shutdown(Duration::from_secs(5)).await;
    assert_eq!((stats.offered, stats.summaries), (6, 1), "{stats:?}");
    assert_eq!(
        fake.kinds(),
        [
            Kind::Opened,
            Kind::Flapping {
                transitions: 2,
                window: Duration::MAX
            },
            Kind::Recovered
        ]
    );
    assert_accounted(&stats);
}

#[tokio::test(start_paused = true)]
async fn a_refresh_interval_of_duration_max_never_repeats_and_never_kills_the_channel() {
    let fake = Fake::new("fake");
    let (d, b) = subscribed(
        Dispatcher::builder()
            .channel(Refreshing(fake.clone(), Duration::MAX))
            .flapping(FlapPolicy::disabled()),
    );
    b.force_open();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    b.reset();
    let stats = d.shutdown(Duration::from_secs(5)).await;
    assert_eq!(fake.kinds(), [Kind::Opened, Kind::Recovered]);
    assert_eq!(
        (stats.channels[0].sent, stats.channels[0].refreshes),
        (2, 0)
    );
    assert_accounted(&stats);
}

#[test]
fn bad_settings_are_errors_not_panics() {
    let err = Dispatcher::builder().build().unwrap_err();
    assert_eq!(err, NotifyError::NoRuntime);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let err = Dispatcher::builder().queue_capacity(0).build().unwrap_err();
        assert_eq!(
            err,
            NotifyError::Zero {
                field: "queue_capacity"
            }
        );
        let err = Dispatcher::builder()
            .retry(RetryPolicy::new().jitter(2.0))
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            NotifyError::OutOfRange {
                field: "jitter",
                ..
            }
        ));
    });
}

#[cfg(feature = "metrics")]
#[test]
fn metrics_count_sent_failed_and_dropped_per_breaker_and_channel() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use crate::support::recorded::series;

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            let ok = Fake::new("ok");
            let bad = Fake::new("bad").answering([Err(DeliveryError::Rejected("550".into()))]);
            let d = Dispatcher::builder()
                .channel(ok)
                .channel(bad)
                .queue_capacity(1)
                .flapping(FlapPolicy::disabled())
                .build()
                .unwrap();
            let b = CircuitBreaker::new("postgres");
            b.subscribe(d.listener());
            b.force_open(); // queued
            b.reset(); // dropped: the queue holds one
            d.shutdown(Duration::from_secs(1)).await;
        })
    });
    let mut counts = Vec::new();
    for (labels, value) in series(&snapshotter, "breakerbox_notifications_total") {
        assert_eq!(labels["breaker"], "postgres");
        let DebugValue::Counter(v) = value else {
            panic!("not a counter")
        };
        counts.push((labels["channel"].clone(), labels["result"].clone(), v));
    }
    counts.sort();
    // Every channel x result is registered (at 0 until it happens).
    let expected = [
        ("bad", "dropped", 1),
        ("bad", "failed", 1),
        ("bad", "sent", 0),
        ("ok", "dropped", 1),
        ("ok", "failed", 0),
        ("ok", "sent", 1),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(c, r, v)| (c.to_string(), r.to_string(), *v))
        .collect();
    assert_eq!(counts, expected);
}

/// The `breakerbox_notifications_total` samples of `text`: (breaker, channel, result, value).
#[cfg(feature = "prometheus")]
fn notification_samples(text: &str) -> Vec<(String, String, String, String)> {
    let label = |line: &str, name: &str| {
        let start = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        line[start..].split('"').next().unwrap().to_owned()
    };
    let mut out: Vec<_> = text
        .lines()
        .filter(|l| l.starts_with("breakerbox_notifications_total{"))
        .map(|l| {
            let value = l.rsplit(' ').next().unwrap().to_owned();
            (
                label(l, "breaker"),
                label(l, "channel"),
                label(l, "result"),
                value,
            )
        })
        .collect();
    out.sort();
    out
}

#[cfg(feature = "prometheus")]
#[test]
fn notification_series_are_born_at_zero_before_the_first_delivery() {
    use breakerbox::Registry;
    use breakerbox::observe::prometheus;

    let recorder = prometheus::builder().build_recorder();
    let handle = recorder.handle();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            let registry = Registry::new();
            registry.breaker("postgres", Config::default()).unwrap();
            let bad = Fake::new("email").answering([Err(DeliveryError::Rejected("550".into()))]);
            let d = Dispatcher::builder()
                .channel(bad)
                .channel(Fake::new("webhook"))
                .flapping(FlapPolicy::disabled())
                .build()
                .unwrap();
            d.subscribe(&registry);
            let redis = CircuitBreaker::new("redis");
            redis.subscribe(d.listener());
            d.watch("redis");

            // Before any transition, every breaker x channel x result is scraped at 0.
            let zero = |b: &str, c: &str, r: &str| (b.into(), c.into(), r.into(), "0".into());
            let mut expected = Vec::new();
            for b in ["postgres", "redis"] {
                for c in ["email", "webhook"] {
                    for r in ["dropped", "failed", "sent"] {
                        expected.push(zero(b, c, r));
                    }
                }
            }
            expected.sort();
            let text = prometheus::render(&handle, &registry);
            assert_eq!(notification_samples(&text), expected);

            // The first failure is then an increase from 0 to 1.
            registry.get("postgres").unwrap().force_open();
            d.shutdown(Duration::from_secs(5)).await;
            let text = prometheus::render(&handle, &registry);
            let samples = notification_samples(&text);
            let one = |c: &str, r: &str| ("postgres".into(), c.into(), r.into(), "1".into());
            assert!(samples.contains(&one("email", "failed")), "{samples:?}");
            assert!(samples.contains(&one("webhook", "sent")), "{samples:?}");
            assert_eq!(samples.len(), 12);
        })
    });
}

#[test]
fn public_types_are_send_sync_and_debug() {
    fn check<T: Send + Sync + std::fmt::Debug>() {}
    check::<Dispatcher>();
    check::<breakerbox::notify::DispatchListener>();
    check::<breakerbox::notify::DispatcherBuilder>();
    check::<Stats>();
    check::<Notification>();
    check::<Filter>();
    check::<RetryPolicy>();
    check::<FlapPolicy>();
    check::<NotifyError>();
    check::<DeliveryError>();
    #[cfg(feature = "notify-webhook")]
    {
        check::<breakerbox::notify::WebhookNotifier>();
        check::<breakerbox::notify::WebhookBuilder>();
        check::<breakerbox::notify::AlertmanagerNotifier>();
        check::<breakerbox::notify::AlertmanagerBuilder>();
    }
    #[cfg(feature = "notify-email")]
    {
        check::<breakerbox::notify::EmailNotifier>();
        check::<breakerbox::notify::EmailBuilder>();
    }
}
