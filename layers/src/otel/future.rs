//! The [`ResponseFuture`] of the [`Otel`](super::Otel) service.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use http::Response;
use pin_project_lite::pin_project;

use super::{OtelBody, attempt::Attempt};
use crate::BoxError;

pin_project! {
    /// Response future of [`Otel`](super::Otel): records the response head on the attempt's
    /// span and hands the attempt to the body, or ends it with the error.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // `None` once the future has completed. Dropping it before ends the span.
        attempt: Option<Attempt>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, attempt: Attempt) -> Self {
        Self {
            inner,
            attempt: Some(attempt),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: http_body::Body,
{
    type Output = Result<Response<OtelBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let attempt = this.attempt.take();
        match result {
            Ok(response) => {
                let attempt = attempt.map(|mut attempt| {
                    attempt.head(&response);
                    attempt
                });
                Poll::Ready(Ok(response.map(|body| OtelBody::new(body, attempt))))
            }
            Err(err) => {
                let err = err.into();
                if let Some(mut attempt) = attempt {
                    attempt.error(&*err);
                }
                Poll::Ready(Err(err))
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("done", &self.attempt.is_none())
            .finish_non_exhaustive()
    }
}
