//! Names of breakers and limits: the rules (length, no backslash), their error, and the
//! compact copy a rejection carries.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// The longest name of a breaker, a bulkhead or a rate limit, in bytes. A name is also the
/// `breaker` label of every metric series, so it is bounded.
pub const MAX_NAME_LEN: usize = 128;

/// A name that is empty, longer than [`MAX_NAME_LEN`] bytes, or holds a backslash (`\`).
///
/// A name is the `breaker` label of every metric series of its breaker or limit. The Prometheus
/// exporter (`metrics-exporter-prometheus`, which writes most of those series) escapes
/// every character of a label value faithfully except the backslash, which it reads as
/// the start of an escape: `a\"b` and `a"b` would render as one label, `x\` + line feed
/// as another value. A backslash is therefore refused, so every accepted name renders as
/// itself and no two names share a label (see "Label values" in `docs/METRICS.md`).
///
/// A name is not configuration: a breaker, a keyed breaker family, a bulkhead and a rate
/// limit all refuse such a name with this error, converted into the error of the builder
/// ([`BuildError::Name`](crate::BuildError::Name),
/// [`RegistryError::Name`](crate::RegistryError::Name)).
///
/// ```
/// use breakerbox::{BuildError, CircuitBreaker, MAX_NAME_LEN};
///
/// let long = "x".repeat(MAX_NAME_LEN + 1);
/// let Err(BuildError::Name(e)) = CircuitBreaker::builder(long).build() else { panic!() };
/// assert_eq!(e.len(), MAX_NAME_LEN + 1);
/// assert_eq!(e.to_string(), "name must be 1 to 128 bytes, got 129 bytes");
///
/// let Err(BuildError::Name(e)) = CircuitBreaker::builder(r"corp\db").build() else { panic!() };
/// assert_eq!(e.problem(), breakerbox::NameProblem::Backslash);
/// assert_eq!(e.to_string(), "name must not contain a backslash, found at byte 4");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    name: String,
    problem: NameProblem,
}

/// Which rule a refused name breaks ([`NameError::problem`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameProblem {
    /// Empty, or longer than [`MAX_NAME_LEN`] bytes.
    Length,
    /// Holds a backslash (`\`), which the Prometheus exporter does not escape
    /// faithfully in a label value.
    Backslash,
}

/// Whether `name` keeps every rule on its characters (its length aside): no backslash.
#[inline]
pub(crate) fn allowed_chars(name: &str) -> bool {
    !name.contains('\\')
}

impl NameError {
    /// Checks the rules: `Ok` for 1 to [`MAX_NAME_LEN`] bytes without a backslash.
    pub(crate) fn check(name: &str) -> Result<(), NameError> {
        let problem = if name.is_empty() || name.len() > MAX_NAME_LEN {
            NameProblem::Length
        } else if !allowed_chars(name) {
            NameProblem::Backslash
        } else {
            return Ok(());
        };
        Err(NameError {
            name: name.to_owned(),
            problem,
        })
    }

    /// Which rule the name breaks.
    pub fn problem(&self) -> NameProblem {
        self.problem
    }

    /// The name that was refused.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its length in bytes: 0 or more than [`MAX_NAME_LEN`] for [`NameProblem::Length`].
    pub fn len(&self) -> usize {
        self.name.len()
    }

    /// Whether the refused name was empty.
    pub fn is_empty(&self) -> bool {
        self.name.is_empty()
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problem {
            NameProblem::Length => write!(
                f,
                "name must be 1 to {MAX_NAME_LEN} bytes, got {} bytes",
                self.name.len()
            ),
            NameProblem::Backslash => write!(
                f,
                "name must not contain a backslash, found at byte {}",
                self.name.find('\\').unwrap_or_default()
            ),
        }
    }
}

impl StdError for NameError {}

/// Names up to this many bytes are copied into a rejection instead of being shared through
/// a reference count, so that a rejection on a hot path costs no atomic read-modify-write
/// (two of them, with the drop, on a line every rejecting thread shares).
pub(crate) const INLINE_NAME: usize = 46;

/// A breaker name held by a rejection: inline when short, shared otherwise.
#[derive(Clone)]
pub(crate) enum Name {
    Inline { len: u8, bytes: [u8; INLINE_NAME] },
    Shared(Arc<str>),
}

impl Name {
    #[inline]
    pub(crate) fn new(name: &Arc<str>) -> Name {
        let src = name.as_bytes();
        if src.len() <= INLINE_NAME {
            let mut bytes = [0; INLINE_NAME];
            bytes[..src.len()].copy_from_slice(src);
            Name::Inline {
                len: src.len() as u8,
                bytes,
            }
        } else {
            Name::Shared(name.clone())
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Copied whole from a `str`, so always valid UTF-8.
            Name::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..*len as usize]).unwrap_or("")
            }
            Name::Shared(s) => s,
        }
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_1_to_max_bytes_are_accepted_and_others_refused() {
        assert!(NameError::check("a").is_ok());
        assert!(NameError::check(&"x".repeat(MAX_NAME_LEN)).is_ok());
        let long = NameError::check(&"x".repeat(MAX_NAME_LEN + 1)).unwrap_err();
        assert_eq!(long.len(), MAX_NAME_LEN + 1);
        assert!(!long.is_empty());
        let empty = NameError::check("").unwrap_err();
        assert!(empty.is_empty());
        assert_eq!(empty.name(), "");
    }

    #[test]
    fn every_builder_refuses_a_bad_name_with_a_name_error() {
        use crate::{BuildError, CircuitBreaker, Config, Registry, RegistryError};
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert!(
            CircuitBreaker::builder("x".repeat(MAX_NAME_LEN))
                .build()
                .is_ok()
        );
        let Err(BuildError::Name(e)) = CircuitBreaker::builder(long.clone()).build() else {
            panic!("a 129-byte name must be a name error");
        };
        assert_eq!(e.name(), long);
        let registry = Registry::new();
        let Err(RegistryError::Name(e)) = registry.breaker("", Config::default()) else {
            panic!("an empty name must be a name error");
        };
        assert!(e.is_empty());
        #[cfg(feature = "limit")]
        {
            use crate::limit::{Bulkhead, RateLimit};
            let e = Bulkhead::new(long.as_str(), 1).unwrap_err();
            assert!(matches!(e, BuildError::Name(_)), "{e:?}");
            assert_eq!(e.field(), "name");
            let e = RateLimit::per_second("", 1, 1).unwrap_err();
            assert!(matches!(e, BuildError::Name(_)), "{e:?}");
        }
        #[cfg(feature = "tower")]
        {
            let keyed = crate::http::KeyedBreakers::builder(&registry, Config::default())
                .prefix(long)
                .build(|_: &http::Request<()>| None::<&str>);
            assert_eq!(
                keyed.unwrap_err().len(),
                MAX_NAME_LEN + 1 + "~overflow".len()
            );
        }
    }

    /// The exporter reads a backslash in a label value as an escape start, so a name
    /// holding one is refused everywhere a name is given; a keyed family sends such a key
    /// to its overflow breaker instead of leaving the request unguarded.
    #[test]
    fn a_backslash_is_refused_in_every_name_and_a_keyed_family_overflows_it() {
        use crate::{BuildError, CircuitBreaker, Config, Registry, RegistryError};
        for name in ["all\"\\\n3", "bq\\\"x", "hx\\\ny", "\\", "a\\\\b"] {
            let e = NameError::check(name).unwrap_err();
            assert_eq!(e.problem(), NameProblem::Backslash, "{name:?}");
            assert_eq!(e.name(), name);
            let Err(BuildError::Name(e)) = CircuitBreaker::builder(name).build() else {
                panic!("{name:?} must be refused");
            };
            assert_eq!(e.problem(), NameProblem::Backslash);
            let registry = Registry::new();
            assert!(matches!(
                registry.breaker(name, Config::default()),
                Err(RegistryError::Name(_))
            ));
        }
        assert_eq!(
            NameError::check("").unwrap_err().problem(),
            NameProblem::Length
        );
        assert!(NameError::check("bq\"x \n é").is_ok());
        #[cfg(feature = "limit")]
        {
            use crate::limit::{Bulkhead, RateLimit};
            assert!(matches!(Bulkhead::new("a\\b", 1), Err(BuildError::Name(_))));
            assert!(matches!(
                RateLimit::per_second("a\\b", 1, 1),
                Err(BuildError::Name(_))
            ));
        }
        #[cfg(feature = "tower")]
        {
            use crate::http::KeyedBreakers;
            let registry = Registry::new();
            let none = |_: &http::Request<()>| None::<&str>;
            let keyed = KeyedBreakers::builder(&registry, Config::default())
                .prefix("t:")
                .build(none)
                .unwrap();
            let b = keyed
                .breaker_for("a\\b")
                .expect("guarded by the overflow breaker");
            assert_eq!(b.name(), "t:~overflow");
            assert_eq!(registry.names(), ["t:~overflow"]);
            let bad_prefix = KeyedBreakers::builder(&registry, Config::default())
                .prefix("t\\")
                .build(none);
            assert_eq!(bad_prefix.unwrap_err().problem(), NameProblem::Backslash);
        }
    }

    /// A breaker keeps the name its rejections carry, built once: each rejection, through
    /// every call shape, carries the breaker's whole name, inline or shared.
    #[test]
    fn every_rejection_carries_the_breakers_name_at_every_length() {
        use crate::{CircuitBreaker, ManualClock, State};
        use std::time::Duration;
        for len in [
            1,
            INLINE_NAME - 1,
            INLINE_NAME,
            INLINE_NAME + 1,
            MAX_NAME_LEN,
        ] {
            let name = "n".repeat(len);
            let clock = ManualClock::new();
            let breaker = CircuitBreaker::builder(name.as_str())
                .clock(clock.clone())
                .build()
                .unwrap();
            breaker.force_open_for(Duration::from_secs(10));
            clock.advance(Duration::from_secs(4));
            for _ in 0..2 {
                let open = breaker.try_acquire().unwrap_err();
                assert_eq!(open.name(), name);
                assert_eq!(open.state(), State::ForcedOpen);
                assert_eq!(open.retry_after(), Some(Duration::from_secs(6)));
                let err = breaker.call_sync(|| Ok::<(), ()>(())).unwrap_err();
                assert_eq!(err.rejection(), Some(&open));
                let owned = breaker.try_acquire_owned().unwrap_err();
                assert_eq!(owned.name(), name);
            }
            assert_eq!(breaker.snapshot().totals.rejected, 6, "name of {len} bytes");
        }
    }

    #[test]
    fn inline_and_shared_names_read_back_the_same() {
        for len in [0, 1, INLINE_NAME, INLINE_NAME + 1, MAX_NAME_LEN] {
            let name: Arc<str> = "é".repeat(len / 2).into();
            assert_eq!(Name::new(&name).as_str(), &*name);
        }
    }
}
