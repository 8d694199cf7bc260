//! The error of an impossible bandwidth limiter configuration.

use std::{error::Error, fmt};

/// Why [`BandwidthLimiter::new`](super::BandwidthLimiter::new) refused its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BandwidthConfigError {
    /// The rate was zero bytes per second: no byte could ever pass.
    ZeroRate,
}

impl fmt::Display for BandwidthConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ZeroRate => "bandwidth limit must allow at least one byte per second",
        })
    }
}

impl Error for BandwidthConfigError {}
