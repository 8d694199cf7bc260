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

use super::{ProxyCredentials, ProxyError, ProxyErrorKind, ProxyUrl};

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
///
/// With credentials, the first `CONNECT` carries Basic. When the proxy answers `407` and
/// `authenticate` turns one of its challenges into an answer (Digest), the `CONNECT` is sent
/// once more with it, on the same connection when the proxy keeps it open and the refusal's
/// body is small enough to skip; never a third time.
pub(crate) async fn connect<IO: Read + Write + Unpin + ?Sized>(
    io: &mut IO,
    proxy: &ProxyUrl,
    authority: &str,
    authenticate: Option<&TunnelAuthenticator>,
) -> Result<Bytes, ProxyError> {
    let failed = |kind: ProxyErrorKind| ProxyError::new(kind, proxy.to_string());
    if authority.contains(['\r', '\n', ' ']) {
        return Err(failed(ProxyErrorKind::InvalidUrl)
            .with_message(format!("cannot tunnel to {authority:?}")));
    }
    let basic = proxy.credentials().map(ProxyCredentials::basic_header);
    let refused = match ask(io, proxy, authority, basic.as_ref()).await? {
        Answer::Tunnel(rest) => return Ok(rest),
        Answer::Refused(refused) => refused,
    };
    let answer = match (authenticate, proxy.credentials()) {
        (Some(authenticate), Some(credentials))
            if refused.error.status == Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED)
                && refused.reusable =>
        {
            authenticate(&refused.challenges, credentials, authority)
        }
        _ => None,
    };
    let Some(answer) = answer else {
        return Err(refused.error);
    };
    skip(io, refused.body_left)
        .await
        .map_err(|e| failed(ProxyErrorKind::Io).with_source(e))?;
    match ask(io, proxy, authority, Some(&answer)).await? {
        Answer::Tunnel(rest) => Ok(rest),
        Answer::Refused(refused) => Err(refused.error),
    }
}

/// Turns a `407`'s `Proxy-Authenticate` challenges into a `Proxy-Authorization` value for
/// `CONNECT authority` with the proxy's credentials; `None` when it cannot answer any of them.
/// The `towline` client passes one answering Digest challenges.
pub type TunnelAuthenticator = std::sync::Arc<
    dyn Fn(&[HeaderValue], &ProxyCredentials, &str) -> Option<HeaderValue> + Send + Sync,
>;

/// The proxy's answer to one `CONNECT`.
enum Answer {
    /// The tunnel is open; what followed the head.
    Tunnel(Bytes),
    Refused(Refused),
}

/// A refused `CONNECT`: the error to report, the challenges, and whether the connection can
/// carry another `CONNECT` once `body_left` bytes of the refusal are skipped.
struct Refused {
    error: ProxyError,
    challenges: Vec<HeaderValue>,
    reusable: bool,
    body_left: usize,
}

/// The largest refusal body skipped to ask again on the same connection: 64 KiB.
const MAX_SKIPPED_BODY: usize = 64 * 1024;

/// Sends one `CONNECT` (with `authorization` as `Proxy-Authorization`) and reads its answer.
async fn ask<IO: Read + Write + Unpin + ?Sized>(
    io: &mut IO,
    proxy: &ProxyUrl,
    authority: &str,
    authorization: Option<&HeaderValue>,
) -> Result<Answer, ProxyError> {
    let failed = |kind: ProxyErrorKind| ProxyError::new(kind, proxy.to_string());
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    if let Some(value) = authorization {
        request.extend_from_slice(b"Proxy-Authorization: ");
        request.extend_from_slice(value.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    write_all(io, &request)
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
                    return Ok(Answer::Tunnel(rest));
                }
                let named = |name: &'static str| {
                    response
                        .headers
                        .iter()
                        .filter(move |h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| h.value)
                };
                let challenges: Vec<HeaderValue> = named("proxy-authenticate")
                    .filter_map(|value| HeaderValue::from_bytes(value).ok())
                    .collect();
                let closes = named("connection")
                    .chain(named("proxy-connection"))
                    .any(|value| value.eq_ignore_ascii_case(b"close"))
                    || response.version != Some(1);
                let length = named("content-length")
                    .map(|value| {
                        std::str::from_utf8(value)
                            .ok()?
                            .trim()
                            .parse::<usize>()
                            .ok()
                    })
                    .collect::<Option<Vec<usize>>>();
                let chunked = named("transfer-encoding").next().is_some();
                // A body that can be skipped: one agreed length, not chunked, small.
                let body_left = match length.as_deref() {
                    Some([]) if !chunked => Some(0),
                    Some([first, rest @ ..])
                        if !chunked && rest.iter().all(|other| other == first) =>
                    {
                        first.checked_sub(head.len().saturating_sub(len))
                    }
                    _ => None,
                };
                let kind = match status {
                    StatusCode::PROXY_AUTHENTICATION_REQUIRED | StatusCode::UNAUTHORIZED => {
                        if authorization.is_some() {
                            ProxyErrorKind::AuthRejected
                        } else {
                            ProxyErrorKind::AuthRequired
                        }
                    }
                    _ => ProxyErrorKind::Refused,
                };
                let mut error = failed(kind);
                error.status = Some(status);
                error.challenge = challenges.first().cloned();
                return Ok(Answer::Refused(Refused {
                    error,
                    challenges,
                    reusable: !closes && body_left.is_some_and(|left| left <= MAX_SKIPPED_BODY),
                    body_left: body_left.unwrap_or_default(),
                }));
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

/// Reads and drops `left` bytes.
async fn skip<IO: Read + Unpin + ?Sized>(io: &mut IO, mut left: usize) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    while left > 0 {
        let want = left.min(chunk.len());
        let read = read_some(io, chunk.get_mut(..want).unwrap_or_default()).await?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        left = left.saturating_sub(read);
    }
    Ok(())
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
