#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! What the transport sends again when a connection dies under a request, and the one answer
//! to "may the server have processed it?" (`Error::is_maybe_processed`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::Version;
use tokio::task::JoinSet;
use towline::TokioClient;
use towline::towline_services::{TransportError, TransportErrorKind};
use towline_test_support::{
    DroppingH2Server, OK_KEEP_ALIVE, RawConn, RawServer, Reuse, body_channel,
};

use common::{get, info, within};

fn transport_kind(error: &towline::Error) -> TransportErrorKind {
    std::error::Error::source(error)
        .and_then(|e| e.downcast_ref::<TransportError>())
        .map(TransportError::kind)
        .unwrap_or_else(|| panic!("not a transport error: {error:?}"))
}

/// Answers every request with its own body, keeping the connection alive.
async fn echo_bodies(conn: &mut RawConn) {
    while let Some(request) = conn.read_request().await {
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
            request.body.len()
        );
        if conn.write_all(head.as_bytes()).await.is_err()
            || conn.write_all(&request.body).await.is_err()
        {
            return;
        }
    }
}

/// A server whose first connection answers one request, then dies (as `reuse` says) once the
/// head of the next arrived; later connections echo request bodies.
fn dies_on_first_reuse(reuse: Reuse) -> RawServer {
    RawServer::spawn(move |mut conn| async move {
        if conn.id() > 1 {
            echo_bodies(&mut conn).await;
            return;
        }
        if conn.read_request().await.is_none() || conn.write_all(OK_KEEP_ALIVE).await.is_err() {
            return;
        }
        if conn.read_request_head().await.is_none() {
            return;
        }
        match reuse {
            Reuse::Reset => conn.reset(),
            Reuse::Close => conn.close().await,
        }
    })
}

async fn buffered_put_is_sent_again(reuse: Reuse) {
    let server = dies_on_first_reuse(reuse);
    let client = TokioClient::new();
    assert_eq!(
        get(&client, &server.url("/a"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );

    let response = within(client.put(server.url("/b")).body("payload").send())
        .await
        .expect("an idempotent request with an in-memory body is sent again");
    assert!(
        !info(&response).is_reused(),
        "sent again on a fresh connection"
    );
    assert_eq!(response.text().await.unwrap(), "payload", "the same bytes");
    assert_eq!(server.connections(), 2);
    assert_eq!(server.requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_connection_reset_replays_a_buffered_put() {
    buffered_put_is_sent_again(Reuse::Reset).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_connection_close_replays_a_buffered_put() {
    buffered_put_is_sent_again(Reuse::Close).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_put_is_not_sent_again() {
    let server = dies_on_first_reuse(Reuse::Reset);
    let client = TokioClient::new();
    assert_eq!(
        get(&client, &server.url("/a"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );

    let (sender, body) = body_channel();
    assert!(sender.send_data("pay").await);
    assert!(sender.send_data("load").await);
    drop(sender);
    let error = within(client.put(server.url("/b")).body_stream(body).send())
        .await
        .expect_err("a stream is read once and never sent again");
    assert_eq!(
        transport_kind(&error),
        TransportErrorKind::ConnectionClosedAmbiguous
    );
    assert!(error.is_maybe_processed(), "{error:?}");
    assert_eq!(server.connections(), 1, "no second connection");
}

/// 2,000 PUTs of distinct 4 KiB bodies, 20 at a time, against a server that resets every
/// third connection once the head of its second request arrived: every PUT succeeds by
/// default (retries are off), and every body arrives intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_puts_survive_a_server_resetting_connections() {
    const REQUESTS: usize = 2_000;
    const CONCURRENCY: usize = 20;
    let resets = Arc::new(AtomicUsize::new(0));
    let server = RawServer::spawn({
        let resets = resets.clone();
        move |mut conn| {
            let resets = resets.clone();
            async move {
                if conn.id() % 3 != 0 {
                    echo_bodies(&mut conn).await;
                    return;
                }
                let Some(first) = conn.read_request().await else {
                    return;
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                    first.body.len()
                );
                if conn.write_all(head.as_bytes()).await.is_err()
                    || conn.write_all(&first.body).await.is_err()
                    || conn.read_request_head().await.is_none()
                {
                    return;
                }
                resets.fetch_add(1, Ordering::SeqCst);
                conn.reset();
            }
        }
    });
    let client = TokioClient::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (client, next, url) = (client.clone(), next.clone(), server.url("/put"));
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= REQUESTS {
                    return;
                }
                let body: Vec<u8> = (0..4096u32)
                    .map(|j| (j.wrapping_mul(31) ^ i as u32).to_le_bytes()[0])
                    .chain(format!("#{i}").into_bytes())
                    .collect();
                let response = within(client.put(&url).body(body.clone()).send())
                    .await
                    .unwrap_or_else(|e| panic!("PUT {i} failed: {e:?}"));
                let echoed = response.bytes().await.unwrap();
                assert_eq!(echoed.as_ref(), body.as_slice(), "PUT {i} arrived altered");
            }
        });
    }
    while let Some(worker) = workers.join_next().await {
        worker.unwrap();
    }
    assert!(
        resets.load(Ordering::SeqCst) > 0,
        "the server reset no connection under a request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_on_a_connection_that_dies_may_have_been_processed_over_http1() {
    // Fresh connection: the server reads the request, then closes.
    let fresh = RawServer::spawn(|mut conn| async move {
        if conn.read_request().await.is_some() {
            conn.reset();
        }
    });
    let client = TokioClient::new();
    let error = within(client.post(fresh.url("/")).body("x").send())
        .await
        .unwrap_err();
    assert_eq!(
        transport_kind(&error),
        TransportErrorKind::ConnectionClosedAmbiguous
    );
    assert!(error.is_maybe_processed(), "{error:?}");

    // Reused connection: the same answer.
    let stale = RawServer::respond_then_on_reuse(OK_KEEP_ALIVE, Reuse::Reset);
    assert_eq!(
        get(&client, &stale.url("/a"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    let error = within(client.post(stale.url("/b")).body("x").send())
        .await
        .unwrap_err();
    assert_eq!(
        transport_kind(&error),
        TransportErrorKind::ConnectionClosedAmbiguous
    );
    assert!(error.is_maybe_processed(), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_on_a_connection_that_dies_may_have_been_processed_over_http2() {
    let client = TokioClient::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let fresh = DroppingH2Server::spawn(0);
    let error = within(client.post(fresh.url("/")).body("x").send())
        .await
        .unwrap_err();
    assert_eq!(
        transport_kind(&error),
        TransportErrorKind::ConnectionClosedAmbiguous
    );
    assert!(error.is_maybe_processed(), "{error:?}");

    let reused = DroppingH2Server::spawn(1);
    let first = get(&client, &reused.url("/a")).await.unwrap();
    assert_eq!(first.version(), Version::HTTP_2);
    assert_eq!(first.text().await.unwrap(), "ok");
    let error = within(client.post(reused.url("/b")).body("x").send())
        .await
        .unwrap_err();
    assert_eq!(
        transport_kind(&error),
        TransportErrorKind::ConnectionClosedAmbiguous
    );
    assert!(error.is_maybe_processed(), "{error:?}");
    assert_eq!(reused.connections(), 1, "a POST is not sent again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_connect_or_a_refused_stream_was_not_processed() {
    let client = TokioClient::new();
    let refused = format!("http://{}/", common::closed_addr());
    let error = within(client.post(refused).body("x").send())
        .await
        .unwrap_err();
    assert!(
        error.is_connect() && !error.is_maybe_processed(),
        "{error:?}"
    );

    let h2 = TokioClient::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let refusing = towline_test_support::RefusingH2Server::spawn(1);
    let error = within(h2.post(refusing.url("/")).body("x").send())
        .await
        .unwrap_err();
    assert_eq!(transport_kind(&error), TransportErrorKind::Refused);
    assert!(!error.is_maybe_processed(), "{error:?}");
}
