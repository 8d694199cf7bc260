//! HTTP Strict Transport Security (RFC 6797): learn which hosts are HTTPS-only and upgrade
//! `http://` requests to them.
//!
//! [`HstsLayer`] wraps any `Service<http::Request<B>>` in an [`Hsts`] service that shares an
//! [`HstsStore`] with its clones:
//!
//! - **Learning.** From a response to an `https` request it records the first valid
//!   `Strict-Transport-Security` header (invalid ones are skipped, see [`parse_sts`]) for the
//!   request's host. Responses to plain `http` requests never set a policy, nor do IP
//!   literal hosts. `max-age=0` forgets the host; `includeSubDomains` extends the policy to
//!   every subdomain; a huge `max-age` is clamped to [`MAX_AGE_CAP`] (one year).
//! - **Upgrading.** An `http://` request to a known host (or to a subdomain of a known host
//!   whose policy has `includeSubDomains`) is sent as `https://` instead (RFC 6797 §8.3): an
//!   explicit port 80 becomes 443, any other explicit port is kept. The response to an
//!   upgraded request carries the new URI as an [`EffectiveUri`](crate::EffectiveUri)
//!   extension (unless a layer below set one).
//!
//! In the default stack the layer sits under the redirect layer, so redirect targets are
//! upgraded too. Policy lifetimes run on the store's [`WallClock`](crate::time::WallClock).
//! The parser is a plain function over bytes, [`parse_sts`]: it reads at most
//! [`MAX_HEADER_LEN`] bytes, uses checked arithmetic, and returns an error (never panics) on
//! any malformed input.
//!
//! The layer never fails a request: its error type is [`BoxError`](crate::BoxError) only to
//! pass the inner service's errors through.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! use http::header::STRICT_TRANSPORT_SECURITY;
//! use tower::{ServiceBuilder, ServiceExt};
//! use towline_layers::{
//!     hsts::{HstsLayer, HstsStore},
//!     BoxError,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let store = HstsStore::new();
//! let service = ServiceBuilder::new()
//!     .layer(HstsLayer::new(store.clone()))
//!     // A server that sends an HSTS policy and reports the URI it was asked for.
//!     .service_fn(|request: http::Request<String>| async move {
//!         let response = http::Response::builder()
//!             .header(STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains")
//!             .body(request.uri().to_string())?;
//!         Ok::<_, BoxError>(response)
//!     });
//!
//! // Learned over HTTPS...
//! let request = http::Request::get("https://example.com/").body(String::new())?;
//! service.clone().oneshot(request).await?;
//! assert!(store.is_known("www.example.com"));
//!
//! // ...then plain HTTP requests go out over HTTPS, port 80 turned into 443.
//! let request = http::Request::get("http://www.example.com:80/a?b").body(String::new())?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.body(), "https://www.example.com:443/a?b");
//!
//! // Hosts can also be added by hand, e.g. from a preload list.
//! store.add("preloaded.test", Duration::from_secs(86_400), false);
//! assert!(store.is_known("preloaded.test"));
//! # Ok(())
//! # }
//! ```

mod future;
mod layer;
mod parse;
mod service;
mod store;
#[cfg(test)]
mod tests;

pub use self::{
    future::ResponseFuture,
    layer::HstsLayer,
    parse::{MAX_AGE_CAP, MAX_HEADER_LEN, StsDirectives, StsError, parse_sts},
    service::Hsts,
    store::{HstsEntry, HstsStore},
};
