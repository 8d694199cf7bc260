//! The blocking client against in-process servers, called from plain threads.
#![cfg(feature = "blocking")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::time::Duration;

use serde_json::Value;
use towline::blocking::Client;
use towline_test_support::TestServer;

/// A server on a runtime of its own thread, as a blocking program would talk to.
struct Served {
    server: TestServer,
    _runtime: tokio::runtime::Runtime,
}

fn serve() -> Served {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = {
        let _entered = runtime.enter();
        TestServer::http1()
    };
    Served {
        server,
        _runtime: runtime,
    }
}

/// The threads of this process named `name` (Linux: `/proc/self/task/*/comm`, which keeps
/// 15 bytes of a name).
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == name)
        .count()
}

#[test]
fn a_blocking_request_reads_text_json_and_keeps_its_connection() {
    let served = serve();
    let client = Client::new();
    let echo: Value = client
        .post(served.server.url("/echo"))
        .header("x-probe", "1")
        .body("hello")
        .send()
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], "hello");
    let text = client
        .get(served.server.url("/echo?again"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(text.contains("again"), "{text}");
    assert_eq!(
        served.server.connections(),
        1,
        "the runtime thread kept the connection between calls"
    );
}

#[test]
fn a_body_is_read_as_it_is_consumed() {
    let served = serve();
    let client = Client::new();
    let len = 3 * 1024 * 1024 + 17;
    let mut response = client
        .get(served.server.url(&format!("/bytes/{len}")))
        .send()
        .unwrap();
    assert_eq!(response.content_length(), Some(len as u64));
    // A few bytes through `Read`, the rest through `copy_to`.
    let mut first = [0u8; 10];
    response.read_exact(&mut first).unwrap();
    assert_eq!(first, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let mut rest = Vec::new();
    let copied = response.copy_to(&mut rest).unwrap();
    assert_eq!(copied, (len - 10) as u64);
    let expected = (10..len).map(|i| (i % 251) as u8);
    assert!(rest.iter().copied().eq(expected));
    let mut after = [0u8; 1];
    assert_eq!(response.read(&mut after).unwrap(), 0, "the end of the body");
}

#[test]
fn errors_and_statuses_come_back_as_errors() {
    let served = serve();
    let client = Client::new();
    let error = client
        .get(served.server.url("/status/503"))
        .send()
        .unwrap()
        .error_for_status()
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(503));
    let error = client.get("not a url").send().unwrap_err();
    assert!(error.is_builder(), "{error:?}");
}

#[test]
fn the_timeout_covers_a_slow_answer() {
    let served = serve();
    let client = Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = client
        .get(served.server.url("/slow-headers?ms=5000"))
        .send()
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
}

#[test]
fn inside_an_async_runtime_it_is_an_error_not_a_deadlock() {
    let served = serve();
    let client = Client::new();
    let url = served.server.url("/echo");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let error = runtime
        .block_on(async { client.get(url).send() })
        .unwrap_err();
    assert!(error.is_builder(), "{error:?}");
    assert!(error.to_string().contains("async runtime"), "{error}");
    let error = runtime
        .block_on(async { Client::builder().build() })
        .unwrap_err();
    assert!(error.is_builder(), "{error:?}");
}

#[test]
fn dropping_the_client_shuts_its_thread_down() {
    let served = serve();
    let before = threads_named("towline-sync");
    let client = Client::new();
    let response = client.get(served.server.url("/echo")).send().unwrap();
    assert_eq!(threads_named("towline-sync"), before + 1);
    drop(client);
    // A response still being read keeps the runtime.
    assert_eq!(threads_named("towline-sync"), before + 1);
    assert!(response.text().unwrap().contains("GET"));
    assert_eq!(threads_named("towline-sync"), before);
}
