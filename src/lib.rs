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
//! let text = client.get("https://example.com/").send().await?.text().await?;
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
//! | `hickory-dns` | no | `ClientBuilder::hickory_dns` and `dns::HickoryResolver`: hickory-dns with the system's or explicit name servers and a TTL cache (tokio only); `hickory-dns-over-tls` and `hickory-dns-over-https` add encrypted name servers |
//! | `smol` | no | the smol runtime and `SmolClient` (without `tokio`, the default runtime); a smol-only build links no part of tokio's runtime |
//! | `rustls-ring` | yes | rustls with the *ring* provider |
//! | `rustls-aws-lc-rs` | no | rustls with aws-lc-rs (wins over *ring* when both are on) |
//! | `webpki-roots` | yes | trust the Mozilla roots bundled at build time |
//! | `rustls-native-roots` | no | trust the operating system's roots |
//! | `json` | yes | [`RequestBuilder::json`], [`Response::json`], [`problem`] ([`Response::problem`]) |
//! | `charset` | yes | [`Response::text`] decodes any charset (UTF-8 only without it) |
//! | `gzip`, `deflate`, `brotli`, `zstd` | yes | the response decompression codecs (the decompression layer is always in the stack; with no codec it sends no `Accept-Encoding`) |
//! | `cookies` | yes | `cookie_store`, `cookie_jar`, `cookie_provider`, [`cookie`], [`Response::cookies`] (`cookie_store` and the public suffix list) |
//! | `hsts` | yes | `hsts`, `hsts_store` |
//! | `cache` | yes | `cache`, `HttpCache`, `CacheStatus` (`http-cache-semantics`) |
//! | `rate-limit` | yes | `rate_limiter`, `max_requests_per_sec`, `RateLimiter` |
//! | `bandwidth` | yes | `bandwidth_limiter`, `max_download_speed`, `BandwidthLimiter` |
//! | `tracing` | yes | `trace` (`tracing` spans), `connection_verbose` |
//! | `sse` | yes | [`Response::sse`], [`sse`]: Server-Sent Events |
//! | `websocket` | yes | [`websocket`]: the WebSocket handshake over HTTP/1.1 and HTTP/2 (`sha1`, `getrandom`); upgrades themselves ([`Response::upgrade`]) are always there |
//! | `digest-auth` | yes | `ClientBuilder::digest_auth`, `RequestBuilder::digest_auth`: Digest answers to 401, to a forward proxy's 407 and to a `CONNECT` tunnel's 407 |
//! | `netrc` | yes | `ClientBuilder::netrc`, `netrc_path`: credentials from a netrc file |
//! | `multipart` | no | `RequestBuilder::multipart`, `multipart`: `multipart/form-data` bodies, files streamed from disk |
//! | `download` | no | `Client::download`, `download`: parallel, resumable range downloads to a file |
//! | `blocking` | no | `blocking`: a synchronous client (reqwest's `reqwest::blocking`) on a runtime thread of its own |
//! | `otel` | no | `otel`: OpenTelemetry client spans per attempt, W3C propagation, HTTP client and pool metrics (the `opentelemetry` API crate only) |
//! | `http3` | no | HTTP/3 over QUIC (`quinn`, `h3`): `ClientBuilder::http3_prior_knowledge`, `ClientBuilder::http3_config`, `ClientBuilder::alt_svc` (HTTP/3 learned from `Alt-Svc`, racing TCP), `RequestBuilder::version(Version::HTTP_3)` for `https` URLs, pooled and shared like HTTP/2 |
//!
//! Feature names follow reqwest's where reqwest has the feature (`json`, `cookies`, `gzip`,
//! `brotli`, `zstd`, `deflate`, `charset`), and reqwest's other names are accepted so a
//! `Cargo.toml` ports unchanged:
//!
//! | reqwest's feature | in towline |
//! |---|---|
//! | `default-tls`, `rustls-tls`, `rustls-tls-webpki-roots` | `rustls-ring` + `webpki-roots` (rustls is towline's only TLS) |
//! | `rustls-tls-native-roots` | `rustls-ring` + `rustls-native-roots` |
//! | `rustls-tls-manual-roots` | `rustls-ring` alone (add roots with [`ClientBuilder::add_root_certificate`]) |
//! | `native-roots` | `rustls-native-roots` |
//! | `stream`, `http2`, `socks` | nothing: streaming bodies, HTTP/2 and SOCKS proxies are always there |
//!
//! `native-tls` is not a feature (rustls is towline's only TLS); `MIGRATING.md` says what to
//! use instead.
//!
//! Unlike reqwest, every layer and codec is on by default: towline's stack is the point of
//! it, and decompression is on in the default client.
//! A minimal build — `default-features = false, features = ["tokio"]` (add `rustls-ring` and
//! `webpki-roots` for TLS) — compiles no zstd C library, no brotli, no public suffix list and
//! no cache semantics; timeouts, redirects, retries and timings are always there.

#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(any(feature = "tokio", feature = "smol")))]
compile_error!("towline needs a runtime: enable the `tokio` or the `smol` feature");

#[cfg(feature = "blocking")]
pub mod blocking;
#[cfg(any(feature = "multipart", feature = "download"))]
mod blocking_pool;
mod body;
mod built_request;
mod client;
#[cfg(feature = "cookies")]
pub mod cookie;
#[cfg(feature = "download")]
pub mod download;
mod error;
pub mod forward;
pub mod forwarded;
mod header_syntax;
mod into_url;
pub mod link;
#[cfg(feature = "multipart")]
pub mod multipart;
#[cfg(feature = "json")]
pub mod problem;
pub mod progress;
pub mod redirect;
mod request;
mod response;
#[cfg(feature = "sse")]
pub mod sse;
#[cfg(feature = "rustls")]
pub mod tls;
pub mod upgrade;
#[cfg(feature = "websocket")]
pub mod websocket;

/// Name resolution: a resolver of your own for [`ClientBuilder::dns_resolver`], in the shape
/// reqwest's `dns` module has, and the address families of [`ClientBuilder::ip_strategy`].
pub mod dns {
    pub use towline_services::connect::dns::{Addrs, IpStrategy, Name, Resolve, Resolving};
    #[cfg(feature = "hickory-dns")]
    pub use towline_services::connect::hickory::{HickoryConfig, HickoryResolver, NameServer};
}

pub use body::{Body, ResponseBody};
pub use built_request::Request;
pub use client::Client;
#[cfg(any(feature = "tokio", feature = "smol"))]
pub use client::builder::DefaultRuntime;
pub use client::builder::{ClientBuilder, DEFAULT_USER_AGENT};
pub use client::stack::HttpService;
pub use error::{BoxError, Error, Result, error_type};
pub use into_url::IntoUrl;
pub use request::RequestBuilder;
pub use response::{BytesStream, Response};
#[cfg(feature = "rustls")]
pub use tls::{Certificate, Identity, TlsVersion};
pub use upgrade::Upgraded;

pub use http::{self, HeaderMap, Method, StatusCode, Uri, Version, header};
pub use towline_layers;
#[cfg(feature = "bandwidth")]
pub use towline_layers::bandwidth::BandwidthLimiter;
#[cfg(feature = "cache")]
pub use towline_layers::cache::{CacheStatus, HttpCache};
#[cfg(feature = "rate-limit")]
pub use towline_layers::rate_limit::RateLimiter;
pub use towline_layers::retry::{Jitter, RetryBudget, RetryConfig, RetryCount};
pub use towline_services;
#[cfg(feature = "http3")]
pub use towline_services::alt_svc::{AltEndpoint, AltSvcCache, AltSvcEntry};
pub use towline_services::connect::proxy::{NoProxy, Proxy, ProxyUrl};
#[cfg(feature = "http3")]
pub use towline_services::transport::{CongestionController, Http3Config};
pub use towline_services::transport::{ConnectionInfo, Http1Config, Http2Config};
pub use url::{self, Url};

/// Sends a GET request to `url` on a new default [`Client`] and returns the response.
///
/// A shortcut for one-off requests: each call builds a client, so nothing (connections,
/// cookies, the HSTS store) is shared between calls. Build a [`Client`] once and reuse it to
/// send more than one request.
///
/// # Errors
///
/// As [`RequestBuilder::send`]: a bad URL is a builder error ([`Error::is_builder`]), found
/// before any socket opens; then connect, timeout and transport errors. An error status
/// (4xx, 5xx) is not an error. Where [`Client::new`] would panic (TLS enabled with no root
/// certificate source), this returns that error instead.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), towline::Error> {
/// let body = towline::get("https://example.com/").await?.text().await?;
/// println!("{body}");
/// # Ok(())
/// # }
/// ```
#[cfg(any(feature = "tokio", feature = "smol"))]
pub async fn get<U: IntoUrl>(url: U) -> Result<Response> {
    Client::builder().build()?.get(url).send().await
}

/// A client on the tokio runtime: [`Client`], whose `new` and `builder` use tokio.
#[cfg(feature = "tokio")]
pub type TokioClient = Client;

/// A client builder on the tokio runtime.
#[cfg(feature = "tokio")]
pub type TokioClientBuilder = ClientBuilder<towline_services::rt::tokio::TokioRuntime>;

/// A client builder on the smol runtime.
#[cfg(feature = "smol")]
pub type SmolClientBuilder = ClientBuilder<towline_services::rt::smol::SmolRuntime>;

/// The constructors of a [`Client`] on the smol runtime. The client type is the same on every
/// runtime (the runtime is chosen when the client is built), so this names only where it is
/// built: `SmolClient::new()` inside `smol::block_on`, or `SmolClient::builder()` for the
/// options.
///
/// ```
/// # #[cfg(feature = "smol")]
/// smol::block_on(async {
///     let client: towline::Client = towline::SmolClient::new();
///     # let _ = client;
/// });
/// ```
///
/// Background tasks (connection drivers, the pool's reaper) run on smol's global executor,
/// or on one of the application's:
/// `ClientBuilder::with_runtime(SmolRuntime::with_executor(executor))`.
#[cfg(feature = "smol")]
#[derive(Debug, Clone, Copy)]
pub struct SmolClient;

#[cfg(feature = "smol")]
impl SmolClient {
    /// A client with the default configuration on smol.
    ///
    /// # Panics
    ///
    /// As [`Client::new`]: when the TLS configuration cannot be built. Use
    /// [`builder`](Self::builder) and handle the error instead.
    #[allow(clippy::new_ret_no_self, clippy::expect_used)]
    pub fn new() -> Client {
        Self::builder()
            .build()
            .expect("the default client configuration is valid")
    }

    /// A builder on smol.
    pub fn builder() -> SmolClientBuilder {
        ClientBuilder::with_runtime(towline_services::rt::smol::SmolRuntime::default())
    }
}
