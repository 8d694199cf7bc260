//! Cookies: send the matching cookies of a [`CookieJar`] with each request, and store the
//! ones every response sets.
//!
//! [`CookieLayer`] wraps any `Service<http::Request<B>>` in a [`Cookie`] service. For each
//! request it adds the jar's matching cookies to the `Cookie` header; from each response —
//! whatever its status, so 3xx hops and `304 Not Modified` included — it stores every
//! `Set-Cookie`. In the default stack it sits under the redirect layer, so every hop sends
//! and stores cookies.
//!
//! # Rules
//!
//! The jar follows RFC 6265 as browsers apply it today:
//!
//! - **Matching.** A cookie goes to its host only (no `Domain` attribute) or to its domain
//!   and subdomains; to its path and the paths under it at a `/` boundary (`/foo` covers
//!   `/foo/bar`, not `/foobar`); `Secure` cookies over `https` only (a loopback `http` host
//!   is not an exception); never after it expires. Cookies are sent longest path first,
//!   then oldest first.
//! - **Caller's cookies.** A `Cookie` header set on the request is kept: the jar's cookies
//!   are appended to it, except those whose name the caller already set.
//! - **Refused cookies.** A `Domain` that does not cover the host, a public suffix such as
//!   `com` or `co.uk` (from the public suffix list compiled into the [`psl`] crate) unless it
//!   is the host itself, any `Domain` other than the address itself for an IP host, a
//!   `Secure` cookie from plain `http` (or a plain one that would shadow a `Secure` one), a
//!   `__Secure-` / `__Host-` cookie that breaks its prefix's rules, and headers over 8 KiB or
//!   cookies over 4096 bytes are all ignored, as RFC 6265 asks.
//! - **Expiry.** `Max-Age` wins over `Expires`; `Max-Age` of zero or less, or an `Expires`
//!   in the past (1970 and earlier included), deletes the cookie. Huge `Max-Age` values and
//!   far-future dates are clamped to the end of year 9999. "Now" comes from the jar's
//!   [`WallClock`](crate::time::WallClock), the system clock by default; tests freeze it with
//!   [`CookieJar::with_clock`] and a [`TimerClock`](crate::time::TimerClock).
//! - **Limits.** [`CookieLimits`] caps the cookies per domain and in all; expired cookies,
//!   then the least recently used, make room.
//!
//! Parsing and the cookie model come from `cookie_store` and the `cookie` crate; a value that
//! is not UTF-8 is ignored. A request needs an absolute URI (`http://host/path`); one in
//! origin form is taken as plain `http` to its `Host` header.
//!
//! # Other stores
//!
//! The layer keeps cookies in any [`CookieStore`] (reqwest's trait, so a store written for
//! reqwest works unchanged): `CookieLayer::new(Arc::new(my_store))`. The rules above are the
//! [`CookieJar`]'s; a store of your own applies its own, and the layer only merges what it
//! returns with the caller's `Cookie` header as described.
//!
//! The layer never fails a request: its error type is [`BoxError`](crate::BoxError) only to
//! pass the inner service's errors through.
//!
//! # Example
//!
//! ```
//! use http::header::{COOKIE, SET_COOKIE};
//! use tower::{ServiceBuilder, ServiceExt};
//! use towline_layers::{
//!     cookie::{CookieJar, CookieLayer},
//!     BoxError,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let jar = CookieJar::new();
//! let service = ServiceBuilder::new()
//!     .layer(CookieLayer::new(jar.clone()))
//!     // A server that sets a cookie and echoes the cookies it gets.
//!     .service_fn(|request: http::Request<String>| async move {
//!         let sent = request.headers().get(COOKIE).cloned();
//!         let mut response = http::Response::builder()
//!             .header(SET_COOKIE, "session=abc123; Path=/; HttpOnly");
//!         if let Some(sent) = sent {
//!             response = response.header("x-got", sent);
//!         }
//!         Ok::<_, BoxError>(response.body(String::new())?)
//!     });
//!
//! let request = http::Request::get("http://example.com/login").body(String::new())?;
//! service.clone().oneshot(request).await?;
//! let cookies = jar.cookies();
//! assert_eq!(cookies.len(), 1);
//! assert_eq!((cookies[0].name.as_str(), cookies[0].value.as_str()), ("session", "abc123"));
//! assert!(cookies[0].http_only);
//!
//! // A cookie the caller sets is kept, and the jar's are added to it.
//! let request = http::Request::get("http://example.com/profile")
//!     .header(COOKIE, "theme=dark")
//!     .body(String::new())?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.headers()["x-got"], "theme=dark; session=abc123");
//!
//! // Save the cookies (as JSON here; `save_netscape` writes the cookie file curl and wget
//! // read). This one is a session cookie, so it needs `_with_session`.
//! let mut saved = Vec::new();
//! jar.save_json_with_session(&mut saved)?;
//! let restored = CookieJar::new();
//! assert_eq!(restored.load_json(saved.as_slice())?, 1);
//! # Ok(())
//! # }
//! ```

mod future;
mod jar;
mod layer;
mod netscape;
mod provider;
mod service;
mod store;
#[cfg(test)]
mod tests;

pub use self::{
    future::ResponseFuture,
    jar::{CookieJar, CookieJarError, CookieLimits, RejectReason, SameSite, StoredCookie},
    layer::CookieLayer,
    provider::CookieStore,
    service::Cookie,
};
