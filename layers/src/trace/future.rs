//! The [`ResponseFuture`] of the [`Trace`](super::Trace) service.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use http::Response;
use pin_project_lite::pin_project;
use tracing::Span;

use super::{TraceBody, layer::Config};
use crate::{BoxError, semconv};

pin_project! {
    /// Response future of [`Trace`](super::Trace): polls the inner future inside the
    /// request's span, records the response head on it and hands the span to the body.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // `None` once the future has completed.
        span: Option<Span>,
        config: Config,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, span: Span, config: Config) -> Self {
        Self {
            inner,
            span: Some(span),
            config,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: http_body::Body,
{
    type Output = Result<Response<TraceBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = {
            let _entered = this.span.as_ref().map(Span::enter);
            this.inner.poll(cx)
        };
        let result = ready!(polled);
        let span = this.span.take().unwrap_or_else(Span::none);
        match result {
            Ok(response) => {
                record_head(&span, &response);
                let config = *this.config;
                Poll::Ready(Ok(response.map(|body| TraceBody::new(body, span, config))))
            }
            Err(err) => {
                let err = err.into();
                let error_type = (this.config.classify)(&*err);
                record_error(&span, error_type);
                if !span.is_disabled() {
                    event_at!(
                        parent: &span,
                        this.config.level,
                        "error.type" = error_type,
                        "request failed"
                    );
                }
                Poll::Ready(Err(err))
            }
        }
    }
}

/// Records the status and protocol version, and a status of 400 or more as the error.
fn record_head<B>(span: &Span, response: &Response<B>) {
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if let Some(version) = semconv::protocol_version(response.version()) {
        span.record("network.protocol.version", version);
    }
    if status.as_u16() >= 400 {
        record_error(span, status.as_str());
    }
}

/// Marks the span failed with `error_type`.
pub(super) fn record_error(span: &Span, error_type: &str) {
    span.record("error.type", error_type);
    span.record("otel.status_code", "ERROR");
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}
