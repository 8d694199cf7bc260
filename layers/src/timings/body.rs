use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::time::SharedTimer;

pin_project! {
    /// A response body that records when it ends.
    pub struct TimingsBody<B> {
        #[pin]
        inner: B,
        timer: SharedTimer,
        start: Instant,
        done: Arc<OnceLock<Duration>>,
    }
}

impl<B> TimingsBody<B> {
    pub(crate) fn new(
        inner: B,
        timer: SharedTimer,
        start: Instant,
        done: Arc<OnceLock<Duration>>,
    ) -> Self
    where
        B: Body,
    {
        // A body that is over before it starts (HEAD, 204, 304) completes with the head.
        if inner.is_end_stream() {
            let _ = done.set(timer.now().saturating_duration_since(start));
        }
        Self {
            inner,
            timer,
            start,
            done,
        }
    }
}

impl<B: Body> Body for TimingsBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let mut inner = this.inner;
        let polled = inner.as_mut().poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => inner.is_end_stream(),
            _ => false,
        };
        if ended && this.done.get().is_none() {
            let elapsed = this.timer.now().saturating_duration_since(*this.start);
            let _ = this.done.set(elapsed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
