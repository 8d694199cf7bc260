use std::sync::Arc;
use std::time::{Duration, Instant};

use tower_layer::Layer;

use super::Timings;
use crate::time::SharedTimer;

/// Connection facts a transport left in the response extensions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportPhases {
    /// Name resolution of a new connection.
    pub dns: Option<Duration>,
    /// TCP connect of a new connection.
    pub tcp: Option<Duration>,
    /// TLS handshake of a new connection.
    pub tls: Option<Duration>,
    /// When the request was handed to its connection, on the layer's timer clock.
    pub request_sent_at: Option<Instant>,
}

/// Reads [`TransportPhases`] from a response's extensions.
pub type TransportPhasesFn =
    Arc<dyn Fn(&http::Extensions) -> Option<TransportPhases> + Send + Sync>;

/// Adds [`RequestTimings`](super::RequestTimings) to every response.
#[derive(Clone)]
pub struct TimingsLayer {
    timer: SharedTimer,
    phases: Option<TransportPhasesFn>,
}

impl std::fmt::Debug for TimingsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimingsLayer")
            .field("transport_phases", &self.phases.is_some())
            .finish_non_exhaustive()
    }
}

impl TimingsLayer {
    /// Times exchanges on `timer`'s clock, without connection phases.
    pub fn new(timer: SharedTimer) -> Self {
        Self {
            timer,
            phases: None,
        }
    }

    /// Reads connection phases from the response extensions with `phases`.
    pub fn transport_phases(mut self, phases: TransportPhasesFn) -> Self {
        self.phases = Some(phases);
        self
    }
}

impl<S> Layer<S> for TimingsLayer {
    type Service = Timings<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Timings::new(inner, self.timer.clone(), self.phases.clone())
    }
}
