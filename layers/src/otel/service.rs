//! The [`Otel`] service.

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use tower_service::Service;

use super::{OtelBody, ResponseFuture, attempt::Attempt, layer::Shared};
use crate::BoxError;

/// Middleware that records a span and the metrics per attempt; built by
/// [`OtelLayer`](super::OtelLayer).
#[derive(Clone)]
pub struct Otel<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Otel<S> {
    pub(super) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
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

impl<S, ReqB, ResB> Service<Request<ReqB>> for Otel<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    ReqB: http_body::Body,
    ResB: http_body::Body,
{
    type Response = Response<OtelBody<ResB>>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let attempt = Attempt::start(&self.shared, &mut request);
        ResponseFuture::new(self.inner.call(request), attempt)
    }
}

impl<S: fmt::Debug> fmt::Debug for Otel<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Otel")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}
