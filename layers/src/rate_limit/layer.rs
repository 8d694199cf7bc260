//! The [`RateLimitLayer`].

use std::fmt;

use tower_layer::Layer;

use super::{RateLimit, RateLimiter};
use crate::time::SharedTimer;

/// Holds requests back so that they go out within a [`RateLimiter`]'s limit.
///
/// See the [module documentation](super) for where and how requests wait.
#[derive(Clone)]
pub struct RateLimitLayer {
    limiter: RateLimiter,
    clock: SharedTimer,
    timer: SharedTimer,
}

impl RateLimitLayer {
    /// A layer over `limiter` that sleeps on `timer`. A limiter without a timer of its own
    /// takes `timer` as its clock; one that has a clock keeps reading time from it.
    pub fn new(limiter: RateLimiter, timer: SharedTimer) -> Self {
        let clock = limiter.bind_clock(std::sync::Arc::clone(&timer));
        Self {
            limiter,
            clock,
            timer,
        }
    }

    /// The layer's limiter.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit::new(
            inner,
            self.limiter.clone(),
            self.clock.clone(),
            self.timer.clone(),
        )
    }
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}
