//! The [`Hsts`] service.

use std::task::{Context, Poll};

use http::{Request, Response, uri::Scheme};
use tower_service::Service;

use super::{HstsStore, ResponseFuture};
use crate::BoxError;

/// Middleware that enforces and learns HSTS policies; built by
/// [`HstsLayer`](super::HstsLayer).
#[derive(Debug, Clone)]
pub struct Hsts<S> {
    inner: S,
    store: HstsStore,
}

impl<S> Hsts<S> {
    /// Wraps `inner`, keeping policies in `store`.
    pub fn new(inner: S, store: HstsStore) -> Self {
        Self { inner, store }
    }

    /// The store this service uses.
    pub fn store(&self) -> &HstsStore {
        &self.store
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

impl<S, ReqB, ResB> Service<Request<ReqB>> for Hsts<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<ResB>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let upgraded = self.store.upgrade(request.uri());
        if let Some(uri) = &upgraded {
            *request.uri_mut() = uri.clone();
        }
        // Only a response received over HTTPS may set a policy (RFC 6797 §8.1).
        let learn_from = if request.uri().scheme() == Some(&Scheme::HTTPS) {
            request.uri().authority().cloned()
        } else {
            None
        };
        let store = learn_from.as_ref().map(|_| self.store.clone());
        ResponseFuture::new(self.inner.call(request), store, learn_from, upgraded)
    }
}
