//! The [`Bandwidth`] service.

use std::{
    fmt,
    task::{Context, Poll},
};

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::{BandwidthBody, BandwidthLimiter, ResponseFuture};
use crate::BoxError;

/// Middleware that paces response bodies to a [`BandwidthLimiter`]; built by
/// [`BandwidthLayer`](super::BandwidthLayer).
#[derive(Clone)]
pub struct Bandwidth<S> {
    inner: S,
    limiter: BandwidthLimiter,
}

impl<S> Bandwidth<S> {
    pub(super) fn new(inner: S, limiter: BandwidthLimiter) -> Self {
        Self { inner, limiter }
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

impl<S, ReqB, ResB> Service<Request<ReqB>> for Bandwidth<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    ResB: Body,
{
    type Response = Response<BandwidthBody<ResB>>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        ResponseFuture::new(self.inner.call(request), self.limiter.clone())
    }
}

impl<S: fmt::Debug> fmt::Debug for Bandwidth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bandwidth")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}
