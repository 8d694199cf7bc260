//! The facade's URL and request-header handling: `Client::request(method, &str)` (the
//! `IntoUrl` parser), `RequestBuilder::header_str`, and the request that reaches the stack.
//! A layer added with `ClientBuilder::layer` answers every request itself, so no socket is
//! ever opened; the future is driven by a no-op-waker poll loop.
//!
//! Input: byte 0 the method, byte 1 flags (bit 0: put `user:S3CRET@` credentials in front of
//! the fuzzed part, after `http://`; bits 1-2: the number of headers, 0-3), then the URL up
//! to `\n`, then header names and values, each up to `\n`.
//!
//! Invariants, from the facade's documentation: no panic; an accepted URL is an `http` or
//! `https` URL with a host; the request that reaches the stack has an absolute `http(s)` URI
//! with a non-empty host and no userinfo (URL credentials become a sensitive
//! `Authorization: Basic` header "so they never reach logs or the request line"); the
//! caller's headers are sent, the defaults (`User-Agent`, `Accept`) only where the caller set
//! none; a request fails only on an invalid URL, header name or value; and no error message
//! shows the URL's password.
#![no_main]

use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri, header};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use towline::{Body, DEFAULT_USER_AGENT, TokioClient};
use towline_fuzz::{Reader, block_on};

static SEEN: Mutex<Vec<(Method, Uri, HeaderMap)>> = Mutex::new(Vec::new());

async fn answer(request: Request<Body>) -> Result<Response<Full<Bytes>>, towline::BoxError> {
    let (parts, _) = request.into_parts();
    SEEN.lock().unwrap().push((parts.method, parts.uri, parts.headers));
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

fn client() -> &'static TokioClient {
    static CLIENT: OnceLock<TokioClient> = OnceLock::new();
    CLIENT.get_or_init(|| {
        TokioClient::builder()
            .layer(tower::layer::layer_fn(|_inner| {
                tower::service_fn(answer)
            }))
            .build()
            .expect("a client")
    })
}

const SECRET: &str = "S3CRET";

fuzz_target!(|data: &[u8]| {
    let client = client();
    SEEN.lock().unwrap().clear();
    let mut reader = Reader::new(data);
    let method = reader.pick(&[Method::GET, Method::POST, Method::HEAD, Method::DELETE]);
    let flags = reader.byte();
    let with_secret = flags & 1 == 1;
    let header_count = (flags >> 1) & 3;
    let fuzzed = String::from_utf8_lossy(reader.until(b'\n')).into_owned();
    let url = if with_secret {
        format!("http://user:{SECRET}@{fuzzed}")
    } else {
        fuzzed
    };
    let headers: Vec<(String, String)> = (0..header_count)
        .map(|_| {
            let name = String::from_utf8_lossy(reader.until(b'\n')).into_owned();
            let value = String::from_utf8_lossy(reader.until(b'\n')).into_owned();
            (name, value)
        })
        .collect();

    let no_leak = |shown: String| {
        // An invalid URL's error message must not quote the URL (it once did, whole).
        if with_secret {
            assert!(!shown.contains(SECRET), "an error shows the URL's password: {shown}");
        }
    };

    // Without headers, a request fails to build only on its URL; the builder keeps that
    // error until `build` or `send`.
    match client.request(method.clone(), url.as_str()).build() {
        Ok(_) => {
            let parsed = url::Url::parse(&url).expect("an accepted URL parses");
            assert!(matches!(parsed.scheme(), "http" | "https"), "{url:?}");
            assert!(parsed.host_str().is_some_and(|h| !h.is_empty()), "{url:?}");
        }
        Err(err) => {
            assert!(err.is_builder(), "{err:?}");
            no_leak(err.to_string());
            no_leak(format!("{err:?}"));
            let mut builder = client.request(method.clone(), url.as_str());
            for (name, value) in &headers {
                builder = builder.header_str(name, value);
            }
            let sent = block_on(builder.send());
            let err = sent.err().expect("a request with an invalid URL was sent");
            no_leak(err.to_string());
            no_leak(format!("{err:?}"));
            assert!(SEEN.lock().unwrap().is_empty(), "an invalid URL reached the stack");
            return;
        }
    }
    let builder = client.request(method.clone(), url.as_str());
    let parsed = url::Url::parse(&url).expect("an accepted URL parses");

    let mut valid_headers = true;
    let mut builder = builder;
    for (name, value) in &headers {
        valid_headers &=
            HeaderName::try_from(name.as_str()).is_ok() && HeaderValue::try_from(value.as_str()).is_ok();
        builder = builder.header_str(name, value);
    }

    let result = block_on(builder.send());
    let seen = std::mem::take(&mut *SEEN.lock().unwrap());
    let response = match result {
        Ok(response) => response,
        Err(err) => {
            no_leak(err.to_string());
            no_leak(format!("{err:?}"));
            assert!(seen.is_empty());
            assert!(!valid_headers, "a request with a valid URL and headers failed: {err:?}");
            return;
        }
    };
    assert!(valid_headers, "an invalid header was accepted: {headers:?}");
    assert_eq!(seen.len(), 1);
    let (sent_method, uri, sent) = &seen[0];
    assert_eq!(sent_method, &method);
    // The request target is the response's URL without its fragment (never sent).
    let mut reported = response.url().clone();
    reported.set_fragment(None);
    assert_eq!(reported.as_str(), uri.to_string());
    assert!(matches!(uri.scheme_str(), Some("http" | "https")), "{uri}");
    assert!(uri.host().is_some_and(|h| !h.is_empty()), "{uri}");
    let authority = uri.authority().unwrap().as_str();
    assert!(!authority.contains('@'), "userinfo on the wire: {uri}");

    // URL credentials become a sensitive Basic Authorization.
    let caller_auth = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
    if !parsed.username().is_empty() && !caller_auth {
        let auth = sent.get(header::AUTHORIZATION).expect("URL credentials become Authorization");
        assert!(auth.as_bytes().starts_with(b"Basic "));
        assert!(auth.is_sensitive());
    }

    // The caller's headers are all there; defaults only where the caller set none.
    for (name, value) in &headers {
        let name = HeaderName::try_from(name.as_str()).unwrap();
        if name == header::AUTHORIZATION && !parsed.username().is_empty() {
            continue;
        }
        assert!(
            sent.get_all(&name).iter().any(|v| v.as_bytes() == value.as_bytes()),
            "header {name} = {value:?} not sent: {sent:?}"
        );
    }
    for (name, default) in [(header::USER_AGENT, DEFAULT_USER_AGENT), (header::ACCEPT, "*/*")] {
        let caller_set = headers
            .iter()
            .any(|(n, _)| HeaderName::try_from(n.as_str()).is_ok_and(|n| n == name));
        let has_default = sent.get_all(&name).iter().any(|v| v == default);
        if !caller_set {
            assert!(has_default, "default {name} missing");
        }
    }
});
