//! Alerts posted to a real Alertmanager, which de-duplicates two replicas into one alert
//! and delivers it to a webhook receiver: firing on open, resolved on close.
#![cfg(feature = "notify-webhook")]

use std::time::Duration;

use crate::support::eventually::eventually;
use crate::support::process::Server;
use crate::support::receiver::{Answer, Receiver};
use crate::support::servers::{alertmanager, ready};
use breakerbox::notify::{AlertmanagerNotifier, Dispatcher, RetryPolicy};
use breakerbox::{CircuitBreaker, Config};
use serde_json::Value;

fn replica(am: &Server, host: &str) -> (Dispatcher, CircuitBreaker) {
    let notifier = AlertmanagerNotifier::builder(am.url())
        .label("service", "checkout")
        .label("severity", "critical")
        .build()
        .unwrap();
    let dispatcher = Dispatcher::builder()
        .channel(notifier)
        .retry(
            RetryPolicy::new()
                .backoff(Duration::from_millis(20), Duration::from_millis(200))
                .timeout(Duration::from_secs(2)),
        )
        .host(host)
        .build()
        .unwrap();
    let config = Config::builder().failure_threshold(1).build().unwrap();
    let b = CircuitBreaker::builder("postgres")
        .config(config)
        .build()
        .unwrap();
    b.subscribe(dispatcher.listener());
    (dispatcher, b)
}

/// Every alert in every webhook Alertmanager delivered, with the webhook's status.
fn delivered(rx: &Receiver) -> Vec<(String, Value)> {
    rx.accepted()
        .iter()
        .flat_map(|r| {
            let json = r.json();
            let status = json["status"].as_str().unwrap_or_default().to_owned();
            let alerts = json["alerts"].as_array().cloned().unwrap_or_default();
            assert_eq!(alerts.len(), 1, "one alert for the fleet: {json}");
            alerts.into_iter().map(move |a| (status.clone(), a))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_deduplicates_replicas_and_resolves_on_close() {
    let rx = Receiver::start(Answer::Ok).await;
    let am = alertmanager(&rx.url("/alertmanager"));
    ready(&am).await;
    let (d1, b1) = replica(&am, "web-1");
    let (d2, b2) = replica(&am, "web-2");

    for b in [&b1, &b2] {
        let _ = b.call_sync(|| Err::<(), _>("connection refused"));
    }
    let firing = eventually("a firing alert", Duration::from_secs(10), || {
        let d = delivered(&rx);
        std::future::ready(d.into_iter().find(|(status, _)| status == "firing"))
    })
    .await
    .1;
    assert_eq!(firing["labels"]["alertname"], "BreakerboxCircuitOpen");
    assert_eq!(firing["labels"]["breaker"], "postgres");
    assert_eq!(firing["labels"]["service"], "checkout");
    assert_eq!(firing["labels"]["severity"], "critical");
    assert!(firing["labels"].get("host").is_none());
    let summary = firing["annotations"]["summary"].as_str().unwrap();
    assert_eq!(summary, "postgres opened: 1 consecutive failures");
    assert!(["web-1", "web-2"].contains(&firing["annotations"]["host"].as_str().unwrap()));

    for b in [&b1, &b2] {
        b.reset();
    }
    let resolved = eventually("a resolved alert", Duration::from_secs(10), || {
        let d = delivered(&rx);
        std::future::ready(d.into_iter().find(|(status, _)| status == "resolved"))
    })
    .await
    .1;
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["labels"]["breaker"], "postgres");
    let ends_at = resolved["endsAt"].as_str().unwrap();
    assert!(!ends_at.starts_with("0001"), "endsAt is set: {ends_at}");
    assert!(ends_at >= firing["startsAt"].as_str().unwrap());

    for d in [d1, d2] {
        let stats = d.shutdown(Duration::from_secs(2)).await;
        let c = &stats.channels[0];
        assert_eq!(
            (c.channel.as_str(), c.sent, c.failed),
            ("alertmanager", 2, 0)
        );
    }
    // Both replicas posted twice, yet the receiver saw one alert per webhook (checked in
    // `delivered`) and never a second firing one for the same incident.
    let firing_count = delivered(&rx).iter().filter(|(s, _)| s == "firing").count();
    assert!(firing_count <= 2, "{firing_count} firing webhooks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_alert_is_refreshed_until_it_resolves() {
    let rx = Receiver::start(Answer::Ok).await;
    let am = AlertmanagerNotifier::builder(rx.url("/"))
        .refresh_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let d = Dispatcher::builder().channel(am).build().unwrap();
    let b = CircuitBreaker::new("postgres");
    b.subscribe(d.listener());
    b.force_open();
    rx.wait_accepted(3, Duration::from_secs(5)).await;
    b.reset();
    let stats = d.shutdown(Duration::from_secs(2)).await;
    let c = &stats.channels[0];
    assert!(c.refreshes >= 2, "{c:?}");
    assert_eq!(c.sent, c.queued);
    let posts = rx.accepted();
    let last = posts.last().unwrap().json();
    assert_eq!(last[0]["annotations"]["kind"], "recovered");
    assert!(
        posts[..posts.len() - 1]
            .iter()
            .all(|p| p.json()[0]["annotations"]["kind"] == "opened")
    );
}
