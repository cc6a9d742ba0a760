//! The response future of [`GrpcBreakerService`](super::GrpcBreakerService).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ::tonic::Code;
use http::Response;
use pin_project_lite::pin_project;

use super::body::{GrpcBody, Pending, grpc_code};
use super::classify::ClassifyGrpc;
use crate::error::BreakerOpen;
use crate::http::grpc_rejection_response;

pin_project! {
    /// Resolves to the channel's response, whose body records the call's status when its
    /// trailers arrive (at once for a trailers-only response), or at once to the
    /// rejection: a trailers-only `UNAVAILABLE` with `grpc-retry-pushback-ms`, which
    /// tonic's client returns as a `Status` carrying the pushback in its metadata.
    ///
    /// An error of the channel (no response at all) counts as `UNAVAILABLE`; a future
    /// dropped before the response counts as ignored.
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
            pending: Option<Pending<C>>,
        },
        Rejected {
            open: Option<BreakerOpen>,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn called(fut: F, pending: Option<Pending<C>>) -> Self {
        ResponseFuture {
            kind: Kind::Called { fut, pending },
        }
    }

    pub(crate) fn rejected(open: BreakerOpen) -> Self {
        ResponseFuture {
            kind: Kind::Rejected { open: Some(open) },
        }
    }
}

impl<F, C> std::fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Called { pending, .. } => f
                .debug_struct("ResponseFuture::Called")
                .field("permit", &pending.as_ref().map(|p| &p.permit))
                .finish_non_exhaustive(),
            Kind::Rejected { open } => f
                .debug_struct("ResponseFuture::Rejected")
                .field("open", open)
                .finish(),
        }
    }
}

impl<F, C, B, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<Response<B>, E>>,
    C: ClassifyGrpc,
{
    type Output = Result<Response<GrpcBody<B, C>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called { fut, pending } => {
                let result = ready!(fut.poll(cx));
                let mut pending = pending.take();
                let res = match result {
                    Ok(res) => res,
                    Err(e) => {
                        if let Some(p) = pending {
                            p.finish(Code::Unavailable);
                        }
                        return Poll::Ready(Err(e));
                    }
                };
                // A trailers-only response (an error status, no message) ends here.
                if let Some(code) = grpc_code(res.headers())
                    && let Some(p) = pending.take()
                {
                    p.finish(code);
                }
                Poll::Ready(Ok(res.map(|body| GrpcBody::new(body, pending))))
            }
            KindProj::Rejected { open } => {
                let open = open.take().expect("ResponseFuture polled after completion");
                let res = grpc_rejection_response(&open, false);
                Poll::Ready(Ok(res.map(|_| GrpcBody::empty())))
            }
        }
    }
}
