//! The response future of [`CircuitBreakerService`](super::CircuitBreakerService).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use http::header::{CONNECTION, HeaderValue};
use pin_project_lite::pin_project;

use super::classify::ClassifyResponse;
use super::grpc::grpc_rejection_response;
use super::response::{ResponseBody, anonymous_rejection_response, rejection_response};
use crate::breaker::OwnedPermit;
use crate::error::BreakerOpen;
use crate::event::Outcome;
use crate::limited::Limited;

/// How a rejection answers.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Reject {
    /// Add `connection: close`: the request's body is left unread.
    pub(crate) close: bool,
    /// Leave the breaker's name and state out of the body.
    pub(crate) hide_names: bool,
    /// A gRPC request: answer `UNAVAILABLE` with a pushback instead of a 503.
    pub(crate) grpc: bool,
}

pin_project! {
    /// Resolves to the inner service's response, after recording its outcome with the
    /// breaker, or at once to the rejection: a 503, or for a gRPC request a trailers-only
    /// `UNAVAILABLE` with `grpc-retry-pushback-ms`.
    ///
    /// Dropped before it completes, the call counts as ignored and frees its half-open
    /// trial slot. A refusal by a bulkhead or a rate limit inside (a response carrying a
    /// [`Limited`] in its extensions) counts as ignored whatever the classifier says: the
    /// call never reached the dependency.
    pub struct ResponseFuture<F, C> {
        #[pin]
        kind: Kind<F, C>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, C> {
        Called {
            #[pin]
            fut: F,
            guard: Option<(OwnedPermit, C)>,
        },
        Rejected {
            open: Option<BreakerOpen>,
            how: Reject,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    /// The inner call, guarded by `permit` (`None`: not guarded).
    pub(crate) fn called(fut: F, guard: Option<(OwnedPermit, C)>) -> Self {
        ResponseFuture {
            kind: Kind::Called { fut, guard },
        }
    }

    /// An already-ready rejection.
    pub(crate) fn rejected(open: BreakerOpen, how: Reject) -> Self {
        ResponseFuture {
            kind: Kind::Rejected {
                open: Some(open),
                how,
            },
        }
    }
}

/// How the call counts: a limit's refusal never counts against a breaker (it says nothing
/// about the dependency), whatever the classifier; else the classifier decides.
fn outcome<C, B, E>(classifier: &C, result: &Result<Response<B>, E>) -> Outcome
where
    C: ClassifyResponse<B, E>,
{
    match result {
        Ok(res) if res.extensions().get::<Limited>().is_some() => Outcome::Ignore,
        _ => classifier.classify(result),
    }
}

impl<F, C> std::fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Called { guard, .. } => f
                .debug_struct("ResponseFuture::Called")
                .field("permit", &guard.as_ref().map(|(p, _)| p))
                .finish_non_exhaustive(),
            Kind::Rejected { open, .. } => f
                .debug_struct("ResponseFuture::Rejected")
                .field("open", open)
                .finish(),
        }
    }
}

impl<F, C, B, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<Response<B>, E>>,
    C: ClassifyResponse<B, E>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called { fut, guard } => {
                let result = ready!(fut.poll(cx));
                if let Some((permit, classifier)) = guard.take() {
                    permit.record(outcome(&classifier, &result));
                }
                Poll::Ready(result.map(|res| res.map(ResponseBody::new)))
            }
            KindProj::Rejected { open, how } => {
                let open = open.take().expect("ResponseFuture polled after completion");
                let mut res = if how.grpc {
                    grpc_rejection_response(&open, how.hide_names)
                } else if how.hide_names {
                    anonymous_rejection_response(&open)
                } else {
                    rejection_response(&open)
                };
                if how.close {
                    res.headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                Poll::Ready(Ok(res.map(ResponseBody::full)))
            }
        }
    }
}
