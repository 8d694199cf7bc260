#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Connect, total, read and pool-acquire timeouts, and what they leave in the pool.
//!
//! The client's timer is the runtime's real one, so margins are wide: a server delay the
//! client must not wait out is [`NEVER`] (a missing timeout then fails the call's
//! [`within`] bound), and a delay the client must wait out is a tenth of its timeout or less.

mod common;

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use towline::TokioClient;
use towline_test_support::{Blackhole, TestServer};

use common::{MS, NO_HANG, echo, get, info, pattern, within};

/// A server delay (in ms) far beyond [`NO_HANG`]: the response never comes within a test.
const NEVER: u128 = NO_HANG.as_millis() * 6;

/// A total or read timeout that must not fire before the head and the first chunk: a local
/// server sends them at once, so even a loaded machine delivers them well within it.
const HEAD_ROOM: Duration = Duration::from_secs(2);

#[tokio::test]
async fn connect_timeout_against_a_blackhole() {
    let blackhole = Blackhole::bind();
    let client = TokioClient::builder()
        .connect_timeout(200 * MS)
        .build()
        .unwrap();
    let error = get(&client, &blackhole.url("/"))
        .await
        .expect_err("nothing answers a blackhole");
    assert!(error.is_connect(), "{error:?}");
    assert!(error.is_timeout(), "{error:?}");
}

#[tokio::test]
async fn total_timeout_on_slow_headers() {
    let server = TestServer::http1();
    let client = TokioClient::builder().timeout(200 * MS).build().unwrap();
    let error = get(&client, &server.url(&format!("/slow-headers?ms={NEVER}")))
        .await
        .expect_err("the head never comes");
    assert!(error.is_timeout(), "{error:?}");
    assert!(error.is_request(), "{error:?}");
    assert!(!error.is_connect(), "{error:?}");
}

#[tokio::test]
async fn total_timeout_covers_the_body() {
    let server = TestServer::http1();
    let client = TokioClient::builder().timeout(HEAD_ROOM).build().unwrap();
    // The head and the first chunk come at once; the second never does.
    let response = get(
        &client,
        &server.url(&format!("/chunks?n=2&size=10&delay_ms={NEVER}")),
    )
    .await
    .expect("the head arrives within the total timeout");
    assert_eq!(response.status(), 200);
    let error = within(response.bytes())
        .await
        .expect_err("the body takes longer than the total timeout");
    assert!(error.is_timeout(), "{error:?}");
    assert!(error.is_body(), "{error:?}");
}

#[tokio::test]
async fn read_timeout_restarts_with_every_chunk() {
    let server = TestServer::http1();
    let client = TokioClient::builder()
        .read_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    // Sixteen chunks 100 ms apart: at least 1.5 s in all, longer than the read timeout, so a
    // timer that is not restarted fails the body; each gap is a tenth of the timeout.
    let response = get(&client, &server.url("/chunks?n=16&size=10&delay_ms=100"))
        .await
        .unwrap();
    let body = within(response.bytes()).await.unwrap();
    assert_eq!(body, pattern(0, 160));
}

#[tokio::test]
async fn read_timeout_fails_a_server_silent_before_its_head() {
    let server = TestServer::http1();
    let client = TokioClient::builder()
        .read_timeout(HEAD_ROOM)
        .build()
        .unwrap();
    let error = within(get(
        &client,
        &server.url(&format!("/slow-headers?ms={NEVER}")),
    ))
    .await
    .expect_err("the head never comes");
    assert!(error.is_timeout(), "{error:?}");
    assert!(!error.is_body(), "{error:?}");
}

#[tokio::test]
async fn read_timeout_fails_a_long_gap_between_chunks() {
    let server = TestServer::http1();
    let client = TokioClient::builder()
        .read_timeout(HEAD_ROOM)
        .build()
        .unwrap();
    let mut response = get(
        &client,
        &server.url(&format!("/chunks?n=2&size=10&delay_ms={NEVER}")),
    )
    .await
    .unwrap();
    let first = within(response.chunk())
        .await
        .unwrap()
        .expect("a first chunk");
    assert_eq!(first.len(), 10);
    let error = within(response.chunk())
        .await
        .expect_err("the second chunk never comes");
    assert!(error.is_timeout(), "{error:?}");
    assert!(error.is_body(), "{error:?}");
}

#[tokio::test]
async fn request_timeout_overrides_the_clients() {
    let server = TestServer::http1();

    // The head comes after 3 s: under the client's timeout, so only the request's can fail
    // the call, and fifteen times the request's.
    let patient = TokioClient::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let error = within(
        patient
            .get(server.url("/slow-headers?ms=3000"))
            .timeout(200 * MS)
            .send(),
    )
    .await
    .expect_err("the request's 200 ms win over the client's 600 s");
    assert!(error.is_timeout(), "{error:?}");

    // The head comes after 1 s: ten times the client's timeout, a tenth of the request's.
    let hasty = TokioClient::builder().timeout(100 * MS).build().unwrap();
    let response = within(
        hasty
            .get(server.url("/slow-headers?ms=1000"))
            .timeout(Duration::from_secs(600))
            .send(),
    )
    .await
    .expect("the request's 600 s win over the client's 100 ms");
    assert_eq!(within(response.text()).await.unwrap(), "slow");
}

#[tokio::test]
async fn timed_out_connections_do_not_go_back_to_the_pool() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    assert_eq!(echo(&client, &server).await, (1, false));

    // A body timeout on the pooled connection 1...
    let response = within(
        client
            .get(server.url(&format!("/chunks?n=2&size=10&delay_ms={NEVER}")))
            .timeout(HEAD_ROOM)
            .send(),
    )
    .await
    .unwrap();
    assert!(info(&response).is_reused());
    let error = within(response.bytes()).await.unwrap_err();
    assert!(error.is_timeout() && error.is_body(), "{error:?}");
    // ...leaves it half-read: the next request needs a new connection.
    assert_eq!(echo(&client, &server).await, (2, false));

    // A head timeout on the pooled connection 2 leaves it waiting for a response.
    let error = within(
        client
            .get(server.url(&format!("/slow-headers?ms={NEVER}")))
            .timeout(200 * MS)
            .send(),
    )
    .await
    .unwrap_err();
    assert!(error.is_timeout() && error.is_request(), "{error:?}");
    assert_eq!(echo(&client, &server).await, (3, false));
    assert_eq!(server.connections(), 3);
}

#[tokio::test]
async fn pool_acquire_timeout_while_another_request_connects() {
    // With prior knowledge the connection will be HTTP/2, so the pool lets one request
    // connect and makes the others wait to share its connection (pool::connect_or_wait);
    // the wait is what `pool_acquire_timeout` bounds.
    let blackhole = Blackhole::bind();
    let client = TokioClient::builder()
        .http2_prior_knowledge()
        .pool_acquire_timeout(100 * MS)
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let mut first = pin!(client.get(blackhole.url("/first")).send());
    // One poll takes the connect slot; the TCP connect then hangs.
    poll_fn(|cx| {
        assert!(first.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;

    let error = get(&client, &blackhole.url("/second"))
        .await
        .expect_err("the second request waits for a connect that hangs");
    assert!(error.is_timeout(), "{error:?}");
    assert!(
        !error.is_connect(),
        "it timed out waiting in the pool, not connecting: {error:?}"
    );
    assert!(error.is_request(), "{error:?}");

    // The first request is still connecting: its own connect timeout is 5 s.
    poll_fn(|cx| {
        assert!(first.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
}

/// A server that reads a request head and then never reads again, holding the connection.
fn stops_reading() -> towline_test_support::RawServer {
    towline_test_support::RawServer::spawn(|mut conn| async move {
        if conn.read_request_head().await.is_some() {
            tokio::time::sleep(NO_HANG * 6).await;
        }
    })
}

/// An upload far larger than the socket buffers can absorb.
fn huge_upload() -> Vec<u8> {
    vec![b'x'; 64 * 1024 * 1024]
}

fn write_timed_out(error: &towline::Error) -> bool {
    let mut cause = std::error::Error::source(error);
    while let Some(error) = cause {
        let inner = error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref);
        if inner.is_some_and(|inner| {
            inner
                .downcast_ref::<towline::towline_services::transport::WriteTimedOut>()
                .is_some()
        }) {
            return true;
        }
        cause = error.source();
    }
    false
}

#[tokio::test]
async fn write_timeout_ends_an_upload_the_server_stopped_reading() {
    let server = stops_reading();
    let client = TokioClient::builder()
        .write_timeout(200 * MS)
        .build()
        .unwrap();
    let error = within(client.put(server.url("/upload")).body(huge_upload()).send())
        .await
        .expect_err("the upload cannot finish");
    assert!(error.is_timeout(), "{error:?}");
    assert!(write_timed_out(&error), "names the write phase: {error:?}");
    assert!(error.to_string().contains("write timed out"), "{error}");
}

#[tokio::test]
async fn a_per_request_write_timeout_applies_to_that_request() {
    let server = stops_reading();
    let client = TokioClient::new();
    let error = within(
        client
            .put(server.url("/upload"))
            .body(huge_upload())
            .write_timeout(200 * MS)
            .send(),
    )
    .await
    .expect_err("the upload cannot finish");
    assert!(error.is_timeout() && write_timed_out(&error), "{error:?}");
}
