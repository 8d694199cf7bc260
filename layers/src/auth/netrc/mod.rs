//! Credentials from a netrc file ([`Netrc`], [`NetrcLayer`]), as curl's `--netrc` uses them.
//!
//! - **The file.** [`Netrc::default_path`] is `$NETRC`, else `~/.netrc` (`_netrc` on
//!   Windows); [`Netrc::from_path`] reads one, [`Netrc::parse`] parses text. A malformed
//!   file is a [`NetrcError`] naming the line, never a panic; a file others may read gives a
//!   warning (feature `tracing`), not an error.
//! - **Matching.** The request's host is compared with each `machine` ignoring ASCII
//!   case; the port is ignored, as curl does. Without a match, the `default` entry applies.
//! - **When credentials go out.** A `machine` entry's Basic credentials are sent with the
//!   first request only over https or to a loopback host; otherwise, and always for the
//!   `default` entry, only in answer to a `401` that asks for Basic (one attempt).
//! - **Digest.** The layer leaves the entry's credentials in the request's extensions
//!   ([`NetrcCredentials`](crate::auth::NetrcCredentials)), bound to the request's origin.
//!   A [`DigestAuthLayer`](crate::auth::digest::DigestAuthLayer) *below* this layer
//!   answers a Digest challenge with them (it may also replace a preemptive Basic header
//!   this layer added, which is marked as the layer's with
//!   [`NetrcAuthorization`](crate::auth::NetrcAuthorization)). A `401` offering Digest is
//!   therefore never answered with Basic by this layer.
//! - **What wins.** A request with an `Authorization` header, or with credentials in its
//!   URL, is passed through untouched.
//! - **Bodies.** Like the digest layer, it takes `Request<ResendBody<B>>` and hands on the
//!   same type; a body that cannot be replayed ends with the `401` returned.
//!
//! A request to a host without an entry (and no `default`) is passed through at the cost of
//! a host comparison per entry; a preemptive Basic answer costs no allocation but the
//! extension; an answer after a `401` costs a copy of the request's head.
//!
//! The parser is hand-written: the netrc crates on crates.io either read whitespace-separated
//! words only (no quoted tokens with escapes, which curl reads since 7.84) or bring
//! dependencies (nom, regex, serde, toml, dirs) out of proportion to a format of six
//! keywords. This one is small, bounded ([`MAX_NETRC_LEN`]) and fuzzed.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http::{header, Request, Response};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt};
//! use towline_layers::{
//!     auth::netrc::{Netrc, NetrcLayer},
//!     resend::ResendBody,
//!     BoxError,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let netrc = Netrc::parse("machine localhost login u password p")?;
//! let service = ServiceBuilder::new()
//!     .layer(NetrcLayer::new(netrc))
//!     .service_fn(|request: Request<ResendBody<Full<Bytes>>>| async move {
//!         // Basic "u:p", sent at once to a loopback host.
//!         assert_eq!(request.headers()[header::AUTHORIZATION], "Basic dTpw");
//!         Ok::<_, BoxError>(Response::new(Full::<Bytes>::default()))
//!     });
//! let mut request = Request::new(ResendBody::new(Full::default()));
//! *request.uri_mut() = "http://localhost:8080/".parse()?;
//! service.oneshot(request).await?;
//! # Ok(())
//! # }
//! ```

mod file;
mod service;
#[cfg(test)]
mod tests;

pub use self::{
    file::{MAX_NETRC_LEN, Netrc, NetrcEntry, NetrcError},
    service::{DEFAULT_MAX_REPLAY_BYTES, NetrcAuth, NetrcLayer, ResponseFuture},
};
