//! The request and response bodies as the transport sees them.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use crate::connect::Target;
use crate::pool::{Pool, PooledConn, Slot};
use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// The body sent on a connection: the caller's, the bytes kept from it for a replay, or
/// nothing when it is empty (an empty body has nothing to send, and an empty-bodied request
/// replayed on a fresh connection has no body left).
///
/// hyper's HTTP/2 connections take only `Unpin` bodies; a caller's body need not be, so it
/// is pinned on the heap: one allocation per request that has a body to send, beside the
/// shared state below.
///
/// # Keeping a body for a replay
///
/// When the transport may have to send an idempotent request again (on a reused or an
/// HTTP/2 connection), it asks the body to keep what it sends. A body
/// held in memory — `Full`, `String`, `Bytes`, the `towline` client's buffered body — is
/// sent in one data frame and ends; that frame is kept (a reference count for `Bytes`, one
/// copy for other buffers) and the request can be sent again byte for byte. A body that
/// sends a second frame or trailers is a stream: nothing of it is kept, and it is never
/// sent again.
pub struct SendBody<B> {
    source: Source<B>,
    /// Whether the body has been sent to its end, and what was kept of it; `None` when it
    /// was empty from the start. An HTTP/1 connection whose response has ended is free only
    /// once its request body has been sent too (see `Pool::put_http1`).
    state: Option<Arc<SendState>>,
}

enum Source<B> {
    Empty,
    Caller(Pin<Box<B>>),
    /// The bytes kept from an earlier send, held by the shared state (so that a `SendBody`,
    /// which every request moves around, stays two words and a tag).
    Kept,
}

struct SendState {
    sent: AtomicBool,
    kept: Mutex<Kept>,
}

/// What a body asked to keep itself holds.
enum Kept {
    /// Not asked to keep anything.
    Off,
    /// Asked, nothing sent yet.
    Waiting,
    /// The one data frame sent so far.
    One(Bytes),
    /// More than one frame, or trailers: a stream, not kept.
    Stream,
}

impl SendState {
    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        // The lock guards plain data no panic can leave half-written.
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<B: Body> SendBody<B> {
    /// The caller's body.
    pub(crate) fn new(body: B) -> Self {
        if body.is_end_stream() {
            return Self::empty();
        }
        Self {
            source: Source::Caller(Box::pin(body)),
            state: Some(SendState::shared()),
        }
    }
}

impl SendState {
    /// One small allocation, and only for requests with a body.
    fn shared() -> Arc<Self> {
        Arc::new(Self {
            sent: AtomicBool::new(false),
            kept: Mutex::new(Kept::Off),
        })
    }
}

impl<B> std::fmt::Debug for SendBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBody")
            .field("empty", &self.state.is_none())
            .finish_non_exhaustive()
    }
}

impl<B> SendBody<B> {
    /// No body.
    pub(crate) fn empty() -> Self {
        Self {
            source: Source::Empty,
            state: None,
        }
    }

    /// The bytes kept from an earlier send of a body, to send again.
    pub(crate) fn kept(bytes: Bytes) -> Self {
        let state = SendState::shared();
        *state.kept() = Kept::One(bytes);
        Self {
            source: Source::Kept,
            state: Some(state),
        }
    }

    /// For a [`Source::Kept`] body: its bytes, once.
    fn take_kept_frame(&self) -> Option<Bytes> {
        let state = self.state.as_ref()?;
        match std::mem::replace(&mut *state.kept(), Kept::Off) {
            Kept::One(bytes) => Some(bytes),
            _ => None,
        }
    }

    fn kept_len(&self) -> Option<usize> {
        match &*self.state.as_ref()?.kept() {
            Kept::One(bytes) => Some(bytes.len()),
            _ => None,
        }
    }

    /// Whether there is nothing to send.
    pub(crate) fn is_empty(&self) -> bool {
        self.state.is_none()
    }

    /// Asks the body to keep what it sends, for one replay (see the type's docs).
    pub(crate) fn keep(&self) {
        if let Some(state) = &self.state {
            *state.kept() = Kept::Waiting;
        }
    }

    /// Tells, later, whether this body has been sent to its end, and hands over what it
    /// kept.
    pub(crate) fn sent_flag(&self) -> SentFlag {
        SentFlag(self.state.clone())
    }

    fn mark_sent(&self) {
        if let Some(state) = &self.state {
            state.sent.store(true, Ordering::Release);
        }
    }
}

/// Whether a request body handed to a connection has been sent to its end, and the bytes it
/// kept for a replay.
pub(crate) struct SentFlag(Option<Arc<SendState>>);

impl SentFlag {
    pub(crate) fn is_sent(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|state| state.sent.load(Ordering::Acquire))
    }

    /// Drops what was kept and keeps nothing more: the response came, no replay will.
    pub(crate) fn stop_keeping(&self) {
        if let Some(state) = &self.0 {
            *state.kept() = Kept::Off;
        }
    }

    /// The whole body, when it was kept: sent to its end in one data frame.
    pub(crate) fn take_kept(&self) -> Option<Bytes> {
        let state = self.0.as_ref()?;
        if !state.sent.load(Ordering::Acquire) {
            return None;
        }
        match std::mem::replace(&mut *state.kept(), Kept::Off) {
            Kept::One(bytes) => Some(bytes),
            _ => None,
        }
    }
}

/// A data frame of a [`SendBody`]: the caller's buffer, or bytes kept for a replay.
#[derive(Debug)]
pub enum SendData<D> {
    /// The caller's buffer, as its body produced it.
    Body(D),
    /// Bytes kept for a replay.
    Kept(Bytes),
}

impl<D: Buf> Buf for SendData<D> {
    fn remaining(&self) -> usize {
        match self {
            Self::Body(data) => data.remaining(),
            Self::Kept(bytes) => bytes.remaining(),
        }
    }

    fn chunk(&self) -> &[u8] {
        match self {
            Self::Body(data) => data.chunk(),
            Self::Kept(bytes) => bytes.chunk(),
        }
    }

    fn advance(&mut self, count: usize) {
        match self {
            Self::Body(data) => data.advance(count),
            Self::Kept(bytes) => bytes.advance(count),
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        match self {
            Self::Body(data) => data.chunks_vectored(dst),
            Self::Kept(bytes) => bytes.chunks_vectored(dst),
        }
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        match self {
            Self::Body(data) => data.copy_to_bytes(len),
            Self::Kept(bytes) => bytes.copy_to_bytes(len),
        }
    }
}

impl<B: Body> Body for SendBody<B> {
    type Data = SendData<B::Data>;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let body = match &mut this.source {
            Source::Empty => return Poll::Ready(None),
            Source::Kept => {
                let Some(bytes) = this.take_kept_frame() else {
                    this.mark_sent();
                    return Poll::Ready(None);
                };
                return Poll::Ready(Some(Ok(Frame::data(SendData::Kept(bytes)))));
            }
            Source::Caller(body) => body,
        };
        let frame = match body.as_mut().poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => {
                this.mark_sent();
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        let Some(state) = &this.state else {
            return Poll::Ready(Some(Ok(frame.map_data(SendData::Body))));
        };
        let mut kept = state.kept();
        let frame = match (&*kept, frame.into_data()) {
            (Kept::Off | Kept::Stream, Ok(data)) => Frame::data(SendData::Body(data)),
            (_, Ok(data)) if !data.has_remaining() => Frame::data(SendData::Body(data)),
            (Kept::Waiting, Ok(mut data)) => {
                let bytes = data.copy_to_bytes(data.remaining());
                *kept = Kept::One(bytes.clone());
                Frame::data(SendData::Kept(bytes))
            }
            (Kept::One(_), Ok(data)) => {
                *kept = Kept::Stream;
                Frame::data(SendData::Body(data))
            }
            (_, Err(frame)) => {
                if !matches!(*kept, Kept::Off) {
                    *kept = Kept::Stream;
                }
                frame.map_data(SendData::Body)
            }
        };
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        // hyper asks this after every frame and stops polling once it says so.
        let ended = match &self.source {
            Source::Empty => true,
            Source::Kept => self.kept_len().is_none(),
            Source::Caller(body) => body.is_end_stream(),
        };
        if ended {
            self.mark_sent();
        }
        ended
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Empty => SizeHint::with_exact(0),
            Source::Kept => SizeHint::with_exact(self.kept_len().map_or(0, |len| len as u64)),
            Source::Caller(body) => body.size_hint(),
        }
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

/// What a response body reads from: hyper's body, or an HTTP/3 stream (boxed: its stream and
/// connection handles would otherwise make every HTTP/1 and HTTP/2 body, and every future
/// that moves one, several times larger).
enum Received {
    Hyper(Incoming),
    #[cfg(feature = "http3")]
    Http3(Box<super::http3::RecvBody>),
}

impl Received {
    fn is_end_stream(&self) -> bool {
        match self {
            Self::Hyper(body) => body.is_end_stream(),
            #[cfg(feature = "http3")]
            Self::Http3(body) => body.is_end_stream(),
        }
    }
}

/// The response body: hyper's body or an HTTP/3 stream's, plus the HTTP/1 connection that
/// returns to the pool when the body has been read to its end. A body dropped earlier
/// closes its connection (HTTP/1) or its stream (HTTP/2, HTTP/3).
///
/// Its errors are hyper's (HTTP/1, HTTP/2) or h3's `StreamError` (HTTP/3), boxed.
pub struct ResponseBody<B: Send + 'static> {
    inner: Received,
    release: Option<Release<B>>,
    /// The place under the per-target cap of an HTTP/2 or HTTP/3 connection the pool does
    /// not keep: the connection lasts as long as this response.
    _slot: Option<Slot<SendBody<B>>>,
}

impl<B: Send + 'static> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("ResponseBody");
        match &self.inner {
            Received::Hyper(body) => debug.field("inner", body),
            #[cfg(feature = "http3")]
            Received::Http3(body) => debug.field("inner", body),
        };
        debug.finish_non_exhaustive()
    }
}

impl<B: Send + 'static> ResponseBody<B> {
    pub(crate) fn new(
        inner: Incoming,
        release: Option<Release<B>>,
        slot: Option<Slot<SendBody<B>>>,
    ) -> Self {
        let mut body = Self {
            inner: Received::Hyper(inner),
            release,
            _slot: slot,
        };
        if body.inner.is_end_stream() {
            body.finish();
        }
        body
    }

    /// The body of an HTTP/3 response, holding `slot` as long as it lives.
    #[cfg(feature = "http3")]
    pub(crate) fn http3(
        inner: Box<super::http3::RecvBody>,
        slot: Option<Slot<SendBody<B>>>,
    ) -> Self {
        Self {
            inner: Received::Http3(inner),
            release: None,
            _slot: slot,
        }
    }

    fn finish(&mut self) {
        if let Some(release) = self.release.take() {
            release.release();
        }
    }
}

impl<B: Send + 'static> Body for ResponseBody<B> {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = match &mut this.inner {
            Received::Hyper(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|frame| frame.map_err(Into::into))),
            #[cfg(feature = "http3")]
            Received::Http3(body) => body.poll_frame(cx),
        };
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
        match &self.inner {
            Received::Hyper(body) => body.size_hint(),
            #[cfg(feature = "http3")]
            Received::Http3(_) => SizeHint::default(),
        }
    }
}

impl<B: Send + 'static> Drop for ResponseBody<B> {
    fn drop(&mut self) {
        if self.inner.is_end_stream() {
            self.finish();
        }
    }
}
