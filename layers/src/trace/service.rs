//! The [`Trace`] service.

use std::{
    fmt,
    task::{Context, Poll},
};

use http::{Request, Response};
use tower_service::Service;
use tracing::{Span, field::Empty};

use super::{RedactedUri, ResponseFuture, TraceBody, hop, layer::Config};
use crate::{BoxError, semconv};

/// Middleware that opens a span per request; built by [`TraceLayer`](super::TraceLayer).
#[derive(Clone)]
pub struct Trace<S> {
    inner: S,
    config: Config,
}

impl<S> Trace<S> {
    pub(super) fn new(inner: S, config: Config) -> Self {
        Self { inner, config }
    }

    /// Returns a reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Returns a mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the middleware, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Trace<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    ResB: http_body::Body,
{
    type Response = Response<TraceBody<ResB>>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let span = request_span(&request, &self.config);
        // A span no subscriber records would get no hop events either: skip the insert.
        if !span.is_disabled() {
            request
                .extensions_mut()
                .insert(hop::observer(span.clone(), self.config));
        }
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        ResponseFuture::new(future, span, self.config)
    }
}

/// The request's span, with every field known before the response declared and set.
fn request_span<B>(request: &Request<B>, config: &Config) -> Span {
    let uri = request.uri();
    let authority = semconv::request_authority(request);
    let authority = authority.as_deref();
    let scheme = uri.scheme_str();
    let port = semconv::server_port(authority, scheme);
    let (method, method_original) = semconv::method(request.method());
    span_at!(
        config.level,
        "HTTP request",
        "otel.name" = semconv::otel_name(method),
        "otel.kind" = "client",
        "otel.status_code" = Empty,
        "http.request.method" = method,
        "http.request.method_original" = method_original,
        "url.full" = %RedactedUri::new(uri, config.query),
        "url.scheme" = scheme,
        "server.address" = authority.map(|authority| semconv::server_address(authority.host())),
        "server.port" = port,
        "http.response.status_code" = Empty,
        "network.protocol.version" = Empty,
        "error.type" = Empty,
    )
}

impl<S: fmt::Debug> fmt::Debug for Trace<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("inner", &self.inner)
            .field("level", &self.config.level)
            .field("query", &self.config.query)
            .finish_non_exhaustive()
    }
}
