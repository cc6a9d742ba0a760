//! The guarded service.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use super::classify::ClassifyResponse;
use super::future::{Reject, ResponseFuture};
use super::grpc::is_grpc;
use super::keyed::{PickBreaker, Picked};
use super::response::ResponseBody;

/// Whether `req` announces a body (a `content-length` above 0, or any
/// `transfer-encoding`). A rejection does not read it, and a server that leaves a request
/// body unread cannot reuse the connection: the 503 then says `connection: close`, so a
/// keep-alive client opens a new connection instead of failing on a dead one.
pub(crate) fn may_have_body<B>(req: &Request<B>) -> bool {
    let headers = req.headers();
    headers.contains_key(http::header::TRANSFER_ENCODING)
        || headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// A service guarded by a circuit breaker; built by
/// [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
///
/// It adds no backpressure: `poll_ready` asks the inner service only, and the breaker
/// decides in `call`. A rejected request never reaches the inner service; it is answered
/// at once with a 503 response (see [`rejection_response`](super::rejection_response)),
/// or, for a gRPC request (`content-type: application/grpc*`), with a trailers-only
/// `UNAVAILABLE` and gRPC's retry pushback (see
/// [`grpc_rejection_response`](super::grpc_rejection_response)); not an error, so the service's error type is the inner one (`Infallible` stays
/// `Infallible`). A rejected request that carries a body (left unread) gets
/// `connection: close`, so keep-alive clients do not reuse a connection the server must
/// drop. The outcome is classified when the response head is ready; the time
/// to stream the body is not part of the call.
#[derive(Debug, Clone)]
pub struct CircuitBreakerService<S, P, C> {
    inner: S,
    picker: P,
    classifier: C,
    hide_names: bool,
}

impl<S, P, C> CircuitBreakerService<S, P, C> {
    /// Guards `inner` with the breaker `picker` chooses, classifying with `classifier`.
    pub fn new(inner: S, picker: P, classifier: C) -> Self {
        CircuitBreakerService {
            inner,
            picker,
            classifier,
            hide_names: false,
        }
    }

    /// Leaves breaker names out of rejection bodies (see
    /// [`CircuitBreakerLayer::hide_breaker_names`](super::CircuitBreakerLayer::hide_breaker_names)).
    #[must_use]
    pub fn hide_breaker_names(mut self, hide: bool) -> Self {
        self.hide_names = hide;
        self
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
            Picked::Unguarded => ResponseFuture::called(self.inner.call(req), None),
            Picked::Admitted(permit) => {
                let guard = Some((permit, self.classifier.clone()));
                ResponseFuture::called(self.inner.call(req), guard)
            }
            Picked::Rejected(open) => {
                let grpc = is_grpc(&req);
                let how = Reject {
                    // HTTP/2 (gRPC) has no `connection: close`: a stream is reset instead.
                    close: !grpc && may_have_body(&req),
                    hide_names: self.hide_names,
                    grpc,
                };
                ResponseFuture::rejected(open, how)
            }
        }
    }
}
