//! [`RedirectBody`], the request body the [`Redirect`](super::Redirect) service sends.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::{BoxError, replay::ReplayBody};

pin_project! {
    /// The request body of every request the [`Redirect`](super::Redirect) service sends
    /// to its inner service.
    ///
    /// It is the caller's body, sent as it is when no redirect can need it again; or the
    /// caller's body wrapped in a [`ReplayBody`], so that a 301, 302, 307 or 308 can send it
    /// again; or empty, for a redirect that drops the body (or when the original body was
    /// empty). Its data is [`Bytes`] and its error a [`BoxError`].
    pub struct RedirectBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Original { #[pin] body: B },
        Replay { body: ReplayBody<B> },
        Empty,
    }
}

/// An empty body (what layers that build requests of their own, such as the cache's
/// background revalidation, send).
impl<B> Default for RedirectBody<B> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<B> RedirectBody<B> {
    pub(super) fn original(body: B) -> Self {
        Self {
            kind: Kind::Original { body },
        }
    }

    pub(super) fn replay(body: ReplayBody<B>) -> Self {
        Self {
            kind: Kind::Replay { body },
        }
    }

    pub(super) fn empty() -> Self {
        Self { kind: Kind::Empty }
    }

    /// Whether this body is empty because a redirect dropped it (or the original was empty).
    pub fn is_empty(&self) -> bool {
        matches!(self.kind, Kind::Empty)
    }

    /// Whether this body replays the caller's body through a [`ReplayBody`].
    pub fn is_replay(&self) -> bool {
        matches!(self.kind, Kind::Replay { .. })
    }
}

impl<B> Body for RedirectBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Original { body } => Poll::Ready(match ready!(body.poll_frame(cx)) {
                Some(Ok(frame)) => Some(Ok(
                    frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
                )),
                Some(Err(err)) => Some(Err(err.into())),
                None => None,
            }),
            KindProj::Replay { body } => Pin::new(body).poll_frame(cx),
            KindProj::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Original { body } => body.is_end_stream(),
            Kind::Replay { body } => body.is_end_stream(),
            Kind::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Original { body } => body.size_hint(),
            Kind::Replay { body } => body.size_hint(),
            Kind::Empty => SizeHint::with_exact(0),
        }
    }
}

impl<B> fmt::Debug for RedirectBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Original { .. } => f.write_str("RedirectBody::Original"),
            Kind::Replay { body } => f.debug_tuple("RedirectBody::Replay").field(body).finish(),
            Kind::Empty => f.write_str("RedirectBody::Empty"),
        }
    }
}
