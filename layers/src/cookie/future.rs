//! The [`ResponseFuture`] of the [`Cookie`](super::Cookie) service.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{Response, header::SET_COOKIE};
use pin_project_lite::pin_project;

use super::{CookieJar, service::Target};
use crate::BoxError;

pin_project! {
    /// Response future of [`Cookie`](super::Cookie): stores the cookies the
    /// response sets, whatever its status, before handing it over.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        jar: CookieJar,
        target: Option<Target>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, jar: CookieJar, target: Option<Target>) -> Self {
        Self { inner, jar, target }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.inner.poll(cx) {
            Poll::Ready(Ok(response)) => response,
            Poll::Ready(Err(err)) => return Poll::Ready(Err(err.into())),
            Poll::Pending => return Poll::Pending,
        };
        if response.headers().contains_key(SET_COOKIE)
            && let Some(url) = this.target.take().and_then(Target::into_url)
        {
            this.jar.store_response(&url, response.headers());
        }
        Poll::Ready(Ok(response))
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}
