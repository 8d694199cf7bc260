//! The [`Timeout`] service.

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use tower_service::Service;

use super::{
    RequestTimeout, ResponseFuture, TimeoutBody,
    body::{Deadline, ReadConfig},
    layer::Config,
};
use crate::{BoxError, extensions};

/// Middleware that applies total and read timeouts; built by
/// [`TimeoutLayer`](super::TimeoutLayer).
#[derive(Clone)]
pub struct Timeout<S> {
    inner: S,
    config: Config,
}

impl<S> Timeout<S> {
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

impl<S, ReqB, ResB> Service<Request<ReqB>> for Timeout<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<TimeoutBody<ResB>>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let timer = &self.config.timer;
        let total = request
            .extensions()
            .get::<RequestTimeout>()
            .map(|RequestTimeout(total)| *total)
            .or(self.config.total)
            // A deadline beyond what `Instant` can represent never passes.
            .and_then(|after| Some((timer.now().checked_add(after)?, after)))
            .map(|(at, after)| {
                // Layers below (retry) must not plan work past the deadline.
                request.extensions_mut().insert(extensions::Deadline(at));
                Deadline {
                    sleep: timer.sleep_until(at),
                    after,
                }
            });
        let read = self.config.read.map(|gap| ReadConfig {
            timer: Arc::clone(timer),
            gap,
        });
        ResponseFuture::new(self.inner.call(request), total, read)
    }
}

impl<S: fmt::Debug> fmt::Debug for Timeout<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("inner", &self.inner)
            .field("total", &self.config.total)
            .field("read", &self.config.read)
            .finish_non_exhaustive()
    }
}
