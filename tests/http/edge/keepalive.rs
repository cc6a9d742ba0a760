//! A 503 from the layer to a request whose body was never read must not break the
//! client's next request on the same connection: the server either keeps the connection
//! usable or says `connection: close`. Driven with hyper's single-connection client,
//! which (unlike a pool) never retries a request on a connection the server dropped.

use axum::Router;
use axum::routing::post;
use breakerbox::CircuitBreaker;
use breakerbox::http::CircuitBreakerLayer;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use crate::support::http::Served;

async fn connect(served: &Served) -> SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(served.addr).await.unwrap();
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    sender
}

#[tokio::test]
async fn rejected_posts_with_unread_bodies_never_break_the_next_request() {
    let breaker = CircuitBreaker::new("trade");
    let app = Router::new()
        .route(
            "/trade",
            post(|body: String| async move { body.len().to_string() }),
        )
        .layer(CircuitBreakerLayer::new(breaker.clone()));
    let served = Served::start(app).await;
    breaker.force_open();
    let mut sender = connect(&served).await;
    let mut broken = Vec::new();
    // Bodies from small (read with the head) to larger than the server's read buffer.
    let sizes = [16, 1 << 10, 64 << 10, 512 << 10];
    for (i, size) in sizes.iter().cycle().take(24).enumerate() {
        let req = hyper::Request::post(format!("http://{}/trade", served.addr))
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from(vec![b'x'; *size])))
            .unwrap();
        let res = match sender.ready().await {
            Ok(()) => sender.send_request(req).await,
            Err(e) => Err(e),
        };
        let res = match res {
            Ok(res) => res,
            Err(e) => {
                broken.push(format!("request {i} ({size} bytes): {e}"));
                sender = connect(&served).await;
                continue;
            }
        };
        assert_eq!(res.status(), 503, "request {i}");
        let close = res
            .headers()
            .get("connection")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let _ = res.into_body().collect().await;
        if close {
            // Told to: a well-behaved client opens a new connection.
            sender = connect(&served).await;
        }
    }
    assert!(broken.is_empty(), "{} broken: {broken:#?}", broken.len());
    // Closed again, a request with a body is served on a fresh connection.
    breaker.reset();
    let mut sender = connect(&served).await;
    let req = hyper::Request::post(format!("http://{}/trade", served.addr))
        .body(Full::new(Bytes::from_static(b"abc")))
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"3");
}
