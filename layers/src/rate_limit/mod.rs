//! Request rate limiting: at most `max_requests` per period, with a burst, released first
//! come, first served.
//!
//! [`RateLimiter`] holds the limit and its state behind an `Arc`, so every clone — and every
//! service built from layers over those clones — draws from the same buckets. With
//! [`RateLimiter::per_host`] each request authority gets a bucket of its own (at most
//! [`MAX_HOSTS`] at once). [`RateLimitLayer`] applies a limiter to a service; the limiter's
//! [`try_acquire`](RateLimiter::try_acquire) and [`wait_duration`](RateLimiter::wait_duration)
//! serve callers that pace themselves.
//!
//! # Algorithm
//!
//! The limiter is a GCRA (generic cell rate algorithm): one request per emission interval
//! `per / max_requests` in the long run, and up to `burst` at once after an idle spell. Each
//! bucket is a single "theoretical arrival time", so a bucket costs one `Duration` and every
//! decision is a few saturating additions under a mutex.
//!
//! It is written here rather than taken from `governor` because the layer needs one thing
//! governor does not offer: to *reserve* a future slot at arrival. Governor only answers
//! "allowed now, or not until T" without taking the later slot, so waiters must retry when
//! T comes and race whoever arrives at that moment — no first-come-first-served order. Its
//! keyed limiter also grows without bound until the caller prunes it, and its `Clock` would
//! need a wrapper around our [`SharedTimer`](crate::time::SharedTimer) anyway.
//!
//! # Where requests wait
//!
//! Not in `poll_ready`: that only readies the inner service, so the service stays cheap to
//! clone and to drive from many tasks. In `call`, the request reserves the next slot of its
//! bucket and learns its release time. A request whose slot is free calls the readied inner
//! service at once. Otherwise the service gives up the readiness it was granted — whatever
//! the inner service reserved in `poll_ready`, such as a concurrency permit, is released, so
//! a waiting request holds nothing that others need — and the [`ResponseFuture`] keeps a
//! clone of the inner service and the request, sleeps on the limiter's timer until the slot
//! (one sleep, no polling loop), then drives the clone to readiness and calls it.
//! Because slots are reserved in order of arrival, a request that arrived earlier is always
//! released earlier, even when a later one arrives just as a slot frees.
//!
//! # Cancellation
//!
//! A [`ResponseFuture`] dropped while it waits gives its slot back when no later request has
//! reserved one since (a run of cancelled requests at the tail of the queue is given back
//! whole). A cancelled slot in the middle of the queue is not given back — the requests
//! behind it already sleep until their own times — and simply expires unused when its time
//! passes. Either way, a cancellation never delays anyone beyond the time they were given
//! when they arrived, and never holds capacity past that time.
//!
//! # Time
//!
//! The limiter reads time from the timer it was built with, for its whole life, and the
//! layer sleeps on that same timer: two limiters built on two timers each follow their own
//! clock, whichever client or stack they serve.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! use tower::{Service, ServiceBuilder, ServiceExt};
//! use towline_layers::{BoxError, ServiceBuilderExt, rate_limit::RateLimiter, time::ManualTimer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let timer = ManualTimer::new();
//! // Two requests per second; a burst of two passes at once.
//! let limiter = RateLimiter::new(2, Duration::from_secs(1), timer.shared())?;
//! let mut service = ServiceBuilder::new()
//!     .request_rate_limit(limiter.clone())
//!     .service_fn(|_request: http::Request<()>| async {
//!         Ok::<_, BoxError>(http::Response::new(()))
//!     });
//!
//! for _ in 0..2 {
//!     service.ready().await?.call(http::Request::new(())).await?;
//! }
//! assert!(!limiter.try_acquire());
//!
//! // The third request waits half a second of (virtual) time for its slot.
//! let third = tokio::spawn(service.ready().await?.call(http::Request::new(())));
//! timer.wait_for_sleeps(1).await;
//! timer.advance(Duration::from_millis(500));
//! third.await??;
//! # Ok(())
//! # }
//! ```

mod error;
mod future;
mod layer;
mod limiter;
mod service;
#[cfg(test)]
mod tests;

pub use self::{
    error::RateLimitConfigError,
    future::ResponseFuture,
    layer::RateLimitLayer,
    limiter::{MAX_HOSTS, RateLimiter},
    service::RateLimit,
};
