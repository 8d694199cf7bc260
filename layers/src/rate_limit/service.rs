//! The [`RateLimit`] service.

use std::{
    fmt,
    task::{Context, Poll},
};

use http::Request;
use tower_service::Service;

use super::{RateLimiter, ResponseFuture};
use crate::BoxError;

/// Middleware that holds each request until its [`RateLimiter`] slot; built by
/// [`RateLimitLayer`](super::RateLimitLayer).
#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    limiter: RateLimiter,
}

impl<S> RateLimit<S> {
    pub(super) fn new(inner: S, limiter: RateLimiter) -> Self {
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

impl<S, ReqB> Service<Request<ReqB>> for RateLimit<S>
where
    S: Service<Request<ReqB>> + Clone,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, ReqB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        match self.limiter.reserve(request.uri().authority()) {
            None => {
                // The clone-swap idiom: call the service that was readied, leave a clone.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::calling(inner.call(request))
            }
            Some((wait, reservation)) => {
                // A request waiting for its slot must not hold what the readied service
                // reserved (a concurrency permit, a buffer slot): replacing it drops that,
                // and the future readies its own clone once the slot comes.
                let inner = self.inner.clone();
                self.inner = inner.clone();
                ResponseFuture::waiting(
                    self.limiter.timer().sleep(wait),
                    inner,
                    request,
                    reservation,
                )
            }
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}
