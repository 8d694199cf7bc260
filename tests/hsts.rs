#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! `HstsLayer` end to end: the bare transport with TLS (`TlsConnector` over `HttpConnector`,
//! trusting the test PKI) under the HSTS layer, against in-process HTTPS and HTTP servers.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt};
use towline::towline_layers::EffectiveUri;
use towline::towline_layers::hsts::{HstsLayer, HstsStore};
use towline::towline_services::connect::tls::{Certificate, TlsConfig, TlsConnector};
use towline::towline_services::connect::{HttpConnector, ResolveOverrides, TcpConfig};
use towline::towline_services::rt::tokio::TokioRuntime;
use towline::towline_services::transport::{ResponseBody, Transport, TransportConfig};
use towline_test_support::{TestPki, TestServer};

type Stack = tower::util::BoxCloneService<
    Request<Full<Bytes>>,
    http::Response<ResponseBody<Full<Bytes>>>,
    towline::BoxError,
>;

/// The bare transport with TLS trusting `pki`, resolving `hosts` to `addr`, under
/// `HstsLayer` when `store` is given.
fn stack(pki: &TestPki, store: Option<&HstsStore>, hosts: &[(&str, SocketAddr)]) -> Stack {
    let tcp = TcpConfig::default().with_overrides(ResolveOverrides::new(
        hosts.iter().map(|(host, addr)| (*host, vec![*addr])),
    ));
    let tls = TlsConfig {
        webpki_roots: false,
        native_roots: false,
        extra_roots: vec![Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap()],
        ..TlsConfig::default()
    };
    let connector = TlsConnector::new(HttpConnector::new(TokioRuntime, tcp), tls.build().unwrap());
    let transport: Transport<_, Full<Bytes>, _> =
        Transport::new(connector, TokioRuntime, TransportConfig::default());
    let layer = store.map(|store| HstsLayer::new(store.clone()));
    let service = ServiceBuilder::new().option_layer(layer).service(transport);
    tower::util::BoxCloneService::new(service)
}

async fn get(
    stack: &Stack,
    url: &str,
) -> Result<http::Response<ResponseBody<Full<Bytes>>>, towline::BoxError> {
    let request = Request::get(url).body(Full::default()).unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stack.clone().oneshot(request),
    )
    .await
    .expect("the request neither succeeded nor failed in time")
}

const STS: &str = "strict-transport-security=max-age%3D600%3B%20includeSubDomains";

#[tokio::test]
async fn learned_over_https_then_http_requests_are_upgraded() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"http/1.1"]);
    let port = server.addr().port();
    let store = HstsStore::new();
    let hsts = stack(&pki, Some(&store), &[]);

    // Before the policy is known, http:// to the TLS port reaches it in plain text and fails.
    let plain = get(&hsts, &format!("http://localhost:{port}/echo")).await;
    assert!(plain.is_err(), "plain HTTP to a TLS port must fail");
    assert!(store.is_empty());

    let learn = get(&hsts, &server.url(&format!("/headers?{STS}")))
        .await
        .unwrap();
    assert_eq!(learn.status(), StatusCode::OK);
    assert!(store.is_known("localhost"));
    assert!(store.is_known("sub.localhost"));

    // The same http:// URL now goes out over TLS to the same explicit port.
    let response = get(&hsts, &format!("http://localhost:{port}/echo?x=1"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let effective = response.extensions().get::<EffectiveUri>().cloned();
    assert_eq!(
        effective.map(|EffectiveUri(uri)| uri.to_string()),
        Some(format!("https://localhost:{port}/echo?x=1"))
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let echo: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["path"], "/echo");
    assert_eq!(echo["query"], "x=1");
    assert_eq!(echo["sni"], "localhost");

    // A stack without the layer does not upgrade.
    let bare = stack(&pki, None, &[]);
    let plain = get(&bare, &format!("http://localhost:{port}/echo")).await;
    assert!(plain.is_err(), "plain HTTP to a TLS port must fail");

    // max-age=0 over HTTPS forgets the host.
    get(
        &hsts,
        &server.url("/headers?strict-transport-security=max-age%3D0"),
    )
    .await
    .unwrap();
    assert!(!store.is_known("localhost"));
}

#[tokio::test]
async fn ip_literal_hosts_never_get_a_policy() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"http/1.1"]);
    let store = HstsStore::new();
    let hsts = stack(&pki, Some(&store), &[]);
    let url = format!("https://127.0.0.1:{}/headers?{STS}", server.addr().port());
    let response = get(&hsts, &url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("strict-transport-security"));
    assert!(store.is_empty());
}

#[tokio::test]
async fn plain_http_responses_are_not_trusted() {
    let pki = TestPki::generate();
    let server = TestServer::http1();
    let store = HstsStore::new();
    let hsts = stack(&pki, Some(&store), &[("plain.test", server.addr())]);
    let url = format!("http://plain.test:{}/headers?{STS}", server.addr().port());
    let response = get(&hsts, &url).await.unwrap();
    assert!(response.headers().contains_key("strict-transport-security"));
    assert!(store.is_empty());
    // Still plain HTTP next time.
    let url = format!("http://plain.test:{}/echo", server.addr().port());
    assert_eq!(get(&hsts, &url).await.unwrap().status(), StatusCode::OK);
}
