//! Two of the demo's dependencies over a real network, through the client integrations:
//! `recommendations` is an HTTP API on loopback called with reqwest through
//! `breakerbox::reqwest`'s middleware, `search` a gRPC service on loopback called with
//! tonic through `breakerbox::tonic`'s layer. Each upstream answers as its simulated
//! dependency does (fails, slows down and recovers in phases), and each keeps the
//! breaker of its name, so the dashboards see them like the others.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use breakerbox::reqwest::{CircuitBreakerMiddleware, rejection};
use breakerbox::tonic::{GrpcBreakerLayer, GrpcBreakerService, GrpcClassifier, pushback_ms};
use breakerbox::{CircuitBreaker, Config, Registry};
use reqwest_middleware::ClientWithMiddleware;
use tonic::body::Body;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tower::{Service, ServiceBuilder};

#[path = "../common/raw_codec.rs"]
mod raw_codec;
use raw_codec::RawCodec;

use crate::dependency::Dependency;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A dependency over the network.
pub enum Remote {
    /// Over HTTP, through the reqwest middleware.
    Http(Recommendations),
    /// Over gRPC, through the tonic layer.
    Grpc(Search),
}

impl Remote {
    /// One request; whether a breaker refused it.
    pub async fn request(&self) -> bool {
        match self {
            Remote::Http(api) => api.request().await,
            Remote::Grpc(search) => search.request().await,
        }
    }
}

/// The recommendations API: an axum upstream and a client with the breaker middleware.
pub struct Recommendations {
    client: ClientWithMiddleware,
    url: String,
}

impl Recommendations {
    /// Serves `dep` over HTTP on loopback; calls go through the breaker `name` of
    /// `registry` (the middleware's key is constant and its prefix empty, so its one
    /// upstream is that breaker).
    pub async fn start(
        registry: &Registry,
        name: &'static str,
        config: Config,
        dep: Arc<Dependency>,
    ) -> Result<Self, BoxError> {
        let app = Router::new().route(
            "/",
            get(move || {
                let dep = dep.clone();
                async move {
                    match dep.request().await {
                        Ok(_) => (StatusCode::OK, "recommended"),
                        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "failing"),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        let middleware = CircuitBreakerMiddleware::builder(registry)
            .config(config)
            .prefix("")
            .key(move |_: &reqwest::Request| Some(name))
            .build()?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().no_proxy().build()?;
        let client = reqwest_middleware::ClientBuilder::new(http)
            .with(middleware)
            .build();
        Ok(Recommendations { client, url })
    }

    /// One request; whether a breaker refused it.
    pub async fn request(&self) -> bool {
        match self.client.get(&self.url).send().await {
            Ok(res) => {
                let _ = res.bytes().await;
                false
            }
            Err(e) => rejection(&e).is_some(),
        }
    }
}

/// The search service: a tonic server and a channel guarded by the gRPC layer.
pub struct Search {
    client: GrpcBreakerService<Channel, CircuitBreaker, GrpcClassifier>,
}

impl Search {
    /// Serves `dep` over gRPC on loopback; calls go through `breaker`.
    pub async fn start(breaker: CircuitBreaker, dep: Arc<Dependency>) -> Result<Self, BoxError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let service = SearchService { dep };
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
        });
        let channel = Channel::from_shared(url)?.connect_lazy();
        let client = ServiceBuilder::new()
            .layer(GrpcBreakerLayer::new(breaker))
            .service(channel);
        Ok(Search { client })
    }

    /// One query; whether a breaker refused it (an `UNAVAILABLE` with a pushback).
    pub async fn request(&self) -> bool {
        let mut grpc = tonic::client::Grpc::new(self.client.clone());
        if grpc.ready().await.is_err() {
            return false;
        }
        let path = http::uri::PathAndQuery::from_static("/demo.Search/Query");
        let result = grpc
            .unary(tonic::Request::new(Vec::new()), path, RawCodec)
            .await;
        result.is_err_and(|s| pushback_ms(&s).is_some())
    }
}

/// `demo.Search`: answers as its simulated dependency.
#[derive(Clone)]
struct SearchService {
    dep: Arc<Dependency>,
}

impl tonic::server::NamedService for SearchService {
    const NAME: &'static str = "demo.Search";
}

impl Service<http::Request<Body>> for SearchService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let dep = self.dep.clone();
        Box::pin(async move {
            let query = tower::service_fn(move |_: tonic::Request<Vec<u8>>| {
                let dep = dep.clone();
                async move {
                    match dep.request().await {
                        Ok(_) => Ok(tonic::Response::new(b"results".to_vec())),
                        Err(e) => Err(Status::new(Code::Unavailable, e)),
                    }
                }
            });
            Ok(tonic::server::Grpc::new(RawCodec).unary(query, req).await)
        })
    }
}
