#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! The pool and the transport over a mock connector and a virtual clock: connections are
//! in-memory pipes (`tokio::io::duplex`) with a hyper server, or a hand-driven peer, on the
//! other end, and time moves only when a test advances it.
//!
//! The clock is `towline_layers::time::ManualTimer`, the one every layer is tested with,
//! rather than a second copy here: it implements `hyper::rt::Timer`, which is all the
//! transport asks of a timer. (This crate's tokio adapter is compiled in because
//! test-support, a dev-dependency, enables it.)

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::io;
use std::marker::PhantomPinned;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tower::{Service, ServiceExt};
use towline_layers::time::ManualTimer;
use towline_services::connect::{
    Connected, Connection, HttpConnector, Protocol, Target, TcpConfig,
};
use towline_services::pool::PoolConfig;
use towline_services::rt::tokio::TokioRuntime;
use towline_services::rt::{BoxFuture, Runtime, SharedTimer};
use towline_services::transport::{ResponseBody, Transport, TransportConfig};
use towline_services::{ConnectError, ConnectErrorKind, TransportError, TransportErrorKind};
use towline_test_support::{Counter, RawServer, TokioExecutor, TokioIo};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

// ---------------------------------------------------------------------------
// the runtime: tokio's tasks and sockets, the virtual clock
// ---------------------------------------------------------------------------

#[derive(Clone)]
struct ManualRuntime {
    timer: ManualTimer,
}

impl Runtime for ManualRuntime {
    type TcpStream = <TokioRuntime as Runtime>::TcpStream;

    fn connect(
        &self,
        socket: socket2::Socket,
        addr: SocketAddr,
    ) -> BoxFuture<'static, io::Result<(Self::TcpStream, Option<SocketAddr>)>> {
        TokioRuntime.connect(socket, addr)
    }

    type UnixStream = <TokioRuntime as Runtime>::UnixStream;

    fn connect_unix(
        &self,
        path: std::sync::Arc<std::path::Path>,
    ) -> BoxFuture<'static, io::Result<Self::UnixStream>> {
        TokioRuntime.connect_unix(path)
    }

    fn spawn_blocking<T, F>(&self, f: F) -> BoxFuture<'static, io::Result<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        TokioRuntime.spawn_blocking(f)
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        tokio::spawn(task);
    }

    fn timer(&self) -> SharedTimer {
        self.timer.shared()
    }
}

// ---------------------------------------------------------------------------
// the mock connector
// ---------------------------------------------------------------------------

/// What answers on the far end of each connection.
#[derive(Clone)]
enum Peer {
    /// A hyper HTTP/1.1 server.
    Http1,
    /// A hyper HTTP/2 server.
    Http2,
    /// The test itself: each connection's far end is handed over through the channel.
    Manual(mpsc::UnboundedSender<DuplexStream>),
}

#[derive(Clone)]
struct MockConnector {
    peer: Peer,
    /// Reported as the ALPN result.
    alpn_h2: bool,
    connects: Counter,
    /// The paths the servers were asked for, in order, each with its connection number.
    log: Arc<Mutex<Vec<(usize, String)>>>,
}

impl MockConnector {
    fn new(peer: Peer) -> Self {
        Self {
            peer,
            alpn_h2: false,
            connects: Counter::new(),
            log: Arc::default(),
        }
    }

    fn paths(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(_, p)| p.clone())
            .collect()
    }
}

struct MemIo {
    io: TokioIo<DuplexStream>,
    connected: Connected,
}

impl Connection for MemIo {
    fn connected(&self) -> Connected {
        self.connected.clone()
    }
}

impl hyper::rt::Read for MemIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for MemIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Answers `path body-length`, after reading the whole request body.
async fn answer(
    request: Request<hyper::body::Incoming>,
    conn: usize,
    log: Arc<Mutex<Vec<(usize, String)>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    log.lock().unwrap().push((conn, path.clone()));
    let body = request.into_body().collect().await.map(|b| b.to_bytes());
    let length = body.map_or(0, |b| b.len());
    Ok(Response::new(Full::new(Bytes::from(format!(
        "{path} {length}"
    )))))
}

impl Service<Target> for MockConnector {
    type Response = MemIo;
    type Error = io::Error;
    type Future = std::future::Ready<io::Result<MemIo>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _target: Target) -> Self::Future {
        let conn = self.connects.incr();
        let (client, server) = tokio::io::duplex(64 * 1024);
        let log = self.log.clone();
        let service = hyper::service::service_fn(move |request| answer(request, conn, log.clone()));
        match &self.peer {
            Peer::Http1 => {
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(server), service),
                );
            }
            Peer::Http2 => {
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor)
                        .serve_connection(TokioIo::new(server), service),
                );
            }
            Peer::Manual(accepted) => {
                let _ = accepted.send(server);
            }
        }
        std::future::ready(Ok(MemIo {
            io: TokioIo::new(client),
            connected: Connected::default().with_alpn_h2(self.alpn_h2),
        }))
    }
}

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

type TestTransport<B> = Transport<MockConnector, B, ManualRuntime>;

fn transport<B: Send + 'static>(
    connector: &MockConnector,
    timer: &ManualTimer,
    config: TransportConfig,
) -> TestTransport<B> {
    Transport::new(
        connector.clone(),
        ManualRuntime {
            timer: timer.clone(),
        },
        config,
    )
}

fn get(uri: &str) -> Request<Empty<Bytes>> {
    Request::get(uri).body(Empty::new()).unwrap()
}

async fn text<B: Send + 'static>(response: Response<ResponseBody<B>>) -> String {
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// Sends `request` and reads the whole answer.
async fn fetch<S, B>(mut svc: S, request: Request<B>) -> Result<String, BoxError>
where
    S: Service<Request<B>, Response = Response<ResponseBody<B>>, Error = BoxError>,
    B: Send + 'static,
{
    let response = svc.ready().await?.call(request).await?;
    Ok(text(response).await)
}

/// Polls `future` once.
async fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    let mut future = Some(future);
    poll_fn(|cx| {
        Poll::Ready(
            future
                .as_mut()
                .map_or(Poll::Pending, |f| f.as_mut().poll(cx)),
        )
    })
    .await
}

/// Polls `future` once; it must be waiting.
async fn assert_pending<F: Future>(future: Pin<&mut F>) {
    assert!(
        poll_once(future).await.is_pending(),
        "the request should be waiting"
    );
}

fn transport_error(error: &BoxError) -> TransportErrorKind {
    error
        .downcast_ref::<TransportError>()
        .unwrap_or_else(|| panic!("not a transport error: {error:?}"))
        .kind()
}

/// Reads one request head from a hand-driven peer.
async fn read_head(io: &mut DuplexStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            io.read(&mut byte).await.unwrap(),
            1,
            "EOF inside a request head"
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

// ---------------------------------------------------------------------------
// per-target connection cap
// ---------------------------------------------------------------------------

fn capped(max: usize) -> TransportConfig {
    TransportConfig::default()
        .with_pool(PoolConfig::default().with_max_connections_per_host(NonZeroUsize::new(max)))
}

#[tokio::test]
async fn capped_requests_queue_for_one_connection_first_come_first_served() {
    let timer = ManualTimer::new();
    let connector = MockConnector::new(Peer::Http1);
    let svc = transport(&connector, &timer, capped(1));

    let first = svc.clone().oneshot(get("http://a.test/a")).await.unwrap();
    // The first response holds the only connection until its body has been read.
    let mut b = pin!(fetch(svc.clone(), get("http://a.test/b")));
    assert_pending(b.as_mut()).await;
    let mut c = pin!(fetch(svc.clone(), get("http://a.test/c")));
    assert_pending(c.as_mut()).await;
    let mut d = pin!(fetch(svc.clone(), get("http://a.test/d")));
    assert_pending(d.as_mut()).await;
    assert_eq!(connector.connects.get(), 1);
    assert_eq!(connector.paths(), ["/a"]);

    assert_eq!(text(first).await, "/a 0");
    // Polled last first: the order comes from the queue, not from who asks again first.
    let (d, c, b) = tokio::join!(d, c, b);
    assert_eq!(
        (b.unwrap(), c.unwrap(), d.unwrap()),
        ("/b 0".into(), "/c 0".into(), "/d 0".into())
    );
    assert_eq!(connector.paths(), ["/a", "/b", "/c", "/d"]);
    assert_eq!(connector.connects.get(), 1, "one connection, used in turn");
}

#[tokio::test]
async fn a_capped_request_times_out_waiting_with_the_pool_timeout() {
    let timer = ManualTimer::new();
    let connector = MockConnector::new(Peer::Http1);
    let config = capped(1).with_pool_acquire_timeout(Duration::from_secs(5));
    let svc = transport(&connector, &timer, config);

    let first = svc.clone().oneshot(get("http://a.test/a")).await.unwrap();
    let mut second = pin!(fetch(svc.clone(), get("http://a.test/b")));
    assert_pending(second.as_mut()).await;
    timer.advance(Duration::from_secs(5));
    let error = second
        .await
        .expect_err("the only connection is still taken");
    assert_eq!(transport_error(&error), TransportErrorKind::PoolTimeout);
    assert_eq!(connector.connects.get(), 1);

    // The waiter that gave up does not keep the connection from the next request.
    assert_eq!(text(first).await, "/a 0");
    assert_eq!(
        fetch(svc.clone(), get("http://a.test/c")).await.unwrap(),
        "/c 0"
    );
    assert_eq!(connector.connects.get(), 1);
}

#[tokio::test]
async fn a_closed_connection_frees_its_place_for_a_waiting_request() {
    let timer = ManualTimer::new();
    let connector = MockConnector::new(Peer::Http1);
    let svc = transport(&connector, &timer, capped(1));

    let first = svc.clone().oneshot(get("http://a.test/a")).await.unwrap();
    let mut second = pin!(fetch(svc.clone(), get("http://a.test/b")));
    assert_pending(second.as_mut()).await;
    // A body dropped unread closes its connection.
    drop(first);
    assert_eq!(second.await.unwrap(), "/b 0");
    assert_eq!(connector.connects.get(), 2);
}

#[tokio::test]
async fn a_shared_http2_connection_counts_once() {
    let timer = ManualTimer::new();
    let connector = MockConnector::new(Peer::Http2);
    let svc = transport(&connector, &timer, capped(1).with_protocol(Protocol::Http2));

    let first = svc.clone().oneshot(get("http://a.test/a")).await.unwrap();
    let second = svc.clone().oneshot(get("http://a.test/b")).await.unwrap();
    assert_eq!(
        (text(first).await, text(second).await),
        ("/a 0".into(), "/b 0".into())
    );
    assert_eq!(connector.connects.get(), 1);
}

// ---------------------------------------------------------------------------
// the connect gate and ALPN
// ---------------------------------------------------------------------------

#[tokio::test]
async fn http2_requests_arriving_during_a_connect_share_it() {
    let timer = ManualTimer::new();
    let connector = MockConnector::new(Peer::Http2);
    let config = TransportConfig::default().with_protocol(Protocol::Http2);
    let svc = transport(&connector, &timer, config);

    let (a, b, c) = tokio::join!(
        fetch(svc.clone(), get("http://a.test/a")),
        fetch(svc.clone(), get("http://a.test/b")),
        fetch(svc.clone(), get("http://a.test/c")),
    );
    assert_eq!(
        (a.unwrap(), b.unwrap(), c.unwrap()),
        ("/a 0".into(), "/b 0".into(), "/c 0".into())
    );
    assert_eq!(
        connector.connects.get(),
        1,
        "one connect, shared by its waiters"
    );
}

#[tokio::test]
async fn when_alpn_picks_http1_the_waiters_connect_on_their_own() {
    let timer = ManualTimer::new();
    // An `https` target may turn out HTTP/2; this connector says ALPN chose HTTP/1.1.
    let connector = MockConnector::new(Peer::Http1);
    let svc = transport(&connector, &timer, TransportConfig::default());

    let (a, b) = tokio::join!(
        svc.clone().oneshot(get("https://a.test/a")),
        svc.clone().oneshot(get("https://a.test/b")),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (a.version(), b.version()),
        (Version::HTTP_11, Version::HTTP_11)
    );
    assert_eq!(
        connector.connects.get(),
        2,
        "the waiter made its own HTTP/1 connection"
    );
    assert_eq!(
        (text(a).await, text(b).await),
        ("/a 0".into(), "/b 0".into())
    );

    // Remembered as HTTP/1: the next request takes an idle connection.
    assert_eq!(
        fetch(svc.clone(), get("https://a.test/c")).await.unwrap(),
        "/c 0"
    );
    assert_eq!(connector.connects.get(), 2);
}

// ---------------------------------------------------------------------------
// the idle reaper
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_reaper_closes_connections_idle_past_the_timeout() {
    let timer = ManualTimer::new();
    let connector = MockConnector::new(Peer::Http1);
    let config = TransportConfig::default()
        .with_pool(PoolConfig::default().with_idle_timeout(Some(Duration::from_secs(10))));
    let svc = transport(&connector, &timer, config);
    let target = Target::from_uri(&"http://a.test/".parse().unwrap(), Protocol::Http1).unwrap();

    assert_eq!(
        fetch(svc.clone(), get("http://a.test/a")).await.unwrap(),
        "/a 0"
    );
    assert_eq!(svc.pool().idle_count(&target), 1);

    // The reaper wakes every half timeout: the first pass finds the connection young.
    timer.wait_for_sleeps(1).await;
    timer.advance(Duration::from_secs(5));
    timer.wait_for_sleeps(1).await;
    assert_eq!(svc.pool().idle_count(&target), 1);

    timer.advance(Duration::from_secs(5));
    // Let the woken reaper run (a few turns of this single-threaded runtime, not a wait).
    for _ in 0..16 {
        if svc.pool().idle_count(&target) == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(svc.pool().idle_count(&target), 0);
    assert_eq!(
        fetch(svc.clone(), get("http://a.test/b")).await.unwrap(),
        "/b 0"
    );
    assert_eq!(
        connector.connects.get(),
        2,
        "the expired connection was not reused"
    );
}

// ---------------------------------------------------------------------------
// replay on stale connections
// ---------------------------------------------------------------------------

/// A transport whose connections the test answers by hand.
fn manual() -> (MockConnector, mpsc::UnboundedReceiver<DuplexStream>) {
    let (accepted, peers) = mpsc::unbounded_channel();
    (MockConnector::new(Peer::Manual(accepted)), peers)
}

#[tokio::test]
async fn a_request_that_never_reached_a_stale_connection_goes_out_on_a_fresh_one() {
    let timer = ManualTimer::new();
    let (connector, mut peers) = manual();
    let svc: TestTransport<Full<Bytes>> = transport(&connector, &timer, TransportConfig::default());
    let post = || {
        Request::post("http://a.test/p")
            .body(Full::new(Bytes::from("data")))
            .unwrap()
    };

    let mut body = [0; 4];
    let server = async {
        let mut peer = peers.recv().await.unwrap();
        read_head(&mut peer).await;
        peer.read_exact(&mut body).await.unwrap();
        peer.write_all(OK).await.unwrap();
        peer
    };
    let (first, peer) = tokio::join!(fetch(svc.clone(), post()), server);
    assert_eq!(first.unwrap(), "ok");

    // The peer closes the idle connection; the client may not have noticed when it sends
    // again.
    drop(peer);
    let server = async {
        let mut fresh = peers.recv().await.unwrap();
        read_head(&mut fresh).await;
        fresh.read_exact(&mut body).await.unwrap();
        fresh.write_all(OK).await.unwrap();
        (fresh, body)
    };
    let (second, (_fresh, body)) = tokio::join!(fetch(svc.clone(), post()), server);
    assert_eq!(
        second.unwrap(),
        "ok",
        "a POST that was never written is safe to send"
    );
    assert_eq!(&body, b"data");
    assert_eq!(connector.connects.get(), 2);
}

/// Sends a request and answers it by hand with a keep-alive response; yields the peer of the
/// connection, now idle in the pool.
async fn first_exchange(
    svc: &TestTransport<Empty<Bytes>>,
    peers: &mut mpsc::UnboundedReceiver<DuplexStream>,
) -> DuplexStream {
    let server = async {
        let mut peer = peers.recv().await.unwrap();
        read_head(&mut peer).await;
        peer.write_all(OK).await.unwrap();
        peer
    };
    let (first, peer) = tokio::join!(fetch(svc.clone(), get("http://a.test/first")), server);
    assert_eq!(first.unwrap(), "ok");
    peer
}

#[tokio::test]
async fn an_ambiguous_non_idempotent_request_is_not_replayed() {
    let timer = ManualTimer::new();
    let (connector, mut peers) = manual();
    let svc = transport(&connector, &timer, TransportConfig::default());
    let mut peer = first_exchange(&svc, &mut peers).await;

    let post = Request::post("http://a.test/p").body(Empty::new()).unwrap();
    // The server reads the request, then the connection dies: it may have acted on it.
    let server = async move {
        read_head(&mut peer).await;
        drop(peer);
    };
    let (second, ()) = tokio::join!(fetch(svc.clone(), post), server);
    let error = second.expect_err("a POST is not sent twice");
    assert_eq!(
        transport_error(&error),
        TransportErrorKind::ConnectionClosedAmbiguous
    );
    assert_eq!(connector.connects.get(), 1, "not sent again");
}

#[tokio::test]
async fn an_ambiguous_idempotent_request_is_replayed_on_a_fresh_connection() {
    let timer = ManualTimer::new();
    let (connector, mut peers) = manual();
    let svc = transport(&connector, &timer, TransportConfig::default());
    let mut peer = first_exchange(&svc, &mut peers).await;

    let fresh = async {
        read_head(&mut peer).await;
        drop(peer);
        let mut fresh = peers.recv().await.unwrap();
        let head = read_head(&mut fresh).await;
        fresh.write_all(OK).await.unwrap();
        (fresh, head)
    };
    let (second, (_fresh, head)) = tokio::join!(fetch(svc.clone(), get("http://a.test/g")), fresh);
    assert_eq!(second.unwrap(), "ok");
    assert!(head.starts_with("GET /g "), "{head}");
    assert_eq!(connector.connects.get(), 2);
}

// ---------------------------------------------------------------------------
// request bodies that are not Unpin
// ---------------------------------------------------------------------------

pin_project_lite::pin_project! {
    /// A body that must stay where it is once polled.
    struct Pinned {
        data: Option<Bytes>,
        #[pin]
        _pinned: PhantomPinned,
    }
}

impl Body for Pinned {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.project().data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

#[tokio::test]
async fn a_body_that_is_not_unpin_is_sent_over_http1_and_http2() {
    for (peer, protocol) in [
        (Peer::Http1, Protocol::Http1),
        (Peer::Http2, Protocol::Http2),
    ] {
        let timer = ManualTimer::new();
        let connector = MockConnector::new(peer);
        let config = TransportConfig::default().with_protocol(protocol);
        let svc: TestTransport<Pinned> = transport(&connector, &timer, config);
        let body = Pinned {
            data: Some(Bytes::from_static(b"pinned")),
            _pinned: PhantomPinned,
        };
        let request = Request::post("http://a.test/up").body(body).unwrap();
        assert_eq!(fetch(svc, request).await.unwrap(), "/up 6", "{protocol:?}");
    }
}

// ---------------------------------------------------------------------------
// the connect timeout covers the HTTP/2 handshake
// ---------------------------------------------------------------------------

#[tokio::test]
async fn connect_timeout_covers_an_http2_handshake_the_server_never_answers() {
    // Accepts TCP and reads the client's preface, never sending its own SETTINGS.
    let (heard, mut hearing) = mpsc::unbounded_channel();
    let silent = RawServer::spawn(move |mut conn| {
        let heard = heard.clone();
        async move {
            if conn.read_body(1).await.is_some() {
                let _ = heard.send(());
            }
            while conn.read_body(1).await.is_some() {}
        }
    });
    let timer = ManualTimer::new();
    let runtime = ManualRuntime {
        timer: timer.clone(),
    };
    let config = TransportConfig::default()
        .with_protocol(Protocol::Http2)
        .with_connect_timeout(Duration::from_secs(10));
    let mut svc: Transport<_, Empty<Bytes>, _> = Transport::new(
        HttpConnector::new(runtime.clone(), TcpConfig::default()),
        runtime,
        config,
    );
    let uri = format!("http://{}/", silent.addr());
    let mut sending = pin!(svc.call(get(&uri)));
    // Drive the request until the server has our preface: TCP is done, the handshake is on.
    tokio::select! {
        biased;
        Some(()) = hearing.recv() => {}
        result = sending.as_mut() => panic!("finished during the handshake: {result:?}"),
    }
    timer.advance(Duration::from_secs(10));
    let Poll::Ready(result) = poll_once(sending.as_mut()).await else {
        panic!("still connecting once the connect timeout has passed");
    };
    let error = result.expect_err("the server never sent SETTINGS");
    let error = error
        .downcast_ref::<ConnectError>()
        .unwrap_or_else(|| panic!("not a connect error: {error:?}"));
    assert_eq!(error.kind(), ConnectErrorKind::Timeout);
    assert_eq!(silent.connections(), 1);
}

// ---------------------------------------------------------------------------
// pool stats
// ---------------------------------------------------------------------------

#[tokio::test]
async fn stats_count_http1_connections_active_while_their_body_is_unread() {
    let timer = ManualTimer::new();
    let connector = MockConnector::new(Peer::Http1);
    let svc = transport(&connector, &timer, TransportConfig::default());
    let counts = |svc: &TestTransport<Empty<Bytes>>| {
        let stats = svc.pool().stats();
        assert!(stats.targets.len() <= 1, "{stats:?}");
        stats
            .targets
            .first()
            .map(|t| (t.http1_active, t.http1_idle, t.connecting))
            .unwrap_or_default()
    };
    assert_eq!(counts(&svc), (0, 0, 0));

    let first = svc.clone().oneshot(get("http://a.test/a")).await.unwrap();
    let second = svc.clone().oneshot(get("http://a.test/b")).await.unwrap();
    assert_eq!(counts(&svc), (2, 0, 0));
    let stats = svc.pool().stats();
    assert_eq!(stats.targets[0].authority, "a.test");
    assert_eq!(stats.targets[0].scheme, http::uri::Scheme::HTTP);

    assert_eq!(text(first).await, "/a 0");
    assert_eq!(counts(&svc), (1, 1, 0));
    assert_eq!(text(second).await, "/b 0");
    assert_eq!(counts(&svc), (0, 2, 0));
}

#[tokio::test]
async fn stats_report_a_shared_http2_connection_and_forget_a_dropped_pool() {
    let timer = ManualTimer::new();
    let connector = MockConnector::new(Peer::Http2);
    let config = TransportConfig::default().with_protocol(Protocol::Http2);
    let svc = transport(&connector, &timer, config);
    let source = svc.pool().stats_source();

    let response = svc.clone().oneshot(get("http://a.test/a")).await.unwrap();
    assert_eq!(text(response).await, "/a 0");
    let stats = source();
    let target = &stats.targets[0];
    assert_eq!(
        (target.http2_idle, target.http2_active, target.http1_idle),
        (1, 0, 0)
    );

    drop(svc);
    assert!(source().targets.is_empty());
}

#[tokio::test]
async fn a_closed_connection_is_reported_with_how_long_it_was_open() {
    use towline_services::transport::ConnectionCloseHook;

    let timer = ManualTimer::new();
    let connector = MockConnector::new(Peer::Http1);
    let closed = Arc::new(Mutex::new(Vec::new()));
    let hook = {
        let closed = closed.clone();
        ConnectionCloseHook::new(move |connection| closed.lock().unwrap().push(connection.clone()))
    };
    // Nothing kept idle: the connection closes once its response is read.
    let config = TransportConfig::default()
        .with_pool(PoolConfig::default().with_max_idle_per_host(0))
        .with_connection_close_hook(hook);
    let svc = transport(&connector, &timer, config);

    let response = svc.clone().oneshot(get("http://a.test/a")).await.unwrap();
    timer.advance(Duration::from_secs(5));
    assert_eq!(text(response).await, "/a 0");
    // Let the connection's task see its end (turns of this single-threaded runtime).
    for _ in 0..64 {
        if !closed.lock().unwrap().is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    let closed = closed.lock().unwrap().clone();
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0].duration, Duration::from_secs(5));
    assert_eq!(closed[0].version, Version::HTTP_11);
    assert_eq!(closed[0].authority, "a.test");
}
