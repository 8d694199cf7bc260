//! A tonic client over towline's channel, against a tonic server in the same process: unary
//! and server-streaming calls over h2c and h2 over TLS, gRPC-aware retries of `UNAVAILABLE`
//! wherever the server puts the status, the commit point, deadlines, tracing and connection
//! sharing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use http::Version;
use tokio::net::TcpListener;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Code, Status};
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;
use towline::towline_layers::error::find_cause;
use towline::towline_layers::retry::{RetryConfig, RetryLayer};
use towline::towline_layers::timeout::{Elapsed, TimeoutKind};
use towline::towline_services::connect::tls::{Certificate, TlsConfig};
use towline::towline_services::connect::{HttpConnector, TcpConfig};
use towline::towline_services::rt::tokio::{TokioRuntime, TokioTimer};
use towline::towline_services::transport::{Transport, TransportConfig};
use towline_integrations::grpc::{
    Channel, Echo, EchoClient, EchoReply, EchoRequest, EchoServer, channel, grpc_retry_decision,
};
use towline_test_support::TestPki;

/// How a scripted call fails.
#[derive(Clone, Copy)]
enum Failure {
    /// The handler returns the status: a trailers-only response.
    InHead(Code),
    /// The reply stream's first item is the status: headers, then trailers, no message.
    InTrailers(Code),
    /// One reply, then the status in the trailers.
    AfterFirstReply(Code),
    /// One reply, then nothing, ever.
    StallAfterFirstReply,
}

/// An echo server whose first `failing_calls` calls fail as `failure` says (unary calls
/// only with `InHead`; the other failures are those of server streams), and whose unary
/// calls answer after `delay`.
struct Scripted {
    calls: Arc<AtomicUsize>,
    failing_calls: usize,
    failure: Failure,
    delay: Duration,
}

impl Scripted {
    fn healthy() -> Self {
        Self::failing(0, Failure::InHead(Code::Ok))
    }

    fn failing(failing_calls: usize, failure: Failure) -> Self {
        Self {
            calls: Arc::default(),
            failing_calls,
            failure,
            delay: Duration::ZERO,
        }
    }

    fn slow(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::healthy()
        }
    }

    /// The failure of this call, if it is one of the failing ones.
    fn next_call(&self) -> Option<Failure> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        (call < self.failing_calls).then_some(self.failure)
    }
}

/// A status with details and trailing metadata, to check they reach the client.
fn failed(code: Code) -> Status {
    let mut metadata = tonic::metadata::MetadataMap::new();
    metadata.insert("x-failure", "scripted".parse().unwrap());
    Status::with_details_and_metadata(
        code,
        "scripted failure",
        bytes::Bytes::from_static(b"details"),
        metadata,
    )
}

fn reply(message: &str, sequence: u32) -> EchoReply {
    EchoReply {
        message: message.to_owned(),
        sequence,
    }
}

type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

impl Echo for Scripted {
    type ReplyStream = ReplyStream;

    async fn unary_echo(
        &self,
        request: tonic::Request<EchoRequest>,
    ) -> Result<tonic::Response<EchoReply>, Status> {
        if let Some(Failure::InHead(code)) = self.next_call() {
            return Err(failed(code));
        }
        tokio::time::sleep(self.delay).await;
        Ok(tonic::Response::new(reply(
            &request.into_inner().message,
            0,
        )))
    }

    async fn server_streaming_echo(
        &self,
        request: tonic::Request<EchoRequest>,
    ) -> Result<tonic::Response<ReplyStream>, Status> {
        let request = request.into_inner();
        let items: Vec<Result<EchoReply, Status>> = match self.next_call() {
            Some(Failure::InHead(code)) => return Err(failed(code)),
            Some(Failure::InTrailers(code)) => vec![Err(failed(code))],
            Some(Failure::AfterFirstReply(code)) => {
                vec![Ok(reply(&request.message, 0)), Err(failed(code))]
            }
            Some(Failure::StallAfterFirstReply) => {
                let first = futures_util::stream::iter([Ok(reply(&request.message, 0))]);
                let stalled = first.chain(futures_util::stream::pending());
                return Ok(tonic::Response::new(Box::pin(stalled)));
            }
            None => (0..request.replies)
                .map(|sequence| Ok(reply(&request.message, sequence)))
                .collect(),
        };
        let replies = futures_util::stream::iter(items);
        Ok(tonic::Response::new(Box::pin(replies)))
    }
}

/// What the server saw of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    version: Version,
    tls: bool,
}

struct GrpcServer {
    addr: SocketAddr,
    calls: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    tls: bool,
}

impl GrpcServer {
    /// A tonic server on 127.0.0.1, speaking h2c, or h2 over TLS with `pki`'s certificate.
    async fn spawn(echo: Scripted, pki: Option<&TestPki>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let incoming = futures_util::stream::unfold(
            (listener, Arc::clone(&connections)),
            |(listener, connections)| async move {
                let accepted = listener.accept().await.map(|(stream, _)| stream);
                if accepted.is_ok() {
                    connections.fetch_add(1, Ordering::SeqCst);
                }
                Some((accepted, (listener, connections)))
            },
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = {
            let seen = Arc::clone(&seen);
            move |request: http::Request<tonic::body::Body>| {
                seen.lock().unwrap().push(Seen {
                    version: request.version(),
                    tls: request
                        .extensions()
                        .get::<TlsConnectInfo<TcpConnectInfo>>()
                        .is_some(),
                });
                request
            }
        };
        let builder = match pki {
            Some(pki) => {
                let (cert, key) = pki.server_identity_pem();
                install_crypto_provider();
                Server::builder()
                    .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
                    .unwrap()
            }
            None => Server::builder(),
        };
        let calls = Arc::clone(&echo.calls);
        let server = builder
            .layer(MapRequestLayer::new(record))
            .serve_with_incoming(EchoServer::new(echo), incoming);
        tokio::spawn(server);
        Self {
            addr,
            calls,
            connections,
            seen,
            tls: pki.is_some(),
        }
    }

    fn origin(&self) -> http::Uri {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr).parse().unwrap()
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// tonic's server TLS takes rustls' process-wide provider.
fn install_crypto_provider() {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}

/// Trusts only `pki`'s CA; without one, the default roots (an h2c channel never uses them).
fn trusting(pki: Option<&TestPki>) -> TlsConfig {
    match pki {
        Some(pki) => TlsConfig {
            webpki_roots: false,
            extra_roots: vec![Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap()],
            ..TlsConfig::default()
        },
        None => TlsConfig::default(),
    }
}

fn retries() -> RetryConfig {
    RetryConfig::new()
        .max_retries(3)
        .initial_backoff(Duration::ZERO)
}

fn client_with_timeout(
    server: &GrpcServer,
    pki: Option<&TestPki>,
    timeout: Duration,
) -> EchoClient<Channel> {
    let channel = channel(&trusting(pki), timeout, retries()).unwrap();
    EchoClient::with_origin(channel, server.origin())
}

fn client(server: &GrpcServer, pki: Option<&TestPki>) -> EchoClient<Channel> {
    client_with_timeout(server, pki, Duration::from_secs(30))
}

fn request(message: &str, replies: u32) -> EchoRequest {
    EchoRequest {
        message: message.to_owned(),
        replies,
    }
}

async fn collect(client: &mut EchoClient<Channel>, replies: u32) -> Vec<Result<EchoReply, Code>> {
    let stream = client
        .server_streaming_echo(request("stream", replies))
        .await
        .unwrap()
        .into_inner();
    stream
        .map(|item| item.map_err(|status| status.code()))
        .collect()
        .await
}

async fn unary_roundtrip(pki: Option<&TestPki>) {
    let server = GrpcServer::spawn(Scripted::healthy(), pki).await;
    let mut client = client(&server, pki);
    let reply = client
        .unary_echo(request("hello", 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply, self::reply("hello", 0));
    assert_eq!(
        server.seen(),
        [Seen {
            version: Version::HTTP_2,
            tls: pki.is_some(),
        }]
    );
}

#[tokio::test]
async fn a_unary_call_over_h2c() {
    unary_roundtrip(None).await;
}

#[tokio::test]
async fn a_unary_call_over_h2_with_tls() {
    // The transport fails an https connection whose ALPN did not choose h2, so a reply
    // here means the server selected it.
    unary_roundtrip(Some(&TestPki::generate())).await;
}

async fn streaming_roundtrip(pki: Option<&TestPki>) {
    let server = GrpcServer::spawn(Scripted::healthy(), pki).await;
    let mut client = client(&server, pki);
    let replies = collect(&mut client, 5).await;
    let expected: Vec<_> = (0..5)
        .map(|sequence| Ok(reply("stream", sequence)))
        .collect();
    assert_eq!(replies, expected);
    assert_eq!(
        server.seen(),
        [Seen {
            version: Version::HTTP_2,
            tls: pki.is_some(),
        }]
    );
}

#[tokio::test]
async fn a_server_stream_arrives_in_order_over_h2c() {
    streaming_roundtrip(None).await;
}

#[tokio::test]
async fn a_server_stream_arrives_in_order_over_h2_with_tls() {
    streaming_roundtrip(Some(&TestPki::generate())).await;
}

#[tokio::test]
async fn unavailable_in_a_trailers_only_response_is_retried() {
    let server = GrpcServer::spawn(
        Scripted::failing(2, Failure::InHead(Code::Unavailable)),
        None,
    )
    .await;
    let mut client = client(&server, None);
    let reply = client
        .unary_echo(request("again", 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.message, "again");
    assert_eq!(server.calls(), 3, "two failures, then the answer");
}

#[tokio::test]
async fn unavailable_in_the_trailers_is_retried() {
    let server = GrpcServer::spawn(
        Scripted::failing(1, Failure::InTrailers(Code::Unavailable)),
        None,
    )
    .await;
    let mut client = client(&server, None);
    let replies = collect(&mut client, 2).await;
    assert_eq!(replies, [Ok(reply("stream", 0)), Ok(reply("stream", 1))]);
    assert_eq!(server.calls(), 2);
}

#[tokio::test]
async fn a_classifier_reading_only_the_head_misses_the_status_in_the_trailers() {
    // The same server and classifier without TrailersOnlyLayer: the status reaches the
    // application as the stream's first item, and the call is not retried. This is what
    // the layer is for.
    let server = GrpcServer::spawn(
        Scripted::failing(1, Failure::InTrailers(Code::Unavailable)),
        None,
    )
    .await;
    let transport = Transport::new(
        HttpConnector::new(TokioRuntime, TcpConfig::default()),
        TokioRuntime,
        TransportConfig::default(),
    );
    let head_only = ServiceBuilder::new()
        .layer(RetryLayer::new(
            retries().classify(grpc_retry_decision),
            Arc::new(TokioTimer),
        ))
        .service(transport);
    let mut client = EchoClient::with_origin(head_only, server.origin());
    let mut stream = client
        .server_streaming_echo(request("stream", 2))
        .await
        .unwrap()
        .into_inner();
    let first = stream.next().await.unwrap().unwrap_err();
    assert_eq!(first.code(), Code::Unavailable);
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn invalid_argument_is_not_retried() {
    let server = GrpcServer::spawn(
        Scripted::failing(1, Failure::InHead(Code::InvalidArgument)),
        None,
    )
    .await;
    let mut client = client(&server, None);
    let status = client.unary_echo(request("bad", 0)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn invalid_argument_in_the_trailers_is_not_retried() {
    let server = GrpcServer::spawn(
        Scripted::failing(1, Failure::InTrailers(Code::InvalidArgument)),
        None,
    )
    .await;
    let mut client = client(&server, None);
    let status = client
        .server_streaming_echo(request("bad", 2))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    // The whole trailer section moved into the head: message, details and metadata.
    assert_eq!(status.message(), "scripted failure");
    assert_eq!(status.details(), b"details");
    assert_eq!(status.metadata().get("x-failure").unwrap(), "scripted");
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn unavailable_after_a_reply_is_not_retried() {
    let server = GrpcServer::spawn(
        Scripted::failing(1, Failure::AfterFirstReply(Code::Unavailable)),
        None,
    )
    .await;
    let mut client = client(&server, None);
    let replies = collect(&mut client, 2).await;
    assert_eq!(replies, [Ok(reply("stream", 0)), Err(Code::Unavailable)]);
    assert_eq!(server.calls(), 1, "the first reply committed the call");
}

#[tokio::test]
async fn a_call_past_its_deadline_fails_with_deadline_exceeded() {
    let server = GrpcServer::spawn(Scripted::slow(Duration::from_secs(60)), None).await;
    let mut client = client_with_timeout(&server, None, Duration::from_millis(200));
    let status = client.unary_echo(request("late", 0)).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let elapsed = find_cause::<Elapsed>(&status).unwrap_or_else(|| panic!("{status:?}"));
    assert_eq!(elapsed.kind(), TimeoutKind::Total);
}

#[tokio::test]
async fn a_calls_own_shorter_timeout_ends_it() {
    // A server that never answers and, unlike tonic's, ignores `grpc-timeout`: only the
    // client can end the call.
    let silent = towline_test_support::TestServer::builder()
        .h2c()
        .handler(|_request: http::Request<bytes::Bytes>| {
            std::future::pending::<http::Response<towline_test_support::BoxBody>>()
        })
        .build();
    let channel = channel(&trusting(None), Duration::from_secs(60), retries()).unwrap();
    let origin = format!("http://{}", silent.addr()).parse().unwrap();
    let mut client = EchoClient::with_origin(channel, origin);
    let mut call = tonic::Request::new(request("late", 0));
    call.set_timeout(Duration::from_millis(200));
    let status = client.unary_echo(call).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let elapsed = find_cause::<Elapsed>(&status).unwrap_or_else(|| panic!("{status:?}"));
    assert_eq!(
        elapsed.duration(),
        Duration::from_millis(200),
        "the call's own deadline"
    );
}

#[tokio::test]
async fn the_deadline_covers_the_whole_server_stream() {
    let server = GrpcServer::spawn(Scripted::failing(1, Failure::StallAfterFirstReply), None).await;
    let mut client = client_with_timeout(&server, None, Duration::from_millis(200));
    let mut stream = client
        .server_streaming_echo(request("stream", 2))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.next().await.unwrap().unwrap(), reply("stream", 0));
    let status = stream.next().await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}

#[tokio::test]
async fn concurrent_calls_share_one_connection() {
    for pki in [None, Some(TestPki::generate())] {
        let server = GrpcServer::spawn(Scripted::healthy(), pki.as_ref()).await;
        let client = client(&server, pki.as_ref());
        let calls: Vec<_> = (0..8)
            .map(|n| {
                let mut client = client.clone();
                tokio::spawn(async move { client.unary_echo(request(&n.to_string(), 0)).await })
            })
            .collect();
        for (n, call) in calls.into_iter().enumerate() {
            let reply = call.await.unwrap().unwrap().into_inner();
            assert_eq!(reply.message, n.to_string());
        }
        assert_eq!(server.calls(), 8);
        assert_eq!(server.connections(), 1);
    }
}

/// Counts the spans opened on this thread by name.
#[derive(Default)]
struct SpanNames {
    names: Mutex<Vec<&'static str>>,
    next_id: AtomicU64,
}

impl SpanNames {
    fn count(&self, name: &str) -> usize {
        self.names
            .lock()
            .unwrap()
            .iter()
            .filter(|seen| **seen == name)
            .count()
    }
}

impl tracing::Subscriber for SpanNames {
    fn enabled(&self, _metadata: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        self.names.lock().unwrap().push(span.metadata().name());
        tracing::span::Id::from_u64(self.next_id.fetch_add(1, Ordering::SeqCst) + 1)
    }

    fn record(&self, _span: &tracing::span::Id, _values: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _span: &tracing::span::Id, _follows: &tracing::span::Id) {}

    fn event(&self, _event: &tracing::Event<'_>) {}

    fn enter(&self, _span: &tracing::span::Id) {}

    fn exit(&self, _span: &tracing::span::Id) {}
}

#[tokio::test]
async fn a_retried_call_is_one_traced_request() {
    // The test runtime runs on this thread, so the thread's default subscriber sees every
    // span the channel opens.
    let spans = Arc::new(SpanNames::default());
    let _default = tracing::subscriber::set_default(Arc::clone(&spans));
    let server = GrpcServer::spawn(
        Scripted::failing(1, Failure::InHead(Code::Unavailable)),
        None,
    )
    .await;
    let mut client = client(&server, None);
    client.unary_echo(request("traced", 0)).await.unwrap();
    assert_eq!(server.calls(), 2);
    assert_eq!(spans.count("HTTP request"), 1);
}
