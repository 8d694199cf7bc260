//! The [`BandwidthLayer`].

use std::{fmt, sync::Arc};

use tower_layer::Layer;

use super::{Bandwidth, BandwidthLimiter};
use crate::time::SharedTimer;

/// Paces response bodies to a [`BandwidthLimiter`]'s rate.
///
/// See the [module documentation](super) for how bodies are paced.
#[derive(Clone)]
pub struct BandwidthLayer {
    limiter: BandwidthLimiter,
    timer: SharedTimer,
}

impl BandwidthLayer {
    /// A layer over `limiter` whose bodies sleep on `timer`. A limiter without a timer of its
    /// own takes `timer` as its clock.
    pub fn new(limiter: BandwidthLimiter, timer: SharedTimer) -> Self {
        limiter.bind_clock(Arc::clone(&timer));
        Self { limiter, timer }
    }

    /// The layer's limiter.
    pub fn limiter(&self) -> &BandwidthLimiter {
        &self.limiter
    }
}

impl<S> Layer<S> for BandwidthLayer {
    type Service = Bandwidth<S>;

    fn layer(&self, inner: S) -> Bandwidth<S> {
        Bandwidth::new(inner, self.limiter.clone(), self.timer.clone())
    }
}

impl fmt::Debug for BandwidthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BandwidthLayer")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}
