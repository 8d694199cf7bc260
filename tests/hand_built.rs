//! Stacks composed by hand over the bare transport behave as the client does. The timings
//! layer reads the transport's phases from the response, and the retry layer classifies failures
//! exactly as the client does, given the transport's public classifier
//! (`towline_services::retry_class`): a certificate failure is never retried, a POST the
//! server refused unprocessed (HTTP/2 `REFUSED_STREAM`) is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::Full;
use tower::{ServiceBuilder, ServiceExt};
use towline::towline_layers::retry::{RetryConfig, RetryLayer};
use towline::towline_services::connect::tls::{TlsConfig, TlsConnector};
use towline::towline_services::connect::{HttpConnector, TcpConfig};
use towline::towline_services::retry_class;
use towline::towline_services::rt::tokio::{TokioRuntime, TokioTimer};
use towline::towline_services::transport::{Transport, TransportConfig};
use towline_test_support::{RefusingH2Server, TestPki, TestServer};

fn retries() -> RetryConfig {
    RetryConfig::new()
        .initial_backoff(Duration::ZERO)
        .max_retries(3)
}

#[tokio::test]
async fn a_certificate_failure_is_not_retried_with_the_transports_classifier() {
    let server = TestServer::builder()
        .tls_config(TestPki::self_signed_server_config(&[b"h2", b"http/1.1"]))
        .build();
    let url = server.url("/");
    let transport = || {
        let connector = HttpConnector::new(TokioRuntime, TcpConfig::default());
        let tls = TlsConfig::default().build().unwrap();
        Transport::new(
            TlsConnector::new(connector, tls),
            TokioRuntime,
            TransportConfig::default(),
        )
    };
    let get = || Request::get(&url).body(Full::<Bytes>::default()).unwrap();

    let classified = ServiceBuilder::new()
        .layer(RetryLayer::new(retries(), Arc::new(TokioTimer)).error_classifier(retry_class))
        .service(transport());
    let error = classified.oneshot(get()).await.unwrap_err();
    assert!(
        towline::towline_layers::error::find_cause::<towline::towline_services::ConnectError>(
            &*error
        )
        .is_some(),
        "{error}"
    );
    assert_eq!(server.connections(), 1, "one handshake, no retry");

    // Without the transport's classifier the layer cannot tell a certificate failure from
    // a dropped connection, and retries the GET.
    let unclassified = ServiceBuilder::new()
        .layer(RetryLayer::new(retries(), Arc::new(TokioTimer)))
        .service(transport());
    unclassified.oneshot(get()).await.unwrap_err();
    assert_eq!(server.connections(), 1 + 4);
}

#[tokio::test]
async fn a_post_refused_unprocessed_is_retried_with_the_transports_classifier() {
    let server = RefusingH2Server::spawn(1);
    let url = server.url("/");
    let post = || {
        Request::post(&url)
            .version(Version::HTTP_2)
            .body(Full::new(Bytes::from_static(b"payload")))
            .unwrap()
    };
    let transport = || {
        Transport::new(
            HttpConnector::new(TokioRuntime, TcpConfig::default()),
            TokioRuntime,
            TransportConfig::default(),
        )
    };

    let classified = ServiceBuilder::new()
        .layer(RetryLayer::new(retries(), Arc::new(TokioTimer)).error_classifier(retry_class))
        .service(transport());
    let response = classified.oneshot(post()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.streams(), 2, "refused once, then answered");

    // The layer alone takes the refusal for a failure that may have reached the server, and
    // does not re-send a POST.
    let server = RefusingH2Server::spawn(1);
    let url = server.url("/");
    let unclassified = ServiceBuilder::new()
        .layer(RetryLayer::new(retries(), Arc::new(TokioTimer)))
        .service(transport());
    let request = Request::post(&url)
        .version(Version::HTTP_2)
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    unclassified.oneshot(request).await.unwrap_err();
    assert_eq!(server.streams(), 1);
}

#[tokio::test]
async fn a_hand_built_timings_layer_reads_the_transports_phases() {
    use towline::towline_layers::timings::{RequestTimings, TimingsLayer};
    let server = TestServer::http1();
    let service = ServiceBuilder::new()
        .layer(TimingsLayer::new(Arc::new(TokioTimer)))
        .service(Transport::new(
            HttpConnector::new(TokioRuntime, TcpConfig::default()),
            TokioRuntime,
            TransportConfig::default(),
        ));
    let mut seen = Vec::new();
    for _ in 0..2 {
        let request = Request::get(server.url("/"))
            .body(Full::<Bytes>::default())
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        let timings = response
            .extensions()
            .get::<RequestTimings>()
            .unwrap()
            .clone();
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
        seen.push(timings);
    }
    // The first request opened the connection: TCP connect and first byte are known.
    assert!(seen[0].tcp.is_some(), "{:?}", seen[0]);
    assert!(seen[0].time_to_first_byte.is_some(), "{:?}", seen[0]);
    // The second reused it: no connection phases, still a first byte.
    assert_eq!(seen[1].tcp, None, "{:?}", seen[1]);
    assert!(seen[1].time_to_first_byte.is_some(), "{:?}", seen[1]);
    assert_eq!(server.connections(), 1);
}
