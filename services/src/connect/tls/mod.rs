//! TLS through rustls, for `https` targets.
//!
//! [`TlsConfig`] gathers what users configure (roots, identity, minimum version, SNI, the
//! danger switch) and builds one rustls `ClientConfig` per ALPN offer; [`TlsConnector`] wraps
//! any connector and runs the handshake over its connection.
//!
//! Crypto provider: the `rustls-aws-lc-rs` feature wins when both it and `rustls-ring` are
//! enabled (adding it on top of the defaults is a deliberate choice); enabling `rustls`
//! without either is a compile error.

mod config;
mod stream;

#[cfg(all(not(feature = "rustls-ring"), not(feature = "rustls-aws-lc-rs")))]
compile_error!(
    "towline-services: the `rustls` feature needs a crypto provider: enable `rustls-ring` or `rustls-aws-lc-rs`"
);

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tower_service::Service;

pub use config::{Certificate, Identity, TlsConfig, TlsVersion};
pub use stream::{Handshake, TlsStream};

use super::{Connected, Connection, Protocol, Target};
use crate::error::{ConnectError, ConnectErrorKind};
use crate::rt::BoxFuture;

/// rustls client configs built from one [`TlsConfig`], one per ALPN offer.
#[derive(Clone, Debug)]
pub struct TlsClientConfigs {
    auto: Arc<rustls::ClientConfig>,
    http1: Arc<rustls::ClientConfig>,
    http2: Arc<rustls::ClientConfig>,
    /// TLS 1.3 only, ALPN `h3`; `None` when the settings exclude TLS 1.3.
    #[cfg(feature = "http3")]
    http3: Option<Arc<rustls::ClientConfig>>,
}

impl TlsClientConfigs {
    /// The configuration for TLS to an `https://` proxy, which speaks HTTP/1.1.
    pub(crate) fn for_proxy(&self) -> Arc<rustls::ClientConfig> {
        self.http1.clone()
    }

    /// The configuration for QUIC (TLS 1.3 only, ALPN `h3`); `None` when the settings
    /// exclude TLS 1.3.
    #[cfg(feature = "http3")]
    pub(crate) fn for_http3(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.http3.clone()
    }

    fn for_protocol(&self, protocol: Protocol) -> &Arc<rustls::ClientConfig> {
        match protocol {
            Protocol::Auto => &self.auto,
            Protocol::Http1 => &self.http1,
            Protocol::Http2 => &self.http2,
            // HTTP/3 targets go to the QUIC connector; one that reached a TCP stack
            // negotiates as `Auto` does.
            #[cfg(feature = "http3")]
            Protocol::Http3 => &self.auto,
        }
    }
}

/// Adds TLS to the connections of `C` for `https` targets; `http` targets pass through.
#[derive(Clone, Debug)]
pub struct TlsConnector<C> {
    inner: C,
    configs: TlsClientConfigs,
}

impl<C> TlsConnector<C> {
    /// Wraps `inner` with the TLS settings of `configs`.
    pub fn new(inner: C, configs: TlsClientConfigs) -> Self {
        Self { inner, configs }
    }
}

/// A plain or TLS connection.
#[derive(Debug)]
pub enum MaybeTls<IO> {
    /// No TLS (`http`).
    Plain(IO),
    /// TLS (`https`).
    Tls(Box<TlsStream<IO>>, Connected),
}

impl<IO: Connection> Connection for MaybeTls<IO> {
    fn connected(&self) -> Connected {
        match self {
            MaybeTls::Plain(io) => io.connected(),
            MaybeTls::Tls(_, connected) => connected.clone(),
        }
    }
}

impl<C, IO> Service<Target> for TlsConnector<C>
where
    C: Service<Target, Response = IO>,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    C::Future: Send + 'static,
    IO: hyper::rt::Read + hyper::rt::Write + Connection + Unpin + Send + 'static,
{
    type Response = MaybeTls<IO>;
    type Error = ConnectError;
    type Future = BoxFuture<'static, Result<MaybeTls<IO>, ConnectError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(into_connect_error)
    }

    fn call(&mut self, target: Target) -> Self::Future {
        let config = self.configs.for_protocol(target.protocol).clone();
        let connecting = self.inner.call(target.clone());
        Box::pin(async move {
            let io = connecting.await.map_err(into_connect_error)?;
            if !target.is_https() {
                return Ok(MaybeTls::Plain(io));
            }
            let server_name = rustls::pki_types::ServerName::try_from(target.host())
                .map_err(|e| ConnectError::new(ConnectErrorKind::Tls, e))?
                .to_owned();
            let conn = rustls::ClientConnection::new(config, server_name)
                .map_err(|e| ConnectError::new(ConnectErrorKind::Tls, e))?;
            let mut connected = io.connected();
            let start = Instant::now();
            let stream = TlsStream::connect(io, conn)
                .await
                .map_err(|e| ConnectError::new(ConnectErrorKind::Tls, tls_cause(e)))?;
            connected.timings.tls = Some(start.elapsed());
            connected.alpn_h2 = stream.connection().alpn_protocol() == Some(b"h2");
            Ok(MaybeTls::Tls(Box::new(stream), connected))
        })
    }
}

/// Whether a TLS error (from rustls) is in `error`'s cause chain — including alerts that
/// arrive after the handshake, such as a TLS 1.3 server rejecting a missing client
/// certificate. Over HTTP/2 the type is lost (the h2 crate keeps only an IO error's kind and
/// message), so such an alert there shows as a request error whose message names it.
pub fn is_tls_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<rustls::Error>() {
            return true;
        }
        // `io::Error::source` skips the error it wraps, which is where rustls' error sits.
        if let Some(inner) = error
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            && inner.is::<rustls::Error>()
        {
            return true;
        }
        current = error.source();
    }
    false
}

/// Surfaces the rustls error (e.g. an unknown issuer) rather than its `io::Error` wrapper.
fn tls_cause(error: io::Error) -> Box<dyn std::error::Error + Send + Sync> {
    match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(tls) => Box::new(tls.clone()),
        None => Box::new(error),
    }
}

fn into_connect_error(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ConnectError {
    let error = error.into();
    match error.downcast::<ConnectError>() {
        Ok(connect) => *connect,
        Err(other) => ConnectError::new(ConnectErrorKind::Tcp, other),
    }
}

impl<IO: hyper::rt::Read + hyper::rt::Write + Unpin> hyper::rt::Read for MaybeTls<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(io) => Pin::new(io).poll_read(cx, buf),
            MaybeTls::Tls(tls, _) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<IO: hyper::rt::Read + hyper::rt::Write + Unpin> hyper::rt::Write for MaybeTls<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(io) => Pin::new(io).poll_write(cx, buf),
            MaybeTls::Tls(tls, _) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(io) => Pin::new(io).poll_flush(cx),
            MaybeTls::Tls(tls, _) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(io) => Pin::new(io).poll_shutdown(cx),
            MaybeTls::Tls(tls, _) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Plain(io) => io.is_write_vectored(),
            MaybeTls::Tls(tls, _) => tls.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            MaybeTls::Tls(tls, _) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
}
