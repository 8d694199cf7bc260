//! The request and response bodies as the transport sees them.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use crate::connect::Target;
use crate::pool::{Pool, PooledConn, Slot};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// The body sent on a connection: the caller's, or nothing when it is empty (an empty body
/// has nothing to send, and an empty-bodied request replayed on a fresh connection has no
/// body left).
///
/// hyper's HTTP/2 connections take only `Unpin` bodies; a caller's body need not be, so it
/// is pinned on the heap: one allocation per request that has a body to send, beside the
/// flag below.
pub struct SendBody<B> {
    body: Option<Pin<Box<B>>>,
    /// Set once the body has been sent to its end; `None` when it was empty from the start.
    /// An HTTP/1 connection whose response has ended is free only once its request body has
    /// been sent too (see `Pool::put_http1`).
    sent: Option<Arc<AtomicBool>>,
}

impl<B: Body> SendBody<B> {
    /// The caller's body.
    pub(crate) fn new(body: B) -> Self {
        if body.is_end_stream() {
            return Self::empty();
        }
        Self {
            body: Some(Box::pin(body)),
            // One small allocation, and only for requests with a body.
            sent: Some(Arc::new(AtomicBool::new(false))),
        }
    }
}

impl<B> std::fmt::Debug for SendBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBody")
            .field("empty", &self.body.is_none())
            .finish_non_exhaustive()
    }
}

impl<B> SendBody<B> {
    /// No body.
    pub(crate) fn empty() -> Self {
        Self {
            body: None,
            sent: None,
        }
    }

    /// Tells, later, whether this body has been sent to its end.
    pub(crate) fn sent_flag(&self) -> SentFlag {
        SentFlag(self.sent.clone())
    }

    fn mark_sent(&self) {
        if let Some(sent) = &self.sent {
            sent.store(true, Ordering::Release);
        }
    }
}

/// Whether a request body handed to a connection has been sent to its end.
pub(crate) struct SentFlag(Option<Arc<AtomicBool>>);

impl SentFlag {
    pub(crate) fn is_sent(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|sent| sent.load(Ordering::Acquire))
    }
}

impl<B: Body> Body for SendBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let Some(body) = &mut this.body else {
            return Poll::Ready(None);
        };
        let polled = body.as_mut().poll_frame(cx);
        if let Poll::Ready(None) = polled {
            this.mark_sent();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        // hyper asks this after every frame and stops polling once it says so.
        let ended = self.body.as_ref().is_none_or(|body| body.is_end_stream());
        if ended {
            self.mark_sent();
        }
        ended
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |body| body.size_hint())
    }
}

/// Puts an HTTP/1 connection back in the pool once its response body has been read.
pub(crate) struct Release<B> {
    pub(crate) pool: Pool<SendBody<B>>,
    pub(crate) target: Target,
    pub(crate) conn: PooledConn<SendBody<B>>,
    pub(crate) reusable: bool,
    /// Whether the request body has been sent to its end.
    pub(crate) request_sent: SentFlag,
}

impl<B: Send + 'static> Release<B> {
    fn release(self) {
        if self.reusable {
            self.pool
                .put_http1(self.target, self.conn, self.request_sent.is_sent());
        }
    }
}

/// The response body: hyper's body, plus the HTTP/1 connection that returns to the pool
/// when the body has been read to its end. A body dropped earlier closes its connection.
pub struct ResponseBody<B: Send + 'static> {
    inner: Incoming,
    release: Option<Release<B>>,
    /// The place under the per-target cap of an HTTP/2 connection the pool does not keep:
    /// the connection lasts as long as this response.
    _slot: Option<Slot<SendBody<B>>>,
}

impl<B: Send + 'static> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<B: Send + 'static> ResponseBody<B> {
    pub(crate) fn new(
        inner: Incoming,
        release: Option<Release<B>>,
        slot: Option<Slot<SendBody<B>>>,
    ) -> Self {
        let mut body = Self {
            inner,
            release,
            _slot: slot,
        };
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
