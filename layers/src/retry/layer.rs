//! The [`RetryLayer`].

use std::{fmt, sync::Arc};

use tower_layer::Layer;

use super::{ErrorClass, Retry, RetryConfig, config::ErrorClassifier, default_error_class};
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
    pub(super) error_classifier: ErrorClassifier,
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
                error_classifier: Arc::new(default_error_class),
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
                error_classifier: Arc::clone(&self.shared.error_classifier),
            }),
        }
    }

    /// Sets how errors are classified for every configuration, the default one and those
    /// requests carry, that has no [`classify_error`](RetryConfig::classify_error) hook of
    /// its own ([`default_error_class`] unless set). A client that knows its transport's
    /// error types sets it here once.
    pub fn error_classifier(
        self,
        classify: impl Fn(&(dyn std::error::Error + 'static)) -> ErrorClass + Send + Sync + 'static,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                config: Arc::clone(&self.shared.config),
                timer: Arc::clone(&self.shared.timer),
                wall_clock: Arc::clone(&self.shared.wall_clock),
                error_classifier: Arc::new(classify),
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
