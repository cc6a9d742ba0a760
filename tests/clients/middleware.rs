//! The reqwest middleware against a real upstream: per-host breakers, the default
//! classification, the cap with its overflow breaker, the rejection, `Retry-After`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use breakerbox::reqwest::{CircuitBreakerMiddleware, rejection};
use breakerbox::{CallTotals, State};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::support::http::client;
use crate::upstream::{Mode, Upstream, client_with, closed_port_url, registry, trips_after};

fn totals(mw: &CircuitBreakerMiddleware, origin: &str) -> CallTotals {
    mw.breakers().breaker_for(origin).unwrap().snapshot().totals
}

#[tokio::test]
async fn a_failing_host_trips_only_its_own_breaker() {
    let (registry, _clock) = registry();
    let (a, b) = (Upstream::start().await, Upstream::start().await);
    let mw = CircuitBreakerMiddleware::builder(&registry)
        .config(trips_after(3))
        .build()
        .unwrap();
    let http = client_with(mw.clone());
    a.set(Mode::Status(500, None));
    for _ in 0..3 {
        let res = http.get(a.url("/quote")).send().await.unwrap();
        assert_eq!(res.status(), 500);
        assert_eq!(
            http.get(b.url("/quote")).send().await.unwrap().status(),
            200
        );
    }
    let state = |u: &Upstream| mw.breakers().breaker_for(&u.origin()).unwrap().state();
    assert_eq!(state(&a), State::Open);
    assert_eq!(state(&b), State::Closed);
    let err = http.get(a.url("/quote")).send().await.unwrap_err();
    assert!(rejection(&err).is_some(), "{err}");
    assert_eq!(a.hits(), 3, "a rejected request never reaches the host");
    assert_eq!(
        http.get(b.url("/quote")).send().await.unwrap().status(),
        200
    );
    let mut expected = [a.origin(), b.origin()].map(|o| format!("upstream:{o}"));
    expected.sort();
    assert_eq!(registry.names(), expected);
}

#[tokio::test]
async fn connect_errors_timeouts_5xx_and_429_are_failures_other_4xx_successes() {
    let (registry, _clock) = registry();
    let up = Upstream::start().await;
    let mw = CircuitBreakerMiddleware::builder(&registry)
        .config(trips_after(1000))
        .build()
        .unwrap();
    // A request timeout is reqwest's (the hang is bounded by it, not measured).
    let http = reqwest_middleware::ClientBuilder::new(
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap(),
    )
    .with(mw.clone())
    .build();
    let expect = [
        (Mode::Ok, 1, 0),
        (Mode::Status(404, None), 1, 0),
        (Mode::Status(400, None), 1, 0),
        (Mode::Status(409, None), 1, 0),
        (Mode::Status(500, None), 0, 1),
        (Mode::Status(503, Some(5)), 0, 1),
        (Mode::Status(429, Some(5)), 0, 1),
        (Mode::Hang, 0, 1),
    ];
    for (mode, successes, failures) in expect {
        up.set(mode);
        let before = totals(&mw, &up.origin());
        let result = http.get(up.url("/")).send().await;
        if mode == Mode::Hang {
            assert!(result.unwrap_err().is_timeout());
        }
        let after = totals(&mw, &up.origin());
        assert_eq!(after.successes - before.successes, successes, "{mode:?}");
        assert_eq!(after.failures - before.failures, failures, "{mode:?}");
    }
    let closed = closed_port_url();
    let err = http.get(&closed).send().await.unwrap_err();
    assert!(err.is_connect(), "{err}");
    let origin = closed.trim_end_matches('/');
    assert_eq!(totals(&mw, origin).failures, 1);
}

/// Resolves every name to the upstream's loopback address: a thousand hosts, one server.
struct AllTo(SocketAddr);

impl Resolve for AllTo {
    fn resolve(&self, _: Name) -> Resolving {
        let addr = self.0;
        Box::pin(async move { Ok(Box::new(std::iter::once(addr)) as Addrs) })
    }
}

#[tokio::test]
async fn a_thousand_hosts_stay_under_the_cap_and_the_rest_share_the_overflow_breaker() {
    let (registry, _clock) = registry();
    let up = Upstream::start().await;
    let addr: SocketAddr = up.origin().trim_start_matches("http://").parse().unwrap();
    let mw = CircuitBreakerMiddleware::builder(&registry)
        .max_upstreams(100)
        .build()
        .unwrap();
    let _ = client(); // installs the crypto provider
    let inner = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .dns_resolver(Arc::new(AllTo(addr)))
        .build()
        .unwrap();
    let http = reqwest_middleware::ClientBuilder::new(inner)
        .with(mw.clone())
        .build();
    for i in 0..1000 {
        let url = format!("http://h{i}.test:{}/", addr.port());
        assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    }
    assert_eq!(up.hits(), 1000);
    assert_eq!(mw.breakers().len(), 100);
    assert_eq!(registry.names().len(), 101);
    let overflow = mw.breakers().overflow().unwrap();
    assert_eq!(overflow.name(), "upstream:~overflow");
    assert_eq!(overflow.snapshot().totals.successes, 900);
    let own = totals(&mw, &format!("http://h7.test:{}", addr.port()));
    assert_eq!(own.successes, 1);
}

#[tokio::test]
async fn a_rejection_is_an_error_that_downcasts_to_breaker_open_with_retry_after() {
    let (registry, clock) = registry();
    let up = Upstream::start().await;
    let mw = CircuitBreakerMiddleware::builder(&registry)
        .config(trips_after(1))
        .build()
        .unwrap();
    let http = client_with(mw.clone());
    up.set(Mode::Status(502, None));
    let _ = http.get(up.url("/")).send().await.unwrap();
    clock.advance(Duration::from_secs(4));
    let err = http.get(up.url("/")).send().await.unwrap_err();
    let reqwest_middleware::Error::Middleware(inner) = &err else {
        panic!("a rejection is a middleware error, not reqwest's: {err}");
    };
    let open = inner.downcast_ref::<breakerbox::BreakerOpen>().unwrap();
    assert_eq!(open.name(), format!("upstream:{}", up.origin()));
    assert_eq!(open.state(), State::Open);
    assert_eq!(open.retry_after(), Some(Duration::from_secs(6)));
    assert_eq!(rejection(&err).unwrap().retry_after(), open.retry_after());
    assert_eq!(up.hits(), 1);
}

/// Trips on a 429 or 503 with `Retry-After: retry` and returns the first rejection's wait.
async fn open_time_after(honor: bool, status: u16, retry: u64) -> Duration {
    let (registry, _clock) = registry();
    let up = Upstream::start().await;
    let mw = CircuitBreakerMiddleware::builder(&registry)
        .config(trips_after(1))
        .honor_retry_after(honor)
        .build()
        .unwrap();
    let http = client_with(mw);
    up.set(Mode::Status(status, Some(retry)));
    let _ = http.get(up.url("/")).send().await.unwrap();
    let err = http.get(up.url("/")).send().await.unwrap_err();
    rejection(&err).unwrap().retry_after().unwrap()
}

#[tokio::test]
async fn an_upstream_retry_after_stretches_the_open_time_up_to_max_reset_timeout_when_asked() {
    // reset_timeout 10 s, max_reset_timeout 60 s (`trips_after`).
    assert_eq!(
        open_time_after(false, 429, 30).await,
        Duration::from_secs(10)
    );
    assert_eq!(
        open_time_after(true, 429, 30).await,
        Duration::from_secs(30)
    );
    assert_eq!(
        open_time_after(true, 503, 45).await,
        Duration::from_secs(45)
    );
    assert_eq!(
        open_time_after(true, 503, 86_400).await,
        Duration::from_secs(60)
    );
    // Never shorter than the reset timeout; only 503 and 429 say how long to wait.
    assert_eq!(open_time_after(true, 429, 2).await, Duration::from_secs(10));
    assert_eq!(
        open_time_after(true, 500, 30).await,
        Duration::from_secs(10)
    );
}

#[test]
fn lookups_on_two_hosts_from_two_threads_count_exactly() {
    let (registry, _clock) = registry();
    let mw = CircuitBreakerMiddleware::new(&registry);
    let hosts = ["https://a.example", "https://b.example"];
    let threads: Vec<_> = hosts
        .into_iter()
        .map(|host| {
            let mw = mw.clone();
            std::thread::spawn(move || {
                for _ in 0..50_000 {
                    mw.breakers()
                        .breaker_for(host)
                        .unwrap()
                        .try_acquire()
                        .unwrap()
                        .success();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for host in hosts {
        assert_eq!(totals(&mw, host).successes, 50_000);
    }
    assert_eq!(mw.breakers().len(), 2);
}
