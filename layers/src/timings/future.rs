use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::Response;
use pin_project_lite::pin_project;

use super::{RequestTimings, TimingsBody, TransportPhases};
use crate::time::SharedTimer;

pin_project! {
    /// The response future of [`Timings`](super::Timings).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        timer: SharedTimer,
        start: Instant,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, timer: SharedTimer, start: Instant) -> Self {
        Self {
            inner,
            timer,
            start,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<TimingsBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let headers_at = this.timer.now();
        let phases = response
            .extensions()
            .get::<TransportPhases>()
            .copied()
            .unwrap_or_default();
        let body_done = Arc::new(OnceLock::new());
        let timings = RequestTimings {
            dns: phases.dns,
            tcp: phases.tcp,
            tls: phases.tls,
            time_to_first_byte: phases
                .request_sent_at
                .map(|sent| headers_at.saturating_duration_since(sent)),
            headers: headers_at.saturating_duration_since(*this.start),
            body: body_done.clone(),
        };
        let (mut parts, body) = response.into_parts();
        parts.extensions.insert(timings);
        let body = TimingsBody::new(body, this.timer.clone(), *this.start, body_done);
        Poll::Ready(Ok(Response::from_parts(parts, body)))
    }
}
