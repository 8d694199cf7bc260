//! The HTTP `CONNECT` handshake, and the IO helpers the proxy stage uses over hyper's traits.
//!
//! Hand-written rather than through hyper's client: the request is one fixed line and a few
//! headers, and the answer's head must be read without reading past it (what follows belongs
//! to the tunnel). The head is parsed by `httparse`, bounded by [`MAX_CONNECT_HEAD`].

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::StatusCode;
use http::header::HeaderValue;
use hyper::rt::{Read, ReadBuf, ReadBufCursor, Write};

use super::{ProxyError, ProxyErrorKind, ProxyUrl};

/// The largest `CONNECT` answer head read: 64 KiB.
pub(crate) const MAX_CONNECT_HEAD: usize = 64 * 1024;

/// Most headers parsed in a `CONNECT` answer.
const MAX_HEADERS: usize = 64;

pub(crate) async fn write_all<IO: Write + Unpin + ?Sized>(
    io: &mut IO,
    mut bytes: &[u8],
) -> io::Result<()> {
    while !bytes.is_empty() {
        let written = poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, bytes)).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = bytes.get(written..).unwrap_or_default();
    }
    poll_fn(|cx| Pin::new(&mut *io).poll_flush(cx)).await
}

/// Reads what is available into `buf`; 0 at the end of the stream.
pub(crate) async fn read_some<IO: Read + Unpin + ?Sized>(
    io: &mut IO,
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut read_buf = ReadBuf::new(buf);
    poll_fn(|cx| Pin::new(&mut *io).poll_read(cx, read_buf.unfilled())).await?;
    Ok(read_buf.filled().len())
}

/// Asks `proxy`, over `io`, for a tunnel to `authority` (`host:port`). On success, returns
/// the bytes the proxy sent after its answer's head (they belong to the tunnel).
pub(crate) async fn connect<IO: Read + Write + Unpin + ?Sized>(
    io: &mut IO,
    proxy: &ProxyUrl,
    authority: &str,
) -> Result<Bytes, ProxyError> {
    let failed = |kind: ProxyErrorKind| ProxyError::new(kind, proxy.to_string());
    if authority.contains(['\r', '\n', ' ']) {
        return Err(failed(ProxyErrorKind::InvalidUrl)
            .with_message(format!("cannot tunnel to {authority:?}")));
    }
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(credentials) = proxy.credentials() {
        let value = credentials.basic_header();
        request.push_str("Proxy-Authorization: ");
        request.push_str(value.to_str().unwrap_or_default());
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    write_all(io, request.as_bytes())
        .await
        .map_err(|e| failed(ProxyErrorKind::Io).with_source(e))?;

    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let read = read_some(io, &mut chunk)
            .await
            .map_err(|e| failed(ProxyErrorKind::Io).with_source(e))?;
        if read == 0 {
            return Err(failed(ProxyErrorKind::Malformed)
                .with_message("the connection closed before the CONNECT answer".to_owned()));
        }
        head.extend_from_slice(chunk.get(..read).unwrap_or_default());
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&head) {
            Ok(httparse::Status::Complete(len)) => {
                let code = response.code.unwrap_or_default();
                let status = StatusCode::from_u16(code).map_err(|_| {
                    failed(ProxyErrorKind::Malformed).with_message(format!("status {code}"))
                })?;
                if status.is_success() {
                    let mut rest = Bytes::from(head);
                    rest.advance(len);
                    return Ok(rest);
                }
                let challenge = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("proxy-authenticate"))
                    .and_then(|h| HeaderValue::from_bytes(h.value).ok());
                let kind = match status {
                    StatusCode::PROXY_AUTHENTICATION_REQUIRED | StatusCode::UNAUTHORIZED => {
                        if proxy.credentials().is_some() {
                            ProxyErrorKind::AuthRejected
                        } else {
                            ProxyErrorKind::AuthRequired
                        }
                    }
                    _ => ProxyErrorKind::Refused,
                };
                let mut error = failed(kind);
                error.status = Some(status);
                error.challenge = challenge;
                return Err(error);
            }
            Ok(httparse::Status::Partial) if head.len() < MAX_CONNECT_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(failed(ProxyErrorKind::Malformed).with_message(format!(
                    "the CONNECT answer's head is longer than {MAX_CONNECT_HEAD} bytes"
                )));
            }
            Err(error) => {
                return Err(failed(ProxyErrorKind::Malformed).with_source(error));
            }
        }
    }
}

/// An IO whose first reads return bytes read earlier from it.
pub(crate) struct Prefixed<IO> {
    prefix: Bytes,
    io: IO,
}

impl<IO> Prefixed<IO> {
    pub(crate) fn new(prefix: Bytes, io: IO) -> Self {
        Self { prefix, io }
    }
}

impl<IO: Read + Unpin> Read for Prefixed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let take = this.prefix.len().min(buf.remaining());
        buf.put_slice(this.prefix.get(..take).unwrap_or_default());
        this.prefix.advance(take);
        Poll::Ready(Ok(()))
    }
}

impl<IO: Write + Unpin> Write for Prefixed<IO> {
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
