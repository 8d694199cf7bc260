#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Malformed and cut-off responses from raw-socket servers: each must give the client's
//! own error — from `send` when the head is bad, from reading the body when the body is —
//! never a panic or a hang, and must leave the client usable.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use towline::TokioClient;
use towline_test_support::{RawServer, TestServer};

use common::{get, within};

/// Records the largest single allocation, so a test can check that a hostile
/// `Content-Length` did not make the client allocate what it announced.
struct LargestAllocation;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)]
// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// The client still works against a healthy server.
async fn still_works(client: &TokioClient) {
    let healthy = TestServer::http1();
    let response = get(client, &healthy.url("/echo")).await.unwrap();
    assert_eq!(response.status(), 200);
    let echo: serde_json::Value = within(response.json()).await.unwrap();
    assert_eq!(echo["path"], "/echo");
}

/// Answers with `response` and closes; `send` must fail with a request error.
async fn send_fails(client: &TokioClient, response: &[u8]) -> towline::Error {
    let server = RawServer::respond_and_close(response);
    let error = get(client, &server.url("/"))
        .await
        .expect_err("a malformed head must fail the send");
    assert!(error.is_request(), "{error:?}");
    assert!(!error.is_body() && !error.is_connect(), "{error:?}");
    assert!(!error.is_timeout(), "{error:?}");
    // The head was read on a fresh connection; nothing was sent again.
    assert_eq!(server.connections(), 1);
    assert_eq!(server.requests(), 1);
    error
}

#[tokio::test]
async fn invalid_status_line() {
    let client = TokioClient::new();
    send_fails(&client, b"HTTP/1.1 abc OK\r\ncontent-length: 0\r\n\r\n").await;
    still_works(&client).await;
}

#[tokio::test]
async fn conflicting_content_lengths() {
    let client = TokioClient::new();
    send_fails(
        &client,
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!",
    )
    .await;
    still_works(&client).await;
}

#[tokio::test]
async fn connection_closed_without_a_response() {
    let client = TokioClient::new();
    send_fails(&client, b"").await;
    still_works(&client).await;
}

#[tokio::test]
async fn oversized_response_head() {
    let mut response = b"HTTP/1.1 200 OK\r\nx-big: ".to_vec();
    response.extend(std::iter::repeat_n(b'a', 100 * 1024));
    response.extend_from_slice(b"\r\ncontent-length: 2\r\n\r\nok");

    // The head itself is valid: a client with the default limit takes it...
    let lenient = TokioClient::new();
    let server = RawServer::respond_and_close(&response);
    let accepted = get(&lenient, &server.url("/")).await.unwrap();
    assert_eq!(accepted.headers()["x-big"].len(), 100 * 1024);
    assert_eq!(within(accepted.text()).await.unwrap(), "ok");

    // ...and one limited to 16 KiB refuses it.
    let strict = TokioClient::builder()
        .http1_max_header_size(16 * 1024)
        .build()
        .unwrap();
    send_fails(&strict, &response).await;
    still_works(&strict).await;
}

#[tokio::test]
async fn truncated_chunked_body() {
    let client = TokioClient::new();
    // The chunk header announces 0x64 = 100 bytes; 10 come, then FIN.
    let server = RawServer::respond_and_close(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n64\r\n0123456789",
    );
    let response = get(&client, &server.url("/"))
        .await
        .expect("the head is fine");
    assert_eq!(response.status(), 200);
    let error = within(response.bytes())
        .await
        .expect_err("the body was cut short");
    assert!(error.is_body(), "{error:?}");
    assert!(!error.is_timeout(), "{error:?}");
    still_works(&client).await;
}

#[tokio::test]
async fn reset_in_the_middle_of_the_body() {
    let client = TokioClient::new();
    let server = RawServer::spawn(|mut conn| async move {
        if conn.read_request().await.is_none() {
            return;
        }
        let mut response = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n".to_vec();
        response.extend_from_slice(&[b'x'; 100]);
        if conn.write_all(&response).await.is_ok() {
            conn.reset();
        }
    });
    let response = get(&client, &server.url("/"))
        .await
        .expect("the head arrived before the reset");
    assert_eq!(response.content_length(), Some(1000));
    let error = within(response.bytes())
        .await
        .expect_err("900 bytes never came");
    assert!(error.is_body(), "{error:?}");
    assert!(!error.is_timeout(), "{error:?}");
    still_works(&client).await;
}

#[tokio::test]
async fn huge_content_length_with_a_short_body() {
    const ANNOUNCED: u64 = 99_999_999_999_999;
    let client = TokioClient::new();
    let server = RawServer::spawn(|mut conn| async move {
        if conn.read_request().await.is_none() {
            return;
        }
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {ANNOUNCED}\r\n\r\nabc");
        if conn.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        // A second chunk, apart from the first, takes `bytes()` past its single-chunk
        // shortcut to where it sizes a buffer for the rest of the body.
        tokio::time::sleep(Duration::from_millis(20)).await;
        if conn.write_all(b"def").await.is_ok() {
            conn.close().await;
        }
    });
    let response = get(&client, &server.url("/")).await.unwrap();
    assert_eq!(response.content_length(), Some(ANNOUNCED));
    let error = within(response.bytes())
        .await
        .expect_err("the body ends 99 TB early");
    assert!(error.is_body(), "{error:?}");
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < 64 * 1024 * 1024,
        "the client allocated {largest} bytes at once for a body that sent 6"
    );
    still_works(&client).await;
}

#[tokio::test]
async fn content_length_over_the_maximum_body_size_fails_before_reading() {
    let client = TokioClient::builder().max_body_size(1000).build().unwrap();
    // The head announces 5000 bytes, none of which ever comes: reading would hang.
    let server = RawServer::spawn(|mut conn| async move {
        if conn.read_request().await.is_none() {
            return;
        }
        if conn
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n")
            .await
            .is_ok()
        {
            // Hold the connection open until the client closes it.
            let _ = conn.read_request_head().await;
        }
    });
    let response = get(&client, &server.url("/")).await.unwrap();
    assert_eq!(response.content_length(), Some(5000));
    let error = within(response.bytes())
        .await
        .expect_err("5000 bytes exceed the 1000-byte maximum");
    assert!(error.is_body(), "{error:?}");
    assert!(!error.is_timeout(), "{error:?}");
    still_works(&client).await;
}
