//! `Registry::shutdown`: one call at the end of a service's graceful shutdown stops the
//! eager timer and the fleet task, saves the state store and flushes the notifiers, within
//! its deadline.
#![cfg(all(feature = "rt-tokio", feature = "notify-webhook"))]

use std::time::Duration;

use breakerbox::notify::{Dispatcher, RetryPolicy, WebhookNotifier};
use breakerbox::store::{FileStore, StateStore};
use breakerbox::{Config, Registry, State};

use crate::support::receiver::{Answer, Receiver};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_the_timer_saves_the_store_and_delivers_what_the_notifier_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("breakers.json");
    let registry = Registry::builder()
        .state_store(FileStore::new(&path))
        .build();
    let db = registry.breaker("postgres", Config::database()).unwrap();
    let timer = registry.spawn_timer(Duration::from_millis(50));
    // The webhook refuses its first delivery: shutdown waits for the retry.
    let rx = Receiver::start(Answer::FailFirst(1)).await;
    let dispatcher = Dispatcher::builder()
        .retry(
            RetryPolicy::new()
                .attempts(3)
                .backoff(Duration::from_millis(50), Duration::from_millis(100)),
        )
        .channel(WebhookNotifier::builder(rx.url("/")).build().unwrap())
        .build()
        .unwrap();
    dispatcher.subscribe(&registry);

    db.force_open();
    let report = registry.shutdown(Duration::from_secs(10)).await;

    assert_eq!(report.stopped, 1, "the eager timer");
    assert!(!timer.is_running());
    assert!(matches!(report.persisted, Some(Ok(()))), "{report:?}");
    let saved = FileStore::new(&path).load().unwrap();
    assert_eq!(
        saved["postgres"].state,
        State::ForcedOpen,
        "saved before exit"
    );
    assert_eq!(report.notifications.len(), 1);
    let hook = &report.notifications[0].channels[0];
    assert_eq!(
        (hook.queued, hook.sent, hook.failed, hook.dropped),
        (1, 1, 0, 0),
        "{hook:?}"
    );
    assert_eq!(
        rx.accepted().len(),
        1,
        "delivered on its retry before shutdown returned"
    );
    // The dispatcher's own shutdown now finds nothing to do; breakers still work.
    assert_eq!(dispatcher.shutdown(Duration::ZERO).await.queued, 1);
    assert!(db.call_sync(|| Ok::<_, ()>(())).unwrap_err().is_rejected());
    assert_eq!(
        registry.shutdown(Duration::ZERO).await.stopped,
        0,
        "once only"
    );
}

#[tokio::test]
async fn a_dropped_timer_or_dispatcher_is_not_counted_and_the_deadline_bounds_a_hung_notifier() {
    let registry = Registry::new();
    let db = registry.breaker("postgres", Config::database()).unwrap();
    drop(registry.spawn_timer(Duration::from_millis(50)));
    let (port, _hole) = crate::support::receiver::black_hole().await;
    let dispatcher = Dispatcher::builder()
        .retry(
            RetryPolicy::new()
                .attempts(1)
                .timeout(Duration::from_secs(60)),
        )
        .channel(
            WebhookNotifier::builder(format!("http://127.0.0.1:{port}/"))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    dispatcher.subscribe(&registry);
    db.force_open();
    let report = registry.shutdown(Duration::from_millis(300)).await;
    assert_eq!(
        report.stopped, 0,
        "the timer was already stopped by its handle"
    );
    let hook = &report.notifications[0].channels[0];
    assert_eq!(
        hook.queued,
        hook.sent + hook.failed + hook.dropped,
        "{hook:?}"
    );
    // Dropped at the deadline, not failed at the request's 60 s timeout: the deadline,
    // not the request, ended the wait.
    assert_eq!(
        hook.dropped, 1,
        "what was undelivered at the deadline is counted"
    );
}
