//! The error raised when a deadline passes.

use std::{error::Error, fmt, time::Duration};

/// Which of the layer's timeouts fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// The deadline for the whole exchange (headers and body) passed.
    Total,
    /// The response head, or the body's next frame, took longer than the read timeout.
    Read,
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Total => "total",
            Self::Read => "read",
        })
    }
}

/// A timeout of the [`Timeout`](super::Timeout) layer elapsed.
///
/// Displays as, for example, `request timed out after 2s (total)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed {
    kind: TimeoutKind,
    after: Duration,
}

impl Elapsed {
    pub(super) fn new(kind: TimeoutKind, after: Duration) -> Self {
        Self { kind, after }
    }

    /// Which timeout fired.
    pub fn kind(&self) -> TimeoutKind {
        self.kind
    }

    /// The configured duration of the timeout that fired.
    pub fn duration(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "request timed out after {:?} ({})",
            self.after, self.kind
        )
    }
}

impl Error for Elapsed {}
