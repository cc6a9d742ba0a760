//! Every channel dead (refused, hanging), a breaker driven through 10,000 transitions by
//! four threads: calls never block, the queue stays bounded, and every notice is
//! accounted for exactly, in the dispatcher's stats and in the metrics.
#![cfg(all(
    feature = "notify-email",
    feature = "notify-webhook",
    feature = "metrics"
))]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::notify::email_to_dead_server;
use crate::support::process::dead_port;
use crate::support::receiver::black_hole;
use crate::support::recorded::series;
use breakerbox::notify::{
    AlertmanagerNotifier, Dispatcher, Filter, FlapPolicy, RetryPolicy, WebhookNotifier,
};
use breakerbox::{CircuitBreaker, Config, Event};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

const TRANSITIONS: u64 = 10_000;
const CAPACITY: usize = 128;
/// The breaker's name, used by no other test of this binary: the global recorder also sees
/// the notifications of the tests running next to this one, counted under their breakers.
const BREAKER: &str = "stress-postgres";

#[test]
fn ten_thousand_transitions_with_every_channel_dead() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only global recorder of this test binary");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let (hole, _hole_task) = rt.block_on(black_hole());
    let dispatcher = rt.block_on(async {
        let webhook = WebhookNotifier::builder(format!("http://127.0.0.1:{}/", dead_port()))
            .build()
            .unwrap();
        let email = email_to_dead_server();
        let hanging = AlertmanagerNotifier::builder(format!("http://127.0.0.1:{hole}"))
            .refresh_interval(Duration::from_secs(3600))
            .build()
            .unwrap();
        Dispatcher::builder()
            .channel(webhook)
            .channel(email)
            .channel(hanging)
            .queue_capacity(CAPACITY)
            .filter(Filter::all())
            .flapping(FlapPolicy::disabled())
            .retry(
                RetryPolicy::new()
                    .attempts(3)
                    .backoff(Duration::from_millis(1), Duration::from_millis(5))
                    .timeout(Duration::from_millis(250)),
            )
            .build()
            .unwrap()
    });

    let config = Config::builder().failure_threshold(1).build().unwrap();
    let b = CircuitBreaker::builder(BREAKER)
        .config(config)
        .build()
        .unwrap();
    let transitions = Arc::new(AtomicU64::new(0));
    let counter = transitions.clone();
    b.subscribe(move |e: &Event<'_>| {
        if let Event::Transition(_) = e {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    b.subscribe(dispatcher.listener());

    let done = AtomicBool::new(false);
    let (slowest, max_queue) = std::thread::scope(|s| {
        let monitor = s.spawn(|| {
            let mut max_queue = 0;
            while !done.load(Ordering::Relaxed) {
                let st = dispatcher.stats();
                assert!(st.queue_len <= st.queue_capacity, "{st:?}");
                max_queue = max_queue.max(st.queue_len);
                std::thread::sleep(Duration::from_millis(1));
            }
            max_queue
        });
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                let b = b.clone();
                let transitions = &transitions;
                s.spawn(move || {
                    let mut slowest = Duration::ZERO;
                    let mut i = t;
                    while transitions.load(Ordering::Relaxed) < TRANSITIONS {
                        let started = Instant::now();
                        match i % 4 {
                            0 => drop(b.call_sync(|| Err::<(), _>("down"))),
                            1 => drop(b.call_sync(|| Ok::<_, ()>(()))),
                            2 => b.reset(),
                            _ => b.force_open(),
                        }
                        slowest = slowest.max(started.elapsed());
                        i += 1;
                    }
                    slowest
                })
            })
            .collect();
        let slowest = workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .max()
            .unwrap();
        done.store(true, Ordering::Relaxed);
        (slowest, monitor.join().unwrap())
    });

    let total = transitions.load(Ordering::Relaxed);
    assert!(total >= TRANSITIONS);
    // No timing threshold (shared, noisy machines): that calls never wait for a delivery
    // is proven below by the drops — the producers outran the bounded queue while every
    // delivery was failing or hanging; a call path that waited could never overflow it.
    assert!(max_queue <= CAPACITY);

    let stats = rt.block_on(dispatcher.shutdown(Duration::from_secs(3)));
    eprintln!("{total} transitions, slowest call {slowest:?}, max queue {max_queue}");
    eprintln!("{stats:#?}");
    assert_eq!(stats.offered, total);
    assert_eq!(stats.offered, stats.queued + stats.dropped);
    assert_eq!(
        stats.queued + stats.summaries,
        stats.suppressed + stats.notifications
    );
    assert!(
        stats.dropped > 0,
        "the queue never filled, so calls may have waited for deliveries: {stats:?}"
    );

    let metrics = notification_metrics(&snapshotter);
    for c in &stats.channels {
        assert_eq!(c.sent, 0, "{c:?}");
        assert_eq!(c.sent + c.failed + c.dropped, c.queued, "{c:?}");
        assert_eq!(c.queued, stats.notifications + c.refreshes + stats.dropped);
        let get = |result: &str| {
            metrics
                .get(&(c.channel.clone(), result.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        assert_eq!(get("sent"), 0);
        assert_eq!(get("failed"), c.failed, "{c:?}");
        assert_eq!(get("dropped"), c.dropped, "{c:?}");
    }
    assert!(stats.failed() > 0);
}

/// `breakerbox_notifications_total` of [`BREAKER`] by (channel, result).
fn notification_metrics(
    snapshotter: &metrics_util::debugging::Snapshotter,
) -> HashMap<(String, String), u64> {
    let mut out = HashMap::new();
    for (labels, value) in series(snapshotter, "breakerbox_notifications_total") {
        let label = |n: &str| labels.get(n).cloned().unwrap_or_default();
        if label("breaker") != BREAKER {
            continue;
        }
        if let DebugValue::Counter(v) = value {
            *out.entry((label("channel"), label("result"))).or_default() += v;
        }
    }
    out
}
