//! Retries with exponential backoff, jitter, `Retry-After`, a retry budget and request-body
//! replay.
//!
//! [`RetryLayer`] sends a request again when an attempt fails in a way its [`RetryConfig`]
//! calls retryable:
//!
//! - **Errors** of the inner service are classified by an error classifier
//!   ([`RetryConfig::classify_error`], else the layer's [`RetryLayer::error_classifier`],
//!   [`default_error_class`] unless set):
//!   [`ErrorClass::NotSent`] (the request never reached the server) is retried for every
//!   method; [`ErrorClass::MaybeSent`] (including timeouts) only for idempotent methods
//!   (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) unless [`RetryConfig::retry_non_idempotent`]
//!   is on; [`ErrorClass::Fatal`] never.
//! - **Responses** whose status is in [`RetryConfig::retry_on_status`] (every 5xx and 429 by
//!   default) are retried under the same idempotency rule as `MaybeSent` errors.
//! - A [`RetryConfig::classify`] hook sees every outcome first and may override both rules.
//!
//! A retry happens only while all of these hold: fewer than `max_retries` retries were sent;
//! the wait ends before the request's [`Deadline`](crate::Deadline) (which the timeout layer
//! above puts into the request); the request body can be sent again; and the
//! [`RetryBudget`], if any, has a token left. Otherwise the last response or error goes to
//! the caller as it is. Every response the layer returns for a request with retries enabled
//! carries a [`RetryCount`] extension. Each retry's request carries a
//! [`ResendCount`](crate::ResendCount), counting on from the one its request came with (a
//! redirect hop's), and a response after retries the count of the send that answered it.
//!
//! # The wait
//!
//! Retry `n` (from 0) waits `min(max_backoff, initial_backoff × multiplier^n)`, randomised
//! by [`Jitter`]. A response's `Retry-After` (delta-seconds or an HTTP-date, read by
//! [`parse_retry_after`] against the layer's [`WallClock`](crate::time::WallClock)) replaces
//! the backoff, capped by `max_backoff`; an unparsable or absurd value (negative, garbage,
//! over [`MAX_RETRY_AFTER`]) falls back to the backoff. The arithmetic saturates: huge
//! multipliers or retry counts give `max_backoff`, never a panic. Waits run on the layer's
//! [`SharedTimer`](crate::time::SharedTimer).
//!
//! Before waiting, the failed response's body is drained up to [`MAX_DRAIN_BYTES`], as every
//! re-sending layer does (see [`resend`](crate::resend)).
//!
//! # Client default and per-request configuration
//!
//! The layer holds a default [`RetryConfig`]. A `RetryConfig` in a request's extensions
//! replaces it, entirely (budget included), for that one request; the `towline` facade's
//! `RequestBuilder::retry` inserts one. With `max_retries` 0 (see
//! [`RetryConfig::disabled`]) the request passes through untouched: its body is not wrapped,
//! nothing is cloned, and the response gets no [`RetryCount`]. That keeps a layer that is
//! always in the stack, for the sake of per-request retries, nearly free.
//!
//! # Per-attempt timeout
//!
//! [`RetryConfig::attempt_timeout`] (or an [`AttemptTimeout`] request extension) ends an
//! attempt that has not had its response head in time, with [`AttemptElapsed`], which is
//! then classified like any error (`MaybeSent`: retried for idempotent methods). Its timer is
//! armed the first time an attempt is pending, so attempts answered at once never arm it.
//!
//! # Request bodies
//!
//! The layer sends [`ResendBody`](crate::resend::ResendBody)s under the contract every
//! re-sending layer follows (see [`resend`](crate::resend)): a body is recorded up to
//! [`RetryConfig::max_replay_bytes`] so that a retry can replay it, unless a re-sending layer
//! above (a redirect layer) already records it, whose cap then applies. A body that cannot be
//! replayed is not retried: the last response or error is returned.
//!
//! # Why not tower's `retry` module
//!
//! `tower::retry::Retry` calls its inner service with the very request type it receives, so
//! it cannot wrap bodies in [`ResendBody`](crate::resend::ResendBody); it asks its `Policy` to clone the request before
//! every attempt, including the first, where this layer takes a cheap replay handle and
//! copies the head once; and its policy future is where a wait would go, which would need a
//! named future per policy. Its `retry::backoff` is bound to tokio's timer, where layers take
//! a `SharedTimer`, and its `TpsBudget` rounds fractional percentages (tower issue #857). So
//! this module has its own state machine (sending, draining, sleeping, readying) and its own
//! budget; the decision itself is a plain function of the outcome ([`RetryConfig::classify`]
//! and the rules above), as in tower.
//!
//! # Example
//!
//! ```
//! use std::{
//!     sync::{Arc, atomic::{AtomicUsize, Ordering}},
//!     time::Duration,
//! };
//!
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt};
//! use towline_layers::{
//!     resend::ResendBody,
//!     retry::{Jitter, RetryConfig, RetryCount, RetryLayer},
//!     time::ManualTimer,
//!     BoxError,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let timer = ManualTimer::new();
//! let calls = Arc::new(AtomicUsize::new(0));
//! let config = RetryConfig::new()
//!     .max_retries(2)
//!     .initial_backoff(Duration::from_millis(200))
//!     .jitter(Jitter::None);
//! let service = ServiceBuilder::new()
//!     .layer(RetryLayer::new(config, timer.shared()))
//!     .service_fn({
//!         let calls = Arc::clone(&calls);
//!         move |_request: http::Request<ResendBody<Full<Bytes>>>| {
//!             // A server that fails once, then answers.
//!             let status = if calls.fetch_add(1, Ordering::SeqCst) == 0 { 503 } else { 200 };
//!             async move {
//!                 Ok::<_, BoxError>(
//!                     http::Response::builder().status(status).body(Full::<Bytes>::default())?,
//!                 )
//!             }
//!         }
//!     });
//!
//! let call = tokio::spawn(service.oneshot(http::Request::new(Full::default())));
//! timer.wait_for_sleeps(1).await;
//! timer.advance(Duration::from_millis(200));
//! let response = call.await??;
//!
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.extensions().get::<RetryCount>(), Some(&RetryCount(1)));
//! assert_eq!(calls.load(Ordering::SeqCst), 2);
//! # Ok(())
//! # }
//! ```

mod budget;
mod config;
mod future;
mod layer;
mod retry_after;
mod service;
#[cfg(test)]
mod tests;

pub use self::{
    budget::{BudgetScope, DEFAULT_MAX_HOSTS, RetryBudget},
    config::{
        AttemptOutcome, DEFAULT_MAX_REPLAY_BYTES, ErrorClass, Jitter, RetryAttempt, RetryConfig,
        RetryDecision, RetryStatuses, default_error_class, is_idempotent,
    },
    future::ResponseFuture,
    layer::RetryLayer,
    retry_after::{MAX_RETRY_AFTER, MAX_RETRY_AFTER_LEN, parse_retry_after},
    service::Retry,
};
pub use crate::resend::MAX_DRAIN_BYTES;

/// A request extension: the per-attempt timeout for this request, replacing
/// [`RetryConfig::attempt_timeout`] (the `towline` facade's `RequestBuilder::attempt_timeout`
/// inserts one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttemptTimeout(pub std::time::Duration);

/// An attempt waited longer than its [`attempt timeout`](RetryConfig::attempt_timeout) for
/// a response head and was dropped.
///
/// Displays as, for example, `attempt timed out after 150ms`. The `towline` facade's
/// `Error::is_timeout` is true for it, and so is [`is_timeout`](crate::error::is_timeout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptElapsed {
    after: std::time::Duration,
}

impl AttemptElapsed {
    pub(crate) fn new(after: std::time::Duration) -> Self {
        Self { after }
    }

    /// The attempt timeout that elapsed.
    pub fn duration(&self) -> std::time::Duration {
        self.after
    }
}

impl std::fmt::Display for AttemptElapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "attempt timed out after {:?}", self.after)
    }
}

impl std::error::Error for AttemptElapsed {}

/// A response extension: how many times the retry layer sent the request again before this
/// response (0 when the first attempt's response is returned).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RetryCount(pub u32);
