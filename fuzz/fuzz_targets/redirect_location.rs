//! `Location` resolution and the per-hop rules of `RedirectLayer`, through its public
//! surface: a scripted `service_fn` answers each hop with a fuzzed status and `Location`,
//! driven by a no-op-waker poll loop. (The resolver itself is private to the module.)
//!
//! Input: byte 0 the first URI (a table, or a URI up to `\n` from 0xf0 on), byte 1 the method,
//! byte 2 flags (bit 0 `https_only`, bit 1 `referer`, bit 2 an empty request body, bit 3 a
//! `Fragment` extension, bits 4-7 the `Policy::limited` maximum), then up to 12 hops, each a
//! status byte and a `Location` value up to `\n`.
//!
//! Invariants, from the `redirect` module documentation: no panic; every hop after the first
//! is an absolute `http`/`https` URI (`https` only under `https_only`); at most `max` hops;
//! 301/302 turn POST into GET, 303 anything but HEAD, dropping body and `Content-Type`, other
//! redirects resend the body unchanged; credentials (`Authorization`, `Cookie`,
//! `Proxy-Authorization`, sensitive headers) are gone from the first cross-origin hop on;
//! `Referer` follows strict-origin-when-cross-origin and never carries userinfo; a response
//! carries `EffectiveUri` and `RedirectHistory` matching the hops, an error is a
//! `RedirectError` whose history and kind match them and whose `Display` names no URI.
#![no_main]

use std::{
    collections::VecDeque,
    convert::Infallible,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use http::{
    HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri,
    header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, PROXY_AUTHORIZATION, REFERER},
};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use tower::{ServiceBuilder, ServiceExt};
use towline_fuzz::{Reader, block_on, drain};
use towline_layers::{
    EffectiveUri,
    error::find_cause,
    redirect::{Fragment, Policy, RedirectErrorKind, RedirectHistory, RedirectLayer},
    resend::ResendBody,
};

const URIS: &[&str] = &[
    "http://example.com/a/b?x=1",
    "https://user:secret@example.com:8443/p/q",
    "http://example.com:80/",
    "https://[::1]/x",
    "http://127.0.0.1:8080/a/../b",
    "https://example.com/",
    "http://xn--bcher-kva.example/%7Efoo",
    "HTTP://Example.COM/Caps",
];
const STATUS: [u16; 8] = [301, 302, 303, 307, 308, 300, 304, 200];
const PAYLOAD: &[u8] = b"request payload";

#[derive(Debug)]
struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

#[derive(Default)]
struct Script {
    hops: VecDeque<(StatusCode, Option<HeaderValue>)>,
    /// What each response carried, in order.
    answered: Vec<(StatusCode, Option<HeaderValue>)>,
    seen: Vec<Seen>,
}

fn effective_port(uri: &Uri) -> Option<u16> {
    uri.port_u16().or_else(|| match uri.scheme_str()?.to_ascii_lowercase().as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })
}

fn same_origin(a: &Uri, b: &Uri) -> bool {
    let eq = |x: Option<&str>, y: Option<&str>| match (x, y) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    };
    eq(a.scheme_str(), b.scheme_str())
        && eq(a.host(), b.host())
        && effective_port(a) == effective_port(b)
}

fn is_https(uri: &Uri) -> bool {
    uri.scheme_str().is_some_and(|s| s.eq_ignore_ascii_case("https"))
}

/// The documented `Referer` for a hop from `from` to `to`.
fn model_referer(from: &Uri, to: &Uri) -> Option<String> {
    if is_https(from) && !is_https(to) {
        return None;
    }
    let mut value = format!("{}://{}", from.scheme_str()?, from.host()?);
    if let Some(port) = from.port_u16() {
        value.push_str(&format!(":{port}"));
    }
    if same_origin(from, to) {
        value.push_str(from.path_and_query().map_or("/", |pq| pq.as_str()));
    } else {
        value.push('/');
    }
    Some(value)
}

fn has_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(AUTHORIZATION)
        || headers.contains_key(COOKIE)
        || headers.contains_key(PROXY_AUTHORIZATION)
        || headers.contains_key("x-api-key")
}

fuzz_target!(|data: &[u8]| {
    let mut reader = Reader::new(data);
    let selector = reader.byte();
    let uri: Option<Uri> = if selector >= 0xf0 {
        Uri::try_from(reader.until(b'\n')).ok()
    } else {
        URIS[usize::from(selector) % URIS.len()].parse().ok()
    };
    let method = reader.pick(&[Method::GET, Method::POST, Method::HEAD, Method::PUT]);
    let flags = reader.byte();
    let https_only = flags & 1 != 0;
    let referer = flags & 2 != 0;
    let empty_body = flags & 4 != 0;
    let fragment = flags & 8 != 0;
    let max = usize::from(flags >> 4);

    let mut script = Script::default();
    while !reader.is_empty() && script.hops.len() < 12 {
        let status = StatusCode::from_u16(reader.pick(&STATUS)).expect("valid status");
        let location = HeaderValue::from_bytes(reader.until(b'\n')).ok();
        script.hops.push_back((status, location));
    }
    let Some(uri) = uri else { return };
    let script = Arc::new(Mutex::new(script));

    let mock = {
        let script = Arc::clone(&script);
        tower::service_fn(move |request: Request<ResendBody<Full<Bytes>>>| {
            let (parts, body) = request.into_parts();
            let drained = drain(body, 1 << 20);
            assert!(drained.error.is_none(), "request body failed: {:?}", drained.error);
            let mut script = script.lock().unwrap();
            script.seen.push(Seen {
                method: parts.method,
                uri: parts.uri,
                headers: parts.headers,
                body: drained.data,
            });
            let (status, location) = script
                .hops
                .pop_front()
                .unwrap_or((StatusCode::OK, None));
            script.answered.push((status, location.clone()));
            let mut response = Response::new(Full::new(Bytes::from_static(b"hop body")));
            *response.status_mut() = status;
            if let Some(location) = location {
                response.headers_mut().insert(LOCATION, location);
            }
            async move { Ok::<_, Infallible>(response) }
        })
    };
    let service = ServiceBuilder::new()
        .layer(
            RedirectLayer::new(Policy::limited(max))
                .https_only(https_only)
                .referer(referer),
        )
        .service(mock);

    let body = if empty_body { Bytes::new() } else { Bytes::from_static(PAYLOAD) };
    let mut request = Request::new(Full::new(body.clone()));
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri.clone();
    let headers = request.headers_mut();
    headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer secret-token"));
    headers.insert(COOKIE, HeaderValue::from_static("session=secret"));
    headers.insert(PROXY_AUTHORIZATION, HeaderValue::from_static("Basic c2VjcmV0"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert("x-kept", HeaderValue::from_static("kept"));
    let mut api_key = HeaderValue::from_static("secret-key");
    api_key.set_sensitive(true);
    headers.insert("x-api-key", api_key);
    if fragment {
        request.extensions_mut().insert(Fragment("start".into()));
    }

    let result = block_on(service.oneshot(request));
    let script = script.lock().unwrap();
    let seen = &script.seen;
    let answered = &script.answered;
    assert!(!seen.is_empty() && seen.len() == answered.len());
    assert_eq!(seen[0].uri, uri);
    assert!(seen.len() - 1 <= max, "{} hops under limited({max})", seen.len() - 1);

    let mut crossed = false;
    let mut body_dropped = false;
    for (i, hop) in seen.iter().enumerate() {
        assert!(hop.headers.contains_key("x-kept"), "a caller's header was lost");
        if i == 0 {
            assert_eq!(hop.body, body, "the first request sends the body");
            continue;
        }
        let prev = &seen[i - 1];
        let (status, _) = &answered[i - 1];
        assert!(
            matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308),
            "followed a {status}"
        );
        let scheme = hop.uri.scheme_str().map(str::to_ascii_lowercase);
        assert!(
            matches!(scheme.as_deref(), Some("http" | "https")) && hop.uri.authority().is_some(),
            "hop {i} to {}",
            hop.uri
        );
        if https_only {
            assert!(is_https(&hop.uri), "https_only followed {}", hop.uri);
        }

        let (expected_method, keeps_body) = match status.as_u16() {
            301 | 302 if prev.method == Method::POST => (Method::GET, false),
            303 if prev.method == Method::HEAD => (Method::HEAD, false),
            303 => (Method::GET, false),
            _ => (prev.method.clone(), true),
        };
        assert_eq!(hop.method, expected_method, "method after {status}");
        body_dropped |= !keeps_body;
        if body_dropped {
            assert!(hop.body.is_empty(), "a dropped body was sent");
            assert!(!hop.headers.contains_key(CONTENT_TYPE));
        } else {
            assert_eq!(hop.body, body, "the body is resent unchanged after {status}");
        }

        crossed |= !same_origin(&prev.uri, &hop.uri);
        if crossed {
            assert!(
                !has_credentials(&hop.headers),
                "credentials sent to {} after an origin change: {:?}",
                hop.uri,
                hop.headers
            );
        }

        let sent = hop.headers.get(REFERER).map(|v| v.to_str().unwrap().to_owned());
        if referer {
            assert_eq!(sent, model_referer(&prev.uri, &hop.uri), "{} -> {}", prev.uri, hop.uri);
        } else {
            assert_eq!(sent, None);
        }
        if let Some(sent) = sent {
            // No userinfo and no fragment (the path may hold anything a Location put there).
            let referer: Uri = sent.parse().expect("a Referer is a URI");
            let authority = referer.authority().map_or("", |a| a.as_str());
            assert!(!authority.contains('@') && !sent.contains('#'), "Referer {sent}");
        }
    }

    let uris: Vec<Uri> = seen.iter().map(|hop| hop.uri.clone()).collect();
    match result {
        Ok(response) => {
            let (status, location) = answered.last().unwrap();
            assert!(
                !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) || location.is_none(),
                "a followable {status} came back to the caller"
            );
            let EffectiveUri(effective) = response.extensions().get::<EffectiveUri>().unwrap();
            assert_eq!(effective, uris.last().unwrap());
            let RedirectHistory(history) = response.extensions().get::<RedirectHistory>().unwrap();
            assert_eq!(history.as_slice(), &uris[..uris.len() - 1]);
            if fragment && seen.len() == 1 {
                assert_eq!(
                    response.extensions().get::<Fragment>(),
                    Some(&Fragment("start".into()))
                );
            }
        }
        Err(err) => {
            let error = find_cause::<towline_layers::redirect::RedirectError>(&*err)
                .unwrap_or_else(|| panic!("not a RedirectError: {err:?}"));
            assert_eq!(error.history(), uris.as_slice(), "{:?}", error.kind());
            let shown = error.to_string();
            assert!(!shown.contains("://") && !shown.contains("secret"), "{shown}");
            let (_, location) = answered.last().unwrap();
            assert!(location.is_some(), "failed on a response without Location");
            match error.kind() {
                RedirectErrorKind::TooManyRedirects => assert_eq!(seen.len() - 1, max),
                RedirectErrorKind::InvalidLocation => assert!(error.location().is_none()),
                RedirectErrorKind::UnsupportedScheme => {
                    let next = error.location().unwrap();
                    assert!(!matches!(
                        next.scheme_str().map(str::to_ascii_lowercase).as_deref(),
                        Some("http" | "https")
                    ));
                }
                RedirectErrorKind::InsecureRedirect => {
                    assert!(https_only && !is_https(error.location().unwrap()));
                }
                kind => panic!("unexpected {kind:?}: {err:?}"),
            }
        }
    }
});
