//! The guarded gRPC client service.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use super::body::{GrpcBody, Pending};
use super::classify::ClassifyGrpc;
use super::future::ResponseFuture;
use crate::http::{PickBreaker, Picked};

/// A gRPC client service (a tonic `Channel`) guarded by circuit breakers; built by
/// [`GrpcBreakerLayer`](super::GrpcBreakerLayer).
///
/// It adds no backpressure: `poll_ready` asks the inner service only, and the breaker
/// decides in `call`. A rejected call never reaches the channel: it is answered at once
/// with a trailers-only `UNAVAILABLE` and `grpc-retry-pushback-ms`, so the error type is
/// the channel's and tonic's generated clients need no change. The call's outcome is its
/// gRPC status, read from the trailers when the response body ends (see [`GrpcBody`]).
#[derive(Debug, Clone)]
pub struct GrpcBreakerService<S, P, C> {
    inner: S,
    picker: P,
    classifier: C,
}

impl<S, P, C> GrpcBreakerService<S, P, C> {
    /// Guards `inner` with the breaker `picker` chooses, classifying with `classifier`.
    pub fn new(inner: S, picker: P, classifier: C) -> Self {
        GrpcBreakerService {
            inner,
            picker,
            classifier,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, P, C, ReqB, ResB> Service<Request<ReqB>> for GrpcBreakerService<S, P, C>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    P: PickBreaker<ReqB>,
    C: ClassifyGrpc + Clone,
{
    type Response = Response<GrpcBody<ResB, C>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        match self.picker.acquire(&req) {
            Picked::Unguarded => ResponseFuture::called(self.inner.call(req), None),
            Picked::Admitted(permit) => {
                let pending = Pending {
                    permit,
                    classifier: self.classifier.clone(),
                };
                ResponseFuture::called(self.inner.call(req), Some(pending))
            }
            Picked::Rejected(open) => ResponseFuture::rejected(open),
        }
    }
}
