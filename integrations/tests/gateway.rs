//! The axum gateway of `towline_integrations::gateway` against in-process upstreams: a
//! gibibyte each way in constant memory, an upstream that dies or stays silent, hop-by-hop
//! fields both ways, retries, WebSocket pass-through and the gateway's own routes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Message, protocol::Role};
use towline_integrations::gateway::{self, GatewayConfig};
use towline_test_support::TokioIo;

type TestBody = BoxBody<Bytes, Infallible>;

const HANG_GUARD: Duration = Duration::from_secs(30);
const GIBIBYTE: u64 = 1 << 30;
const CHUNK: usize = 64 * 1024;

fn body(bytes: impl Into<Bytes>) -> TestBody {
    Full::new(bytes.into()).boxed()
}

fn empty() -> TestBody {
    Empty::new().boxed()
}

/// `n` bytes in 64 KiB frames, made as they are sent: no buffer of `n` bytes anywhere.
fn generated(n: u64) -> TestBody {
    let chunk = Bytes::from(vec![0x5a; CHUNK]);
    let frames = futures_util::stream::unfold(n, move |left| {
        let chunk = chunk.clone();
        async move {
            if left == 0 {
                return None;
            }
            let take = left.min(CHUNK as u64);
            let frame = Frame::data(chunk.slice(..usize::try_from(take).unwrap()));
            Some((Ok::<_, Infallible>(frame), left - take))
        }
    });
    BodyExt::boxed(StreamBody::new(frames))
}

/// Serves every connection on a fresh `127.0.0.1:0` listener with hyper's HTTP/1.1 server,
/// upgrades on.
async fn upstream<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<TestBody>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let handler = handler.clone();
            let service = hyper::service::service_fn(move |request| {
                let answer = handler(request);
                async move { Ok::<_, Infallible>(answer.await) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades(),
            );
        }
    });
    addr
}

/// Starts the gateway on `127.0.0.1:0` in front of `upstream`.
async fn start_gateway(config: GatewayConfig) -> SocketAddr {
    let router = gateway::router(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(gateway::serve(listener, router));
    addr
}

fn config_for(upstream: SocketAddr) -> GatewayConfig {
    GatewayConfig::new(format!("http://{upstream}/").parse().unwrap())
}

/// A plain hyper client connection: what it sends is exactly what the test wrote.
async fn connect(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<TestBody> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection.with_upgrades());
    sender
}

async fn send(addr: SocketAddr, request: Request<TestBody>) -> Response<Incoming> {
    let mut sender = connect(addr).await;
    tokio::time::timeout(HANG_GUARD, sender.send_request(request))
        .await
        .expect("the gateway did not answer")
        .unwrap()
}

fn get(addr: SocketAddr, path: &str) -> http::request::Builder {
    Request::get(path).header(header::HOST, addr.to_string())
}

/// A field of `/proc/self/status` in KiB: `VmRSS` now, `VmHWM` the peak so far.
fn process_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The memory a test may add on top of what the process held before the transfer: buffers
/// of a few frames per hop, and the allocator's slack. A body kept whole would be 1 GiB.
const MEMORY_ALLOWANCE_KIB: u64 = 64 * 1024;

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gibibyte_downloads_through_the_gateway_in_constant_memory() {
    let upstream_addr =
        upstream(|_request: Request<Incoming>| async { Response::new(generated(GIBIBYTE)) }).await;
    let gateway_addr = start_gateway(config_for(upstream_addr)).await;

    let before = process_kib("VmRSS:");
    let response = send(
        gateway_addr,
        get(gateway_addr, "/api/big").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            assert!(data.iter().all(|&byte| byte == 0x5a));
            received += data.len() as u64;
        }
    }
    assert_eq!(received, GIBIBYTE);
    let peak = process_kib("VmHWM:");
    assert!(
        peak < before + MEMORY_ALLOWANCE_KIB,
        "peak RSS {peak} KiB, {before} KiB before the transfer"
    );
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gibibyte_uploads_through_the_gateway_in_constant_memory() {
    let upstream_addr = upstream(|request: Request<Incoming>| async move {
        let mut uploaded = request.into_body();
        let mut received = 0u64;
        while let Some(frame) = uploaded.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                received += data.len() as u64;
            }
        }
        Response::new(body(received.to_string()))
    })
    .await;
    let gateway_addr = start_gateway(config_for(upstream_addr)).await;

    let before = process_kib("VmRSS:");
    let request = Request::post("/api/upload")
        .header(header::HOST, gateway_addr.to_string())
        .body(generated(GIBIBYTE))
        .unwrap();
    let response = send(gateway_addr, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let counted = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(counted, GIBIBYTE.to_string());
    let peak = process_kib("VmHWM:");
    assert!(
        peak < before + MEMORY_ALLOWANCE_KIB,
        "peak RSS {peak} KiB, {before} KiB before the transfer"
    );
}

#[tokio::test]
async fn an_upstream_that_is_gone_is_a_502_that_names_nothing_internal() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = closed.local_addr().unwrap();
    drop(closed);
    let gateway_addr = start_gateway(config_for(gone).max_retries(1)).await;

    let response = send(
        gateway_addr,
        get(gateway_addr, "/api/x").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(text, "Bad Gateway");
}

/// Reads one request head off `stream`, however it arrives, then stops.
async fn read_head(stream: &mut tokio::net::TcpStream) {
    let mut head = Vec::new();
    let mut buffer = [0; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await.unwrap();
        assert_ne!(read, 0, "the gateway closed before its request head");
        head.extend_from_slice(&buffer[..read]);
    }
}

#[tokio::test]
async fn an_upstream_that_dies_is_a_502_before_its_head_and_a_broken_body_after() {
    // Every connection: read the request, then hang up without a word.
    let dying = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dying_addr = dying.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = dying.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            read_head(&mut stream).await;
        }
    });
    let gateway_addr = start_gateway(config_for(dying_addr).max_retries(1)).await;
    let response = send(
        gateway_addr,
        get(gateway_addr, "/api/x").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(text, "Bad Gateway");
    assert_eq!(
        connections.load(Ordering::SeqCst),
        2,
        "a GET is retried once"
    );

    // A head promising 1000 bytes, 10 of them, then the end: the status is already on its way
    // downstream, so the body breaks instead.
    let truncating = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let truncating_addr = truncating.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = truncating.accept().await.unwrap();
            read_head(&mut stream).await;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789")
                .await
                .unwrap();
        }
    });
    let gateway_addr = start_gateway(config_for(truncating_addr)).await;
    let response = send(
        gateway_addr,
        get(gateway_addr, "/api/x").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.into_body().collect().await.is_err());
}

#[tokio::test]
async fn a_silent_upstream_is_a_504() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (stream, _) = silent.accept().await.unwrap();
            held.push(stream);
        }
    });
    let config = config_for(silent_addr)
        .read_timeout(Duration::from_millis(200))
        .max_retries(0);
    let gateway_addr = start_gateway(config).await;
    let response = send(
        gateway_addr,
        get(gateway_addr, "/api/x").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
}

#[derive(Clone, Default)]
struct SeenHeaders(Arc<Mutex<Vec<HeaderMap>>>);

impl SeenHeaders {
    fn record(&self, headers: &HeaderMap) {
        self.0.lock().unwrap().push(headers.clone());
    }

    fn only(&self) -> HeaderMap {
        let seen = self.0.lock().unwrap();
        assert_eq!(seen.len(), 1);
        seen[0].clone()
    }
}

#[tokio::test]
async fn hop_by_hop_fields_are_removed_both_ways() {
    let seen = SeenHeaders::default();
    let recorder = seen.clone();
    let upstream_addr = upstream(move |request: Request<Incoming>| {
        recorder.record(request.headers());
        async {
            Response::builder()
                .header(header::CONNECTION, "x-upstream-hop")
                .header("x-upstream-hop", "1")
                .header("keep-alive", "timeout=5")
                .header(header::PROXY_AUTHENTICATE, "Basic realm=\"inner\"")
                .header("x-end-to-end", "from upstream")
                .body(body("ok"))
                .unwrap()
        }
    })
    .await;
    let gateway_addr = start_gateway(config_for(upstream_addr)).await;

    let request = get(gateway_addr, "/api/headers")
        .header(header::CONNECTION, "x-client-hop")
        .header("x-client-hop", "1")
        .header("keep-alive", "timeout=5")
        .header(header::PROXY_AUTHORIZATION, "Basic c2VjcmV0OnNlY3JldA==")
        .header(header::TE, "gzip")
        .header("x-end-to-end", "from client")
        .body(empty())
        .unwrap();
    let response = send(gateway_addr, request).await;
    assert_eq!(response.status(), StatusCode::OK);

    let upstream_saw = seen.only();
    for name in ["x-client-hop", "keep-alive", "proxy-authorization", "te"] {
        assert!(
            !upstream_saw.contains_key(name),
            "{name} reached the upstream"
        );
    }
    assert_ne!(
        upstream_saw
            .get(header::CONNECTION)
            .map(|value| value.as_bytes()),
        Some(&b"x-client-hop"[..])
    );
    assert_eq!(upstream_saw["x-end-to-end"], "from client");
    assert_eq!(upstream_saw["x-forwarded-for"], "127.0.0.1");
    assert_eq!(upstream_saw[header::HOST], upstream_addr.to_string());

    let headers = response.headers();
    for name in ["x-upstream-hop", "keep-alive", "proxy-authenticate"] {
        assert!(!headers.contains_key(name), "{name} reached the client");
    }
    assert_ne!(
        headers
            .get(header::CONNECTION)
            .map(|value| value.as_bytes()),
        Some(&b"x-upstream-hop"[..])
    );
    assert_eq!(headers["x-end-to-end"], "from upstream");
}

#[tokio::test]
async fn a_failed_idempotent_request_is_retried_and_the_prefix_replaced() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen_paths = Arc::new(Mutex::new(Vec::new()));
    let (counter, paths) = (Arc::clone(&calls), Arc::clone(&seen_paths));
    let upstream_addr = upstream(move |request: Request<Incoming>| {
        paths.lock().unwrap().push(request.uri().to_string());
        let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            let status = if first {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            Response::builder()
                .status(status)
                .body(body("answer"))
                .unwrap()
        }
    })
    .await;
    let config = GatewayConfig::new(format!("http://{upstream_addr}/v2").parse().unwrap());
    let gateway_addr = start_gateway(config).await;

    let response = send(
        gateway_addr,
        get(gateway_addr, "/api/users?page=2")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        *seen_paths.lock().unwrap(),
        ["/v2/users?page=2", "/v2/users?page=2"]
    );

    // A POST is not idempotent: the upstream's 503 goes back as it is.
    calls.store(0, Ordering::SeqCst);
    let request = Request::post("/api/users")
        .header(header::HOST, gateway_addr.to_string())
        .body(body("{}"))
        .unwrap();
    let response = send(gateway_addr, request).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_gateway_answers_its_own_routes_without_the_upstream() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let upstream_addr = upstream(move |_request: Request<Incoming>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Response::new(body("upstream")) }
    })
    .await;
    let gateway_addr = start_gateway(config_for(upstream_addr)).await;

    let health = send(
        gateway_addr,
        get(gateway_addr, "/healthz").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.into_body().collect().await.unwrap().to_bytes(), "ok");
    let elsewhere = send(
        gateway_addr,
        get(gateway_addr, "/apiary").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    let bare = send(
        gateway_addr,
        get(gateway_addr, "/api").body(empty()).unwrap(),
    )
    .await;
    assert_eq!(
        bare.into_body().collect().await.unwrap().to_bytes(),
        "upstream"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_websocket_passes_through_the_gateway() {
    // tokio-tungstenite's own server handshake and framing upstream.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
                while let Some(Ok(message)) = socket.next().await {
                    if message.is_text() || message.is_binary() {
                        socket.send(message).await.unwrap();
                    }
                }
            });
        }
    });
    let gateway_addr = start_gateway(config_for(upstream_addr)).await;

    let handshake = towline::Client::new()
        .websocket(format!("ws://{gateway_addr}/api/echo"))
        .send()
        .await
        .unwrap();
    let mut socket =
        WebSocketStream::from_raw_socket(handshake.into_io(), Role::Client, None).await;
    for text in ["ping", "through the gateway"] {
        socket.send(Message::text(text)).await.unwrap();
        let echoed = tokio::time::timeout(HANG_GUARD, socket.next())
            .await
            .expect("the tunnel stalled")
            .unwrap()
            .unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), text);
    }
    socket.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    let echoed = socket.next().await.unwrap().unwrap();
    assert_eq!(echoed.into_data().as_ref(), [1, 2, 3]);
}

#[tokio::test]
async fn the_method_and_body_reach_the_upstream() {
    let upstream_addr = upstream(|request: Request<Incoming>| async move {
        let method = request.method().clone();
        let received = request.into_body().collect().await.unwrap().to_bytes();
        Response::new(body(format!(
            "{method} {}",
            String::from_utf8_lossy(&received)
        )))
    })
    .await;
    let gateway_addr = start_gateway(config_for(upstream_addr)).await;
    let request = Request::builder()
        .method(Method::PUT)
        .uri("/api/item")
        .header(header::HOST, gateway_addr.to_string())
        .body(body("payload"))
        .unwrap();
    let response = send(gateway_addr, request).await;
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "PUT payload"
    );
}
