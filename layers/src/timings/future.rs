use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::Response;
use pin_project_lite::pin_project;

use super::{ConnectionInfo, RequestTimings, TimingsBody};
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
        let connection = response.extensions().get::<ConnectionInfo>();
        // A reused connection's phases belong to an earlier request.
        let phases = connection
            .filter(|info| !info.is_reused())
            .map(ConnectionInfo::connect_timings);
        let body_done = Arc::new(OnceLock::new());
        let timings = RequestTimings {
            dns: phases.and_then(|phases| phases.dns),
            tcp: phases
                .filter(|phases| phases.quic.is_none())
                .map(|phases| phases.tcp),
            tls: phases.and_then(|phases| phases.tls),
            proxy: phases.and_then(|phases| phases.proxy),
            quic: phases.and_then(|phases| phases.quic),
            time_to_first_byte: connection
                .map(|info| headers_at.saturating_duration_since(info.request_sent_at())),
            headers: headers_at.saturating_duration_since(*this.start),
            body: body_done.clone(),
        };
        let (mut parts, body) = response.into_parts();
        parts.extensions.insert(timings);
        let body = TimingsBody::new(body, this.timer.clone(), *this.start, body_done);
        Poll::Ready(Ok(Response::from_parts(parts, body)))
    }
}
