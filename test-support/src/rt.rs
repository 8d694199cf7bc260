//! The seams between tokio and hyper: IO traits and the executor.
//!
//! hyper 1.x defines its own `Read`/`Write` traits so that it does not depend on a
//! runtime; the usual bridge lives in hyper-util, which this crate does not use.

use std::{
    io::{self, IoSlice},
    pin::Pin,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pin_project! {
    /// Adapts a tokio IO object (a `TcpStream`, a TLS stream, ...) to hyper's
    /// [`hyper::rt::Read`] and [`hyper::rt::Write`].
    #[derive(Debug)]
    pub struct TokioIo<T> {
        #[pin]
        inner: T,
    }
}

impl<T> TokioIo<T> {
    /// Wraps a tokio IO object.
    pub fn new(inner: T) -> Self {
        Self { inner }
    }

    /// Borrows the wrapped IO object.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// Unwraps the IO object.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead> hyper::rt::Read for TokioIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: tokio's `ReadBuf` only ever writes into the slice it is given and
        // never de-initializes bytes, which is the contract `as_mut` asks us to keep.
        let unfilled = unsafe { buf.as_mut() };
        let mut tokio_buf = ReadBuf::uninit(unfilled);
        let filled = match self.project().inner.poll_read(cx, &mut tokio_buf) {
            Poll::Ready(Ok(())) => tokio_buf.filled().len(),
            other => return other,
        };
        // SAFETY: `ReadBuf::filled` covers exactly the bytes the inner reader wrote,
        // so the first `filled` bytes of the cursor are initialized.
        unsafe { buf.advance(filled) };
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite> hyper::rt::Write for TokioIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }
}

/// A [`hyper::rt::Executor`] that spawns onto the current tokio runtime; HTTP/2
/// connections (server or client) need one to run their streams.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioExecutor;

impl<F> hyper::rt::Executor<F> for TokioExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(future);
    }
}
