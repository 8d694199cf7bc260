//! towline's feature layers: one [`tower`](https://docs.rs/tower) `Layer` per HTTP client
//! capability.
//!
//! Every layer in this crate is an ordinary tower middleware over
//! `http::Request<ReqB>` → `http::Response<ResB>`, so it composes with towline's transport,
//! with tower-http's layers and with any other tower HTTP client. The `towline` facade
//! assembles them into its default stack, but each one is usable on its own.
//!
//! # Conventions
//!
//! ## Module shape
//!
//! Each layer module follows tower-http's names: `FooLayer` (the [`Layer`]), `Foo<S>` (the
//! [`Service`]), `ResponseFuture<F>` (a named, pin-projected future: no boxed future per
//! request) and `FooBody<B>` when a body is wrapped (except [`resend::ResendBody`], which
//! every layer that sends a request again shares). Every layer sits behind its own cargo
//! feature; the shared pieces ([`error`], [`time`], [`replay`], [`exec`], and [`semconv`]
//! and [`redact`], which the `tracing` and OpenTelemetry layers share) are always compiled,
//! and [`resend`] with either layer that sends a request again.
//!
//! A layer that wraps the response body changes the response type, so `option_layer` cannot
//! switch it off (the two arms of its `Either` would differ). Such layers are instead cheap
//! when left unconfigured, and stay in the stack.
//!
//! ## Errors
//!
//! Errors crossing a layer boundary are [`BoxError`] (the same type as `tower::BoxError`), so
//! layers' errors unify under `option_layer` and `Either`. Each layer defines its own concrete
//! error types (for example `timeout::Elapsed`), all `std::error::Error + Send + Sync +
//! 'static`. Whoever needs to classify an error — the `towline` facade, or a user's own
//! retry policy — downcasts: first the error itself, then its `source()` chain, because an
//! error raised inside a *request* body reaches the caller wrapped in the transport's error
//! (hyper's error keeps it as its source). [`error::find_cause`] does that walk.
//!
//! ## Time
//!
//! The crate never names an async runtime. Layers that wait take a [`time::SharedTimer`] (an
//! `Arc<dyn hyper::rt::Timer + Send + Sync>`) and read the clock through
//! [`Timer::now`](hyper::rt::Timer::now), never through `Instant::now()`. Tests drive them
//! with [`time::ManualTimer`], a deterministic virtual clock.
//!
//! ## Re-sending requests
//!
//! Layers that may send a request again (retry, 307/308 redirects, digest auth) wrap the
//! request body in [`replay::ReplayBody`], which records what it sends up to a byte cap and
//! lets a clone replay it. Buffered bodies replay at the cost of a reference count; streaming
//! bodies replay lazily up to the cap, and past it replay fails with a clear
//! [`replay::ReplayError`], never with a silently empty body. What such layers share — the
//! body they send, recording a body once however many of them it passes, draining — is the
//! contract in [`resend`].
//!
//! # Example
//!
//! A stack with a total timeout, driven by a virtual clock:
#![cfg_attr(
    feature = "timeout",
    doc = r##"
```
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use towline_layers::{time::ManualTimer, timeout::TimeoutLayer, BoxError};

# #[tokio::main(flavor = "current_thread")]
# async fn main() -> Result<(), BoxError> {
let timer = ManualTimer::new();
let service = ServiceBuilder::new()
    .layer(TimeoutLayer::new(timer.shared()).total(Some(Duration::from_secs(30))))
    .service_fn(|_req: http::Request<Full<Bytes>>| async {
        Ok::<_, BoxError>(http::Response::new(Full::new(Bytes::from("hello"))))
    });

let response = service.oneshot(http::Request::new(Full::default())).await?;
let body = response.into_body().collect().await?.to_bytes();
assert_eq!(body, "hello");
# Ok(())
# }
```
"##
)]
#![cfg_attr(
    not(feature = "timeout"),
    doc = "(This example needs the `timeout` feature.)"
)]
//!
//! [`Layer`]: tower_layer::Layer
//! [`Service`]: tower_service::Service

#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(any(feature = "digest-auth", feature = "netrc"))]
pub mod auth;
#[cfg(feature = "bandwidth")]
pub mod bandwidth;
pub mod builder;
#[cfg(feature = "cache")]
pub mod cache;
#[cfg(feature = "cookies")]
pub mod cookie;
#[cfg(feature = "decompression")]
pub mod decompression;
pub mod error;
pub mod exec;
pub mod extensions;
#[cfg(feature = "hsts")]
pub mod hsts;
pub mod optional;
#[cfg(feature = "otel")]
pub mod otel;
#[cfg(feature = "rate-limit")]
pub mod rate_limit;
pub mod redact;
#[cfg(feature = "redirect")]
pub mod redirect;
pub mod replay;
#[cfg(any(
    feature = "redirect",
    feature = "retry",
    feature = "digest-auth",
    feature = "netrc"
))]
pub mod resend;
#[cfg(feature = "retry")]
pub mod retry;
pub mod semconv;
pub mod time;
#[cfg(feature = "timeout")]
pub mod timeout;
#[cfg(feature = "timings")]
pub mod timings;
#[cfg(feature = "tracing")]
pub mod trace;

mod sync;
#[cfg(test)]
mod test_util;

pub use builder::ServiceBuilderExt;
pub use error::BoxError;

pub use extensions::{
    AttemptTimedOut, CrossOriginRedirect, Deadline, EffectiveUri, RedirectObserver,
    RedirectResponse, ResendCount,
};
