//! [`EitherIo`]: the connection of a connector stage that either passes a target to the stage
//! it wraps or connects it itself (the Unix-socket and proxy stages).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Connected, Connection};

/// A connection made by the wrapped stage (`Inner`), or by the stage itself (`Own`), which
/// then describes it with its own [`Connected`].
pub enum EitherIo<I, O> {
    /// A connection of the wrapped stage.
    Inner(I),
    /// A connection the stage made itself.
    Own {
        /// The connection.
        io: O,
        /// Its facts.
        connected: Connected,
    },
}

impl<I, O> fmt::Debug for EitherIo<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inner(_) => f.write_str("EitherIo::Inner"),
            Self::Own { connected, .. } => f
                .debug_struct("EitherIo::Own")
                .field("connected", connected)
                .finish_non_exhaustive(),
        }
    }
}

impl<I: Connection, O> Connection for EitherIo<I, O> {
    fn connected(&self) -> Connected {
        match self {
            Self::Inner(io) => io.connected(),
            Self::Own { connected, .. } => connected.clone(),
        }
    }
}

impl<I, O> hyper::rt::Read for EitherIo<I, O>
where
    I: hyper::rt::Read + Unpin,
    O: hyper::rt::Read + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Inner(io) => Pin::new(io).poll_read(cx, buf),
            Self::Own { io, .. } => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl<I, O> hyper::rt::Write for EitherIo<I, O>
where
    I: hyper::rt::Write + Unpin,
    O: hyper::rt::Write + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Inner(io) => Pin::new(io).poll_write(cx, buf),
            Self::Own { io, .. } => Pin::new(io).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Inner(io) => Pin::new(io).poll_flush(cx),
            Self::Own { io, .. } => Pin::new(io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Inner(io) => Pin::new(io).poll_shutdown(cx),
            Self::Own { io, .. } => Pin::new(io).poll_shutdown(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Inner(io) => io.is_write_vectored(),
            Self::Own { io, .. } => io.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Inner(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Self::Own { io, .. } => Pin::new(io).poll_write_vectored(cx, bufs),
        }
    }
}
