//! The [`RetryLayer`].

use std::{fmt, sync::Arc};

use tower_layer::Layer;

use super::{Retry, RetryConfig};
use crate::time::{SharedTimer, SharedWallClock, SystemClock};

/// Retries failed requests according to a [`RetryConfig`].
///
/// See the [module documentation](super) for what is retried and when.
#[derive(Clone)]
pub struct RetryLayer {
    shared: Arc<Shared>,
}

/// What the layer, its services and their futures share.
pub(super) struct Shared {
    pub(super) config: Arc<RetryConfig>,
    pub(super) timer: SharedTimer,
    pub(super) wall_clock: SharedWallClock,
}

impl RetryLayer {
    /// Creates a layer that retries as `config` says by default, and waits on `timer`.
    ///
    /// `Retry-After` dates are read against the [`SystemClock`]; see
    /// [`wall_clock`](Self::wall_clock).
    pub fn new(config: RetryConfig, timer: SharedTimer) -> Self {
        Self {
            shared: Arc::new(Shared {
                config: Arc::new(config),
                timer,
                wall_clock: Arc::new(SystemClock),
            }),
        }
    }

    /// Sets the clock `Retry-After` HTTP-dates are measured against (for tests, a
    /// [`TimerClock`](crate::time::TimerClock)).
    pub fn wall_clock(self, wall_clock: SharedWallClock) -> Self {
        Self {
            shared: Arc::new(Shared {
                config: Arc::clone(&self.shared.config),
                timer: Arc::clone(&self.shared.timer),
                wall_clock,
            }),
        }
    }

    /// The default configuration of this layer.
    pub fn config(&self) -> &RetryConfig {
        &self.shared.config
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Retry<S> {
        Retry::new(inner, Arc::clone(&self.shared))
    }
}

impl fmt::Debug for RetryLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}
