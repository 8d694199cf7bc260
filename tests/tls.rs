#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! TLS, ALPN, mutual TLS, protocol selection and Happy Eyeballs through the
//! `towline::Client` facade, against the in-process servers of `towline-test-support`.

mod common;

use std::time::Duration;

use http::{StatusCode, Version};
use towline::{Certificate, Identity, TokioClient};
use towline_test_support::{Blackhole, TestPki, TestServer};

use common::{NO_HANG, ca, closed_addr, echo_of, get, header_values, trusting, within};

// ---------------------------------------------------------------------------
// trust
// ---------------------------------------------------------------------------

#[tokio::test]
async fn custom_root_certificate_is_trusted() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"http/1.1"]);
    let client = trusting(&pki);
    let url = server.url("/echo?tls=1");
    assert!(url.starts_with("https://localhost:"), "{url}");

    let resp = get(&client, &url).await.unwrap();
    assert_eq!(resp.url().to_string(), url);
    assert_eq!(resp.remote_addr(), Some(server.addr()));
    let echo = echo_of(resp).await;
    assert_eq!(echo["query"], "tls=1");
    assert_eq!(server.requests(), 1);

    // The certificate also names 127.0.0.1.
    let url = format!("https://127.0.0.1:{}/echo", server.addr().port());
    let resp = get(&client, &url).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_ca_is_rejected_as_tls_connect_error() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);

    // Only the built-in roots: the test CA is unknown.
    let client = TokioClient::new();
    let error = get(&client, &server.url("/echo")).await.unwrap_err();
    assert!(error.is_connect() && error.is_tls(), "{error:?}");

    // A different test CA does not help either.
    let other = TestPki::generate();
    let error = get(&trusting(&other), &server.url("/echo"))
        .await
        .unwrap_err();
    assert!(error.is_connect() && error.is_tls(), "{error:?}");
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn certificate_for_another_name_is_rejected() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"http/1.1"]);
    let client = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .resolve("wrong.test", server.addr())
        .build()
        .unwrap();
    let url = format!("https://wrong.test:{}/echo", server.addr().port());
    let error = get(&client, &url).await.unwrap_err();
    assert!(error.is_connect() && error.is_tls(), "{error:?}");
    assert_eq!(server.connections(), 1, "the TCP connection was made");
    assert_eq!(server.requests(), 0);

    // Accepting invalid certificates lets it through.
    let client = TokioClient::builder()
        .danger_accept_invalid_certs(true)
        .resolve("wrong.test", server.addr())
        .build()
        .unwrap();
    let resp = get(&client, &url).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn self_signed_server_is_rejected_unless_invalid_certs_are_accepted() {
    let pki = TestPki::generate();
    let server = TestServer::builder()
        .tls_config(TestPki::self_signed_server_config(&[b"h2", b"http/1.1"]))
        .build();
    let url = server.url("/echo");

    let error = get(&trusting(&pki), &url).await.unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    assert!(error.is_tls(), "{error:?}");
    assert!(!error.is_timeout(), "{error:?}");
    assert_eq!(server.requests(), 0);

    let client = TokioClient::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let resp = get(&client, &url).await.unwrap();
    assert_eq!(resp.version(), Version::HTTP_2);
    let echo = echo_of(resp).await;
    assert_eq!(echo["path"], "/echo");
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn certificate_and_identity_parsing() {
    assert!(Certificate::from_pem(b"garbage").is_err());
    assert!(Certificate::from_pem(b"").is_err());
    assert!(Identity::from_pem(b"garbage").is_err());

    let pki = TestPki::generate();
    assert!(Certificate::from_pem(pki.ca_pem().as_bytes()).is_ok());
    assert!(Identity::from_pem(pki.client_identity_pem().as_bytes()).is_ok());
    // A certificate without its key is not an identity.
    assert!(Identity::from_pem(pki.ca_pem().as_bytes()).is_err());
}

// ---------------------------------------------------------------------------
// ALPN and protocol selection
// ---------------------------------------------------------------------------

#[tokio::test]
async fn alpn_h2_gives_http2() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
    let resp = get(&trusting(&pki), &server.url("/echo")).await.unwrap();
    assert_eq!(resp.version(), Version::HTTP_2);
    assert_eq!(echo_of(resp).await["version"], "HTTP/2.0");
}

#[tokio::test]
async fn alpn_http11_only_falls_back_to_http1() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"http/1.1"]);
    let client = trusting(&pki);
    let resp = get(&client, &server.url("/echo")).await.unwrap();
    assert_eq!(resp.version(), Version::HTTP_11);
    let echo = echo_of(resp).await;
    assert_eq!(echo["version"], "HTTP/1.1");
    assert_eq!(
        header_values(&echo, "host"),
        [format!("localhost:{}", server.addr().port())]
    );

    // The HTTP/1.1 TLS connection is reused.
    let resp = get(&client, &server.url("/echo")).await.unwrap();
    assert_eq!(echo_of(resp).await["connection_id"], 1);
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn http1_only_speaks_http1_to_an_h2_server() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
    let client = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .http1_only()
        .build()
        .unwrap();
    let resp = get(&client, &server.url("/echo")).await.unwrap();
    assert_eq!(resp.version(), Version::HTTP_11);
    assert_eq!(echo_of(resp).await["version"], "HTTP/1.1");
}

#[tokio::test]
async fn concurrent_requests_over_tls_h2_share_one_connection() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
    let client = trusting(&pki);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let client = client.clone();
            let url = server.url(&format!("/echo?i={i}"));
            tokio::spawn(async move { (i, echo_of(get(&client, &url).await.unwrap()).await) })
        })
        .collect();
    for task in tasks {
        let (i, echo) = task.await.unwrap();
        assert_eq!(echo["query"], format!("i={i}"));
        assert_eq!(echo["version"], "HTTP/2.0");
    }
    assert_eq!(server.connections(), 1);
}

// ---------------------------------------------------------------------------
// mutual TLS
// ---------------------------------------------------------------------------

#[tokio::test]
async fn mutual_tls_needs_the_client_identity() {
    let pki = TestPki::generate();
    let server = TestServer::builder()
        .tls_config(pki.server_config(&[b"h2", b"http/1.1"], true))
        .build();
    let url = server.url("/echo");

    let error = get(&trusting(&pki), &url).await.unwrap_err();
    assert!(!error.is_builder() && !error.is_status(), "{error:?}");
    assert!(error.is_connect() || error.is_request(), "{error:?}");
    // With TLS 1.3 the rejection is an alert after the client's handshake completed. Over
    // HTTP/2 the alert's type is lost inside h2, so only its message tells.
    assert!(
        format!("{error:?}").contains("CertificateRequired"),
        "{error:?}"
    );
    let http1 = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .http1_only()
        .build()
        .unwrap();
    let error = get(&http1, &url).await.unwrap_err();
    assert!(error.is_tls(), "{error:?}");
    assert_eq!(server.requests(), 0);

    let identity = Identity::from_pem(pki.client_identity_pem().as_bytes()).unwrap();
    let client = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .identity(identity)
        .build()
        .unwrap();
    let resp = get(&client, &url).await.unwrap();
    assert_eq!(resp.version(), Version::HTTP_2);
    assert_eq!(echo_of(resp).await["path"], "/echo");
    assert_eq!(server.requests(), 1);

    // Over HTTP/1.1 too.
    let identity = Identity::from_pem(pki.client_identity_pem().as_bytes()).unwrap();
    let client = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .identity(identity)
        .http1_only()
        .build()
        .unwrap();
    let resp = get(&client, &url).await.unwrap();
    assert_eq!(resp.version(), Version::HTTP_11);
    assert_eq!(server.requests(), 2);
}

// ---------------------------------------------------------------------------
// https_only and h2c prior knowledge
// ---------------------------------------------------------------------------

#[tokio::test]
async fn https_only_refuses_plain_http_without_connecting() {
    let plain = TestServer::http1();
    let pki = TestPki::generate();
    let secure = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
    let client = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .https_only(true)
        .build()
        .unwrap();

    let error = client.get(plain.url("/echo")).send().await.unwrap_err();
    assert!(error.is_builder(), "{error:?}");
    assert_eq!(plain.connections(), 0);

    let resp = get(&client, &secure.url("/echo")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // Without https_only the same plain URL works.
    let resp = get(&TokioClient::new(), &plain.url("/echo")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(plain.connections(), 1);
}

#[tokio::test]
async fn h2c_prior_knowledge_against_http1_server_fails_cleanly() {
    let h1 = TestServer::http1();
    let h2 = TestServer::h2c();
    let client = TokioClient::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();

    let outcome = tokio::time::timeout(NO_HANG, client.get(h1.url("/echo")).send()).await;
    let error = match outcome {
        Err(_) => panic!("h2c prior knowledge against an HTTP/1 server hung"),
        Ok(Ok(resp)) => panic!(
            "h2c prior knowledge against an HTTP/1 server succeeded: {:?}",
            resp.version()
        ),
        Ok(Err(error)) => error,
    };
    assert!(!error.is_builder() && !error.is_status(), "{error:?}");
    assert!(error.is_request() || error.is_connect(), "{error:?}");
    assert_eq!(h1.requests(), 0);

    // The client still works: over h2c...
    let resp = get(&client, &h2.url("/echo")).await.unwrap();
    assert_eq!(resp.version(), Version::HTTP_2);
    assert_eq!(echo_of(resp).await["version"], "HTTP/2.0");

    // ...and with HTTP/1.1 asked for per request, against the HTTP/1 server.
    let resp = within(client.get(h1.url("/echo")).version(Version::HTTP_11).send())
        .await
        .unwrap();
    assert_eq!(resp.version(), Version::HTTP_11);
    assert_eq!(echo_of(resp).await["version"], "HTTP/1.1");
}

// ---------------------------------------------------------------------------
// Happy Eyeballs
// ---------------------------------------------------------------------------

#[tokio::test]
async fn happy_eyeballs_skips_a_refused_address() {
    let server = TestServer::http1();
    let dead = closed_addr();
    let client = TokioClient::builder()
        .resolve_to_addrs("multi.test", &[dead, server.addr()])
        .build()
        .unwrap();
    let port = server.addr().port();
    let url = format!("http://multi.test:{port}/echo");

    let resp = get(&client, &url).await.unwrap();
    assert_eq!(resp.remote_addr(), Some(server.addr()));
    assert_eq!(resp.url().to_string(), url);
    let echo = echo_of(resp).await;
    assert_eq!(header_values(&echo, "host"), [format!("multi.test:{port}")]);
    assert_eq!(server.connections(), 1);

    // Only the dead address: a connect error.
    let client = TokioClient::builder()
        .resolve_to_addrs("multi.test", &[dead])
        .build()
        .unwrap();
    let error = get(&client, &format!("http://multi.test:{}/", dead.port()))
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
}

#[tokio::test]
async fn happy_eyeballs_moves_past_a_blackholed_address() {
    let server = TestServer::http1();
    let blackhole = Blackhole::bind();
    let client = TokioClient::builder()
        .resolve_to_addrs("multi.test", &[blackhole.addr(), server.addr()])
        .happy_eyeballs_delay(Duration::from_millis(50))
        .build()
        .unwrap();
    let url = format!("http://multi.test:{}/echo", server.addr().port());

    let resp = get(&client, &url).await.unwrap();
    assert_eq!(resp.remote_addr(), Some(server.addr()));
    assert_eq!(echo_of(resp).await["path"], "/echo");
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn happy_eyeballs_over_tls() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
    let dead = closed_addr();
    // `localhost` is in the certificate; map it to a dead address first.
    let client = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .resolve_to_addrs("localhost", &[dead, server.addr()])
        .build()
        .unwrap();
    let resp = get(&client, &server.url("/echo")).await.unwrap();
    assert_eq!(resp.remote_addr(), Some(server.addr()));
    assert_eq!(resp.version(), Version::HTTP_2);
}
