//! The runtime seam.
//!
//! hyper's traits (`hyper::rt::{Read, Write, Executor, Timer}`) carry every byte and every
//! sleep. What hyper does not cover — opening a TCP or Unix socket, running blocking DNS lookups off
//! the async threads and spawning background tasks — is the [`Runtime`] trait, the one
//! extension of the seam. Each runtime gets an adapter module here; nothing else in this
//! crate names a runtime.
//!
//! QUIC (feature `http3`) brings its own IO: quinn drives a UDP socket through its
//! `quinn::Runtime` trait, which `Runtime::quic_runtime` hands over. tokio's is quinn's
//! `TokioRuntime` (quinn's `runtime-tokio`); smol's is quinn's `SmolRuntime` (`runtime-smol`,
//! over async-io, as the `smol` adapter is). compio is completion-based, thread-per-core and
//! `!Send`, so it cannot implement `quinn::Runtime` (whose UDP polling and timers are
//! readiness-based and `Send`): its path is `compio-quic`, which drives `quinn-proto` on
//! compio's own IO, with h3 over it through h3's `quic` traits. That adapter is not written
//! yet (issue 12).

#[cfg(feature = "smol")]
pub mod smol;
#[cfg(feature = "tokio")]
pub mod tokio;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, sendable future, as spawned on a [`Runtime`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A clonable handle to a `hyper::rt::Timer`, shared by the transport and every layer that waits.
pub type SharedTimer = Arc<dyn hyper::rt::Timer + Send + Sync>;

/// What the transport needs from an async runtime beyond hyper's IO and timer traits.
pub trait Runtime: Clone + Send + Sync + Unpin + 'static {
    /// The connected TCP stream, speaking hyper's IO traits.
    type TcpStream: hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static;

    /// Connects `socket`, already configured and set non-blocking, to `addr`; yields the
    /// stream and its local address.
    fn connect(
        &self,
        socket: socket2::Socket,
        addr: SocketAddr,
    ) -> BoxFuture<'static, io::Result<(Self::TcpStream, Option<SocketAddr>)>>;

    /// A connected Unix domain socket, speaking hyper's IO traits.
    #[cfg(unix)]
    type UnixStream: hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static;

    /// Connects to the Unix domain socket at `path`.
    #[cfg(unix)]
    fn connect_unix(
        &self,
        path: std::sync::Arc<std::path::Path>,
    ) -> BoxFuture<'static, io::Result<Self::UnixStream>>;

    /// Runs a blocking function on a thread that is not an async worker.
    fn spawn_blocking<T, F>(&self, f: F) -> BoxFuture<'static, io::Result<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static;

    /// Spawns a background task (connection drivers, the pool reaper).
    fn spawn(&self, task: BoxFuture<'static, ()>);

    /// The runtime's timer.
    fn timer(&self) -> SharedTimer;

    /// quinn's adapter for this runtime (UDP sockets, timers, spawning), which HTTP/3
    /// connections run on; `None`, the default, when the runtime has none, and HTTP/3
    /// requests then fail to connect with a clear error.
    #[cfg(feature = "http3")]
    fn quic_runtime(&self) -> Option<Arc<dyn quinn::Runtime>> {
        None
    }
}

/// Adapts a [`Runtime`] to `hyper::rt::Executor`, as hyper's HTTP/2 builder requires.
#[derive(Clone, Debug)]
pub struct Exec<R>(pub R);

impl<R, F> hyper::rt::Executor<F> for Exec<R>
where
    R: Runtime,
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: F) {
        self.0.spawn(Box::pin(fut));
    }
}

/// Adapts a [`SharedTimer`] to the `hyper::rt::Timer` bound of hyper's builders.
#[derive(Clone)]
pub struct TimerHandle(pub SharedTimer);

impl std::fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TimerHandle")
    }
}

impl hyper::rt::Timer for TimerHandle {
    fn sleep(&self, duration: std::time::Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.0.sleep(duration)
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.0.sleep_until(deadline)
    }

    fn now(&self) -> std::time::Instant {
        self.0.now()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: std::time::Instant) {
        self.0.reset(sleep, new_deadline)
    }
}

/// Runs `future` until it completes or `duration` passes on `timer`; `None` means it timed out.
pub(crate) async fn timeout<F: Future>(
    timer: &SharedTimer,
    duration: std::time::Duration,
    future: F,
) -> Option<F::Output> {
    let mut sleep = timer.sleep(duration);
    until(sleep.as_mut(), future).await
}

/// Runs `future` until it completes or `sleep` ends; `None` means the sleep ended first.
/// A sleep shared by several calls makes one deadline for all of them.
pub(crate) async fn until<F: Future>(
    mut sleep: Pin<&mut dyn hyper::rt::Sleep>,
    future: F,
) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(output));
        }
        sleep.as_mut().poll(cx).map(|()| None)
    })
    .await
}
