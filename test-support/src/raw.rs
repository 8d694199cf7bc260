//! [`RawServer`]: a TCP server whose handlers write whatever bytes a test needs,
//! for malformed responses, stale keep-alive connections and abrupt closes.

use std::{
    io,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use socket2::SockRef;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::acceptor::Acceptor;

/// The longest request head (or chunk-size line) a [`RawConn`] reads before giving up.
const MAX_HEAD: usize = 64 * 1024;

/// A keep-alive `200 OK` with a two-byte body, `ok`, for
/// [`RawServer::respond_then_on_reuse`] and [`RawServer::fixed`].
pub const OK_KEEP_ALIVE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

/// What [`RawServer::respond_then_on_reuse`] does with the second request on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// Abort the connection so the client sees a TCP RST (`ECONNRESET`).
    Reset,
    /// Close the connection with a FIN, so the client reads EOF with no response.
    Close,
}

/// A TCP server on `127.0.0.1:0` that hands each accepted connection to a
/// handler as a [`RawConn`]. Dropping it stops accepting and closes every connection.
pub struct RawServer {
    acceptor: Acceptor,
    requests: Arc<AtomicUsize>,
}

impl std::fmt::Debug for RawServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawServer")
            .field("addr", &self.addr())
            .field("connections", &self.connections())
            .field("requests", &self.requests())
            .finish()
    }
}

impl RawServer {
    /// Starts a server that runs `handler` on its own task for every accepted
    /// connection; the connection closes when the handler drops the [`RawConn`].
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or when binding fails.
    pub fn spawn<F, Fut>(handler: F) -> Self
    where
        F: Fn(RawConn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let requests = Arc::new(AtomicUsize::new(0));
        let acceptor = Acceptor::spawn({
            let requests = requests.clone();
            move |stream, peer_addr, id| {
                handler(RawConn {
                    stream,
                    buffered: Vec::new(),
                    id,
                    peer_addr,
                    requests: requests.clone(),
                })
            }
        });
        Self { acceptor, requests }
    }

    /// On every connection, answers the first request with `first_response`
    /// (which should keep the connection alive, e.g. [`OK_KEEP_ALIVE`]); once
    /// the head of a second request on that connection has been read, resets
    /// or closes it without answering, as `on_reuse` says.
    ///
    /// This is a server whose idle keep-alive connection died just as the client
    /// reused it: [`requests`](Self::requests) then tells whether a request
    /// was sent again on a new connection.
    pub fn respond_then_on_reuse(first_response: impl AsRef<[u8]>, on_reuse: Reuse) -> Self {
        let first_response = Bytes::copy_from_slice(first_response.as_ref());
        Self::spawn(move |mut conn| {
            let first_response = first_response.clone();
            async move {
                if conn.read_request().await.is_none()
                    || conn.write_all(&first_response).await.is_err()
                {
                    return;
                }
                if conn.read_request_head().await.is_none() {
                    return;
                }
                match on_reuse {
                    Reuse::Reset => conn.reset(),
                    Reuse::Close => conn.close().await,
                }
            }
        })
    }

    /// Answers every request on every connection with the same `response`
    /// bytes, until the client closes (or `response` made it give up).
    pub fn fixed(response: impl AsRef<[u8]>) -> Self {
        let response = Bytes::copy_from_slice(response.as_ref());
        Self::spawn(move |mut conn| {
            let response = response.clone();
            async move {
                while conn.read_request().await.is_some() {
                    if conn.write_all(&response).await.is_err() {
                        return;
                    }
                }
            }
        })
    }

    /// Answers the first request on every connection with `response`, then
    /// closes the connection (FIN): for bodies delimited by the end of the
    /// connection, or cut short by it.
    pub fn respond_and_close(response: impl AsRef<[u8]>) -> Self {
        let response = Bytes::copy_from_slice(response.as_ref());
        Self::spawn(move |mut conn| {
            let response = response.clone();
            async move {
                if conn.read_request().await.is_some() && conn.write_all(&response).await.is_ok() {
                    conn.close().await;
                }
            }
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }

    /// `http://127.0.0.1:PORT/path`; a missing leading `/` is added.
    pub fn url(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("http://{}{slash}{path}", self.addr())
    }

    /// TCP connections accepted so far, counted on accept.
    pub fn connections(&self) -> usize {
        self.acceptor.connections()
    }

    /// Request heads read so far by [`RawConn::read_request_head`] (or
    /// [`RawConn::read_request`]) over all connections.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Stops accepting and waits until every connection is closed.
    pub async fn shutdown(self) {
        self.acceptor.shutdown().await;
    }
}

/// A request read by [`RawConn::read_request`].
#[derive(Clone, Debug)]
pub struct RawRequest {
    /// The request line and headers, including the final empty line.
    pub head: String,
    /// The body, de-chunked if it was sent with `Transfer-Encoding: chunked`.
    pub body: Vec<u8>,
}

impl RawRequest {
    /// The first value of header `name` (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.head, name)
    }

    /// The request line, e.g. `GET /path HTTP/1.1`.
    pub fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }
}

/// One accepted connection of a [`RawServer`], with buffered reading helpers.
#[derive(Debug)]
pub struct RawConn {
    stream: TcpStream,
    /// Bytes read from the socket but not yet handed out.
    buffered: Vec<u8>,
    id: usize,
    peer_addr: SocketAddr,
    requests: Arc<AtomicUsize>,
}

impl RawConn {
    /// 1-based number of this connection in accept order.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// Reads up to and including the `\r\n\r\n` ending a request head and
    /// returns it (non-UTF-8 bytes replaced). Bytes after it stay buffered for
    /// the next read. Returns `None` on EOF, on an error, or when no head ends
    /// within 64 KiB.
    pub async fn read_request_head(&mut self) -> Option<String> {
        let head = self.read_until(b"\r\n\r\n").await?;
        self.requests.fetch_add(1, Ordering::SeqCst);
        Some(String::from_utf8_lossy(&head).into_owned())
    }

    /// Reads exactly `n` bytes; `None` if the connection ends first.
    pub async fn read_body(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buffered.len() < n {
            if !self.fill().await {
                return None;
            }
        }
        let rest = self.buffered.split_off(n);
        Some(std::mem::replace(&mut self.buffered, rest))
    }

    /// Reads a whole request: its head, then a body framed by `Content-Length`
    /// or `Transfer-Encoding: chunked` (trailers are read and dropped).
    /// `None` on EOF, an error or a malformed frame.
    pub async fn read_request(&mut self) -> Option<RawRequest> {
        let head = self.read_request_head().await?;
        let chunked = header_value(&head, "transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        let body = if chunked {
            self.read_chunked().await?
        } else {
            let len = header_value(&head, "content-length").map_or(Some(0), |v| v.parse().ok())?;
            self.read_body(len).await?
        };
        Some(RawRequest { head, body })
    }

    /// Writes all of `bytes`.
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Aborts the connection: with `SO_LINGER` set to zero, closing sends a
    /// TCP RST, so the client's next read or write fails with `ECONNRESET`.
    pub fn reset(self) {
        // If setting the option fails the close degrades to a FIN; a test
        // asserting a reset will then fail loudly, which is the right outcome.
        let _ = SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
    }

    /// Closes the connection gracefully: sends a FIN at once, then reads and
    /// discards whatever the client still sends until it closes its side.
    /// Unread data at close time would make the kernel send a RST instead,
    /// which is [`reset`](Self::reset)'s job, not this one's.
    pub async fn close(mut self) {
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let mut sink = [0; 8192];
        while matches!(self.stream.read(&mut sink).await, Ok(n) if n > 0) {}
    }

    /// Reads more bytes into the buffer; `false` on EOF or error.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0; 8192];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffered.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Takes buffered bytes up to and including `delimiter`, reading as needed,
    /// but no more than [`MAX_HEAD`] bytes.
    async fn read_until(&mut self, delimiter: &[u8]) -> Option<Vec<u8>> {
        let mut searched = 0;
        loop {
            if let Some(at) = self.buffered[searched..]
                .windows(delimiter.len())
                .position(|window| window == delimiter)
            {
                let end = searched + at + delimiter.len();
                let rest = self.buffered.split_off(end);
                return Some(std::mem::replace(&mut self.buffered, rest));
            }
            if self.buffered.len() > MAX_HEAD {
                return None;
            }
            // A delimiter may straddle what was buffered and what comes next.
            searched = self.buffered.len().saturating_sub(delimiter.len() - 1);
            if !self.fill().await {
                return None;
            }
        }
    }

    async fn read_chunked(&mut self) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.read_until(b"\r\n").await?;
            let line = std::str::from_utf8(&line).ok()?;
            let size = line.trim_end().split(';').next()?.trim();
            let size = usize::from_str_radix(size, 16).ok()?;
            if size == 0 {
                // Trailer fields, if any, end with an empty line.
                while self.read_until(b"\r\n").await?.len() > 2 {}
                return Some(body);
            }
            body.extend(self.read_body(size).await?);
            if self.read_body(2).await? != b"\r\n" {
                return None;
            }
        }
    }
}

/// The first value of header `name` in a request head, trimmed.
fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}
