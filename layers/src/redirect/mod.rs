//! Following redirects: 301, 302, 303, 307 and 308, hop by hop, under a [`Policy`].
//!
//! [`RedirectLayer`] sends a request to the inner service; when the response is a redirect
//! and the [`Policy`] agrees, it sends the next request itself, and hands the caller the
//! final response. Layers below it (cookies, HSTS, auth, the transport) see every hop.
//!
//! # Policies
//!
//! [`Policy::default`] follows up to 10 redirects, [`Policy::limited`] up to `n`,
//! [`Policy::none`] none, and [`Policy::custom`] asks a closure that sees the current and
//! next URI, the status, the method, the response headers and the redirects followed so
//! far ([`Attempt`]), and answers follow, stop or error. Past a limit, the next redirect
//! fails with a [`RedirectError`] of kind [`TooManyRedirects`](RedirectErrorKind) that
//! carries the history.
//!
//! # What is a redirect
//!
//! A 301, 302, 303, 307 or 308 response with a `Location` header. Any other status goes
//! back to the caller as it is — 300 (Multiple Choices), 304 (Not Modified), 305 and 306
//! included, with or without a `Location` — and so does a redirect status without a
//! `Location`.
//!
//! # Each hop
//!
//! - **Location** is resolved against the URI that answered (RFC 3986 §5, through the
//!   [`url`](https://docs.rs/url) crate): relative references, dot segments, scheme-relative
//!   `//host/path`. Bytes outside ASCII are percent-encoded first. A `Location` that does not
//!   resolve fails with [`InvalidLocation`](RedirectErrorKind::InvalidLocation); one that
//!   resolves to a scheme other than `http`/`https` fails with
//!   [`UnsupportedScheme`](RedirectErrorKind::UnsupportedScheme) when the policy would follow
//!   it (a custom policy can stop instead, and let the caller read the `Location`).
//! - **Fragments** never go on the wire, and an [`http::Uri`] cannot hold one. The layer
//!   tracks it apart: the request's [`Fragment`] extension (if the caller set one) is the
//!   starting fragment, a `Location` with a fragment replaces it, and one without keeps it
//!   (RFC 9110 §10.2.2). The final response carries the fragment in effect as a [`Fragment`]
//!   extension.
//! - **Method and body** (RFC 9110 §15.4): 301 and 302 turn POST, and only POST, into GET;
//!   303 turns every method but HEAD into GET; all three then drop the body, and with it
//!   `Content-Type`, `Content-Length`, `Content-Encoding` and `Transfer-Encoding`. 307 and
//!   308 (and 301/302 for methods other than POST) keep the method and send the body
//!   again, and so do 301, 302 and 303 for a POST when [`RedirectLayer::keep_post`] names
//!   them (curl's `--post301`, `--post302`, `--post303`).
//! - **Credentials**: when the scheme, host or port changes, `Authorization`, `Cookie`,
//!   `Proxy-Authorization`, `Host` and every header with a value marked
//!   [sensitive](http::HeaderValue::set_sensitive) are removed, and stay removed for later
//!   hops. (Cookies for the new origin come from a cookie layer below this one.) Those
//!   hops also carry [`CrossOriginRedirect`](crate::CrossOriginRedirect) in their
//!   extensions, so that an authentication layer below does not add credentials of its own.
//! - **https_only** ([`RedirectLayer::https_only`]) refuses a redirect to `http` with
//!   [`InsecureRedirect`](RedirectErrorKind::InsecureRedirect).
//! - **Referer** ([`RedirectLayer::referer`], off by default): the URI that redirected, in
//!   full without userinfo within one origin, its origin only across origins, and no
//!   `Referer` from https to http.
//! - **Draining**: before the next hop, the redirect response's body is drained up to
//!   [`MAX_DRAIN_BYTES`] (64 KiB), as every re-sending layer does (see
//!   [`resend`](crate::resend)).
//! - Version and extensions carry over to every hop; headers are the caller's, minus what
//!   the rules above remove.
//!
//! # The request body
//!
//! The service takes `Request<B>` and calls its inner service with
//! `Request<`[`ResendBody<B>`](crate::resend::ResendBody)`>`, under the contract every
//! re-sending layer follows (see [`resend`](crate::resend)). A redirect that keeps the body
//! sends a replay of it, recorded up to [`RedirectLayer::max_replay_body_bytes`] (1 MiB by
//! default); one that cannot be replayed fails with
//! [`BodyNotReplayable`](RedirectErrorKind::BodyNotReplayable), whose source is the
//! [`ReplayError`](crate::replay::ReplayError). Under [`Policy::none`] the body passes
//! through as it is.
//!
//! # The final response
//!
//! A response that the layer reached by following redirects carries, in its extensions, an
//! [`EffectiveUri`](crate::EffectiveUri) (the URI it came from) and a [`RedirectHistory`]
//! (the URIs that answered with the redirects followed, oldest first, starting with the
//! original URI). A response that was not redirected carries neither (its URI is the
//! request's, unless a layer below, such as HSTS, recorded another `EffectiveUri`), so the
//! common case costs nothing. Either way a [`Fragment`] in effect is carried along.
//!
//! Each hop's request carries a [`ResendCount`](crate::ResendCount) (1 for the first hop,
//! counting on from what a retry layer below reports on the response it answers with), and
//! a redirected response the count of the send that answered it, for the OpenTelemetry
//! layer's `http.request.resend_count`.
//!
//! # Errors
//!
//! The layer's own errors are [`RedirectError`]s (boxed as [`BoxError`](crate::BoxError));
//! errors from the inner service pass through unchanged. Classify with
//! [`find_cause`](crate::error::find_cause)`::<RedirectError>` and
//! [`RedirectError::kind`].
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode, header::LOCATION};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt};
//! use towline_layers::{
//!     redirect::{Policy, RedirectHistory, RedirectLayer},
//!     resend::ResendBody,
//!     BoxError, EffectiveUri,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let service = ServiceBuilder::new()
//!     .layer(RedirectLayer::new(Policy::limited(5)).referer(true))
//!     .service_fn(|request: Request<ResendBody<Full<Bytes>>>| async move {
//!         let response = if request.uri().path() == "/old" {
//!             Response::builder()
//!                 .status(StatusCode::MOVED_PERMANENTLY)
//!                 .header(LOCATION, "../new/./page?x=1")
//!                 .body(Full::default())?
//!         } else {
//!             Response::new(Full::new(Bytes::from("new page")))
//!         };
//!         Ok::<_, BoxError>(response)
//!     });
//!
//! let request = Request::get("http://example.test/old").body(Full::default())?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//!
//! let EffectiveUri(url) = response.extensions().get::<EffectiveUri>().ok_or("no url")?;
//! assert_eq!(url, "http://example.test/new/page?x=1");
//! let RedirectHistory(hops) = response.extensions().get::<RedirectHistory>().ok_or("no hops")?;
//! assert_eq!(hops.len(), 1);
//! assert_eq!(hops[0], "http://example.test/old");
//! # Ok(())
//! # }
//! ```

mod error;
mod future;
mod layer;
mod location;
mod policy;
mod service;
#[cfg(test)]
mod tests;

use http::Uri;

pub use self::{
    error::{RedirectError, RedirectErrorKind},
    future::ResponseFuture,
    layer::{DEFAULT_MAX_REPLAY_BODY_BYTES, RedirectLayer},
    policy::{Action, Attempt, Policy},
    service::Redirect,
};
pub use crate::resend::MAX_DRAIN_BYTES;

/// The redirects a response went through: the URIs that answered with the redirects
/// followed, oldest first, starting with the original request's URI. Empty when no redirect
/// was followed. The URI the response itself came from is its
/// [`EffectiveUri`](crate::EffectiveUri).
///
/// [`Redirect`] puts it in the extensions of every response it returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedirectHistory(pub Vec<Uri>);

impl RedirectHistory {
    /// The URIs, oldest first.
    pub fn uris(&self) -> &[Uri] {
        &self.0
    }

    /// How many redirects were followed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no redirect was followed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A URI fragment (the part after `#`, without the `#`), which [`http::Uri`] cannot hold.
///
/// As a request extension it is the fragment of the URI the caller asked for; as a response
/// extension, the fragment in effect for the response's [`EffectiveUri`](crate::EffectiveUri)
/// after the redirects (a `Location` without a fragment keeps the previous one).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fragment(pub String);
