//! Rate and bandwidth limits through the facade. Their timing is tested in virtual time in
//! `towline-layers`; here: configuration errors, shared state and intact bodies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::Duration;

use common::within;
use http::StatusCode;
use towline::towline_layers::time::ManualTimer;
use towline::towline_services::rt::{Runtime, tokio::TokioRuntime};
use towline::{BandwidthLimiter, RateLimiter, TokioClient};
use towline_test_support::TestServer;

#[test]
fn zero_rates_are_builder_errors() {
    let error = TokioClient::builder()
        .max_requests_per_sec(0)
        .build()
        .unwrap_err();
    assert!(error.is_builder(), "{error}");
    let error = TokioClient::builder()
        .max_download_speed(0)
        .build()
        .unwrap_err();
    assert!(error.is_builder(), "{error}");
}

#[tokio::test]
async fn the_rate_limiter_is_shared_with_the_client_and_its_clones() {
    let server = TestServer::http1();
    // Three requests an hour, all available at once.
    let limiter = RateLimiter::new(3, Duration::from_secs(3600), TokioRuntime.timer()).unwrap();
    let client = TokioClient::builder()
        .rate_limiter(limiter.clone())
        .build()
        .unwrap();
    let clone = client.clone();
    for client in [&client, &clone] {
        let response = within(client.get(server.url("/status/204")).send())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    // The two requests took two of the three slots.
    assert!(limiter.try_acquire());
    assert!(!limiter.try_acquire());
}

#[tokio::test]
async fn bodies_arrive_whole_through_the_bandwidth_limit() {
    for (server, h2c) in [(TestServer::http1(), false), (TestServer::h2c(), true)] {
        let mut builder = TokioClient::builder().max_download_speed(64 * 1024 * 1024);
        if h2c {
            builder = builder.http2_prior_knowledge();
        }
        let client = builder.build().unwrap();
        let response = within(client.get(server.url("/bytes/300000")).send())
            .await
            .unwrap();
        let body = within(response.bytes()).await.unwrap();
        assert_eq!(body.len(), 300_000);
        assert!(body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    }
}

#[tokio::test]
async fn the_client_paces_bodies_with_the_limiter_it_was_given() {
    let server = TestServer::http1();
    // On a virtual clock stopped after one second: the bucket holds 64 KiB, no more comes.
    let timer = ManualTimer::new();
    let limiter = BandwidthLimiter::new(65_536, timer.shared()).unwrap();
    timer.advance(Duration::from_secs(1));
    let client = TokioClient::builder()
        .bandwidth_limiter(limiter.clone())
        .build()
        .unwrap();
    let response = within(client.get(server.url("/bytes/65536")).send())
        .await
        .unwrap();
    assert_eq!(within(response.bytes()).await.unwrap().len(), 65_536);
    // The body took the whole bucket.
    assert_eq!(limiter.try_consume(1), 0);
}
