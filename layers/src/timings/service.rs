use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::{ResponseFuture, TimingsBody};
use crate::time::SharedTimer;

/// The service of [`TimingsLayer`](super::TimingsLayer).
#[derive(Clone)]
pub struct Timings<S> {
    inner: S,
    timer: SharedTimer,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Timings<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timings")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> Timings<S> {
    pub(crate) fn new(inner: S, timer: SharedTimer) -> Self {
        Self { inner, timer }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Timings<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: http_body::Body,
{
    type Response = Response<TimingsBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let start = self.timer.now();
        ResponseFuture::new(self.inner.call(request), self.timer.clone(), start)
    }
}
