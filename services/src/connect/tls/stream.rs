//! A rustls client stream over any `hyper::rt::{Read, Write}` IO.
//!
//! Hand-written because the usual adapters (tokio-rustls, futures-rustls) are bound to one
//! runtime's IO traits, while the transport speaks only hyper's. The adapter is safe code:
//! plaintext is copied out of rustls' own buffer with `ReadBufCursor::put_slice`.

use std::future::Future;
use std::io::{self, BufRead, Write as _};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBuf, ReadBufCursor, Write};
use rustls::ClientConnection;

/// A TLS client stream.
#[derive(Debug)]
pub struct TlsStream<IO> {
    io: IO,
    conn: ClientConnection,
}

/// Bridges async IO to the blocking `std::io` traits rustls reads and writes through:
/// `Pending` becomes `WouldBlock`.
struct SyncIo<'a, 'b, IO> {
    io: &'a mut IO,
    cx: &'a mut Context<'b>,
}

impl<IO: Read + Unpin> io::Read for SyncIo<'_, '_, IO> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut read_buf = ReadBuf::new(buf);
        match Pin::new(&mut *self.io).poll_read(self.cx, read_buf.unfilled()) {
            Poll::Ready(Ok(())) => Ok(read_buf.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<IO: Write + Unpin> io::Write for SyncIo<'_, '_, IO> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write_vectored(self.cx, bufs) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match Pin::new(&mut *self.io).poll_flush(self.cx) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

fn would_block<T>(result: io::Result<T>) -> Poll<io::Result<T>> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
        other => Poll::Ready(other),
    }
}

impl<IO: Read + Write + Unpin> TlsStream<IO> {
    /// Starts a handshake; await the returned future for the established stream.
    pub fn connect(io: IO, conn: ClientConnection) -> Handshake<IO> {
        Handshake {
            stream: Some(Self { io, conn }),
        }
    }

    /// The rustls connection (negotiated ALPN protocol, peer certificates, ...).
    pub fn connection(&self) -> &ClientConnection {
        &self.conn
    }

    /// The underlying IO.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    fn read_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut reader = SyncIo {
            io: &mut self.io,
            cx,
        };
        let n = match would_block(self.conn.read_tls(&mut reader)) {
            Poll::Ready(Ok(n)) => n,
            other => return other,
        };
        if let Err(error) = self.conn.process_new_packets() {
            // Send the alert rustls queued so the peer learns why; the error wins regardless.
            let _ = self.write_tls(cx);
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, error)));
        }
        Poll::Ready(Ok(n))
    }

    fn write_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut writer = SyncIo {
            io: &mut self.io,
            cx,
        };
        would_block(self.conn.write_tls(&mut writer))
    }

    /// Writes every pending TLS record.
    fn poll_write_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.wants_write() {
            match self.write_tls(cx) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if let Poll::Ready(Err(e)) = self.poll_write_pending(cx) {
                return Poll::Ready(Err(e));
            }
            if !self.conn.is_handshaking() {
                return match self.poll_write_pending(cx) {
                    Poll::Ready(Ok(())) => Pin::new(&mut self.io).poll_flush(cx),
                    other => other,
                };
            }
            if self.conn.wants_write() {
                return Poll::Pending;
            }
            match self.read_tls(cx) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "peer closed the connection during the TLS handshake",
                    )));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The TLS handshake in progress.
#[derive(Debug)]
pub struct Handshake<IO> {
    stream: Option<TlsStream<IO>>,
}

impl<IO: Read + Write + Unpin> Future for Handshake<IO> {
    type Output = io::Result<TlsStream<IO>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(stream) = self.stream.as_mut() else {
            return Poll::Ready(Err(io::Error::other("handshake polled after completion")));
        };
        match stream.poll_handshake(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => match self.stream.take() {
                Some(stream) => Poll::Ready(Ok(stream)),
                None => Poll::Ready(Err(io::Error::other("handshake polled after completion"))),
            },
        }
    }
}

impl<IO: Read + Write + Unpin> Read for TlsStream<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            let mut reader = this.conn.reader();
            match reader.fill_buf() {
                Ok(plaintext) => {
                    let n = plaintext.len().min(buf.remaining());
                    buf.put_slice(&plaintext[..n]);
                    reader.consume(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            if let Poll::Ready(Err(e)) = this.poll_write_pending(cx) {
                return Poll::Ready(Err(e));
            }
            match this.read_tls(cx) {
                // At EOF rustls now knows whether close_notify came: the next `fill_buf`
                // returns a clean end or `UnexpectedEof` (a truncation we must not hide).
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<IO: Read + Write + Unpin> Write for TlsStream<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // Bound buffering: queue plaintext only once earlier records have been written.
        match this.poll_write_pending(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other.map(|r| r.map(|()| 0)),
        }
        let written = this.conn.writer().write(buf)?;
        // Start sending right away; a pending socket is fine, the bytes are queued.
        if let Poll::Ready(Err(e)) = this.poll_write_pending(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match this.poll_write_pending(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other.map(|r| r.map(|()| 0)),
        }
        let written = this.conn.writer().write_vectored(bufs)?;
        if let Poll::Ready(Err(e)) = this.poll_write_pending(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.conn.writer().flush()?;
        match this.poll_write_pending(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.conn.send_close_notify();
        match this.poll_write_pending(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_shutdown(cx),
            other => other,
        }
    }
}
