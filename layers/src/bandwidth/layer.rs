//! The [`BandwidthLayer`].

use std::fmt;

use tower_layer::Layer;

use super::{Bandwidth, BandwidthLimiter};

/// Paces response bodies to a [`BandwidthLimiter`]'s rate.
///
/// See the [module documentation](super) for how bodies are paced.
#[derive(Clone)]
pub struct BandwidthLayer {
    limiter: BandwidthLimiter,
}

impl BandwidthLayer {
    /// A layer over `limiter`, whose bodies sleep on the limiter's timer.
    pub fn new(limiter: BandwidthLimiter) -> Self {
        Self { limiter }
    }

    /// The layer's limiter.
    pub fn limiter(&self) -> &BandwidthLimiter {
        &self.limiter
    }
}

impl<S> Layer<S> for BandwidthLayer {
    type Service = Bandwidth<S>;

    fn layer(&self, inner: S) -> Bandwidth<S> {
        Bandwidth::new(inner, self.limiter.clone())
    }
}

impl fmt::Debug for BandwidthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BandwidthLayer")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}
