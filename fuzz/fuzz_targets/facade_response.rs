//! The facade's reading of a response: `Content-Length` (and the maximum body size checked
//! against it), `Content-Type`'s charset for `text()`, JSON, chunks and trailers. A layer
//! added with `ClientBuilder::layer` answers with the fuzzed response, so no socket is ever
//! opened; the future is driven by a no-op-waker poll loop.
//!
//! Input: byte 0 the status, byte 1 flags (bit 0 a `Content-Length` line, bit 1 a
//! `Content-Type` line, bits 2-3 the maximum body size, bits 4-6 the frame size, bit 7
//! trailers), then the `Content-Length` and `Content-Type` values up to `\n` (when present),
//! then the body.
//!
//! Invariants, from the facade's documentation: no panic; `error_for_status` fails exactly on
//! 4xx and 5xx; `bytes()` returns the body exactly, or fails when the body or its announced
//! `Content-Length` exceeds the maximum body size (a lying `Content-Length` never makes it
//! allocate without bound: the presize is capped); `chunk()` returns the body's data and
//! keeps the trailers, failing only when the body exceeds the maximum; `text()` without a
//! `Content-Type` is the body as UTF-8 with invalid sequences replaced; `json()` succeeds
//! exactly when the body is JSON (within the maximum).
#![no_main]

use std::sync::{Mutex, OnceLock};

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use towline::{Body, TokioClient};
use towline_fuzz::{Frames, Reader, block_on};

#[derive(Clone)]
struct Spec {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    chunk: usize,
    trailers: Option<HeaderMap>,
}

static SPEC: Mutex<Option<Spec>> = Mutex::new(None);

async fn answer(_request: Request<Body>) -> Result<Response<Frames>, towline::BoxError> {
    let spec = SPEC.lock().unwrap().clone().expect("a response to give");
    // Like hyper, announce the body's length from `Content-Length` (true or not).
    let announced = spec
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let mut response = Response::new(
        Frames::split(&spec.body, spec.chunk, spec.trailers).announcing(announced),
    );
    *response.status_mut() = spec.status;
    *response.headers_mut() = spec.headers;
    Ok(response)
}

fn client() -> &'static TokioClient {
    static CLIENT: OnceLock<TokioClient> = OnceLock::new();
    CLIENT.get_or_init(|| {
        TokioClient::builder()
            .layer(tower::layer::layer_fn(|_inner| tower::service_fn(answer)))
            .build()
            .expect("a client")
    })
}

fn send(max: Option<u64>) -> towline::Response {
    let mut response = block_on(client().get("http://example.test/").send())
        .expect("the mock always answers");
    response.set_max_body_size(max);
    response
}

fn has_bom(body: &[u8]) -> bool {
    body.starts_with(&[0xEF, 0xBB, 0xBF])
        || body.starts_with(&[0xFE, 0xFF])
        || body.starts_with(&[0xFF, 0xFE])
}

fuzz_target!(|data: &[u8]| {
    const STATUS: [u16; 8] = [200, 201, 204, 301, 404, 500, 599, 100];
    const MAX: [Option<u64>; 4] = [None, Some(0), Some(10), Some(1000)];
    const CHUNK: [usize; 8] = [0, 1, 2, 3, 7, 64, 512, 4096];
    let mut reader = Reader::new(data);
    let status = StatusCode::from_u16(reader.pick(&STATUS)).unwrap();
    let flags = reader.byte();
    let mut headers = HeaderMap::new();
    if flags & 1 != 0
        && let Ok(value) = HeaderValue::from_bytes(reader.until(b'\n'))
    {
        headers.insert(header::CONTENT_LENGTH, value);
    }
    let has_content_type = flags & 2 != 0;
    if has_content_type
        && let Ok(value) = HeaderValue::from_bytes(reader.until(b'\n'))
    {
        headers.insert(header::CONTENT_TYPE, value);
    }
    let max = MAX[usize::from((flags >> 2) & 3)];
    let mut trailers = HeaderMap::new();
    trailers.insert("x-digest", HeaderValue::from_static("sha-256=abc"));
    let spec = Spec {
        status,
        headers,
        body: reader.rest().to_vec(),
        chunk: CHUNK[usize::from((flags >> 4) & 7)],
        trailers: (flags & 0x80 != 0).then_some(trailers.clone()),
    };
    let body = spec.body.clone();
    let content_type = spec.headers.contains_key(header::CONTENT_TYPE);
    *SPEC.lock().unwrap() = Some(spec.clone());

    let too_big = |announced: Option<u64>| {
        max.is_some_and(|max| body.len() as u64 > max || announced.is_some_and(|len| len > max))
    };

    // Status and bytes().
    let response = send(max);
    assert_eq!(response.status(), status);
    assert_eq!(
        response.error_for_status_ref().is_err(),
        status.is_client_error() || status.is_server_error()
    );
    let announced = response.content_length();
    let expected_len = spec
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .unwrap_or(body.len() as u64);
    assert_eq!(announced, Some(expected_len), "content_length()");
    match block_on(response.bytes()) {
        Ok(bytes) => {
            assert!(!too_big(announced), "bytes() went past the maximum");
            assert_eq!(bytes, body.as_slice());
        }
        Err(err) => {
            assert!(too_big(announced), "bytes() failed: {err:?}");
            let _ = err.to_string();
        }
    }

    // chunk() and trailers.
    let mut response = send(max);
    let mut chunks = Vec::new();
    let outcome = loop {
        match block_on(response.chunk()) {
            Ok(Some(chunk)) => {
                assert!(!chunk.is_empty());
                chunks.extend_from_slice(&chunk);
            }
            Ok(None) => break Ok(()),
            Err(err) => break Err(err),
        }
    };
    let over = max.is_some_and(|max| body.len() as u64 > max);
    match outcome {
        Ok(()) => {
            assert!(!over, "chunk() went past the maximum");
            assert_eq!(chunks, body);
            assert_eq!(response.trailers(), spec.trailers.as_ref());
        }
        Err(err) => assert!(over, "chunk() failed: {err:?}"),
    }

    // text().
    let response = send(max);
    match block_on(response.text()) {
        Ok(text) => {
            assert!(!too_big(announced));
            if !content_type && !has_bom(&body) {
                assert_eq!(text, String::from_utf8_lossy(&body));
            }
        }
        Err(err) => assert!(
            too_big(announced) || content_type,
            "text() without Content-Type failed: {err:?}"
        ),
    }

    // json().
    let response = send(max);
    let expected = serde_json::from_slice::<serde_json::Value>(&body);
    match block_on(response.json::<serde_json::Value>()) {
        Ok(value) => {
            assert!(!too_big(announced));
            assert_eq!(Some(value), expected.ok());
        }
        Err(err) => assert!(
            too_big(announced) || expected.is_err(),
            "json() failed on JSON: {err:?}"
        ),
    }
});
