//! Unix domain sockets: [`UnixConnector`] sends targets that name a socket
//! ([`Target::unix_socket`](super::Target::unix_socket)) to it, and every other target to the connector it wraps.
//!
//! HTTP over a Unix socket is how clients talk to local daemons (Docker's, a sidecar, a
//! supervisor). The request URL still says what goes on the wire: its authority is the `Host`
//! header (HTTP/1.1) or `:authority` (HTTP/2), its scheme picks TLS. The protocol is chosen
//! as over TCP: HTTP/1.1 for `http`, h2c with prior knowledge when the request or the client
//! asks for HTTP/2. Connections are pooled like TCP ones, keyed by the socket path as well
//! as the authority.
//!
//! The transport copies a [`UnixSocket`] request extension into the target, so the socket
//! can be chosen per request; the `towline` client's `ClientBuilder::unix_socket` puts one in
//! every request. On platforms without Unix sockets the connect fails with an
//! [`Unsupported`](crate::ConnectErrorKind::Unsupported) error.

use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tower_service::Service;

use super::either::EitherIo;
use super::{ConnectTimings, Connected, Target};
use crate::error::{ConnectError, ConnectErrorKind};
use crate::rt::{BoxFuture, Runtime};

/// A request extension: send this request over the Unix domain socket at this path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnixSocket(pub Arc<Path>);

impl UnixSocket {
    /// The socket at `path`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self(Arc::from(path.as_ref()))
    }
}

/// Connects targets that name a Unix socket to it; hands every other target to `inner`.
#[derive(Clone, Debug)]
pub struct UnixConnector<C, R> {
    inner: C,
    runtime: R,
}

impl<C, R> UnixConnector<C, R> {
    /// Wraps `inner`, connecting Unix sockets on `runtime`.
    pub fn new(inner: C, runtime: R) -> Self {
        Self { inner, runtime }
    }
}

/// A connection of a [`UnixConnector`]: the wrapped connector's (`Inner`), or a Unix socket
/// (`Own`, with how long connecting took).
pub type MaybeUnix<IO, U> = EitherIo<IO, U>;

impl<C, R> Service<Target> for UnixConnector<C, R>
where
    C: Service<Target>,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    C::Future: Send + 'static,
    R: Runtime,
{
    type Response = MaybeUnix<C::Response, UnixStreamOf<R>>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, target: Target) -> Self::Future {
        let Some(path) = target.unix_socket().cloned() else {
            let connecting = self.inner.call(target);
            return Box::pin(
                async move { connecting.await.map(EitherIo::Inner).map_err(Into::into) },
            );
        };
        let connecting = connect_unix(&self.runtime, path);
        Box::pin(async move {
            let started = Instant::now();
            let stream = connecting.await?;
            let connected = Connected::default()
                .with_timings(ConnectTimings::default().with_tcp(started.elapsed()));
            Ok(EitherIo::Own {
                io: stream,
                connected,
            })
        })
    }
}

#[cfg(unix)]
type UnixStreamOf<R> = <R as Runtime>::UnixStream;

/// What a Unix socket is where there are none: never built.
#[cfg(not(unix))]
type UnixStreamOf<R> = <R as Runtime>::TcpStream;

#[cfg(unix)]
fn connect_unix<R: Runtime>(
    runtime: &R,
    path: Arc<Path>,
) -> BoxFuture<'static, Result<UnixStreamOf<R>, ConnectError>> {
    let shown = path.display().to_string();
    let connecting = runtime.connect_unix(path);
    Box::pin(async move {
        connecting.await.map_err(|error| {
            ConnectError::msg(
                ConnectErrorKind::Tcp,
                format!("unix socket {shown}: {error}"),
            )
        })
    })
}

#[cfg(not(unix))]
fn connect_unix<R: Runtime>(
    _runtime: &R,
    path: Arc<Path>,
) -> BoxFuture<'static, Result<UnixStreamOf<R>, ConnectError>> {
    let message = format!(
        "unix socket {}: not supported on this platform",
        path.display()
    );
    Box::pin(async move { Err(ConnectError::msg(ConnectErrorKind::Unsupported, message)) })
}
