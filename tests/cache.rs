//! The HTTP cache through the facade: hits, revalidation, encoded storage under
//! decompression, sharing between clones. RFC 9111's rules themselves are tested in
//! `towline-layers` and by the http-cache-tests run in CI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::within;
use http::{HeaderValue, StatusCode};
use towline::{HttpCache, TokioClient};
use towline_test_support::{TestServer, response};

/// A server that answers every request with `headers` and `body`, recording each request's
/// `If-None-Match`; a request carrying a matching one gets a 304.
fn origin(
    headers: &'static [(&'static str, &'static str)],
    body: Bytes,
) -> (TestServer, Arc<Mutex<Vec<Option<String>>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = TestServer::builder()
        .handler({
            let seen = seen.clone();
            move |req: http::Request<Bytes>| {
                let inm = req
                    .headers()
                    .get("if-none-match")
                    .map(|v| v.to_str().unwrap().to_owned());
                seen.lock().unwrap().push(inm.clone());
                let body = body.clone();
                async move {
                    let etag = headers.iter().find(|(n, _)| *n == "etag").map(|(_, v)| *v);
                    let mut res = if inm.is_some() && inm.as_deref() == etag {
                        response(304, Bytes::new())
                    } else {
                        response(200, body)
                    };
                    for (name, value) in headers {
                        res.headers_mut()
                            .insert(*name, HeaderValue::from_static(value));
                    }
                    res
                }
            }
        })
        .build();
    (server, seen)
}

async fn get_text(client: &TokioClient, url: &str) -> (StatusCode, Option<String>, String) {
    let response = within(client.get(url).send()).await.unwrap();
    let age = response
        .headers()
        .get("age")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = response.status();
    (status, age, within(response.text()).await.unwrap())
}

#[tokio::test]
async fn fresh_responses_are_served_from_the_cache() {
    let (server, seen) = origin(&[("cache-control", "max-age=60")], Bytes::from("hello"));
    let cache = HttpCache::new();
    let client = TokioClient::builder().cache(cache.clone()).build().unwrap();
    let url = server.url("/fresh");
    let (status, age, body) = get_text(&client, &url).await;
    assert_eq!(
        (status, age, body.as_str()),
        (StatusCode::OK, None, "hello")
    );
    // A clone shares the cache: its request is a hit, with an Age header.
    let (status, age, body) = get_text(&client.clone(), &url).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hello"));
    assert!(age.is_some(), "a hit carries Age");
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(cache.len(), 1);

    // Without a cache, every request reaches the origin.
    let plain = TokioClient::new();
    get_text(&plain, &url).await;
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn stale_responses_are_revalidated_with_their_etag() {
    let (server, seen) = origin(
        &[("cache-control", "no-cache"), ("etag", "\"v1\"")],
        Bytes::from("stored body"),
    );
    let client = TokioClient::builder()
        .cache(HttpCache::new())
        .build()
        .unwrap();
    let url = server.url("/etag");
    for _ in 0..2 {
        let (status, _, body) = get_text(&client, &url).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "stored body"));
    }
    // The second request was conditional; the origin's 304 was answered from the store.
    assert_eq!(*seen.lock().unwrap(), [None, Some("\"v1\"".to_owned())]);
}

#[tokio::test]
async fn encoded_bodies_are_stored_encoded_and_decoded_on_every_hit() {
    let text = "compressible text ".repeat(500);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    let gzipped = Bytes::from(encoder.finish().unwrap());
    let stored_len = gzipped.len();
    let (server, seen) = origin(
        &[
            ("cache-control", "max-age=60"),
            ("content-encoding", "gzip"),
        ],
        gzipped,
    );
    let cache = HttpCache::new();
    let client = TokioClient::builder().cache(cache.clone()).build().unwrap();
    let url = server.url("/gzip");
    for _ in 0..2 {
        let (status, _, body) = get_text(&client, &url).await;
        assert_eq!((status, body.len()), (StatusCode::OK, text.len()));
        assert_eq!(body, text);
    }
    assert_eq!(seen.lock().unwrap().len(), 1);
    // What the cache holds is the gzip stream, not the decoded text.
    assert_eq!(cache.len(), 1);
    let stored: Vec<usize> = cache
        .store()
        .get(&url)
        .iter()
        .map(|entry| entry.body().len())
        .collect();
    assert_eq!(stored, [stored_len]);
}
