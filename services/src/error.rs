//! Errors of the connectors and the transport.
//!
//! Both carry a kind so the facade (or any caller holding a `BoxError`) can classify them by
//! downcasting, and both keep the underlying cause as their `source`.

use std::error::Error as StdError;
use std::fmt;

type BoxError = Box<dyn StdError + Send + Sync>;

/// The phase in which establishing a connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectErrorKind {
    /// Name resolution failed or found no address.
    Dns,
    /// Every TCP attempt failed.
    Tcp,
    /// The TLS handshake failed (certificate, protocol, ALPN).
    Tls,
    /// The HTTP handshake on a fresh connection failed.
    Handshake,
    /// The connect timeout elapsed.
    Timeout,
    /// The target cannot be connected to (unsupported scheme, `https_only`, no TLS support).
    Unsupported,
}

/// Establishing a connection failed.
#[derive(Debug)]
pub struct ConnectError {
    kind: ConnectErrorKind,
    source: Option<BoxError>,
    message: Option<String>,
}

impl ConnectError {
    /// An error of `kind` caused by `source`.
    pub fn new(kind: ConnectErrorKind, source: impl Into<BoxError>) -> Self {
        Self {
            kind,
            source: Some(source.into()),
            message: None,
        }
    }

    /// An error of `kind` described by `message`.
    pub fn msg(kind: ConnectErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            source: None,
            message: Some(message.into()),
        }
    }

    /// A copy with the same kind and the whole cause chain as its message, for handing one
    /// failure to every request that waited on the same connect.
    pub fn duplicate(&self) -> Self {
        let mut message = self.message.clone().unwrap_or_default();
        let mut source = self.source();
        while let Some(cause) = source {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::msg(self.kind, message)
    }

    /// The failed phase.
    pub fn kind(&self) -> ConnectErrorKind {
        self.kind
    }

    /// Whether the connect timeout elapsed.
    pub fn is_timeout(&self) -> bool {
        self.kind == ConnectErrorKind::Timeout
    }

    /// Whether the TLS handshake failed.
    pub fn is_tls(&self) -> bool {
        self.kind == ConnectErrorKind::Tls
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.kind {
            ConnectErrorKind::Dns => "dns resolution failed",
            ConnectErrorKind::Tcp => "tcp connect failed",
            ConnectErrorKind::Tls => "tls handshake failed",
            ConnectErrorKind::Handshake => "http handshake failed",
            ConnectErrorKind::Timeout => "connect timed out",
            ConnectErrorKind::Unsupported => "cannot connect",
        };
        match &self.message {
            Some(message) => write!(f, "{phase}: {message}"),
            None => f.write_str(phase),
        }
    }
}

impl StdError for ConnectError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// What went wrong once a connection was in hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The request URI has no scheme or authority.
    InvalidUri,
    /// Sending the request or receiving the response head failed.
    Request,
    /// A reused connection was closed by the peer after the request was written, so the
    /// server may have acted on it; it was not replayed (not idempotent, or its body cannot
    /// be sent again).
    ConnectionClosedAmbiguous,
    /// The pool acquire timeout elapsed while waiting for a connection.
    PoolTimeout,
    /// An HTTP/2 server refused the stream without processing it (REFUSED_STREAM or a
    /// graceful GOAWAY); sending it again is safe. Returned when the transport could not
    /// resend it itself (not idempotent, or its body cannot be sent again).
    Refused,
}

/// Sending a request over an established (or establishing) connection failed.
#[derive(Debug)]
pub struct TransportError {
    kind: TransportErrorKind,
    source: Option<BoxError>,
}

impl TransportError {
    /// An error of `kind`, optionally caused by `source`.
    pub fn new(kind: TransportErrorKind, source: Option<BoxError>) -> Self {
        Self { kind, source }
    }

    /// What went wrong.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Whether a timeout elapsed.
    pub fn is_timeout(&self) -> bool {
        self.kind == TransportErrorKind::PoolTimeout
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            TransportErrorKind::InvalidUri => "request URI has no scheme or authority",
            TransportErrorKind::Request => "error sending request",
            TransportErrorKind::ConnectionClosedAmbiguous => {
                "connection closed after the request was sent; not replayed because it may have been processed"
            }
            TransportErrorKind::PoolTimeout => "timed out waiting for a pooled connection",
            TransportErrorKind::Refused => {
                "the server refused the request without processing it; it is safe to send again"
            }
        })
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
