//! gRPC with tonic on both sides, without protoc: a hand-written `demo.Orders` service
//! (messages are raw bytes) behind breakerbox's tower layer on the server, called through
//! a tonic `Channel` guarded by `GrpcBreakerLayer` with one breaker per method.
//!
//! - The client's `Get` breaker trips on `UNAVAILABLE` answers; `NOT_FOUND` answers (the
//!   server answered; the order does not exist) never count. `List` keeps its own breaker.
//! - The server's breaker, forced open by an operator, answers every call with a
//!   trailers-only `UNAVAILABLE` and `grpc-retry-pushback-ms`, which the tonic client reads
//!   as a `Status`.
//!
//! Run: `cargo run --example grpc --features tonic`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use breakerbox::http::CircuitBreakerLayer;
use breakerbox::tonic::{GrpcBreakerLayer, GrpcKey, pushback_ms};
use breakerbox::{Config, Registry};
use tonic::body::Body;
use tonic::{Code, Status};
use tower::{Service, ServiceBuilder};

#[path = "common/raw_codec.rs"]
mod raw_codec;
use raw_codec::RawCodec;

/// `demo.Orders`: answers with the status code `answer` holds (0: OK).
#[derive(Clone)]
struct Orders {
    answer: Arc<AtomicU8>,
}

impl tonic::server::NamedService for Orders {
    const NAME: &'static str = "demo.Orders";
}

impl Service<http::Request<Body>> for Orders {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let code = self.answer.load(Ordering::SeqCst);
        Box::pin(async move {
            let handler = tower::service_fn(move |_: tonic::Request<Vec<u8>>| async move {
                match code {
                    0 => Ok(tonic::Response::new(b"order 42".to_vec())),
                    c => Err(Status::new(Code::from(i32::from(c)), "as configured")),
                }
            });
            Ok(tonic::server::Grpc::new(RawCodec).unary(handler, req).await)
        })
    }
}

/// Calls `/demo.Orders/{method}` through `svc`.
async fn call<S>(svc: S, method: &'static str) -> Result<Vec<u8>, Status>
where
    S: tonic::client::GrpcService<Body>,
    S::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <S::ResponseBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut grpc = tonic::client::Grpc::new(svc);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.into().to_string()))?;
    let path = http::uri::PathAndQuery::from_static(match method {
        "Get" => "/demo.Orders/Get",
        _ => "/demo.Orders/List",
    });
    let res = grpc
        .unary(tonic::Request::new(vec![]), path, RawCodec)
        .await?;
    Ok(res.into_inner())
}

fn show(method: &str, r: &Result<Vec<u8>, Status>) {
    match r {
        Ok(body) => println!("{method}: OK {}", String::from_utf8_lossy(body)),
        Err(s) => match pushback_ms(s) {
            Some(ms) => println!(
                "{method}: {:?} {:?}, pushback {ms} ms",
                s.code(),
                s.message()
            ),
            None => println!("{method}: {:?} {:?}", s.code(), s.message()),
        },
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = Registry::new();
    let answer = Arc::new(AtomicU8::new(0));
    let server_breaker = registry.breaker("orders-server", Config::edge())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let orders = Orders {
        answer: answer.clone(),
    };
    let layer = CircuitBreakerLayer::new(server_breaker.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(orders)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
    });

    let config = Config::rpc().into_builder().failure_threshold(2).build()?;
    let per_method = GrpcBreakerLayer::keyed(&registry, config, GrpcKey::Method)?;
    let channel = tonic::transport::Channel::from_shared(url)?
        .connect()
        .await?;
    let client = ServiceBuilder::new().layer(per_method).service(channel);

    println!("the server answers NOT_FOUND: the server answered, nothing trips");
    answer.store(Code::NotFound as u8, Ordering::SeqCst);
    for _ in 0..3 {
        show("Get", &call(client.clone(), "Get").await);
    }
    println!("the server answers UNAVAILABLE: the Get breaker trips after 2");
    answer.store(Code::Unavailable as u8, Ordering::SeqCst);
    for _ in 0..3 {
        show("Get", &call(client.clone(), "Get").await);
    }
    answer.store(0, Ordering::SeqCst);
    show("List", &call(client.clone(), "List").await);

    println!("an operator forces the server's breaker open for 30 s");
    server_breaker.force_open_for(Duration::from_secs(30));
    show("List", &call(client.clone(), "List").await);

    for b in registry.snapshot_all() {
        println!("{}: {:?}, {:?}", b.name, b.state, b.totals);
    }
    Ok(())
}
