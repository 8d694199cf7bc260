//! HTTP/3 over a QUIC connection: the handshake, sending a request, the response body.
//!
//! A connection is an `h3` client over `h3-quinn`; its driver (h3's control stream: SETTINGS,
//! GOAWAY) runs on a task of its own, and every request opens a bidirectional stream on a
//! clone of its `SendRequest`, so one connection carries concurrent requests, pooled like an
//! HTTP/2 one. The connection counts as closed once its driver ended, quinn knows it closed
//! (idle timeout, the peer's CONNECTION_CLOSE, an error), or a request found that the server
//! had sent GOAWAY (h3 then refuses to open the stream, so nothing was sent); the pool drops it
//! at the next checkout.
//!
//! A request body is sent from a task of its own while the response is awaited, frame by
//! frame as the body yields them (trailers included), so neither body is buffered and a
//! server may answer before the upload ends. The response body reads the stream's DATA
//! frames as they come, then its trailers.
//!
//! 0-RTT: a connection made with early data (see `Http3Config::zero_rtt`) carries a record
//! of how the early data fared, settled by a task that waits for the handshake; a rejection
//! closes the connection for new requests, and the transport sends again what went in it.
//!
//! Refusals: a stream the server reset with H3_REQUEST_REJECTED, a GOAWAY received before
//! the stream was opened, and a connection closed gracefully (H3_NO_ERROR) while the
//! response was awaited — which a server does only for streams beyond its GOAWAY's id —
//! mean the request was not processed (RFC 9114 §4.1.1, §5.2), and the transport treats
//! them as it treats a refused HTTP/2 stream: an idempotent request with an empty or kept
//! body is sent again on a new connection, any other fails with
//! [`TransportErrorKind::Refused`](crate::TransportErrorKind::Refused), which a retry layer
//! may resend.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use h3::error::{Code, StreamError};
use http::{Request, Response, Version};
use http_body::{Body, Frame};

use super::body::SendBody;
use super::{BoxError, CloseReport};
use crate::connect::Connected;
use crate::connect::quic::{QuicConnection, is_tls_failure};
use crate::error::{ConnectError, ConnectErrorKind};
use crate::rt::Runtime;

type H3SendRequest = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;
type H3RecvStream = h3::client::RequestStream<h3_quinn::RecvStream, Bytes>;
type H3SendStream = h3::client::RequestStream<h3_quinn::SendStream<Bytes>, Bytes>;

/// A handle to a shared HTTP/3 connection.
#[derive(Clone)]
pub(crate) struct Http3Sender {
    send: H3SendRequest,
    connection: quinn::Connection,
    /// Set when the driver ended or a GOAWAY refused a stream.
    closed: Arc<AtomicBool>,
    /// For a connection made with 0-RTT: how its early data fared.
    early_data: Option<Arc<EarlyData>>,
}

impl Http3Sender {
    /// Whether new requests may go over this connection.
    pub(crate) fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Acquire) && self.connection.close_reason().is_none()
    }

    /// The connection's early data while its handshake is not done: a request sent now goes
    /// in 0-RTT.
    pub(crate) fn pending_early_data(&self) -> Option<Arc<EarlyData>> {
        self.early_data
            .as_ref()
            .filter(|early| early.outcome().is_none())
            .cloned()
    }
}

/// How a 0-RTT connection's early data fared: unknown until the handshake is done.
pub(crate) struct EarlyData {
    outcome: std::sync::Mutex<Outcome>,
}

enum Outcome {
    /// The handshake goes on; these wait for it.
    Pending(Vec<futures_channel::oneshot::Sender<()>>),
    Accepted,
    /// Rejected, or the connection ended before its handshake did.
    Rejected,
}

impl EarlyData {
    fn pending() -> Self {
        Self {
            outcome: std::sync::Mutex::new(Outcome::Pending(Vec::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Outcome> {
        // Every update replaces the whole value: nothing half-done for a panic to leave.
        self.outcome.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Some(accepted)` once the handshake is done.
    fn outcome(&self) -> Option<bool> {
        match &*self.lock() {
            Outcome::Pending(_) => None,
            Outcome::Accepted => Some(true),
            Outcome::Rejected => Some(false),
        }
    }

    /// Waits for the handshake; whether the server accepted the early data.
    pub(crate) async fn accepted(&self) -> bool {
        loop {
            let done = {
                let mut outcome = self.lock();
                match &mut *outcome {
                    Outcome::Pending(waiters) => {
                        let (done, wait) = futures_channel::oneshot::channel();
                        waiters.push(done);
                        wait
                    }
                    Outcome::Accepted => return true,
                    Outcome::Rejected => return false,
                }
            };
            let _ = done.await;
        }
    }

    fn settle(&self, accepted: bool) {
        let settled = if accepted {
            Outcome::Accepted
        } else {
            Outcome::Rejected
        };
        // The waiters wake when their senders drop, with the outcome in place.
        drop(std::mem::replace(&mut *self.lock(), settled));
    }
}

/// Starts HTTP/3 on `quic`: h3's handshake (our SETTINGS), then its driver on `runtime`.
pub(crate) async fn handshake<R: Runtime>(
    quic: QuicConnection,
    max_field_section_size: Option<u64>,
    runtime: &R,
    close: Option<CloseReport>,
) -> Result<(Http3Sender, Connected), ConnectError> {
    let mut quic = quic;
    let early_accepted = quic.take_early_data();
    let (connection, connected) = quic.into_parts();
    let mut builder = h3::client::builder();
    if let Some(size) = max_field_section_size {
        builder.max_field_section_size(size);
    }
    let (mut driver, send) = builder
        .build(h3_quinn::Connection::new(connection.clone()))
        .await
        .map_err(|e| match connection.close_reason() {
            // The server rejected our certificate once our side of the handshake was done.
            Some(reason) if is_tls_failure(&reason) => {
                ConnectError::new(ConnectErrorKind::Tls, reason)
            }
            _ => ConnectError::new(ConnectErrorKind::Handshake, e),
        })?;
    let closed = Arc::new(AtomicBool::new(false));
    let early_data = early_accepted.map(|accepted| {
        let early = Arc::new(EarlyData::pending());
        let settled = early.clone();
        let rejected = closed.clone();
        runtime.spawn(Box::pin(async move {
            let accepted = accepted.await;
            if !accepted {
                // h3's control stream went in the rejected early data too: the server never
                // saw our SETTINGS, so the connection takes no more requests.
                rejected.store(true, Ordering::Release);
            }
            settled.settle(accepted);
        }));
        early
    });
    let ended = MarkClosed(closed.clone());
    runtime.spawn(Box::pin(async move {
        // Marks the connection closed however the task ends: the connection closing, or the
        // task dropped unfinished with the runtime that ran it.
        let _ended = ended;
        let _why = poll_fn(|cx| driver.poll_close(cx)).await;
        if let Some(close) = close {
            close.report();
        }
    }));
    Ok((
        Http3Sender {
            send,
            connection,
            closed,
            early_data,
        },
        connected,
    ))
}

/// Sets its flag when dropped.
struct MarkClosed(Arc<AtomicBool>);

impl Drop for MarkClosed {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Why an HTTP/3 request failed, in the terms the transport's replay logic asks about.
pub(crate) struct SendFailure {
    /// The server did not process the request (see the module docs), or it went in early
    /// data the server rejected.
    pub(crate) refused: bool,
    /// The connection ended under the request: the server may or may not have acted on it.
    pub(crate) closed: bool,
    pub(crate) error: BoxError,
}

impl SendFailure {
    /// `error` from a stream of `connection`. A connection the server closed for a TLS
    /// reason (it rejected our client certificate after our side of the handshake was done)
    /// never carried a request to its HTTP layer: that is a TLS connect error.
    fn new(error: StreamError, connection: &quinn::Connection) -> Self {
        match connection.close_reason() {
            Some(reason) if is_tls_failure(&reason) => Self {
                refused: false,
                closed: false,
                error: Box::new(ConnectError::new(ConnectErrorKind::Tls, reason)),
            },
            _ => Self::from_stream(error),
        }
    }

    fn from_stream(error: StreamError) -> Self {
        let (refused, closed) = match &error {
            StreamError::RemoteClosing { .. } => (true, false),
            StreamError::RemoteTerminate { code, .. } => {
                (*code == Code::H3_REQUEST_REJECTED, false)
            }
            StreamError::ConnectionError { 0: connection, .. } => {
                (connection.is_h3_no_error(), !connection.is_h3_no_error())
            }
            _ => (false, false),
        };
        Self {
            refused,
            closed,
            error: Box::new(error),
        }
    }
}

/// Adds the `Content-Length` of a body whose size is known, as hyper does over HTTP/1.1 and
/// HTTP/2: HTTP/3 does not need it, but a server or a proxy in front of an HTTP/1.1 origin
/// may (a proxy would otherwise forward the body chunked, which some origins do not read).
/// An empty body is declared only for methods whose requests carry content.
fn declare_length<B: Body>(parts: &mut http::request::Parts, body: &B) {
    if parts.headers.contains_key(http::header::CONTENT_LENGTH) {
        return;
    }
    let Some(len) = body.size_hint().exact() else {
        return;
    };
    let bodiless = matches!(
        parts.method,
        http::Method::GET | http::Method::HEAD | http::Method::DELETE | http::Method::CONNECT
    );
    if len > 0 || !bodiless {
        parts
            .headers
            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    }
}

/// Sends `request` on `sender`'s connection and waits for the response head.
pub(crate) async fn send<B, R>(
    sender: &mut Http3Sender,
    request: Request<SendBody<B>>,
    runtime: &R,
) -> Result<Response<RecvBody>, SendFailure>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    R: Runtime,
{
    let (mut parts, body) = request.into_parts();
    declare_length(&mut parts, &body);
    let stream = match sender
        .send
        .send_request(Request::from_parts(parts, ()))
        .await
    {
        Ok(stream) => stream,
        Err(error) => {
            if matches!(error, StreamError::RemoteClosing { .. }) {
                sender.closed.store(true, Ordering::Release);
            }
            return Err(SendFailure::new(error, &sender.connection));
        }
    };
    let failed = |error| SendFailure::new(error, &sender.connection);
    let (mut send_half, mut recv_half) = stream.split();
    if body.is_end_stream() {
        // Nothing to stream: end the request here rather than on a task.
        send_half.finish().await.map_err(failed)?;
    } else {
        runtime.spawn(Box::pin(send_body(send_half, body)));
    }
    let head = recv_half.recv_response().await.map_err(failed)?;
    let (mut parts, ()) = head.into_parts();
    parts.version = Version::HTTP_3;
    Ok(Response::from_parts(
        parts,
        RecvBody {
            stream: recv_half,
            state: RecvState::Data,
            _connection: sender.send.clone(),
        },
    ))
}

/// Streams `body` into `stream`, frame by frame, then ends it (after trailers, if any). A
/// body that fails resets the stream, so the server does not take a cut body for a whole.
async fn send_body<B>(mut stream: H3SendStream, body: SendBody<B>)
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    loop {
        // The body's error is not `Send` and says nothing the reset would carry.
        let frame = poll_fn(|cx| {
            body.as_mut()
                .poll_frame(cx)
                .map(|frame| frame.map(|frame| frame.map_err(drop)))
        })
        .await;
        let sent = match frame {
            None => {
                let _ = stream.finish().await;
                return;
            }
            Some(Err(_)) => {
                stream.stop_stream(Code::H3_REQUEST_CANCELLED);
                return;
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(mut data) => {
                    if !data.has_remaining() {
                        continue;
                    }
                    stream.send_data(data.copy_to_bytes(data.remaining())).await
                }
                Err(frame) => match frame.into_trailers() {
                    Ok(trailers) => match stream.send_trailers(trailers).await {
                        Ok(()) => {
                            let _ = stream.finish().await;
                            return;
                        }
                        Err(error) => Err(error),
                    },
                    // A frame of a kind HTTP/3 has no place for.
                    Err(_) => continue,
                },
            },
        };
        // The stream is gone (reset, stopped, or its connection closed): the response,
        // awaited on the other half, says why.
        if sent.is_err() {
            return;
        }
    }
}

enum RecvState {
    Data,
    Trailers,
    Done,
}

/// A response body read from an HTTP/3 stream: its DATA frames, then its trailers.
pub(crate) struct RecvBody {
    stream: H3RecvStream,
    state: RecvState,
    /// h3 closes a connection once its last `SendRequest` is gone: this one keeps it open
    /// while the body is read, after the client and its pool have been dropped.
    _connection: H3SendRequest,
}

impl RecvBody {
    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            match self.state {
                RecvState::Data => match self.stream.poll_recv_data(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(Some(mut data))) => {
                        let bytes = data.copy_to_bytes(data.remaining());
                        return Poll::Ready(Some(Ok(Frame::data(bytes))));
                    }
                    Poll::Ready(Ok(None)) => self.state = RecvState::Trailers,
                    Poll::Ready(Err(error)) => {
                        return Poll::Ready(Some(Err(fail(&mut self.state, error))));
                    }
                },
                RecvState::Trailers => match self.stream.poll_recv_trailers(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(trailers)) => {
                        self.state = RecvState::Done;
                        return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))));
                    }
                    Poll::Ready(Err(error)) => {
                        return Poll::Ready(Some(Err(fail(&mut self.state, error))));
                    }
                },
                RecvState::Done => return Poll::Ready(None),
            }
        }
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        matches!(self.state, RecvState::Done)
    }
}

fn fail(state: &mut RecvState, error: StreamError) -> BoxError {
    *state = RecvState::Done;
    Box::new(error)
}

impl std::fmt::Debug for RecvBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBody").finish_non_exhaustive()
    }
}
