//! The few types that towline's layers (`towline-layers`) and its transport
//! (`towline-services`) must agree on, in a crate of their own so that neither of those
//! depends on the other.
//!
//! - [`ErrorClass`]: whether a failed request may have reached the server. The transport
//!   knows (it saw the connection fail, or the server refuse the stream); the retry layer
//!   decides with it. `towline_services::retry_class` answers it for the transport's errors,
//!   and `towline_layers::retry::RetryLayer::error_classifier` takes that function, so a
//!   stack built by hand classifies exactly as the `towline` client does.
//! - [`ConnectionInfo`] (with [`ConnectTimings`]): the connection a response came over, how
//!   long making it took and when the request was handed to it. The transport puts it in
//!   each response's extensions; the timings layer reads it from there, whichever transport
//!   is below it, and the `towline` client reads the peer's address from it.
//! - [`RequestHead`]: what a request is sent again from. The redirect and retry layers keep
//!   one per request for their later attempts, and the transport one for replaying an
//!   idempotent request that a reused connection lost.
//! - [`PoolStats`]: a snapshot of a connection pool's connections per target. The transport's
//!   pool takes it; the OpenTelemetry layer reports it as `http.client.open_connections`.
//! - [`ClosedConnection`]: a connection that closed and how long it was open, which the
//!   transport reports and the OpenTelemetry layer records as `http.client.connection.duration`.
//!
//! All are plain data: no runtime, and no dependency but `http`.

#![deny(unsafe_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::uri::{Authority, Scheme};
use http::{Extensions, HeaderMap, Method, Request, Uri, Version, request};

/// How a failed attempt may be retried: whether the request can have reached the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The request certainly never reached the server (no connection was had, or the server
    /// said it did not process it): safe to send again whatever the method.
    NotSent,
    /// The request may have reached the server: sent again only when the method is
    /// idempotent, or the caller allows re-sending others.
    MaybeSent,
    /// Trying again cannot help (a certificate the client rejects, a request that cannot be
    /// sent, a body that cannot be replayed): never sent again.
    Fatal,
}

/// A snapshot of a connection pool: its connections to each target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// One entry per target the pool holds or makes connections to, in no particular order.
    pub targets: Vec<TargetStats>,
}

impl PoolStats {
    /// A snapshot of `targets`.
    pub fn new(targets: Vec<TargetStats>) -> Self {
        Self { targets }
    }
}

/// A pool's connections to one target (scheme and authority; connections through different
/// proxies or sockets to the same authority are separate entries).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TargetStats {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host and port as the requests wrote them.
    pub authority: Authority,
    /// HTTP/1 connections waiting in the pool for a request.
    pub http1_idle: usize,
    /// HTTP/1 connections a request holds (until its response body ends).
    pub http1_active: usize,
    /// HTTP/2 connections no request is waiting on (HTTP/3 ones too: shared connections
    /// are counted here, whichever their protocol).
    pub http2_idle: usize,
    /// HTTP/2 (and HTTP/3) connections with a request waiting for its response head.
    pub http2_active: usize,
    /// Connections being made (DNS, TCP, TLS, handshake), of either version.
    pub connecting: usize,
}

impl TargetStats {
    /// An entry for `scheme://authority` with no connection.
    pub fn new(scheme: Scheme, authority: Authority) -> Self {
        Self {
            scheme,
            authority,
            http1_idle: 0,
            http1_active: 0,
            http2_idle: 0,
            http2_active: 0,
            connecting: 0,
        }
    }
}

/// A connection the transport made, once it has closed: how long it was open, for
/// `http.client.connection.duration`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClosedConnection {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host and port as the requests wrote them.
    pub authority: Authority,
    /// `HTTP/1.1` or `HTTP/2`.
    pub version: Version,
    /// The peer's address, when the connector knew it.
    pub peer: Option<SocketAddr>,
    /// From the end of the handshake to the close.
    pub duration: Duration,
}

impl ClosedConnection {
    /// A connection to `scheme://authority` speaking `version`, open for `duration`.
    pub fn new(scheme: Scheme, authority: Authority, version: Version, duration: Duration) -> Self {
        Self {
            scheme,
            authority,
            version,
            peer: None,
            duration,
        }
    }

    /// Sets [`peer`](Self::peer).
    pub fn with_peer(mut self, peer: SocketAddr) -> Self {
        self.peer = Some(peer);
        self
    }
}

/// How long each phase of establishing a connection took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectTimings {
    /// Name resolution; zero for a name answered by a resolve override, `None` for an IP
    /// literal (nothing was resolved).
    pub dns: Option<Duration>,
    /// TCP connect, including Happy Eyeballs racing; zero for a QUIC connection.
    pub tcp: Duration,
    /// The TLS handshake; `None` for plain connections.
    pub tls: Option<Duration>,
    /// The proxy handshakes (HTTP `CONNECT`, SOCKS, TLS to an `https://` proxy) after the
    /// TCP connect to the first proxy; `None` for direct connections.
    pub proxy: Option<Duration>,
    /// The QUIC handshake of an HTTP/3 connection, which carries its TLS 1.3 handshake (so
    /// `tls` is `None` and `tcp` zero for it); `None` for TCP connections.
    pub quic: Option<Duration>,
}

impl ConnectTimings {
    /// Sets [`quic`](Self::quic).
    pub fn with_quic(mut self, took: Duration) -> Self {
        self.quic = Some(took);
        self
    }

    /// Sets [`dns`](Self::dns).
    pub fn with_dns(mut self, took: Duration) -> Self {
        self.dns = Some(took);
        self
    }

    /// Sets [`tcp`](Self::tcp).
    pub fn with_tcp(mut self, took: Duration) -> Self {
        self.tcp = took;
        self
    }

    /// Sets [`proxy`](Self::proxy).
    pub fn with_proxy(mut self, took: Duration) -> Self {
        self.proxy = Some(took);
        self
    }

    /// Sets [`tls`](Self::tls).
    pub fn with_tls(mut self, took: Duration) -> Self {
        self.tls = Some(took);
        self
    }
}

/// Facts about the connection a response came over, left in the response's extensions by
/// the transport: the addresses, whether the connection was reused, how long making it took
/// and when the request was handed to it.
///
/// ```
/// use std::time::{Duration, Instant};
/// use towline_core::{ConnectTimings, ConnectionInfo};
///
/// let sent = Instant::now();
/// let info = ConnectionInfo::new(ConnectTimings::default().with_tcp(Duration::from_millis(2)), sent)
///     .with_remote_addr(([127, 0, 0, 1], 8080).into());
/// assert!(!info.is_reused());
/// assert_eq!(info.connect_timings().tcp, Duration::from_millis(2));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    remote_addr: Option<SocketAddr>,
    local_addr: Option<SocketAddr>,
    reused: bool,
    timings: ConnectTimings,
    sent_at: Instant,
}

impl ConnectionInfo {
    /// A fresh connection that took `timings` to make, given the request at `sent_at` (on
    /// the transport's timer clock).
    pub fn new(timings: ConnectTimings, sent_at: Instant) -> Self {
        Self {
            remote_addr: None,
            local_addr: None,
            reused: false,
            timings,
            sent_at,
        }
    }

    /// Sets the peer's address.
    pub fn with_remote_addr(mut self, addr: SocketAddr) -> Self {
        self.remote_addr = Some(addr);
        self
    }

    /// Sets our side's address.
    pub fn with_local_addr(mut self, addr: SocketAddr) -> Self {
        self.local_addr = Some(addr);
        self
    }

    /// Marks the connection as used by an earlier request.
    pub fn with_reused(mut self, reused: bool) -> Self {
        self.reused = reused;
        self
    }

    /// The peer's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// Our side's address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Whether an earlier request already used this connection.
    pub fn is_reused(&self) -> bool {
        self.reused
    }

    /// How long DNS, TCP and TLS took when the connection was made (also on a reused
    /// connection: these are the connection's, not this request's).
    pub fn connect_timings(&self) -> ConnectTimings {
        self.timings
    }

    /// When the request was handed to the connection, on the transport's timer clock: the
    /// start of "time to first byte".
    pub fn request_sent_at(&self) -> Instant {
        self.sent_at
    }
}

/// A request without its body: method, URI, version, headers and extensions.
///
/// A layer or service that may send a request again copies its head once, before the
/// request goes on, and builds each later attempt from the copy with a fresh body. The
/// fields are public so that an attempt can differ from the first (a redirect changes the
/// method, URI and headers).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// The request URI.
    pub uri: Uri,
    /// The HTTP version.
    pub version: Version,
    /// The request headers.
    pub headers: HeaderMap,
    /// The request extensions.
    pub extensions: Extensions,
}

impl RequestHead {
    /// Copies the head of `request`.
    pub fn from_request<B>(request: &Request<B>) -> Self {
        Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
            extensions: request.extensions().clone(),
        }
    }

    /// Copies the head of a request taken apart with [`Request::into_parts`].
    pub fn from_parts(parts: &request::Parts) -> Self {
        Self {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            headers: parts.headers.clone(),
            extensions: parts.extensions.clone(),
        }
    }

    /// A request with a copy of this head and `body`: the next attempt, while the head is
    /// kept for the ones after it.
    pub fn to_request<B>(&self, body: B) -> Request<B> {
        self.clone().into_request(body)
    }

    /// A request with this head and `body`: the last attempt, which needs no copy.
    pub fn into_request<B>(self, body: B) -> Request<B> {
        let mut request = Request::new(body);
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers;
        *request.extensions_mut() = self.extensions;
        request
    }
}

#[cfg(test)]
mod tests {
    use http::{Method, Request, Version};

    use super::RequestHead;

    #[derive(Clone, Debug, PartialEq)]
    struct Marker(u8);

    #[test]
    fn a_request_rebuilt_from_its_head_is_the_same_request() -> Result<(), http::Error> {
        let mut request = Request::builder()
            .method(Method::PUT)
            .uri("http://example.test/upload")
            .version(Version::HTTP_2)
            .header("content-type", "text/plain")
            .body("first")?;
        request.extensions_mut().insert(Marker(7));

        let head = RequestHead::from_request(&request);
        let (parts, _) = request.into_parts();
        let from_parts = RequestHead::from_parts(&parts);
        for again in [head.to_request("second"), from_parts.into_request("second")] {
            assert_eq!(again.method(), Method::PUT);
            assert_eq!(again.uri(), "http://example.test/upload");
            assert_eq!(again.version(), Version::HTTP_2);
            assert_eq!(again.headers(), &parts.headers);
            assert_eq!(again.extensions().get::<Marker>(), Some(&Marker(7)));
            assert_eq!(*again.body(), "second");
        }
        Ok(())
    }
}
