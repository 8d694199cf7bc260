//! Forwarding: a gateway (an in-process hyper server whose handler is a `Forwarder`) between a
//! raw hyper client, which sends and sees every header as written, and in-process upstreams
//! that record what reaches them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, Uri, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::oneshot;
use tower::ServiceExt;
use towline::forward::{Forwarder, PeerAddr, UpstreamError, UpstreamProtocol};
use towline::{Client, redirect};
use towline_test_support::{
    BodySender, BoxBody, ConnectionInfo, RawServer, TestServer, TokioExecutor, TokioIo,
    body_channel, empty, response,
};

/// A guard against a test that would otherwise hang forever when forwarding buffers a body:
/// it bounds a wait, and asserts nothing about how long the wait took.
const HANG_GUARD: Duration = Duration::from_secs(10);

/// What an upstream saw: the request's URI and headers.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Option<(Uri, HeaderMap)>>>);

impl Seen {
    fn record<B>(&self, request: &Request<B>) {
        *self.0.lock().unwrap() = Some((request.uri().clone(), request.headers().clone()));
    }

    fn uri(&self) -> Uri {
        self.0
            .lock()
            .unwrap()
            .as_ref()
            .expect("no request")
            .0
            .clone()
    }

    fn headers(&self) -> HeaderMap {
        self.0
            .lock()
            .unwrap()
            .as_ref()
            .expect("no request")
            .1
            .clone()
    }
}

/// An upstream that records each request and answers `answer()`.
fn recording_upstream(
    answer: impl Fn() -> Response<BoxBody> + Send + Sync + 'static,
) -> (TestServer, Seen) {
    let seen = Seen::default();
    let recorder = seen.clone();
    let answer = Arc::new(answer);
    let server = TestServer::builder()
        .handler(move |request: Request<Bytes>| {
            recorder.record(&request);
            let answer = Arc::clone(&answer);
            async move { answer() }
        })
        .build();
    (server, seen)
}

fn gateway_client() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

/// A gateway forwarding every request with `forwarder`, with the peer address the server saw.
fn gateway(forwarder: Forwarder) -> TestServer {
    TestServer::builder()
        .streaming_handler(move |request: Request<Incoming>| {
            let forwarder = forwarder.clone();
            async move {
                let peer = request
                    .extensions()
                    .get::<ConnectionInfo>()
                    .map(|info| info.peer_addr);
                forwarder.forward(request, peer).await.response
            }
        })
        .build()
}

fn forwarder_to(upstream: &TestServer) -> Forwarder {
    let uri: Uri = upstream.url("/").parse().unwrap();
    Forwarder::new(gateway_client(), uri).unwrap()
}

type Sender = hyper::client::conn::http1::SendRequest<BoxBody>;

/// A raw HTTP/1.1 connection to `addr`: hyper's client adds nothing and removes nothing.
async fn raw_client(addr: SocketAddr) -> Sender {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

fn get(path: &str) -> http::request::Builder {
    Request::get(path).header(header::HOST, "gateway.example")
}

async fn send(addr: SocketAddr, request: Request<BoxBody>) -> Response<Incoming> {
    let mut sender = raw_client(addr).await;
    sender.send_request(request).await.unwrap()
}

#[tokio::test]
async fn hop_by_hop_fields_are_removed_from_the_request_and_the_response() {
    let (upstream, seen) = recording_upstream(|| {
        let mut answer = response(200, "ok");
        let headers = answer.headers_mut();
        headers.insert(header::CONNECTION, "x-upstream-hop".parse().unwrap());
        headers.insert("x-upstream-hop", "internal".parse().unwrap());
        headers.insert("keep-alive", "timeout=5".parse().unwrap());
        headers.insert(header::PROXY_AUTHENTICATE, "Basic".parse().unwrap());
        headers.insert("x-end-to-end", "kept".parse().unwrap());
        answer
    });
    let gateway = gateway(forwarder_to(&upstream));

    let request = get("/path")
        .header(header::CONNECTION, "keep-alive, X-Client-Hop")
        .header("x-client-hop", "secret")
        .header("keep-alive", "timeout=5")
        .header("proxy-connection", "keep-alive")
        .header(header::PROXY_AUTHORIZATION, "Basic Zm9vOmJhcg==")
        .header(header::TE, "gzip")
        .header("x-client-end-to-end", "kept")
        .body(empty())
        .unwrap();
    let answer = send(gateway.addr(), request).await;

    assert_eq!(answer.status(), StatusCode::OK);
    let headers = answer.headers();
    for name in ["x-upstream-hop", "keep-alive", "proxy-authenticate"] {
        assert!(!headers.contains_key(name), "response kept {name}");
    }
    assert!(
        headers
            .get_all(header::CONNECTION)
            .iter()
            .all(|value| !value.to_str().unwrap().contains("x-upstream-hop"))
    );
    assert_eq!(headers["x-end-to-end"], "kept");

    let sent = seen.headers();
    for name in [
        "connection",
        "x-client-hop",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
    ] {
        assert!(
            !sent.contains_key(name),
            "upstream received {name}: {sent:?}"
        );
    }
    assert_eq!(sent["x-client-end-to-end"], "kept");
}

#[tokio::test]
async fn host_names_the_upstream_unless_preserved() {
    let (upstream, seen) = recording_upstream(|| response(200, ""));
    let upstream_authority = upstream.addr().to_string();

    let rewriting = gateway(forwarder_to(&upstream));
    send(rewriting.addr(), get("/").body(empty()).unwrap()).await;
    assert_eq!(seen.headers()[header::HOST], upstream_authority.as_str());

    let preserving = gateway(forwarder_to(&upstream).preserve_host(true));
    send(preserving.addr(), get("/").body(empty()).unwrap()).await;
    assert_eq!(seen.headers()[header::HOST], "gateway.example");
}

#[tokio::test]
async fn a_path_prefix_is_stripped_or_replaced_on_segment_boundaries() {
    let (upstream, seen) = recording_upstream(|| response(200, ""));

    let stripping = gateway(forwarder_to(&upstream).strip_prefix("/api/"));
    for (received, sent) in [
        ("/api/users?page=2", "/users?page=2"),
        ("/api", "/"),
        ("/apis/users", "/apis/users"),
        ("/other", "/other"),
    ] {
        send(stripping.addr(), get(received).body(empty()).unwrap()).await;
        assert_eq!(seen.uri(), sent, "for {received}");
    }

    let replacing = gateway(forwarder_to(&upstream).replace_prefix("/api", "/v2"));
    send(replacing.addr(), get("/api/users").body(empty()).unwrap()).await;
    assert_eq!(seen.uri(), "/v2/users");

    // An upstream with a path of its own puts it in front of every forwarded path.
    let base: Uri = upstream.url("/base/").parse().unwrap();
    let based = gateway(
        Forwarder::new(gateway_client(), base)
            .unwrap()
            .strip_prefix("/api"),
    );
    send(based.addr(), get("/api/users?q=1").body(empty()).unwrap()).await;
    assert_eq!(seen.uri(), "/base/users?q=1");
}

#[tokio::test]
async fn forwarded_x_forwarded_and_via_extend_the_chains_earlier_proxies_left() {
    let (upstream, seen) = recording_upstream(|| response(200, ""));
    let gateway = gateway(
        forwarder_to(&upstream)
            .forwarded(true)
            .x_forwarded(true)
            .via(Some("gateway"))
            .unwrap(),
    );

    let request = get("/")
        .header(header::FORWARDED, "for=192.0.2.1;proto=https")
        .header("x-forwarded-for", "192.0.2.1")
        .header("x-forwarded-proto", "https")
        .header(header::VIA, "1.1 edge")
        .body(empty())
        .unwrap();
    let answer = send(gateway.addr(), request).await;

    let sent = seen.headers();
    assert_eq!(
        sent[header::FORWARDED],
        "for=192.0.2.1;proto=https, for=127.0.0.1;host=gateway.example;proto=http"
    );
    assert_eq!(sent["x-forwarded-for"], "192.0.2.1, 127.0.0.1");
    // The first proxy saw the client's own scheme; a later one does not overwrite it.
    assert_eq!(sent["x-forwarded-proto"], "https");
    assert_eq!(sent["x-forwarded-host"], "gateway.example");
    assert_eq!(sent[header::VIA], "1.1 edge, 1.1 gateway");
    assert_eq!(answer.headers()[header::VIA], "1.1 gateway");
}

#[tokio::test]
async fn without_options_no_forwarding_fields_are_added() {
    let (upstream, seen) = recording_upstream(|| response(200, ""));
    let gateway = gateway(forwarder_to(&upstream));
    send(gateway.addr(), get("/").body(empty()).unwrap()).await;
    let sent = seen.headers();
    for name in [
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "via",
    ] {
        assert!(!sent.contains_key(name), "upstream received {name}");
    }
}

/// Waits for the next data frame of `body`, skipping trailers-free empty frames.
async fn next_data<B>(body: &mut B) -> Bytes
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    loop {
        let frame = tokio::time::timeout(HANG_GUARD, body.frame())
            .await
            .expect("the body stalled: was it buffered?")
            .expect("the body ended early")
            .unwrap();
        if let Ok(data) = frame.into_data()
            && !data.is_empty()
        {
            return data;
        }
    }
}

/// Waits for the trailers that end `body`.
async fn trailers<B>(body: &mut B) -> HeaderMap
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    loop {
        let frame = tokio::time::timeout(HANG_GUARD, body.frame())
            .await
            .expect("the body stalled")
            .expect("the body ended without trailers")
            .unwrap();
        if let Ok(trailers) = frame.into_trailers() {
            return trailers;
        }
    }
}

#[tokio::test]
async fn bodies_stream_chunk_by_chunk_both_ways_with_their_trailers() {
    // The upstream hands each request chunk it reads to the test, and sends the response
    // chunks the test gives it: each side waits for the other, so a gateway that collected
    // either body before passing it on would stall here.
    let (upstream_chunks_tx, mut upstream_chunks) = tokio::sync::mpsc::channel::<Bytes>(4);
    let (request_trailers_tx, request_trailers) = oneshot::channel::<HeaderMap>();
    let request_trailers_tx = Arc::new(Mutex::new(Some(request_trailers_tx)));
    let (response_sender_tx, response_sender) = oneshot::channel::<BodySender>();
    let response_sender_tx = Arc::new(Mutex::new(Some(response_sender_tx)));
    let upstream = TestServer::builder()
        .streaming_handler(move |request: Request<Incoming>| {
            let chunks = upstream_chunks_tx.clone();
            let trailers_tx = request_trailers_tx.lock().unwrap().take().unwrap();
            let sender_tx = response_sender_tx.lock().unwrap().take().unwrap();
            async move {
                let mut body = request.into_body();
                tokio::spawn(async move {
                    while let Some(frame) = body.frame().await {
                        let frame = frame.unwrap();
                        match frame.into_data() {
                            Ok(data) => chunks.send(data).await.unwrap(),
                            Err(frame) => {
                                if let Ok(trailers) = frame.into_trailers() {
                                    trailers_tx.send(trailers).unwrap();
                                    return;
                                }
                            }
                        }
                    }
                });
                let (sender, body) = body_channel();
                sender_tx.send(sender).ok();
                let mut answer = Response::new(body);
                // HTTP/1.1 writes only the trailers that `Trailer` announces.
                answer
                    .headers_mut()
                    .insert(header::TRAILER, "x-response-digest".parse().unwrap());
                answer
            }
        })
        .build();
    let gateway = gateway(forwarder_to(&upstream));

    let (client_body, request_body) = body_channel();
    let request = Request::post("/upload")
        .header(header::HOST, "gateway.example")
        .header(header::TE, "trailers")
        .header(header::TRAILER, "x-request-digest")
        .body(request_body)
        .unwrap();
    let mut sender = raw_client(gateway.addr()).await;
    let answer = tokio::spawn(sender.send_request(request));

    // Request: each chunk reaches the upstream before the next one is written.
    for chunk in ["first", "second"] {
        assert!(client_body.send_data(chunk).await);
        let received = tokio::time::timeout(HANG_GUARD, upstream_chunks.recv())
            .await
            .expect("the request body stalled: was it buffered?")
            .unwrap();
        assert_eq!(received, chunk);
    }
    let mut sent_trailers = HeaderMap::new();
    sent_trailers.insert("x-request-digest", "abc".parse().unwrap());
    assert!(client_body.send_trailers(sent_trailers).await);
    let received_trailers = tokio::time::timeout(HANG_GUARD, request_trailers)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(received_trailers["x-request-digest"], "abc");

    // Response: the head and each chunk reach the client before the upstream writes the next.
    let upstream_body = tokio::time::timeout(HANG_GUARD, response_sender)
        .await
        .unwrap()
        .unwrap();
    assert!(upstream_body.send_data("one").await);
    let answer = tokio::time::timeout(HANG_GUARD, answer)
        .await
        .expect("the response head stalled")
        .unwrap()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let mut body = answer.into_body();
    assert_eq!(next_data(&mut body).await, "one");
    assert!(upstream_body.send_data("two").await);
    assert_eq!(next_data(&mut body).await, "two");
    let mut response_trailers = HeaderMap::new();
    response_trailers.insert("x-response-digest", "def".parse().unwrap());
    assert!(upstream_body.send_trailers(response_trailers).await);
    assert_eq!(trailers(&mut body).await["x-response-digest"], "def");
}

#[tokio::test]
async fn an_upstream_that_refuses_connections_is_a_502_that_names_nothing_internal() {
    // A port that was just listened on and is closed again refuses connections.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let upstream: Uri = format!("http://{addr}/").parse().unwrap();
    let forwarder = Forwarder::new(gateway_client(), upstream).unwrap();

    let request = Request::get("/anything").body(String::new()).unwrap();
    let forwarded = forwarder.forward(request, None).await;

    assert_eq!(forwarded.response.status(), StatusCode::BAD_GATEWAY);
    let error = forwarded.error.expect("the gateway keeps the cause");
    assert!(error.is_connect(), "{error:?}");
    let body = forwarded.response.into_body().collect().await.unwrap();
    let body = String::from_utf8(body.to_bytes().to_vec()).unwrap();
    assert_eq!(body, "Bad Gateway");
    assert!(!body.contains(&addr.port().to_string()));
}

#[tokio::test]
async fn an_upstream_that_times_out_is_a_504_with_a_generic_body() {
    let upstream = TestServer::builder()
        .streaming_handler(|_request: Request<Incoming>| std::future::pending())
        .build();
    let client = Client::builder()
        .redirect(redirect::Policy::none())
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let forwarder = Forwarder::new(client, upstream.url("/").parse().unwrap()).unwrap();
    let gateway = gateway(forwarder);

    let answer = send(gateway.addr(), get("/slow").body(empty()).unwrap()).await;

    assert_eq!(answer.status(), StatusCode::GATEWAY_TIMEOUT);
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "Gateway Timeout");
}

#[tokio::test]
async fn an_upstream_that_is_not_an_absolute_http_uri_is_refused() {
    for upstream in ["/relative", "ftp://example.com/", "example.com"] {
        let uri: Uri = upstream.parse().unwrap();
        assert!(
            Forwarder::new(gateway_client(), uri).is_err(),
            "{upstream} was accepted"
        );
    }
}

#[tokio::test]
async fn as_a_service_it_reads_the_peer_from_an_extension_and_keeps_the_error_on_the_response() {
    let (upstream, seen) = recording_upstream(|| response(200, ""));
    let forwarder = forwarder_to(&upstream).x_forwarded(true);
    let peer: SocketAddr = "192.0.2.9:40000".parse().unwrap();

    let mut request = get("/").body(String::new()).unwrap();
    request.extensions_mut().insert(PeerAddr(peer));
    let answer = forwarder.oneshot(request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(answer.extensions().get::<UpstreamError>().is_none());
    assert_eq!(seen.headers()["x-forwarded-for"], "192.0.2.9");

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let unreachable =
        Forwarder::new(gateway_client(), format!("http://{addr}/").parse().unwrap()).unwrap();
    let answer = unreachable
        .oneshot(get("/").body(String::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_GATEWAY);
    let UpstreamError(error) = answer.extensions().get::<UpstreamError>().unwrap();
    assert!(error.is_connect(), "{error:?}");
}

#[tokio::test]
async fn content_codings_pass_through_undecoded() {
    // Not valid gzip: a client that tried to decode it would fail the body.
    let (upstream, seen) = recording_upstream(|| {
        let mut answer = response(200, "opaque encoded bytes");
        answer
            .headers_mut()
            .insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
        answer
    });
    let gateway = gateway(forwarder_to(&upstream));

    let answer = send(
        gateway.addr(),
        get("/")
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(empty())
            .unwrap(),
    )
    .await;

    assert_eq!(seen.headers()[header::ACCEPT_ENCODING], "gzip");
    assert_eq!(answer.headers()[header::CONTENT_ENCODING], "gzip");
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "opaque encoded bytes");
}

#[tokio::test]
async fn an_http2_request_s_authority_is_the_host_it_preserves_and_reports() {
    let (upstream, seen) = recording_upstream(|| response(200, ""));
    let forwarder = forwarder_to(&upstream).preserve_host(true).forwarded(true);
    let gateway = TestServer::builder()
        .h2c()
        .streaming_handler(move |request: Request<Incoming>| {
            let forwarder = forwarder.clone();
            async move { forwarder.forward(request, None).await.response }
        })
        .build();

    let stream = tokio::net::TcpStream::connect(gateway.addr())
        .await
        .unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor, TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = Request::get("http://gateway.example/h2")
        .version(http::Version::HTTP_2)
        .body(empty())
        .unwrap();
    let answer = sender.send_request(request).await.unwrap();

    assert_eq!(answer.status(), StatusCode::OK);
    let sent = seen.headers();
    assert_eq!(sent[header::HOST], "gateway.example");
    assert_eq!(
        sent[header::FORWARDED],
        "for=unknown;host=gateway.example;proto=http"
    );
    assert_eq!(seen.uri(), "/h2");
}

/// Serves every connection on a fresh `127.0.0.1:0` listener with hyper's HTTP/1.1 server,
/// upgrades on, calling `service` for each request.
async fn serve_with_upgrades<S>(service: S) -> (SocketAddr, tokio::task::JoinHandle<()>)
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<towline::ResponseBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = service.clone();
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades(),
            );
        }
    });
    (addr, task)
}

/// Asks the gateway at `addr`, over a connection of its own with upgrades on, to switch to the
/// `echo` protocol; returns its answer.
async fn ask_for_echo_upgrade(addr: SocketAddr) -> Response<Incoming> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, BoxBody>(TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection.with_upgrades());
    let request = get("/ws")
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "echo")
        .body(empty())
        .unwrap();
    sender.send_request(request).await.unwrap()
}

#[tokio::test]
async fn an_upgrade_is_tunnelled_end_to_end() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // The upstream switches to "echo" and sends back every byte it reads, upper-cased so the
    // test tells its answer from its own bytes.
    let upstream_seen = Seen::default();
    let recorder = upstream_seen.clone();
    let (upstream_addr, upstream_task) = serve_with_upgrades(hyper::service::service_fn(
        move |mut request: Request<Incoming>| {
            recorder.record(&request);
            let switched = hyper::upgrade::on(&mut request);
            tokio::spawn(async move {
                let mut io = TokioIo::new(switched.await.unwrap());
                let mut buffer = [0; 64];
                loop {
                    let read = io.read(&mut buffer).await.unwrap();
                    if read == 0 {
                        return;
                    }
                    buffer[..read].make_ascii_uppercase();
                    io.write_all(&buffer[..read]).await.unwrap();
                }
            });
            let answer = Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header(header::CONNECTION, "upgrade")
                .header(header::UPGRADE, "echo")
                .body(empty())
                .unwrap();
            async move { Ok::<_, std::convert::Infallible>(answer) }
        },
    ))
    .await;
    let upstream: Uri = format!("http://{upstream_addr}/").parse().unwrap();
    let forwarder = Forwarder::new(gateway_client(), upstream).unwrap();
    // The gateway is the forwarder's `tower::Service`, the way axum would call it.
    let (gateway_addr, gateway_task) = serve_with_upgrades(hyper::service::service_fn(
        move |request: Request<Incoming>| forwarder.clone().oneshot(request),
    ))
    .await;

    let mut answer = ask_for_echo_upgrade(gateway_addr).await;

    assert_eq!(answer.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(answer.headers()[header::UPGRADE], "echo");
    let sent = upstream_seen.headers();
    assert_eq!(sent[header::UPGRADE], "echo");
    assert_eq!(sent[header::CONNECTION], "upgrade");

    let upgraded = tokio::time::timeout(HANG_GUARD, hyper::upgrade::on(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let mut io = TokioIo::new(upgraded);
    for message in [&b"ping"[..], b"second"] {
        io.write_all(message).await.unwrap();
        let mut echoed = vec![0; message.len()];
        tokio::time::timeout(HANG_GUARD, io.read_exact(&mut echoed))
            .await
            .expect("the tunnel stalled")
            .unwrap();
        assert_eq!(echoed, message.to_ascii_uppercase());
    }
    upstream_task.abort();
    gateway_task.abort();
}

/// An upstream that records the protocol version of each request it answers.
fn version_recording_upstream(
    builder: towline_test_support::TestServerBuilder,
) -> (TestServer, Arc<Mutex<Vec<http::Version>>>) {
    let versions = Arc::new(Mutex::new(Vec::new()));
    let recorder = Arc::clone(&versions);
    let server = builder
        .handler(move |request: Request<Bytes>| {
            recorder.lock().unwrap().push(request.version());
            async move { response(200, "") }
        })
        .build();
    (server, versions)
}

#[tokio::test]
async fn h2c_speaks_http2_with_prior_knowledge() {
    let (upstream, versions) = version_recording_upstream(TestServer::builder().h2c());
    let forwarder = forwarder_to(&upstream).upstream_protocol(UpstreamProtocol::H2c);
    let request = get("/").body(String::new()).unwrap();
    let forwarded = forwarder.forward(request, None).await;
    assert_eq!(
        forwarded.response.status(),
        StatusCode::OK,
        "{:?}",
        forwarded.error
    );
    assert_eq!(*versions.lock().unwrap(), [http::Version::HTTP_2]);
}

#[tokio::test]
async fn adaptive_mode_finds_h2c_once_and_keeps_using_it() {
    let (upstream, versions) = version_recording_upstream(TestServer::builder().h2c());
    let forwarder = forwarder_to(&upstream).upstream_protocol(UpstreamProtocol::Adaptive);

    // A request with a body does not probe: it goes over HTTP/1.1, which this server refuses.
    let post = Request::post("/").body(String::from("data")).unwrap();
    assert_eq!(
        forwarder.forward(post, None).await.response.status(),
        StatusCode::BAD_GATEWAY
    );
    for _ in 0..3 {
        let request = get("/").body(String::new()).unwrap();
        let forwarded = forwarder.clone().forward(request, None).await;
        assert_eq!(
            forwarded.response.status(),
            StatusCode::OK,
            "{:?}",
            forwarded.error
        );
    }
    // Once known, requests with bodies go over h2c too.
    let post = Request::post("/").body(String::from("data")).unwrap();
    assert_eq!(
        forwarder.forward(post, None).await.response.status(),
        StatusCode::OK
    );
    assert_eq!(*versions.lock().unwrap(), [http::Version::HTTP_2; 4]);
}

#[tokio::test]
async fn adaptive_mode_falls_back_to_http1_once_and_remembers() {
    let (upstream, versions) = version_recording_upstream(TestServer::builder().http1());
    let forwarder = forwarder_to(&upstream).upstream_protocol(UpstreamProtocol::Adaptive);

    for _ in 0..3 {
        let request = get("/").body(String::new()).unwrap();
        let forwarded = forwarder.forward(request, None).await;
        assert_eq!(
            forwarded.response.status(),
            StatusCode::OK,
            "{:?}",
            forwarded.error
        );
    }
    assert_eq!(*versions.lock().unwrap(), [http::Version::HTTP_11; 3]);
    // One connection refused the h2c preface; the HTTP/1.1 one then served every request,
    // with no further probe.
    assert_eq!(upstream.connections(), 2);
}

#[tokio::test]
async fn an_upstream_that_hangs_up_or_answers_garbage_is_a_502() {
    for upstream in [
        RawServer::respond_and_close(b""),
        RawServer::fixed(b"not http at all\r\n\r\n"),
    ] {
        let forwarder =
            Forwarder::new(gateway_client(), upstream.url("/").parse().unwrap()).unwrap();
        let request = get("/").body(String::new()).unwrap();
        let forwarded = forwarder.forward(request, None).await;
        assert_eq!(forwarded.response.status(), StatusCode::BAD_GATEWAY);
        assert!(forwarded.error.is_some());
        let body = forwarded.response.into_body().collect().await.unwrap();
        assert_eq!(body.to_bytes(), "Bad Gateway");
    }
}

#[tokio::test]
async fn a_switch_of_protocols_nobody_asked_for_is_a_502() {
    let upstream = RawServer::fixed(
        b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n",
    );
    let forwarder = Forwarder::new(gateway_client(), upstream.url("/").parse().unwrap()).unwrap();
    let request = get("/").body(String::new()).unwrap();
    let forwarded = forwarder.forward(request, None).await;
    assert_eq!(forwarded.response.status(), StatusCode::BAD_GATEWAY);
}

/// Serves the forwarder over h2c with extended CONNECT enabled (RFC 8441), as a gateway that
/// takes WebSockets over HTTP/2 does.
async fn serve_h2c_with_extended_connect(forwarder: Forwarder) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let forwarder = forwarder.clone();
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                forwarder.clone().oneshot(request)
            });
            let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor);
            builder.enable_connect_protocol();
            tokio::spawn(builder.serve_connection(TokioIo::new(stream), service));
        }
    });
    addr
}

/// An HTTP/1.1 WebSocket upstream (tokio-tungstenite's own handshake) that echoes messages and
/// reports the handshake's headers.
async fn websocket_upstream() -> (SocketAddr, oneshot::Receiver<HeaderMap>) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::handshake::server::{Request as Handshake, Response};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen_tx, seen_rx) = oneshot::channel();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        // tungstenite's callback signature returns its error response by value.
        #[allow(clippy::result_large_err)]
        let record = |request: &Handshake, mut response: Response| {
            let _ = seen_tx.send(request.headers().clone());
            response.headers_mut().insert(
                "sec-websocket-protocol",
                http::HeaderValue::from_static("chat.v1"),
            );
            Ok(response)
        };
        let mut socket = tokio_tungstenite::accept_hdr_async(stream, record)
            .await
            .unwrap();
        while let Some(Ok(message)) = socket.next().await {
            if message.is_text() && socket.send(message).await.is_err() {
                return;
            }
        }
    });
    (addr, seen_rx)
}

#[tokio::test]
async fn a_websocket_over_http2_reaches_an_http1_upstream_as_its_handshake() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::{Message, protocol::Role};

    let (upstream_addr, seen) = websocket_upstream().await;
    let upstream: Uri = format!("http://{upstream_addr}/").parse().unwrap();
    let gateway_addr =
        serve_h2c_with_extended_connect(Forwarder::new(gateway_client(), upstream).unwrap()).await;

    let handshake = Client::new()
        .websocket(format!("ws://{gateway_addr}/chat"))
        .http2()
        .protocols(["chat.v1"])
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.status(), StatusCode::OK);
    assert_eq!(handshake.version(), http::Version::HTTP_2);
    assert_eq!(handshake.protocol(), Some("chat.v1"));
    assert!(!handshake.headers().contains_key("sec-websocket-accept"));

    let upstream_saw = seen.await.unwrap();
    assert_eq!(upstream_saw[header::UPGRADE], "websocket");
    assert_eq!(upstream_saw["sec-websocket-version"], "13");
    assert_eq!(upstream_saw["sec-websocket-protocol"], "chat.v1");
    assert_eq!(
        upstream_saw["sec-websocket-key"].len(),
        24,
        "a key of 16 bytes"
    );

    let mut socket =
        WebSocketStream::from_raw_socket(handshake.into_io(), Role::Client, None).await;
    for text in ["over h2", "then h1"] {
        socket.send(Message::text(text)).await.unwrap();
        let echoed = tokio::time::timeout(HANG_GUARD, socket.next())
            .await
            .expect("the tunnel stalled")
            .unwrap()
            .unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), text);
    }
}

#[tokio::test]
async fn an_upstream_that_answers_the_websocket_key_wrongly_is_a_502() {
    // A 101 with an accept value for some other key.
    let upstream = RawServer::respond_and_close(
        b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\
          sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    );
    let upstream_uri: Uri = format!("http://{}/", upstream.addr()).parse().unwrap();
    let gateway_addr =
        serve_h2c_with_extended_connect(Forwarder::new(gateway_client(), upstream_uri).unwrap())
            .await;
    let error = Client::new()
        .websocket(format!("ws://{gateway_addr}/chat"))
        .http2()
        .send()
        .await
        .unwrap_err();
    assert!(error.is_upgrade(), "{error:?}");
    assert!(error.to_string().contains("502"), "{error}");
}

#[tokio::test]
async fn an_extended_connect_for_another_protocol_is_not_implemented() {
    let upstream = TestServer::http1();
    let gateway_addr = serve_h2c_with_extended_connect(forwarder_to(&upstream)).await;

    let stream = tokio::net::TcpStream::connect(gateway_addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake::<_, _, BoxBody>(TokioExecutor, TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut request = Request::connect(format!("http://{gateway_addr}/tunnel"))
        .version(http::Version::HTTP_2)
        .body(empty())
        .unwrap();
    request
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("connect-udp"));
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
    assert_eq!(upstream.requests(), 0);
}

#[tokio::test]
async fn a_tunnel_silent_for_its_idle_timeout_is_closed_and_traffic_keeps_it_open() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let idle = Duration::from_secs(2);
    let (upstream_addr, upstream_task) = serve_with_upgrades(hyper::service::service_fn(
        move |mut request: Request<Incoming>| {
            let switched = hyper::upgrade::on(&mut request);
            tokio::spawn(async move {
                let mut io = TokioIo::new(switched.await.unwrap());
                let mut buffer = [0; 64];
                while let Ok(read) = io.read(&mut buffer).await {
                    if read == 0 || io.write_all(&buffer[..read]).await.is_err() {
                        return;
                    }
                }
            });
            let answer = Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header(header::CONNECTION, "upgrade")
                .header(header::UPGRADE, "echo")
                .body(empty())
                .unwrap();
            async move { Ok::<_, std::convert::Infallible>(answer) }
        },
    ))
    .await;
    let upstream: Uri = format!("http://{upstream_addr}/").parse().unwrap();
    let forwarder = Forwarder::new(gateway_client(), upstream)
        .unwrap()
        .tunnel_idle_timeout(idle);
    let (gateway_addr, gateway_task) = serve_with_upgrades(hyper::service::service_fn(
        move |request: Request<Incoming>| forwarder.clone().oneshot(request),
    ))
    .await;

    let mut answer = ask_for_echo_upgrade(gateway_addr).await;
    assert_eq!(answer.status(), StatusCode::SWITCHING_PROTOCOLS);
    let mut io = TokioIo::new(hyper::upgrade::on(&mut answer).await.unwrap());

    // Traffic every tenth of the idle timeout keeps the tunnel open well past it.
    for _ in 0..15 {
        io.write_all(b"tick").await.unwrap();
        let mut echoed = [0; 4];
        tokio::time::timeout(HANG_GUARD, io.read_exact(&mut echoed))
            .await
            .expect("the tunnel stalled")
            .unwrap();
        assert_eq!(&echoed, b"tick");
        tokio::time::sleep(idle / 10).await;
    }
    // Then silence: the gateway closes its side.
    let mut rest = Vec::new();
    // A reset is as much a close as a FIN here; either way nothing more arrives.
    let _end_or_reset = tokio::time::timeout(HANG_GUARD, io.read_to_end(&mut rest))
        .await
        .expect("an idle tunnel must be closed");
    assert!(rest.is_empty());
    upstream_task.abort();
    gateway_task.abort();
}
