//! Request and response bodies of the facade.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::TryStream;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

use crate::error::BoxError;

/// A request body: bytes in memory, or a stream of frames.
///
/// Bytes in memory can be sent again (after a stale connection, and by layers that replay
/// requests) at no cost; a stream is read once.
pub struct Body {
    inner: Inner,
}

enum Inner {
    Full(Option<Bytes>),
    Stream(UnsyncBoxBody<Bytes, BoxError>),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Self {
            inner: Inner::Full(None),
        }
    }

    /// Wraps any `http_body::Body` as a streaming body.
    pub fn wrap<B>(body: B) -> Self
    where
        B: http_body::Body + Send + 'static,
        B::Data: Into<Bytes>,
        B::Error: Into<BoxError>,
    {
        Self {
            inner: Inner::Stream(
                body.map_frame(|frame| frame.map_data(Into::into))
                    .map_err(Into::into)
                    .boxed_unsync(),
            ),
        }
    }

    /// Streams the body from a `Stream` of byte chunks (anything `Into<Bytes>`: `Bytes`,
    /// `Vec<u8>`, `String`, …), as reqwest's `Body::wrap_stream`. An error from the stream
    /// fails the request. Such a body is read once: redirects and retries that must send it
    /// again replay it up to their cap (see [`towline_layers::resend`]).
    pub fn wrap_stream<S>(stream: S) -> Self
    where
        S: TryStream + Send + 'static,
        S::Ok: Into<Bytes>,
        S::Error: Into<BoxError>,
    {
        Self::wrap(StreamBody { stream })
    }

    /// This body, reporting its upload progress to `report` (see [`crate::progress`]). The
    /// result is a stream: it is sent once, and not again after a redirect or for a retry.
    pub fn with_progress(
        self,
        report: impl Fn(crate::progress::Progress) + Send + Sync + 'static,
    ) -> Self {
        Self::wrap(crate::progress::ProgressBody::new(self, report))
    }

    /// The bytes, when the body is held in memory.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::Full(Some(bytes)) => Some(bytes),
            Inner::Full(None) => Some(&[]),
            Inner::Stream(_) => None,
        }
    }

    /// A copy of the body, when it is held in memory (a cheap reference-counted clone).
    pub fn try_clone(&self) -> Option<Self> {
        match &self.inner {
            Inner::Full(bytes) => Some(Self {
                inner: Inner::Full(bytes.clone()),
            }),
            Inner::Stream(_) => None,
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Full(bytes) => f
                .debug_struct("Body")
                .field("len", &bytes.as_ref().map_or(0, Bytes::len))
                .finish(),
            Inner::Stream(_) => f.write_str("Body(stream)"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Self {
            inner: Inner::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Bytes::from(text).into()
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Bytes::from_static(text.as_bytes()).into()
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Bytes::from_static(bytes).into()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.inner {
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Inner::Stream(stream) => Pin::new(stream).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Full(bytes) => bytes.is_none(),
            Inner::Stream(stream) => stream.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Inner::Stream(stream) => stream.size_hint(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A `TryStream` of chunks as an `http_body::Body`, for [`Body::wrap_stream`].
    struct StreamBody<S> {
        #[pin]
        stream: S,
    }
}

impl<S> http_body::Body for StreamBody<S>
where
    S: TryStream,
    S::Ok: Into<Bytes>,
    S::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.project().stream.try_poll_next(cx).map(|chunk| {
            chunk.map(|chunk| {
                chunk
                    .map(|data| Frame::data(data.into()))
                    .map_err(Into::into)
            })
        })
    }
}

/// The response body behind [`crate::Response`], as one type whatever the layers below.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;
