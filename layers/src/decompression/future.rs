//! The [`ResponseFuture`] of the [`Decompression`](super::Decompression) service.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use http::{
    Response, StatusCode,
    header::{CONTENT_ENCODING, CONTENT_LENGTH},
};
use pin_project_lite::pin_project;

use super::{
    DecompressionBody,
    encoding::{Codecs, decoding_plan},
    limit::Limits,
};
use crate::BoxError;

/// What the future needs to decide about, and decode, the response.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub(super) codecs: Codecs,
    pub(super) limits: Limits,
    /// The request was a HEAD: the response has no body to decode.
    pub(super) head: bool,
}

pin_project! {
    /// Response future of [`Decompression`](super::Decompression): once the response head
    /// arrives, wraps its body in a [`DecompressionBody`] that decodes it, or passes it through.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // `None` when the request opted out or the layer decodes nothing.
        settings: Option<Settings>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, settings: Option<Settings>) -> Self {
        Self { inner, settings }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<DecompressionBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx)).map_err(Into::into)?;
        let (mut parts, body) = response.into_parts();
        let plan = this
            .settings
            .filter(|settings| !settings.head && has_body(parts.status))
            .and_then(|settings| {
                decoding_plan(&parts.headers, settings.codecs).map(|plan| (plan, settings.limits))
            });
        let body = match plan {
            Some((plan, limits)) => {
                // The headers now describe the decoded body, whose length is unknown.
                parts.headers.remove(CONTENT_ENCODING);
                parts.headers.remove(CONTENT_LENGTH);
                DecompressionBody::decoding(body, &plan, limits)
            }
            None => DecompressionBody::identity(body),
        };
        Poll::Ready(Ok(Response::from_parts(parts, body)))
    }
}

/// Whether a response with this status carries a body worth decoding: not 1xx, 204 or 304
/// (no body), nor 206 (a range of the encoded representation, which rarely decodes alone).
fn has_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status == StatusCode::PARTIAL_CONTENT)
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
