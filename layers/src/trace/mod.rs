//! One [`tracing`] span per logical HTTP request, named after OpenTelemetry's HTTP client
//! semantic conventions, with credentials and query values kept out of every field.
//!
//! [`TraceLayer`] opens a span when a request enters it, enters that span whenever the
//! request's future or its response body is polled (so events of the layers and transport
//! below are nested in it), and keeps it open until the response body ends, fails or is
//! dropped. The span therefore covers the whole logical exchange: connecting, sending, every
//! redirect hop of a redirect layer placed below it, and reading the body. Put it
//! **outermost** in a stack, above the total timeout, as towline's default stack does.
//!
//! # Fields
//!
//! The span's static name is `HTTP request` (a `tracing` span name must be a `&'static str`);
//! the `otel.name` field carries the name OpenTelemetry expects, the method (`GET`), which
//! [`tracing-opentelemetry`](https://docs.rs/tracing-opentelemetry) uses as the exported
//! span's name. Fields whose value is unknown are left empty and not recorded.
//!
//! | field | value | when |
//! |---|---|---|
//! | `otel.name` | the method, or `HTTP` for a method outside RFC 9110's set | at the start |
//! | `otel.kind` | `client` | at the start |
//! | `http.request.method` | `GET`, `POST`, …, or `_OTHER` for a non-standard method | at the start |
//! | `http.request.method_original` | the non-standard method as sent | at the start, for `_OTHER` only |
//! | `url.full` | the URI, [redacted](#redaction) | at the start |
//! | `url.scheme` | `http`, `https` | at the start, for absolute URIs |
//! | `server.address` | the host, without IPv6 brackets (from `Host` for origin-form URIs) | at the start |
//! | `server.port` | the explicit port, else 80 for `http`/`ws` and 443 for `https`/`wss` | at the start |
//! | `http.response.status_code` | the status, as a number | when the response head arrives |
//! | `network.protocol.version` | `0.9`, `1.0`, `1.1`, `2` or `3`, from the response | when the response head arrives |
//! | `error.type` | see [below](#errors) | on failure |
//! | `otel.status_code` | `ERROR` | on failure |
//!
//! # Redaction
//!
//! `url.full` (and the URIs of [redirect events](#redirect-hops)) never contains userinfo:
//! `https://user:pass@example.com/` is recorded as `https://example.com/`. The query is
//! handled by [`QueryRedaction`]; the default, [`QueryRedaction::RedactValues`], keeps the
//! parameter names and replaces every value with `REDACTED`, as the semantic conventions do
//! for sensitive parameters: `?q=rust&token=secret` becomes `?q=REDACTED&token=REDACTED`. A
//! parameter without `=` could itself be a secret, so it becomes `REDACTED` too.
//! [`QueryRedaction::Remove`] drops the query, and [`QueryRedaction::Keep`] is the opt-in to
//! record it as sent. The path is recorded as sent: keep secrets out of paths.
//!
//! No header and no error message is recorded: error messages often quote the URI they
//! failed on. An error is recorded only by its class (below).
//!
//! # Errors
//!
//! A response with a status of 400 or more is a failure of a client request: `error.type` is
//! its status code as a string (`"404"`, `"503"`). When the request or the response body
//! fails, `error.type` is the low-cardinality string an [`ErrorClassifier`] gives the error;
//! the [default](default_error_type) says `timeout` for a timeout anywhere in the error's
//! source chain ([`is_timeout`](crate::error::is_timeout): this crate's `timeout::Elapsed`,
//! an I/O or hyper timeout) and `_OTHER` for everything else — except that a response body
//! failure the classifier cannot name is `body` (the head had arrived). A failure also sets
//! `otel.status_code = "ERROR"` and emits an event (`request failed` or `response body
//! failed`) carrying `error.type`.
//!
//! # Level
//!
//! Spans and their events are recorded at [`Level::INFO`](tracing::Level::INFO) by default,
//! the level an application keeps on in production: the layer is in a stack only when
//! tracing was asked for, and a span filtered out by a usual `info` filter would look like a
//! broken integration. [`TraceLayer::level`] changes it (tower-http's server-side
//! `TraceLayer` uses `DEBUG`; choose that to make the spans opt-in through filters).
//!
//! # Events
//!
//! All at the layer's level, as children of the request's span:
//! - `response body finished` when the body reaches its end (for a body that is empty from
//!   the start — HEAD, 204, 304 — when the head arrives); the span closes right after.
//! - `request failed` / `response body failed`, with `error.type`.
//! - `following redirect`, with `http.response.status_code`, `redirect.from` and
//!   `redirect.to`, one per hop followed by a redirect layer below.
//!
//! # Redirect hops
//!
//! A redirect layer sits below this one, so every hop happens inside the span. The layer
//! puts a [`RedirectObserver`](crate::extensions::RedirectObserver) in the extensions of
//! the request it forwards; the redirect layer calls it for each hop it follows, and it
//! emits the `following redirect` event in the request's span, with both URIs redacted the
//! way this layer is configured. The observer travels with the request, so the events land
//! in the right span even when a `Buffer` or a spawned task sits between the two layers. A
//! span that no subscriber records gets no observer.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt};
//! use towline_layers::trace::{QueryRedaction, TraceLayer};
//! use towline_layers::BoxError;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let service = ServiceBuilder::new()
//!     // Outermost: the span covers everything below, including the body.
//!     .layer(
//!         TraceLayer::new()
//!             .level(tracing::Level::DEBUG)
//!             .query(QueryRedaction::Remove),
//!     )
//!     .service_fn(|_req: http::Request<Full<Bytes>>| async {
//!         Ok::<_, BoxError>(http::Response::new(Full::new(Bytes::from("hello"))))
//!     });
//!
//! let request = http::Request::get("https://user:pass@example.com/search?q=secret")
//!     .body(Full::default())?;
//! // Recorded as `url.full = "https://example.com/search"`.
//! let response = service.oneshot(request).await?;
//! // The span stays open until the body has been read.
//! let body = response.into_body().collect().await?.to_bytes();
//! assert_eq!(body, "hello");
//! # Ok(())
//! # }
//! ```

/// Creates a span at a level chosen at run time (a callsite's level must be a constant, so
/// there is one callsite per level).
macro_rules! span_at {
    ($level:expr, $($rest:tt)+) => {
        match $level {
            ::tracing::Level::ERROR => ::tracing::span!(::tracing::Level::ERROR, $($rest)+),
            ::tracing::Level::WARN => ::tracing::span!(::tracing::Level::WARN, $($rest)+),
            ::tracing::Level::INFO => ::tracing::span!(::tracing::Level::INFO, $($rest)+),
            ::tracing::Level::DEBUG => ::tracing::span!(::tracing::Level::DEBUG, $($rest)+),
            _ => ::tracing::span!(::tracing::Level::TRACE, $($rest)+),
        }
    };
}

/// Emits an event at a level chosen at run time.
macro_rules! event_at {
    (parent: $parent:expr, $level:expr, $($rest:tt)+) => {
        match $level {
            ::tracing::Level::ERROR => {
                ::tracing::event!(parent: $parent, ::tracing::Level::ERROR, $($rest)+)
            }
            ::tracing::Level::WARN => {
                ::tracing::event!(parent: $parent, ::tracing::Level::WARN, $($rest)+)
            }
            ::tracing::Level::INFO => {
                ::tracing::event!(parent: $parent, ::tracing::Level::INFO, $($rest)+)
            }
            ::tracing::Level::DEBUG => {
                ::tracing::event!(parent: $parent, ::tracing::Level::DEBUG, $($rest)+)
            }
            _ => ::tracing::event!(parent: $parent, ::tracing::Level::TRACE, $($rest)+),
        }
    };
    ($level:expr, $($rest:tt)+) => {
        match $level {
            ::tracing::Level::ERROR => ::tracing::event!(::tracing::Level::ERROR, $($rest)+),
            ::tracing::Level::WARN => ::tracing::event!(::tracing::Level::WARN, $($rest)+),
            ::tracing::Level::INFO => ::tracing::event!(::tracing::Level::INFO, $($rest)+),
            ::tracing::Level::DEBUG => ::tracing::event!(::tracing::Level::DEBUG, $($rest)+),
            _ => ::tracing::event!(::tracing::Level::TRACE, $($rest)+),
        }
    };
}

mod body;
mod future;
mod hop;
mod layer;
mod service;
#[cfg(test)]
mod tests;

pub use self::{body::TraceBody, future::ResponseFuture, layer::TraceLayer, service::Trace};
pub use crate::{
    redact::{QueryRedaction, RedactedUri},
    semconv::{ErrorClassifier, default_error_type},
};
