//! Tower layers for the limits (features `limit` and `tower`): a full bulkhead answers
//! 503, a rate limit 429 with `Retry-After`, both problem+json, without calling the inner
//! service.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::header::{CONNECTION, HeaderValue};
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::{Bulkhead, BulkheadPermit, RateLimit};
use crate::http::{ResponseBody, limited_response};
use crate::limited::Limited;

/// Guards a service with a [`Bulkhead`] or a [`RateLimit`]. A refused request never
/// reaches the inner service and gets the [`limited_response`] (503 or 429); with an
/// unread body it also says `connection: close`. Like the breaker layer it adds no
/// backpressure and keeps the inner error type. A cheap `Clone`.
///
/// ```
/// use axum::{Router, routing::post};
/// use breakerbox::limit::{Bulkhead, LimitLayer, RateLimit};
///
/// let app: Router = Router::new()
///     .route("/trade", post(|| async { "ok" }))
///     .layer(LimitLayer::bulkhead(Bulkhead::new("trade", 64)?))
///     .layer(LimitLayer::rate(RateLimit::per_second("trade", 100, 200)?));
/// # Ok::<(), breakerbox::BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LimitLayer {
    limit: Limit,
}

#[derive(Debug, Clone)]
enum Limit {
    Bulkhead(Bulkhead),
    Rate(RateLimit),
}

impl Limit {
    /// Admits a request: the bulkhead slot to hold until the response, if any.
    fn admit(&self) -> Result<Option<BulkheadPermit>, Limited> {
        match self {
            Limit::Bulkhead(b) => b.try_acquire().map(Some),
            Limit::Rate(r) => r.check().map(|()| None),
        }
    }
}

impl LimitLayer {
    /// At most the bulkhead's `max_concurrent` requests in flight (a slot is held until
    /// the response head is ready).
    pub fn bulkhead(bulkhead: Bulkhead) -> Self {
        LimitLayer {
            limit: Limit::Bulkhead(bulkhead),
        }
    }

    /// Requests within the rate limit.
    pub fn rate(limit: RateLimit) -> Self {
        LimitLayer {
            limit: Limit::Rate(limit),
        }
    }
}

impl<S> Layer<S> for LimitLayer {
    type Service = LimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LimitService {
            inner,
            limit: self.limit.clone(),
        }
    }
}

/// A service guarded by a limit; built by [`LimitLayer`].
#[derive(Debug, Clone)]
pub struct LimitService<S> {
    inner: S,
    limit: Limit,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for LimitService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = LimitFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        match self.limit.admit() {
            Ok(slot) => LimitFuture {
                kind: Kind::Called {
                    fut: self.inner.call(req),
                    slot,
                },
            },
            Err(limited) => {
                let mut res = limited_response(&limited);
                if crate::http::service::may_have_body(&req) {
                    res.headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                LimitFuture {
                    kind: Kind::Refused { res: Some(res) },
                }
            }
        }
    }
}

pin_project! {
    /// The response future of [`LimitService`]: the inner response (the bulkhead slot is
    /// freed when it is ready or dropped), or the refusal, already ready.
    pub struct LimitFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Called { #[pin] fut: F, slot: Option<BulkheadPermit> },
        Refused { res: Option<Response<bytes::Bytes>> },
    }
}

impl<F> std::fmt::Debug for LimitFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LimitFuture")
    }
}

impl<F, B, E> Future for LimitFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called { fut, slot } => {
                let result = ready!(fut.poll(cx));
                drop(slot.take());
                Poll::Ready(result.map(|res| res.map(ResponseBody::new)))
            }
            KindProj::Refused { res } => {
                let res = res.take().expect("LimitFuture polled after completion");
                Poll::Ready(Ok(res.map(ResponseBody::full)))
            }
        }
    }
}
