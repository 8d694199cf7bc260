//! The [`ResponseFuture`] of the [`Cookie`](super::Cookie) service.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{Response, header::SET_COOKIE};
use pin_project_lite::pin_project;

use super::{CookieJar, CookieStore, service::Target};
use crate::BoxError;

pin_project! {
    /// Response future of [`Cookie`](super::Cookie): stores the cookies the
    /// response sets, whatever its status, before handing it over.
    pub struct ResponseFuture<F, J = CookieJar> {
        #[pin]
        inner: F,
        jar: J,
        target: Option<Target>,
    }
}

impl<F, J> ResponseFuture<F, J> {
    pub(super) fn new(inner: F, jar: J, target: Option<Target>) -> Self {
        Self { inner, jar, target }
    }
}

impl<F, J, B, E> Future for ResponseFuture<F, J>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    J: CookieStore,
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
            this.jar
                .set_cookies(&mut response.headers().get_all(SET_COOKIE).iter(), &url);
        }
        Poll::Ready(Ok(response))
    }
}

impl<F, J> fmt::Debug for ResponseFuture<F, J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}
