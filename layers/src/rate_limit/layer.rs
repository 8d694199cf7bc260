//! The [`RateLimitLayer`].

use std::fmt;

use tower_layer::Layer;

use super::{RateLimit, RateLimiter};

/// Holds requests back so that they go out within a [`RateLimiter`]'s limit.
///
/// See the [module documentation](super) for where and how requests wait.
#[derive(Clone)]
pub struct RateLimitLayer {
    limiter: RateLimiter,
}

impl RateLimitLayer {
    /// A layer over `limiter`, whose waits sleep on the limiter's timer.
    pub fn new(limiter: RateLimiter) -> Self {
        Self { limiter }
    }

    /// The layer's limiter.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit::new(inner, self.limiter.clone())
    }
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}
