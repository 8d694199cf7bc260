//! A blocking client: the same client, builder and request API, synchronous, as reqwest's
//! `reqwest::blocking` (feature `blocking`).
//!
//! Each [`Client`] owns one tokio runtime with a single worker thread, which runs the
//! asynchronous client (its pool, its connections' tasks, its layers) for every call made
//! through it, so connections stay alive from one call to the next. A call blocks the calling
//! thread until the response head arrives; the body is read as it is consumed — through
//! [`Read`], [`Response::copy_to`] or [`Response::chunk`] — and never held
//! whole unless asked for ([`Response::bytes`], [`Response::text`], [`Response::json`]).
//!
//! As reqwest's blocking client, a client has a total timeout of 30 seconds per request
//! unless the builder says otherwise ([`ClientBuilder::timeout`] with `None` turns it off);
//! it covers reading the body.
//!
//! Calling it from inside an asynchronous runtime would block that runtime's thread: every
//! call checks first and returns a builder error ([`Error::is_builder`]) instead. Use
//! [`crate::Client`] there. Dropping the last clone of a client (and the last response read
//! through it) shuts its runtime thread down.
//!
//! ```no_run
//! # fn main() -> Result<(), towline::Error> {
//! let client = towline::blocking::Client::new();
//! let text = client.get("http://example.com/").send()?.text()?;
//! println!("{text}");
//! # Ok(())
//! # }
//! ```
//!
//! Why a runtime per client rather than one shared by all: a client's connections and their
//! tasks live on its runtime, so they end with it, and one client's calls never wait behind
//! another's. Why tokio: it is the default runtime, and the blocking client is for programs
//! that have no runtime of their own.

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};
use url::Url;

use crate::error::{Error, Result};
use crate::{Body, IntoUrl};

/// reqwest's blocking default: a total timeout of 30 seconds per request.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The runtime a blocking client runs on, and the asynchronous client it drives.
struct Shared {
    client: crate::Client,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Shared {
    /// Runs `future` to completion on the client's runtime, from a thread outside any runtime.
    fn wait<T>(&self, future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        outside_runtime()?;
        match &self.runtime {
            Some(runtime) => runtime.block_on(future),
            None => Err(Error::builder(
                "the blocking client's runtime has shut down",
            )),
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Waiting for the worker thread is not allowed inside a runtime; there it is told
            // to stop and left to end by itself.
            if tokio::runtime::Handle::try_current().is_ok() {
                runtime.shutdown_background();
            } else {
                runtime.shutdown_timeout(Duration::from_secs(5));
            }
        }
    }
}

/// An error unless the calling thread is outside every tokio runtime.
fn outside_runtime() -> Result<()> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::builder(
            "the blocking client was called inside an async runtime, whose thread it would \
             block; use towline::Client there",
        ));
    }
    Ok(())
}

/// Sends a GET request to `url` with a client of the default configuration (reqwest's
/// `reqwest::blocking::get`). A program making several requests should build one [`Client`]
/// and reuse it: each call of this function starts a runtime thread and a connection.
pub fn get(url: impl IntoUrl) -> Result<Response> {
    Client::builder().build()?.get(url).send()
}

/// A blocking HTTP client. Cheap to clone; clones share the runtime, the pool and the
/// layers' state.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::Client")
            .field("client", &self.shared.client)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with the default configuration.
    ///
    /// # Panics
    ///
    /// When the client cannot be built: inside an async runtime, when the runtime thread
    /// cannot be started, or when TLS has no root certificate source. Use
    /// [`Client::builder`] to handle those as errors.
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("the default blocking client can be built")
    }

    /// A builder to configure a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// Starts a GET request.
    pub fn get(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// Starts a HEAD request.
    pub fn head(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// Starts a POST request.
    pub fn post(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// Starts a PUT request.
    pub fn put(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// Starts a PATCH request.
    pub fn patch(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    /// Starts a DELETE request.
    pub fn delete(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// Starts a request with any method (a bad URL is reported by
    /// [`RequestBuilder::send`], as [`crate::Client::request`] does).
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        RequestBuilder {
            inner: self.shared.client.request(method, url),
            shared: self.shared.clone(),
        }
    }

    /// Sends a request built elsewhere ([`RequestBuilder::build`], [`crate::Request::new`]).
    pub fn execute(&self, request: crate::Request) -> Result<Response> {
        let response = self.shared.wait(self.shared.client.execute(request))?;
        Ok(Response::new(response, self.shared.clone()))
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

/// Configures a blocking [`Client`]: the methods of [`crate::ClientBuilder`], with reqwest's
/// blocking default timeout.
#[must_use]
pub struct ClientBuilder {
    inner: crate::ClientBuilder,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::ClientBuilder")
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Builder methods that forward to [`crate::ClientBuilder`]'s of the same name.
macro_rules! forward_builder {
    ($($(#[cfg($cfg:meta)])* fn $name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            $(#[cfg($cfg)])*
            #[doc = concat!("As [`crate::ClientBuilder::", stringify!($name), "`].")]
            pub fn $name(self $(, $arg: $ty)*) -> Self {
                Self { inner: self.inner.$name($($arg),*) }
            }
        )*
    };
}

impl ClientBuilder {
    /// A builder with the default configuration and a 30-second total timeout.
    pub fn new() -> Self {
        Self {
            inner: crate::ClientBuilder::new().timeout(DEFAULT_TIMEOUT),
        }
    }

    /// Builds the client and starts its runtime thread.
    pub fn build(self) -> Result<Client> {
        outside_runtime()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("towline-sync")
            .enable_all()
            .build()
            .map_err(Error::builder)?;
        // The stack is built inside the runtime: its timers and resolver belong to it.
        let client = {
            let _entered = runtime.enter();
            self.inner.build()?
        };
        Ok(Client {
            shared: Arc::new(Shared {
                client,
                runtime: Some(runtime),
            }),
        })
    }

    /// Applies `configure` to the asynchronous builder underneath: any option of
    /// [`crate::ClientBuilder`], including [`layer`](crate::ClientBuilder::layer).
    pub fn configure(
        self,
        configure: impl FnOnce(crate::ClientBuilder) -> crate::ClientBuilder,
    ) -> Self {
        Self {
            inner: configure(self.inner),
        }
    }

    /// The total timeout of each request, its body included; `None` for none (30 seconds by
    /// default).
    pub fn timeout(self, timeout: impl Into<Option<Duration>>) -> Self {
        Self {
            inner: self.inner.total_timeout(timeout.into()),
        }
    }

    /// Sets the `User-Agent` header sent with every request.
    pub fn user_agent<V>(self, value: V) -> Self
    where
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        Self {
            inner: self.inner.user_agent(value),
        }
    }

    /// As [`crate::ClientBuilder::cookie_provider`].
    #[cfg(feature = "cookies")]
    pub fn cookie_provider<C: crate::cookie::CookieStore + 'static>(self, store: Arc<C>) -> Self {
        Self {
            inner: self.inner.cookie_provider(store),
        }
    }

    forward_builder! {
        fn timings(enabled: bool);
        #[cfg(feature = "tracing")]
        fn trace(layer: towline_layers::trace::TraceLayer);
        #[cfg(feature = "otel")]
        fn otel(layer: towline_layers::otel::OtelLayer);
        fn connection_verbose(enabled: bool);
        fn redirect(policy: crate::redirect::Policy);
        fn max_redirects(max: usize);
        fn referer(enabled: bool);
        #[cfg(feature = "cookies")]
        fn cookie_store(enabled: bool);
        #[cfg(feature = "cookies")]
        fn cookie_jar(jar: towline_layers::cookie::CookieJar);
        #[cfg(feature = "hsts")]
        fn hsts(enabled: bool);
        fn no_decompression();
        fn gzip(enabled: bool);
        fn brotli(enabled: bool);
        fn zstd(enabled: bool);
        fn deflate(enabled: bool);
        fn no_gzip();
        fn no_brotli();
        fn no_zstd();
        fn no_deflate();
        #[cfg(feature = "cache")]
        fn cache(cache: towline_layers::cache::HttpCache);
        fn retry(config: crate::RetryConfig);
        #[cfg(feature = "rate-limit")]
        fn max_requests_per_sec(requests: u64);
        #[cfg(feature = "bandwidth")]
        fn max_download_speed(bytes_per_sec: u64);
        #[cfg(feature = "digest-auth")]
        fn digest_auth(username: String, password: String);
        #[cfg(feature = "netrc")]
        fn netrc(enabled: bool);
        #[cfg(feature = "netrc")]
        fn netrc_path(path: std::path::PathBuf);
        fn base_url(url: &str);
        fn default_headers(headers: HeaderMap);
        fn no_default_headers();
        fn attempt_timeout(timeout: Duration);
        fn write_timeout(timeout: Duration);
        fn read_timeout(timeout: Duration);
        fn connect_timeout(timeout: Duration);
        fn pool_acquire_timeout(timeout: Duration);
        fn pool_idle_timeout(timeout: Option<Duration>);
        fn pool_max_idle_per_host(max: usize);
        fn pool_max_connections_per_host(max: usize);
        fn http1_only();
        fn http2_prior_knowledge();
        #[cfg(feature = "http3")]
        fn http3_prior_knowledge();
        #[cfg(feature = "http3")]
        fn http3_config(config: crate::Http3Config);
        fn http1_title_case_headers();
        fn http1_max_header_size(max: usize);
        fn tcp_nodelay(enabled: bool);
        fn tcp_keepalive(idle: Option<Duration>);
        fn local_address(addr: Option<std::net::IpAddr>);
        fn happy_eyeballs_delay(delay: Duration);
        fn unix_socket(path: std::path::PathBuf);
        fn proxy(proxy: crate::Proxy);
        fn no_proxy();
        fn resolve(host: &str, addr: std::net::SocketAddr);
        fn https_only(enabled: bool);
        #[cfg(feature = "rustls")]
        fn add_root_certificate(certificate: crate::Certificate);
        #[cfg(feature = "rustls")]
        fn tls_built_in_root_certs(enabled: bool);
        #[cfg(feature = "rustls")]
        fn identity(identity: crate::Identity);
        #[cfg(feature = "rustls")]
        fn danger_accept_invalid_certs(enabled: bool);
        fn max_body_size(max: u64);
    }
}

/// A request being built for a blocking [`Client`]: the methods of
/// [`crate::RequestBuilder`], sent with [`send`](Self::send).
#[must_use]
pub struct RequestBuilder {
    inner: crate::RequestBuilder,
    shared: Arc<Shared>,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::RequestBuilder")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// Request-builder methods that forward to [`crate::RequestBuilder`]'s of the same name.
macro_rules! forward_request {
    ($($(#[cfg($cfg:meta)])* fn $name:ident$(<$($generic:ident: $bound:path),*>)?($($arg:ident: $ty:ty),*);)*) => {
        $(
            $(#[cfg($cfg)])*
            #[doc = concat!("As [`crate::RequestBuilder::", stringify!($name), "`].")]
            pub fn $name$(<$($generic: $bound),*>)?(self $(, $arg: $ty)*) -> Self {
                Self { inner: self.inner.$name($($arg),*), shared: self.shared }
            }
        )*
    };
}

impl RequestBuilder {
    /// Adds a header (a bad name or value is reported by [`send`](Self::send)).
    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        Self {
            inner: self.inner.header(name, value),
            shared: self.shared,
        }
    }

    /// As [`crate::RequestBuilder::query`].
    pub fn query<T: serde::Serialize + ?Sized>(self, query: &T) -> Self {
        Self {
            inner: self.inner.query(query),
            shared: self.shared,
        }
    }

    /// As [`crate::RequestBuilder::form`].
    pub fn form<T: serde::Serialize + ?Sized>(self, form: &T) -> Self {
        Self {
            inner: self.inner.form(form),
            shared: self.shared,
        }
    }

    /// As [`crate::RequestBuilder::json`].
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(self, json: &T) -> Self {
        Self {
            inner: self.inner.json(json),
            shared: self.shared,
        }
    }

    /// Sets the body: bytes, a string, or any [`Body`].
    pub fn body(self, body: impl Into<Body>) -> Self {
        Self {
            inner: self.inner.body(body),
            shared: self.shared,
        }
    }

    /// As [`crate::RequestBuilder::bearer_auth`].
    pub fn bearer_auth(self, token: impl fmt::Display) -> Self {
        Self {
            inner: self.inner.bearer_auth(token),
            shared: self.shared,
        }
    }

    /// As [`crate::RequestBuilder::basic_auth`].
    pub fn basic_auth(
        self,
        username: impl fmt::Display,
        password: Option<impl fmt::Display>,
    ) -> Self {
        Self {
            inner: self.inner.basic_auth(username, password),
            shared: self.shared,
        }
    }

    forward_request! {
        fn headers(headers: HeaderMap);
        #[cfg(feature = "multipart")]
        fn multipart(form: crate::multipart::Form);
        #[cfg(feature = "digest-auth")]
        fn digest_auth(username: String, password: String);
        fn timeout(timeout: Duration);
        fn attempt_timeout(timeout: Duration);
        fn write_timeout(timeout: Duration);
        fn version(version: Version);
        fn retry(config: crate::RetryConfig);
        fn no_decompression();
    }

    /// The request, without sending it.
    pub fn build(self) -> Result<crate::Request> {
        self.inner.build()
    }

    /// A copy of this builder, unless its body is a stream.
    pub fn try_clone(&self) -> Option<Self> {
        Some(Self {
            inner: self.inner.try_clone()?,
            shared: self.shared.clone(),
        })
    }

    /// Sends the request and waits for the response head.
    pub fn send(self) -> Result<Response> {
        let response = self.shared.wait(self.inner.send())?;
        Ok(Response::new(response, self.shared))
    }
}

/// A response to a blocking request. Its body is read as it is consumed; it implements
/// [`Read`].
pub struct Response {
    inner: crate::Response,
    /// Bytes of the last chunk not read yet.
    pending: Bytes,
    shared: Arc<Shared>,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::Response")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Response {
    fn new(inner: crate::Response, shared: Arc<Shared>) -> Self {
        Self {
            inner,
            pending: Bytes::new(),
            shared,
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.inner.version()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The headers, mutably.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.inner.headers_mut()
    }

    /// The body's length, when the server announced it.
    pub fn content_length(&self) -> Option<u64> {
        self.inner.content_length()
    }

    /// The URL the response came from (after redirects).
    pub fn url(&self) -> &Url {
        self.inner.url()
    }

    /// The server's address, when known.
    pub fn remote_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.remote_addr()
    }

    /// The response's extensions.
    pub fn extensions(&self) -> &http::Extensions {
        self.inner.extensions()
    }

    /// An error for a status of 400 or more, the response otherwise.
    pub fn error_for_status(self) -> Result<Self> {
        let Self {
            inner,
            pending,
            shared,
        } = self;
        Ok(Self {
            inner: inner.error_for_status()?,
            pending,
            shared,
        })
    }

    /// An error for a status of 400 or more, the response otherwise.
    pub fn error_for_status_ref(&self) -> Result<&Self> {
        self.inner.error_for_status_ref()?;
        Ok(self)
    }

    /// The next chunk of the body; `None` at its end.
    pub fn chunk(&mut self) -> Result<Option<Bytes>> {
        if !self.pending.is_empty() {
            return Ok(Some(std::mem::take(&mut self.pending)));
        }
        let shared = self.shared.clone();
        shared.wait(self.inner.chunk())
    }

    /// The whole body.
    pub fn bytes(mut self) -> Result<Bytes> {
        let pending = std::mem::take(&mut self.pending);
        let rest = self.shared.clone().wait(self.inner.bytes())?;
        if pending.is_empty() {
            return Ok(rest);
        }
        let mut whole = Vec::with_capacity(pending.len() + rest.len());
        whole.extend_from_slice(&pending);
        whole.extend_from_slice(&rest);
        Ok(Bytes::from(whole))
    }

    /// The whole body as text, decoded with the charset of `Content-Type` (UTF-8 by default).
    pub fn text(self) -> Result<String> {
        if self.pending.is_empty() {
            let shared = self.shared.clone();
            return shared.wait(self.inner.text());
        }
        let bytes = self.bytes()?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The whole body, deserialized from JSON.
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(self) -> Result<T> {
        let bytes = self.bytes()?;
        serde_json::from_slice(&bytes).map_err(Error::decode)
    }

    /// Copies the rest of the body into `writer`, a chunk at a time; returns the bytes
    /// copied.
    pub fn copy_to<W: Write + ?Sized>(&mut self, writer: &mut W) -> Result<u64> {
        let mut copied = 0u64;
        while let Some(chunk) = self.chunk()? {
            writer.write_all(&chunk).map_err(Error::body)?;
            copied = copied.saturating_add(chunk.len() as u64);
        }
        Ok(copied)
    }
}

impl Read for Response {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pending.is_empty() {
            let shared = self.shared.clone();
            match shared.wait(self.inner.chunk()) {
                Ok(Some(chunk)) => self.pending = chunk,
                Ok(None) => return Ok(0),
                Err(error) => return Err(io::Error::other(error)),
            }
        }
        let len = buf.len().min(self.pending.len());
        self.pending
            .copy_to_slice(buf.get_mut(..len).unwrap_or_default());
        Ok(len)
    }
}
