//! Glue between the layer and `http-cache-semantics`: the request and response views the
//! crate reads, cache keys, `Vary` secondary keys, hop-by-hop stripping and the RFC 9111 §4.2.3
//! corrected initial age, all plain functions over plain data.

use std::time::{Duration, SystemTime};

use http::{
    HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri,
    header::{AGE, CONNECTION, DATE, VARY},
};
use http_cache_semantics::{CacheOptions, RequestLike, ResponseLike};

use super::directives::age_header;

/// The largest age kept (RFC 9111 §1.2.2): 2³¹ seconds.
const MAX_AGE: Duration = Duration::from_secs(1 << 31);

/// Header fields that describe one connection, never stored (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// The options of a private (single-user) cache.
pub(super) fn options(heuristic_fraction: f32) -> CacheOptions {
    CacheOptions {
        shared: false,
        cache_heuristic: heuristic_fraction,
        ..CacheOptions::default()
    }
}

/// What the policy needs of a request after the request itself went to the inner service;
/// its header fields are the [`policy_view`] of the request's.
#[derive(Debug, Clone)]
pub(super) struct RequestHead {
    pub(super) method: Method,
    pub(super) uri: Uri,
    pub(super) headers: HeaderMap,
}

impl RequestHead {
    pub(super) fn new(method: Method, uri: Uri, headers: &HeaderMap) -> Self {
        let mut headers = policy_view(headers);
        // RFC 9111 §5.4: with Cache-Control present, a request's Pragma is ignored (the
        // crate would read its no-cache regardless).
        if headers.contains_key(http::header::CACHE_CONTROL) {
            headers.remove(http::header::PRAGMA);
        }
        Self {
            method,
            uri,
            headers,
        }
    }
}

/// The crate's policy for a response with `status` and `headers` to `head`, received at
/// `response_time`, as a private cache.
pub(super) fn new_policy(
    head: &RequestHead,
    status: StatusCode,
    headers: &HeaderMap,
    response_time: SystemTime,
    heuristic_fraction: f32,
) -> http_cache_semantics::CachePolicy {
    let view = policy_view(headers);
    http_cache_semantics::CachePolicy::new_options(
        head,
        &ResponseHead {
            status: policy_status(status, &view),
            headers: &view,
        },
        response_time,
        options(heuristic_fraction),
    )
}

impl RequestLike for RequestHead {
    fn uri(&self) -> Uri {
        self.uri.clone()
    }

    fn is_same_uri(&self, other: &Uri) -> bool {
        &self.uri == other
    }

    fn method(&self) -> &Method {
        &self.method
    }

    fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

/// A HEAD request seen as the GET it may be answered from (RFC 9110 §9.3.2).
pub(super) struct AsGet<'a>(pub(super) &'a RequestHead);

impl RequestLike for AsGet<'_> {
    fn uri(&self) -> Uri {
        self.0.uri.clone()
    }

    fn is_same_uri(&self, other: &Uri) -> bool {
        &self.0.uri == other
    }

    fn method(&self) -> &Method {
        &Method::GET
    }

    fn headers(&self) -> &HeaderMap {
        &self.0.headers
    }
}

/// A response head for the policy.
pub(super) struct ResponseHead<'a> {
    pub(super) status: StatusCode,
    pub(super) headers: &'a HeaderMap,
}

impl ResponseLike for ResponseHead<'_> {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn headers(&self) -> &HeaderMap {
        self.headers
    }
}

/// The primary cache key: the absolute URI, normalised (scheme and host lower-case, default
/// port dropped, fragment dropped). `None` for a URI without scheme or authority.
pub(super) fn primary_key(uri: &Uri) -> Option<url::Url> {
    uri.scheme()?;
    uri.authority()?;
    let mut url = url::Url::parse(&uri.to_string()).ok()?;
    url.set_fragment(None);
    Some(url)
}

/// Resolves a `Location` or `Content-Location` value against `base`; `Some` only when the
/// result has the same origin (RFC 9111 §4.4: other origins must not be invalidated).
pub(super) fn same_origin_target(base: &url::Url, value: &HeaderValue) -> Option<url::Url> {
    let value = value.to_str().ok()?;
    let mut target = base.join(value).ok()?;
    target.set_fragment(None);
    (target.origin() == base.origin()).then_some(target)
}

/// The secondary key: each header field the response's `Vary` nominates, with the request's
/// values. `None` for `Vary: *`, which no later request can match.
pub(super) fn variant_key(response: &HeaderMap, request: &HeaderMap) -> Option<String> {
    let mut names: Vec<String> = Vec::new();
    for value in response.get_all(VARY) {
        for name in value.to_str().unwrap_or("*").split(',') {
            let name = name.trim();
            if name == "*" {
                return None;
            }
            if !name.is_empty() {
                names.push(name.to_ascii_lowercase());
            }
        }
    }
    names.sort_unstable();
    names.dedup();
    let mut key = String::new();
    for name in names {
        key.push_str(&name);
        key.push(':');
        for (i, value) in request.get_all(name.as_str()).iter().enumerate() {
            if i > 0 {
                key.push(',');
            }
            key.push_str(&String::from_utf8_lossy(value.as_bytes()));
        }
        key.push('\n');
    }
    Some(key)
}

/// Removes the hop-by-hop fields, including those the `Connection` field names.
pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Replaces the `Age` field with the corrected initial age (RFC 9111 §4.2.3): the larger of
/// the apparent age (`response_time - Date`) and the received `Age` plus the response delay,
/// capped at 2³¹ seconds. `http-cache-semantics` reads `Age` as the age at receipt and adds
/// resident time itself, so feeding it the corrected value gives the RFC's current age; the
/// cap also keeps its arithmetic away from overflow on hostile values.
pub(super) fn correct_age(headers: &mut HeaderMap, response_time: SystemTime, delay: Duration) {
    let apparent = headers
        .get(DATE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| httpdate::parse_http_date(value).ok())
        .and_then(|date| response_time.duration_since(date).ok())
        .unwrap_or_default();
    let received = age_header(headers).map(|age| age.saturating_add(delay));
    let corrected = received.unwrap_or_default().max(apparent).min(MAX_AGE);
    if received.is_some() || !corrected.is_zero() {
        headers.insert(AGE, HeaderValue::from(corrected.as_secs()));
    } else {
        headers.remove(AGE);
    }
}

/// The opaque part of an entity tag, for the weak comparison (RFC 9110 §8.8.3.2). Bytes,
/// not text: entity tags may carry obs-text.
fn opaque_tag(tag: &[u8]) -> &[u8] {
    let tag = tag.trim_ascii();
    tag.strip_prefix(b"W/").unwrap_or(tag)
}

/// Whether a 304 is about the stored response: unless both carry an `ETag` and the tags
/// differ (weak comparison), it is.
pub(super) fn same_entity_tag(stored: &HeaderMap, update: &HeaderMap) -> bool {
    let tag = |headers: &HeaderMap| {
        headers
            .get(http::header::ETAG)
            .map(|value| opaque_tag(value.as_bytes()).to_vec())
    };
    match (tag(stored), tag(update)) {
        (Some(stored), Some(update)) => stored == update,
        _ => true,
    }
}

/// Whether the caller's own conditional (`If-None-Match`, else `If-Modified-Since`) is
/// satisfied by the stored response, so it is answered with a 304 (RFC 9110 §13.2.2).
pub(super) fn caller_validator_matches(request: &HeaderMap, stored: &HeaderMap) -> bool {
    let mut if_none_match = request
        .get_all(http::header::IF_NONE_MATCH)
        .iter()
        .peekable();
    if if_none_match.peek().is_some() {
        let Some(etag) = stored
            .get(http::header::ETAG)
            .map(|value| opaque_tag(value.as_bytes()))
        else {
            return false;
        };
        return if_none_match
            .flat_map(|value| value.as_bytes().split(|&b| b == b','))
            .any(|tag| tag.trim_ascii() == b"*" || opaque_tag(tag) == etag);
    }
    let date = |headers: &HeaderMap, name: http::header::HeaderName| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| httpdate::parse_http_date(value).ok())
    };
    let Some(since) = date(request, http::header::IF_MODIFIED_SINCE) else {
        return false;
    };
    date(stored, http::header::LAST_MODIFIED)
        .or_else(|| date(stored, DATE))
        .is_some_and(|modified| modified <= since)
}

/// Fields a 304 must not change in the stored response: they describe the stored body (its
/// `ETag` included: a 304 that names another tag does not make the stored body that one).
const KEEP_ON_UPDATE: [HeaderName; 6] = [
    http::header::ETAG,
    HeaderName::from_static("content-md5"),
    http::header::CONTENT_LENGTH,
    http::header::CONTENT_ENCODING,
    http::header::TRANSFER_ENCODING,
    http::header::CONTENT_RANGE,
];

/// The stored header fields updated by a 304 (RFC 9111 §3.2): every field the 304 carries
/// replaces the stored field of that name, or is added, except hop-by-hop fields and those
/// describing the body. The stored `Age` is dropped: the age starts again from the 304.
pub(super) fn merge_not_modified(stored: &HeaderMap, update: &HeaderMap) -> HeaderMap {
    let mut update = update.clone();
    strip_hop_by_hop(&mut update);
    let mut merged = stored.clone();
    merged.remove(AGE);
    for name in update.keys() {
        if !KEEP_ON_UPDATE.contains(name) {
            merged.remove(name);
        }
    }
    for (name, value) in &update {
        if !KEEP_ON_UPDATE.contains(name) {
            merged.append(name.clone(), value.clone());
        }
    }
    merged
}

/// The statuses `http-cache-semantics` knows how to cache; it refuses any other.
const UNDERSTOOD_STATUSES: [u16; 14] = [
    200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501,
];

/// The status the crate is shown. RFC 9111 §3 lets a cache store any final status that has
/// explicit freshness, while the crate (written against RFC 7234) knows a fixed list; a
/// final status outside it (other than 206 and 304, whose handling the layer does not
/// implement) with `max-age` or `Expires` is shown as 200, which changes nothing else
/// because heuristics never apply with explicit freshness. `must-understand` (RFC 9111
/// §5.2.2.3) asks for exactly the crate's refusal, so it keeps the real status.
pub(super) fn policy_status(status: StatusCode, headers: &HeaderMap) -> StatusCode {
    let directives = super::directives::parse_directives(headers);
    let explicit = headers.contains_key(http::header::EXPIRES) || directives.max_age.is_some();
    let code = status.as_u16();
    if explicit
        && !directives.must_understand
        && code >= 200
        && code != 206
        && code != 304
        && !UNDERSTOOD_STATUSES.contains(&code)
    {
        StatusCode::OK
    } else {
        status
    }
}

/// The copy of a message's header fields the crate reads, in the forms it parses:
/// `Cache-Control` and `Pragma` lower-cased (directive names are case-insensitive, the crate
/// compares them exactly), HTTP dates in any of the three RFC 9110 §5.6.7 formats rewritten
/// as IMF-fixdate (the crate parses only that), and a field sent on several lines joined
/// into one list (RFC 9110 §5.3), so `Vary` matching sees `a, b` and `a` + `b` alike.
pub(super) fn policy_view(headers: &HeaderMap) -> HeaderMap {
    let mut view = HeaderMap::with_capacity(headers.keys_len());
    for name in headers.keys() {
        let mut values = headers.get_all(name).iter();
        let Some(first) = values.next() else {
            continue;
        };
        let joined = match values.next() {
            None => first.clone(),
            Some(second) => {
                let mut bytes = first.as_bytes().to_vec();
                for value in std::iter::once(second).chain(values) {
                    bytes.extend_from_slice(b", ");
                    bytes.extend_from_slice(value.as_bytes());
                }
                HeaderValue::from_bytes(&bytes).unwrap_or_else(|_| first.clone())
            }
        };
        let value = if name == http::header::CACHE_CONTROL || name == http::header::PRAGMA {
            HeaderValue::from_bytes(&joined.as_bytes().to_ascii_lowercase()).unwrap_or(joined)
        } else if name == DATE
            || name == http::header::EXPIRES
            || name == http::header::LAST_MODIFIED
        {
            match joined
                .to_str()
                .ok()
                .and_then(|value| httpdate::parse_http_date(value).ok())
            {
                Some(date) => {
                    HeaderValue::from_str(&httpdate::fmt_http_date(date)).unwrap_or(joined)
                }
                None => joined,
            }
        } else {
            joined
        };
        view.insert(name.clone(), value);
    }
    view
}
