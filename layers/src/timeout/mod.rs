//! Total and read timeouts for the whole HTTP exchange, driven by a [`hyper::rt::Timer`].
//!
//! [`TimeoutLayer`] bounds two things, each optional:
//!
//! - **total** ([`TimeoutLayer::total`]): a deadline for the whole exchange — waiting for the
//!   response headers *and* reading the response body to its end. The deadline is fixed when
//!   the request is sent; the response body carries whatever remains of it. A request can
//!   override it with the [`RequestTimeout`] extension.
//! - **read** ([`TimeoutLayer::read`]): the longest the server may stay silent. The first gap
//!   runs from sending the request (its upload included) until the response head; then the
//!   response body may wait that long for each frame. A body's gap starts when a poll finds no
//!   frame ready and restarts with every frame, so time the caller spends between reads does
//!   not count against it.
//!
//! When either timeout passes before the response headers arrive, the inner future is
//! dropped at once, which cancels the request. Either deadline passing while the body is
//! read ends the body with an error frame. Every timeout surfaces as an [`Elapsed`] error
//! (boxed as a [`BoxError`](crate::BoxError)) whose [`kind`](Elapsed::kind) says which one fired;
//! classify errors with [`find_cause`](crate::error::find_cause)`::<Elapsed>`.
//!
//! The layer takes its clock as a [`SharedTimer`](crate::time::SharedTimer): it never names a
//! runtime. With neither timeout configured, it allocates no sleeps and passes everything
//! through. The total sleep is created once per request and moved into the body; the read
//! sleep is created on the first wait of an exchange, moved into the body, and re-armed with [`Timer::reset`](hyper::rt::Timer::reset).
//!
//! Because the layer wraps the response body in [`TimeoutBody`], `option_layer` cannot switch
//! it off (the two arms of the resulting `Either` would answer with different body types).
//! Keep the layer in the stack with no timeout set instead: it then costs next to nothing,
//! and a [`RequestTimeout`] extension can still give single requests a deadline.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! use tower::{ServiceBuilder, ServiceExt};
//! use towline_layers::{
//!     error::find_cause,
//!     time::ManualTimer,
//!     timeout::{Elapsed, TimeoutKind, TimeoutLayer},
//!     BoxError,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let timer = ManualTimer::new();
//! let service = ServiceBuilder::new()
//!     .layer(
//!         TimeoutLayer::new(timer.shared())
//!             .total(Some(Duration::from_secs(2)))
//!             .read(Some(Duration::from_millis(500))),
//!     )
//!     // A server that never answers.
//!     .service_fn(|_request: http::Request<String>| {
//!         std::future::pending::<Result<http::Response<String>, BoxError>>()
//!     });
//!
//! let call = tokio::spawn(service.oneshot(http::Request::new(String::new())));
//! timer.wait_for_sleeps(1).await;
//! timer.advance(Duration::from_secs(2));
//!
//! let err = call.await?.err().ok_or("the request must time out")?;
//! let elapsed = find_cause::<Elapsed>(&*err).ok_or("the error is a timeout")?;
//! assert_eq!(elapsed.kind(), TimeoutKind::Total);
//! assert_eq!(err.to_string(), "request timed out after 2s (total)");
//! # Ok(())
//! # }
//! ```

mod body;
mod error;
mod future;
mod layer;
mod service;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use self::{
    body::TimeoutBody,
    error::{Elapsed, TimeoutKind},
    future::ResponseFuture,
    layer::TimeoutLayer,
    service::Timeout,
};

/// A request extension that replaces the layer's total timeout for that one request.
///
/// It applies even when the layer has no total timeout of its own.
///
/// ```
/// use std::time::Duration;
///
/// use towline_layers::timeout::RequestTimeout;
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(RequestTimeout(Duration::from_secs(5)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestTimeout(pub Duration);
