//! The [`DigestAuth`] service.

use std::{fmt, mem, sync::Arc};

use http::{
    Request, Response,
    header::{AUTHORIZATION, PROXY_AUTHORIZATION},
};
use http_body::Body;
use tower_service::Service;
use towline_core::RequestHead;

use super::{
    DigestAuthLayer, DigestCredentials, ResponseFuture,
    future::{Authenticating, Side},
};
use crate::{
    BoxError, CrossOriginRedirect,
    auth::{Credentials, NetrcAuthorization, NetrcCredentials},
    resend::ResendBody,
};

/// Middleware answering Digest challenges; built by [`DigestAuthLayer`].
///
/// It takes `Request<ResendBody<B>>` and hands its inner service the same type (see
/// [`resend`](crate::resend)).
#[derive(Clone)]
pub struct DigestAuth<S> {
    inner: S,
    layer: DigestAuthLayer,
}

impl<S> DigestAuth<S> {
    pub(super) fn new(inner: S, layer: DigestAuthLayer) -> Self {
        Self { inner, layer }
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

impl<S, B, ResB> Service<Request<ResendBody<B>>> for DigestAuth<S>
where
    S: Service<Request<ResendBody<B>>, Response = Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
    ResB: Body,
{
    type Response = Response<ResB>;
    type Error = BoxError;
    type Future = ResponseFuture<S, B, ResB>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ResendBody<B>>) -> Self::Future {
        let config = &self.layer.config;
        let headers = request.headers();
        let extensions = request.extensions();
        // A header the caller set wins; one a netrc layer above added (Basic) may be
        // replaced by a Digest answer.
        let explicit =
            headers.contains_key(AUTHORIZATION) && extensions.get::<NetrcAuthorization>().is_none();
        let origin_credentials = if explicit {
            None
        } else {
            credentials_for(&request, config.credentials.as_ref())
        };
        let proxy_credentials = if headers.contains_key(PROXY_AUTHORIZATION) {
            None
        } else {
            config
                .proxy
                .as_ref()
                .and_then(|proxy| proxy.get(request.uri()))
        };
        if origin_credentials.is_none() && proxy_credentials.is_none() {
            // Nothing to answer with: no copy, no replay, no service clone.
            return ResponseFuture::passthrough(self.inner.call(request));
        }

        let (mut parts, body) = request.into_parts();
        let cap = config.max_replay_bytes;
        let body_buffered = body
            .size_hint()
            .exact()
            .is_some_and(|len| len <= u64::try_from(cap).unwrap_or(u64::MAX));
        let (body, kept) = body.keep(cap);
        let head = RequestHead::from_parts(&parts);
        // The clone-swap idiom: the service that was readied sends the first attempt.
        let clone = self.inner.clone();
        let mut auth = Authenticating::new(
            mem::replace(&mut self.inner, clone),
            self.layer.clone(),
            head,
            kept,
            body_buffered,
            Side::new(origin_credentials),
            Side::new(proxy_credentials),
        );
        auth.preempt(&mut parts.headers);
        let future = auth.service.call(Request::from_parts(parts, body));
        ResponseFuture::new(future, Box::new(auth))
    }
}

/// The credentials answering `request`'s origin: the request's own, bound to its origin;
/// else the layer's, unless a redirect brought the request to another origin; else those a
/// netrc layer above found for the request's host.
fn credentials_for<B>(
    request: &Request<B>,
    layer: Option<&Arc<Credentials>>,
) -> Option<Arc<Credentials>> {
    let extensions = request.extensions();
    if let Some(credentials) = extensions.get::<DigestCredentials>() {
        // Credentials given for another origin are not used here, nor replaced by others.
        return credentials.get(request.uri()).cloned();
    }
    if let Some(credentials) = layer
        && extensions.get::<CrossOriginRedirect>().is_none()
    {
        return Some(Arc::clone(credentials));
    }
    extensions
        .get::<NetrcCredentials>()
        .filter(|netrc| netrc.origin.matches(request.uri()))
        .map(|netrc| Arc::clone(&netrc.credentials))
}

impl<S: fmt::Debug> fmt::Debug for DigestAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestAuth")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl DigestAuthLayer {
    /// How many protection spaces this layer remembers (for tests).
    #[cfg(test)]
    pub(super) fn spaces(&self) -> usize {
        crate::sync::lock(&self.cache).len()
    }
}
