use tower_layer::Layer;

use super::Timings;
use crate::time::SharedTimer;

/// Adds [`RequestTimings`](super::RequestTimings) to every response.
#[derive(Clone)]
pub struct TimingsLayer {
    timer: SharedTimer,
}

impl std::fmt::Debug for TimingsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimingsLayer").finish_non_exhaustive()
    }
}

impl TimingsLayer {
    /// Times exchanges on `timer`'s clock (the transport's, so that the moment it says it
    /// sent the request compares with the layer's readings).
    pub fn new(timer: SharedTimer) -> Self {
        Self { timer }
    }
}

impl<S> Layer<S> for TimingsLayer {
    type Service = Timings<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Timings::new(inner, self.timer.clone())
    }
}
