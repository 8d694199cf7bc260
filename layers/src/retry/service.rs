//! The [`Retry`] service.

use std::{
    fmt, mem,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::{
    ResponseFuture, RetryBody, RetryConfig,
    future::{Kept, Retrying},
    layer::Shared,
};
use crate::{BoxError, Deadline, replay::ReplayBody};

/// Middleware that retries failed requests; built by [`RetryLayer`](super::RetryLayer).
///
/// It takes `Request<B>` and calls the inner service with `Request<RetryBody<B>>`, so that
/// a retry can send the body again (see [`RetryBody`]).
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
    S: Service<Request<RetryBody<ReqB>>, Response = Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
    ReqB: Body,
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
        let config = match request.extensions().get::<RetryConfig>() {
            Some(config) if config.max_retries == 0 => None,
            Some(config) => Some(Arc::new(config.clone())),
            None if self.shared.config.max_retries == 0 => None,
            None => Some(Arc::clone(&self.shared.config)),
        };
        let (parts, body) = request.into_parts();
        let Some(config) = config else {
            // Retries are off for this request: no replay, no copy, no service clone.
            let future = self
                .inner
                .call(Request::from_parts(parts, RetryBody::original(body)));
            return ResponseFuture::new(future, None);
        };

        let cap = config.max_replay_bytes;
        let (body, kept) = if body.is_end_stream() {
            // Every attempt sends an empty body, which needs no recording.
            (RetryBody::original(body), Kept::Empty)
        } else if body.size_hint().lower() > u64::try_from(cap).unwrap_or(u64::MAX) {
            // Known to be too large to keep: sent once, never retried.
            (RetryBody::original(body), Kept::Unreplayable)
        } else {
            let body = ReplayBody::new(body, cap);
            let kept = body.try_clone().map_or(Kept::Unreplayable, Kept::Replay);
            (RetryBody::replay(body), kept)
        };
        let deadline = parts
            .extensions
            .get::<Deadline>()
            .map(|Deadline(deadline)| *deadline);
        let template = {
            let mut template = Request::new(());
            *template.method_mut() = parts.method.clone();
            *template.uri_mut() = parts.uri.clone();
            *template.version_mut() = parts.version;
            *template.headers_mut() = parts.headers.clone();
            *template.extensions_mut() = parts.extensions.clone();
            template
        };

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
