//! The few types that towline's layers (`towline-layers`) and its transport
//! (`towline-services`) must agree on, in a crate of their own so that neither of those
//! depends on the other.
//!
//! - [`ErrorClass`]: whether a failed request may have reached the server. The transport
//!   knows (it saw the connection fail, or the server refuse the stream); the retry layer
//!   decides with it. `towline_services::retry_class` answers it for the transport's errors,
//!   and `towline_layers::retry::RetryLayer::error_classifier` takes that function, so a
//!   stack built by hand classifies exactly as the `towline` client does.
//! - [`TransportPhases`]: how long the connection phases took and when the request was
//!   handed to its connection. The transport puts it in each response's extensions; the
//!   timings layer reads it from there, whichever transport is below it.
//!
//! Both are plain data: no runtime, no dependency.

#![deny(unsafe_code)]

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

/// Connection facts of one exchange, left in the response's extensions by the transport.
///
/// The connection phases are set only when the request opened a new connection; a request
/// sent on a pooled connection has none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportPhases {
    /// Name resolution of a new connection.
    pub dns: Option<Duration>,
    /// TCP connect of a new connection.
    pub tcp: Option<Duration>,
    /// TLS handshake of a new connection.
    pub tls: Option<Duration>,
    /// When the request was handed to its connection, on the transport's timer clock.
    pub request_sent_at: Option<Instant>,
}

impl TransportPhases {
    /// Phases of an exchange on a reused connection: only the moment the request was sent.
    pub fn reused(request_sent_at: Instant) -> Self {
        Self {
            request_sent_at: Some(request_sent_at),
            ..Self::default()
        }
    }

    /// Phases of an exchange that opened a connection.
    pub fn fresh(
        dns: Option<Duration>,
        tcp: Duration,
        tls: Option<Duration>,
        request_sent_at: Instant,
    ) -> Self {
        Self {
            dns,
            tcp: Some(tcp),
            tls,
            request_sent_at: Some(request_sent_at),
        }
    }
}
