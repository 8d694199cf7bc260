//! Protocol settings of the transport.

use std::sync::Arc;
use std::time::Duration;

use towline_core::ClosedConnection;

use crate::connect::Protocol;
use crate::connect::proxy::ProxyConfig;
use crate::pool::PoolConfig;

/// HTTP/1.1 settings.
///
/// Start from `Default` and change what you need, with the `with_` setters or by assigning
/// the public fields.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Http1Config {
    /// Largest response head accepted, in bytes (hyper's default is about 400 KiB).
    pub max_header_size: Option<usize>,
    /// Most response headers accepted (hyper's default is 100).
    pub max_headers: Option<usize>,
    /// Write header names in Title-Case (off: names go out lowercase, as HTTP/2 requires).
    pub title_case_headers: bool,
    /// Accept obsolete line folding in response headers.
    pub allow_obsolete_multiline_headers: bool,
}

/// HTTP/2 settings, tuned for throughput by default: large initial windows so a single
/// stream can fill a fast link without waiting for WINDOW_UPDATEs.
///
/// ```
/// use std::time::Duration;
/// use towline_services::transport::Http2Config;
///
/// let config = Http2Config::default()
///     .with_adaptive_window(true)
///     .with_keep_alive_interval(Duration::from_secs(30));
/// assert!(config.adaptive_window);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Http2Config {
    /// Initial stream-level flow-control window (default 2 MiB).
    pub initial_stream_window_size: u32,
    /// Initial connection-level flow-control window (default 4 MiB).
    pub initial_connection_window_size: u32,
    /// Grow windows from measured bandwidth-delay (overrides the two sizes above).
    pub adaptive_window: bool,
    /// Largest frame payload we accept (default 16 KiB, the protocol minimum).
    pub max_frame_size: Option<u32>,
    /// Send PING frames at this interval to detect dead connections.
    pub keep_alive_interval: Option<Duration>,
    /// How long to wait for a PING acknowledgement (default 20 s).
    pub keep_alive_timeout: Duration,
    /// Send PINGs even when no stream is open.
    pub keep_alive_while_idle: bool,
    /// Largest header list we accept; `None` keeps hyper's default.
    pub max_header_list_size: Option<u32>,
    /// Most bytes buffered per stream before back-pressure; `None` keeps hyper's default.
    pub max_send_buf_size: Option<usize>,
    /// Most locally reset streams remembered (guards against reset floods).
    pub max_concurrent_reset_streams: Option<usize>,
}

impl Default for Http2Config {
    fn default() -> Self {
        Self {
            initial_stream_window_size: 2 * 1024 * 1024,
            initial_connection_window_size: 4 * 1024 * 1024,
            adaptive_window: false,
            max_frame_size: None,
            keep_alive_interval: None,
            keep_alive_timeout: Duration::from_secs(20),
            keep_alive_while_idle: false,
            max_header_list_size: None,
            max_send_buf_size: None,
            max_concurrent_reset_streams: None,
        }
    }
}

/// The congestion controller of HTTP/3 connections (quinn's implementations).
#[cfg(feature = "http3")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CongestionController {
    /// CUBIC (RFC 9438), quinn's default.
    #[default]
    Cubic,
    /// NewReno (RFC 9002).
    NewReno,
    /// BBR (version 1; experimental in quinn).
    Bbr,
}

/// HTTP/3 (QUIC) settings, sized for throughput by default like [`Http2Config`]: 2 MiB per
/// stream and 4 MiB per connection of receive window, so one stream fills a fast link
/// without waiting for flow-control credit.
///
/// ```
/// use std::time::Duration;
/// use towline_services::transport::{CongestionController, Http3Config};
///
/// let config = Http3Config::default()
///     .with_keep_alive_interval(Duration::from_secs(15))
///     .with_congestion_controller(CongestionController::Bbr);
/// assert_eq!(config.keep_alive_interval, Some(Duration::from_secs(15)));
/// ```
#[cfg(feature = "http3")]
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Http3Config {
    /// How long a connection may stay silent before QUIC closes it (the smaller of ours and
    /// the server's applies); `None` leaves it to the server. Default 30 s.
    pub max_idle_timeout: Option<Duration>,
    /// Send QUIC PINGs at this interval so an idle pooled connection stays open and a dead
    /// one is noticed; `None` (the default) sends none.
    pub keep_alive_interval: Option<Duration>,
    /// Bytes one response stream may have in flight towards us (default 2 MiB).
    pub stream_receive_window: u32,
    /// Bytes all streams of a connection together may have in flight towards us (default
    /// 4 MiB).
    pub receive_window: u32,
    /// Bidirectional streams the server may open to us. HTTP/3 servers open none (requests
    /// are the client's streams; how many of those may be open at once is the server's
    /// setting), so the default is 0, and raising it is for extensions only.
    pub max_concurrent_bidi_streams: u32,
    /// The congestion controller (CUBIC by default).
    pub congestion_controller: CongestionController,
    /// Largest response header section accepted, in bytes (QPACK-decoded, as
    /// `SETTINGS_MAX_FIELD_SECTION_SIZE`); `None` keeps h3's default (unlimited by the
    /// setting, bounded by the stream window).
    pub max_field_section_size: Option<u64>,
    /// Where `Alt-Svc` fields are learned and looked up; `None` (the default) ignores them.
    ///
    /// With a cache, a request to an `https` origin that did not choose its protocol (no
    /// `Protocol` extension, version not HTTP/2 or HTTP/3, and the transport's default
    /// [`Protocol::Auto`]), made directly (no proxy, no Unix socket), goes over HTTP/3 to the
    /// origin's alternative when the cache has one. The QUIC handshake gets a head start of
    /// [`alt_svc_budget`](Self::alt_svc_budget): if it fails sooner, the request goes over
    /// TCP at once; if it has not finished by then, the TCP connection is opened as well and
    /// the first of the two to be ready carries the request, while the handshake goes on
    /// for later requests. Either way the alternative is marked broken (see
    /// [`AltSvcCache`](crate::alt_svc::AltSvcCache)) until a handshake with it succeeds. The
    /// alternative's certificate must be valid for the origin's host (RFC 7838 §2.1).
    pub alt_svc: Option<crate::alt_svc::AltSvcCache>,
    /// The QUIC handshake's head start over TCP for an `Alt-Svc` alternative (300 ms).
    pub alt_svc_budget: Duration,
    /// Sends requests in 0-RTT early data on connections that resume an earlier TLS session
    /// (off by default).
    ///
    /// Early data can be replayed by an attacker, so only idempotent requests without a
    /// body go in it; any other request on such a connection waits for the handshake to
    /// finish (a body is not known to be replayable before it is sent, so a PUT with one
    /// waits too). When the server rejects the early data, the requests sent in it were not
    /// processed: each is sent again, once, on a new connection (without early data), and the
    /// rejected connection is not used again. A connection in 0-RTT is handed over before its
    /// handshake ends, so the connect timeout covers its DNS only; the request's own
    /// timeouts bound the rest.
    pub zero_rtt: bool,
}

#[cfg(feature = "http3")]
impl Default for Http3Config {
    fn default() -> Self {
        Self {
            max_idle_timeout: Some(Duration::from_secs(30)),
            keep_alive_interval: None,
            stream_receive_window: 2 * 1024 * 1024,
            receive_window: 4 * 1024 * 1024,
            max_concurrent_bidi_streams: 0,
            congestion_controller: CongestionController::Cubic,
            max_field_section_size: None,
            alt_svc: None,
            alt_svc_budget: Duration::from_millis(300),
            zero_rtt: false,
        }
    }
}

#[cfg(feature = "http3")]
impl Http3Config {
    /// Sets [`max_idle_timeout`](Self::max_idle_timeout).
    pub fn with_max_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.max_idle_timeout = timeout;
        self
    }

    /// Sets [`keep_alive_interval`](Self::keep_alive_interval).
    pub fn with_keep_alive_interval(mut self, interval: Duration) -> Self {
        self.keep_alive_interval = Some(interval);
        self
    }

    /// Sets [`stream_receive_window`](Self::stream_receive_window).
    pub fn with_stream_receive_window(mut self, bytes: u32) -> Self {
        self.stream_receive_window = bytes;
        self
    }

    /// Sets [`receive_window`](Self::receive_window).
    pub fn with_receive_window(mut self, bytes: u32) -> Self {
        self.receive_window = bytes;
        self
    }

    /// Sets [`max_concurrent_bidi_streams`](Self::max_concurrent_bidi_streams).
    pub fn with_max_concurrent_bidi_streams(mut self, count: u32) -> Self {
        self.max_concurrent_bidi_streams = count;
        self
    }

    /// Sets [`congestion_controller`](Self::congestion_controller).
    pub fn with_congestion_controller(mut self, controller: CongestionController) -> Self {
        self.congestion_controller = controller;
        self
    }

    /// Sets [`max_field_section_size`](Self::max_field_section_size).
    pub fn with_max_field_section_size(mut self, bytes: u64) -> Self {
        self.max_field_section_size = Some(bytes);
        self
    }

    /// Sets [`alt_svc`](Self::alt_svc).
    pub fn with_alt_svc(mut self, cache: crate::alt_svc::AltSvcCache) -> Self {
        self.alt_svc = Some(cache);
        self
    }

    /// Sets [`alt_svc_budget`](Self::alt_svc_budget).
    pub fn with_alt_svc_budget(mut self, budget: Duration) -> Self {
        self.alt_svc_budget = budget;
        self
    }

    /// Sets [`zero_rtt`](Self::zero_rtt).
    pub fn with_zero_rtt(mut self, enabled: bool) -> Self {
        self.zero_rtt = enabled;
        self
    }
}

/// Everything the transport is configured with.
///
/// ```
/// use std::time::Duration;
/// use towline_services::pool::PoolConfig;
/// use towline_services::transport::TransportConfig;
///
/// let config = TransportConfig::default()
///     .with_connect_timeout(Duration::from_secs(5))
///     .with_pool(PoolConfig::default().with_max_idle_per_host(8));
/// assert_eq!(config.pool.max_idle_per_host, 8);
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct TransportConfig {
    /// HTTP/1.1 settings.
    pub http1: Http1Config,
    /// HTTP/2 settings.
    pub http2: Http2Config,
    /// HTTP/3 settings.
    #[cfg(feature = "http3")]
    pub http3: Http3Config,
    /// Pool settings.
    pub pool: PoolConfig,
    /// Bounds one connection attempt: DNS, TCP, TLS and the HTTP handshake (for HTTP/2,
    /// until the server's SETTINGS frame arrives; for HTTP/3, DNS and the QUIC handshake).
    pub connect_timeout: Option<Duration>,
    /// Bounds how long a request waits for a connection: one another request is opening
    /// (HTTP/2), or one freed under [`PoolConfig::max_connections_per_host`]. Every wait
    /// of one request counts against it.
    pub pool_acquire_timeout: Option<Duration>,
    /// The longest a write to a connection may stay pending (a peer that stops reading):
    /// the request then fails with a `TimedOut` I/O error (see
    /// [`WriteTimeout`](super::WriteTimeout), which sets it per request on HTTP/1).
    pub write_timeout: Option<Duration>,
    /// The protocol of requests that do not ask for one (see [`Protocol`]).
    pub protocol: Protocol,
    /// The proxies requests go through (none by default); the connector must be able to
    /// dial them (a [`ProxyConnector`](crate::connect::proxy::ProxyConnector) in its stack).
    pub proxy: ProxyConfig,
    /// Told of every connection the transport made once it has closed (none by default).
    pub on_connection_close: Option<ConnectionCloseHook>,
}

/// Called with each connection the transport made, once the connection has closed: its
/// target, HTTP version, peer and how long it was open (measured on the transport's timer).
/// It runs on the task that drove the connection, so it must be quick; the OpenTelemetry
/// layer's records `http.client.connection.duration`.
///
/// Cloning it clones an [`Arc`].
#[derive(Clone)]
pub struct ConnectionCloseHook(Arc<dyn Fn(&ClosedConnection) + Send + Sync>);

impl ConnectionCloseHook {
    /// A hook calling `closed` for each closed connection.
    pub fn new(closed: impl Fn(&ClosedConnection) + Send + Sync + 'static) -> Self {
        Self(Arc::new(closed))
    }

    /// Reports `connection`.
    pub fn closed(&self, connection: &ClosedConnection) {
        (self.0)(connection);
    }
}

impl std::fmt::Debug for ConnectionCloseHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionCloseHook")
            .finish_non_exhaustive()
    }
}

impl Http1Config {
    /// Sets [`max_header_size`](Self::max_header_size).
    pub fn with_max_header_size(mut self, bytes: usize) -> Self {
        self.max_header_size = Some(bytes);
        self
    }

    /// Sets [`max_headers`](Self::max_headers).
    pub fn with_max_headers(mut self, count: usize) -> Self {
        self.max_headers = Some(count);
        self
    }

    /// Sets [`title_case_headers`](Self::title_case_headers).
    pub fn with_title_case_headers(mut self, enabled: bool) -> Self {
        self.title_case_headers = enabled;
        self
    }

    /// Sets [`allow_obsolete_multiline_headers`](Self::allow_obsolete_multiline_headers).
    pub fn with_allow_obsolete_multiline_headers(mut self, enabled: bool) -> Self {
        self.allow_obsolete_multiline_headers = enabled;
        self
    }
}

impl Http2Config {
    /// Sets [`initial_stream_window_size`](Self::initial_stream_window_size).
    pub fn with_initial_stream_window_size(mut self, bytes: u32) -> Self {
        self.initial_stream_window_size = bytes;
        self
    }

    /// Sets [`initial_connection_window_size`](Self::initial_connection_window_size).
    pub fn with_initial_connection_window_size(mut self, bytes: u32) -> Self {
        self.initial_connection_window_size = bytes;
        self
    }

    /// Sets [`adaptive_window`](Self::adaptive_window).
    pub fn with_adaptive_window(mut self, enabled: bool) -> Self {
        self.adaptive_window = enabled;
        self
    }

    /// Sets [`max_frame_size`](Self::max_frame_size).
    pub fn with_max_frame_size(mut self, bytes: u32) -> Self {
        self.max_frame_size = Some(bytes);
        self
    }

    /// Sets [`keep_alive_interval`](Self::keep_alive_interval).
    pub fn with_keep_alive_interval(mut self, interval: Duration) -> Self {
        self.keep_alive_interval = Some(interval);
        self
    }

    /// Sets [`keep_alive_timeout`](Self::keep_alive_timeout).
    pub fn with_keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.keep_alive_timeout = timeout;
        self
    }

    /// Sets [`keep_alive_while_idle`](Self::keep_alive_while_idle).
    pub fn with_keep_alive_while_idle(mut self, enabled: bool) -> Self {
        self.keep_alive_while_idle = enabled;
        self
    }

    /// Sets [`max_header_list_size`](Self::max_header_list_size).
    pub fn with_max_header_list_size(mut self, bytes: u32) -> Self {
        self.max_header_list_size = Some(bytes);
        self
    }

    /// Sets [`max_send_buf_size`](Self::max_send_buf_size).
    pub fn with_max_send_buf_size(mut self, bytes: usize) -> Self {
        self.max_send_buf_size = Some(bytes);
        self
    }

    /// Sets [`max_concurrent_reset_streams`](Self::max_concurrent_reset_streams).
    pub fn with_max_concurrent_reset_streams(mut self, count: usize) -> Self {
        self.max_concurrent_reset_streams = Some(count);
        self
    }
}

impl TransportConfig {
    /// Sets the HTTP/1.1 settings.
    pub fn with_http1(mut self, http1: Http1Config) -> Self {
        self.http1 = http1;
        self
    }

    /// Sets the HTTP/2 settings.
    pub fn with_http2(mut self, http2: Http2Config) -> Self {
        self.http2 = http2;
        self
    }

    /// Sets the HTTP/3 settings.
    #[cfg(feature = "http3")]
    pub fn with_http3(mut self, http3: Http3Config) -> Self {
        self.http3 = http3;
        self
    }

    /// Sets the pool settings.
    pub fn with_pool(mut self, pool: PoolConfig) -> Self {
        self.pool = pool;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sets [`pool_acquire_timeout`](Self::pool_acquire_timeout).
    pub fn with_pool_acquire_timeout(mut self, timeout: Duration) -> Self {
        self.pool_acquire_timeout = Some(timeout);
        self
    }

    /// Sets [`write_timeout`](Self::write_timeout).
    pub fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = Some(timeout);
        self
    }

    /// Sets [`proxy`](Self::proxy).
    pub fn with_proxy(mut self, proxy: ProxyConfig) -> Self {
        self.proxy = proxy;
        self
    }

    /// Sets [`protocol`](Self::protocol).
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets [`on_connection_close`](Self::on_connection_close).
    pub fn with_connection_close_hook(mut self, hook: ConnectionCloseHook) -> Self {
        self.on_connection_close = Some(hook);
        self
    }
}
