#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! HTTP/3 through the `towline::Client` facade against the in-process `Http3Server` of
//! `towline-test-support`: version selection, bodies streamed both ways, trailers, one
//! connection shared by concurrent requests, reconnects, refused streams, connect and TLS
//! failures, and the facade's layers working unchanged over HTTP/3.
#![cfg(feature = "http3")]

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, Version};
use http_body::Frame;
use http_body_util::StreamBody;
use towline::{Body, ClientBuilder, Http3Config, Identity, Proxy, TokioClient};
use towline_layers::retry::RetryConfig;
use towline_layers::trace::TraceLayer;
use towline_test_support::{GZIPPED_TEXT, Http3Server, TestPki};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use common::{ca, echo_of, get, header_values, pattern, wait_until, within};

/// A client trusting `pki`, sending every `https` request over HTTP/3 to `server`.
fn h3_client(pki: &TestPki, server: &Http3Server) -> TokioClient {
    h3_builder(pki, server).build().unwrap()
}

fn h3_builder(pki: &TestPki, server: &Http3Server) -> ClientBuilder {
    TokioClient::builder()
        .add_root_certificate(ca(pki))
        .resolve("localhost", server.addr())
        .http3_prior_knowledge()
}

// ---------------------------------------------------------------------------
// version selection and bodies
// ---------------------------------------------------------------------------

#[tokio::test]
async fn prior_knowledge_gets_over_http3() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_client(&pki, &server);

    let response = get(&client, &server.url("/echo?q=1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), Version::HTTP_3);
    assert_eq!(response.remote_addr(), Some(server.addr()));
    let echo = echo_of(response).await;
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/echo");
    assert_eq!(echo["query"], "q=1");
    assert_eq!(echo["sni"], "localhost");
    assert_eq!(server.connections(), 1);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn a_request_asks_for_http3_with_its_version() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    // No prior knowledge: only the request's version chooses HTTP/3.
    let client = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .resolve("localhost", server.addr())
        .build()
        .unwrap();

    let response = within(
        client
            .get(server.url("/bytes/1000"))
            .version(Version::HTTP_3)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.version(), Version::HTTP_3);
    assert_eq!(response.bytes().await.unwrap(), pattern(0, 1000));
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn http3_needs_an_https_url() {
    let client = TokioClient::new();
    let error = within(
        client
            .get("http://127.0.0.1:9/echo")
            .version(Version::HTTP_3)
            .send(),
    )
    .await
    .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    assert!(error.to_string().contains("https") || format!("{error:?}").contains("https"));
}

#[tokio::test]
async fn large_bodies_stream_both_ways() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_client(&pki, &server);

    // 8 MiB, four times the stream window, sent in 64 KiB chunks the server echoes as they
    // arrive, and read back chunk by chunk.
    const CHUNK: usize = 64 * 1024;
    const TOTAL: usize = 8 * 1024 * 1024;
    let chunks = futures_util::stream::iter(
        (0..TOTAL / CHUNK).map(|i| Ok::<_, Infallible>(Bytes::from(pattern(i * CHUNK, CHUNK)))),
    );
    let response = within(
        client
            .post(server.url("/stream-echo"))
            .body(Body::wrap_stream(chunks))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.version(), Version::HTTP_3);
    let mut stream = response.bytes_stream();
    let mut received = Vec::with_capacity(TOTAL);
    while let Some(chunk) = within(stream.next()).await {
        received.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(received.len(), TOTAL);
    assert!(received == pattern(0, TOTAL), "the echoed body differs");
}

#[tokio::test]
async fn request_and_response_bodies_interleave() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_client(&pki, &server);

    // Each chunk is sent only once the echo of the one before has been read: a client that
    // held back the request body, or the response until the request ended, would hang here.
    let (chunks, receiver) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let chunk = receiver.recv().await?;
        Some((Ok::<_, Infallible>(chunk), receiver))
    });
    chunks.send(Bytes::from_static(b"ping 1")).unwrap();
    let mut response = within(
        client
            .post(server.url("/stream-echo"))
            .body(Body::wrap_stream(body))
            .send(),
    )
    .await
    .unwrap();
    for round in 1..=3 {
        let echoed = within(response.chunk()).await.unwrap().unwrap();
        assert_eq!(echoed, format!("ping {round}").as_bytes());
        if round < 3 {
            chunks
                .send(Bytes::from(format!("ping {}", round + 1)))
                .unwrap();
        }
    }
    drop(chunks);
    assert_eq!(within(response.chunk()).await.unwrap(), None);
}

#[tokio::test]
async fn response_headers_over_the_configured_limit_fail_the_request() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_builder(&pki, &server)
        .http3_config(Http3Config::default().with_max_field_section_size(1024))
        .build()
        .unwrap();

    let small = get(&client, &server.url("/headers?x-small=1"))
        .await
        .unwrap();
    assert_eq!(small.headers()["x-small"], "1");
    let big = "b".repeat(4096);
    let error = get(&client, &server.url(&format!("/headers?x-big={big}")))
        .await
        .unwrap_err();
    assert!(error.is_request(), "{error:?}");
}

#[tokio::test]
async fn the_body_size_limit_holds_over_http3() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_builder(&pki, &server)
        .max_body_size(1000)
        .build()
        .unwrap();

    let fits = get(&client, &server.url("/bytes/1000")).await.unwrap();
    assert_eq!(fits.bytes().await.unwrap().len(), 1000);
    // `/chunks` sends no Content-Length: the limit is met while reading.
    let too_big = get(&client, &server.url("/chunks?n=10&size=200"))
        .await
        .unwrap();
    let error = within(too_big.bytes()).await.unwrap_err();
    assert!(error.is_body(), "{error:?}");
}

#[tokio::test]
async fn an_idle_connection_expires_from_the_pool() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_builder(&pki, &server)
        .pool_idle_timeout(Duration::from_millis(50))
        .build()
        .unwrap();

    get(&client, &server.url("/echo")).await.unwrap();
    // Well past the idle timeout: the pool's reaper has closed the connection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = get(&client, &server.url("/echo")).await.unwrap();
    assert_eq!(echo_of(response).await["connection_id"], 2);
}

#[tokio::test]
async fn post_with_a_buffered_body() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_client(&pki, &server);

    let response = within(
        client
            .post(server.url("/echo"))
            .header("x-test", "h3")
            .body("hello over h3")
            .send(),
    )
    .await
    .unwrap();
    let echo = echo_of(response).await;
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], "hello over h3");
    assert_eq!(header_values(&echo, "x-test"), ["h3"]);
    // A body of known size is declared, as over HTTP/1.1 and HTTP/2, for servers and proxies
    // in front of origins that need it; a GET without a body declares nothing.
    assert_eq!(header_values(&echo, "content-length"), ["13"]);
    let get = echo_of(get(&client, &server.url("/echo")).await.unwrap()).await;
    assert!(header_values(&get, "content-length").is_empty());
}

#[tokio::test]
async fn trailers_both_ways() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_client(&pki, &server);

    // The server's trailers.
    let mut response = get(&client, &server.url("/trailers")).await.unwrap();
    let mut body = Vec::new();
    while let Some(chunk) = within(response.chunk()).await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    assert_eq!(body, b"hello");
    assert_eq!(
        response.trailers().and_then(|t| t.get("x-checksum")),
        Some(&HeaderValue::from_static("abc"))
    );

    // Ours, echoed back as the response's trailers.
    let mut trailers = HeaderMap::new();
    trailers.insert("x-sent", HeaderValue::from_static("after the body"));
    let frames = futures_util::stream::iter([
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"payload"))),
        Ok(Frame::trailers(trailers)),
    ]);
    let mut response = within(
        client
            .post(server.url("/stream-echo"))
            .body(Body::wrap(StreamBody::new(frames)))
            .send(),
    )
    .await
    .unwrap();
    let mut body = Vec::new();
    while let Some(chunk) = within(response.chunk()).await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    assert_eq!(body, b"payload");
    assert_eq!(
        response.trailers().and_then(|t| t.get("x-sent")),
        Some(&HeaderValue::from_static("after the body"))
    );
}

// ---------------------------------------------------------------------------
// the connection: sharing, reconnects, refusals
// ---------------------------------------------------------------------------

#[tokio::test]
async fn concurrent_requests_share_one_connection() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_client(&pki, &server);

    let requests = (0..20).map(|i| {
        let client = client.clone();
        let url = server.url(&format!("/bytes/{}", 1000 + i));
        tokio::spawn(async move {
            let response = get(&client, &url).await.unwrap();
            assert_eq!(response.version(), Version::HTTP_3);
            response.bytes().await.unwrap().len()
        })
    });
    let lengths: Vec<usize> = futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(lengths, (0..20).map(|i| 1000 + i).collect::<Vec<_>>());
    assert_eq!(server.requests(), 20);
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn a_per_host_cap_counts_the_shared_connection_once() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_builder(&pki, &server)
        .pool_max_connections_per_host(1)
        .build()
        .unwrap();

    let requests = (0..5).map(|_| {
        let client = client.clone();
        let url = server.url("/echo");
        tokio::spawn(async move { get(&client, &url).await.unwrap().status() })
    });
    for status in futures_util::future::join_all(requests).await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn a_closed_connection_is_replaced() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_client(&pki, &server);

    let response = get(&client, &server.url("/echo")).await.unwrap();
    assert_eq!(echo_of(response).await["connection_id"], 1);
    server.close_connections();

    let response = get(&client, &server.url("/echo")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(echo_of(response).await["connection_id"], 2);
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn after_goaway_requests_go_to_a_new_connection() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_client(&pki, &server);

    let response = get(&client, &server.url("/goaway")).await.unwrap();
    assert_eq!(response.text().await.unwrap(), "goaway sent");
    // Whether the client saw the GOAWAY before opening its next stream or the server
    // rejected that stream, the request is sent again on a new connection.
    for _ in 0..3 {
        let response = get(&client, &server.url("/echo")).await.unwrap();
        assert_eq!(echo_of(response).await["connection_id"], 2);
    }
    assert_eq!(server.connections(), 2);
}

#[test]
fn a_client_outlives_the_runtime_its_quic_endpoint_ran_on() {
    // The server runs on a runtime of its own; the client on two in turn, the first shut
    // down (and with it the endpoint's driver and the connection's) before the second starts.
    let servers = tokio::runtime::Runtime::new().unwrap();
    let pki = TestPki::generate();
    let server = servers.block_on(async { Http3Server::start(&pki) });
    let client = h3_client(&pki, &server);
    for _ in 0..2 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let body = runtime.block_on(async {
            let response = get(&client, &server.url("/echo")).await.unwrap();
            assert_eq!(response.version(), Version::HTTP_3);
            response.text().await.unwrap()
        });
        assert!(body.contains("/echo"), "{body}");
    }
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn a_rejected_get_is_sent_again_on_a_new_connection() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_client(&pki, &server);

    let response = get(&client, &server.url("/reject-once")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "accepted");
    assert_eq!(server.requests(), 2);
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn a_rejected_post_is_refused_and_the_retry_layer_sends_it_again() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);

    // Without retries, the refusal is the caller's: not processed, so not ambiguous.
    let client = h3_client(&pki, &server);
    let error = within(client.post(server.url("/reject-once")).body("once").send())
        .await
        .unwrap_err();
    assert!(!error.is_connect(), "{error:?}");
    assert!(!error.is_maybe_processed(), "{error:?}");

    // A fresh server rejects its first request again; the retry layer resends the POST.
    let server = Http3Server::start(&pki);
    let client = h3_builder(&pki, &server)
        .retry(RetryConfig::new().initial_backoff(Duration::ZERO))
        .build()
        .unwrap();
    let response = within(client.post(server.url("/reject-once")).body("twice").send())
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "accepted");
    assert_eq!(server.requests(), 2);
}

// ---------------------------------------------------------------------------
// failures to connect
// ---------------------------------------------------------------------------

#[tokio::test]
async fn addresses_are_tried_in_turn() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    // The first address never answers; the next one is tried while it still waits.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let client = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .resolve_to_addrs("localhost", &[silent.local_addr().unwrap(), server.addr()])
        .http3_prior_knowledge()
        .build()
        .unwrap();

    let response = get(&client, &server.url("/echo")).await.unwrap();
    assert_eq!(response.remote_addr(), Some(server.addr()));
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn one_client_reaches_ipv4_and_ipv6_servers() {
    let pki = TestPki::generate();
    let v4 = Http3Server::start(&pki);
    let v6 = Http3Server::start_on(&pki, "::1".parse().unwrap());
    let client = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .http3_prior_knowledge()
        .build()
        .unwrap();

    for server in [&v4, &v6] {
        let url = format!("https://{}/echo", server.addr());
        let response = get(&client, &url).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_3);
        assert_eq!(response.remote_addr(), Some(server.addr()));
    }
    // Both connections went out of the client's one UDP socket.
    let v4_peer = echo_of(
        get(&client, &format!("https://{}/echo", v4.addr()))
            .await
            .unwrap(),
    )
    .await["peer_addr"]
        .as_str()
        .unwrap()
        .parse::<std::net::SocketAddr>()
        .unwrap();
    let v6_peer = echo_of(
        get(&client, &format!("https://{}/echo", v6.addr()))
            .await
            .unwrap(),
    )
    .await["peer_addr"]
        .as_str()
        .unwrap()
        .parse::<std::net::SocketAddr>()
        .unwrap();
    assert_eq!(v4_peer.port(), v6_peer.port());
}

#[tokio::test]
async fn client_certificates_go_over_quic() {
    let pki = TestPki::generate();
    let server = Http3Server::requiring_client_cert(&pki);

    let without = h3_client(&pki, &server);
    // The server refuses the handshake only once our side of it is done, so the first
    // request learns of it: still a TLS connect error, never a maybe-processed request.
    let error = get(&without, &server.url("/echo")).await.unwrap_err();
    assert!(error.is_connect() && error.is_tls(), "{error:?}");
    assert!(!error.is_maybe_processed(), "{error:?}");
    assert_eq!(server.requests(), 0);

    let with = h3_builder(&pki, &server)
        .identity(Identity::from_pem(pki.client_identity_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let response = get(&with, &server.url("/echo")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn danger_accept_invalid_certs_applies_to_quic() {
    let server = Http3Server::with_tls(TestPki::self_signed_server_config(&[b"h3"]));
    let client = TokioClient::builder()
        .resolve("localhost", server.addr())
        .danger_accept_invalid_certs(true)
        .http3_prior_knowledge()
        .build()
        .unwrap();

    let response = get(&client, &server.url("/echo")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_3);
}

#[tokio::test]
async fn connect_timeout_covers_a_silent_udp_port() {
    // A bound UDP socket nobody reads: the handshake gets no answer.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let client = TokioClient::builder()
        .http3_prior_knowledge()
        .connect_timeout(Duration::from_millis(300))
        .build()
        .unwrap();

    let error = get(&client, &format!("https://127.0.0.1:{port}/"))
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    assert!(error.is_timeout(), "{error:?}");
}

#[tokio::test]
async fn http3_does_not_go_through_a_proxy() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_builder(&pki, &server)
        .proxy(Proxy::all("http://127.0.0.1:9").unwrap())
        .build()
        .unwrap();

    let error = get(&client, &server.url("/echo")).await.unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    assert!(format!("{error:?}").contains("proxy"), "{error:?}");
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error() {
    let server = Http3Server::with_tls(TestPki::self_signed_server_config(&[b"h3"]));
    let pki = TestPki::generate();
    let client = h3_client(&pki, &server);

    let error = get(&client, &server.url("/echo")).await.unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    assert!(error.is_tls(), "{error:?}");
    assert_eq!(server.requests(), 0);
}

// ---------------------------------------------------------------------------
// the facade's layers over HTTP/3
// ---------------------------------------------------------------------------

#[tokio::test]
async fn decompression_decodes_an_http3_body() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_client(&pki, &server);

    let response = get(&client, &server.url("/gzip")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_3);
    assert_eq!(response.text().await.unwrap(), GZIPPED_TEXT);
}

#[tokio::test]
async fn cookies_are_stored_and_sent_over_http3() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_builder(&pki, &server)
        .cookie_store(true)
        .build()
        .unwrap();

    let response = get(&client, &server.url("/headers?set-cookie=session%3Dh3"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let echo = echo_of(get(&client, &server.url("/echo")).await.unwrap()).await;
    assert_eq!(header_values(&echo, "cookie"), ["session=h3"]);
}

#[tokio::test]
async fn redirects_are_followed_over_http3() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_client(&pki, &server);

    let response = get(&client, &server.url("/redirect?to=/echo%3Fhop%3D2"))
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_3);
    assert_eq!(response.url().path(), "/echo");
    let echo = echo_of(response).await;
    assert_eq!(echo["query"], "hop=2");
    assert_eq!(server.requests(), 2);
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn timings_report_the_quic_handshake() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_builder(&pki, &server).timings(true).build().unwrap();

    let response = get(&client, &server.url("/echo")).await.unwrap();
    let timings = response.timings().expect("the timings layer is on");
    assert!(timings.quic.is_some(), "{timings:?}");
    assert_eq!(timings.tcp, None, "{timings:?}");
    assert_eq!(timings.tls, None, "{timings:?}");
    // `localhost` came from the override map: a resolution of no length.
    assert_eq!(timings.dns, Some(Duration::ZERO), "{timings:?}");

    // A reused connection has no phases of its own.
    let response = get(&client, &server.url("/echo")).await.unwrap();
    let timings = response.timings().expect("the timings layer is on");
    assert_eq!(timings.quic, None, "{timings:?}");
}

/// Every span field recorded, as `(name, value)`.
#[derive(Clone, Default)]
struct FieldRecorder(Arc<Mutex<Vec<(String, String)>>>);

impl Visit for FieldRecorder {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let value = format!("{value:?}").trim_matches('"').to_owned();
        self.0
            .lock()
            .unwrap()
            .push((field.name().to_owned(), value));
    }
}

impl Subscriber for FieldRecorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        span.record(&mut self.clone());
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut self.clone());
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[test]
fn the_trace_span_records_http3() {
    let recorder = FieldRecorder::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(recorder.clone(), || {
        runtime.block_on(async {
            let pki = TestPki::generate();
            let server = Http3Server::start(&pki);
            let client = h3_builder(&pki, &server)
                .trace(TraceLayer::new())
                .build()
                .unwrap();
            let response = get(&client, &server.url("/echo")).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.bytes().await.unwrap();
        });
    });
    let fields = recorder.0.lock().unwrap();
    let version: Vec<&str> = fields
        .iter()
        .filter(|(name, _)| name == "network.protocol.version")
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(version, ["3"], "{fields:?}");
}

#[tokio::test]
async fn a_response_body_outlives_the_client() {
    let pki = TestPki::generate();
    let server = Http3Server::start(&pki);
    let client = h3_client(&pki, &server);
    let response = get(&client, &server.url("/bytes/300000")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_3);
    // The client and its pool are gone; the connection stays open for the body being read.
    drop(client);
    let body = within(response.bytes()).await.unwrap();
    assert_eq!(body.len(), 300_000);
}

// ---------------------------------------------------------------------------
// 0-RTT
// ---------------------------------------------------------------------------

/// A client that resumes `server`'s sessions in 0-RTT, with a new connection per request
/// (none is pooled), so each request after the first starts a resumed handshake.
fn zero_rtt_client(pki: &TestPki, server: &Http3Server) -> TokioClient {
    h3_builder(pki, server)
        .pool_max_idle_per_host(0)
        .http3_zero_rtt(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn zero_rtt_carries_a_get_on_a_resumed_session_but_never_a_post() {
    let pki = TestPki::generate();
    let server = Http3Server::with_early_data(&pki, 0);
    let client = zero_rtt_client(&pki, &server);

    // A full handshake first: it gives the client a session to resume.
    let response = get(&client, &server.url("/echo")).await.unwrap();
    assert_eq!(echo_of(response).await["method"], "GET");
    assert_eq!(server.early_requests(), 0);

    let response = get(&client, &server.url("/echo?again")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_3);
    assert_eq!(echo_of(response).await["query"], "again");
    assert_eq!(server.connections(), 2);
    assert_eq!(server.early_requests(), 1);

    // A POST and a PUT with a body wait for the handshake of their resumed connection.
    for method in [http::Method::POST, http::Method::PUT] {
        let response = within(
            client
                .request(method.clone(), server.url("/echo"))
                .body("not replayable")
                .send(),
        )
        .await
        .unwrap();
        let echo = echo_of(response).await;
        assert_eq!(echo["method"], method.as_str());
        assert_eq!(echo["body"], "not replayable");
    }
    assert_eq!(server.connections(), 4);
    assert_eq!(server.early_requests(), 1);
}

#[tokio::test]
async fn without_zero_rtt_resumed_connections_send_no_early_data() {
    let pki = TestPki::generate();
    let server = Http3Server::with_early_data(&pki, 0);
    let client = h3_builder(&pki, &server)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for _ in 0..3 {
        get(&client, &server.url("/echo")).await.unwrap();
    }
    assert_eq!(server.connections(), 3);
    assert_eq!(server.early_requests(), 0);
}

#[tokio::test]
async fn rejected_early_data_is_sent_again_once_after_a_full_handshake() {
    let pki = TestPki::generate();
    let first = Http3Server::with_early_data(&pki, 0);
    let client = zero_rtt_client(&pki, &first);
    get(&client, &first.url("/echo")).await.unwrap();
    let port = first.addr().port();
    drop(first);
    // The endpoint's driver lets go of the socket once it has run.
    wait_until("the first server's UDP port to be free", || {
        std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
    })
    .await;

    // Same address, none of the first server's sessions: the early data is rejected.
    let server = Http3Server::with_early_data(&pki, port);
    let response = get(&client, &server.url("/echo?replayed")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_3);
    assert_eq!(echo_of(response).await["query"], "replayed");
    // The resumed connection (its handshake done, its early request dropped unseen) and the
    // new one that carried the request.
    assert_eq!(server.connections(), 2);
    assert_eq!(server.requests(), 1);
    assert_eq!(server.early_requests(), 0);
}
