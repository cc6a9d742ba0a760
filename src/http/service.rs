//! The guarded service.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use super::classify::ClassifyResponse;
use super::future::ResponseFuture;
use super::keyed::PickBreaker;
use super::response::ResponseBody;

/// A service guarded by a circuit breaker; built by
/// [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
///
/// It adds no backpressure: `poll_ready` asks the inner service only, and the breaker
/// decides in `call`. A rejected request never reaches the inner service; it is answered
/// at once with a 503 response (see [`rejection_response`](super::rejection_response)),
/// not an error, so the service's error type is the inner one (`Infallible` stays
/// `Infallible`). The outcome is classified when the response head is ready; the time
/// to stream the body is not part of the call.
#[derive(Debug, Clone)]
pub struct CircuitBreakerService<S, P, C> {
    inner: S,
    picker: P,
    classifier: C,
}

impl<S, P, C> CircuitBreakerService<S, P, C> {
    /// Guards `inner` with the breaker `picker` chooses, classifying with `classifier`.
    pub fn new(inner: S, picker: P, classifier: C) -> Self {
        CircuitBreakerService {
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

impl<S, P, C, ReqB, ResB> Service<Request<ReqB>> for CircuitBreakerService<S, P, C>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    P: PickBreaker<ReqB>,
    C: ClassifyResponse<ResB, S::Error> + Clone,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        match self.picker.acquire(&req) {
            None => ResponseFuture::called(self.inner.call(req), None),
            Some(Ok(permit)) => {
                let guard = Some((permit, self.classifier.clone()));
                ResponseFuture::called(self.inner.call(req), guard)
            }
            Some(Err(open)) => ResponseFuture::rejected(open),
        }
    }
}
