//! A tonic client whose channel is towline's transport under towline's layers.
//!
//! tonic's generated clients are generic over any [`GrpcService`]: a `tower::Service` taking
//! `http::Request<tonic::body::Body>` and answering with an `http::Response` whose body yields
//! [`Bytes`]. towline's [`Transport`] is such a service, and so is any stack of towline layers
//! over it. [`channel`] builds one:
//!
//! ```text
//! TraceLayer          one span per call, open until the last message or the status
//! TimeoutLayer        a total deadline for the call, streamed replies included
//! RetryLayer          retries UNAVAILABLE (grpc_retry_decision) and unsent requests
//! TrailersOnlyLayer   puts the status of a call that failed before its first message into the head
//! Transport           h2c for http:// origins, h2 over TLS (ALPN) for https:// ones
//! ```
//!
//! tonic marks every request as HTTP/2, which the transport honours: over `http://` it speaks
//! HTTP/2 with prior knowledge (h2c), over `https://` it offers only `h2` in ALPN and fails
//! the connection if the server does not pick it. Calls to one origin share one HTTP/2
//! connection.
//!
//! The module also holds a small service written out by hand the way tonic's code generator
//! would emit it, with prost messages and no `.proto` compilation: [`EchoClient`],
//! [`EchoServer`] and the [`Echo`] trait a server implements.
//!
//! # Retrying gRPC calls
//!
//! HTTP status codes say almost nothing about a gRPC call: a server answers `200 OK` and
//! reports the outcome in `grpc-status`. The retry layer's [`RetryConfig::classify`] hook
//! sees only the response head, so a gRPC-aware classifier needs these pieces:
//!
//! - **The status can be in the trailers.** A call that fails before any processing is
//!   usually answered "trailers-only": a single `HEADERS` frame carrying `grpc-status` (what a
//!   tonic server sends when a unary handler returns an error). But a server may also send
//!   its response headers first and the status later, in the trailers, with no message in
//!   between: a tonic server does so when a stream handler's first item is an error.
//!   [`TrailersOnlyLayer`], placed below the retry layer, reads such a response up to its
//!   first message. A response whose body ends with trailers and no message is rewritten into
//!   the equivalent trailers-only response, the trailers moved into the head, so the
//!   classifier and tonic see the status there. As soon as a message arrives the response is
//!   passed on with that frame re-emitted first; nothing more is buffered.
//! - **The commit point.** A call may be retried only while nothing of it has reached the
//!   application; after that, a replay would show it replies twice. gRPC's own retry design
//!   ([gRFC A6]) commits a call when its response headers arrive. Here the commit point is
//!   the first message, a little later: the response is held below the retry layer until
//!   then, so the application has seen nothing of an attempt that ends without a message,
//!   headers included, and that attempt can be retried even though its status came in the
//!   trailers. Once a message has arrived the call is committed: an `UNAVAILABLE` in the
//!   trailers of a stream that already delivered replies ends the call with that status, and
//!   the retry layer never sees it. Holding the response also means a server-streaming call
//!   resolves when its first reply (or its status) arrives, not when the server's headers do.
//! - **Which codes.** [`grpc_retry_decision`] retries only `UNAVAILABLE` (14), the one code
//!   gRPC defines as "transient, try again", and refuses every other non-zero code even when
//!   the HTTP status alone would have been retried. gRPC is always `POST`, which the retry
//!   layer does not resend by default; the classifier's [`RetryDecision::Retry`] overrides
//!   that rule. Transport errors still go through the transport's classifier
//!   ([`retry_class`]): a request that never reached the server (a refused stream, no
//!   connection) is sent again, one that may have is not.
//! - **Pushback.** A full implementation of A6 would also honour the server's
//!   `grpc-retry-pushback-ms` trailer: a non-negative value is the wait before the next
//!   attempt ([`RetryDecision::RetryAfter`]), a negative or malformed one means "do not
//!   retry". That is what makes retrying `RESOURCE_EXHAUSTED` (8) safe: without pushback it
//!   is a rate limit that retries would only worsen, so it is not retried here. A6 also
//!   throttles retries per channel with a token bucket; the retry layer's
//!   [`RetryBudget`](towline::towline_layers::retry::RetryBudget) plays that part.
//! - **Deadlines.** The timeout layer enforces the call's deadline on the client, across
//!   every attempt and the whole response stream, and the retry layer does not wait for a
//!   retry past it. A call's own deadline, [`tonic::Request::set_timeout`], travels as
//!   `grpc-timeout` so that the server can give up too; the channel also reads that header
//!   and ends the call then if it is sooner than the channel's timeout. The header is
//!   written once, so a retried attempt tells the server the original budget rather than
//!   what remains of it: the server may work on past the client's deadline, never stop
//!   before it.
//! - **Replay.** A retry sends the request again, body included: the retry layer keeps the
//!   encoded request up to [`RetryConfig::max_replay_bytes`] (64 KiB by default) and does not
//!   retry a call whose request was larger. Client-streaming calls whose requests exceed it
//!   are sent once.
//!
//! [gRFC A6]: https://github.com/grpc/proposal/blob/master/A6-client-retries.md
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use futures_util::StreamExt;
//! use towline::towline_layers::retry::RetryConfig;
//! use towline::towline_services::connect::tls::TlsConfig;
//! use towline_integrations::grpc::{EchoClient, EchoRequest, channel};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let channel = channel(
//!     &TlsConfig::default(),
//!     Duration::from_secs(5),
//!     RetryConfig::new().max_retries(2),
//! )?;
//! let mut client = EchoClient::with_origin(channel, "http://127.0.0.1:50051".parse()?);
//!
//! let request = EchoRequest { message: "hello".into(), replies: 0 };
//! let reply = client.unary_echo(request).await?.into_inner();
//! println!("{}", reply.message);
//!
//! let request = EchoRequest { message: "count".into(), replies: 3 };
//! let mut replies = client.server_streaming_echo(request).await?.into_inner();
//! while let Some(reply) = replies.next().await {
//!     println!("{}", reply?.sequence);
//! }
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::Stream;
use http::header::CONTENT_TYPE;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tonic::client::GrpcService;
use tonic::server::{NamedService, ServerStreamingService, UnaryService};
use tonic::{Code, GrpcMethod, IntoRequest, Status, Streaming};
use tonic_prost::ProstCodec;
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceBuilder};
use towline::BoxError;
use towline::towline_layers::error::find_cause;
use towline::towline_layers::retry::{
    AttemptOutcome, RetryAttempt, RetryConfig, RetryDecision, RetryLayer,
};
use towline::towline_layers::time::SharedTimer;
use towline::towline_layers::timeout::{Elapsed, RequestTimeout, TimeoutLayer};
use towline::towline_layers::trace::TraceLayer;
use towline::towline_services::ConnectError;
use towline::towline_services::connect::tls::{TlsConfig, TlsConnector};
use towline::towline_services::connect::{HttpConnector, TcpConfig};
use towline::towline_services::retry_class;
use towline::towline_services::rt::tokio::{TokioRuntime, TokioTimer};
use towline::towline_services::transport::{Transport, TransportConfig};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The fully qualified name of the echo service.
pub const SERVICE_NAME: &str = "towline.examples.Echo";

const UNARY_ECHO: &str = "UnaryEcho";
const UNARY_ECHO_PATH: &str = "/towline.examples.Echo/UnaryEcho";
const SERVER_STREAMING_ECHO: &str = "ServerStreamingEcho";
const SERVER_STREAMING_ECHO_PATH: &str = "/towline.examples.Echo/ServerStreamingEcho";

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// The request of both echo methods.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoRequest {
    /// The text to echo.
    #[prost(string, tag = "1")]
    pub message: String,
    /// How many replies `ServerStreamingEcho` sends; `UnaryEcho` ignores it.
    #[prost(uint32, tag = "2")]
    pub replies: u32,
}

/// One reply of the echo methods.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoReply {
    /// The echoed text.
    #[prost(string, tag = "1")]
    pub message: String,
    /// The position of this reply in its call, from 0.
    #[prost(uint32, tag = "2")]
    pub sequence: u32,
}

/// A client of the echo service over any gRPC channel, as tonic's code generator would
/// write it.
#[derive(Clone, Debug)]
pub struct EchoClient<T> {
    inner: tonic::client::Grpc<T>,
}

impl<T> EchoClient<T>
where
    T: GrpcService<tonic::body::Body>,
    T::Error: Into<BoxError>,
    T::ResponseBody: Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as Body>::Error: Into<BoxError> + Send,
{
    /// A client calling the server at `origin` (scheme and authority, e.g.
    /// `http://127.0.0.1:50051`) through `channel`.
    pub fn with_origin(channel: T, origin: Uri) -> Self {
        Self {
            inner: tonic::client::Grpc::with_origin(channel, origin),
        }
    }

    /// Calls `UnaryEcho`: one request, one reply.
    ///
    /// # Errors
    ///
    /// The call's status when it is not `OK`; a channel error becomes `UNKNOWN`, or the
    /// status tonic derives from it.
    pub async fn unary_echo(
        &mut self,
        request: impl IntoRequest<EchoRequest>,
    ) -> Result<tonic::Response<EchoReply>, Status> {
        self.ready().await?;
        let mut request = request.into_request();
        request
            .extensions_mut()
            .insert(GrpcMethod::new(SERVICE_NAME, UNARY_ECHO));
        let path = PathAndQuery::from_static(UNARY_ECHO_PATH);
        self.inner.unary(request, path, ProstCodec::default()).await
    }

    /// Calls `ServerStreamingEcho`: one request, `replies` replies.
    ///
    /// # Errors
    ///
    /// The call's status when it fails before its first reply; later failures end the
    /// stream with an error item.
    pub async fn server_streaming_echo(
        &mut self,
        request: impl IntoRequest<EchoRequest>,
    ) -> Result<tonic::Response<Streaming<EchoReply>>, Status> {
        self.ready().await?;
        let mut request = request.into_request();
        request
            .extensions_mut()
            .insert(GrpcMethod::new(SERVICE_NAME, SERVER_STREAMING_ECHO));
        let path = PathAndQuery::from_static(SERVER_STREAMING_ECHO_PATH);
        self.inner
            .server_streaming(request, path, ProstCodec::default())
            .await
    }

    async fn ready(&mut self) -> Result<(), Status> {
        self.inner.ready().await.map_err(|error| {
            Status::unknown(format!("the channel was not ready: {}", error.into()))
        })
    }
}

/// What an echo server does; serve it with [`EchoServer`].
pub trait Echo: Send + Sync + 'static {
    /// The replies of [`server_streaming_echo`](Self::server_streaming_echo).
    type ReplyStream: Stream<Item = Result<EchoReply, Status>> + Send + 'static;

    /// Answers `UnaryEcho`.
    fn unary_echo(
        &self,
        request: tonic::Request<EchoRequest>,
    ) -> impl Future<Output = Result<tonic::Response<EchoReply>, Status>> + Send;

    /// Answers `ServerStreamingEcho`.
    fn server_streaming_echo(
        &self,
        request: tonic::Request<EchoRequest>,
    ) -> impl Future<Output = Result<tonic::Response<Self::ReplyStream>, Status>> + Send;
}

/// The echo service as a tonic server routes it: add it to a
/// `tonic::transport::Server` with `add_service`.
pub struct EchoServer<T> {
    echo: Arc<T>,
}

impl<T: Echo> EchoServer<T> {
    /// Serves `echo`.
    pub fn new(echo: T) -> Self {
        Self {
            echo: Arc::new(echo),
        }
    }
}

impl<T> Clone for EchoServer<T> {
    fn clone(&self) -> Self {
        Self {
            echo: Arc::clone(&self.echo),
        }
    }
}

impl<T> fmt::Debug for EchoServer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EchoServer").finish_non_exhaustive()
    }
}

impl<T> NamedService for EchoServer<T> {
    const NAME: &'static str = SERVICE_NAME;
}

impl<T, B> Service<Request<B>> for EchoServer<T>
where
    T: Echo,
    B: Body + Send + 'static,
    B::Error: Into<BoxError> + Send + 'static,
{
    type Response = Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let echo = Arc::clone(&self.echo);
        match request.uri().path() {
            UNARY_ECHO_PATH => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
                Ok(grpc.unary(UnaryEchoMethod(echo), request).await)
            }),
            SERVER_STREAMING_ECHO_PATH => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
                Ok(grpc
                    .server_streaming(ServerStreamingEchoMethod(echo), request)
                    .await)
            }),
            path => {
                let status = Status::unimplemented(format!("no method {path}"));
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

struct UnaryEchoMethod<T>(Arc<T>);

impl<T: Echo> UnaryService<EchoRequest> for UnaryEchoMethod<T> {
    type Response = EchoReply;
    type Future = BoxFuture<Result<tonic::Response<EchoReply>, Status>>;

    fn call(&mut self, request: tonic::Request<EchoRequest>) -> Self::Future {
        let echo = Arc::clone(&self.0);
        Box::pin(async move { echo.unary_echo(request).await })
    }
}

struct ServerStreamingEchoMethod<T>(Arc<T>);

impl<T: Echo> ServerStreamingService<EchoRequest> for ServerStreamingEchoMethod<T> {
    type Response = EchoReply;
    type ResponseStream = T::ReplyStream;
    type Future = BoxFuture<Result<tonic::Response<T::ReplyStream>, Status>>;

    fn call(&mut self, request: tonic::Request<EchoRequest>) -> Self::Future {
        let echo = Arc::clone(&self.0);
        Box::pin(async move { echo.server_streaming_echo(request).await })
    }
}

/// The response body of a [`Channel`].
pub type ChannelBody = UnsyncBoxBody<Bytes, Status>;

/// A gRPC channel made of towline's transport and layers, as [`channel`] builds it.
///
/// It fails with a [`Status`], in calls and in response bodies alike: `DEADLINE_EXCEEDED`
/// when the call's timeout passed, otherwise what tonic makes of the error
/// ([`Status::from_error`]). The towline error is the status' [`source`](std::error::Error::source).
pub type Channel = BoxCloneSyncService<Request<tonic::body::Body>, Response<ChannelBody>, Status>;

/// Builds a gRPC channel over towline's transport: tracing, a total `timeout` per call,
/// `retry` with [`grpc_retry_decision`] as its classifier (replacing any hook it had), and
/// [`TrailersOnlyLayer`] below it; see the [module documentation](self) for the order and
/// why.
///
/// A call with a shorter deadline of its own ([`tonic::Request::set_timeout`], sent as
/// `grpc-timeout`) ends at that deadline instead, as with tonic's own channel. A
/// [`RequestTimeout`] in a call's extensions (tonic hands them to the channel) replaces
/// `timeout` for that call.
///
/// The channel is not bound to an origin: each client names its own
/// ([`EchoClient::with_origin`]), and calls to the same origin share one HTTP/2
/// connection. `tls` says which roots `https://` origins are checked against.
///
/// # Errors
///
/// When `tls` cannot be turned into a rustls configuration (a bad identity, no TLS
/// version in its range).
pub fn channel(
    tls: &TlsConfig,
    timeout: Duration,
    retry: RetryConfig,
) -> Result<Channel, ConnectError> {
    let connector = TlsConnector::new(
        HttpConnector::new(TokioRuntime, TcpConfig::default()),
        tls.build()?,
    );
    let transport = Transport::new(connector, TokioRuntime, TransportConfig::default());
    let timer: SharedTimer = Arc::new(TokioTimer);
    let stack = ServiceBuilder::new()
        .map_err(status_from_error)
        .map_response(box_body)
        .map_request(move |request: Request<tonic::body::Body>| {
            deadline_from_grpc_timeout(request, timeout)
        })
        .layer(TraceLayer::new())
        .layer(TimeoutLayer::new(Arc::clone(&timer)).total(Some(timeout)))
        .layer(
            RetryLayer::new(retry.classify(grpc_retry_decision), timer)
                .error_classifier(retry_class),
        )
        .layer(TrailersOnlyLayer)
        .service(transport);
    Ok(BoxCloneSyncService::new(stack))
}

/// Gives a request carrying `grpc-timeout` a deadline no later than the header's, so that the
/// client gives up when the server is told to.
fn deadline_from_grpc_timeout<B>(mut request: Request<B>, timeout: Duration) -> Request<B> {
    if let Some(requested) = grpc_timeout(request.headers()) {
        let limit = request
            .extensions()
            .get::<RequestTimeout>()
            .map_or(timeout, |RequestTimeout(limit)| *limit);
        request
            .extensions_mut()
            .insert(RequestTimeout(limit.min(requested)));
    }
    request
}

/// Parses `grpc-timeout`: at most eight ASCII digits and a unit (`H`, `M`, `S`, `m`, `u`,
/// `n`), as gRPC over HTTP/2 defines it.
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(GRPC_TIMEOUT)?.as_bytes();
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let amount: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    match unit {
        b"H" => Some(Duration::from_secs(amount * 60 * 60)),
        b"M" => Some(Duration::from_secs(amount * 60)),
        b"S" => Some(Duration::from_secs(amount)),
        b"m" => Some(Duration::from_millis(amount)),
        b"u" => Some(Duration::from_micros(amount)),
        b"n" => Some(Duration::from_nanos(amount)),
        _ => None,
    }
}

fn box_body<B>(response: Response<B>) -> Response<ChannelBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    response.map(|body| {
        body.map_err(|error| status_from_error(error.into()))
            .boxed_unsync()
    })
}

/// The channel's error: `DEADLINE_EXCEEDED` for its timeout, tonic's reading of anything
/// else. A concrete type rather than a `BoxError` also keeps the futures of clients over the
/// channel `Send`: with a boxed error, the `Into<BoxError>` bounds tonic puts on channels
/// become higher-ranked inside those futures, which rustc cannot prove.
fn status_from_error(error: BoxError) -> Status {
    if find_cause::<Elapsed>(&*error).is_none() {
        return Status::from_error(error);
    }
    let mut status = Status::deadline_exceeded(error.to_string());
    status.set_source(Arc::from(error));
    status
}

/// The retry classifier for gRPC: `UNAVAILABLE` in the response head is retried, whatever
/// the method; any other non-`OK` status is not; everything else (`OK`, no status, errors)
/// is left to the retry layer's rules.
///
/// It reads `grpc-status` from the head only: place [`TrailersOnlyLayer`] below the retry
/// layer so that a status sent in the trailers of a response without messages is seen too.
pub fn grpc_retry_decision(attempt: &RetryAttempt<'_>) -> RetryDecision {
    let AttemptOutcome::Response { headers, .. } = attempt.outcome else {
        return RetryDecision::Default;
    };
    match headers
        .get(GRPC_STATUS)
        .map(|status| Code::from_bytes(status.as_bytes()))
    {
        None | Some(Code::Ok) => RetryDecision::Default,
        Some(Code::Unavailable) => RetryDecision::Retry,
        Some(_) => RetryDecision::DoNotRetry,
    }
}

/// Rewrites a gRPC response that ends without a message into the equivalent trailers-only
/// response, so that its `grpc-status` is in the head; see [`TrailersOnly`].
#[derive(Clone, Copy, Debug, Default)]
pub struct TrailersOnlyLayer;

impl<S> Layer<S> for TrailersOnlyLayer {
    type Service = TrailersOnly<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TrailersOnly { inner }
    }
}

/// The service of [`TrailersOnlyLayer`].
///
/// A gRPC response (`content-type: application/grpc…`) without `grpc-status` in its head
/// is read up to its first message before the response is returned. When the body ends with
/// trailers and no message, the trailers are moved into the head and the body is empty: the
/// trailers-only form of the same response. Otherwise the response is returned with the
/// frame read re-emitted first. Responses that carry their status in the head, and
/// non-gRPC responses, pass untouched. A body that fails before its first message fails the
/// call.
#[derive(Clone, Debug)]
pub struct TrailersOnly<S> {
    inner: S,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for TrailersOnly<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    ResB: Body<Data = Bytes> + Unpin + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Response = Response<PeekedBody<ResB>>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move { read_to_first_message(response.await.map_err(Into::into)?).await })
    }
}

async fn read_to_first_message<B>(
    response: Response<B>,
) -> Result<Response<PeekedBody<B>>, BoxError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let (mut parts, mut body) = response.into_parts();
    if !is_grpc(&parts.headers) || parts.headers.contains_key(GRPC_STATUS) {
        return Ok(Response::from_parts(parts, PeekedBody::new(None, body)));
    }
    while let Some(frame) = body.frame().await {
        match frame.map_err(Into::into)?.into_data() {
            Ok(data) if data.has_remaining() => {
                let first = Some(Frame::data(data));
                return Ok(Response::from_parts(parts, PeekedBody::new(first, body)));
            }
            Ok(_empty) => {}
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    parts.headers.extend(trailers);
                    break;
                }
            }
        }
    }
    Ok(Response::from_parts(parts, PeekedBody::ended(body)))
}

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .is_some_and(|content_type| content_type.as_bytes().starts_with(b"application/grpc"))
}

/// The response body of [`TrailersOnly`]: the inner body, after the frame read before the
/// response was returned, or nothing for a response rewritten into its trailers-only form.
pub struct PeekedBody<B> {
    first: Option<Frame<Bytes>>,
    rest: B,
    ended: bool,
}

impl<B> PeekedBody<B> {
    fn new(first: Option<Frame<Bytes>>, rest: B) -> Self {
        Self {
            first,
            rest,
            ended: false,
        }
    }

    fn ended(rest: B) -> Self {
        Self {
            first: None,
            rest,
            ended: true,
        }
    }
}

impl<B> fmt::Debug for PeekedBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeekedBody")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for PeekedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        Pin::new(&mut this.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.ended || (self.first.is_none() && self.rest.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.first, self.ended) {
            (_, true) => SizeHint::with_exact(0),
            (Some(_), false) => SizeHint::default(),
            (None, false) => self.rest.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &'static str) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert(GRPC_TIMEOUT, http::HeaderValue::from_static(value));
        grpc_timeout(&headers)
    }

    #[test]
    fn grpc_timeout_takes_every_unit() {
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse("4S"), Some(Duration::from_secs(4)));
        assert_eq!(parse("200m"), Some(Duration::from_millis(200)));
        assert_eq!(parse("99999999u"), Some(Duration::from_micros(99_999_999)));
        assert_eq!(parse("7n"), Some(Duration::from_nanos(7)));
    }

    #[test]
    fn grpc_timeout_refuses_what_the_grammar_does_not_allow() {
        for value in [
            "",
            "S",
            "100",
            "100x",
            "123456789S",
            "-1S",
            "+1S",
            "1.5S",
            " 1S",
        ] {
            assert_eq!(parse(value), None, "{value:?}");
        }
    }
}
