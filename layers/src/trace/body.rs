//! The [`TraceBody`] response body.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tracing::Span;

use super::{future::record_error, layer::Config};
use crate::BoxError;

pin_project! {
    /// Response body of [`Trace`](super::Trace): holds the request's span open until the body
    /// ends, fails or is dropped, and polls the inner body inside it.
    pub struct TraceBody<B> {
        #[pin]
        inner: B,
        // `None` once the body has ended or failed: the span is closed then.
        span: Option<Span>,
        config: Config,
    }
}

impl<B: Body> TraceBody<B> {
    pub(super) fn new(inner: B, span: Span, config: Config) -> Self {
        let mut body = Self {
            inner,
            span: Some(span),
            config,
        };
        // A body that is over before it starts (HEAD, 204, 304) ends the exchange now.
        if body.inner.is_end_stream() {
            finish(body.span.take(), &config);
        }
        body
    }
}

/// Emits the end-of-body event and closes the span (by dropping it).
fn finish(span: Option<Span>, config: &Config) {
    if let Some(span) = span
        && !span.is_disabled()
    {
        event_at!(parent: &span, config.level, "response body finished");
    }
}

impl<B> Body for TraceBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, BoxError>>> {
        let this = self.project();
        let mut inner = this.inner;
        let polled = {
            let _entered = this.span.as_ref().map(Span::enter);
            inner.as_mut().poll_frame(cx)
        };
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                finish(this.span.take(), this.config);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if inner.is_end_stream() {
                    finish(this.span.take(), this.config);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => {
                let err = err.into();
                if let Some(span) = this.span.take() {
                    // The head had arrived: a failure the classifier cannot name is the body's.
                    let error_type = match (this.config.classify)(&*err) {
                        "_OTHER" => "body",
                        known => known,
                    };
                    record_error(&span, error_type);
                    if !span.is_disabled() {
                        event_at!(
                            parent: &span,
                            this.config.level,
                            "error.type" = error_type,
                            "response body failed"
                        );
                    }
                }
                Poll::Ready(Some(Err(err)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: fmt::Debug> fmt::Debug for TraceBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceBody")
            .field("inner", &self.inner)
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}
