//! Response bodies for handlers: boxed, fixed and test-driven streams.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};
use tokio::sync::mpsc;

/// The error type carried by [`BoxBody`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every response a [`TestServer`](crate::TestServer) handler returns.
pub type BoxBody = UnsyncBoxBody<Bytes, BoxError>;

/// A body holding `data` in one frame; its exact size is known, so HTTP/1
/// responses carry `Content-Length`.
pub fn full(data: impl Into<Bytes>) -> BoxBody {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> BoxBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// Boxes any body whose data is [`Bytes`].
pub fn boxed<B>(body: B) -> BoxBody
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// A response with `status` and a [`full`] body.
///
/// # Panics
///
/// If `status` is not in `100..=999`.
pub fn response(status: u16, body: impl Into<Bytes>) -> Response<BoxBody> {
    let mut res = Response::new(full(body));
    *res.status_mut() = StatusCode::from_u16(status).expect("status code out of range");
    res
}

/// A body that the test writes to while it is being sent: frames pushed into the
/// [`BodySender`] go out in order, and the body ends when the sender is dropped.
///
/// Its size is unknown, so HTTP/1 responses using it are chunked. The channel
/// buffers 16 frames, so a handler may queue a few before returning the response.
pub fn body_channel() -> (BodySender, BoxBody) {
    let (tx, rx) = mpsc::channel(16);
    (BodySender { tx }, ChannelBody { rx }.boxed_unsync())
}

/// The writing end of a [`body_channel`].
#[derive(Clone, Debug)]
pub struct BodySender {
    tx: mpsc::Sender<Result<Frame<Bytes>, BoxError>>,
}

impl BodySender {
    /// Queues a data frame. Returns `false` when the body is gone (the peer
    /// reset the stream or the connection closed).
    pub async fn send_data(&self, data: impl Into<Bytes>) -> bool {
        self.tx.send(Ok(Frame::data(data.into()))).await.is_ok()
    }

    /// Queues trailers, which end the body. Returns `false` when the body is gone.
    ///
    /// hyper's HTTP/1 server only writes trailers when the request carried
    /// `TE: trailers`; otherwise they are dropped silently.
    pub async fn send_trailers(self, trailers: HeaderMap) -> bool {
        self.tx.send(Ok(Frame::trailers(trailers))).await.is_ok()
    }

    /// Fails the body: hyper then aborts the response (closing an HTTP/1
    /// connection, resetting an HTTP/2 stream), so the client sees a truncated body.
    pub async fn abort(self) -> bool {
        let error: BoxError = "body aborted by the test".into();
        self.tx.send(Err(error)).await.is_ok()
    }
}

struct ChannelBody {
    rx: mpsc::Receiver<Result<Frame<Bytes>, BoxError>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx)
    }
}
