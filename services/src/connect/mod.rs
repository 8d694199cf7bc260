//! The connector stack: each stage is a `tower::Service<Target>` that yields a connection.
//!
//! [`HttpConnector`] resolves the host ([`dns`]) and races TCP attempts per RFC 8305
//! ([`tcp`]); `TlsConnector` (feature `rustls`) wraps any connector and adds TLS with ALPN
//! for `https` targets; [`UnixConnector`](unix::UnixConnector) sends targets that name a
//! Unix domain socket there instead of to the network. Every connection reports what it is through [`Connection`]: the peer
//! address, whether ALPN chose HTTP/2, and how long each phase took.

pub mod dns;
mod either;
#[cfg(feature = "hickory-dns")]
pub mod hickory;
pub mod proxy;
#[cfg(feature = "http3")]
pub mod quic;
pub mod socks;
pub mod tcp;
#[cfg(feature = "rustls")]
pub mod tls;
pub mod unix;

use std::net::SocketAddr;

use http::uri::{Authority, Scheme};

pub use dns::{DynResolver, GaiResolver, IpStrategy, Name, Resolve, ResolveOverrides};
pub use either::EitherIo;
pub use tcp::{HttpConnector, TcpConfig, TcpConnection};

/// Which HTTP protocol a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// HTTP/2 when TLS ALPN agrees, HTTP/1.1 otherwise (plain `http` is HTTP/1.1).
    #[default]
    Auto,
    /// HTTP/1.1 only; TLS offers only `http/1.1`.
    Http1,
    /// HTTP/2 only: ALPN `h2` over TLS, prior knowledge (h2c) over plain TCP.
    Http2,
    /// HTTP/3 only, over QUIC (ALPN `h3`), for `https` targets; see [`quic`].
    #[cfg(feature = "http3")]
    Http3,
}

/// Where a connection goes, and in which protocol: the identity of a pooled connection.
///
/// Equality ignores ASCII case in the authority, as `Authority`'s does.
///
/// ```
/// use http::uri::{Authority, Scheme};
/// use towline_services::connect::{Protocol, Target};
///
/// let target = Target::new(Scheme::HTTPS, Authority::from_static("example.com"), Protocol::Auto);
/// assert_eq!(target.port(), 443);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Target {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host and port as written in the URI.
    pub authority: Authority,
    /// The protocol the connection must speak.
    pub protocol: Protocol,
    /// How the connection is reached when not directly over TCP: a Unix socket, proxies.
    /// One pointer, so the common direct target stays small (targets are moved and cloned
    /// with every request).
    via: Option<std::sync::Arc<Via>>,
}

/// The ways of reaching a target other than a direct TCP connection.
#[derive(Debug, Default, PartialEq, Eq, Hash)]
struct Via {
    unix_socket: Option<std::sync::Arc<std::path::Path>>,
    proxy: Option<proxy::ProxyRoute>,
    #[cfg(feature = "http3")]
    alternative: Option<crate::alt_svc::AltEndpoint>,
}

impl Via {
    fn clone_parts(&self) -> Self {
        Self {
            unix_socket: self.unix_socket.clone(),
            proxy: self.proxy.clone(),
            #[cfg(feature = "http3")]
            alternative: self.alternative.clone(),
        }
    }

    fn into_option(self) -> Option<std::sync::Arc<Self>> {
        #[cfg(feature = "http3")]
        let alternative = self.alternative.is_some();
        #[cfg(not(feature = "http3"))]
        let alternative = false;
        (self.unix_socket.is_some() || self.proxy.is_some() || alternative)
            .then(|| std::sync::Arc::new(self))
    }
}

impl PartialEq for Target {
    fn eq(&self, other: &Self) -> bool {
        self.protocol == other.protocol
            && self.scheme == other.scheme
            // The pool compares the key of every request: exact bytes first (the usual case),
            // then `Authority`'s own case-insensitive comparison.
            && (self.authority.as_str() == other.authority.as_str()
                || self.authority == other.authority)
            && self.via == other.via
    }
}

impl Eq for Target {}

impl std::hash::Hash for Target {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // What `derive(Hash)` would do; consistent with `eq` because `Authority` hashes
        // lowercased bytes.
        self.scheme.hash(state);
        self.authority.hash(state);
        self.protocol.hash(state);
        self.via.hash(state);
    }
}

impl Target {
    /// A target from its parts.
    pub fn new(scheme: Scheme, authority: Authority, protocol: Protocol) -> Self {
        Self {
            scheme,
            authority,
            protocol,
            via: None,
        }
    }

    /// Builds a target, failing for URIs without scheme or authority.
    pub fn from_uri(uri: &http::Uri, protocol: Protocol) -> Option<Self> {
        Some(Self::new(
            uri.scheme()?.clone(),
            uri.authority()?.clone(),
            protocol,
        ))
    }

    /// The Unix domain socket to connect to instead of the authority's host (see [`unix`]);
    /// connections to different sockets are never shared.
    pub fn unix_socket(&self) -> Option<&std::sync::Arc<std::path::Path>> {
        self.via.as_ref()?.unix_socket.as_ref()
    }

    /// Sets [`unix_socket`](Self::unix_socket).
    pub fn set_unix_socket(&mut self, path: Option<std::sync::Arc<std::path::Path>>) {
        let mut via = self
            .via
            .as_deref()
            .map(Via::clone_parts)
            .unwrap_or_default();
        via.unix_socket = path;
        self.via = via.into_option();
    }

    /// The proxies to go through (see [`proxy`]); part of the connection's identity.
    pub fn proxy(&self) -> Option<&proxy::ProxyRoute> {
        self.via.as_ref()?.proxy.as_ref()
    }

    /// Sets [`proxy`](Self::proxy).
    pub fn set_proxy(&mut self, route: Option<proxy::ProxyRoute>) {
        let mut via = self
            .via
            .as_deref()
            .map(Via::clone_parts)
            .unwrap_or_default();
        via.proxy = route;
        self.via = via.into_option();
    }

    /// The `Alt-Svc` alternative (RFC 7838) an HTTP/3 connection to this origin goes to
    /// instead of the origin's own host and port; the server there must still present a
    /// certificate for the origin's host. Connections to different alternatives are never
    /// shared.
    #[cfg(feature = "http3")]
    pub fn alternative(&self) -> Option<&crate::alt_svc::AltEndpoint> {
        self.via.as_ref()?.alternative.as_ref()
    }

    /// Sets [`alternative`](Self::alternative).
    #[cfg(feature = "http3")]
    pub fn set_alternative(&mut self, alternative: Option<crate::alt_svc::AltEndpoint>) {
        let mut via = self
            .via
            .as_deref()
            .map(Via::clone_parts)
            .unwrap_or_default();
        via.alternative = alternative;
        self.via = via.into_option();
    }

    /// Whether the target is reached directly: no Unix socket, no proxy.
    pub fn is_direct(&self) -> bool {
        self.unix_socket().is_none() && self.proxy().is_none()
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }

    /// The host, without the brackets of an IPv6 literal.
    pub fn host(&self) -> &str {
        let host = self.authority.host();
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
    }

    /// The port, defaulting to 443 for `https` and 80 otherwise.
    pub fn port(&self) -> u16 {
        self.authority
            .port_u16()
            .unwrap_or(if self.is_https() { 443 } else { 80 })
    }
}

pub use towline_core::ConnectTimings;

/// Facts about an established connection.
///
/// A connector of your own describes its connections with it:
///
/// ```
/// use std::time::Duration;
/// use towline_services::connect::{ConnectTimings, Connected};
///
/// let connected = Connected::default()
///     .with_remote_addr(([127, 0, 0, 1], 8080).into())
///     .with_alpn_h2(true)
///     .with_timings(ConnectTimings::default().with_tcp(Duration::from_millis(3)));
/// assert!(connected.alpn_h2);
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Connected {
    /// The peer's address.
    pub remote_addr: Option<SocketAddr>,
    /// Our side's address.
    pub local_addr: Option<SocketAddr>,
    /// ALPN selected `h2`.
    pub alpn_h2: bool,
    /// Phase durations.
    pub timings: ConnectTimings,
    /// The connection's write timeout, which the transport sets per request.
    pub(crate) write_limit: std::sync::Arc<crate::transport::WriteLimit>,
    /// Whether the HTTP/2 server enabled extended CONNECT (RFC 8441) in its first SETTINGS,
    /// which the transport learns during the handshake.
    pub(crate) extended_connect: bool,
}

impl Connected {
    /// Sets [`remote_addr`](Self::remote_addr).
    pub fn with_remote_addr(mut self, addr: SocketAddr) -> Self {
        self.remote_addr = Some(addr);
        self
    }

    /// Sets [`local_addr`](Self::local_addr).
    pub fn with_local_addr(mut self, addr: SocketAddr) -> Self {
        self.local_addr = Some(addr);
        self
    }

    /// Sets [`alpn_h2`](Self::alpn_h2).
    pub fn with_alpn_h2(mut self, h2: bool) -> Self {
        self.alpn_h2 = h2;
        self
    }

    /// Sets [`timings`](Self::timings).
    pub fn with_timings(mut self, timings: ConnectTimings) -> Self {
        self.timings = timings;
        self
    }
}

/// Implemented by every connection a connector yields.
pub trait Connection {
    /// Facts about this connection.
    fn connected(&self) -> Connected;
}
