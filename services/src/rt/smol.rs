//! smol adapters: hyper's IO and timer traits over `async-io`, and the [`Runtime`] handle.
//!
//! Sockets are `async_io::Async` over the standard library's, sleeps are `async_io::Timer`s,
//! blocking work (DNS) runs on the `blocking` crate's thread pool, and tasks go to an executor
//! the user passes ([`SmolRuntime::with_executor`]) or, by default, to smol's global one
//! (`smol::spawn`). Nothing here needs a tokio runtime: a smol-only build links tokio's
//! `sync` and `io-util` parts at most, which hyper and h2 use internally, never its reactor,
//! timer or scheduler.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use super::{BoxFuture, Runtime, SharedTimer};

/// The smol runtime, as seen by the transport: TCP through `async-io`, blocking work on the
/// `blocking` pool, tasks on a smol executor.
#[derive(Clone, Default)]
pub struct SmolRuntime {
    /// Where background tasks go; `None` for smol's global executor.
    executor: Option<Arc<smol::Executor<'static>>>,
}

impl std::fmt::Debug for SmolRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmolRuntime")
            .field("executor", &self.executor.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl SmolRuntime {
    /// Spawns background tasks (connection drivers, the pool reaper) on `executor`, which
    /// the application must run (`executor.run(..)`) for as long as the client is used.
    pub fn with_executor(executor: Arc<smol::Executor<'static>>) -> Self {
        Self {
            executor: Some(executor),
        }
    }
}

impl Runtime for SmolRuntime {
    type TcpStream = SmolIo<smol::Async<std::net::TcpStream>>;

    fn connect(
        &self,
        socket: socket2::Socket,
        addr: SocketAddr,
    ) -> BoxFuture<'static, io::Result<(Self::TcpStream, Option<SocketAddr>)>> {
        Box::pin(async move {
            // The socket is already non-blocking: connecting starts the handshake, and the
            // socket turning writable ends it.
            match socket.connect(&addr.into()) {
                Ok(()) => {}
                Err(error) if connect_in_progress(&error) => {}
                Err(error) => return Err(error),
            }
            let stream = smol::Async::new(std::net::TcpStream::from(socket))?;
            stream.writable().await?;
            if let Some(error) = stream.get_ref().take_error()? {
                return Err(error);
            }
            // A refused connect can also surface only here, as a socket without a peer.
            stream.get_ref().peer_addr()?;
            let local = stream.get_ref().local_addr().ok();
            Ok((SmolIo::new(stream), local))
        })
    }

    #[cfg(unix)]
    type UnixStream = SmolIo<smol::Async<std::os::unix::net::UnixStream>>;

    #[cfg(unix)]
    fn connect_unix(
        &self,
        path: Arc<std::path::Path>,
    ) -> BoxFuture<'static, io::Result<Self::UnixStream>> {
        Box::pin(async move {
            Ok(SmolIo::new(
                smol::Async::<std::os::unix::net::UnixStream>::connect(&*path).await?,
            ))
        })
    }

    fn spawn_blocking<T, F>(&self, f: F) -> BoxFuture<'static, io::Result<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let task = smol::unblock(f);
        Box::pin(async move { Ok(task.await) })
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        match &self.executor {
            Some(executor) => executor.spawn(task).detach(),
            None => smol::spawn(task).detach(),
        }
    }

    fn timer(&self) -> SharedTimer {
        Arc::new(SmolTimer)
    }

    /// quinn's smol adapter: its UDP socket and timers are async-io's, like this runtime's,
    /// and it runs the endpoint and connection drivers on smol's global executor (which has
    /// threads of its own), whichever executor this runtime spawns its tasks on.
    #[cfg(feature = "http3")]
    fn quic_runtime(&self) -> Option<Arc<dyn quinn::Runtime>> {
        Some(Arc::new(quinn::SmolRuntime))
    }
}

/// Whether a non-blocking connect's error only says the handshake is under way.
fn connect_in_progress(error: &io::Error) -> bool {
    #[cfg(unix)]
    if error.raw_os_error() == Some(libc::EINPROGRESS) {
        return true;
    }
    error.kind() == io::ErrorKind::WouldBlock
}

/// The most one read asks the socket for: as much as a socket buffer usually holds.
const MAX_READ: usize = 64 * 1024;
/// The least one read asks for; where a read window starts.
const MIN_READ: usize = 1024;

/// `hyper::rt::Timer` over `async_io::Timer`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmolTimer;

impl hyper::rt::Timer for SmolTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(SmolSleep {
            inner: smol::Timer::after(duration),
        })
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(SmolSleep {
            inner: smol::Timer::at(deadline),
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<SmolSleep>() {
            Some(sleep) => sleep.project().inner.set_at(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

pin_project! {
    struct SmolSleep {
        #[pin]
        inner: smol::Timer,
    }
}

impl Future for SmolSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().inner.poll(cx).map(|_fired_at| ())
    }
}

impl hyper::rt::Sleep for SmolSleep {}

pin_project! {
    /// Gives a `futures-io` IO type (smol's) hyper's `Read`/`Write` traits, and a hyper IO
    /// type `futures-io`'s.
    #[derive(Debug)]
    pub struct SmolIo<T> {
        #[pin]
        inner: T,
        // How much the next read asks for (see `poll_read`).
        window: usize,
    }
}

impl<T> SmolIo<T> {
    /// Wraps an IO type.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            window: MIN_READ,
        }
    }

    /// The wrapped IO.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// Unwraps the IO.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: smol::io::AsyncRead> hyper::rt::Read for SmolIo<T> {
    #[allow(unsafe_code)]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // `futures-io` reads into initialised memory only: zero the part of the cursor's space
        // this read may fill first. The cursor does not say what an earlier poll initialised,
        // so every poll (a pending one included) zeroes what it asks for; the window adapts to
        // what reads return, as tokio's read buffer does: doubled (up to `MAX_READ`) when a
        // read fills it, halved (down to `MIN_READ`) when one fills less than a quarter, so
        // small responses zero a few KiB per poll rather than 64.
        let this = self.project();
        // SAFETY: `as_mut` hands out the unfilled, possibly uninitialised part; writing zeros
        // through `MaybeUninit::write` initialises every byte before the slice is read as `u8`.
        let unfilled = unsafe { buf.as_mut() };
        let len = unfilled.len().min(*this.window);
        let unfilled = &mut unfilled[..len];
        for byte in unfilled.iter_mut() {
            byte.write(0);
        }
        // SAFETY: every byte of `unfilled` was initialised just above, and `MaybeUninit<u8>`
        // has the layout of `u8`.
        let initialised = unsafe {
            &mut *(std::ptr::from_mut::<[std::mem::MaybeUninit<u8>]>(unfilled) as *mut [u8])
        };
        let read = match smol::io::AsyncRead::poll_read(this.inner, cx, initialised) {
            Poll::Ready(Ok(read)) => read,
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Pending => return Poll::Pending,
        };
        if read == len && len == *this.window {
            *this.window = (len * 2).min(MAX_READ);
        } else if read < *this.window / 4 {
            *this.window = (*this.window / 2).max(MIN_READ);
        }
        // SAFETY: the reader filled `read` bytes at the start of the cursor's space, all of
        // which were initialised.
        unsafe { buf.advance(read) };
        Poll::Ready(Ok(()))
    }
}

impl<T: smol::io::AsyncWrite> hyper::rt::Write for SmolIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        smol::io::AsyncWrite::poll_write(self.project().inner, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        smol::io::AsyncWrite::poll_flush(self.project().inner, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        smol::io::AsyncWrite::poll_close(self.project().inner, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        smol::io::AsyncWrite::poll_write_vectored(self.project().inner, cx, bufs)
    }
}

impl<T: hyper::rt::Read> smol::io::AsyncRead for SmolIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut hyper_buf = hyper::rt::ReadBuf::new(buf);
        match hyper::rt::Read::poll_read(self.project().inner, cx, hyper_buf.unfilled()) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(hyper_buf.filled().len())),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: hyper::rt::Write> smol::io::AsyncWrite for SmolIo<T> {
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

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(self.project().inner, cx)
    }
}
