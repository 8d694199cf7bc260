//! The WebSocket handshake's checks of the server's answer (`WebSocketBuilder::send`), on an
//! answer made of fuzzed header lines. A layer added with `ClientBuilder::layer` answers, so
//! no socket opens; the future is driven by a no-op-waker poll loop.
//!
//! Input: byte 0 the status (101 or others), byte 1 flags (bit 0: add the correct
//! `Sec-WebSocket-Accept` for the key sent; bit 1: offer subprotocols `a, b`; bit 2: offer
//! `permessage-deflate`; bit 3: HTTP/2 extended CONNECT), then `name: value` lines.
//!
//! Invariants: no panic, never pending; the handshake always fails (a mock cannot hand over a
//! connection) and always with an upgrade error; an answer that chose a subprotocol not
//! offered, or accepted an extension when none was offered, is refused before the connection
//! is asked for (its message says "refused").
#![no_main]

use std::sync::Mutex;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Empty;
use libfuzzer_sys::fuzz_target;
use towline::{Body, Client};
use towline_fuzz::{Reader, block_on};

struct Answer {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    accept: bool,
}

static ANSWER: Mutex<Option<Answer>> = Mutex::new(None);

async fn answer(request: Request<Body>) -> Result<Response<Empty<Bytes>>, towline::BoxError> {
    let guard = ANSWER.lock().unwrap();
    let spec = guard.as_ref().expect("an answer to give");
    let mut response = Response::new(Empty::new());
    *response.status_mut() = spec.status;
    for (name, value) in &spec.headers {
        response.headers_mut().append(name.clone(), value.clone());
    }
    if spec.accept
        && let Some(key) = request.headers().get(header::SEC_WEBSOCKET_KEY)
    {
        let accept = towline::websocket::accept_key(key.as_bytes());
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_ACCEPT, HeaderValue::try_from(accept).unwrap());
    }
    Ok(response)
}

fuzz_target!(|data: &[u8]| {
    const STATUS: [u16; 4] = [101, 200, 101, 400];
    let mut reader = Reader::new(data);
    let status = StatusCode::from_u16(reader.pick(&STATUS)).unwrap();
    let flags = reader.byte();
    let mut headers = Vec::new();
    while !reader.is_empty() {
        let line = reader.until(b'\n');
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) {
            headers.push((name, value));
        }
    }
    let protocol_answered = headers.iter().any(|(n, _)| n == header::SEC_WEBSOCKET_PROTOCOL);
    // Anything but list separators names an extension (or is malformed).
    let extension_answered = headers.iter().any(|(n, v)| {
        n == header::SEC_WEBSOCKET_EXTENSIONS
            && v.as_bytes().iter().any(|b| !matches!(b, b',' | b' ' | b'\t'))
    });
    let offers_protocols = flags & 2 != 0;
    let offers_extension = flags & 4 != 0;
    *ANSWER.lock().unwrap() = Some(Answer {
        status,
        headers,
        accept: flags & 1 != 0,
    });

    let client = Client::builder()
        .layer(tower::layer::layer_fn(|_inner| tower::service_fn(answer)))
        .build()
        .expect("a client");
    let mut handshake = client.websocket("ws://example.test/chat");
    if offers_protocols {
        handshake = handshake.protocols(["a", "b"]);
    }
    if offers_extension {
        handshake = handshake.extensions("permessage-deflate; client_max_window_bits");
    }
    if flags & 8 != 0 {
        handshake = handshake.http2();
    }
    let error = block_on(handshake.send()).expect_err("a mock cannot hand over a connection");
    assert!(error.is_upgrade(), "{error:?}");
    if (protocol_answered && !offers_protocols) || (extension_answered && !offers_extension) {
        assert!(error.to_string().contains("refused"), "{error}");
    }
});
