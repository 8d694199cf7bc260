//! `CacheLayer` on fuzzed response and request header fields: a GET is answered by a
//! `service_fn` with fuzzed fields and stored (or not); virtual time moves by a fuzzed step;
//! a second GET with fuzzed request fields is answered from the store, revalidated (the
//! origin answers a 304 with fuzzed fields, or fails), or forwarded. `parse_directives` reads
//! every fuzzed field too.
//!
//! Input: byte 0 the first status, byte 1 the number of response field lines (0-7), byte 2
//! the time step (2^(b % 48) seconds), byte 3 how the origin answers the second request
//! (200, 304, 500 or an error), byte 4 the number of 304 field lines (0-7), byte 5 the number
//! of request field lines (0-3); then the field lines (`name: value`) up to `\n` each, in
//! that order; the rest is the body.
//!
//! Invariants, from the `cache` module documentation: no panic, every future completes at
//! once over ready services; `parse_directives` clamps every duration at 2^31 s; the `Age`
//! of an answer from the store is a number no larger than 2^31 s plus the time that passed; an answer from
//! the store has the stored body (or none, for a 304 to the caller's conditional); the
//! store never holds more than one response for the single URL used without `Vary`.
#![no_main]

use std::{
    sync::{Arc, Mutex},
    time::{Duration, UNIX_EPOCH},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use tower::{BoxError, ServiceBuilder, ServiceExt};
use towline_fuzz::{Reader, block_on, drain};
use towline_layers::{
    cache::{CacheLayer, HttpCache, parse_directives},
    exec::{BoxFuture, SharedExecutor},
    time::{ManualTimer, TimerClock},
};

const MAX_DELTA: Duration = Duration::from_secs(1 << 31);

/// Runs background revalidations at once, on the fuzzing thread.
struct Inline;

impl hyper::rt::Executor<BoxFuture> for Inline {
    fn execute(&self, future: BoxFuture) {
        block_on(future);
    }
}

fn fields(reader: &mut Reader<'_>, count: usize) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for _ in 0..count {
        let line = reader.until(b'\n');
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(at) => (&line[..at], &line[at + 1..]),
            None => (line, &b""[..]),
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(value.trim_ascii()),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

fn check_directives(headers: &HeaderMap) {
    let parsed = parse_directives(headers);
    for duration in [
        parsed.max_age,
        parsed.stale_while_revalidate,
        parsed.stale_if_error,
    ]
    .into_iter()
    .flatten()
    {
        assert!(duration <= MAX_DELTA, "{duration:?} over the 2^31 s cap");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut reader = Reader::new(data);
    let status = reader.pick(&[200u16, 203, 204, 301, 404, 410, 500, 599, 206, 304]);
    let response_lines = usize::from(reader.byte() % 8);
    let step = Duration::from_secs(1u64 << (reader.byte() % 48));
    let second = reader.byte() % 4;
    let update_lines = usize::from(reader.byte() % 8);
    let request_lines = usize::from(reader.byte() % 4);
    let response_fields = fields(&mut reader, response_lines);
    let update_fields = fields(&mut reader, update_lines);
    let request_fields = fields(&mut reader, request_lines);
    let body = Bytes::copy_from_slice(reader.rest());
    for headers in [&response_fields, &update_fields, &request_fields] {
        check_directives(headers);
    }

    let timer = ManualTimer::new();
    let clock = TimerClock::starting_at(
        timer.shared(),
        UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    );
    let cache = HttpCache::new();
    let executor: SharedExecutor = Arc::new(Inline);
    let calls = Arc::new(Mutex::new(0u32));
    let origin = {
        let calls = Arc::clone(&calls);
        let (response_fields, update_fields, body) =
            (response_fields.clone(), update_fields.clone(), body.clone());
        tower::service_fn(move |_request: Request<Full<Bytes>>| {
            let call = {
                let mut calls = calls.lock().expect("not poisoned");
                *calls += 1;
                *calls
            };
            let answer = match (call, second) {
                (1, _) => Ok((status, response_fields.clone(), body.clone())),
                (_, 0) => Ok((200, response_fields.clone(), body.clone())),
                (_, 1) => Ok((304, update_fields.clone(), Bytes::new())),
                (_, 2) => Ok((500, HeaderMap::new(), Bytes::new())),
                _ => Err(BoxError::from("connection refused")),
            };
            std::future::ready(answer.map(|(status, headers, body)| {
                let mut response = Response::new(Full::new(body));
                *response.status_mut() = StatusCode::from_u16(status).expect("valid status");
                *response.headers_mut() = headers;
                response
            }))
        })
    };
    let service = ServiceBuilder::new()
        .layer(CacheLayer::new(cache.clone(), timer.shared(), executor).wall_clock(clock.shared()))
        .service(origin);

    let uri = "http://example.test/resource";
    let first = block_on(
        service.clone().oneshot(
            Request::get(uri)
                .body(Full::default())
                .expect("valid request"),
        ),
    )
    .expect("the origin answers the first request");
    drain(first.into_body(), usize::MAX);
    if !response_fields.contains_key(http::header::VARY) {
        assert!(
            cache.len() <= 1,
            "one URL, no Vary, {} responses",
            cache.len()
        );
    }

    timer.advance(step);
    let mut request = Request::get(uri)
        .body(Full::default())
        .expect("valid request");
    *request.headers_mut() = request_fields;
    let Ok(answer) = block_on(service.oneshot(request)) else {
        return;
    };
    // Answered without the origin: from the store (or a 504 for `only-if-cached`).
    let from_store = *calls.lock().expect("not poisoned") == 1;
    if from_store && let Some(age) = answer.headers().get(http::header::AGE) {
        let age: u64 = age
            .to_str()
            .ok()
            .and_then(|age| age.parse().ok())
            .expect("the cache's Age is a number");
        assert!(
            Duration::from_secs(age) <= MAX_DELTA + step,
            "Age {age} over the cap plus the time that passed"
        );
    }
    let answer_status = answer.status();
    let drained = drain(answer.into_body(), usize::MAX);
    if from_store
        && answer_status != StatusCode::NOT_MODIFIED
        && answer_status != StatusCode::GATEWAY_TIMEOUT
    {
        assert_eq!(
            drained.data, body,
            "an answer from the store has the stored body"
        );
    }
});
