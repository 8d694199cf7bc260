//! HTTP Digest authentication (RFC 7616) for origin servers and proxies.
//!
//! [`DigestAuthLayer`] answers a `401` whose `WWW-Authenticate` offers a Digest challenge
//! with `Authorization`, and a `407` whose `Proxy-Authenticate` does with
//! `Proxy-Authorization`, by sending the request again:
//!
//! - **Challenges.** Every header value and every challenge in it is parsed
//!   ([`parse_challenges`](crate::auth::parse_challenges)); among the Digest challenges it can
//!   answer, the layer takes the strongest algorithm (SHA-512-256 > SHA-256 > MD5, each
//!   also `-sess`). A challenge naming an unknown algorithm is never answered with another
//!   one: with nothing it can answer, the `401` is returned as it is.
//! - **qop.** `auth`, or `auth-int` when it is the only one offered, or both are and the
//!   body is buffered (its exact length is known and within the replay cap); the body hash
//!   is computed from a replay of the body. Without qop (RFC 2069) the old formula is
//!   used. `userhash=true`, `charset=UTF-8` (a non-ASCII user name goes in `username*`)
//!   and `opaque` are honoured; `cnonce` is 16 bytes from the operating system's CSPRNG.
//! - **One answer.** A second `401` to an answer is returned as it is, unless it says
//!   `stale=true`: then the request is sent once more with the new nonce.
//! - **Nonce counts and preemptive answers.** The layer keeps, per protection space (origin
//!   and realm; for the proxy, realm), the last challenge answered and the `nc` of its
//!   most recent nonces (bounded: [`MAX_NONCES`] per space,
//!   [`MAX_SPACES`] spaces). Once an answer succeeded, later requests
//!   in that space (the challenge's `domain` list, else the whole origin) carry an answer
//!   at once, with the next `nc`, saving a round trip. A refused preemptive answer is
//!   forgotten and the new challenge answered.
//! - **Credentials.** A request's own [`DigestCredentials`] (the `towline` client's
//!   `RequestBuilder::digest_auth`) are bound to the origin they were given for and win;
//!   then the layer's ([`DigestAuthLayer::new`]); then those a netrc layer above found for
//!   the request's host ([`NetrcCredentials`](crate::auth::NetrcCredentials)). An
//!   `Authorization` header set by the caller wins over all of them, and the layer never
//!   answers for it. Under a redirect layer each hop passes through this layer, so request
//!   credentials are never sent to another origin, and everything cached is keyed by
//!   origin. The layer's own credentials answer any origin a request is addressed to, but
//!   not one a redirect brought it to
//!   ([`CrossOriginRedirect`](crate::CrossOriginRedirect)).
//! - **Proxies.** With [`DigestAuthLayer::proxy_credentials`] (or
//!   [`proxy_credentials_with`](DigestAuthLayer::proxy_credentials_with), per request: the
//!   `towline` client hands it the credentials of the proxy each request is routed to), a
//!   proxy's `407` (an HTTP proxy forwarding absolute-form requests) is answered in
//!   `Proxy-Authorization`; a `Proxy-Authorization` the caller set wins. A `CONNECT`
//!   tunnel's `407` is the connector's.
//! - **Bodies.** The layer takes `Request<ResendBody<B>>` and hands on the same type (see
//!   [`resend`](crate::resend)): a body is recorded up to
//!   [`max_replay_bytes`](DigestAuthLayer::max_replay_bytes) (a body a retry layer above
//!   already records is replayed from that recording). A body that cannot be sent again
//!   ends the exchange with the `401` returned, never with an empty body sent.
//!
//! A request the layer has no credentials for is passed through: no copy, no allocation.
//! A request it has credentials for costs a copy of its head and one allocation, and a
//! body replay handle when it has a body, until a challenge comes.
//!
//! The digest computation is written here rather than taken from a crate: the crates that
//! compute Digest answers (`digest_auth`, `digest-access`, `http-auth`) each answer one
//! challenge a caller holds, while this layer needs nonce counts shared by every request
//! and keyed by protection space, the strongest of several challenges across header values,
//! a body hash read from a replay, and the one challenge parser the netrc layer and the
//! `407` path share. The RFC 7616 formulas themselves are a few lines over the hashes.
//! Hashes are RustCrypto's `md-5` and `sha2`; `cnonce` comes from `getrandom`.
//!
//! Cookies a server sets with its challenge must go back with the answer when the server
//! ties its nonce to a session (httpbin's `/digest-auth` stale-nonce path and its
//! `?require-cookie=1`): put a cookie layer *below* this layer, so that each answer passes
//! through it, as the `towline` client does.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http::{header, Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt};
//! use towline_layers::{
//!     auth::{digest::DigestAuthLayer, Credentials},
//!     resend::ResendBody,
//!     BoxError,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let service = ServiceBuilder::new()
//!     .layer(DigestAuthLayer::new(Credentials::new("Mufasa", "Circle of Life")))
//!     .service_fn(|request: Request<ResendBody<Full<Bytes>>>| async move {
//!         // A server that challenges any request without an answer.
//!         let response = match request.headers().get(header::AUTHORIZATION) {
//!             Some(answer) => {
//!                 assert!(answer.to_str()?.starts_with("Digest username=\"Mufasa\""));
//!                 Response::new(Full::new(Bytes::from("welcome")))
//!             }
//!             None => Response::builder()
//!                 .status(StatusCode::UNAUTHORIZED)
//!                 .header(
//!                     header::WWW_AUTHENTICATE,
//!                     r#"Digest realm="zoo", qop="auth", nonce="n", algorithm=SHA-256"#,
//!                 )
//!                 .body(Full::default())?,
//!         };
//!         Ok::<_, BoxError>(response)
//!     });
//!
//! let request = Request::get("http://zoo.test/").body(ResendBody::new(Full::default()))?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```

mod algorithm;
mod cache;
mod future;
mod layer;
mod service;
#[cfg(test)]
mod tests;
mod tunnel;

use std::sync::Arc;

use http::Uri;

pub use self::{
    algorithm::{Algorithm, DigestChallenge, Qop},
    cache::{MAX_NONCES, MAX_SPACES},
    future::ResponseFuture,
    layer::{DEFAULT_MAX_REPLAY_BYTES, DigestAuthLayer},
    service::DigestAuth,
    tunnel::tunnel_authorization,
};
use super::{Credentials, Origin};

/// Digest credentials for one request, in its extensions (what the `towline` client's
/// `RequestBuilder::digest_auth` inserts). They win over the layer's.
#[derive(Clone, Debug)]
pub struct DigestCredentials {
    credentials: Arc<Credentials>,
    origin: Option<Origin>,
}

impl DigestCredentials {
    /// Credentials bound to `uri`'s origin: a redirect to another origin does not get them.
    /// For a URI without scheme or host they are bound to no origin (see [`any_origin`]).
    ///
    /// [`any_origin`]: Self::any_origin
    pub fn for_uri(credentials: Credentials, uri: &Uri) -> Self {
        Self {
            credentials: Arc::new(credentials),
            origin: Origin::of(uri),
        }
    }

    /// Credentials answering any origin this request reaches, redirects included.
    pub fn any_origin(credentials: Credentials) -> Self {
        Self {
            credentials: Arc::new(credentials),
            origin: None,
        }
    }

    /// The credentials, if they may answer a challenge from `uri`'s origin.
    pub fn get(&self, uri: &Uri) -> Option<&Arc<Credentials>> {
        match &self.origin {
            Some(origin) if !origin.matches(uri) => None,
            _ => Some(&self.credentials),
        }
    }
}
