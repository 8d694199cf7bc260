//! The [`ResponseFuture`] of the [`Bandwidth`](super::Bandwidth) service.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;

use super::{BandwidthBody, BandwidthLimiter};
use crate::BoxError;

pin_project! {
    /// Response future of [`Bandwidth`](super::Bandwidth): wraps the response body in a
    /// [`BandwidthBody`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        limiter: BandwidthLimiter,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, limiter: BandwidthLimiter) -> Self {
        Self { inner, limiter }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    E: Into<BoxError>,
{
    type Output = Result<Response<BandwidthBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx)).map_err(Into::into)?;
        let limiter = this.limiter.clone();
        Poll::Ready(Ok(response.map(|body| BandwidthBody::new(body, limiter))))
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}
