//! Error conventions shared by every layer.
//!
//! Layers return [`BoxError`] from their services and bodies. The concrete error inside is
//! one of the layer's own types (for example `timeout::Elapsed`
//! or [`replay::ReplayError`](crate::replay::ReplayError)) or an error passed through from
//! the service or body below. To classify an error, downcast it; because errors raised
//! inside a request body come back wrapped in the transport's error, look through the
//! whole `source()` chain with [`find_cause`]. [`is_timeout`] answers the question several
//! layers ask (retry, trace) without any of them naming another layer's error type.
//!
//! # Example
//!
//! ```
//! use std::{error::Error, fmt};
//!
//! use towline_layers::{error::find_cause, replay::ReplayError, BoxError};
//!
//! // An error from the transport that carries the request body's error as its source.
//! #[derive(Debug)]
//! struct TransportError(BoxError);
//!
//! impl fmt::Display for TransportError {
//!     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
//!         f.write_str("error sending request")
//!     }
//! }
//!
//! impl Error for TransportError {
//!     fn source(&self) -> Option<&(dyn Error + 'static)> {
//!         Some(&*self.0)
//!     }
//! }
//!
//! let err: BoxError = Box::new(TransportError(Box::new(ReplayError::CapExceeded { cap: 64 })));
//! assert_eq!(
//!     find_cause::<ReplayError>(&*err),
//!     Some(&ReplayError::CapExceeded { cap: 64 })
//! );
//! ```

use std::{error::Error, io};

/// The error type at every layer boundary: any error that can cross threads.
///
/// This is the same type as `tower::BoxError`.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// Finds the first error of type `E` in `err` or its chain of [`Error::source`]s.
///
/// Returns `None` when no error in the chain is an `E`.
pub fn find_cause<'a, E>(err: &'a (dyn Error + 'static)) -> Option<&'a E>
where
    E: Error + 'static,
{
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<E>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}

/// Whether `err` or an error in its `source()` chain is a timeout: this crate's
/// `timeout::Elapsed` (with the `timeout` feature), an [`io::Error`] of kind
/// [`TimedOut`](io::ErrorKind::TimedOut), or a [`hyper::Error`] that
/// [`is_timeout`](hyper::Error::is_timeout).
///
/// Classifiers use it so that any layer's timeout is one class, whichever layer raised it:
/// the retry layer's default classifier takes it as possibly sent, the trace layer's default
/// records `error.type = "timeout"`.
///
/// ```
/// use std::io;
///
/// use towline_layers::{BoxError, error::is_timeout};
///
/// let err: BoxError = Box::new(io::Error::new(io::ErrorKind::TimedOut, "read timed out"));
/// assert!(is_timeout(&*err));
/// assert!(!is_timeout(&io::Error::other("refused")));
/// ```
pub fn is_timeout(err: &(dyn Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(err) = current {
        if is_timeout_itself(err) {
            return true;
        }
        current = err.source();
    }
    false
}

/// [`is_timeout`] for one error, not its sources.
fn is_timeout_itself(err: &(dyn Error + 'static)) -> bool {
    #[cfg(feature = "timeout")]
    if err.is::<crate::timeout::Elapsed>() {
        return true;
    }
    #[cfg(feature = "retry")]
    if err.is::<crate::retry::AttemptElapsed>() {
        return true;
    }
    err.downcast_ref::<io::Error>()
        .is_some_and(|err| err.kind() == io::ErrorKind::TimedOut)
        || err
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    #[derive(Debug, PartialEq)]
    struct Leaf;

    impl fmt::Display for Leaf {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("leaf")
        }
    }

    impl Error for Leaf {}

    #[derive(Debug)]
    struct Wrapper(BoxError);

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapper")
        }
    }

    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn finds_the_error_itself() {
        let err: BoxError = Box::new(Leaf);
        assert_eq!(find_cause::<Leaf>(&*err), Some(&Leaf));
    }

    #[test]
    fn finds_a_nested_source() {
        let err: BoxError = Box::new(Wrapper(Box::new(Wrapper(Box::new(Leaf)))));
        assert_eq!(find_cause::<Leaf>(&*err), Some(&Leaf));
        assert!(find_cause::<Wrapper>(&*err).is_some());
    }

    #[test]
    fn an_io_timeout_anywhere_in_the_chain_is_a_timeout() {
        let timed_out = || Box::new(io::Error::new(io::ErrorKind::TimedOut, "slow"));
        assert!(is_timeout(&*timed_out()));
        let err: BoxError = Box::new(Wrapper(Box::new(Wrapper(timed_out()))));
        assert!(is_timeout(&*err));
        let refused: BoxError = Box::new(Wrapper(Box::new(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "refused",
        ))));
        assert!(!is_timeout(&*refused));
        assert!(!is_timeout(&Leaf));
    }

    #[test]
    fn absent_cause_is_none() {
        let err: BoxError = Box::new(Wrapper("plain message".into()));
        assert_eq!(find_cause::<Leaf>(&*err), None);
    }
}
