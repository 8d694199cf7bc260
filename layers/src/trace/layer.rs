//! The [`TraceLayer`].

use std::fmt;

use tower_layer::Layer;
use tracing::Level;

use super::{ErrorClassifier, QueryRedaction, Trace, default_error_type};

/// Opens one `tracing` span per request, covering the exchange until the response body ends.
///
/// See the [module documentation](super) for the fields, the redaction and the events.
#[derive(Clone, Copy)]
pub struct TraceLayer {
    config: Config,
}

/// Settings shared by the layer, its services, futures and bodies; all `Copy`.
#[derive(Clone, Copy)]
pub(super) struct Config {
    pub(super) level: Level,
    pub(super) query: QueryRedaction,
    pub(super) classify: ErrorClassifier,
    /// Whether `classify` was chosen with [`TraceLayer::error_classifier`].
    pub(super) classifier_chosen: bool,
}

impl TraceLayer {
    /// A layer recording at `INFO`, with query values redacted and the
    /// [default classifier](default_error_type).
    pub fn new() -> Self {
        Self {
            config: Config {
                level: Level::INFO,
                query: QueryRedaction::default(),
                classify: default_error_type,
                classifier_chosen: false,
            },
        }
    }

    /// Sets the level of the spans and of their events (`INFO` by default).
    pub fn level(mut self, level: Level) -> Self {
        self.config.level = level;
        self
    }

    /// Sets what `url.full` and redirect events show of the query
    /// ([`QueryRedaction::RedactValues`] by default). Userinfo is always removed.
    pub fn query(mut self, query: QueryRedaction) -> Self {
        self.config.query = query;
        self
    }

    /// Sets how errors are turned into `error.type` ([`default_error_type`] by default).
    pub fn error_classifier(mut self, classify: ErrorClassifier) -> Self {
        self.config.classify = classify;
        self.config.classifier_chosen = true;
        self
    }

    /// Sets the classifier used unless [`error_classifier`](Self::error_classifier) chose one:
    /// for whoever puts a layer it was given into a stack whose errors it knows (the
    /// `towline` client gives its own this way).
    pub fn default_error_classifier(mut self, classify: ErrorClassifier) -> Self {
        if !self.config.classifier_chosen {
            self.config.classify = classify;
        }
        self
    }
}

impl Default for TraceLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;

    fn layer(&self, inner: S) -> Trace<S> {
        Trace::new(inner, self.config)
    }
}

impl fmt::Debug for TraceLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceLayer")
            .field("level", &self.config.level)
            .field("query", &self.config.query)
            .finish_non_exhaustive()
    }
}
