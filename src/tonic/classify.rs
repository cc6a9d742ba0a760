//! How a gRPC status counts against a breaker.

use std::sync::Arc;

use ::tonic::Code;

use crate::event::Outcome;

/// Decides how a gRPC call that ended with a status `Code` counts: a
/// [`Success`](Outcome::Success), a [`Failure`](Outcome::Failure) or
/// [`Ignore`](Outcome::Ignore). A transport error (no gRPC status at all: connection
/// refused, reset stream) is classified as [`Code::Unavailable`], as tonic reports it.
///
/// Implemented by [`GrpcClassifier`] (the default) and by any `Fn(Code) -> Outcome`
/// closure, which replaces it:
///
/// ```
/// use breakerbox::Outcome;
/// use breakerbox::tonic::ClassifyGrpc;
/// use tonic::Code;
///
/// // Only UNAVAILABLE counts; everything else is a success.
/// let classify = |code: Code| match code {
///     Code::Unavailable => Outcome::Failure,
///     _ => Outcome::Success,
/// };
/// assert_eq!(classify.classify(Code::Internal), Outcome::Success);
/// ```
pub trait ClassifyGrpc {
    /// How a call that ended with `code` counts.
    fn classify(&self, code: Code) -> Outcome;
}

impl<F> ClassifyGrpc for F
where
    F: Fn(Code) -> Outcome,
{
    fn classify(&self, code: Code) -> Outcome {
        self(code)
    }
}

/// The default gRPC classifier:
///
/// | code | outcome | why |
/// |---|---|---|
/// | `OK` | success | |
/// | `UNAVAILABLE` (and transport errors) | failure | the server is down or unreachable |
/// | `DEADLINE_EXCEEDED` | failure | the server did not answer in time |
/// | `RESOURCE_EXHAUSTED` | failure | the server is shedding load |
/// | `INTERNAL` | failure | the server broke |
/// | `UNKNOWN` | failure | an error the server did not map (often a panic or a bug) |
/// | `DATA_LOSS` | failure | the server lost or corrupted data |
/// | `NOT_FOUND`, `INVALID_ARGUMENT`, `ALREADY_EXISTS`, `PERMISSION_DENIED`, `UNAUTHENTICATED`, `FAILED_PRECONDITION` | success | the server answered: the request was wrong |
/// | `ABORTED`, `OUT_OF_RANGE`, `UNIMPLEMENTED` | success | the server answered |
/// | `CANCELLED` | ignored | the caller gave up: nothing learned about the server |
///
/// Adjust it per code with [`code`](GrpcClassifier::code). A cheap `Clone`.
///
/// ```
/// use breakerbox::Outcome;
/// use breakerbox::tonic::{ClassifyGrpc, GrpcClassifier};
/// use tonic::Code;
///
/// let c = GrpcClassifier::new().code(Code::Unimplemented, Outcome::Failure);
/// assert_eq!(c.classify(Code::Unavailable), Outcome::Failure);
/// assert_eq!(c.classify(Code::NotFound), Outcome::Success);
/// assert_eq!(c.classify(Code::Unimplemented), Outcome::Failure);
/// ```
#[derive(Debug, Clone, Default)]
pub struct GrpcClassifier {
    overrides: Option<Arc<[(Code, Outcome)]>>,
}

impl GrpcClassifier {
    /// The classifier of the table above.
    pub fn new() -> Self {
        GrpcClassifier::default()
    }

    /// Classifies `code` as `outcome`, overriding the table and earlier calls.
    #[must_use]
    pub fn code(self, code: Code, outcome: Outcome) -> Self {
        let mut rules = self.overrides.as_deref().unwrap_or_default().to_vec();
        rules.retain(|(c, _)| *c != code);
        rules.push((code, outcome));
        GrpcClassifier {
            overrides: Some(rules.into()),
        }
    }

    /// The table's outcome for `code`, without the overrides.
    pub fn default_outcome(code: Code) -> Outcome {
        match code {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Internal
            | Code::Unknown
            | Code::DataLoss => Outcome::Failure,
            Code::Cancelled => Outcome::Ignore,
            _ => Outcome::Success,
        }
    }
}

impl ClassifyGrpc for GrpcClassifier {
    fn classify(&self, code: Code) -> Outcome {
        self.overrides
            .as_deref()
            .and_then(|rules| rules.iter().find(|(c, _)| *c == code))
            .map_or_else(|| GrpcClassifier::default_outcome(code), |(_, o)| *o)
    }
}
