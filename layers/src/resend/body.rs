//! [`ResendBody`], what a re-sending layer sends its inner service.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

#[cfg(any(feature = "digest-auth", feature = "netrc"))]
use super::Kept;
#[cfg(any(feature = "digest-auth", feature = "netrc"))]
use crate::replay::{ReplayError, len_u64};
use crate::{
    BoxError,
    replay::{FromReplay, ReplayBody},
};

pin_project! {
    /// The request body a re-sending layer (redirect, retry) hands its inner service: the
    /// body it received as it is, when it will never need it again or a layer above already
    /// records it; that body wrapped in a [`ReplayBody`], so that a later attempt can send it
    /// again; or empty (the body was empty, or a redirect dropped it). Its data is [`Bytes`]
    /// and its error a [`BoxError`].
    ///
    /// See the [module documentation](super) for when each applies.
    pub struct ResendBody<B> {
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
impl<B> Default for ResendBody<B> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<B> ResendBody<B> {
    pub(crate) fn original(body: B) -> Self {
        Self {
            kind: Kind::Original { body },
        }
    }

    pub(crate) fn replay(body: ReplayBody<B>) -> Self {
        Self {
            kind: Kind::Replay { body },
        }
    }

    pub(crate) fn empty() -> Self {
        Self { kind: Kind::Empty }
    }

    /// A body sent as it is: what a stack whose re-sending layers take `ResendBody` (the
    /// authentication layers) is handed by a caller that has a plain body.
    pub fn new(body: B) -> Self {
        Self::original(body)
    }

    /// Whether this body is empty because the caller's was, or because a redirect dropped
    /// it.
    pub fn is_empty(&self) -> bool {
        matches!(self.kind, Kind::Empty)
    }

    /// Whether this body replays the caller's body through a [`ReplayBody`].
    pub fn is_replay(&self) -> bool {
        matches!(self.kind, Kind::Replay { .. })
    }
}

#[cfg(any(feature = "digest-auth", feature = "netrc"))]
impl<B> ResendBody<B>
where
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// For a re-sending layer that hands its inner service the body type it receives (the
    /// authentication layers): this body, recording it when it is not recorded yet, and
    /// what later attempts send. A body a layer above already records (a retry's replay)
    /// is not recorded again, whatever this layer's `cap`.
    pub(crate) fn keep(self, cap: usize) -> (Self, Kept<B>) {
        if self.is_end_stream() {
            return (self, Kept::Empty);
        }
        match self.kind {
            Kind::Replay { body } => {
                let source = body.source();
                (Self::replay(body), Kept::Replay(source))
            }
            Kind::Original { body } if body.size_hint().lower() > len_u64(cap) => (
                Self::original(body),
                Kept::Unreplayable(ReplayError::CapExceeded { cap }),
            ),
            Kind::Original { body } => {
                let body = ReplayBody::new(body, cap);
                let source = body.source();
                (Self::replay(body), Kept::Replay(source))
            }
            Kind::Empty => (Self::empty(), Kept::Empty),
        }
    }
}

impl<B> FromReplay<B> for ResendBody<B> {
    fn from_replay(body: ReplayBody<B>) -> Self {
        Self::replay(body)
    }
}

impl<B> Body for ResendBody<B>
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

impl<B> fmt::Debug for ResendBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Original { .. } => f.write_str("ResendBody::Original"),
            Kind::Replay { body } => f.debug_tuple("ResendBody::Replay").field(body).finish(),
            Kind::Empty => f.write_str("ResendBody::Empty"),
        }
    }
}
