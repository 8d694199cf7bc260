//! The facade's error type.
//!
//! Layers and services return `BoxError`s; [`Error`] wraps them and answers what kind of
//! failure it was by looking through the cause chain for the concrete error types of the
//! crates below (connect errors, transport errors, timeouts, hyper errors).

use std::error::Error as StdError;
use std::fmt;

use http::StatusCode;
use towline_layers::decompression::DecompressionError;
use towline_layers::error::find_cause as find;
use towline_layers::redirect::RedirectError;
use towline_layers::retry::AttemptElapsed;
use towline_layers::timeout::Elapsed;
use towline_services::connect::proxy::ProxyError;
use towline_services::{ConnectError, ConnectErrorKind, TransportError, TransportErrorKind};
use url::Url;

/// A boxed error, as layers and services return.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Builder,
    Request,
    Connect,
    Redirect,
    Status(StatusCode),
    Body,
    Decode,
    Upgrade,
}

/// An error of the towline client.
pub struct Error {
    kind: Kind,
    url: Option<Box<Url>>,
    source: Option<BoxError>,
}

impl Error {
    fn new(kind: Kind, source: Option<BoxError>) -> Self {
        Self {
            kind,
            url: None,
            source,
        }
    }

    pub(crate) fn builder(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Builder, Some(source.into()))
    }

    pub(crate) fn body(source: impl Into<BoxError>) -> Self {
        let source = source.into();
        // Undecodable content is a decode error; a decompression limit stays a body error.
        let corrupt = find::<DecompressionError>(&*source).is_some_and(|e| !e.is_limit());
        Self::new(
            if corrupt { Kind::Decode } else { Kind::Body },
            Some(source),
        )
    }

    pub(crate) fn decode(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Decode, Some(source.into()))
    }

    pub(crate) fn upgrade(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Upgrade, Some(source.into()))
    }

    pub(crate) fn from_status(status: StatusCode, url: Url) -> Self {
        Self::new(Kind::Status(status), None).with_url(url)
    }

    /// Classifies an error returned by the service stack.
    pub(crate) fn from_service(source: BoxError) -> Self {
        let source = match source.downcast::<Error>() {
            Ok(error) => return *error,
            Err(source) => source,
        };
        let kind = if find::<RedirectError>(&*source).is_some() {
            Kind::Redirect
        } else if find::<ConnectError>(&*source).is_some() {
            Kind::Connect
        } else if find::<TransportError>(&*source)
            .is_some_and(|e| e.kind() == TransportErrorKind::ExtendedConnectUnsupported)
        {
            Kind::Upgrade
        } else {
            Kind::Request
        };
        Self::new(kind, Some(source))
    }

    /// The URL of the request that failed, if known.
    pub fn url(&self) -> Option<&Url> {
        self.url.as_deref()
    }

    /// The URL of the request that failed, mutably (for example to take secrets out of it
    /// before logging).
    pub fn url_mut(&mut self) -> Option<&mut Url> {
        self.url.as_deref_mut()
    }

    /// This error, about a request to `url`.
    #[must_use]
    pub fn with_url(mut self, url: Url) -> Self {
        self.url = Some(Box::new(url));
        self
    }

    /// This error without its URL (for example before it goes where the URL must not).
    #[must_use]
    pub fn without_url(mut self) -> Self {
        self.url = None;
        self
    }

    /// The status code, for errors made by `error_for_status`, and for a proxy that refused
    /// a `CONNECT` (see [`is_proxy`](Self::is_proxy)).
    pub fn status(&self) -> Option<StatusCode> {
        match self.kind {
            Kind::Status(status) => Some(status),
            _ => self
                .source
                .as_deref()
                .and_then(|source| find::<ProxyError>(source))
                .and_then(ProxyError::status),
        }
    }

    /// The request could not be built: bad URL, header, body or client configuration.
    pub fn is_builder(&self) -> bool {
        self.kind == Kind::Builder
    }

    /// Sending the request failed (after a connection was had, or for reasons other than
    /// connecting).
    pub fn is_request(&self) -> bool {
        self.kind == Kind::Request
    }

    /// No connection could be made: DNS, TCP, TLS or the connect timeout.
    pub fn is_connect(&self) -> bool {
        self.kind == Kind::Connect
    }

    /// Following redirects failed: too many, a policy refused, an unusable `Location`, an
    /// insecure hop under `https_only`, or a body that could not be sent again.
    pub fn is_redirect(&self) -> bool {
        self.kind == Kind::Redirect
    }

    /// A timeout elapsed: total, per-attempt, read, connect, write or pool acquire.
    pub fn is_timeout(&self) -> bool {
        self.source
            .as_deref()
            .is_some_and(|source| timed_out(source))
    }

    /// The server may have acted on the request and no response came back: the connection
    /// ended after the request was written (on a fresh or a reused connection, over HTTP/1.1
    /// or HTTP/2), the response head was unreadable, or a total or per-attempt timeout ended
    /// the call before a response (the client cannot tell how far the request got). False
    /// when the request certainly was not processed (a failed connect, a pool timeout, an
    /// HTTP/2 stream the server refused, a builder error) and when a response came (status,
    /// redirect, body and decode errors).
    ///
    /// This is the answer the client's retry layer acts on (it is
    /// [`towline_services::retry_class`] saying `MaybeSent`): a request that is not
    /// idempotent is retried only when this is false.
    pub fn is_maybe_processed(&self) -> bool {
        self.kind == Kind::Request
            && self.source.as_deref().is_some_and(|source| {
                towline_services::retry_class(source) == towline_services::ErrorClass::MaybeSent
            })
    }

    /// A proxy failed: it refused the tunnel or the credentials, answered something that was
    /// not HTTP or SOCKS, or could not be reached. [`status`](Self::status) is the status a
    /// proxy refused a `CONNECT` with.
    pub fn is_proxy(&self) -> bool {
        self.source
            .as_deref()
            .is_some_and(|source| find::<ProxyError>(source).is_some())
    }

    /// Resolving the host failed: no such name, no address of an allowed family, or a
    /// resolver that could not answer. Also a connect error ([`is_connect`](Self::is_connect)).
    pub fn is_dns(&self) -> bool {
        self.source.as_deref().is_some_and(|source| {
            find::<ConnectError>(source).is_some_and(|e| e.kind() == ConnectErrorKind::Dns)
        })
    }

    /// The TLS handshake failed (untrusted certificate, protocol mismatch, ...).
    pub fn is_tls(&self) -> bool {
        let Some(source) = self.source.as_deref() else {
            return false;
        };
        if find::<ConnectError>(source).is_some_and(|e| e.kind() == ConnectErrorKind::Tls) {
            return true;
        }
        #[cfg(feature = "rustls")]
        if towline_services::connect::tls::is_tls_error(source) {
            return true;
        }
        false
    }

    /// `error_for_status` found a 4xx or 5xx status.
    pub fn is_status(&self) -> bool {
        matches!(self.kind, Kind::Status(_))
    }

    /// Reading the response body failed (or exceeded the maximum body size).
    pub fn is_body(&self) -> bool {
        self.kind == Kind::Body
    }

    /// The body could not be decoded (JSON, charset).
    pub fn is_decode(&self) -> bool {
        self.kind == Kind::Decode
    }

    /// Upgrading the connection failed: the server did not switch protocols (no `101`, or no
    /// `2xx` to an extended CONNECT), an HTTP/2 server does not accept extended CONNECT, the
    /// connection ended before it was handed over, or a WebSocket handshake answer did not
    /// check out (see [`Response::upgrade`](crate::Response::upgrade)).
    pub fn is_upgrade(&self) -> bool {
        self.kind == Kind::Upgrade
    }
}

/// Whether a timeout anywhere in `source`'s chain ended it: total, per-attempt, read,
/// connect, write or pool acquire.
fn timed_out(source: &(dyn StdError + 'static)) -> bool {
    find::<Elapsed>(source).is_some()
        || find::<AttemptElapsed>(source).is_some()
        || find::<ConnectError>(source).is_some_and(ConnectError::is_timeout)
        || find::<TransportError>(source)
            .is_some_and(|e| e.kind() == TransportErrorKind::PoolTimeout)
        || find::<std::io::Error>(source).is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
}

/// The client's `error.type` classifier for its `tracing` and OpenTelemetry layers: a short,
/// fixed string for the error a request or response body failed with, found in its source
/// chain. The client gives it to [`ClientBuilder::trace`](crate::ClientBuilder::trace)'s and
/// `ClientBuilder::otel`'s layers unless they were given their own; give it to those layers
/// in a stack built by hand over towline's transport to classify as the client does.
///
/// | value | error |
/// |---|---|
/// | `timeout` | any timeout: total, per attempt, read, connect, write, pool acquire |
/// | `redirect_limit` | too many redirects |
/// | `redirect` | another redirect that could not be followed |
/// | `proxy` | a proxy failed or refused |
/// | `dns` | name resolution failed |
/// | `tls` | the TLS handshake failed |
/// | `connect` | another connect failure (TCP, HTTP handshake, unsupported target) |
/// | `decode` | a compressed body that could not be decoded |
/// | `body` | a decompressed body over its size limit |
/// | `_OTHER` | anything else |
///
/// A response with a status of 400 or more is recorded by the layers as its status code
/// (`"404"`); this classifier sees only errors.
///
/// ```
/// use towline::towline_services::{ConnectError, ConnectErrorKind};
///
/// let err = ConnectError::msg(ConnectErrorKind::Dns, "no address for example.invalid");
/// assert_eq!(towline::error_type(&err), "dns");
/// ```
pub fn error_type(error: &(dyn StdError + 'static)) -> &'static str {
    if timed_out(error) {
        return "timeout";
    }
    if let Some(redirect) = find::<RedirectError>(error) {
        return if redirect.is_too_many_redirects() {
            "redirect_limit"
        } else {
            "redirect"
        };
    }
    if find::<ProxyError>(error).is_some() {
        return "proxy";
    }
    if let Some(connect) = find::<ConnectError>(error) {
        return match connect.kind() {
            ConnectErrorKind::Dns => "dns",
            ConnectErrorKind::Tls => "tls",
            ConnectErrorKind::Proxy => "proxy",
            ConnectErrorKind::Timeout => "timeout",
            _ => "connect",
        };
    }
    #[cfg(feature = "rustls")]
    if towline_services::connect::tls::is_tls_error(error) {
        return "tls";
    }
    if let Some(decompression) = find::<DecompressionError>(error) {
        return if decompression.is_limit() {
            "body"
        } else {
            "decode"
        };
    }
    "_OTHER"
}

/// Writes a URL without its userinfo, so credentials never reach logs.
pub(crate) struct Redacted<'a>(pub(crate) &'a Url);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.0;
        if url.username().is_empty() && url.password().is_none() {
            return f.write_str(url.as_str());
        }
        let mut redacted = url.clone();
        let _ = redacted.set_username("");
        let _ = redacted.set_password(None);
        f.write_str(redacted.as_str())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Builder => f.write_str("builder error")?,
            Kind::Request => f.write_str("error sending request")?,
            Kind::Connect => f.write_str("error connecting")?,
            Kind::Redirect => f.write_str("error following redirect")?,
            Kind::Body => f.write_str("error reading response body")?,
            Kind::Decode => f.write_str("error decoding response body")?,
            Kind::Upgrade => f.write_str("error upgrading connection")?,
            Kind::Status(status) => {
                let prefix = if status.is_client_error() {
                    "HTTP status client error"
                } else {
                    "HTTP status server error"
                };
                write!(f, "{prefix} ({status})")?;
            }
        }
        if let Some(url) = &self.url {
            write!(f, " for url ({})", Redacted(url))?;
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("towline::Error");
        debug.field("kind", &self.kind);
        if let Some(url) = &self.url {
            debug.field("url", &format_args!("{}", Redacted(url)));
        }
        if let Some(source) = &self.source {
            debug.field("source", source);
        }
        debug.finish()
    }
}

/// A bad proxy URL is a builder error, so `Proxy::all(url)?` works in a function returning
/// [`Result`], as with reqwest.
impl From<ProxyError> for Error {
    fn from(error: ProxyError) -> Self {
        Self::builder(error)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_redacts_userinfo() {
        let url = Url::parse("https://alice:s3cret@example.com:8443/path?q=1").unwrap();
        let error = Error::from_status(StatusCode::NOT_FOUND, url);
        let shown = error.to_string();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("alice"), "{shown}");
        assert!(
            shown.contains("https://example.com:8443/path?q=1"),
            "{shown}"
        );
        assert!(error.is_status());
        assert_eq!(error.status(), Some(StatusCode::NOT_FOUND));
    }

    #[test]
    fn classifies_connect_timeout_through_the_chain() {
        let connect = ConnectError::msg(ConnectErrorKind::Timeout, "no connection within 1s");
        let error = Error::from_service(Box::new(connect));
        assert!(error.is_connect());
        assert!(error.is_timeout());
        assert!(!error.is_tls());
    }

    #[test]
    fn classifies_tls_failures() {
        let connect = ConnectError::msg(ConnectErrorKind::Tls, "unknown issuer");
        let error = Error::from_service(Box::new(connect));
        assert!(error.is_connect() && error.is_tls() && !error.is_timeout());
    }

    #[test]
    fn error_type_names_the_connect_phase_and_timeouts() {
        for (kind, expected) in [
            (ConnectErrorKind::Dns, "dns"),
            (ConnectErrorKind::Tls, "tls"),
            (ConnectErrorKind::Tcp, "connect"),
            (ConnectErrorKind::Handshake, "connect"),
            (ConnectErrorKind::Timeout, "timeout"),
        ] {
            let connect = ConnectError::msg(kind, "failed");
            let wrapped = TransportError::new(TransportErrorKind::Request, Some(Box::new(connect)));
            assert_eq!(error_type(&wrapped), expected, "{kind:?}");
        }
        let pool = TransportError::new(TransportErrorKind::PoolTimeout, None);
        assert_eq!(error_type(&pool), "timeout");
        let other = std::io::Error::other("something else");
        assert_eq!(error_type(&other), "_OTHER");
    }
}
