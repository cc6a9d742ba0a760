//! An error and its chain of sources in one line, for log lines and delivery errors that
//! must say why without an error reporter: `error: its source: the source's source`.

use std::error::Error;
use std::fmt;

/// Displays an error followed by each of its [`source`](Error::source)s, joined by `: `.
#[derive(Clone, Copy)]
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn Error + 'a));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<dyn Error + 'static>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref()
        }
    }

    #[test]
    fn every_source_follows_the_error_once() {
        let io = std::io::Error::other("connection refused");
        let e = Layer(
            "error sending request",
            Some(Box::new(Layer(
                "client error (Connect)",
                Some(Box::new(io)),
            ))),
        );
        assert_eq!(
            Chain(&e).to_string(),
            "error sending request: client error (Connect): connection refused"
        );
        assert_eq!(Chain(&Layer("alone", None)).to_string(), "alone");
    }
}
