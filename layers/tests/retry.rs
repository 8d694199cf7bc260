//! End to end: `RetryLayer` over towline's bare transport, against an in-process server that
//! answers `503 Service Unavailable` with `Retry-After: 0` twice before it succeeds.

#![cfg(feature = "retry")]

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, StatusCode, Version, header::RETRY_AFTER};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use towline_layers::{
    BoxError,
    retry::{RetryConfig, RetryCount, RetryLayer},
};
use towline_services::{
    connect::{HttpConnector, TcpConfig},
    rt::tokio::{TokioRuntime, TokioTimer},
    transport::{Transport, TransportConfig},
};
use towline_test_support::{TestServer, response};

/// A server that records every request body and fails the first two requests.
fn flaky_server(h2: bool, bodies: Arc<Mutex<Vec<(Method, Bytes)>>>) -> TestServer {
    let builder = if h2 {
        TestServer::builder().h2c()
    } else {
        TestServer::builder()
    };
    builder
        .handler(move |request: Request<Bytes>| {
            let attempt = bodies
                .lock()
                .map(|mut bodies| {
                    bodies.push((request.method().clone(), request.body().clone()));
                    bodies.len()
                })
                .unwrap_or(0);
            async move {
                let mut response = if attempt <= 2 {
                    let mut busy = response(503, "busy, try again");
                    busy.headers_mut()
                        .insert(RETRY_AFTER, http::HeaderValue::from_static("0"));
                    busy
                } else {
                    response(200, "done")
                };
                response.headers_mut().insert(
                    "x-attempt",
                    http::HeaderValue::from(u16::try_from(attempt).unwrap_or(u16::MAX)),
                );
                response
            }
        })
        .build()
}

#[tokio::test]
async fn post_is_retried_after_503_with_the_same_body_when_opted_in() -> Result<(), BoxError> {
    for h2 in [false, true] {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let server = flaky_server(h2, Arc::clone(&bodies));
        let connector = HttpConnector::new(TokioRuntime, TcpConfig::default());
        let transport = Transport::new(connector, TokioRuntime, TransportConfig::default());
        let config = RetryConfig::new().retry_non_idempotent(true);
        let client = ServiceBuilder::new()
            .layer(RetryLayer::new(config, Arc::new(TokioTimer)))
            .service(transport);

        let version = if h2 {
            Version::HTTP_2
        } else {
            Version::HTTP_11
        };
        let request = Request::post(server.url("/upload"))
            .version(version)
            .body(Full::new(Bytes::from_static(b"the request body")))?;
        let response = client.oneshot(request).await?;

        assert_eq!(response.status(), StatusCode::OK, "h2: {h2}");
        assert_eq!(
            response.extensions().get::<RetryCount>(),
            Some(&RetryCount(2))
        );
        assert_eq!(
            response.headers().get("x-attempt").map(|v| v.as_bytes()),
            Some(&b"3"[..])
        );
        assert_eq!(response.into_body().collect().await?.to_bytes(), "done");
        assert_eq!(server.requests(), 3);
        let seen = bodies.lock().map_err(|_| "poisoned")?.clone();
        assert_eq!(
            seen,
            vec![(Method::POST, Bytes::from_static(b"the request body")); 3],
            "h2: {h2}"
        );
        if !h2 {
            // Each 503's body was drained, so the HTTP/1 connection was reused.
            assert_eq!(server.connections(), 1);
        }
    }
    Ok(())
}

#[tokio::test]
async fn post_is_not_retried_without_the_opt_in() -> Result<(), BoxError> {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let server = flaky_server(false, Arc::clone(&bodies));
    let connector = HttpConnector::new(TokioRuntime, TcpConfig::default());
    let transport = Transport::new(connector, TokioRuntime, TransportConfig::default());
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryConfig::new(), Arc::new(TokioTimer)))
        .service(transport);
    let request = Request::post(server.url("/upload")).body(Full::new(Bytes::from_static(b"x")))?;
    let response = client.oneshot(request).await?;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.extensions().get::<RetryCount>(),
        Some(&RetryCount(0))
    );
    assert_eq!(server.requests(), 1);
    Ok(())
}
