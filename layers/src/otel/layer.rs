//! The [`OtelLayer`] and what its services share.

use std::{fmt, sync::Arc};

use http::HeaderName;
use opentelemetry::{
    InstrumentationScope, KeyValue, global,
    global::BoxedTracer,
    metrics::{
        AsyncInstrument, Histogram, Meter, MeterProvider, ObservableUpDownCounter, UpDownCounter,
    },
    propagation::TextMapPropagator,
    trace::TracerProvider,
};
use tower_layer::Layer;

use super::{Otel, Propagation, headers};
use http::uri::{Authority, Scheme};
use towline_core::{ClosedConnection, PoolStats, TargetStats};

use crate::{
    redact::QueryRedaction,
    semconv::{self, ErrorClassifier, default_error_type},
    time::SharedTimer,
};

/// The boundaries of `http.client.request.duration`, in seconds, as the HTTP semantic
/// conventions advise.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The boundaries of `http.client.connection.duration`, in seconds, as the HTTP semantic
/// conventions advise.
pub const CONNECTION_DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// The instrumentation scope's name: the crate that records.
const SCOPE: &str = "towline";

/// Records one OpenTelemetry client span and the HTTP client metrics per attempt, and
/// propagates the trace context to the server.
///
/// See the [module documentation](super) for the span, its attributes, the metrics and the
/// propagation.
#[derive(Clone)]
pub struct OtelLayer {
    shared: Arc<Shared>,
}

/// What the layer's services, futures and bodies share.
pub(super) struct Shared {
    pub(super) tracer: Arc<BoxedTracer>,
    pub(super) meter: Meter,
    pub(super) instruments: Arc<Instruments>,
    pub(super) timer: SharedTimer,
    pub(super) settings: Settings,
}

/// The layer's settings, changed by its builder methods.
#[derive(Clone)]
pub(super) struct Settings {
    pub(super) propagator: Option<Arc<dyn TextMapPropagator + Send + Sync>>,
    pub(super) propagation: Propagation,
    pub(super) query: QueryRedaction,
    pub(super) classify: ErrorClassifier,
    /// Whether `classify` was chosen with [`OtelLayer::error_classifier`].
    pub(super) classifier_chosen: bool,
    pub(super) request_headers: Vec<HeaderName>,
    pub(super) response_headers: Vec<HeaderName>,
    /// The pool gauges registered: kept for as long as the layer.
    pub(super) pool_gauges: Vec<ObservableUpDownCounter<i64>>,
}

/// The request-level instruments.
pub(super) struct Instruments {
    pub(super) duration: Histogram<f64>,
    pub(super) request_size: Histogram<u64>,
    pub(super) response_size: Histogram<u64>,
    pub(super) active: UpDownCounter<i64>,
    pub(super) connection_duration: Histogram<f64>,
}

impl Instruments {
    fn new(meter: &Meter) -> Self {
        Self {
            duration: meter
                .f64_histogram("http.client.request.duration")
                .with_unit("s")
                .with_description("Duration of HTTP client requests.")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            request_size: meter
                .u64_histogram("http.client.request.body.size")
                .with_unit("By")
                .with_description("Size of HTTP client request bodies.")
                .build(),
            response_size: meter
                .u64_histogram("http.client.response.body.size")
                .with_unit("By")
                .with_description("Size of HTTP client response bodies.")
                .build(),
            active: meter
                .i64_up_down_counter("http.client.active_requests")
                .with_unit("{request}")
                .with_description("Number of active HTTP requests.")
                .build(),
            connection_duration: meter
                .f64_histogram("http.client.connection.duration")
                .with_unit("s")
                .with_description(
                    "The duration of the successfully established outbound HTTP connections.",
                )
                .with_boundaries(CONNECTION_DURATION_BUCKETS.to_vec())
                .build(),
        }
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
        .build()
}

impl OtelLayer {
    /// A layer recording through the global tracer and meter providers
    /// ([`opentelemetry::global`]), as they are when this is called: install the providers
    /// first. `timer` is the clock that measures `http.client.request.duration` and the time
    /// to first byte.
    pub fn new(timer: SharedTimer) -> Self {
        let tracer = global::tracer_provider().tracer_with_scope(scope());
        Self::from_parts(tracer, global::meter_with_scope(scope()), timer)
    }

    /// A layer recording through the given providers rather than the global ones.
    pub fn with_providers<T, M>(timer: SharedTimer, tracer_provider: &T, meter_provider: &M) -> Self
    where
        T: TracerProvider,
        T::Tracer: Send + Sync + 'static,
        <T::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
        M: MeterProvider,
    {
        let tracer = BoxedTracer::new(Box::new(tracer_provider.tracer_with_scope(scope())));
        Self::from_parts(tracer, meter_provider.meter_with_scope(scope()), timer)
    }

    fn from_parts(tracer: BoxedTracer, meter: Meter, timer: SharedTimer) -> Self {
        Self {
            shared: Arc::new(Shared {
                tracer: Arc::new(tracer),
                instruments: Arc::new(Instruments::new(&meter)),
                meter,
                timer,
                settings: Settings {
                    propagator: None,
                    propagation: Propagation::default(),
                    query: QueryRedaction::default(),
                    classify: default_error_type,
                    classifier_chosen: false,
                    request_headers: Vec::new(),
                    response_headers: Vec::new(),
                    pool_gauges: Vec::new(),
                },
            }),
        }
    }

    fn settings(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => change(&mut shared.settings),
            None => {
                // A clone of this layer shares the instruments: keep them, copy the settings.
                let mut settings = self.shared.settings.clone();
                change(&mut settings);
                self.shared = Arc::new(Shared {
                    tracer: self.shared.tracer.clone(),
                    meter: self.shared.meter.clone(),
                    instruments: self.shared.instruments.clone(),
                    timer: self.shared.timer.clone(),
                    settings,
                });
            }
        }
        self
    }

    /// Injects the trace context with `propagator` rather than the global one
    /// ([`opentelemetry::global::get_text_map_propagator`]).
    pub fn propagator(self, propagator: impl TextMapPropagator + Send + Sync + 'static) -> Self {
        let propagator: Arc<dyn TextMapPropagator + Send + Sync> = Arc::new(propagator);
        self.settings(|settings| settings.propagator = Some(propagator))
    }

    /// Sets what happens to a `traceparent` header the caller set
    /// ([`Propagation::KeepCaller`] by default).
    pub fn propagation(self, propagation: Propagation) -> Self {
        self.settings(|settings| settings.propagation = propagation)
    }

    /// Sets what `url.full` shows of the query ([`QueryRedaction::RedactValues`] by
    /// default). Userinfo is always removed.
    pub fn query(self, query: QueryRedaction) -> Self {
        self.settings(|settings| settings.query = query)
    }

    /// Sets how errors are turned into `error.type`
    /// ([`default_error_type`](crate::semconv::default_error_type) by default; the `towline`
    /// client gives its own).
    pub fn error_classifier(self, classify: ErrorClassifier) -> Self {
        self.settings(|settings| {
            settings.classify = classify;
            settings.classifier_chosen = true;
        })
    }

    /// Sets the classifier used unless [`error_classifier`](Self::error_classifier) chose one:
    /// for whoever puts a layer it was given into a stack whose errors it knows (the
    /// `towline` client gives its own this way).
    pub fn default_error_classifier(self, classify: ErrorClassifier) -> Self {
        self.settings(|settings| {
            if !settings.classifier_chosen {
                settings.classify = classify;
            }
        })
    }

    /// Records the listed request headers as `http.request.header.<name>` (each a string
    /// array). `Authorization`, `Proxy-Authorization` and `Cookie` are never recorded, even
    /// when listed.
    pub fn capture_request_headers(self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        let names = headers::capturable(names);
        self.settings(|settings| settings.request_headers = names)
    }

    /// Records the listed response headers as `http.response.header.<name>`. `Set-Cookie`
    /// (and the request's credential headers) are never recorded, even when listed.
    pub fn capture_response_headers(self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        let names = headers::capturable(names);
        self.settings(|settings| settings.response_headers = names)
    }

    /// Reports a connection pool as the observable `http.client.open_connections` (unit
    /// `{connection}`): each time the meter is collected, `source` gives a [`PoolStats`]
    /// snapshot, and each target's idle and active connections are observed per HTTP version,
    /// with `http.connection.state` (`idle`, `active`), `server.address`, `server.port`,
    /// `url.scheme` and `network.protocol.version` (`1.1`, `2`). Connections being made are
    /// not connections yet, and are not counted.
    ///
    /// For towline's transport the source is `Pool::stats_source` (the `towline` client
    /// registers it itself).
    pub fn pool_metrics(self, source: impl Fn() -> PoolStats + Send + Sync + 'static) -> Self {
        let gauge = self
            .shared
            .meter
            .i64_observable_up_down_counter("http.client.open_connections")
            .with_unit("{connection}")
            .with_description(
                "Number of outbound HTTP connections that are currently active or idle on the client.",
            )
            .with_callback(move |observer| {
                for target in source().targets {
                    observe_target(observer, &target);
                }
            })
            .build();
        self.settings(|settings| settings.pool_gauges.push(gauge))
    }

    /// What records each closed connection as `http.client.connection.duration` (seconds,
    /// [`CONNECTION_DURATION_BUCKETS`]), with `server.address`, `server.port`, `url.scheme`,
    /// `network.protocol.version` and `network.peer.address`: give it to the transport that
    /// reports closed connections (towline's `TransportConfig::on_connection_close`; the
    /// `towline` client does so itself).
    pub fn connection_duration_recorder(
        &self,
    ) -> impl Fn(&ClosedConnection) + Send + Sync + 'static {
        let instruments = self.shared.instruments.clone();
        move |closed| {
            let mut attributes = target_attributes(&closed.scheme, &closed.authority);
            attributes.push(KeyValue::new(
                "network.protocol.version",
                semconv::protocol_version(closed.version).unwrap_or("_OTHER"),
            ));
            if let Some(peer) = closed.peer {
                attributes.push(KeyValue::new("network.peer.address", peer.ip().to_string()));
            }
            instruments
                .connection_duration
                .record(closed.duration.as_secs_f64(), &attributes);
        }
    }

    /// The meter the layer records with, to register more instruments beside its own.
    pub fn meter(&self) -> &Meter {
        &self.shared.meter
    }
}

/// Observes one target's connections, every state and version (zeros included, so a count
/// that falls to zero is reported as such).
fn observe_target(observer: &dyn AsyncInstrument<i64>, target: &TargetStats) {
    let mut attributes = vec![
        KeyValue::new("http.connection.state", "idle"),
        KeyValue::new("network.protocol.version", "1.1"),
    ];
    attributes.extend(target_attributes(&target.scheme, &target.authority));
    for (state, version, count) in [
        ("idle", "1.1", target.http1_idle),
        ("active", "1.1", target.http1_active),
        ("idle", "2", target.http2_idle),
        ("active", "2", target.http2_active),
    ] {
        attributes[0] = KeyValue::new("http.connection.state", state);
        attributes[1] = KeyValue::new("network.protocol.version", version);
        observer.observe(i64::try_from(count).unwrap_or(i64::MAX), &attributes);
    }
}

/// `server.address`, `url.scheme` and `server.port` (explicit, or the scheme's) of a pool
/// target.
fn target_attributes(scheme: &Scheme, authority: &Authority) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new(
            "server.address",
            semconv::server_address(authority.host()).to_owned(),
        ),
        KeyValue::new("url.scheme", scheme.as_str().to_owned()),
    ];
    if let Some(port) = authority
        .port_u16()
        .or_else(|| semconv::default_port(scheme.as_str()))
    {
        attributes.push(KeyValue::new("server.port", i64::from(port)));
    }
    attributes
}

impl<S> Layer<S> for OtelLayer {
    type Service = Otel<S>;

    fn layer(&self, inner: S) -> Otel<S> {
        Otel::new(inner, self.shared.clone())
    }
}

impl fmt::Debug for OtelLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.shared.settings;
        f.debug_struct("OtelLayer")
            .field("propagation", &settings.propagation)
            .field("query", &settings.query)
            .field("request_headers", &settings.request_headers)
            .field("response_headers", &settings.response_headers)
            .finish_non_exhaustive()
    }
}
