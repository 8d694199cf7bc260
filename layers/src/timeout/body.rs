//! The [`TimeoutBody`] response body.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use http_body::{Body, Frame, SizeHint};
use hyper::rt::Sleep;
use pin_project_lite::pin_project;

use super::{Elapsed, TimeoutKind};
use crate::{BoxError, time::SharedTimer};

/// The running total deadline: one sleep per request, created when the request is sent.
pub(super) struct Deadline {
    pub(super) sleep: Pin<Box<dyn Sleep>>,
    /// The configured total timeout, for the error message.
    pub(super) after: Duration,
}

/// The read timeout settings of one exchange.
pub(super) struct ReadConfig {
    pub(super) timer: SharedTimer,
    pub(super) gap: Duration,
}

/// The read-gap timer of one exchange: created on the first wait (for the response head, or
/// for a body frame), re-armed by `reset` after, and handed from the response future to the
/// body so one sleep serves both.
pub(super) struct ReadGap {
    pub(super) config: ReadConfig,
    sleep: Option<Pin<Box<dyn Sleep>>>,
    /// Whether `sleep` measures the current wait; cleared by every frame and by the head.
    armed: bool,
}

impl ReadGap {
    pub(super) fn new(config: ReadConfig) -> Self {
        Self {
            config,
            sleep: None,
            armed: false,
        }
    }

    /// Ends the current wait: the next one starts a new gap.
    pub(super) fn disarm(&mut self) {
        self.armed = false;
    }

    pub(super) fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.armed {
            let timer = &self.config.timer;
            // A deadline beyond what `Instant` can represent never passes.
            let Some(deadline) = timer.now().checked_add(self.config.gap) else {
                return Poll::Pending;
            };
            match &mut self.sleep {
                Some(sleep) => timer.reset(sleep, deadline),
                None => self.sleep = Some(timer.sleep_until(deadline)),
            }
            self.armed = true;
        }
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

pin_project! {
    /// Response body of [`Timeout`](super::Timeout): ends with an [`Elapsed`] error frame when
    /// the total deadline passes or the body waits longer than the read timeout for a frame.
    pub struct TimeoutBody<B> {
        #[pin]
        inner: B,
        total: Option<Deadline>,
        read: Option<ReadGap>,
        finished: bool,
    }
}

impl<B> TimeoutBody<B> {
    pub(super) fn new(inner: B, total: Option<Deadline>, read: Option<ReadGap>) -> Self {
        Self {
            inner,
            total,
            read,
            finished: false,
        }
    }
}

impl<B> Body for TimeoutBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, BoxError>>> {
        let this = self.project();
        if *this.finished {
            return Poll::Ready(None);
        }
        let polled = if this.inner.is_end_stream() {
            // A body that is already complete is never failed by a deadline passing later.
            Poll::Ready(None)
        } else if let Some(total) = this.total.as_mut()
            && total.sleep.as_mut().poll(cx).is_ready()
        {
            Poll::Ready(Some(Err(
                Elapsed::new(TimeoutKind::Total, total.after).into()
            )))
        } else {
            match this.inner.poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(read) = this.read.as_mut() {
                        read.disarm();
                    }
                    Poll::Ready(Some(Ok(frame)))
                }
                Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err.into()))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => {
                    if let Some(read) = this.read.as_mut()
                        && read.poll_elapsed(cx).is_ready()
                    {
                        let gap = read.config.gap;
                        Poll::Ready(Some(Err(Elapsed::new(TimeoutKind::Read, gap).into())))
                    } else {
                        Poll::Pending
                    }
                }
            }
        };
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            // Release the sleeps as soon as the body is over.
            *this.finished = true;
            *this.total = None;
            *this.read = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.finished || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.finished {
            SizeHint::with_exact(0)
        } else {
            self.inner.size_hint()
        }
    }
}

impl<B: fmt::Debug> fmt::Debug for TimeoutBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutBody")
            .field("inner", &self.inner)
            .field("total", &self.total.as_ref().map(|total| total.after))
            .field("read", &self.read.as_ref().map(|read| read.config.gap))
            .field("finished", &self.finished)
            .finish()
    }
}
