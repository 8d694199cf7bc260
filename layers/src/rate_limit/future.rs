//! The [`ResponseFuture`] of the [`RateLimit`](super::RateLimit) service.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use http::Request;
use hyper::rt::Sleep;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::limiter::Reservation;
use crate::BoxError;

/// A request waiting for its slot, with the service that will send it once readied.
struct Waiting<S, ReqB> {
    /// `None` once the slot has come.
    sleep: Option<Pin<Box<dyn Sleep>>>,
    service: S,
    request: Request<ReqB>,
    reservation: Reservation,
}

pin_project! {
    /// Response future of [`RateLimit`](super::RateLimit): first sleeps until the request's
    /// slot (when it had to wait), then drives the inner service to readiness, calls it and
    /// awaits its response.
    ///
    /// Dropping it while it waits cancels the request and releases its slot (see the
    /// [module documentation](super#cancellation)).
    pub struct ResponseFuture<S, ReqB>
    where
        S: Service<Request<ReqB>>,
    {
        // Boxed: only a request over the rate waits, and a future that carried the waiting
        // request and service inline would make every request's future that much larger
        // in each layer above (as an `option_layer`, even with no rate limit configured).
        waiting: Option<Box<Waiting<S, ReqB>>>,
        #[pin]
        calling: Option<S::Future>,
    }
}

impl<S, ReqB> ResponseFuture<S, ReqB>
where
    S: Service<Request<ReqB>>,
{
    pub(super) fn calling(future: S::Future) -> Self {
        Self {
            waiting: None,
            calling: Some(future),
        }
    }

    pub(super) fn waiting(
        sleep: Pin<Box<dyn Sleep>>,
        service: S,
        request: Request<ReqB>,
        reservation: Reservation,
    ) -> Self {
        Self {
            waiting: Some(Box::new(Waiting {
                sleep: Some(sleep),
                service,
                request,
                reservation,
            })),
            calling: None,
        }
    }
}

impl<S, ReqB> Future for ResponseFuture<S, ReqB>
where
    S: Service<Request<ReqB>>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(waiting) = this.waiting.as_mut() {
            if let Some(sleep) = waiting.sleep.as_mut() {
                ready!(sleep.as_mut().poll(cx));
                waiting.sleep = None;
            }
            // Only now that the slot has come does the request take what the inner service
            // reserves when it is ready (a concurrency permit, a buffer slot).
            if let Err(err) = ready!(waiting.service.poll_ready(cx)) {
                // The slot's time has passed: dropping the reservation gives nothing back.
                *this.waiting = None;
                return Poll::Ready(Err(err.into()));
            }
            if let Some(waiting) = this.waiting.take() {
                let Waiting {
                    mut service,
                    request,
                    reservation,
                    ..
                } = *waiting;
                reservation.consume();
                this.calling.set(Some(service.call(request)));
            }
        }
        match this.calling.as_pin_mut() {
            Some(future) => future.poll(cx).map_err(Into::into),
            // Only reachable when polled again after an inner future that never started;
            // the two states above always leave `calling` set.
            None => Poll::Pending,
        }
    }
}

impl<S, ReqB> fmt::Debug for ResponseFuture<S, ReqB>
where
    S: Service<Request<ReqB>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("waiting", &self.waiting.is_some())
            .finish_non_exhaustive()
    }
}
