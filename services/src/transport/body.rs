//! The request and response bodies as the transport sees them.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;

use crate::connect::{Connected, Target};
use crate::pool::Pool;

/// The body sent on a connection: the caller's, or nothing when an empty-bodied request is
/// replayed on a fresh connection.
#[derive(Debug)]
pub enum SendBody<B> {
    /// The caller's body.
    Body(B),
    /// No body.
    Empty,
}

impl<B: Body + Unpin> Body for SendBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.get_mut() {
            SendBody::Body(body) => Pin::new(body).poll_frame(cx),
            SendBody::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            SendBody::Body(body) => body.is_end_stream(),
            SendBody::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SendBody::Body(body) => body.size_hint(),
            SendBody::Empty => SizeHint::with_exact(0),
        }
    }
}

/// Puts an HTTP/1 connection back in the pool once its response body has been read.
pub(crate) struct Release<B> {
    pub(crate) pool: Pool<SendBody<B>>,
    pub(crate) target: Target,
    pub(crate) sender: http1::SendRequest<SendBody<B>>,
    pub(crate) connected: Arc<Connected>,
    pub(crate) reusable: bool,
}

impl<B: Send + 'static> Release<B> {
    fn release(self) {
        if self.reusable {
            self.pool
                .put_http1(self.target, self.sender, self.connected);
        }
    }
}

/// The response body: hyper's body, plus the HTTP/1 connection that returns to the pool
/// when the body has been read to its end. A body dropped earlier closes its connection.
pub struct ResponseBody<B: Send + 'static> {
    inner: Incoming,
    release: Option<Release<B>>,
}

impl<B: Send + 'static> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<B: Send + 'static> ResponseBody<B> {
    pub(crate) fn new(inner: Incoming, release: Option<Release<B>>) -> Self {
        let mut body = Self { inner, release };
        if body.inner.is_end_stream() {
            body.finish();
        }
        body
    }

    fn finish(&mut self) {
        if let Some(release) = self.release.take() {
            release.release();
        }
    }
}

impl<B: Send + 'static> Body for ResponseBody<B> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.finish(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.finish(),
            Poll::Ready(Some(Err(_))) => this.release = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: Send + 'static> Drop for ResponseBody<B> {
    fn drop(&mut self) {
        if self.inner.is_end_stream() {
            self.finish();
        }
    }
}
