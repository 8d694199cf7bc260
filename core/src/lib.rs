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
//!
//! Both are plain data: no runtime, no dependency.

#![deny(unsafe_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

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

/// How long each phase of establishing a connection took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectTimings {
    /// Name resolution; `None` for IP literals and overridden names.
    pub dns: Option<Duration>,
    /// TCP connect, including Happy Eyeballs racing.
    pub tcp: Duration,
    /// The TLS handshake; `None` for plain connections.
    pub tls: Option<Duration>,
}

impl ConnectTimings {
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
