//! The [`Redirect`] service.

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
    Fragment, ResponseFuture,
    future::{Follow, Hops},
    layer::Config,
};
use crate::{
    BoxError,
    resend::{Kept, ResendBody},
};

/// Middleware that follows redirects; built by [`RedirectLayer`](super::RedirectLayer).
///
/// It takes `Request<B>` and calls the inner service with `Request<ResendBody<B>>`, so
/// that a redirect can send the body again (see [`resend`](crate::resend)).
#[derive(Clone)]
pub struct Redirect<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> Redirect<S> {
    pub(super) fn new(inner: S, config: Arc<Config>) -> Self {
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

impl<S, ReqB, ResB> Service<Request<ReqB>> for Redirect<S>
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
        let config = Arc::clone(&self.config);
        let (mut parts, body) = request.into_parts();
        let fragment = parts
            .extensions
            .get::<Fragment>()
            .map(|Fragment(fragment)| fragment.clone());

        if config.policy.is_none() {
            // Nothing will be followed: no replay, no copy of the request, no service clone.
            let current = parts.uri.clone();
            let future = self
                .inner
                .call(Request::from_parts(parts, ResendBody::original(body)));
            return ResponseFuture::new(future, Hops::new(config, current, fragment, None));
        }

        let (body, kept) = Kept::first(body, config.max_replay_body_bytes, &mut parts.extensions);
        // What later hops are built from, copied before this layer marks the request.
        let mut head = RequestHead::from_parts(&parts);
        kept.mark(&mut parts.extensions);
        // The head's URI would be a second copy of `current`; each hop sets its own.
        let current = mem::take(&mut head.uri);

        // The clone-swap idiom: call the service that was readied, leave a fresh clone.
        let clone = self.inner.clone();
        let mut service = mem::replace(&mut self.inner, clone);
        let future = service.call(Request::from_parts(parts, body));
        let follow = Follow {
            service,
            head,
            body: kept,
        };
        ResponseFuture::new(future, Hops::new(config, current, fragment, Some(follow)))
    }
}

impl<S: fmt::Debug> fmt::Debug for Redirect<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redirect")
            .field("inner", &self.inner)
            .field("policy", &self.config.policy)
            .field("https_only", &self.config.https_only)
            .field("referer", &self.config.referer)
            .finish_non_exhaustive()
    }
}
