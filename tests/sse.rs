#![cfg(feature = "sse")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Server-Sent Events through the client, against a server that reproduces the classic
//! event-stream fixtures: streams sent in awkward chunks (a multibyte character split, a CR
//! and its LF apart), a byte-order mark, comments and heartbeats, empty events, field
//! parsing, a 10 MB message, and answers that are not event streams.

mod common;

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::CONTENT_TYPE;
use http::{Request, Response};
use sha2::{Digest, Sha256};
use towline::TokioClient;
use towline::sse::{Event, SseConfig};
use towline_test_support::{BoxBody, TestServer, body_channel, response};

use common::within;

/// A server answering `/{name}` with the fixture's chunks, as `text/event-stream`, each chunk
/// sent separately.
fn fixtures() -> TestServer {
    TestServer::builder()
        .handler(|request: Request<Bytes>| async move {
            let chunks: Vec<Vec<u8>> = match request.uri().path() {
                "/basic" => vec![b"event: welcome\ndata: hello\n\n".to_vec(), b"data: world\n\n".to_vec()],
                "/multibyte" => {
                    let bytes = "data: déjà vu ✓ 🦀\n\n".as_bytes().to_vec();
                    // Split inside the crab's four bytes.
                    let at = bytes.len() - 4;
                    vec![bytes[..at].to_vec(), bytes[at..].to_vec()]
                }
                "/bom" => vec![b"\xEF\xBB".to_vec(), b"\xBFdata: bom\n\n\xEF\xBB\xBFdata: second\n\n".to_vec()],
                "/crlf" => vec![b"data: a\r".to_vec(), b"\n\r".to_vec(), b"\ndata: b\r\n\r\n".to_vec()],
                "/comments" => vec![
                    b": heartbeat\n".to_vec(),
                    b": heartbeat\ndata: 1\n: inside\ndata: 2\n\n".to_vec(),
                ],
                "/empty-events" => vec![b"event: nothing\n\nid: 7\n\ndata:\n\n".to_vec()],
                "/field-parsing" => vec![
                    b"data:no-space\ndata: one-space\ndata:  two-spaces\nfoo: bar\nid: 3\nretry: 5000\nretry: soon\nevent: custom\n\n"
                        .to_vec(),
                ],
                "/huge" => {
                    let payload = "x".repeat(10 * 1024 * 1024);
                    vec![format!("data: {payload}\n\n").into_bytes()]
                }
                "/endless" => vec![vec![b'a'; 4 * 1024 * 1024]],
                "/html" => return response(200, "<html>not events</html>"),
                _ => return response(404, ""),
            };
            let (sender, body) = body_channel();
            tokio::spawn(async move {
                for chunk in chunks {
                    if !sender.send_data(chunk).await {
                        return;
                    }
                    tokio::task::yield_now().await;
                }
            });
            let mut response: Response<BoxBody> = Response::new(body);
            response
                .headers_mut()
                .insert(CONTENT_TYPE, "text/event-stream; charset=utf-8".parse().unwrap());
            response
        })
        .build()
}

async fn events(server: &TestServer, path: &str, config: SseConfig) -> Vec<towline::Result<Event>> {
    let client = TokioClient::new();
    let response = within(client.get(server.url(path)).send()).await.unwrap();
    let stream = response.sse_with(config).unwrap();
    within(stream.collect::<Vec<_>>()).await
}

async fn ok_events(server: &TestServer, path: &str) -> Vec<Event> {
    events(server, path, SseConfig::default())
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

fn data(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

#[tokio::test]
async fn events_arrive_with_their_types() {
    let server = fixtures();
    let events = ok_events(&server, "/basic").await;
    assert_eq!(data(&events), ["hello", "world"]);
    assert_eq!(events[0].event, "welcome");
    assert_eq!(events[1].event, "message");
}

#[tokio::test]
async fn chunk_boundaries_do_not_matter() {
    let server = fixtures();
    assert_eq!(
        data(&ok_events(&server, "/multibyte").await),
        ["déjà vu ✓ 🦀"]
    );
    assert_eq!(data(&ok_events(&server, "/crlf").await), ["a", "b"]);
    assert_eq!(
        data(&ok_events(&server, "/bom").await),
        ["bom"],
        "the first BOM is stripped; a second one spoils its line's field name"
    );
}

#[tokio::test]
async fn comments_empty_events_and_fields() {
    let server = fixtures();
    assert_eq!(data(&ok_events(&server, "/comments").await), ["1\n2"]);
    let empty = ok_events(&server, "/empty-events").await;
    assert_eq!(data(&empty), [""]);
    assert_eq!(
        empty[0].id, "7",
        "the id set by a dataless block carries over"
    );
    let fields = ok_events(&server, "/field-parsing").await;
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].data, "no-space\none-space\n two-spaces");
    assert_eq!(fields[0].event, "custom");
    assert_eq!(fields[0].id, "3");
    assert_eq!(
        fields[0].retry,
        Some(Duration::from_millis(5000)),
        "`retry: soon` is ignored"
    );
}

#[tokio::test]
async fn a_10_mb_message_needs_a_raised_cap_and_arrives_whole() {
    let server = fixtures();
    let capped = events(&server, "/huge", SseConfig::default()).await;
    let error = capped.into_iter().next().unwrap().unwrap_err();
    assert!(error.is_decode(), "{error:?}");
    let roomy = SseConfig::default()
        .with_max_line(11 * 1024 * 1024)
        .with_max_event(11 * 1024 * 1024);
    let events = events(&server, "/huge", roomy).await;
    let event = events.into_iter().next().unwrap().unwrap();
    let expected = "x".repeat(10 * 1024 * 1024);
    assert_eq!(
        Sha256::digest(event.data.as_bytes()),
        Sha256::digest(expected.as_bytes())
    );
}

#[tokio::test]
async fn an_endless_line_is_an_error_at_the_cap_not_a_buffer_that_grows() {
    let server = fixtures();
    let config = SseConfig::default().with_max_line(64 * 1024);
    let results = events(&server, "/endless", config).await;
    assert_eq!(results.len(), 1);
    let error = results.into_iter().next().unwrap().unwrap_err();
    assert!(error.is_decode(), "{error:?}");
    assert!(error.to_string().contains("65536"), "{error}");
}

#[tokio::test]
async fn a_response_that_is_not_an_event_stream_is_refused() {
    let server = fixtures();
    let client = TokioClient::new();
    let response = within(client.get(server.url("/html")).send())
        .await
        .unwrap();
    let error = response.sse().unwrap_err();
    assert!(error.is_decode(), "{error:?}");
    assert!(error.to_string().contains("text/plain") || error.to_string().contains("content-type"));
}

#[tokio::test]
async fn an_event_source_reconnects_with_the_last_event_id_until_a_204() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let server = TestServer::builder()
        .handler({
            let seen = seen.clone();
            move |request: Request<Bytes>| {
                let last_id = request
                    .headers()
                    .get("last-event-id")
                    .map(|v| v.to_str().unwrap().to_owned());
                let connection = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(last_id);
                    seen.len()
                };
                async move {
                    let body = match connection {
                        1 => "retry: 20\nid: 1\ndata: one\n\nid: 2\ndata: two\n\n",
                        2 => "id: 3\ndata: three\n\n",
                        _ => return response(204, ""),
                    };
                    let mut response = response(200, body);
                    response
                        .headers_mut()
                        .insert(CONTENT_TYPE, "text/event-stream".parse().unwrap());
                    response
                }
            }
        })
        .build();
    let client = TokioClient::new();
    let source =
        towline::sse::EventSource::new(&client, client.get(server.url("/stream"))).unwrap();
    let events: Vec<Event> = within(source.map(Result::unwrap).collect()).await;
    assert_eq!(data(&events), ["one", "two", "three"]);
    assert_eq!(
        *seen.lock().unwrap(),
        [None, Some("2".to_owned()), Some("3".to_owned())]
    );
}

#[tokio::test]
async fn an_event_source_stops_on_an_answer_that_is_not_an_event_stream() {
    let server = fixtures();
    let client = TokioClient::new();
    let mut source =
        towline::sse::EventSource::new(&client, client.get(server.url("/html"))).unwrap();
    let error = within(source.next()).await.unwrap().unwrap_err();
    assert!(error.is_decode(), "{error:?}");
    assert!(within(source.next()).await.is_none());
}
