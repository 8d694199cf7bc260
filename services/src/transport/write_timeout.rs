//! The write timeout: the longest a write to a connection may stay pending.
//!
//! A server that stops reading fills the socket's send buffer, and every write then stays
//! pending; without a bound an upload hangs until a total timeout, if there is one. The
//! transport wraps every connection in a [`WriteTimeoutIo`]: a write, flush or shutdown
//! that stays pending longer than the connection's current limit fails with an
//! [`io::Error`] of kind `TimedOut` whose inner error is [`WriteTimedOut`]. The timer is
//! armed only once a write is pending, so connections that never wait pay nothing but a
//! branch.
//!
//! The limit is per connection and can change between requests: an HTTP/1 connection takes
//! the limit of the request it carries (a [`WriteTimeout`] extension, else the transport's
//! [`write_timeout`](super::TransportConfig::write_timeout)); an HTTP/2 connection, whose
//! writes interleave many streams, keeps the transport's. A peer that stops granting HTTP/2
//! flow-control window leaves nothing pending on the socket: that stall is not a write
//! timeout (HTTP/2 keep-alive pings, or a total timeout, bound it).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Sleep, Write};

use crate::connect::{Connected, Connection};
use crate::rt::SharedTimer;

/// A request extension: the write timeout for this request, replacing the transport's
/// [`write_timeout`](super::TransportConfig::write_timeout) on HTTP/1 connections. An
/// HTTP/2 connection, whose writes interleave many streams, keeps the transport's; a peer
/// that withholds HTTP/2 flow-control window leaves nothing pending on the socket, so that
/// stall is bounded by keep-alive pings or a total timeout instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WriteTimeout(pub Duration);

/// A write stayed pending past the write timeout: the inner error of the `TimedOut`
/// [`io::Error`] the connection fails with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteTimedOut {
    after: Duration,
}

impl WriteTimedOut {
    /// The write timeout that elapsed.
    pub fn duration(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for WriteTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "write timed out: the peer took nothing for {:?}",
            self.after
        )
    }
}

impl std::error::Error for WriteTimedOut {}

/// A connection's current write timeout, shared by the connection and the transport.
#[derive(Debug, Default)]
pub(crate) struct WriteLimit {
    /// Nanoseconds; 0 for none.
    nanos: AtomicU64,
}

impl WriteLimit {
    pub(crate) fn set(&self, limit: Option<Duration>) {
        let nanos = limit.map_or(0, |limit| {
            u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX).max(1)
        });
        self.nanos.store(nanos, Ordering::Relaxed);
    }

    fn get(&self) -> Option<Duration> {
        match self.nanos.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }
}

/// A connection whose pending writes time out (see the [module docs](self)).
pub(crate) struct WriteTimeoutIo<IO> {
    io: IO,
    limit: std::sync::Arc<WriteLimit>,
    timer: SharedTimer,
    /// Armed while a write is pending.
    stalled: Option<Pin<Box<dyn Sleep>>>,
}

impl<IO> WriteTimeoutIo<IO> {
    pub(crate) fn new(io: IO, limit: std::sync::Arc<WriteLimit>, timer: SharedTimer) -> Self {
        Self {
            io,
            limit,
            timer,
            stalled: None,
        }
    }

    #[inline]
    fn guard<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            if self.stalled.is_some() {
                self.stalled = None;
            }
            return polled;
        }
        let Some(limit) = self.limit.get() else {
            self.stalled = None;
            return Poll::Pending;
        };
        let timer = &self.timer;
        let sleep = self.stalled.get_or_insert_with(|| timer.sleep(limit));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.stalled = None;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            WriteTimedOut { after: limit },
        )))
    }
}

impl<IO: Read + Unpin> Read for WriteTimeoutIo<IO> {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<IO: Write + Unpin> Write for WriteTimeoutIo<IO> {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.guard(cx, polled)
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.guard(cx, polled)
    }

    #[inline]
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_shutdown(cx);
        this.guard(cx, polled)
    }

    #[inline]
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.guard(cx, polled)
    }
}

impl<IO: Connection> Connection for WriteTimeoutIo<IO> {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}
