//! OpenTelemetry HTTP semantic-convention values shared by the `tracing` and OpenTelemetry
//! layers: the method, the server's address and port, the protocol version, and the one
//! low-cardinality `error.type` classifier both record.
//!
//! The classifier is a plain function type ([`ErrorClassifier`]) so that a whole stack can
//! share one: the `towline` facade gives both layers a classifier that knows its transport's
//! errors, and a hand-built stack can do the same.

// The helpers below serve the `tracing` and `otel` layers; a build with neither keeps only
// the public classifier.
#![cfg_attr(not(any(feature = "tracing", feature = "otel")), allow(dead_code))]

use std::error::Error;

use std::{borrow::Cow, str::FromStr};

use http::{Method, Request, Version, header::HOST, uri::Authority};

/// Gives an error the low-cardinality string recorded as `error.type`.
///
/// It sees the error a request or response body failed with (a
/// [`BoxError`](crate::BoxError), whose source chain may hold the cause) and returns a
/// short, fixed string such as `"timeout"` or `"connection_refused"` — never the error's
/// message, which may quote a URI. Semantic conventions ask for `"_OTHER"` when no class
/// fits. [`default_error_type`] is the default.
pub type ErrorClassifier = fn(&(dyn Error + 'static)) -> &'static str;

/// The default [`ErrorClassifier`]: `"timeout"` when the error or one in its source chain is
/// a timeout (see [`is_timeout`](crate::error::is_timeout): this crate's `timeout::Elapsed`,
/// an I/O or hyper timeout), `"_OTHER"` otherwise.
///
/// A custom classifier can fall back on it:
///
/// ```
/// use std::error::Error;
///
/// use towline_layers::semconv::default_error_type;
/// use towline_layers::trace::TraceLayer;
///
/// fn classify(err: &(dyn Error + 'static)) -> &'static str {
///     if towline_layers::error::find_cause::<std::io::Error>(err).is_some() {
///         "io"
///     } else {
///         default_error_type(err)
///     }
/// }
///
/// let layer = TraceLayer::new().error_classifier(classify);
/// # let _ = layer;
/// ```
pub fn default_error_type(err: &(dyn Error + 'static)) -> &'static str {
    if crate::error::is_timeout(err) {
        "timeout"
    } else {
        "_OTHER"
    }
}

/// `http.request.method`: the method when RFC 9110 (or RFC 5789, PATCH) defines it, else
/// `_OTHER`; with the original method for `http.request.method_original` in that case.
pub(crate) fn method(method: &Method) -> (&'static str, Option<&str>) {
    let known = match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => return ("_OTHER", Some(method.as_str())),
    };
    (known, None)
}

/// The span name OpenTelemetry expects: the method, or `HTTP` for `_OTHER`.
pub(crate) fn otel_name(method: &'static str) -> &'static str {
    if method == "_OTHER" { "HTTP" } else { method }
}

/// The port a scheme implies when the URI names none.
pub(crate) fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("ws") {
        Some(80)
    } else if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        Some(443)
    } else {
        None
    }
}

/// The authority a request is addressed to: its URI's, or for an origin-form URI (`/path`),
/// which names no server, its `Host` header's.
pub(crate) fn request_authority<B>(request: &Request<B>) -> Option<Cow<'_, Authority>> {
    match request.uri().authority() {
        Some(authority) => Some(Cow::Borrowed(authority)),
        None => request
            .headers()
            .get(HOST)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| Authority::from_str(value).ok())
            .map(Cow::Owned),
    }
}

/// `server.port`: the authority's explicit port, else the one its scheme implies.
pub(crate) fn server_port(authority: Option<&Authority>, scheme: Option<&str>) -> Option<u16> {
    authority
        .and_then(Authority::port_u16)
        .or_else(|| scheme.and_then(default_port))
}

/// `server.address`: the host without the brackets of an IPv6 literal.
pub(crate) fn server_address(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host)
}

/// `network.protocol.version` of a response.
pub(crate) fn protocol_version(version: Version) -> Option<&'static str> {
    match version {
        Version::HTTP_09 => Some("0.9"),
        Version::HTTP_10 => Some("1.0"),
        Version::HTTP_11 => Some("1.1"),
        Version::HTTP_2 => Some("2"),
        Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_methods_are_kept_others_are_other() {
        assert_eq!(method(&Method::GET), ("GET", None));
        assert_eq!(method(&Method::PATCH), ("PATCH", None));
        let purge = Method::from_bytes(b"PURGE").map_err(|err| err.to_string());
        assert_eq!(purge.as_ref().map(method), Ok(("_OTHER", Some("PURGE"))));
        assert_eq!(otel_name("GET"), "GET");
        assert_eq!(otel_name("_OTHER"), "HTTP");
    }

    #[test]
    fn ports_addresses_and_versions() {
        assert_eq!(default_port("http"), Some(80));
        assert_eq!(default_port("HTTPS"), Some(443));
        assert_eq!(default_port("wss"), Some(443));
        assert_eq!(default_port("ftp"), None);
        assert_eq!(server_address("[::1]"), "::1");
        assert_eq!(server_address("example.com"), "example.com");
        assert_eq!(protocol_version(Version::HTTP_2), Some("2"));
        assert_eq!(protocol_version(Version::HTTP_10), Some("1.0"));
    }

    #[test]
    fn the_default_classifier_says_other_for_unknown_errors() {
        let err = std::io::Error::other("connection refused");
        assert_eq!(default_error_type(&err), "_OTHER");
    }

    #[test]
    fn the_default_classifier_says_timeout_for_an_io_timeout() {
        let err = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
        assert_eq!(default_error_type(&err), "timeout");
    }
}
