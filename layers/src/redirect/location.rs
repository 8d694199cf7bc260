//! The plain functions behind each hop: resolving `Location`, comparing origins, building
//! `Referer`, and the header rules. No IO, no state.

use std::fmt::Write as _;

use http::{
    HeaderMap, HeaderValue, Method, StatusCode, Uri,
    header::{
        AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST,
        PROXY_AUTHORIZATION, TRANSFER_ENCODING,
    },
    uri::Scheme,
};
use url::Url;

/// Whether `status` is a redirect the layer may follow (when it has a `Location`).
///
/// 300 (Multiple Choices), 304 (Not Modified), 305 and 306 are not: they go back to the
/// caller as they are.
pub(super) fn is_redirect(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
}

/// The statuses under which a POST stays a POST ([`RedirectLayer::keep_post`]).
///
/// [`RedirectLayer::keep_post`]: super::RedirectLayer::keep_post
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct KeepPost {
    moved_permanently: bool,
    found: bool,
    see_other: bool,
}

impl KeepPost {
    pub(super) fn insert(&mut self, status: StatusCode) {
        match status {
            StatusCode::MOVED_PERMANENTLY => self.moved_permanently = true,
            StatusCode::FOUND => self.found = true,
            StatusCode::SEE_OTHER => self.see_other = true,
            _ => {}
        }
    }

    fn contains(self, status: StatusCode) -> bool {
        match status {
            StatusCode::MOVED_PERMANENTLY => self.moved_permanently,
            StatusCode::FOUND => self.found,
            StatusCode::SEE_OTHER => self.see_other,
            _ => false,
        }
    }
}

/// The method of the next request and whether it carries the request body (RFC 9110 §15.4).
///
/// 301 and 302 turn POST (only POST) into GET without a body; 303 turns every method but
/// HEAD into GET, and drops the body; 307 and 308 keep both. A POST redirected with a status
/// in `keep_post` keeps both too.
pub(super) fn next_method(
    status: StatusCode,
    method: &Method,
    keep_post: KeepPost,
) -> (Method, bool) {
    match status {
        _ if *method == Method::POST && keep_post.contains(status) => (Method::POST, true),
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND if *method == Method::POST => {
            (Method::GET, false)
        }
        StatusCode::SEE_OTHER if *method == Method::HEAD => (Method::HEAD, false),
        StatusCode::SEE_OTHER => (Method::GET, false),
        _ => (method.clone(), true),
    }
}

/// The next hop: the resolved URI (never with a fragment) and the fragment in effect.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Resolved {
    pub(super) uri: Uri,
    pub(super) fragment: Option<String>,
}

/// Resolves a `Location` value against the URI that answered with it (RFC 9110 §10.2.2,
/// RFC 3986 §5): relative references and dot segments are resolved, and when the `Location`
/// has no fragment, `fragment` (the current one) carries over.
///
/// The value should be ASCII; bytes outside it are percent-encoded, as browsers and curl
/// do, so a raw UTF-8 or Latin-1 path still resolves. Returns `None` when the result is not
/// a URI, or when `current` is not absolute and the `Location` is relative.
pub(super) fn resolve(current: &Uri, fragment: Option<&str>, location: &[u8]) -> Option<Resolved> {
    let location = percent_encode_non_ascii(location);
    let base = Url::parse(&current.to_string()).ok();
    let mut url = Url::options()
        .base_url(base.as_ref())
        .parse(&location)
        .ok()?;
    let fragment = match url.fragment() {
        Some(own) => Some(own.to_owned()),
        None => fragment.map(str::to_owned),
    };
    url.set_fragment(None);
    let uri = url.as_str().parse::<Uri>().ok()?;
    // `Url` serialises every URL with a scheme; only these can be requested.
    uri.scheme()?;
    Some(Resolved { uri, fragment })
}

fn percent_encode_non_ascii(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte.is_ascii() {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Whether `uri` is `http` or `https`, the only schemes a redirect may lead to.
pub(super) fn is_http(uri: &Uri) -> bool {
    matches!(uri.scheme_str(), Some(scheme) if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
}

/// Whether `uri` is `https`.
pub(super) fn is_https(uri: &Uri) -> bool {
    uri.scheme_str()
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https"))
}

/// The port `uri` connects to: its explicit port, or its scheme's default.
fn effective_port(uri: &Uri) -> Option<u16> {
    uri.port_u16().or_else(|| match uri.scheme() {
        Some(scheme) if *scheme == Scheme::HTTP => Some(80),
        Some(scheme) if *scheme == Scheme::HTTPS => Some(443),
        _ => None,
    })
}

/// Whether `a` and `b` have the same origin: scheme, host and (effective) port.
pub(super) fn same_origin(a: &Uri, b: &Uri) -> bool {
    let scheme = match (a.scheme_str(), b.scheme_str()) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    };
    let host = match (a.host(), b.host()) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    };
    scheme && host && effective_port(a) == effective_port(b)
}

/// Removes the headers that must not follow a request to another origin: `Authorization`,
/// `Cookie`, `Proxy-Authorization`, `Host` (it named the old origin), and every header with
/// a value marked [sensitive](HeaderValue::set_sensitive) (all values of such a header go).
pub(super) fn strip_credentials(headers: &mut HeaderMap) {
    headers.remove(AUTHORIZATION);
    headers.remove(COOKIE);
    headers.remove(PROXY_AUTHORIZATION);
    headers.remove(HOST);
    let sensitive: Vec<_> = headers
        .iter()
        .filter(|(_, value)| value.is_sensitive())
        .map(|(name, _)| name.clone())
        .collect();
    for name in sensitive {
        headers.remove(name);
    }
}

/// Removes the headers that describe a request body, for a redirect that drops it.
pub(super) fn strip_body_headers(headers: &mut HeaderMap) {
    headers.remove(CONTENT_TYPE);
    headers.remove(CONTENT_LENGTH);
    headers.remove(CONTENT_ENCODING);
    headers.remove(TRANSFER_ENCODING);
}

/// The `Referer` for a request to `next` made because `current` redirected there.
///
/// Same origin: `current` in full, without userinfo (an `http::Uri` never holds a
/// fragment). Another origin: `current`'s origin only (`scheme://host[:port]/`). From https
/// to http: none. This is the `strict-origin-when-cross-origin` policy of the Referrer Policy
/// specification.
pub(super) fn referer(current: &Uri, next: &Uri) -> Option<HeaderValue> {
    if is_https(current) && !is_https(next) {
        return None;
    }
    let scheme = current.scheme_str()?;
    let host = current.host()?;
    let mut value = format!("{scheme}://{host}");
    if let Some(port) = current.port_u16() {
        // Writing to a String cannot fail.
        let _ = write!(value, ":{port}");
    }
    if same_origin(current, next) {
        value.push_str(current.path_and_query().map_or("/", |pq| pq.as_str()));
    } else {
        value.push('/');
    }
    HeaderValue::from_str(&value).ok()
}
