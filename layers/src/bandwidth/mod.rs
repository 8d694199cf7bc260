//! Response body bandwidth limiting: a token bucket of bytes per second, shared by every
//! body drawing from it.
//!
//! [`BandwidthLimiter`] holds the rate and the bucket behind an `Arc`: all the responses of
//! a client and of its clones share one rate. [`BandwidthLayer`] wraps each response body in
//! a [`BandwidthBody`], which releases a data frame only as the bucket allows. The limiter's
//! [`try_consume`](BandwidthLimiter::try_consume) and
//! [`wait_duration`](BandwidthLimiter::wait_duration) serve other paced transfers, such as
//! uploads.
//!
//! # The bucket
//!
//! The bucket fills at the configured rate up to its burst size (one second's worth unless
//! [`BandwidthLimiter::burst`] says otherwise). It starts **empty**, so a transfer never runs
//! ahead of the rate averaged from its start; the burst only bounds what builds up while
//! nobody reads. Arithmetic is exact (tokens are counted in byte-nanoseconds) and saturating:
//! huge amounts, rates and waits never overflow.
//!
//! # How bodies are paced
//!
//! A data frame is released as soon as the bucket holds any of it: a frame larger than what
//! the bucket holds is **split** — the body yields the prefix that fits (split off the
//! frame's `Bytes` without copying) and keeps the rest for the next poll — so nothing is
//! buffered beyond the frame the inner body already produced, and the inner body is not
//! polled again until that frame is out. When the bucket is empty the body sleeps on the
//! limiter's timer until a tenth of a second's worth of bytes (or the rest of the frame, if
//! less) has accumulated: one sleep per wait, re-armed in place, and no polling in a loop.
//! Trailers and the inner body's errors pass through.
//!
//! Concurrent bodies share the rate: each takes what the bucket holds when it is polled.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt};
//! use towline_layers::{
//!     BoxError, ServiceBuilderExt, bandwidth::BandwidthLimiter, time::ManualTimer,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let timer = ManualTimer::new();
//! let service = ServiceBuilder::new()
//!     .bandwidth_limit(BandwidthLimiter::new(1000, timer.shared())?)
//!     .service_fn(|_request: http::Request<()>| async {
//!         Ok::<_, BoxError>(http::Response::new(Full::new(Bytes::from(vec![7; 2500]))))
//!     });
//!
//! let response = service.oneshot(http::Request::new(())).await?;
//! let reader = tokio::spawn(response.into_body().collect());
//! // 2500 bytes at 1000 bytes per second take two and a half seconds of virtual time.
//! for _ in 0..25 {
//!     timer.wait_for_sleeps(1).await;
//!     timer.advance(Duration::from_millis(100));
//! }
//! assert_eq!(reader.await??.to_bytes().len(), 2500);
//! # Ok(())
//! # }
//! ```

mod body;
mod error;
mod future;
mod layer;
mod limiter;
mod service;
#[cfg(test)]
mod tests;

pub use self::{
    body::BandwidthBody, error::BandwidthConfigError, future::ResponseFuture,
    layer::BandwidthLayer, limiter::BandwidthLimiter, service::Bandwidth,
};
