//! Errors of the connectors and the transport.
//!
//! Both carry a kind so the facade (or any caller holding a `BoxError`) can classify them by
//! downcasting, and both keep the underlying cause as their `source`.

use std::error::Error as StdError;
use std::fmt;

pub use towline_core::ErrorClass;

type BoxError = Box<dyn StdError + Send + Sync>;

/// The phase in which establishing a connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectErrorKind {
    /// Name resolution failed or found no address.
    Dns,
    /// Every TCP attempt failed.
    Tcp,
    /// Every QUIC attempt of an HTTP/3 connection failed (no answer, a refusal, a QUIC
    /// protocol error); a TLS failure inside the QUIC handshake is [`Tls`](Self::Tls).
    Quic,
    /// The TLS handshake failed (certificate, protocol, ALPN).
    Tls,
    /// The HTTP handshake on a fresh connection failed.
    Handshake,
    /// The connect timeout elapsed.
    Timeout,
    /// The target cannot be connected to (unsupported scheme, `https_only`, no TLS support).
    Unsupported,
    /// A proxy failed or refused: the [`ProxyError`](crate::connect::proxy::ProxyError) is
    /// the source.
    Proxy,
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

    /// The same error, described by `message` as well as caused by its source (what the phase
    /// was working on: the host a resolver could not resolve, say).
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
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
            ConnectErrorKind::Quic => "quic connect failed",
            ConnectErrorKind::Tls => "tls handshake failed",
            ConnectErrorKind::Handshake => "http handshake failed",
            ConnectErrorKind::Timeout => "connect timed out",
            ConnectErrorKind::Unsupported => "cannot connect",
            ConnectErrorKind::Proxy => "proxy connect failed",
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
    /// The connection was closed by the peer after the request was written, so the server
    /// may have acted on it. On a reused connection the transport sends an idempotent
    /// request with an empty or in-memory body again first; this is returned when it could
    /// not (not idempotent, a streaming body, or a fresh connection, where the server and
    /// not a keep-alive race ended it).
    ConnectionClosedAmbiguous,
    /// The pool acquire timeout elapsed while waiting for a connection.
    PoolTimeout,
    /// An HTTP/2 server refused the stream without processing it (REFUSED_STREAM or a
    /// graceful GOAWAY); sending it again is safe. Returned when the transport could not
    /// resend it itself (not idempotent, or its body cannot be sent again).
    Refused,
    /// An extended CONNECT (RFC 8441, a request with a `hyper::ext::Protocol`) went to an
    /// HTTP/2 connection whose server did not enable it (`SETTINGS_ENABLE_CONNECT_PROTOCOL`);
    /// nothing was sent.
    ExtendedConnectUnsupported,
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
                "connection closed after the request was sent; the server may have processed it"
            }
            TransportErrorKind::PoolTimeout => "timed out waiting for a pooled connection",
            TransportErrorKind::Refused => {
                "the server refused the request without processing it; it is safe to send again"
            }
            TransportErrorKind::ExtendedConnectUnsupported => {
                "the HTTP/2 server does not accept extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL)"
            }
        })?;
        // hyper's errors do not show their causes: name every one, so the message says what
        // failed ("error writing a body to connection: write timed out ...").
        let mut cause = self.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl ConnectError {
    /// Whether trying again can help: no connection was had, so nothing was sent, unless
    /// the failure is one a retry repeats (a certificate or protocol the client refuses, a
    /// target it cannot reach at all).
    pub fn retry_class(&self) -> ErrorClass {
        match self.kind {
            ConnectErrorKind::Tls | ConnectErrorKind::Unsupported => ErrorClass::Fatal,
            ConnectErrorKind::Proxy
                if self
                    .source
                    .as_deref()
                    .and_then(|e| e.downcast_ref::<crate::connect::proxy::ProxyError>())
                    .is_some_and(crate::connect::proxy::ProxyError::is_fatal) =>
            {
                ErrorClass::Fatal
            }
            _ => ErrorClass::NotSent,
        }
    }
}

impl TransportError {
    /// Whether the request can have reached the server: not when no connection was had in
    /// time or the server refused the stream unprocessed (HTTP/2 REFUSED_STREAM or a
    /// graceful GOAWAY); never worth retrying when the request itself cannot be sent.
    pub fn retry_class(&self) -> ErrorClass {
        match self.kind {
            TransportErrorKind::PoolTimeout | TransportErrorKind::Refused => ErrorClass::NotSent,
            TransportErrorKind::InvalidUri | TransportErrorKind::ExtendedConnectUnsupported => {
                ErrorClass::Fatal
            }
            TransportErrorKind::Request | TransportErrorKind::ConnectionClosedAmbiguous => {
                ErrorClass::MaybeSent
            }
        }
    }
}

/// Classifies an error from this crate's connectors and transport for a retry policy, by
/// walking its `source()` chain: a [`ConnectError`] or [`TransportError`] anywhere in it
/// answers ([`ConnectError::retry_class`], [`TransportError::retry_class`]); an
/// [`io::Error`](std::io::Error) whose kind says the connection never opened is
/// [`ErrorClass::NotSent`]; anything else may have been sent.
///
/// This is the classifier the `towline` client gives its retry layer; give it to
/// `towline_layers::retry::RetryLayer::error_classifier` in a stack built by hand over
/// [`Transport`](crate::transport::Transport) to retry exactly as the client does (the retry
/// layer itself never re-sends a body that cannot be replayed, whatever the class).
///
/// ```
/// use towline_core::ErrorClass;
/// use towline_services::{ConnectError, ConnectErrorKind, retry_class};
///
/// let refused = ConnectError::msg(ConnectErrorKind::Tcp, "connection refused");
/// assert_eq!(retry_class(&refused), ErrorClass::NotSent);
/// let untrusted = ConnectError::msg(ConnectErrorKind::Tls, "unknown issuer");
/// assert_eq!(retry_class(&untrusted), ErrorClass::Fatal);
/// ```
pub fn retry_class(error: &(dyn StdError + 'static)) -> ErrorClass {
    // A connect failure says more than a transport error wrapping it.
    if let Some(connect) = find::<ConnectError>(error) {
        return connect.retry_class();
    }
    if let Some(transport) = find::<TransportError>(error) {
        return transport.retry_class();
    }
    match find::<std::io::Error>(error).map(std::io::Error::kind) {
        Some(
            std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::AddrNotAvailable
            | std::io::ErrorKind::NetworkUnreachable
            | std::io::ErrorKind::HostUnreachable,
        ) => ErrorClass::NotSent,
        _ => ErrorClass::MaybeSent,
    }
}

/// The first `E` in `error`'s `source()` chain, `error` included.
fn find<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        cause = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_class_knows_the_connectors_and_the_transports_errors() {
        let class = |error: BoxError| retry_class(&*error);
        // Connecting failed: nothing was sent, whatever the cause, unless retrying is futile.
        let dns: BoxError = Box::new(ConnectError::new(ConnectErrorKind::Dns, "no such host"));
        assert_eq!(class(dns), ErrorClass::NotSent);
        let tls: BoxError = Box::new(ConnectError::new(ConnectErrorKind::Tls, "bad certificate"));
        assert_eq!(class(tls), ErrorClass::Fatal);
        let refused: BoxError = Box::new(TransportError::new(TransportErrorKind::Refused, None));
        assert_eq!(class(refused), ErrorClass::NotSent);
        let pool: BoxError = Box::new(TransportError::new(TransportErrorKind::PoolTimeout, None));
        assert_eq!(class(pool), ErrorClass::NotSent);
        let closed: BoxError = Box::new(TransportError::new(
            TransportErrorKind::ConnectionClosedAmbiguous,
            None,
        ));
        assert_eq!(class(closed), ErrorClass::MaybeSent);
        // A connect failure inside a transport error is classified by the connect failure.
        let wrapped: BoxError = Box::new(TransportError::new(
            TransportErrorKind::Request,
            Some(Box::new(ConnectError::msg(
                ConnectErrorKind::Tls,
                "expired",
            ))),
        ));
        assert_eq!(class(wrapped), ErrorClass::Fatal);
        // Errors of no connector: the I/O kind says whether a connection ever opened.
        let io_refused: BoxError =
            Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(class(io_refused), ErrorClass::NotSent);
        let reset: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(class(reset), ErrorClass::MaybeSent);
    }
}
