// Each test binary compiles this module and uses only a subset of the helpers.
#![allow(dead_code)]
//! Helpers shared by the integration tests: bounded calls, `/echo` reports, connection
//! facts and test-PKI clients.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use http::StatusCode;
use serde_json::Value;
use towline::{Certificate, ConnectionInfo, Response, TokioClient};
use towline_test_support::{TestPki, TestServer};

pub(crate) const MS: Duration = Duration::from_millis(1);

/// Upper bound for calls that must fail or succeed on their own, so a hang fails the
/// test instead of stalling the suite.
pub(crate) const NO_HANG: Duration = Duration::from_secs(10);

/// Runs `future`, which must finish on its own (with a result or the client's own error)
/// well before [`NO_HANG`].
pub(crate) async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(NO_HANG, future)
        .await
        .expect("the call neither succeeded nor failed in time")
}

/// Sends a GET to `url`, bounded by [`within`].
pub(crate) async fn get(client: &TokioClient, url: &str) -> towline::Result<Response> {
    within(client.get(url).send()).await
}

/// Polls `condition` every 5 ms for up to 5 s: for server-side facts the client cannot
/// await.
pub(crate) async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(5 * MS).await;
    }
    panic!("gave up waiting for {what}");
}

/// An address on 127.0.0.1 where nothing listens (connection refused).
pub(crate) fn closed_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// The byte pattern of `/bytes/N` and `/chunks`: byte i is `i % 251`.
pub(crate) fn pattern(start: usize, len: usize) -> Vec<u8> {
    (start..start + len).map(|i| (i % 251) as u8).collect()
}

// ---------------------------------------------------------------------------
// `/echo` reports
// ---------------------------------------------------------------------------

/// Reads a `/echo` report, checking the status first.
pub(crate) async fn echo_of(response: Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK, "echo status");
    response.json().await.unwrap()
}

/// Every value the server saw for header `name`, in order.
pub(crate) fn header_values(echo: &Value, name: &str) -> Vec<String> {
    echo["headers"]
        .as_array()
        .expect("headers is an array")
        .iter()
        .filter(|pair| pair[0].as_str() == Some(name))
        .map(|pair| pair[1].as_str().unwrap().to_owned())
        .collect()
}

/// The `connection_id` the `/echo` route reports: which server connection served it.
pub(crate) async fn echo_connection_id(response: Response) -> u64 {
    echo_of(response).await["connection_id"]
        .as_u64()
        .expect("echo reports its connection")
}

/// GETs `/echo`, reads the body, and returns (server connection id, reused per the client).
pub(crate) async fn echo(client: &TokioClient, server: &TestServer) -> (u64, bool) {
    let response = get(client, &server.url("/echo")).await.unwrap();
    let reused = info(&response).is_reused();
    (echo_connection_id(response).await, reused)
}

// ---------------------------------------------------------------------------
// connections and TLS
// ---------------------------------------------------------------------------

/// Facts about the connection a response came over.
pub(crate) fn info(response: &Response) -> ConnectionInfo {
    response
        .extensions()
        .get::<ConnectionInfo>()
        .copied()
        .expect("every response carries ConnectionInfo")
}

/// `pki`'s CA certificate.
pub(crate) fn ca(pki: &TestPki) -> Certificate {
    Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap()
}

/// A client trusting `pki`'s CA.
pub(crate) fn trusting(pki: &TestPki) -> TokioClient {
    TokioClient::builder()
        .add_root_certificate(ca(pki))
        .build()
        .unwrap()
}
