//! The [`OtelBody`] response body.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::attempt::Attempt;
use crate::BoxError;

pin_project! {
    /// Response body of [`Otel`](super::Otel): counts the body's bytes and keeps the
    /// attempt's span open until the body ends, fails or is dropped.
    pub struct OtelBody<B> {
        #[pin]
        inner: B,
        // `None` once the body has ended or failed: the span has ended then.
        attempt: Option<Attempt>,
    }
}

impl<B: Body> OtelBody<B> {
    pub(super) fn new(inner: B, mut attempt: Option<Attempt>) -> Self {
        // A body that is over before it starts (HEAD, 204, 304) ends the attempt now.
        if inner.is_end_stream()
            && let Some(mut over) = attempt.take()
        {
            over.body_complete();
        }
        Self { inner, attempt }
    }
}

impl<B> Body for OtelBody<B>
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
        match inner.as_mut().poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                if let Some(mut attempt) = this.attempt.take() {
                    attempt.body_complete();
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(attempt) = this.attempt.as_mut() {
                    if let Some(data) = frame.data_ref() {
                        attempt.received(data.remaining());
                    }
                    if inner.is_end_stream() {
                        attempt.body_complete();
                        *this.attempt = None;
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => {
                let err = err.into();
                if let Some(mut attempt) = this.attempt.take() {
                    attempt.body_error(&*err);
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

impl<B: fmt::Debug> fmt::Debug for OtelBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelBody")
            .field("inner", &self.inner)
            .field("open", &self.attempt.is_some())
            .finish_non_exhaustive()
    }
}
