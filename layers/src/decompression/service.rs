//! The [`Decompression`] service.

use std::{
    fmt,
    task::{Context, Poll},
};

use http::{
    Method, Request, Response,
    header::{ACCEPT_ENCODING, Entry, RANGE},
};
use tower_service::Service;

use super::{DecompressionBody, NoDecompression, ResponseFuture, future::Settings, layer::Config};
use crate::BoxError;

/// Middleware that asks for compressed responses and decodes them; built by
/// [`DecompressionLayer`](super::DecompressionLayer).
#[derive(Clone)]
pub struct Decompression<S> {
    inner: S,
    config: Config,
}

impl<S> Decompression<S> {
    /// Wraps `inner` with the default settings of
    /// [`DecompressionLayer::new`](super::DecompressionLayer::new).
    pub fn new(inner: S) -> Self {
        Self::with_config(inner, Config::default())
    }

    pub(super) fn with_config(inner: S, config: Config) -> Self {
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

impl<S, ReqB, ResB> Service<Request<ReqB>> for Decompression<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<DecompressionBody<ResB>>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let config = &self.config;
        let settings = if config.codecs.is_empty()
            || request.extensions().get::<NoDecompression>().is_some()
        {
            None
        } else {
            // A range of an encoded representation rarely decodes on its own, so ranges are
            // asked for unencoded (as reqwest and browsers do).
            if let Some(accept) = &config.accept
                && !request.headers().contains_key(RANGE)
                && let Entry::Vacant(entry) = request.headers_mut().entry(ACCEPT_ENCODING)
            {
                entry.insert(accept.clone());
            }
            Some(Settings {
                codecs: config.codecs,
                limits: config.limits,
                head: request.method() == Method::HEAD,
            })
        };
        ResponseFuture::new(self.inner.call(request), settings)
    }
}

impl<S: fmt::Debug> fmt::Debug for Decompression<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decompression")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}
