//! The retry layer through the facade: client default, per-request override, Retry-After,
//! idempotency, and the facade's classification of connection errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::within;
use http::StatusCode;
use towline::{RetryConfig, RetryCount, TokioClient};
use towline_test_support::{RawServer, TestServer, response};

/// A server that answers `503` with `Retry-After: 0` to the first `failures` requests and
/// `200` (echoing the request body) after that; it counts requests.
fn flaky(failures: usize) -> (TestServer, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let server = TestServer::builder()
        .handler({
            let seen = seen.clone();
            move |req: http::Request<Bytes>| {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < failures {
                        let mut res = response(503, "busy");
                        res.headers_mut()
                            .insert("retry-after", http::HeaderValue::from_static("0"));
                        res
                    } else {
                        response(200, req.into_body())
                    }
                }
            }
        })
        .build();
    (server, seen)
}

fn quick() -> RetryConfig {
    RetryConfig::new().initial_backoff(Duration::ZERO)
}

#[tokio::test]
async fn client_retry_config_retries_until_success() {
    let (server, seen) = flaky(2);
    let client = TokioClient::builder().retry(quick()).build().unwrap();
    let response = within(client.get(server.url("/x")).send()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.extensions().get::<RetryCount>(),
        Some(&RetryCount(2))
    );
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retries_are_off_unless_configured() {
    let (server, seen) = flaky(1);
    let client = TokioClient::new();
    let response = within(client.get(server.url("/x")).send()).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_request_can_turn_retries_on_or_off() {
    let (server, seen) = flaky(1);
    let client = TokioClient::new();
    let response = within(client.get(server.url("/x")).retry(quick()).send())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(seen.load(Ordering::SeqCst), 2);

    let (server, seen) = flaky(1);
    let client = TokioClient::builder().retry(quick()).build().unwrap();
    let response = within(
        client
            .get(server.url("/x"))
            .retry(RetryConfig::disabled())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn post_is_retried_with_its_body_only_when_opted_in() {
    let (server, seen) = flaky(1);
    let client = TokioClient::builder().retry(quick()).build().unwrap();
    let response = within(client.post(server.url("/x")).body("payload").send())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    let (server, seen) = flaky(1);
    let client = TokioClient::builder()
        .retry(quick().retry_non_idempotent(true))
        .build()
        .unwrap();
    let response = within(client.post(server.url("/x")).body("payload").send())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(&response.bytes().await.unwrap()[..], b"payload");
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

/// The first connection reads the request and closes without answering; later ones answer.
fn closes_first_connection() -> RawServer {
    RawServer::spawn(|mut conn| async move {
        if conn.read_request().await.is_none() {
            return;
        }
        if conn.id() == 1 {
            conn.close().await;
        } else {
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
        }
    })
}

#[tokio::test]
async fn a_connection_lost_after_sending_is_retried_for_get_but_not_for_post() {
    let server = closes_first_connection();
    let client = TokioClient::builder().retry(quick()).build().unwrap();
    let response = within(client.get(server.url("/x")).send()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.connections(), 2);

    // The request may have been processed: a POST is not sent again.
    let server = closes_first_connection();
    let error = within(client.post(server.url("/x")).body("x").send())
        .await
        .unwrap_err();
    assert!(error.is_request(), "{error}");
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_retried_even_for_post() {
    // A port nothing listens on: every attempt is refused before anything is sent, so a
    // POST is retried too, up to the limit, and the connect error comes back.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let attempts = Arc::new(AtomicUsize::new(0));
    let config = quick().max_retries(2).classify({
        let attempts = attempts.clone();
        move |_| {
            attempts.fetch_add(1, Ordering::SeqCst);
            towline::towline_layers::retry::RetryDecision::Default
        }
    });
    let client = TokioClient::builder().retry(config).build().unwrap();
    let error = within(
        client
            .post(format!("http://127.0.0.1:{port}/x"))
            .body("x")
            .send(),
    )
    .await
    .unwrap_err();
    assert!(error.is_connect(), "{error}");
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

/// A server whose first request stalls (no answer for a minute) and later ones answer `200`
/// with the request body; it counts requests.
fn first_attempt_stalls() -> (TestServer, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let server = TestServer::builder()
        .handler({
            let seen = seen.clone();
            move |req: http::Request<Bytes>| {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                    response(200, req.into_body())
                }
            }
        })
        .build();
    (server, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_attempt_is_ended_and_retried_within_the_total_timeout() {
    let (server, seen) = first_attempt_stalls();
    let client = TokioClient::builder()
        .timeout(Duration::from_millis(400))
        .attempt_timeout(Duration::from_millis(150))
        .retry(RetryConfig::new().initial_backoff(Duration::from_millis(1)))
        .build()
        .unwrap();
    let response = within(client.get(server.url("/")).send()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.extensions().get::<RetryCount>(),
        Some(&RetryCount(1))
    );
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_attempt_timeout_the_stalled_attempt_uses_the_whole_budget() {
    let (server, seen) = first_attempt_stalls();
    let client = TokioClient::builder()
        .timeout(Duration::from_millis(400))
        .retry(RetryConfig::new().initial_backoff(Duration::from_millis(1)))
        .build()
        .unwrap();
    let error = within(client.get(server.url("/")).send())
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_request_attempt_timeout_applies_to_that_request() {
    let (server, seen) = first_attempt_stalls();
    let client = TokioClient::builder()
        .timeout(Duration::from_millis(400))
        .retry(RetryConfig::new().initial_backoff(Duration::from_millis(1)))
        .build()
        .unwrap();
    let response = within(
        client
            .get(server.url("/"))
            .attempt_timeout(Duration::from_millis(150))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(
        response.extensions().get::<RetryCount>(),
        Some(&RetryCount(1))
    );
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_post_is_not_sent_again_and_may_have_been_processed() {
    let (server, seen) = first_attempt_stalls();
    let client = TokioClient::builder()
        .attempt_timeout(Duration::from_millis(150))
        .retry(RetryConfig::new().initial_backoff(Duration::from_millis(1)))
        .build()
        .unwrap();
    let error = within(client.post(server.url("/")).body("x").send())
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(error.is_maybe_processed(), "{error:?}");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "a POST that may have arrived is not resent"
    );
}
