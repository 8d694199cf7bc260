//! The [`ResponseFuture`] of the [`Hsts`](super::Hsts) service.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{Response, Uri, header::STRICT_TRANSPORT_SECURITY, uri::Authority};
use pin_project_lite::pin_project;

use super::HstsStore;
use crate::{BoxError, EffectiveUri};

pin_project! {
    /// Response future of [`Hsts`](super::Hsts): records the response's
    /// `Strict-Transport-Security` policy when the request went over HTTPS.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        store: Option<HstsStore>,
        authority: Option<Authority>,
        upgraded: Option<Uri>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(
        inner: F,
        store: Option<HstsStore>,
        authority: Option<Authority>,
        upgraded: Option<Uri>,
    ) -> Self {
        Self {
            inner,
            store,
            authority,
            upgraded,
        }
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
        let mut response = match this.inner.poll(cx) {
            Poll::Ready(Ok(response)) => response,
            Poll::Ready(Err(err)) => return Poll::Ready(Err(err.into())),
            Poll::Pending => return Poll::Pending,
        };
        if response.headers().contains_key(STRICT_TRANSPORT_SECURITY)
            && let (Some(store), Some(authority)) = (this.store.take(), this.authority.take())
        {
            store.record_response(authority.host(), response.headers());
        }
        if let Some(upgraded) = this.upgraded.take()
            && response.extensions().get::<EffectiveUri>().is_none()
        {
            response.extensions_mut().insert(EffectiveUri(upgraded));
        }
        Poll::Ready(Ok(response))
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("authority", &self.authority)
            .field("upgraded", &self.upgraded)
            .finish_non_exhaustive()
    }
}
