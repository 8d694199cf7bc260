//! The facade's behaviour on every runtime, from one test body per case: each case below runs
//! once on tokio (`tokio::` tests) and once on smol (`smol::` tests), with the client built on
//! that runtime. The servers are test-support's, on a tokio runtime of their own in both
//! cases: under smol the client never touches it.
#![cfg(all(feature = "tokio", feature = "smol"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{StatusCode, Version};
use serde_json::Value;
use towline::{Certificate, RetryConfig};
use towline_test_support::{TestPki, TestServer, response};

/// A guard against a hang: it bounds waits that must end, and measures nothing.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// Runs each case on tokio and on smol. A case is an `async fn` taking `builder`, a
/// zero-argument closure that returns a fresh `ClientBuilder` on the runtime under test, and
/// `within`, which bounds a future by [`HANG_GUARD`] on that runtime's clock.
macro_rules! on_every_runtime {
    ($(async fn $name:ident($builder:ident) $body:block)*) => {
        mod tokio {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let runtime = ::tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        let $builder = || towline::TokioClient::builder();
                        let case = async move $body;
                        ::tokio::time::timeout(HANG_GUARD, case).await.expect("the case hung");
                    });
                }
            )*
        }

        mod smol {
            use super::*;
            $(
                #[test]
                fn $name() {
                    // The servers' runtime: test-support spawns on the tokio runtime it finds
                    // entered. The client runs under `smol::block_on` on its own executor.
                    let servers = ::tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .unwrap();
                    let _servers = servers.enter();
                    ::smol::block_on(async {
                        let $builder = || towline::SmolClient::builder();
                        let case = async move $body;
                        let guard = async {
                            ::smol::Timer::after(HANG_GUARD).await;
                            panic!("the case hung");
                        };
                        ::smol::future::or(case, guard).await;
                    });
                }
            )*
        }
    };
}

fn echo(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

on_every_runtime! {
    async fn get_and_post_round_trip(builder) {
        let server = TestServer::http1();
        let client = builder().build().unwrap();
        let text = client.get(server.url("/echo?x=1")).send().await.unwrap().text().await.unwrap();
        assert_eq!(echo(&text)["query"], "x=1");

        let posted = client
            .post(server.url("/echo"))
            .json(&serde_json::json!({"runtime": "any"}))
            .send()
            .await
            .unwrap();
        let posted = echo(&posted.text().await.unwrap());
        assert_eq!(posted["method"], "POST");
        assert_eq!(posted["body"], r#"{"runtime":"any"}"#);
    }

    async fn the_pool_reuses_a_connection(builder) {
        let server = TestServer::http1();
        let client = builder().build().unwrap();
        for _ in 0..3 {
            let response = client.get(server.url("/bytes/100")).send().await.unwrap();
            assert_eq!(response.bytes().await.unwrap().len(), 100);
        }
        assert_eq!(server.connections(), 1);
    }

    async fn http2_multiplexes_concurrent_requests_on_one_connection(builder) {
        let server = TestServer::h2c();
        let client = builder().http2_prior_knowledge().build().unwrap();
        let requests = (0..8).map(|i| {
            let client = client.clone();
            let url = server.url(&format!("/echo?i={i}"));
            async move {
                let response = client.get(url).send().await.unwrap();
                assert_eq!(response.version(), Version::HTTP_2);
                echo(&response.text().await.unwrap())["query"].as_str().unwrap().to_owned()
            }
        });
        let answers = futures_util::future::join_all(requests).await;
        assert_eq!(answers, (0..8).map(|i| format!("i={i}")).collect::<Vec<_>>());
        assert_eq!(server.connections(), 1);
    }

    async fn tls_with_alpn_and_a_private_root(builder) {
        let pki = TestPki::generate();
        let server = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
        let client = builder()
            .add_root_certificate(Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap())
            .build()
            .unwrap();
        let response = client.get(server.url("/echo")).send().await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        assert_eq!(echo(&response.text().await.unwrap())["sni"], "localhost");

        // Trusting another authority only, the handshake fails with a connect error.
        let other = TestPki::generate();
        let untrusting = builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(Certificate::from_pem(other.ca_pem().as_bytes()).unwrap())
            .build()
            .unwrap();
        let error = untrusting.get(server.url("/echo")).send().await.unwrap_err();
        assert!(error.is_connect(), "{error:?}");
    }

    async fn a_total_timeout_ends_a_slow_response(builder) {
        let server = TestServer::http1();
        let client = builder().timeout(Duration::from_millis(200)).build().unwrap();
        let error = client
            .get(server.url("/slow-headers?ms=60000"))
            .send()
            .await
            .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
    }

    async fn redirects_are_followed(builder) {
        let server = TestServer::http1();
        let target = server.url("/echo?landed=yes");
        let client = builder().build().unwrap();
        let response = client
            .get(server.url(&format!("/redirect?to={target}&status=302")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.url().as_str(), target);
        assert_eq!(echo(&response.text().await.unwrap())["query"], "landed=yes");
    }

    async fn cookies_are_stored_and_sent(builder) {
        let server = TestServer::http1();
        let client = builder().cookie_store(true).build().unwrap();
        client
            .get(server.url("/headers?set-cookie=session%3Dabc"))
            .send()
            .await
            .unwrap();
        let text = client.get(server.url("/echo")).send().await.unwrap().text().await.unwrap();
        let headers = echo(&text)["headers"].clone();
        let cookie = headers
            .as_array()
            .unwrap()
            .iter()
            .find(|pair| pair[0] == "cookie")
            .map(|pair| pair[1].clone());
        assert_eq!(cookie, Some(Value::from("session=abc")));
    }

    async fn gzip_bodies_are_decoded(builder) {
        let plain = b"on every runtime, the same bytes".repeat(64);
        let encoded = Bytes::from(gzip(&plain));
        let server = TestServer::builder()
            .handler(move |_request| {
                let encoded = encoded.clone();
                async move {
                    let mut answer = response(200, encoded);
                    answer
                        .headers_mut()
                        .insert("content-encoding", http::HeaderValue::from_static("gzip"));
                    answer
                }
            })
            .build();
        let client = builder().build().unwrap();
        let body = client.get(server.url("/")).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(body, plain);
    }

    async fn a_failed_get_is_retried_after_a_backoff(builder) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let server = TestServer::builder()
            .handler(move |_request| {
                let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
                async move {
                    if first {
                        response(503, "busy")
                    } else {
                        response(200, "done")
                    }
                }
            })
            .build();
        let client = builder()
            .retry(
                RetryConfig::new()
                    .max_retries(2)
                    .initial_backoff(Duration::from_millis(20)),
            )
            .build()
            .unwrap();
        let response = client.get(server.url("/")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), "done");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}

/// A smol client needs no tokio runtime at all: with the servers started on one and the
/// context left before the client runs, everything the client waits on is smol's.
#[test]
fn a_smol_client_runs_without_any_tokio_context() {
    let servers = ::tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = {
        let _entered = servers.enter();
        TestServer::h2c()
    };
    assert!(::tokio::runtime::Handle::try_current().is_err());
    ::smol::block_on(async {
        let client = towline::SmolClient::builder()
            .http2_prior_knowledge()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        for _ in 0..2 {
            let response = client.get(server.url("/bytes/1000")).send().await.unwrap();
            assert_eq!(response.bytes().await.unwrap().len(), 1000);
        }
    });
    assert_eq!(server.connections(), 1);
}

/// A connection switched to another protocol speaks `futures-io` on smol: an echo server on a
/// thread of its own, behind a `101`.
#[test]
fn an_upgraded_connection_speaks_futures_io_on_smol() {
    use std::io::{BufRead, BufReader, Read, Write};

    use ::smol::io::{AsyncReadExt, AsyncWriteExt};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let mut writer = stream;
        writer
            .write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n",
            )
            .unwrap();
        let mut buffer = [0; 64];
        loop {
            let read = reader.read(&mut buffer).unwrap();
            if read == 0 {
                return;
            }
            writer.write_all(&buffer[..read]).unwrap();
        }
    });

    ::smol::block_on(async {
        let client = towline::SmolClient::builder().build().unwrap();
        let response = client
            .get(format!("http://{addr}/"))
            .upgrade("echo")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        let mut io = response.upgrade().await.unwrap();
        io.write_all(b"over smol").await.unwrap();
        let mut echoed = [0; 9];
        io.read_exact(&mut echoed).await.unwrap();
        assert_eq!(&echoed, b"over smol");
        io.close().await.unwrap();
    });
    server.join().unwrap();
}

/// HTTP/3 on each runtime's QUIC adapter (quinn's tokio and smol runtimes).
#[cfg(feature = "http3")]
mod http3 {
    use super::*;
    use towline_test_support::Http3Server;

    on_every_runtime! {
        async fn http3_requests_share_one_quic_connection(builder) {
            let pki = TestPki::generate();
            let server = Http3Server::start(&pki);
            let client = builder()
                .add_root_certificate(Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap())
                .resolve("localhost", server.addr())
                .http3_prior_knowledge()
                .build()
                .unwrap();

            let response = client.get(server.url("/bytes/5000")).send().await.unwrap();
            assert_eq!(response.version(), Version::HTTP_3);
            assert_eq!(response.bytes().await.unwrap().len(), 5000);
            let response = client
                .post(server.url("/echo"))
                .body("over QUIC")
                .send()
                .await
                .unwrap();
            assert_eq!(response.version(), Version::HTTP_3);
            assert_eq!(echo(&response.text().await.unwrap())["body"], "over QUIC");
            assert_eq!(server.connections(), 1);
        }
    }
}
