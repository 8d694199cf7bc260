//! Upgrades and the WebSocket handshake: `101 Switching Protocols` over HTTP/1.1 and extended
//! CONNECT over HTTP/2, against in-process hyper servers that run tokio-tungstenite's framing
//! over the connection they hand over.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::convert::Infallible;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Method, Request, Response, StatusCode, Version, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use towline::towline_layers::trace::TraceLayer;
use towline::{Client, HttpCache, RetryConfig};
use towline_test_support::{Counter, TokioExecutor, TokioIo};

type Answer = Arc<dyn Fn(&Request<Incoming>) -> Response<Full<Bytes>> + Send + Sync>;

/// A server on 127.0.0.1:0 whose `answer` decides each response; a `101` (HTTP/1) or a `200`
/// to a CONNECT (HTTP/2) hands the connection to a WebSocket echo, or to a byte echo when
/// the upgrade is not to `websocket`. Counts the connections it accepts and the requests it
/// sees.
struct Server {
    addr: std::net::SocketAddr,
    accepts: Counter,
    requests: Counter,
    /// The ALPN protocol of each TLS connection, in accept order.
    alpns: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
enum Wire {
    Http1,
    H2c {
        extended_connect: bool,
    },
    /// TLS; HTTP/2 or HTTP/1.1 as ALPN decides.
    Tls(Arc<rustls::ServerConfig>),
}

impl Server {
    async fn start(
        wire: Wire,
        answer: impl Fn(&Request<Incoming>) -> Response<Full<Bytes>> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepts = Counter::new();
        let requests = Counter::new();
        let answer: Answer = Arc::new(answer);
        let alpns: Arc<std::sync::Mutex<Vec<Vec<u8>>>> = Arc::default();
        let task = tokio::spawn({
            let accepts = accepts.clone();
            let requests = requests.clone();
            let alpns = Arc::clone(&alpns);
            async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    accepts.incr();
                    let (answer, requests) = (answer.clone(), requests.clone());
                    let Wire::Tls(config) = &wire else {
                        tokio::spawn(serve(TokioIo::new(stream), wire.clone(), answer, requests));
                        continue;
                    };
                    let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
                    let alpns = Arc::clone(&alpns);
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        let alpn = tls.get_ref().1.alpn_protocol().unwrap_or_default().to_vec();
                        alpns.lock().unwrap().push(alpn.clone());
                        let wire = if alpn == b"h2" {
                            Wire::H2c {
                                extended_connect: false,
                            }
                        } else {
                            Wire::Http1
                        };
                        serve(TokioIo::new(tls), wire, answer, requests).await;
                    });
                }
            }
        });
        Self {
            addr,
            accepts,
            requests,
            alpns,
            task,
        }
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }
}

async fn serve<IO>(io: IO, wire: Wire, answer: Answer, requests: Counter)
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |mut request: Request<Incoming>| {
        requests.incr();
        let response = answer(&request);
        let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS
            || request.method() == Method::CONNECT && response.status() == StatusCode::OK;
        if switching {
            let websocket = request.method() == Method::CONNECT
                || request
                    .headers()
                    .get(header::UPGRADE)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
            let upgrade = hyper::upgrade::on(&mut request);
            tokio::spawn(async move {
                let Ok(upgraded) = upgrade.await else { return };
                let io = TokioIo::new(upgraded);
                if websocket {
                    echo_frames(io).await;
                } else {
                    let (mut reader, mut writer) = tokio::io::split(io);
                    let _ = tokio::io::copy(&mut reader, &mut writer).await;
                }
            });
        }
        async move { Ok::<_, Infallible>(response) }
    });
    match wire {
        Wire::Http1 => {
            let _ = http1::Builder::new()
                .serve_connection(io, service)
                .with_upgrades()
                .await;
        }
        Wire::H2c { extended_connect } => {
            let mut builder = http2::Builder::new(TokioExecutor);
            if extended_connect {
                builder.enable_connect_protocol();
            }
            let _ = builder.serve_connection(io, service).await;
        }
        Wire::Tls(_) => unreachable!("TLS is unwrapped in the accept loop"),
    }
}

/// Sends every text and binary frame back until the client closes.
async fn echo_frames<IO>(io: IO)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut socket = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    while let Some(Ok(message)) = socket.next().await {
        if (message.is_text() || message.is_binary()) && socket.send(message).await.is_err() {
            return;
        }
    }
}

/// The answer a conforming server gives to a WebSocket handshake over HTTP/1.1, choosing
/// `protocol` and `extensions` (as header values, or none).
fn accept_websocket(
    request: &Request<Incoming>,
    protocol: Option<&str>,
    extensions: Option<&str>,
) -> Response<Full<Bytes>> {
    let key = request
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|key| derive_accept_key(key.as_bytes()))
        .unwrap_or_default();
    let mut response = switching("websocket");
    let headers = response.headers_mut();
    headers.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::try_from(key).unwrap(),
    );
    if let Some(protocol) = protocol {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol.parse().unwrap());
    }
    if let Some(extensions) = extensions {
        headers.insert(
            header::SEC_WEBSOCKET_EXTENSIONS,
            extensions.parse().unwrap(),
        );
    }
    response
}

fn switching(protocol: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, protocol)
        .body(Full::default())
        .unwrap()
}

fn ok(body: &'static str) -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::from_static(body.as_bytes())))
}

/// Sends a text and a binary frame over `io` and checks both come back.
async fn assert_echoes(io: towline::Upgraded) {
    let mut socket = WebSocketStream::from_raw_socket(io, Role::Client, None).await;
    socket
        .send(Message::text("hello over the upgrade"))
        .await
        .unwrap();
    socket
        .send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    let text = socket.next().await.unwrap().unwrap();
    assert_eq!(text.into_text().unwrap().as_str(), "hello over the upgrade");
    let binary = socket.next().await.unwrap().unwrap();
    assert_eq!(binary.into_data().as_ref(), [0u8, 1, 2, 255]);
    socket.close(None).await.unwrap();
}

#[tokio::test]
async fn websocket_over_http1_echoes_frames_both_ways() {
    let server = Server::start(Wire::Http1, |request| {
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.version(), Version::HTTP_11);
        assert_eq!(request.uri().path(), "/chat");
        assert_eq!(request.headers()[header::SEC_WEBSOCKET_VERSION], "13");
        let key = request.headers()[header::SEC_WEBSOCKET_KEY].as_bytes();
        // 16 random bytes, base64: 24 characters ending in "==".
        assert_eq!(key.len(), 24);
        assert!(key.ends_with(b"=="));
        accept_websocket(request, None, None)
    })
    .await;
    let client = Client::new();
    let handshake = client
        .websocket(server.url("ws", "/chat"))
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(handshake.version(), Version::HTTP_11);
    assert_eq!(handshake.protocol(), None);
    assert_eq!(handshake.extensions(), None);
    assert_echoes(handshake.into_io()).await;
}

#[tokio::test]
async fn each_handshake_sends_a_fresh_key() {
    let keys = Arc::new(std::sync::Mutex::new(Vec::new()));
    let server = Server::start(Wire::Http1, {
        let keys = keys.clone();
        move |request| {
            let key = request.headers()[header::SEC_WEBSOCKET_KEY].clone();
            keys.lock().unwrap().push(key);
            accept_websocket(request, None, None)
        }
    })
    .await;
    let client = Client::new();
    for _ in 0..3 {
        client
            .websocket(server.url("ws", "/"))
            .send()
            .await
            .unwrap();
    }
    let keys = keys.lock().unwrap();
    assert_eq!(keys.len(), 3);
    assert!(
        keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2],
        "{keys:?}"
    );
}

#[tokio::test]
async fn an_upgraded_connection_never_returns_to_the_pool() {
    let server = Server::start(Wire::Http1, |request| {
        if request.headers().contains_key(header::UPGRADE) {
            accept_websocket(request, None, None)
        } else {
            ok("plain")
        }
    })
    .await;
    let client = Client::new();
    let handshake = client
        .websocket(server.url("ws", "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(server.accepts.get(), 1);
    // The next request cannot have the upgraded connection: it opens a second one...
    let text = client
        .get(server.url("http", "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "plain");
    assert_eq!(server.accepts.get(), 2);
    // ...which is pooled as usual.
    client
        .get(server.url("http", "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(server.accepts.get(), 2);
    // And the upgraded connection is still the WebSocket's.
    assert_echoes(handshake.into_io()).await;
}

#[tokio::test]
async fn a_pooled_connection_can_be_upgraded_and_then_leaves_the_pool() {
    let server = Server::start(Wire::Http1, |request| {
        if request.headers().contains_key(header::UPGRADE) {
            accept_websocket(request, None, None)
        } else {
            ok("plain")
        }
    })
    .await;
    let client = Client::new();
    client
        .get(server.url("http", "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let handshake = client
        .websocket(server.url("ws", "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        server.accepts.get(),
        1,
        "the handshake reused the idle connection"
    );
    client
        .get(server.url("http", "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(server.accepts.get(), 2);
    assert_echoes(handshake.into_io()).await;
}

#[tokio::test]
async fn a_wrong_accept_is_an_upgrade_error() {
    let server = Server::start(Wire::Http1, |_| {
        let mut response = switching("websocket");
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_static("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        );
        response
    })
    .await;
    let error = Client::new()
        .websocket(server.url("ws", "/"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_upgrade(), "{error:?}");
    assert!(
        error.to_string().contains("Sec-WebSocket-Accept"),
        "{error}"
    );
}

#[tokio::test]
async fn a_missing_accept_is_an_upgrade_error() {
    let server = Server::start(Wire::Http1, |_| switching("websocket")).await;
    let error = Client::new()
        .websocket(server.url("ws", "/"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_upgrade(), "{error:?}");
    assert!(
        error.to_string().contains("no Sec-WebSocket-Accept"),
        "{error}"
    );
}

#[tokio::test]
async fn a_101_to_another_protocol_is_an_upgrade_error() {
    let server = Server::start(Wire::Http1, |request| {
        let mut response = accept_websocket(request, None, None);
        response
            .headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        response
    })
    .await;
    let error = Client::new()
        .websocket(server.url("ws", "/"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_upgrade(), "{error:?}");
    assert!(error.to_string().contains("Upgrade: websocket"), "{error}");
}

#[tokio::test]
async fn the_subprotocol_must_be_one_offered() {
    let server = Server::start(Wire::Http1, |request| {
        let chosen = match request.uri().path() {
            "/polite" => "chat.v1",
            _ => "superchat",
        };
        accept_websocket(request, Some(chosen), None)
    })
    .await;
    let client = Client::new();
    let handshake = client
        .websocket(server.url("ws", "/polite"))
        .protocols(["chat.v2", "chat.v1"])
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.protocol(), Some("chat.v1"));
    assert_echoes(handshake.into_io()).await;

    let error = client
        .websocket(server.url("ws", "/rogue"))
        .protocols(["chat.v2", "chat.v1"])
        .send()
        .await
        .unwrap_err();
    assert!(error.is_upgrade(), "{error:?}");
    assert!(error.to_string().contains("\"superchat\""), "{error}");
    // Offering none, any choice is one not offered.
    let error = client
        .websocket(server.url("ws", "/polite"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_upgrade(), "{error:?}");
}

#[tokio::test]
async fn the_offer_is_sent_as_given_and_checked_before_sending() {
    let server = Server::start(Wire::Http1, |request| {
        assert_eq!(
            request.headers()[header::SEC_WEBSOCKET_PROTOCOL],
            "chat.v2, chat.v1"
        );
        assert_eq!(
            request.headers()[header::SEC_WEBSOCKET_EXTENSIONS],
            "permessage-deflate; client_max_window_bits"
        );
        accept_websocket(request, None, None)
    })
    .await;
    let client = Client::new();
    client
        .websocket(server.url("ws", "/"))
        .protocols(["chat.v2", "chat.v1"])
        .extensions("permessage-deflate; client_max_window_bits")
        .send()
        .await
        .unwrap();
    assert_eq!(server.requests.get(), 1);
    for bad in [
        client
            .websocket(server.url("ws", "/"))
            .protocols(["not a token"]),
        client
            .websocket(server.url("ws", "/"))
            .extensions("x; a=\"unclosed"),
        client.websocket("ftp://example.com/"),
    ] {
        let error = bad.send().await.unwrap_err();
        assert!(error.is_builder(), "{error:?}");
    }
    assert_eq!(server.requests.get(), 1, "nothing bad reached the server");
}

#[tokio::test]
async fn extensions_must_be_ones_offered() {
    let server = Server::start(Wire::Http1, |request| {
        let answer = match request.uri().path() {
            "/deflate" => {
                "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
            }
            _ => "x-webkit-deflate-frame",
        };
        accept_websocket(request, None, Some(answer))
    })
    .await;
    let client = Client::new();
    let offer = "permessage-deflate; client_max_window_bits";
    let handshake = client
        .websocket(server.url("ws", "/deflate"))
        .extensions(offer)
        .send()
        .await
        .unwrap();
    assert_eq!(
        handshake.extensions(),
        Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
    );
    let error = client
        .websocket(server.url("ws", "/other"))
        .extensions(offer)
        .send()
        .await
        .unwrap_err();
    assert!(error.is_upgrade(), "{error:?}");
    assert!(
        error.to_string().contains("x-webkit-deflate-frame"),
        "{error}"
    );
    // Nothing offered: any extension in the answer is refused.
    let error = client
        .websocket(server.url("ws", "/deflate"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_upgrade(), "{error:?}");
}

#[tokio::test]
async fn no_101_is_an_upgrade_error() {
    let server = Server::start(Wire::Http1, |_| ok("no upgrade here")).await;
    let client = Client::new();
    let error = client
        .websocket(server.url("ws", "/"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_upgrade(), "{error:?}");
    assert!(error.to_string().contains("200 OK"), "{error}");

    let response = client
        .get(server.url("http", "/"))
        .upgrade("echo")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let error = response.upgrade().await.unwrap_err();
    assert!(error.is_upgrade(), "{error:?}");
    assert!(!error.is_request() && !error.is_connect(), "{error:?}");
    assert_eq!(error.url().map(|u| u.path()), Some("/"));
}

#[tokio::test]
async fn a_generic_upgrade_speaks_tokio_and_hyper_io() {
    let server = Server::start(Wire::Http1, |request| {
        assert_eq!(request.headers()[header::UPGRADE], "echo");
        assert_eq!(request.headers()[header::CONNECTION], "upgrade");
        switching("echo")
    })
    .await;
    let response = Client::new()
        .get(server.url("http", "/"))
        .upgrade("echo")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let mut io = response.upgrade().await.unwrap();
    // Written through hyper's traits, read back through tokio's.
    let mut written = 0;
    while written < 5 {
        written +=
            poll_fn(|cx| hyper::rt::Write::poll_write(Pin::new(&mut io), cx, &b"hyper"[written..]))
                .await
                .unwrap();
    }
    let mut echoed = [0; 5];
    io.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"hyper");
    // Written through tokio's, read back through hyper's.
    io.write_all(b"tokio").await.unwrap();
    let mut buffer = [0u8; 5];
    let mut filled = 0;
    while filled < 5 {
        let mut read = hyper::rt::ReadBuf::new(&mut buffer[filled..]);
        poll_fn(|cx| hyper::rt::Read::poll_read(Pin::new(&mut io), cx, read.unfilled()))
            .await
            .unwrap();
        assert!(!read.filled().is_empty(), "the echo ended early");
        filled += read.filled().len();
    }
    assert_eq!(&buffer, b"tokio");
}

#[tokio::test]
async fn websocket_over_http2_extended_connect_on_a_pooled_connection() {
    let server = Server::start(
        Wire::H2c {
            extended_connect: true,
        },
        |request| {
            if request.method() == Method::CONNECT {
                assert_eq!(
                    request
                        .extensions()
                        .get::<hyper::ext::Protocol>()
                        .map(|p| p.as_str()),
                    Some("websocket")
                );
                assert_eq!(request.uri().path(), "/chat");
                assert_eq!(request.headers()[header::SEC_WEBSOCKET_VERSION], "13");
                assert!(!request.headers().contains_key(header::SEC_WEBSOCKET_KEY));
                let mut response = ok("");
                response.headers_mut().insert(
                    header::SEC_WEBSOCKET_PROTOCOL,
                    HeaderValue::from_static("chat.v1"),
                );
                return response;
            }
            ok("plain over h2")
        },
    )
    .await;
    let client = Client::new();
    let first = client
        .websocket(server.url("ws", "/chat"))
        .http2()
        .protocols(["chat.v1"])
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.version(), Version::HTTP_2);
    assert_eq!(first.protocol(), Some("chat.v1"));
    // A second WebSocket and a plain request share the one connection.
    let second = client
        .websocket(server.url("ws", "/chat"))
        .http2()
        .protocols(["chat.v1"])
        .send()
        .await
        .unwrap();
    let plain = client
        .get(server.url("http", "/"))
        .version(Version::HTTP_2)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.text().await.unwrap(), "plain over h2");
    assert_eq!(server.accepts.get(), 1);
    assert_echoes(first.into_io()).await;
    assert_echoes(second.into_io()).await;
}

#[tokio::test]
async fn extended_connect_needs_the_servers_setting() {
    let server = Server::start(
        Wire::H2c {
            extended_connect: false,
        },
        |_| ok(""),
    )
    .await;
    let error = Client::new()
        .websocket(server.url("ws", "/chat"))
        .http2()
        .send()
        .await
        .unwrap_err();
    assert!(error.is_upgrade(), "{error:?}");
    assert!(error.to_string().contains("extended CONNECT"), "{error}");
    assert_eq!(server.requests.get(), 0, "nothing was sent");
}

#[tokio::test]
async fn an_h2_refusal_is_an_upgrade_error() {
    let server = Server::start(
        Wire::H2c {
            extended_connect: true,
        },
        |_| {
            let mut response = ok("go away");
            *response.status_mut() = StatusCode::FORBIDDEN;
            response
        },
    )
    .await;
    let error = Client::new()
        .websocket(server.url("ws", "/"))
        .http2()
        .send()
        .await
        .unwrap_err();
    assert!(error.is_upgrade(), "{error:?}");
    assert!(error.to_string().contains("403"), "{error}");
}

/// A client with every layer configured: a `101` and the connection in its extensions must
/// come through all of them.
fn client_with_every_layer() -> Client {
    Client::builder()
        .cache(HttpCache::new())
        .cookie_store(true)
        .hsts(true)
        .retry(RetryConfig::new().max_retries(2))
        .timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(30))
        .timings(true)
        .trace(TraceLayer::new())
        .max_requests_per_sec(1000)
        .max_download_speed(10_000_000)
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_layer_passes_a_101_through() {
    let server = Server::start(Wire::Http1, |request| {
        if request.headers().contains_key(header::UPGRADE) {
            let mut response = accept_websocket(request, None, None);
            response
                .headers_mut()
                .insert(header::SET_COOKIE, HeaderValue::from_static("seen=1"));
            return response;
        }
        // A fresh, cacheable page at the same URL.
        let mut response = ok("cached page");
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=600"),
        );
        response
    })
    .await;
    let client = client_with_every_layer();
    let page = client
        .get(server.url("http", "/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.text().await.unwrap(), "cached page");
    // The cache holds a fresh response for the URL; the handshake must still reach the server.
    let handshake = client
        .websocket(server.url("ws", "/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(server.requests.get(), 2);
    assert_echoes(handshake.into_io()).await;
}

#[tokio::test]
async fn a_redirect_to_the_websocket_endpoint_is_followed() {
    let server = Server::start(Wire::Http1, |request| match request.uri().path() {
        "/old" => Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header(header::LOCATION, "/new")
            .body(Full::default())
            .unwrap(),
        _ => accept_websocket(request, None, None),
    })
    .await;
    let handshake = client_with_every_layer()
        .websocket(server.url("ws", "/old"))
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_echoes(handshake.into_io()).await;
}

#[tokio::test]
async fn a_request_builder_becomes_a_handshake_keeping_its_settings() {
    let server = Server::start(Wire::Http1, |request| {
        assert_eq!(request.headers()[header::AUTHORIZATION], "Bearer s3cret");
        assert_eq!(request.headers()[header::ORIGIN], "https://app.example");
        assert_eq!(request.uri().path(), "/api/live");
        accept_websocket(request, None, None)
    })
    .await;
    // A POST with a body becomes the handshake's GET without one.
    let handshake = Client::new()
        .post(server.url("http", "/api/live"))
        .bearer_auth("s3cret")
        .body("ignored")
        .websocket()
        .header(header::ORIGIN, "https://app.example")
        .send()
        .await
        .unwrap();
    assert_echoes(handshake.into_io()).await;
    // A relative WebSocket URL resolves against the client's base URL.
    let client = Client::builder()
        .base_url(server.url("http", "/api/"))
        .build()
        .unwrap();
    let handshake = client
        .websocket("live")
        .header(header::AUTHORIZATION, "Bearer s3cret")
        .header(header::ORIGIN, "https://app.example")
        .send()
        .await
        .unwrap();
    assert_echoes(handshake.into_io()).await;
    assert_eq!(server.requests.get(), 2);
}

#[tokio::test]
async fn a_wss_handshake_asks_for_http1_even_where_h2_is_offered() {
    let pki = towline_test_support::TestPki::generate();
    let config = pki.server_config(&[b"h2", b"http/1.1"], false);
    let server = Server::start(Wire::Tls(config), |request| {
        if request.headers().contains_key(header::UPGRADE) {
            accept_websocket(request, None, None)
        } else {
            ok("plain over tls")
        }
    })
    .await;
    let client = Client::builder()
        .add_root_certificate(towline::Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    // The server prefers h2, and a plain request gets it...
    let plain = client.get(server.url("https", "/")).send().await.unwrap();
    assert_eq!(plain.version(), Version::HTTP_2);
    // ...but a WebSocket over HTTP/1.1 needs `Upgrade`, which HTTP/2 has not.
    let handshake = client
        .websocket(server.url("wss", "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.version(), Version::HTTP_11);
    assert_eq!(
        *server.alpns.lock().unwrap(),
        [b"h2".to_vec(), b"http/1.1".to_vec()]
    );
    assert_echoes(handshake.into_io()).await;
}
