//! The [`BandwidthBody`] response body.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use hyper::rt::Sleep;
use pin_project_lite::pin_project;

use super::BandwidthLimiter;
use crate::BoxError;

/// The fewest wake-ups per second a starved body aims for: it waits for a tenth of a second's
/// worth of bytes (or the rest of its frame, or the bucket, if smaller), so a slow rate gives
/// a few reasonably sized pieces rather than a stream of one-byte frames.
const WAKES_PER_SEC: u64 = 10;

pin_project! {
    /// Response body of [`Bandwidth`](super::Bandwidth): releases each data frame only as the
    /// shared [`BandwidthLimiter`] allows, split into pieces that fit the bucket.
    ///
    /// Trailers and the inner body's errors pass through unchanged (errors boxed).
    ///
    /// It holds at most the rest of one inner data frame, and one sleep created on its first
    /// wait and re-armed after.
    pub struct BandwidthBody<B: Body> {
        #[pin]
        inner: B,
        limiter: BandwidthLimiter,
        pending: Option<B::Data>,
        sleep: Option<Pin<Box<dyn Sleep>>>,
        sleeping: bool,
    }
}

impl<B: Body> BandwidthBody<B> {
    pub(super) fn new(inner: B, limiter: BandwidthLimiter) -> Self {
        Self {
            inner,
            limiter,
            pending: None,
            sleep: None,
            sleeping: false,
        }
    }
}

impl<B> Body for BandwidthBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        loop {
            let Some(data) = this.pending.as_mut() else {
                let frame = match ready!(this.inner.as_mut().poll_frame(cx)) {
                    Some(Ok(frame)) => frame,
                    Some(Err(err)) => return Poll::Ready(Some(Err(err.into()))),
                    None => return Poll::Ready(None),
                };
                match frame.into_data() {
                    Ok(data) if data.has_remaining() => *this.pending = Some(data),
                    Ok(mut empty) => {
                        return Poll::Ready(Some(Ok(Frame::data(empty.copy_to_bytes(0)))));
                    }
                    Err(other) => {
                        return Poll::Ready(Some(Ok(other.map_data(|mut data| {
                            let len = data.remaining();
                            data.copy_to_bytes(len)
                        }))));
                    }
                }
                continue;
            };
            if *this.sleeping {
                if let Some(sleep) = this.sleep.as_mut() {
                    ready!(sleep.as_mut().poll(cx));
                }
                *this.sleeping = false;
            }
            let remaining = data.remaining();
            let wanted = u64::try_from(remaining).unwrap_or(u64::MAX);
            let taken = this.limiter.try_consume(wanted);
            if taken > 0 {
                let taken = usize::try_from(taken).unwrap_or(remaining).min(remaining);
                // Zero-copy for `Bytes`: the prefix is split off the frame's buffer.
                let piece = data.copy_to_bytes(taken);
                if !data.has_remaining() {
                    *this.pending = None;
                }
                return Poll::Ready(Some(Ok(Frame::data(piece))));
            }
            let step = (this.limiter.bytes_per_sec() / WAKES_PER_SEC)
                .clamp(1, this.limiter.burst_size())
                .min(wanted);
            let wait = this.limiter.wait_duration(step);
            let timer = this.limiter.timer();
            match timer.now().checked_add(wait) {
                Some(deadline) => match this.sleep.as_mut() {
                    Some(sleep) => timer.reset(sleep, deadline),
                    None => *this.sleep = Some(timer.sleep_until(deadline)),
                },
                // A wait past what `Instant` can hold never ends; the timer's own sleep
                // knows how to represent that.
                None => *this.sleep = Some(timer.sleep(wait)),
            }
            *this.sleeping = true;
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let held = self.pending.as_ref().map_or(0, |data| {
            u64::try_from(data.remaining()).unwrap_or(u64::MAX)
        });
        let inner = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(held));
        if let Some(upper) = inner.upper().and_then(|upper| upper.checked_add(held)) {
            hint.set_upper(upper);
        }
        hint
    }
}

impl<B> fmt::Debug for BandwidthBody<B>
where
    B: Body + fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BandwidthBody")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .field(
                "pending",
                &self.pending.as_ref().map(|data| data.remaining()),
            )
            .finish_non_exhaustive()
    }
}
