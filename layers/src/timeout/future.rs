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
    body::{Deadline, ReadConfig},
};
use crate::BoxError;

pin_project! {
    /// Response future of [`Timeout`](super::Timeout): waits for the response headers until
    /// the total deadline, then hands the rest of the deadline to the response body.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
        total: Option<Deadline>,
        read: Option<ReadConfig>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Waiting {
            #[pin]
            inner: F,
        },
        // The inner future was dropped when the deadline passed.
        Expired {
            after: Duration,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, total: Option<Deadline>, read: Option<ReadConfig>) -> Self {
        Self {
            state: State::Waiting { inner },
            total,
            read,
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
            StateProj::Expired { after } => {
                return Poll::Ready(Err(Elapsed::new(TimeoutKind::Total, *after).into()));
            }
        };
        match inner.poll(cx) {
            Poll::Ready(Ok(response)) => {
                let (total, read) = (this.total.take(), this.read.take());
                Poll::Ready(Ok(response.map(|body| TimeoutBody::new(body, total, read))))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err.into())),
            Poll::Pending => {
                if let Some(total) = this.total.as_mut()
                    && total.sleep.as_mut().poll(cx).is_ready()
                {
                    let after = total.after;
                    *this.total = None;
                    // Dropping the inner future cancels the request now, not when the caller
                    // drops this future.
                    this.state.set(State::Expired { after });
                    return Poll::Ready(Err(Elapsed::new(TimeoutKind::Total, after).into()));
                }
                Poll::Pending
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("total", &self.total.as_ref().map(|total| total.after))
            .field("read", &self.read.as_ref().map(|read| read.gap))
            .finish_non_exhaustive()
    }
}
