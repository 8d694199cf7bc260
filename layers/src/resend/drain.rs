//! [`Drain`]: what a re-sending layer does with a response it will not hand on.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Buf;
use http_body::Body;
use pin_project_lite::pin_project;

use super::MAX_DRAIN_BYTES;
use crate::replay::len_u64;

pin_project! {
    /// Reads a response body that will not be handed on to its end, or until more than
    /// [`MAX_DRAIN_BYTES`] were read, so that its connection can be reused. An error ends
    /// the drain: that connection is not reused anyway.
    pub(crate) struct Drain<B> {
        #[pin]
        body: B,
        drained: usize,
    }
}

impl<B: Body> Drain<B> {
    /// Starts draining `body`; or drops it at once (`None`) when there is nothing left to
    /// read, or more than a drain would read.
    pub(crate) fn start(body: B) -> Option<Self> {
        if body.is_end_stream() || body.size_hint().lower() > len_u64(MAX_DRAIN_BYTES) {
            return None;
        }
        Some(Self { body, drained: 0 })
    }
}

impl<B: Body> Future for Drain<B> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        while *this.drained <= MAX_DRAIN_BYTES && !this.body.is_end_stream() {
            match ready!(this.body.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => {
                    // A frame counts for at least one byte, so that a body of endless empty
                    // frames cannot hold the drain forever.
                    let len = frame.data_ref().map_or(0, Buf::remaining).max(1);
                    *this.drained = this.drained.saturating_add(len);
                }
                Some(Err(_)) | None => break,
            }
        }
        Poll::Ready(())
    }
}
