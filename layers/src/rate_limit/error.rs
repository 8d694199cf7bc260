//! The error of an impossible rate limiter configuration.

use std::{error::Error, fmt};

/// Why [`RateLimiter::new`](super::RateLimiter::new) refused its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateLimitConfigError {
    /// `max_requests` was zero: no request could ever pass.
    ZeroRate,
    /// The period was zero: the rate would be infinite.
    ZeroPeriod,
    /// More than one request per nanosecond: the interval between requests rounds to zero.
    RateTooHigh,
}

impl fmt::Display for RateLimitConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ZeroRate => "rate limit must allow at least one request per period",
            Self::ZeroPeriod => "rate limit period must be longer than zero",
            Self::RateTooHigh => "rate limit allows more than one request per nanosecond",
        })
    }
}

impl Error for RateLimitConfigError {}
