//! The [`ResponseFuture`] of the [`Timeout`](super::Timeout) service.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use http::Response;
use pin_project_lite::pin_project;

use super::{
    Elapsed, TimeoutBody, TimeoutKind,
    body::{Deadline, ReadConfig, ReadGap},
};
use crate::BoxError;

pin_project! {
    /// Response future of [`Timeout`](super::Timeout): waits for the response headers until
    /// the total deadline or for the read timeout, then hands the rest of the deadline and the
    /// read timer to the response body.
    #[project = ResponseFutureProj]
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
        total: Option<Deadline>,
        read: Option<ReadGap>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Waiting {
            #[pin]
            inner: F,
        },
        // The inner future was dropped when a timeout passed.
        Expired {
            kind: TimeoutKind,
            after: Duration,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, total: Option<Deadline>, read: Option<ReadConfig>) -> Self {
        Self {
            state: State::Waiting { inner },
            total,
            read: read.map(ReadGap::new),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<TimeoutBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let inner = match this.state.as_mut().project() {
            StateProj::Waiting { inner } => inner,
            StateProj::Expired { kind, after } => {
                return Poll::Ready(Err(Elapsed::new(*kind, *after).into()));
            }
        };
        match inner.poll(cx) {
            Poll::Ready(Ok(response)) => {
                let total = this.total.take();
                let read = this.read.take().map(|mut read| {
                    read.disarm();
                    read
                });
                Poll::Ready(Ok(response.map(|body| TimeoutBody::new(body, total, read))))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err.into())),
            Poll::Pending => {
                if let Some(total) = this.total.as_mut()
                    && total.sleep.as_mut().poll(cx).is_ready()
                {
                    let after = total.after;
                    return Poll::Ready(Err(this.expire(TimeoutKind::Total, after)));
                }
                if let Some(read) = this.read.as_mut()
                    && read.poll_elapsed(cx).is_ready()
                {
                    let gap = read.config.gap;
                    return Poll::Ready(Err(this.expire(TimeoutKind::Read, gap)));
                }
                Poll::Pending
            }
        }
    }
}

impl<F> ResponseFutureProj<'_, F> {
    /// Drops the inner future, which cancels the request now rather than when the caller drops
    /// this future, and the timers.
    fn expire(&mut self, kind: TimeoutKind, after: Duration) -> BoxError {
        *self.total = None;
        *self.read = None;
        self.state.set(State::Expired { kind, after });
        Elapsed::new(kind, after).into()
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("total", &self.total.as_ref().map(|total| total.after))
            .field("read", &self.read.as_ref().map(|read| read.config.gap))
            .finish_non_exhaustive()
    }
}
