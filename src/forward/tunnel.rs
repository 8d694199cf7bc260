//! The byte tunnel between a downstream and an upstream connection once both switched
//! protocols.
//!
//! The copy is written here over hyper's `rt::{Read, Write}`, which both sides speak on every
//! runtime, rather than borrowed from one runtime's IO utilities (tokio's
//! `copy_bidirectional`): the forwarder runs wherever its client does, and the copy also keeps
//! the time of the last byte for the idle timeout without a wrapper per side.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use hyper::rt::{Read, ReadBuf, Write};
use hyper::upgrade::{OnUpgrade, Upgraded};
use towline_services::rt::SharedTimer;

/// Bytes buffered per direction: what one read may bring before it is written on.
const PIPE_CAPACITY: usize = 16 * 1024;

/// How long a tunnel may stay silent, and the clock that tells.
#[derive(Clone)]
pub(super) struct IdleLimit {
    pub(super) after: Duration,
    pub(super) timer: SharedTimer,
}

/// Copies bytes both ways between the downstream and upstream connections once both are handed
/// over, until both directions have ended, either side fails or, with `idle`, no byte has
/// moved either way for that long. Its errors are those of the two peers' connections, which
/// the tunnel's owner can do nothing about, so they end the tunnel silently; ending it drops
/// both connections.
pub(super) async fn run(downstream: OnUpgrade, upstream: OnUpgrade, idle: Option<IdleLimit>) {
    let (Ok(mut downstream), Ok(mut upstream)) = (downstream.await, upstream.await) else {
        return;
    };
    let activity = idle.as_ref().map(|idle| Activity::new(idle.timer.now()));
    let mut to_upstream = Pipe::new();
    let mut to_downstream = Pipe::new();
    let copy = std::future::poll_fn(|cx| {
        let moved = idle
            .as_ref()
            .zip(activity.as_ref())
            .map(|(idle, activity)| (activity, &idle.timer));
        let up = to_upstream.poll_copy(cx, &mut downstream, &mut upstream, moved);
        let down = to_downstream.poll_copy(cx, &mut upstream, &mut downstream, moved);
        match (up, down) {
            (Poll::Ready(Err(_)), _) | (_, Poll::Ready(Err(_))) => Poll::Ready(()),
            (Poll::Ready(Ok(())), Poll::Ready(Ok(()))) => Poll::Ready(()),
            _ => Poll::Pending,
        }
    });
    let (Some(idle), Some(activity)) = (&idle, &activity) else {
        return copy.await;
    };
    let mut copy = std::pin::pin!(copy);
    let mut watchdog = std::pin::pin!(idle.watch(activity));
    std::future::poll_fn(|cx| {
        if copy.as_mut().poll(cx).is_ready() || watchdog.as_mut().poll(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

impl IdleLimit {
    /// Resolves once no byte has moved for `after`: it sleeps until the last activity plus
    /// `after`, and again while activity moved the end further.
    async fn watch(&self, activity: &Activity) {
        loop {
            let Some(deadline) = activity.last().checked_add(self.after) else {
                return std::future::pending().await;
            };
            if deadline <= self.timer.now() {
                return;
            }
            self.timer.sleep_until(deadline).await;
        }
    }
}

/// When a tunnel last moved a byte, as nanoseconds after its start.
struct Activity {
    start: Instant,
    last_nanos: AtomicU64,
}

impl Activity {
    fn new(start: Instant) -> Self {
        Self {
            start,
            last_nanos: AtomicU64::new(0),
        }
    }

    fn record(&self, now: Instant) {
        let nanos =
            u64::try_from(now.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX);
        self.last_nanos.fetch_max(nanos, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        let nanos = self.last_nanos.load(Ordering::Relaxed);
        self.start
            .checked_add(Duration::from_nanos(nanos))
            .unwrap_or(self.start)
    }
}

/// One direction of the tunnel: a buffer that a read fills and writes drain, then the
/// writer's shutdown once the reader has ended.
struct Pipe {
    buffer: Box<[u8]>,
    /// The unwritten bytes are `buffer[start..end]`.
    start: usize,
    end: usize,
    read_ended: bool,
    /// Bytes were written since the last flush.
    unflushed: bool,
    done: bool,
}

impl Pipe {
    fn new() -> Self {
        Self {
            buffer: vec![0; PIPE_CAPACITY].into_boxed_slice(),
            start: 0,
            end: 0,
            read_ended: false,
            unflushed: false,
            done: false,
        }
    }

    /// Moves what `reader` has to `writer` until the reader waits or ends; ready once the
    /// reader has ended and the writer is shut down.
    fn poll_copy(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut Upgraded,
        writer: &mut Upgraded,
        activity: Option<(&Activity, &SharedTimer)>,
    ) -> Poll<io::Result<()>> {
        if self.done {
            return Poll::Ready(Ok(()));
        }
        loop {
            if self.start == self.end && !self.read_ended {
                let mut read = ReadBuf::new(&mut self.buffer);
                match Pin::new(&mut *reader).poll_read(cx, read.unfilled()) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Pending => {
                        // Nothing more to send for now: what was written must not wait in
                        // the writer's buffers for bytes that may never come.
                        if self.unflushed {
                            ready!(Pin::new(&mut *writer).poll_flush(cx))?;
                            self.unflushed = false;
                        }
                        return Poll::Pending;
                    }
                }
                let filled = read.filled().len();
                if filled == 0 {
                    self.read_ended = true;
                } else {
                    self.start = 0;
                    self.end = filled;
                    if let Some((activity, timer)) = activity {
                        activity.record(timer.now());
                    }
                }
            }
            while self.start < self.end {
                let written = ready!(
                    Pin::new(&mut *writer).poll_write(cx, &self.buffer[self.start..self.end])
                )?;
                if written == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.start += written;
                self.unflushed = true;
                if let Some((activity, timer)) = activity {
                    activity.record(timer.now());
                }
            }
            if self.read_ended {
                ready!(Pin::new(&mut *writer).poll_flush(cx))?;
                ready!(Pin::new(&mut *writer).poll_shutdown(cx))?;
                self.done = true;
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl std::fmt::Debug for IdleLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("IdleLimit").field(&self.after).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_keeps_the_latest_time_recorded() {
        let start = Instant::now();
        let activity = Activity::new(start);
        assert_eq!(activity.last(), start);
        activity.record(start + Duration::from_secs(3));
        activity.record(start + Duration::from_secs(1));
        assert_eq!(activity.last(), start + Duration::from_secs(3));
        // A clock that went backwards before the start records nothing earlier than it.
        activity.record(start.checked_sub(Duration::from_secs(1)).unwrap_or(start));
        assert_eq!(activity.last(), start + Duration::from_secs(3));
    }
}
