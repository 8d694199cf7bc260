//! The [`TimeoutLayer`].

use std::{fmt, time::Duration};

use tower_layer::Layer;

use super::Timeout;
use crate::time::SharedTimer;

/// Applies total and read timeouts to requests and their response bodies.
///
/// See the [module documentation](super) for what each timeout covers.
#[derive(Clone)]
pub struct TimeoutLayer {
    config: Config,
}

/// Settings shared by the layer and the services it builds.
#[derive(Clone)]
pub(super) struct Config {
    pub(super) timer: SharedTimer,
    pub(super) total: Option<Duration>,
    pub(super) read: Option<Duration>,
}

impl TimeoutLayer {
    /// Creates a layer that measures time with `timer` and has no timeout set yet.
    pub fn new(timer: SharedTimer) -> Self {
        Self {
            config: Config {
                timer,
                total: None,
                read: None,
            },
        }
    }

    /// Sets the deadline for the whole exchange: response headers and the full response body.
    ///
    /// `None` removes it. A [`RequestTimeout`](super::RequestTimeout) extension overrides it
    /// per request.
    pub fn total(mut self, total: Option<Duration>) -> Self {
        self.config.total = total;
        self
    }

    /// Sets the longest the server may stay silent: until the response head, then between
    /// body frames. `None` removes it.
    pub fn read(mut self, read: Option<Duration>) -> Self {
        self.config.read = read;
        self
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout::new(inner, self.config.clone())
    }
}

impl fmt::Debug for TimeoutLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutLayer")
            .field("total", &self.config.total)
            .field("read", &self.config.read)
            .finish_non_exhaustive()
    }
}
