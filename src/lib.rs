//! towline: a tower-native HTTP client.
//!
//! The transport is a `tower::Service` over towline's own pool of `hyper::client::conn`
//! HTTP/1.1 and HTTP/2 connections (rustls TLS, Happy Eyeballs); every feature is a
//! `tower::Layer` in [`towline_layers`]; and [`Client`] assembles them behind the familiar
//! request-builder API.
//!
//! ```no_run
//! # #[tokio::main]
//! # async fn main() -> Result<(), towline::Error> {
//! let client = towline::TokioClient::new();
//! let text = client.get("https://example.com/")?.send().await?.text().await?;
//! println!("{text}");
//! # Ok(())
//! # }
//! ```
//!
//! The pieces are usable alone: [`towline_services::transport::Transport`] is a plain
//! `Service<http::Request<B>>`, towline's layers compose with tower-http's, and [`Client`]
//! itself implements `Service<http::Request<B>>`.
//!
//! # Cargo features
//!
//! | feature | default | what it enables |
//! |---|---|---|
//! | `tokio` | yes | the tokio runtime and [`TokioClient`] |
//! | `rustls-ring` | yes | rustls with the *ring* provider |
//! | `rustls-aws-lc-rs` | no | rustls with aws-lc-rs (wins over *ring* when both are on) |
//! | `webpki-roots` | yes | trust the Mozilla roots bundled at build time |
//! | `rustls-native-roots` | no | trust the operating system's roots |
//! | `json` | yes | [`RequestBuilder::json`], [`Response::json`] |
//! | `charset` | yes | [`Response::text`] decodes any charset (UTF-8 only without it) |

#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(feature = "tokio"))]
compile_error!("towline needs a runtime: enable the `tokio` feature");

mod body;
mod client;
mod error;
mod response;
#[cfg(feature = "rustls")]
pub mod tls;

pub use body::{Body, ResponseBody};
pub use client::{Client, ClientBuilder, DEFAULT_USER_AGENT, HttpService, IntoUrl, RequestBuilder};
pub use error::{BoxError, Error, Result, retry_class};
pub use response::{BytesStream, Response};
#[cfg(feature = "rustls")]
pub use tls::{Certificate, Identity, TlsVersion};

pub use http::{self, HeaderMap, Method, StatusCode, Uri, Version, header};
pub use towline_layers;
pub use towline_layers::bandwidth::BandwidthLimiter;
pub use towline_layers::cache::{CacheStatus, HttpCache};
pub use towline_layers::rate_limit::RateLimiter;
pub use towline_layers::retry::{Jitter, RetryBudget, RetryConfig, RetryCount};
pub use towline_services;
pub use towline_services::transport::{ConnectionInfo, Http1Config, Http2Config};

/// A client on the tokio runtime.
#[cfg(feature = "tokio")]
pub type TokioClient = Client<towline_services::rt::tokio::TokioRuntime>;

/// A client builder on the tokio runtime.
#[cfg(feature = "tokio")]
pub type TokioClientBuilder = ClientBuilder<towline_services::rt::tokio::TokioRuntime>;
