//! Protocol settings of the transport.

use std::time::Duration;

use crate::connect::Protocol;
use crate::pool::PoolConfig;

/// HTTP/1.1 settings.
#[derive(Clone, Debug, Default)]
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
#[derive(Clone, Debug)]
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

/// Everything the transport is configured with.
#[derive(Clone, Debug, Default)]
pub struct TransportConfig {
    /// HTTP/1.1 settings.
    pub http1: Http1Config,
    /// HTTP/2 settings.
    pub http2: Http2Config,
    /// Pool settings.
    pub pool: PoolConfig,
    /// Bounds DNS + TCP + TLS of one connection attempt.
    pub connect_timeout: Option<Duration>,
    /// Bounds how long a request waits for a connection another request is opening.
    pub pool_acquire_timeout: Option<Duration>,
    /// The protocol of requests that do not ask for one (see [`Protocol`]).
    pub protocol: Protocol,
}
