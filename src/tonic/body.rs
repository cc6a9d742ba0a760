//! The response body of a guarded gRPC call: the call's outcome is its status, which
//! arrives in the trailers after the messages.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ::tonic::Code;
use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::classify::ClassifyGrpc;
use crate::breaker::OwnedPermit;
use crate::http::GRPC_STATUS;

/// The status code in `headers` (trailers, or the headers of a trailers-only response).
pub(crate) fn grpc_code(headers: &HeaderMap) -> Option<Code> {
    headers
        .get(GRPC_STATUS)
        .map(|v| Code::from_bytes(v.as_bytes()))
}

/// A permit waiting for its call's status, with the classifier that will read it.
pub(crate) struct Pending<C> {
    pub(crate) permit: OwnedPermit,
    pub(crate) classifier: C,
}

impl<C: ClassifyGrpc> Pending<C> {
    /// Records the call as ended with `code`.
    pub(crate) fn finish(self, code: Code) {
        self.permit.record(self.classifier.classify(code));
    }
}

pin_project! {
    /// The body of a [`GrpcBreakerService`](super::GrpcBreakerService)'s response: the
    /// inner body, whose trailers' `grpc-status` records the call's outcome; or the empty
    /// body of a rejection (a trailers-only `UNAVAILABLE`).
    ///
    /// A stream that ends without a status counts as `UNKNOWN`, one that fails as
    /// `UNAVAILABLE`; a body dropped before its end counts as ignored.
    pub struct GrpcBody<B, C> {
        #[pin]
        kind: Kind<B>,
        pending: Option<Pending<C>>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Empty,
    }
}

impl<B, C> GrpcBody<B, C> {
    /// The inner body; `pending` waits for its trailers.
    pub(crate) fn new(body: B, pending: Option<Pending<C>>) -> Self {
        GrpcBody {
            kind: Kind::Inner { body },
            pending,
        }
    }

    /// The empty body of a rejection.
    pub(crate) fn empty() -> Self {
        GrpcBody {
            kind: Kind::Empty,
            pending: None,
        }
    }
}

impl<B, C> std::fmt::Debug for GrpcBody<B, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcBody")
            .field("pending", &self.pending.as_ref().map(|p| &p.permit))
            .finish_non_exhaustive()
    }
}

impl<B, C> Body for GrpcBody<B, C>
where
    B: Body<Data = Bytes>,
    C: ClassifyGrpc,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let KindProj::Inner { body } = this.kind.project() else {
            return Poll::Ready(None);
        };
        let frame = ready!(body.poll_frame(cx));
        if let Some(pending) = this.pending.take() {
            match &frame {
                Some(Ok(f)) => match f.trailers_ref() {
                    Some(trailers) => pending.finish(grpc_code(trailers).unwrap_or(Code::Unknown)),
                    None => *this.pending = Some(pending),
                },
                Some(Err(_)) => pending.finish(Code::Unavailable),
                None => pending.finish(Code::Unknown),
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Empty => SizeHint::with_exact(0),
        }
    }
}
