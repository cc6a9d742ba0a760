//! A real tonic server on loopback, without protoc: one hand-written service whose
//! methods answer the status code the request's single byte names (0: OK), through a
//! codec of raw bytes. The server is guarded by breakerbox's tower layer.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use breakerbox::CircuitBreaker;
use breakerbox::http::CircuitBreakerLayer;
use http::uri::PathAndQuery;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tower::Service;

#[path = "../../examples/common/raw_codec.rs"]
mod raw_codec;
pub use raw_codec::RawCodec;

/// The service `test.Codes`: every method answers the code its request names.
#[derive(Debug, Clone, Default)]
pub struct Codes {
    calls: Arc<AtomicU64>,
}

impl NamedService for Codes {
    const NAME: &'static str = "test.Codes";
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl Service<http::Request<Body>> for Codes {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFut<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let answer = tower::service_fn(|r: tonic::Request<Vec<u8>>| async move {
                match r.into_inner().first().copied().unwrap_or(0) {
                    0 => Ok(tonic::Response::new(b"ok".to_vec())),
                    code => Err(Status::new(Code::from(i32::from(code)), "as asked")),
                }
            });
            Ok(tonic::server::Grpc::new(RawCodec).unary(answer, req).await)
        })
    }
}

/// A running server.
pub struct GrpcServer {
    pub addr: SocketAddr,
    /// The calls that reached the service (past the layer).
    pub calls: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GrpcServer {
    /// Serves `test.Codes` on a free loopback port behind `breaker`'s tower layer.
    pub async fn start(breaker: CircuitBreaker) -> GrpcServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let codes = Codes::default();
        let calls = codes.calls.clone();
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .layer(CircuitBreakerLayer::new(breaker))
                .add_service(codes)
                .serve_with_incoming(incoming)
                .await
                .unwrap();
        });
        GrpcServer { addr, calls, task }
    }

    /// A channel to the server.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }
}

/// Calls `/test.Codes/{method}` through `svc`, asking for `code`.
pub async fn call<S>(svc: S, method: &str, code: Code) -> Result<Vec<u8>, Status>
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
    let path = PathAndQuery::try_from(format!("/test.Codes/{method}")).unwrap();
    let code = u8::try_from(code as i32).unwrap();
    grpc.unary(tonic::Request::new(vec![code]), path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}
