//! OpenTelemetry for HTTP clients: one `Client` span per attempt, W3C trace-context
//! propagation, and the HTTP client metrics of the semantic conventions (v1.26+).
//!
//! [`OtelLayer`] talks to the [`opentelemetry`] API crate only: with no SDK installed it
//! records nothing, and the application chooses the SDK, exporters and samplers. It takes its
//! tracer and meter from the global providers ([`OtelLayer::new`]) or from the ones it is
//! given ([`OtelLayer::with_providers`]).
//!
//! # Where it goes
//!
//! **Below** the layers that send a request again (redirect, retry): the conventions ask for
//! one span per physical send, so every redirect hop and every retry is its own span, and
//! each carries `http.request.resend_count` (from the second send on) read from the
//! [`ResendCount`](crate::ResendCount) extension those layers keep. A redirect chain of two
//! hops is three spans, with counts absent (0), 1 and 2. The `towline` client puts it right
//! above its cookie layer. A `tracing` span of [`TraceLayer`](crate::trace::TraceLayer),
//! outermost, can stand for the logical request around them.
//!
//! # The span
//!
//! Named after the method (`GET`, or `HTTP` for a method outside RFC 9110), of kind
//! [`SpanKind::Client`](opentelemetry::trace::SpanKind::Client). Its parent is the
//! [`Context`](opentelemetry::Context) found in the request's extensions, else
//! [`Context::current()`](opentelemetry::Context::current). The span ends when the response
//! body ends, fails or is dropped, not when the head arrives, so it covers the transfer.
//!
//! With [`tracing-opentelemetry`](https://docs.rs/tracing-opentelemetry), the current
//! OpenTelemetry context is not the current `tracing` span's: give the request that span's
//! context, either as an extension (`request.extensions_mut().insert(span.context())`, with
//! `tracing_opentelemetry::OpenTelemetrySpanExt`) or by sending inside it
//! (`future.with_context(tracing::Span::current().context())` with
//! `opentelemetry::context::FutureExt`).
//!
//! | attribute | value | when |
//! |---|---|---|
//! | `http.request.method` | `GET`, …, or `_OTHER` | always |
//! | `http.request.method_original` | the non-standard method as sent | for `_OTHER` |
//! | `server.address`, `server.port` | the host (no IPv6 brackets) and port, explicit or the scheme's | from the URI, or `Host` for an origin-form URI |
//! | `url.full` | the URI, [redacted](crate::redact) as the `tracing` layer does: never userinfo, query values `REDACTED` by default ([`OtelLayer::query`]) | always |
//! | `url.scheme` | `http`, `https` | for absolute URIs |
//! | `user_agent.original` | the `User-Agent` header | when set |
//! | `http.request.resend_count` | 1, 2, … | on re-sends |
//! | `http.request.header.<name>` | the listed headers ([`OtelLayer::capture_request_headers`]) | opt-in |
//! | `http.response.status_code` | the status | with the head |
//! | `network.protocol.version` | `1.1`, `2`, … | with the head |
//! | `network.peer.address`, `network.peer.port` | the peer's socket address, from the transport's [`ConnectionInfo`](towline_core::ConnectionInfo) | with the head |
//! | `http.response.header.<name>` | the listed headers ([`OtelLayer::capture_response_headers`]) | opt-in |
//! | `error.type` | see [below](#errors) | on failure |
//!
//! `Authorization`, `Proxy-Authorization`, `Cookie` and `Set-Cookie` are never captured, even
//! when listed.
//!
//! ## Connection phases
//!
//! The connection phases are **attributes** in seconds (not events): they are durations, not
//! instants, and attributes can be queried and aggregated by every backend. They come from the
//! [`ConnectionInfo`](towline_core::ConnectionInfo) the transport leaves on each response —
//! the source the [timings layer](crate::timings) reads — because that layer sits above the
//! re-sending layers and measures the logical request, while the span is one attempt's:
//! `towline.connection.reused` (bool), `towline.time_to_first_byte` (from handing the request
//! to the connection to the head), and on a fresh connection `towline.connect.dns.duration`,
//! `towline.connect.tcp.duration`, `towline.connect.tls.duration` and
//! `towline.connect.proxy.duration` for the phases it had.
//!
//! # Errors
//!
//! A status of 400 or more sets `error.type` to the status (`"404"`) and the span status to
//! `Error`. A failed request or body sets `error.type` to what the
//! [`ErrorClassifier`](crate::semconv::ErrorClassifier) says — the one the `tracing` layer
//! uses: [`default_error_type`](crate::semconv::default_error_type) unless the layer is given
//! another (the `towline` client gives one that knows `connect`, `dns`, `tls`, `proxy`,
//! `redirect_limit`, `body`, `decode`). Error messages are never recorded: they may quote the
//! URI. An attempt dropped before its head arrived is `timeout` when the request's
//! [`Deadline`](crate::Deadline) (the total timeout's) has passed or a retry layer above gave
//! it up at its attempt timeout ([`AttemptTimedOut`](crate::AttemptTimedOut)), `cancelled`
//! otherwise.
//!
//! # Propagation
//!
//! The attempt span's context is injected into the request's headers through the global
//! [`TextMapPropagator`](opentelemetry::propagation::TextMapPropagator)
//! ([`opentelemetry::global::set_text_map_propagator`]; W3C `traceparent`/`tracestate` with
//! the SDK's `TraceContextPropagator`, baggage too with a composite propagator), or the one
//! given to [`OtelLayer::propagator`]. The server sees the attempt span as its parent. A
//! `traceparent` the caller set is kept, and nothing is injected, unless
//! [`Propagation::Replace`] says otherwise.
//!
//! # Metrics
//!
//! | instrument | kind, unit | attributes |
//! |---|---|---|
//! | `http.client.request.duration` | histogram, `s`, [`DURATION_BUCKETS`] | method, server address and port, scheme, status, protocol version, `error.type` |
//! | `http.client.request.body.size` | histogram, `By` | the same; when the request body's size is known |
//! | `http.client.response.body.size` | histogram, `By` | the same; bytes as received, when the body was read to its end |
//! | `http.client.active_requests` | up-down counter, `{request}` | method, server address and port, scheme |
//! | `http.client.open_connections` | observable up-down counter, `{connection}` | `http.connection.state`, server address and port, scheme, protocol version |
//! | `http.client.connection.duration` | histogram, `s`, [`CONNECTION_DURATION_BUCKETS`] | server address and port, scheme, protocol version, peer address |
//!
//! The duration runs from the call to the end of the response body (or the failure), like
//! the span. The clock is the [`SharedTimer`](crate::time::SharedTimer) the layer is given.
//! `http.client.open_connections` comes from the transport's pool, through
//! [`OtelLayer::pool_metrics`] (the `towline` client registers its pool).
//! `http.client.connection.duration` (histogram, `s`, [`CONNECTION_DURATION_BUCKETS`]) comes
//! from the transport too, which reports each connection as it closes, through
//! [`OtelLayer::connection_duration_recorder`] (the `towline` client wires it).
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use opentelemetry::trace::TracerProvider as _;
//! use tower::{ServiceBuilder, ServiceExt};
//! use towline_layers::otel::OtelLayer;
//! use towline_layers::time::ManualTimer;
//! use towline_layers::BoxError;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! // The application's providers; here the API's no-op ones.
//! let tracer_provider = opentelemetry::trace::noop::NoopTracerProvider::new();
//! let meter_provider = opentelemetry::metrics::noop::NoopMeterProvider::new();
//! let timer = ManualTimer::new();
//! let service = ServiceBuilder::new()
//!     .layer(OtelLayer::with_providers(timer.shared(), &tracer_provider, &meter_provider))
//!     .service_fn(|request: http::Request<Full<Bytes>>| async move {
//!         // The server sees the attempt's context (here the no-op span's: none).
//!         let _traceparent = request.headers().get("traceparent");
//!         Ok::<_, BoxError>(http::Response::new(Full::new(Bytes::from("hello"))))
//!     });
//!
//! let request = http::Request::get("https://user:pass@example.com/search?q=secret")
//!     .body(Full::default())?;
//! // Recorded as `url.full = "https://example.com/search?q=REDACTED"`.
//! let response = service.oneshot(request).await?;
//! // The span ends once the body has been read.
//! let body = response.into_body().collect().await?.to_bytes();
//! assert_eq!(body, "hello");
//! # let _ = tracer_provider.tracer("unused");
//! # Ok(())
//! # }
//! ```

mod attempt;
mod body;
mod future;
mod headers;
mod layer;
mod service;
#[cfg(test)]
mod tests;

pub use self::{
    body::OtelBody,
    future::ResponseFuture,
    layer::{CONNECTION_DURATION_BUCKETS, DURATION_BUCKETS, OtelLayer},
    service::Otel,
};

/// What the layer does with the trace-context headers of a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Propagation {
    /// Inject the attempt's context, unless the caller set a `traceparent` header: then the
    /// request's headers are left as they are. The default.
    #[default]
    KeepCaller,
    /// Inject the attempt's context, replacing any the caller set.
    Replace,
    /// Inject nothing.
    Off,
}
