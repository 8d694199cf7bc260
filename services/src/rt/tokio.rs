//! tokio adapters: hyper's IO and timer traits over tokio, and the [`Runtime`] handle.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use super::{BoxFuture, Runtime, SharedTimer};

/// The tokio runtime, as seen by the transport: TCP through `tokio::net`, blocking work on
/// tokio's blocking pool, tasks on the ambient runtime (`tokio::spawn`).
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioRuntime;

impl Runtime for TokioRuntime {
    type TcpStream = TokioIo<tokio::net::TcpStream>;

    fn connect(
        &self,
        socket: socket2::Socket,
        addr: SocketAddr,
    ) -> BoxFuture<'static, io::Result<(Self::TcpStream, Option<SocketAddr>)>> {
        Box::pin(async move {
            let socket = tokio::net::TcpSocket::from_std_stream(socket.into());
            let stream = socket.connect(addr).await?;
            let local = stream.local_addr().ok();
            Ok((TokioIo::new(stream), local))
        })
    }

    #[cfg(unix)]
    type UnixStream = TokioIo<tokio::net::UnixStream>;

    #[cfg(unix)]
    fn connect_unix(
        &self,
        path: Arc<std::path::Path>,
    ) -> BoxFuture<'static, io::Result<Self::UnixStream>> {
        Box::pin(async move { Ok(TokioIo::new(tokio::net::UnixStream::connect(&*path).await?)) })
    }

    fn spawn_blocking<T, F>(&self, f: F) -> BoxFuture<'static, io::Result<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let handle = tokio::task::spawn_blocking(f);
        Box::pin(async move { handle.await.map_err(io::Error::other) })
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        // Outside a runtime (a response dropped after its runtime shut down) the task has
        // nothing left to drive, so it is dropped rather than panicking.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(task);
        }
    }

    fn timer(&self) -> SharedTimer {
        Arc::new(TokioTimer)
    }

    #[cfg(feature = "http3")]
    fn quic_runtime(&self) -> Option<Arc<dyn quinn::Runtime>> {
        Some(Arc::new(quinn::TokioRuntime))
    }
}

/// `hyper::rt::Timer` over `tokio::time`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioTimer;

impl hyper::rt::Timer for TokioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TokioSleep {
            inner: tokio::time::sleep(duration),
        })
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(TokioSleep {
            inner: tokio::time::sleep_until(deadline.into()),
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<TokioSleep>() {
            Some(sleep) => sleep.project().inner.reset(new_deadline.into()),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

pin_project! {
    struct TokioSleep {
        #[pin]
        inner: tokio::time::Sleep,
    }
}

impl Future for TokioSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().inner.poll(cx)
    }
}

impl hyper::rt::Sleep for TokioSleep {}

pin_project! {
    /// Gives a tokio IO type hyper's `Read`/`Write` traits.
    #[derive(Debug)]
    pub struct TokioIo<T> {
        #[pin]
        inner: T,
    }
}

impl<T> TokioIo<T> {
    /// Wraps a tokio IO type.
    pub fn new(inner: T) -> Self {
        Self { inner }
    }

    /// The wrapped IO.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The wrapped IO, mutably.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the IO.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: tokio::io::AsyncRead> hyper::rt::Read for TokioIo<T> {
    #[allow(unsafe_code)]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: the slice is handed to tokio's `ReadBuf`, which never de-initialises memory,
        // and only the bytes it reports as filled are advanced below.
        let filled = unsafe {
            let mut tbuf = tokio::io::ReadBuf::uninit(buf.as_mut());
            match tokio::io::AsyncRead::poll_read(self.project().inner, cx, &mut tbuf) {
                Poll::Ready(Ok(())) => tbuf.filled().len(),
                other => return other,
            }
        };
        // SAFETY: tokio initialised and filled exactly `filled` bytes at the cursor's start.
        unsafe { buf.advance(filled) };
        Poll::Ready(Ok(()))
    }
}

impl<T: tokio::io::AsyncWrite> hyper::rt::Write for TokioIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(self.project().inner, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(self.project().inner, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(self.project().inner, cx)
    }

    fn is_write_vectored(&self) -> bool {
        tokio::io::AsyncWrite::is_write_vectored(&self.inner)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write_vectored(self.project().inner, cx, bufs)
    }
}

impl<T: hyper::rt::Read> tokio::io::AsyncRead for TokioIo<T> {
    #[allow(unsafe_code)]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        tbuf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let filled = tbuf.filled().len();
        // SAFETY: hyper's `ReadBuf` over the unfilled part never de-initialises memory; the
        // bytes it reports as filled are marked initialised and filled in tokio's buffer.
        let new_filled = unsafe {
            let mut hbuf = hyper::rt::ReadBuf::uninit(tbuf.unfilled_mut());
            match hyper::rt::Read::poll_read(self.project().inner, cx, hbuf.unfilled()) {
                Poll::Ready(Ok(())) => hbuf.filled().len(),
                other => return other,
            }
        };
        let total = filled + new_filled;
        // SAFETY: `new_filled` bytes after `filled` were just written by the inner reader.
        unsafe { tbuf.assume_init(total) };
        tbuf.set_filled(total);
        Poll::Ready(Ok(()))
    }
}

impl<T: hyper::rt::Write> tokio::io::AsyncWrite for TokioIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write(self.project().inner, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_flush(self.project().inner, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(self.project().inner, cx)
    }
}
