//! Protocol upgrades: HTTP/1.1 `101 Switching Protocols`, and the tunnels of `CONNECT` and
//! HTTP/2 extended CONNECT (RFC 8441).
//!
//! Ask with [`RequestBuilder::upgrade`] (or set `Connection` and `Upgrade` yourself, as with
//! reqwest), then take the connection with [`Response::upgrade`](crate::Response::upgrade):
//! an [`Upgraded`] IO that speaks hyper's `rt::{Read, Write}` and tokio's
//! `AsyncRead`/`AsyncWrite`. An upgraded HTTP/1
//! connection has left the pool for good; the next request to the same server opens another.
//! An extended CONNECT is one stream of a pooled HTTP/2 connection, which other requests
//! keep sharing.
//!
//! The layers of the client's stack pass a `101` through untouched: it is not a redirect, not
//! retried, not decompressed, and the cache neither answers nor stores a request that asks
//! for an upgrade.
//!
//! ```
//! use http_body_util::Empty;
//! use hyper::server::conn::http1;
//! use hyper::service::service_fn;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use towline::towline_services::rt::tokio::TokioIo;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A server that switches to an "echo" protocol and sends back what it reads.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let url = format!("http://{}/", listener.local_addr()?);
//! tokio::spawn(async move {
//!     let (stream, _) = listener.accept().await?;
//!     let service = service_fn(|mut request: http::Request<hyper::body::Incoming>| async move {
//!         let switched = hyper::upgrade::on(&mut request);
//!         tokio::spawn(async move {
//!             let upgraded = switched.await?;
//!             let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
//!             tokio::io::copy(&mut reader, &mut writer).await?;
//!             Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//!         });
//!         let response = http::Response::builder()
//!             .status(101)
//!             .header("connection", "upgrade")
//!             .header("upgrade", "echo")
//!             .body(Empty::<bytes::Bytes>::new())?;
//!         Ok::<_, http::Error>(response)
//!     });
//!     http1::Builder::new()
//!         .serve_connection(TokioIo::new(stream), service)
//!         .with_upgrades()
//!         .await?;
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//! });
//!
//! let client = towline::Client::new();
//! let response = client.get(url).upgrade("echo").send().await?;
//! assert_eq!(response.status(), 101);
//! let mut io = response.upgrade().await?;
//! io.write_all(b"ping").await?;
//! let mut echoed = [0; 4];
//! io.read_exact(&mut echoed).await?;
//! assert_eq!(&echoed, b"ping");
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{CONNECTION, HeaderValue, UPGRADE};
use http::{StatusCode, Version};

#[cfg(feature = "smol")]
use towline_services::rt::smol::SmolIo;
#[cfg(feature = "tokio")]
use towline_services::rt::tokio::TokioIo;

use crate::error::{Error, Result};
use crate::request::RequestBuilder;

/// A connection the server switched to another protocol, or the tunnel of a `CONNECT`:
/// bytes both ways, through hyper's `rt::{Read, Write}`, tokio's `AsyncRead`/`AsyncWrite`
/// (feature `tokio`) and `futures-io`'s, which smol uses (feature `smol`). Bytes the server
/// sent right after its answer, read together with it, come first.
///
/// Returned by [`Response::upgrade`](crate::Response::upgrade).
pub struct Upgraded {
    io: hyper::upgrade::Upgraded,
}

impl Upgraded {
    fn new(io: hyper::upgrade::Upgraded) -> Self {
        Self { io }
    }

    /// hyper's upgraded connection, for its `downcast` to the connection's own IO type.
    pub fn into_inner(self) -> hyper::upgrade::Upgraded {
        self.io
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded").finish_non_exhaustive()
    }
}

impl hyper::rt::Read for Upgraded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Upgraded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncRead for Upgraded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut io = TokioIo::new(&mut self.get_mut().io);
        Pin::new(&mut io).poll_read(cx, buf)
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncWrite for Upgraded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut io = TokioIo::new(&mut self.get_mut().io);
        Pin::new(&mut io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut io = TokioIo::new(&mut self.get_mut().io);
        Pin::new(&mut io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut io = TokioIo::new(&mut self.get_mut().io);
        Pin::new(&mut io).poll_shutdown(cx)
    }
}

#[cfg(feature = "smol")]
impl futures_io::AsyncRead for Upgraded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut io = SmolIo::new(&mut self.get_mut().io);
        Pin::new(&mut io).poll_read(cx, buf)
    }
}

#[cfg(feature = "smol")]
impl futures_io::AsyncWrite for Upgraded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut io = SmolIo::new(&mut self.get_mut().io);
        Pin::new(&mut io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut io = SmolIo::new(&mut self.get_mut().io);
        Pin::new(&mut io).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut io = SmolIo::new(&mut self.get_mut().io);
        Pin::new(&mut io).poll_close(cx)
    }
}

/// Takes the connection out of a response's head: the server must have switched protocols
/// (`101`), or accepted a `CONNECT` (a `2xx`; a `200` over HTTP/2).
pub(crate) async fn take(head: &mut http::response::Parts, url: &url::Url) -> Result<Upgraded> {
    let Some(pending) = head.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        return Err(Error::upgrade(not_switched(head.status, head.version)).with_url(url.clone()));
    };
    match pending.await {
        Ok(io) => Ok(Upgraded::new(io)),
        Err(error) => Err(Error::upgrade(error).with_url(url.clone())),
    }
}

fn not_switched(status: StatusCode, version: Version) -> String {
    if version == Version::HTTP_2 {
        format!("the server answered {status} over HTTP/2, not 200 to an extended CONNECT")
    } else {
        format!("the server answered {status}, not 101 Switching Protocols")
    }
}

impl RequestBuilder {
    /// Asks the server to switch the connection to `protocol`: sends `Connection: upgrade`
    /// and `Upgrade: <protocol>`, over HTTP/1.1 (HTTP/2 has no `Upgrade`; over https, ALPN
    /// then offers only `http/1.1`). Take the connection from the `101` with
    /// [`Response::upgrade`](crate::Response::upgrade); see [`crate::upgrade`] for an example,
    /// and the `websocket` module for the WebSocket handshake.
    pub fn upgrade<V>(self, protocol: V) -> Self
    where
        V: TryInto<HeaderValue>,
        V::Error: Into<http::Error>,
    {
        self.version(Version::HTTP_11)
            .header(CONNECTION, HeaderValue::from_static("upgrade"))
            .header(UPGRADE, protocol)
    }
}
