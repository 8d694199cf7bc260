//! The [`Retry`] service.

use std::{
    fmt, mem,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use towline_core::RequestHead;

use super::{
    AttemptTimeout, ResponseFuture, RetryConfig,
    future::{AttemptLimit, Retrying},
    layer::Shared,
};
use crate::{
    AttemptTimedOut, BoxError, Deadline,
    resend::{Kept, ResendBody},
};

/// Middleware that retries failed requests; built by [`RetryLayer`](super::RetryLayer).
///
/// It takes `Request<B>` and calls the inner service with `Request<ResendBody<B>>`, so that
/// a retry can send the body again (see [`resend`](crate::resend)).
#[derive(Clone)]
pub struct Retry<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Retry<S> {
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

impl<S, ReqB, ResB> Service<Request<ReqB>> for Retry<S>
where
    S: Service<Request<ResendBody<ReqB>>, Response = Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
    ReqB: Body + Send + 'static,
    ReqB::Error: Into<BoxError>,
    ResB: Body,
{
    type Response = Response<ResB>;
    type Error = BoxError;
    type Future = ResponseFuture<S, ReqB, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let extensions = request.extensions();
        let attempt_timeout = extensions
            .get::<AttemptTimeout>()
            .map(|AttemptTimeout(t)| *t);
        let active = |config: &RetryConfig| {
            config.max_retries > 0 || attempt_timeout.or(config.attempt_timeout).is_some()
        };
        let config = match extensions.get::<RetryConfig>() {
            Some(config) => active(config).then(|| Arc::new(config.clone())),
            None => active(&self.shared.config).then(|| Arc::clone(&self.shared.config)),
        };
        let (mut parts, body) = request.into_parts();
        let Some(config) = config else {
            // Retries are off for this request: no replay, no copy, no service clone.
            let future = self
                .inner
                .call(Request::from_parts(parts, ResendBody::original(body)));
            return ResponseFuture::new(future, None);
        };

        let deadline = parts
            .extensions
            .get::<Deadline>()
            .map(|Deadline(deadline)| *deadline);
        let (body, kept) = Kept::first(body, config.max_replay_bytes, &mut parts.extensions);
        // What later attempts are built from, copied before this layer marks the request.
        let template = RequestHead::from_parts(&parts);
        kept.mark(&mut parts.extensions);
        let attempt_limit = attempt_timeout.or(config.attempt_timeout).map(|after| {
            let timed_out = AttemptTimedOut::new();
            parts.extensions.insert(timed_out.clone());
            AttemptLimit { after, timed_out }
        });

        // The clone-swap idiom: call the service that was readied, leave a fresh clone.
        let clone = self.inner.clone();
        let mut service = mem::replace(&mut self.inner, clone);
        let future = service.call(Request::from_parts(parts, body));
        let retrying = Retrying::new(
            service,
            config,
            Arc::clone(&self.shared),
            template,
            kept,
            deadline,
            attempt_limit,
        );
        ResponseFuture::new(future, Some(Box::new(retrying)))
    }
}

impl<S: fmt::Debug> fmt::Debug for Retry<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}
