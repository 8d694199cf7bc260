#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Connection reuse, as the servers count it: which requests share a connection, which
//! open a new one, and which stale connections are replayed.
//!
//! The tests run on a multi-threaded runtime, as most applications do: the connection
//! tasks and the request tasks then really run in parallel, so a connection handed back to
//! the pool "a little later" than the response body's end shows up as an extra connection.

mod common;

use std::time::Duration;

use bytes::Bytes;
use http::Version;
use http_body_util::Full;
use tokio::task::JoinSet;
use towline::TokioClient;
use towline::towline_services::{TransportError, TransportErrorKind};
use towline_test_support::{
    OK_KEEP_ALIVE, RawServer, RefusingH2Server, Reuse, TestServer, body_channel,
};

use common::{echo, echo_connection_id, get, info, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_requests_reuse_one_connection() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    for _ in 0..5 {
        let (connection, _) = echo(&client, &server).await;
        assert_eq!(connection, 1);
    }
    assert_eq!(server.connections(), 1);
    assert_eq!(server.requests(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_requests_with_bodies_reuse_one_connection() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    for i in 0..6 {
        let request = client.post(server.url("/echo"));
        // In-memory and streamed bodies alike: the connection is free once both the
        // request body and the response body are done.
        let request = if i % 2 == 0 {
            request.body("payload")
        } else {
            request.body_stream(Full::new(Bytes::from_static(b"payload")))
        };
        let response = request.send().await.unwrap();
        assert_eq!(info(&response).is_reused(), i > 0);
        assert_eq!(echo_connection_id(response).await, 1);
    }
    assert_eq!(server.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_info_says_whether_the_connection_was_reused() {
    let server = TestServer::http1();
    let client = TokioClient::new();

    let first = get(&client, &server.url("/echo")).await.unwrap();
    let first_info = info(&first);
    assert!(!first_info.is_reused());
    assert_eq!(first_info.remote_addr(), Some(server.addr()));
    first.bytes().await.unwrap();

    let second = get(&client, &server.url("/echo")).await.unwrap();
    let second_info = info(&second);
    assert!(second_info.is_reused());
    assert_eq!(second_info.remote_addr(), Some(server.addr()));
    assert_eq!(second_info.local_addr(), first_info.local_addr());
    second.bytes().await.unwrap();
    assert_eq!(server.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_dropped_unread_closes_its_connection() {
    let server = TestServer::http1();
    let client = TokioClient::new();

    let large = get(&client, &server.url("/bytes/1000000")).await.unwrap();
    assert_eq!(large.status(), 200);
    assert_eq!(large.content_length(), Some(1_000_000));
    drop(large);

    let (connection, reused) = echo(&client, &server).await;
    assert_eq!(connection, 2, "the half-read connection must not be reused");
    assert!(!reused);
    assert_eq!(server.connections(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_responses_are_not_reused() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    for _ in 0..3 {
        let response = get(&client, &server.url("/close")).await.unwrap();
        assert!(!info(&response).is_reused());
        assert_eq!(response.text().await.unwrap(), "closing");
    }
    assert_eq!(server.connections(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodiless_responses_reuse_the_connection() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    // None of these bodies is read: a response that cannot have a body hands its
    // connection back at once.
    for _ in 0..2 {
        let head = client.head(server.url("/echo")).send().await.unwrap();
        assert_eq!(head.status(), 200);
        let no_content = get(&client, &server.url("/no-content")).await.unwrap();
        assert_eq!(no_content.status(), 204);
        let not_modified = get(&client, &server.url("/not-modified")).await.unwrap();
        assert_eq!(not_modified.status(), 304);
    }
    let (connection, reused) = echo(&client, &server).await;
    assert_eq!(connection, 1);
    assert!(reused);
    assert_eq!(server.connections(), 1);
    assert_eq!(server.requests(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cap_makes_concurrent_requests_wait_for_the_one_connection() {
    let server = TestServer::http1();
    let client = TokioClient::builder()
        .pool_max_connections_per_host(1)
        .build()
        .unwrap();

    let slow = tokio::spawn({
        // The connection comes back once the body is read.
        let send = client.get(server.url("/slow-headers?ms=300")).send();
        async move { send.await?.text().await }
    });
    wait_until("the slow request to reach the server", || {
        server.requests() == 1
    })
    .await;
    // Over the cap: this request waits for the slow one's connection instead of opening one.
    let (connection, reused) = echo(&client, &server).await;
    assert_eq!((connection, reused), (1, true));
    assert_eq!(slow.await.unwrap().unwrap(), "slow");
    assert_eq!(server.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waiting_under_the_cap_ends_with_the_pool_acquire_timeout() {
    let server = TestServer::http1();
    let client = TokioClient::builder()
        .pool_max_connections_per_host(1)
        .pool_acquire_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    // Holds the only connection far longer than the waiter may wait.
    let _slow = tokio::spawn(client.get(server.url("/slow-headers?ms=60000")).send());
    wait_until("the slow request to reach the server", || {
        server.requests() == 1
    })
    .await;
    let error = get(&client, &server.url("/echo")).await.unwrap_err();
    let transport = towline::towline_layers::error::find_cause::<TransportError>(&error)
        .expect("a transport error");
    assert_eq!(
        transport.kind(),
        TransportErrorKind::PoolTimeout,
        "{error:?}"
    );
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(server.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_http1_requests_use_separate_connections() {
    let server = TestServer::http1();
    let client = TokioClient::new();

    let slow = tokio::spawn(client.get(server.url("/slow-headers?ms=300")).send());
    // The slow request holds connection 1 from here until its response.
    wait_until("the slow request to reach the server", || {
        server.requests() == 1
    })
    .await;

    let (connection, reused) = echo(&client, &server).await;
    assert_eq!(connection, 2);
    assert!(!reused);

    let slow = slow.await.unwrap().unwrap();
    assert_eq!(slow.text().await.unwrap(), "slow");
    assert_eq!(server.connections(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_expire_after_the_idle_timeout() {
    let server = TestServer::http1();
    // Long enough that a loaded machine sends the second request well within it; the sleep
    // below outlasts it for certain, since a sleep never ends early.
    let idle_timeout = Duration::from_secs(1);
    let client = TokioClient::builder()
        .pool_idle_timeout(Some(idle_timeout))
        .build()
        .unwrap();

    assert_eq!(echo(&client, &server).await, (1, false));
    // Right away the connection is still fresh...
    assert_eq!(echo(&client, &server).await, (1, true));
    tokio::time::sleep(idle_timeout * 3 / 2).await;
    // ...but not once it has been idle longer than the idle timeout.
    assert_eq!(echo(&client, &server).await, (2, false));
    assert_eq!(server.connections(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_idle_zero_never_reuses() {
    let server = TestServer::http1();
    let client = TokioClient::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for expected in 1..=3 {
        assert_eq!(echo(&client, &server).await, (expected, false));
    }
    assert_eq!(server.connections(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_idle_zero_never_shares_http2() {
    let server = TestServer::h2c();
    let client = TokioClient::builder()
        .http2_prior_knowledge()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for expected in 1..=3 {
        assert_eq!(echo(&client, &server).await, (expected, false));
    }
    assert_eq!(server.connections(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_idle_one_keeps_one_of_three_connections() {
    let server = TestServer::http1();
    let client = TokioClient::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();

    let mut wave = JoinSet::new();
    for _ in 0..3 {
        let request = client.get(server.url("/slow-headers?ms=200"));
        wave.spawn(async move { request.send().await?.text().await });
    }
    // Three requests in the handler at once: HTTP/1 connections are exclusive, so three.
    wait_until("three concurrent requests", || server.requests() == 3).await;
    while let Some(done) = wave.join_next().await {
        assert_eq!(done.unwrap().unwrap(), "slow");
    }
    assert_eq!(server.connections(), 3);

    // Each of the three came back to the pool, which kept the first and closed the other
    // two (max idle 1). Sequential requests need one connection at a time: each takes the
    // one idle connection and gives it back, so no fourth connection opens.
    let mut used = Vec::new();
    for _ in 0..3 {
        let (connection, reused) = echo(&client, &server).await;
        assert!(reused);
        used.push(connection);
    }
    assert!(used.iter().all(|c| *c == used[0]), "{used:?}");
    assert_eq!(server.connections(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_multiplexes_concurrent_requests_on_one_connection() {
    let server = TestServer::h2c();
    let client = TokioClient::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();

    let mut requests = JoinSet::new();
    for _ in 0..20 {
        let request = client.get(server.url("/slow-headers?ms=100"));
        requests.spawn(async move {
            let response = request.send().await?;
            let version = response.version();
            Ok::<_, towline::Error>((version, response.text().await?))
        });
    }
    while let Some(done) = requests.join_next().await {
        let (version, text) = done.unwrap().unwrap();
        assert_eq!(version, Version::HTTP_2);
        assert_eq!(text, "slow");
    }
    assert_eq!(server.requests(), 20);
    assert_eq!(server.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_goaway_moves_requests_to_new_connections() {
    let server = TestServer::builder()
        .h2c()
        .max_requests_per_connection(2)
        .build();
    let client = TokioClient::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();

    let mut used = Vec::new();
    for _ in 0..6 {
        let response = get(&client, &server.url("/echo")).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        used.push(echo_connection_id(response).await);
    }
    assert_eq!(server.requests(), 6);
    // The server says GOAWAY once a connection had its second request (it still serves a
    // request that crossed the GOAWAY on the wire). So the client moves on to a new
    // connection only after at least two requests, never goes back, and opens no connection
    // it does not use: usually [1, 1, 2, 2, 3, 3].
    assert!(
        used.is_sorted(),
        "went back to a closed connection: {used:?}"
    );
    let last = *used.last().unwrap();
    assert!(last >= 2, "the GOAWAY was ignored: {used:?}");
    for id in 1..last {
        let served = used.iter().filter(|c| **c == id).count();
        assert!(served >= 2, "left connection {id} too early: {used:?}");
    }
    assert_eq!(
        server.connections() as u64,
        last,
        "opened a connection it never used: {used:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_share_the_pool() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    assert_eq!(echo(&client, &server).await, (1, false));
    let clone = client.clone();
    assert_eq!(echo(&clone, &server).await, (1, true));
    drop(client);
    assert_eq!(echo(&clone, &server).await, (1, true));
    assert_eq!(server.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_wave_of_concurrent_requests_reuses_the_first_waves_connections() {
    const WAVE: usize = 50;
    let server = TestServer::http1();
    let client = TokioClient::new();

    for wave in 0..2 {
        let mut requests = JoinSet::new();
        for _ in 0..WAVE {
            let request = client.get(server.url("/echo"));
            requests.spawn(async move { request.send().await?.bytes().await });
        }
        while let Some(done) = requests.join_next().await {
            assert!(!done.unwrap().unwrap().is_empty());
        }
        assert_eq!(server.requests(), WAVE * (wave + 1));
        assert!(
            server.connections() <= WAVE,
            "wave {wave}: {} connections for {WAVE} concurrent requests",
            server.connections()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_still_uploading_is_not_handed_to_the_next_request() {
    // The server answers as soon as it has the head, then reads the upload slowly (here:
    // until the client closes), as servers rejecting or short-circuiting an upload do.
    let server = RawServer::spawn(|mut conn| async move {
        if conn.read_request_head().await.is_none() || conn.write_all(OK_KEEP_ALIVE).await.is_err()
        {
            return;
        }
        while conn.read_body(1).await.is_some() {}
    });
    let client = TokioClient::new();

    let (upload, body) = body_channel();
    assert!(upload.send_data("the first part").await);
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        client.post(server.url("/upload")).body_stream(body).send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.text().await.unwrap(), "ok");

    // The response is complete but the upload is not: connection 1 is still busy, so the
    // next request must not wait for it.
    let next = tokio::time::timeout(
        Duration::from_secs(5),
        client.get(server.url("/next")).send(),
    )
    .await
    .expect("the next request waited for the unfinished upload")
    .unwrap();
    assert!(!info(&next).is_reused());
    assert_eq!(next.text().await.unwrap(), "ok");
    assert_eq!(server.connections(), 2);
    drop(upload);
}

/// A GET on a keep-alive connection that the server kills once the request arrived.
async fn stale_get_is_replayed(reuse: Reuse) {
    let server = RawServer::respond_then_on_reuse(OK_KEEP_ALIVE, reuse);
    let client = TokioClient::new();

    let first = get(&client, &server.url("/a")).await.unwrap();
    assert_eq!(first.text().await.unwrap(), "ok");
    assert_eq!(server.connections(), 1);

    let second = get(&client, &server.url("/b")).await.unwrap();
    assert!(
        !info(&second).is_reused(),
        "the replay goes out on a fresh connection"
    );
    assert_eq!(second.text().await.unwrap(), "ok");
    assert_eq!(server.connections(), 2);
    // Heads: the first GET, the second on the dying connection, its replay.
    assert_eq!(server.requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_connection_reset_replays_a_get() {
    stale_get_is_replayed(Reuse::Reset).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_connection_close_replays_a_get() {
    stale_get_is_replayed(Reuse::Close).await;
}

/// A request with a body on a connection the server kills after reading its head: the
/// server may have acted on it, so it must fail rather than go out a second time.
async fn request_with_body_is_not_replayed(reuse: Reuse, streaming: bool) {
    let server = RawServer::respond_then_on_reuse(OK_KEEP_ALIVE, reuse);
    let client = TokioClient::new();

    let first = get(&client, &server.url("/a")).await.unwrap();
    assert_eq!(first.text().await.unwrap(), "ok");

    let request = if streaming {
        // Two frames: a stream, which the transport does not keep (a body sent in one frame
        // is bytes in memory, and an idempotent request with one is sent again).
        let (sender, body) = body_channel();
        assert!(sender.send_data("pay").await);
        assert!(sender.send_data("load").await);
        client.get(server.url("/b")).body_stream(body)
    } else {
        client.post(server.url("/b")).body("payload")
    };
    let error = request
        .send()
        .await
        .expect_err("a request with a body must not be replayed");
    assert!(error.is_request(), "{error:?}");
    assert!(!error.is_timeout(), "{error:?}");
    assert_eq!(server.connections(), 1, "no replay connection");
    assert_eq!(server.requests(), 2, "the second head arrived exactly once");

    // The client still works: a fresh connection answers its first request.
    let after = get(&client, &server.url("/c")).await.unwrap();
    assert!(!info(&after).is_reused());
    assert_eq!(after.text().await.unwrap(), "ok");
    assert_eq!(server.connections(), 2);
    assert_eq!(server.requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_connection_reset_does_not_replay_a_post() {
    request_with_body_is_not_replayed(Reuse::Reset, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_connection_close_does_not_replay_a_post() {
    request_with_body_is_not_replayed(Reuse::Close, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_connection_reset_does_not_replay_a_streaming_get() {
    request_with_body_is_not_replayed(Reuse::Reset, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_connection_close_does_not_replay_a_streaming_get() {
    request_with_body_is_not_replayed(Reuse::Close, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_http2_stream_is_sent_again_when_idempotent() {
    let server = RefusingH2Server::spawn(1);
    let client = TokioClient::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = get(&client, &server.url("/")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.text().await.unwrap(), "ok");
    // The refused stream and the one sent again on a fresh connection.
    assert_eq!(server.streams(), 2);
    assert_eq!(server.connections(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_http2_post_reports_that_it_was_not_processed() {
    let server = RefusingH2Server::spawn(1);
    let client = TokioClient::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let error = client
        .post(server.url("/"))
        .body("payload")
        .send()
        .await
        .unwrap_err();
    assert!(error.is_request(), "{error:?}");
    let transport = std::error::Error::source(&error)
        .and_then(|e| e.downcast_ref::<TransportError>())
        .expect("a transport error");
    assert_eq!(transport.kind(), TransportErrorKind::Refused);
    assert_eq!(server.streams(), 1);
}
