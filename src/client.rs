//! The client facade: [`Client`], its [`ClientBuilder`] and the [`RequestBuilder`].
//!
//! The builder assembles the stack once with `ServiceBuilder` — timeouts over the pooled
//! transport (more layers join as they are configured) — and erases it once; every request
//! then costs one boxed future at this level. Layers added with [`ClientBuilder::layer`]
//! wrap the whole stack, the first added outermost, each behind one more box.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use http::{HeaderMap, Method, Request, Uri, Version};
use http_body_util::{BodyExt, Either as EitherBody};
use tower::util::{BoxCloneSyncService, Either, MapResponse};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use towline_layers::bandwidth::{BandwidthLayer, BandwidthLimiter};
use towline_layers::cache::{CacheLayer, HttpCache};
use towline_layers::cookie::{CookieJar, CookieLayer};
use towline_layers::decompression::{DecompressionLayer, NoDecompression};
use towline_layers::exec::SharedExecutor;
use towline_layers::hsts::{HstsLayer, HstsStore};
use towline_layers::rate_limit::{RateLimitLayer, RateLimiter};
use towline_layers::redirect::{Policy, RedirectBody, RedirectLayer};
use towline_layers::retry::{RetryBody, RetryConfig, RetryLayer};
use towline_layers::timeout::{RequestTimeout, TimeoutLayer};
use towline_layers::timings::{TimingsLayer, TransportPhases};
use towline_layers::trace::TraceLayer;
use towline_services::connect::{HttpConnector, Protocol, ResolveOverrides, TcpConfig};
use towline_services::rt::{Exec, Runtime};
use towline_services::transport::{
    ConnectionInfo, Http1Config, Http2Config, Transport, TransportConfig,
};

use crate::body::{Body, ResponseBody};
use crate::error::{BoxError, Error, Result, retry_class};
use crate::response::Response;
#[cfg(feature = "rustls")]
use crate::tls::{Certificate, Identity, TlsVersion};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type SendFn = Arc<
    dyn Fn(Request<Body>) -> BoxFuture<std::result::Result<http::Response<ResponseBody>, BoxError>>
        + Send
        + Sync,
>;

/// The stack as user layers see it: a clonable, boxed service.
pub type HttpService = BoxCloneSyncService<Request<Body>, http::Response<ResponseBody>, BoxError>;

type LayerFn = Arc<dyn Fn(HttpService) -> HttpService + Send + Sync>;
/// Makes a limiter on the runtime's timer, which the builder knows only at `build`.
type MakeLimiter<L> = Box<dyn FnOnce(towline_layers::time::SharedTimer) -> Result<L> + Send + Sync>;

/// An HTTP client on runtime `R`. Cheap to clone; clones share the connection pool.
///
/// Use the runtime aliases, e.g. [`TokioClient`](crate::TokioClient).
pub struct Client<R> {
    inner: Arc<ClientRef>,
    _runtime: PhantomData<fn() -> R>,
}

struct ClientRef {
    send: SendFn,
    default_headers: HeaderMap,
    https_only: bool,
    max_body_size: Option<u64>,
}

impl<R> Clone for Client<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            _runtime: PhantomData,
        }
    }
}

impl<R> fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("default_headers", &self.inner.default_headers)
            .field("https_only", &self.inner.https_only)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime + Default> Default for Client<R> {
    fn default() -> Self {
        Self::new()
    }
}

/// Something that parses into a request URL.
pub trait IntoUrl {
    /// Parses the URL; only `http` and `https` URLs with a host are accepted.
    fn into_url(self) -> Result<url::Url>;

    /// The URL and the request target it is sent as, each parsed once.
    #[doc(hidden)]
    fn into_url_and_uri(self) -> Result<(url::Url, Uri)>
    where
        Self: Sized,
    {
        let url = self.into_url()?;
        let uri = request_uri(&url)?;
        Ok((url, uri))
    }
}

/// The request target `url` is sent as. The URL standard allows characters in a host (`"`,
/// `{`) that an HTTP request target cannot carry; such URLs are refused here rather than
/// when sending.
fn request_uri(url: &url::Url) -> Result<Uri> {
    Uri::try_from(url.as_str()).map_err(|e| Error::builder(format!("URL cannot be sent: {e}")))
}

impl IntoUrl for url::Url {
    fn into_url(self) -> Result<url::Url> {
        self.into_url_and_uri().map(|(url, _)| url)
    }

    fn into_url_and_uri(self) -> Result<(url::Url, Uri)> {
        if !matches!(self.scheme(), "http" | "https") {
            return Err(Error::builder(format!(
                "URL scheme {:?} is not http or https",
                self.scheme()
            )));
        }
        if !self.has_host() || self.host_str() == Some("") {
            return Err(Error::builder("URL has no host"));
        }
        let uri = request_uri(&self)?;
        Ok((self, uri))
    }
}

impl IntoUrl for &str {
    fn into_url(self) -> Result<url::Url> {
        self.into_url_and_uri().map(|(url, _)| url)
    }

    fn into_url_and_uri(self) -> Result<(url::Url, Uri)> {
        // The URL standard skips extra slashes (`http:///host` parses as `http://host/`);
        // a client must not guess which host was meant, so the authority must be explicit.
        let after_scheme = self.split_once(':').map_or("", |(_, rest)| rest);
        let authority_start = after_scheme
            .strip_prefix("//")
            .and_then(|rest| rest.chars().next());
        // Error messages never quote the input: it may carry credentials.
        if matches!(authority_start, None | Some('/' | '\\' | '?' | '#')) {
            return Err(Error::builder("invalid URL: no host after the scheme"));
        }
        url::Url::parse(self)
            .map_err(|e| Error::builder(format!("invalid URL: {e}")))?
            .into_url_and_uri()
    }
}

impl IntoUrl for String {
    fn into_url(self) -> Result<url::Url> {
        self.as_str().into_url()
    }

    fn into_url_and_uri(self) -> Result<(url::Url, Uri)> {
        self.as_str().into_url_and_uri()
    }
}

impl IntoUrl for &String {
    fn into_url(self) -> Result<url::Url> {
        self.as_str().into_url()
    }

    fn into_url_and_uri(self) -> Result<(url::Url, Uri)> {
        self.as_str().into_url_and_uri()
    }
}

impl<R: Runtime + Default> Client<R> {
    /// A client with the default configuration.
    ///
    /// # Panics
    ///
    /// When the default configuration cannot be built, which happens only when TLS is
    /// enabled with no root certificate source (neither `webpki-roots` nor
    /// `rustls-native-roots`); use [`Client::builder`] to handle that as an error.
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("the default client configuration is valid")
    }

    /// A builder to configure a client.
    pub fn builder() -> ClientBuilder<R> {
        ClientBuilder::new()
    }
}

impl<R: 'static> Client<R> {
    /// Starts a GET request.
    pub fn get(&self, url: impl IntoUrl) -> Result<RequestBuilder<R>> {
        self.request(Method::GET, url)
    }

    /// Starts a HEAD request.
    pub fn head(&self, url: impl IntoUrl) -> Result<RequestBuilder<R>> {
        self.request(Method::HEAD, url)
    }

    /// Starts a POST request.
    pub fn post(&self, url: impl IntoUrl) -> Result<RequestBuilder<R>> {
        self.request(Method::POST, url)
    }

    /// Starts a PUT request.
    pub fn put(&self, url: impl IntoUrl) -> Result<RequestBuilder<R>> {
        self.request(Method::PUT, url)
    }

    /// Starts a PATCH request.
    pub fn patch(&self, url: impl IntoUrl) -> Result<RequestBuilder<R>> {
        self.request(Method::PATCH, url)
    }

    /// Starts a DELETE request.
    pub fn delete(&self, url: impl IntoUrl) -> Result<RequestBuilder<R>> {
        self.request(Method::DELETE, url)
    }

    /// Starts a request with any method. The URL is checked here, before any socket opens.
    pub fn request(&self, method: Method, url: impl IntoUrl) -> Result<RequestBuilder<R>> {
        // The request target drops the fragment by itself; it changes only when
        // credentials are taken out of the URL below.
        let (mut url, mut uri) = url.into_url_and_uri()?;
        url.set_fragment(None);
        let credentials = (!url.username().is_empty()).then(|| {
            let decode = |part: &str| {
                percent_encoding::percent_decode_str(part)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(url.username()), url.password().map(decode))
        });
        // Credentials in the URL become Basic auth, as curl and browsers do; they are
        // removed from the URL so they never reach logs or the request line.
        if credentials.is_some() || url.password().is_some() {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            uri = request_uri(&url)?;
        }
        let builder = RequestBuilder {
            client: self.clone(),
            method,
            url,
            uri: Some(uri),
            headers: HeaderMap::new(),
            body: Body::empty(),
            version: None,
            timeout: None,
            extensions: http::Extensions::new(),
            error: None,
        };
        Ok(match credentials {
            Some((username, password)) => builder.basic_auth(username, password),
            None => builder,
        })
    }

    /// Sends a request built elsewhere (e.g. with [`RequestBuilder::build`]).
    pub fn execute(
        &self,
        request: Request<Body>,
    ) -> impl Future<Output = Result<Response>> + Send + 'static + use<R> {
        let inner = self.inner.clone();
        async move {
            let uri = request.uri().clone();
            let request = inner
                .prepare(request)
                .map_err(|e| e.with_uri(uri.clone()))?;
            let response = (inner.send)(request)
                .await
                .map_err(|e| Error::from_service(e).with_uri(uri.clone()))?;
            Ok(Response::new(response, uri, inner.max_body_size))
        }
    }
}

impl ClientRef {
    fn prepare(&self, mut request: Request<Body>) -> Result<Request<Body>> {
        match request.uri().scheme_str() {
            Some("https") => {}
            Some("http") if self.https_only => {
                return Err(Error::builder("https_only is set and the URL is http"));
            }
            Some("http") => {}
            Some(other) => {
                return Err(Error::builder(format!(
                    "URL scheme {other:?} is not http or https"
                )));
            }
            None => return Err(Error::builder("request URI is not absolute")),
        }
        #[cfg(not(feature = "rustls"))]
        if request.uri().scheme_str() == Some("https") {
            return Err(Error::builder("https needs the `rustls` feature"));
        }
        if request.uri().host().is_none_or(str::is_empty) {
            return Err(Error::builder("URL has no host"));
        }
        if request.headers().is_empty() {
            // The usual case: one copy of the defaults beats hashing each one in.
            request.headers_mut().clone_from(&self.default_headers);
            return Ok(request);
        }
        let mut last = None;
        for (name, value) in &self.default_headers {
            if last.as_ref() == Some(name) || !request.headers().contains_key(name) {
                request.headers_mut().append(name.clone(), value.clone());
                last = Some(name.clone());
            }
        }
        Ok(request)
    }
}

impl<R: 'static, B> Service<Request<B>> for Client<R>
where
    B: http_body::Body + Send + 'static,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<ResponseBody>;
    type Error = Error;
    type Future = BoxFuture<Result<Self::Response>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let response = self.execute(request.map(Body::wrap));
        Box::pin(async move { response.await.map(Response::into_http) })
    }
}

/// Boxes a response body into the facade's [`ResponseBody`].
fn erase_body<B>(response: http::Response<B>) -> http::Response<ResponseBody>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    response.map(|body| body.map_err(Into::into).boxed_unsync())
}

/// `inner` under `layer` when it is configured, with the body erased again; `inner` alone
/// otherwise.
#[allow(clippy::type_complexity)]
fn optional<L, S, LB>(
    layer: Option<L>,
    inner: S,
) -> Either<MapResponse<L::Service, fn(http::Response<LB>) -> http::Response<ResponseBody>>, S>
where
    L: Layer<S>,
    L::Service: Service<Request<Body>, Response = http::Response<LB>>,
    LB: http_body::Body<Data = Bytes> + Send + 'static,
    LB::Error: Into<BoxError>,
{
    match layer {
        Some(layer) => Either::Left(MapResponse::new(
            layer.layer(inner),
            erase_body::<LB> as fn(_) -> _,
        )),
        None => Either::Right(inner),
    }
}

/// `inner` under `layer` when it is configured, `inner` alone otherwise; both answer with
/// an [`http_body_util::Either`] body, so a layer deep in the stack costs no box.
#[allow(clippy::type_complexity)]
fn optional_body<L, S, ReqB, LB, SB>(
    layer: Option<L>,
    inner: S,
) -> Either<
    MapResponse<L::Service, fn(http::Response<LB>) -> http::Response<EitherBody<LB, SB>>>,
    MapResponse<S, fn(http::Response<SB>) -> http::Response<EitherBody<LB, SB>>>,
>
where
    L: Layer<S>,
    L::Service: Service<Request<ReqB>, Response = http::Response<LB>>,
    S: Service<Request<ReqB>, Response = http::Response<SB>>,
{
    fn left<LB, SB>(response: http::Response<LB>) -> http::Response<EitherBody<LB, SB>> {
        response.map(EitherBody::Left)
    }
    fn right<LB, SB>(response: http::Response<SB>) -> http::Response<EitherBody<LB, SB>> {
        response.map(EitherBody::Right)
    }
    match layer {
        Some(layer) => Either::Left(MapResponse::new(layer.layer(inner), left as fn(_) -> _)),
        None => Either::Right(MapResponse::new(inner, right as fn(_) -> _)),
    }
}

/// Reads towline's transport facts for the timings layer; a reused connection has no
/// connection phases.
fn transport_phases(extensions: &http::Extensions) -> Option<TransportPhases> {
    let info = extensions.get::<ConnectionInfo>()?;
    let timings = info.connect_timings();
    let fresh = !info.is_reused();
    Some(TransportPhases {
        dns: timings.dns.filter(|_| fresh),
        tcp: fresh.then_some(timings.tcp),
        tls: timings.tls.filter(|_| fresh),
        request_sent_at: Some(info.request_sent_at()),
    })
}

/// Configures and builds a [`Client`].
#[must_use]
pub struct ClientBuilder<R> {
    runtime: R,
    transport: TransportConfig,
    tcp: TcpConfig,
    resolve: Vec<(String, Vec<SocketAddr>)>,
    #[cfg(feature = "rustls")]
    tls: towline_services::connect::tls::TlsConfig,
    default_headers: HeaderMap,
    https_only: bool,
    max_body_size: Option<u64>,
    timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    timings: bool,
    trace: Option<TraceLayer>,
    redirect_policy: Policy,
    referer: bool,
    hsts: Option<HstsStore>,
    cookies: Option<CookieJar>,
    decompression: DecompressionLayer,
    cache: Option<HttpCache>,
    retry: RetryConfig,
    rate_limiter: Option<MakeLimiter<RateLimiter>>,
    bandwidth: Option<MakeLimiter<BandwidthLimiter>>,
    layers: Vec<LayerFn>,
    error: Option<Error>,
}

impl<R> fmt::Debug for ClientBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("transport", &self.transport)
            .field("tcp", &self.tcp)
            .field("default_headers", &self.default_headers)
            .field("timeout", &self.timeout)
            .field("read_timeout", &self.read_timeout)
            .finish_non_exhaustive()
    }
}

/// The `User-Agent` sent unless configured otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("towline/", env!("CARGO_PKG_VERSION"));

impl<R: Runtime + Default> ClientBuilder<R> {
    /// The default configuration.
    pub fn new() -> Self {
        let mut default_headers = HeaderMap::new();
        default_headers.insert(USER_AGENT, HeaderValue::from_static(DEFAULT_USER_AGENT));
        default_headers.insert(http::header::ACCEPT, HeaderValue::from_static("*/*"));
        Self {
            runtime: R::default(),
            transport: TransportConfig::default(),
            tcp: TcpConfig::default(),
            resolve: Vec::new(),
            #[cfg(feature = "rustls")]
            tls: Default::default(),
            default_headers,
            https_only: false,
            max_body_size: None,
            timeout: None,
            read_timeout: None,
            timings: false,
            trace: None,
            redirect_policy: Policy::default(),
            referer: false,
            hsts: None,
            cookies: None,
            decompression: DecompressionLayer::new(),
            cache: None,
            retry: RetryConfig::disabled(),
            rate_limiter: None,
            bandwidth: None,
            layers: Vec::new(),
            error: None,
        }
    }
}

impl<R: Runtime + Default> Default for ClientBuilder<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Runtime> ClientBuilder<R> {
    /// Builds the client.
    pub fn build(self) -> Result<Client<R>> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let mut tcp = self.tcp;
        if !self.resolve.is_empty() {
            tcp.overrides = ResolveOverrides::new(self.resolve);
        }
        let connector = HttpConnector::new(self.runtime.clone(), tcp);
        #[cfg(feature = "rustls")]
        let connector = towline_services::connect::tls::TlsConnector::new(
            connector,
            self.tls.build().map_err(Error::builder)?,
        );
        let transport: Transport<_, RetryBody<RedirectBody<Body>>, R> =
            Transport::new(connector, self.runtime.clone(), self.transport);
        let timer = self.runtime.timer();
        let rate_limiter = self
            .rate_limiter
            .map(|make| make(timer.clone()))
            .transpose()?;
        let bandwidth = self.bandwidth.map(|make| make(timer.clone())).transpose()?;
        // DESIGN.md's order, outermost first: trace, timings, total timeout (it also gives
        // the retry layer its deadline), decompression (above redirect, so redirect bodies
        // are drained undecoded, and above the cache, so the cache keeps encoded bytes),
        // redirect (each hop below it), HSTS (so redirect targets are upgraded too), cache,
        // retry (each attempt below it: cookies, rate limit), cookies (so every hop and
        // attempt sends and stores cookies), rate limit, bandwidth (on the response body),
        // transport.
        // The timeout, decompression, redirect and retry layers are always present and pass
        // requests through untouched when unconfigured (a disabled decompression layer
        // forwards the body as it is, `Policy::none()` follows nothing, a disabled retry
        // config neither wraps nor copies anything): that keeps one body type under them,
        // so the response body is boxed once for the whole core stack rather than once per
        // layer, and lets a single request turn retries on. The redirect and retry layers
        // also decide the transport's request body type. Layers that do not wrap the body
        // (HSTS, cookies, rate limit) are `option_layer`s; optional body-wrapping layers in
        // the core (cache, bandwidth) answer with an `Either` body (no box), those above it
        // (timings, trace) erase their body again, so both arms of their `Either` answer
        // alike.
        let stack = ServiceBuilder::new()
            .map_response(erase_body)
            .layer(
                TimeoutLayer::new(self.runtime.timer())
                    .total(self.timeout)
                    .read(self.read_timeout),
            )
            .layer(self.decompression)
            .layer(
                RedirectLayer::new(self.redirect_policy)
                    .https_only(self.https_only)
                    .referer(self.referer),
            )
            .option_layer(self.hsts.map(HstsLayer::new))
            .service(optional_body(
                self.cache.map(|cache| {
                    let executor: SharedExecutor = Arc::new(Exec(self.runtime.clone()));
                    CacheLayer::new(cache, timer.clone(), executor)
                }),
                ServiceBuilder::new()
                    .layer(RetryLayer::new(self.retry, timer.clone()).error_classifier(retry_class))
                    .option_layer(self.cookies.map(CookieLayer::new))
                    .option_layer(rate_limiter.map(RateLimitLayer::new))
                    .service(optional_body(bandwidth.map(BandwidthLayer::new), transport)),
            ));
        let stack = optional(
            self.timings.then(|| {
                TimingsLayer::new(self.runtime.timer()).transport_phases(Arc::new(transport_phases))
            }),
            stack,
        );
        let stack = optional(self.trace, stack);
        let send: SendFn = if self.layers.is_empty() {
            Arc::new(move |request| {
                let stack = stack.clone();
                Box::pin(stack.oneshot(request))
            })
        } else {
            let mut service: HttpService = BoxCloneSyncService::new(stack);
            for layer in self.layers.iter().rev() {
                service = layer(service);
            }
            Arc::new(move |request| Box::pin(service.clone().oneshot(request)))
        };
        Ok(Client {
            inner: Arc::new(ClientRef {
                send,
                default_headers: self.default_headers,
                https_only: self.https_only,
                max_body_size: self.max_body_size,
            }),
            _runtime: PhantomData,
        })
    }

    fn fail(mut self, error: Error) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// Records [`RequestTimings`](towline_layers::timings::RequestTimings) for every request,
    /// read with [`Response::timings`].
    pub fn timings(mut self, enabled: bool) -> Self {
        self.timings = enabled;
        self
    }

    /// Opens one `tracing` span per request with OpenTelemetry HTTP field names (see
    /// [`TraceLayer`] for levels, query redaction and error classification).
    pub fn trace(mut self, layer: TraceLayer) -> Self {
        self.trace = Some(layer);
        self
    }

    /// How redirects are followed (default: up to 10).
    pub fn redirect_policy(mut self, policy: Policy) -> Self {
        self.redirect_policy = policy;
        self
    }

    /// Follows at most `max` redirects (0 returns redirect responses as they are).
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.redirect_policy = if max == 0 {
            Policy::none()
        } else {
            Policy::limited(max)
        };
        self
    }

    /// Sends a `Referer` header on redirects (off by default).
    pub fn referer(mut self, enabled: bool) -> Self {
        self.referer = enabled;
        self
    }

    /// Keeps cookies in a jar of the client's own (shared by its clones).
    pub fn cookie_store(mut self, enabled: bool) -> Self {
        self.cookies = enabled.then(CookieJar::new);
        self
    }

    /// Keeps cookies in `jar`, which the caller can inspect, save and load.
    pub fn cookie_jar(mut self, jar: CookieJar) -> Self {
        self.cookies = Some(jar);
        self
    }

    /// Remembers `Strict-Transport-Security` and upgrades `http` requests to known hosts.
    pub fn hsts(mut self, enabled: bool) -> Self {
        self.hsts = enabled.then(HstsStore::new);
        self
    }

    /// Uses `store` for HSTS (e.g. one shared with other clients or preloaded).
    pub fn hsts_store(mut self, store: HstsStore) -> Self {
        self.hsts = Some(store);
        self
    }

    /// Decodes compressed responses (gzip, deflate, br, zstd as compiled in; on by default)
    /// with these settings: codings, and the decompression-bomb limits.
    pub fn decompression(mut self, layer: DecompressionLayer) -> Self {
        self.decompression = layer;
        self
    }

    /// Leaves response bodies as the server encoded them and sends no `Accept-Encoding`.
    pub fn no_decompression(mut self) -> Self {
        self.decompression = DecompressionLayer::new().no_decompression();
        self
    }

    /// Keeps responses in `cache` (an RFC 9111 private cache, shared by every clone of the
    /// client and with whoever else holds the handle) and answers from it while they are
    /// fresh: revalidation with `If-None-Match`/`If-Modified-Since`, `Vary`,
    /// `stale-while-revalidate` (in the background) and `stale-if-error`. The cache sits
    /// under decompression and keeps bodies as the server encoded them.
    pub fn cache(mut self, cache: HttpCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Retries failed requests as `config` says (none by default): connection failures
    /// that never reached the server for any method; other errors and retryable statuses
    /// (5xx and 429 by default) for idempotent methods, or for any method with
    /// `retry_non_idempotent`. `Retry-After` is honoured, bodies are replayed up to the
    /// config's cap, and a budget can bound retries. [`RequestBuilder::retry`] overrides
    /// it per request.
    pub fn retry(mut self, config: RetryConfig) -> Self {
        self.retry = config;
        self
    }

    /// Holds requests to `limiter`'s rate (shared with every clone of the client, and with
    /// other clients given the same limiter); requests over the rate wait their turn, first
    /// come first served, on the limiter's own timer.
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.rate_limiter = Some(Box::new(|_| Ok(limiter)));
        self
    }

    /// At most `requests` requests per second, in bursts of up to `requests`. Zero is a
    /// builder error.
    pub fn max_requests_per_sec(mut self, requests: u64) -> Self {
        self.rate_limiter = Some(Box::new(move |timer| {
            RateLimiter::new(requests, Duration::from_secs(1), timer).map_err(Error::builder)
        }));
        self
    }

    /// Paces response bodies to `limiter`'s rate, shared by every request of the client
    /// and its clones, on the limiter's own timer.
    pub fn bandwidth_limiter(mut self, limiter: BandwidthLimiter) -> Self {
        self.bandwidth = Some(Box::new(|_| Ok(limiter)));
        self
    }

    /// Downloads at most `bytes_per_sec` bytes per second, over all requests of the client
    /// and its clones. Zero is a builder error.
    pub fn max_download_speed(mut self, bytes_per_sec: u64) -> Self {
        self.bandwidth = Some(Box::new(move |timer| {
            BandwidthLimiter::new(bytes_per_sec, timer).map_err(Error::builder)
        }));
        self
    }

    /// Wraps the whole stack in a tower layer (e.g. one of tower-http's). The first layer
    /// added is the outermost.
    pub fn layer<L, S, B>(mut self, layer: L) -> Self
    where
        L: Layer<HttpService, Service = S> + Send + Sync + 'static,
        S: Service<Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.layers.push(Arc::new(move |inner| {
            let service = layer
                .layer(inner)
                .map_response(|response: http::Response<B>| {
                    response.map(|body| body.map_err(Into::into).boxed_unsync())
                })
                .map_err(Into::into);
            BoxCloneSyncService::new(service)
        }));
        self
    }

    // ---- headers ----

    /// Headers sent with every request unless the request sets the same name. Replaces the
    /// defaults, `User-Agent` included.
    pub fn default_headers(mut self, headers: HeaderMap) -> Self {
        self.default_headers = headers;
        self
    }

    /// Sends no default headers (not even `User-Agent`).
    pub fn no_default_headers(mut self) -> Self {
        self.default_headers.clear();
        self
    }

    /// Sets the `User-Agent` sent by default.
    pub fn user_agent<V>(self, value: V) -> Self
    where
        V: TryInto<HeaderValue>,
        V::Error: Into<http::Error>,
    {
        match value.try_into() {
            Ok(value) => {
                let mut this = self;
                this.default_headers.insert(USER_AGENT, value);
                this
            }
            Err(e) => self.fail(Error::builder(e.into())),
        }
    }

    // ---- timeouts ----

    /// Total timeout of a request: from sending until the response body is read to its end.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Longest gap between two chunks of a response body.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    /// Bounds DNS + TCP + TLS of one connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport.connect_timeout = Some(timeout);
        self
    }

    /// Bounds how long a request waits for a connection that another request is opening.
    pub fn pool_acquire_timeout(mut self, timeout: Duration) -> Self {
        self.transport.pool_acquire_timeout = Some(timeout);
        self
    }

    // ---- pool ----

    /// How long idle connections are kept (default 90 s; `None`: until the server closes them).
    pub fn pool_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.transport.pool.idle_timeout = timeout;
        self
    }

    /// Most idle connections kept per host (0 disables reuse).
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.transport.pool.max_idle_per_host = max;
        self
    }

    // ---- protocols ----

    /// Speaks only HTTP/1.1 (TLS offers only `http/1.1`).
    pub fn http1_only(mut self) -> Self {
        self.transport.protocol = Protocol::Http1;
        self
    }

    /// Speaks HTTP/2 without negotiation: h2c prior knowledge for `http`, ALPN `h2` only for
    /// `https`.
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.transport.protocol = Protocol::Http2;
        self
    }

    /// HTTP/1.1 settings.
    pub fn http1_config(mut self, config: Http1Config) -> Self {
        self.transport.http1 = config;
        self
    }

    /// Writes HTTP/1 header names in Title-Case.
    pub fn http1_title_case_headers(mut self) -> Self {
        self.transport.http1.title_case_headers = true;
        self
    }

    /// Largest HTTP/1 response head accepted.
    pub fn http1_max_header_size(mut self, max: usize) -> Self {
        self.transport.http1.max_header_size = Some(max);
        self
    }

    /// HTTP/2 settings (windows, frame size, keep-alive, limits).
    pub fn http2_config(mut self, config: Http2Config) -> Self {
        self.transport.http2 = config;
        self
    }

    // ---- TCP and DNS ----

    /// Disables Nagle's algorithm (default on).
    pub fn tcp_nodelay(mut self, enabled: bool) -> Self {
        self.tcp.nodelay = enabled;
        self
    }

    /// TCP keepalive idle time.
    pub fn tcp_keepalive(mut self, idle: Option<Duration>) -> Self {
        self.tcp.keepalive = idle;
        self
    }

    /// Local address to connect from.
    pub fn local_address(mut self, addr: IpAddr) -> Self {
        self.tcp.set_local_address(addr);
        self
    }

    /// Delay before Happy Eyeballs tries the next address (default 250 ms).
    pub fn happy_eyeballs_delay(mut self, delay: Duration) -> Self {
        self.tcp.happy_eyeballs_delay = delay;
        self
    }

    /// Resolves `host` to `addr` without DNS; port 0 in `addr` means the URL's port.
    pub fn resolve(self, host: &str, addr: SocketAddr) -> Self {
        self.resolve_to_addrs(host, &[addr])
    }

    /// Resolves `host` to `addrs` without DNS (tried with Happy Eyeballs).
    pub fn resolve_to_addrs(mut self, host: &str, addrs: &[SocketAddr]) -> Self {
        self.resolve.push((host.to_owned(), addrs.to_vec()));
        self
    }

    // ---- TLS ----

    /// Refuses plain `http` URLs.
    pub fn https_only(mut self, enabled: bool) -> Self {
        self.https_only = enabled;
        self
    }

    /// Trusts an extra root certificate.
    #[cfg(feature = "rustls")]
    pub fn add_root_certificate(mut self, certificate: Certificate) -> Self {
        self.tls.extra_roots.push(certificate);
        self
    }

    /// Whether to trust the built-in roots (webpki and/or native, as the features allow).
    #[cfg(feature = "rustls")]
    pub fn tls_built_in_root_certs(mut self, enabled: bool) -> Self {
        self.tls.webpki_roots = enabled && cfg!(feature = "webpki-roots");
        self.tls.native_roots = enabled && cfg!(feature = "rustls-native-roots");
        self
    }

    /// Presents a client certificate (mutual TLS).
    #[cfg(feature = "rustls")]
    pub fn identity(mut self, identity: Identity) -> Self {
        self.tls.identity = Some(identity);
        self
    }

    /// Lowest TLS version accepted (default TLS 1.2).
    #[cfg(feature = "rustls")]
    pub fn min_tls_version(mut self, version: TlsVersion) -> Self {
        self.tls.min_version = version;
        self
    }

    /// Whether to send the server name (SNI; default on).
    #[cfg(feature = "rustls")]
    pub fn tls_sni(mut self, enabled: bool) -> Self {
        self.tls.sni = enabled;
        self
    }

    /// Accepts any server certificate. Dangerous: anyone on the path can impersonate the
    /// server. Meant for tests against self-signed servers.
    #[cfg(feature = "rustls")]
    pub fn danger_accept_invalid_certs(mut self, enabled: bool) -> Self {
        self.tls.danger_accept_invalid_certs = enabled;
        self
    }

    // ---- bodies ----

    /// Largest response body `bytes`, `text`, `json` and `chunk` accept; larger bodies fail
    /// with a body error.
    pub fn max_body_size(mut self, max: u64) -> Self {
        self.max_body_size = Some(max);
        self
    }
}

/// Builds one request; finish with [`RequestBuilder::send`] or [`RequestBuilder::build`].
#[must_use]
pub struct RequestBuilder<R> {
    client: Client<R>,
    method: Method,
    url: url::Url,
    /// `url` as the request target, while it is known to match `url`.
    uri: Option<Uri>,
    headers: HeaderMap,
    body: Body,
    version: Option<Version>,
    timeout: Option<Duration>,
    extensions: http::Extensions,
    error: Option<Error>,
}

impl<R> fmt::Debug for RequestBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl<R: 'static> RequestBuilder<R> {
    fn fail(mut self, error: Error) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// Adds a header (repeated names are all sent).
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: Into<http::Error>,
        V: TryInto<HeaderValue>,
        V::Error: Into<http::Error>,
    {
        let name = match name.try_into() {
            Ok(name) => name,
            Err(e) => return self.fail(Error::builder(e.into())),
        };
        match value.try_into() {
            Ok(value) => {
                self.headers.append(name, value);
                self
            }
            Err(e) => self.fail(Error::builder(e.into())),
        }
    }

    /// Adds a header from strings.
    pub fn header_str(self, name: &str, value: &str) -> Self {
        self.header(name, value)
    }

    /// Sets these headers, replacing any values already set for the same names.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        let mut last = None;
        for (name, value) in headers {
            match name {
                Some(name) => {
                    self.headers.insert(name.clone(), value);
                    last = Some(name);
                }
                None => {
                    if let Some(name) = &last {
                        self.headers.append(name.clone(), value);
                    }
                }
            }
        }
        self
    }

    /// Appends query parameters (percent-encoded) to the URL's query.
    pub fn query<T: serde::Serialize + ?Sized>(mut self, query: &T) -> Self {
        let encoded = match serde_urlencoded::to_string(query) {
            Ok(encoded) => encoded,
            Err(e) => return self.fail(Error::builder(e)),
        };
        if encoded.is_empty() {
            return self;
        }
        let merged = match self.url.query() {
            Some(existing) if !existing.is_empty() => format!("{existing}&{encoded}"),
            _ => encoded,
        };
        self.url.set_query(Some(&merged));
        self.uri = None;
        self
    }

    /// Sends a URL-encoded form (`application/x-www-form-urlencoded`).
    pub fn form<T: serde::Serialize + ?Sized>(mut self, form: &T) -> Self {
        match serde_urlencoded::to_string(form) {
            Ok(encoded) => {
                self.set_content_type("application/x-www-form-urlencoded");
                self.body = Body::from(encoded);
                self
            }
            Err(e) => self.fail(Error::builder(e)),
        }
    }

    /// Sends JSON (`application/json`).
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(mut self, json: &T) -> Self {
        match serde_json::to_vec(json) {
            Ok(encoded) => {
                self.set_content_type("application/json");
                self.body = Body::from(encoded);
                self
            }
            Err(e) => self.fail(Error::builder(e)),
        }
    }

    fn set_content_type(&mut self, value: &'static str) {
        if !self.headers.contains_key(CONTENT_TYPE) {
            self.headers
                .insert(CONTENT_TYPE, HeaderValue::from_static(value));
        }
    }

    /// Sets the body from bytes or text.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// Streams the body from any `http_body::Body`.
    pub fn body_stream<B>(mut self, body: B) -> Self
    where
        B: http_body::Body + Send + 'static,
        B::Data: Into<Bytes>,
        B::Error: Into<BoxError>,
    {
        self.body = Body::wrap(body);
        self
    }

    /// Sends `Authorization: Bearer <token>`.
    pub fn bearer_auth(self, token: impl fmt::Display) -> Self {
        self.authorization(format!("Bearer {token}"))
    }

    /// Sends `Authorization: Basic` with the user name and optional password.
    pub fn basic_auth(
        self,
        username: impl fmt::Display,
        password: Option<impl fmt::Display>,
    ) -> Self {
        use base64::Engine as _;
        let credentials = match password {
            Some(password) => format!("{username}:{password}"),
            None => format!("{username}:"),
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        self.authorization(format!("Basic {encoded}"))
    }

    fn authorization(mut self, value: String) -> Self {
        match HeaderValue::try_from(value) {
            Ok(mut value) => {
                value.set_sensitive(true);
                self.headers.insert(AUTHORIZATION, value);
                self
            }
            Err(e) => self.fail(Error::builder(e)),
        }
    }

    /// Total timeout for this request, replacing the client's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The HTTP version: `HTTP_2` insists on HTTP/2 (h2c prior knowledge for `http`),
    /// `HTTP_11` or `HTTP_10` on HTTP/1.
    pub fn version(mut self, version: Version) -> Self {
        self.version = Some(version);
        self
    }

    /// Retries this request as `config` says, in place of the client's
    /// [`retry`](ClientBuilder::retry) configuration (`RetryConfig::disabled()` turns
    /// retries off for it).
    pub fn retry(mut self, config: RetryConfig) -> Self {
        self.extensions.insert(config);
        self
    }

    /// Leaves this response's body as the server encoded it.
    pub fn no_decompression(mut self) -> Self {
        self.extensions.insert(NoDecompression);
        self
    }

    /// Builds the request without sending it.
    pub fn build(self) -> Result<Request<Body>> {
        self.build_split().1
    }

    fn build_split(self) -> (Client<R>, Result<Request<Body>>) {
        let Self {
            client,
            method,
            url,
            uri,
            headers,
            body,
            version,
            timeout,
            extensions,
            error,
        } = self;
        if let Some(error) = error {
            return (client, Err(error));
        }
        let uri = match uri.map_or_else(|| request_uri(&url), Ok) {
            Ok(uri) => uri,
            Err(e) => return (client, Err(e)),
        };
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        *request.extensions_mut() = extensions;
        if let Some(version) = version {
            *request.version_mut() = version;
            let protocol = match version {
                Version::HTTP_2 => Some(Protocol::Http2),
                Version::HTTP_11 | Version::HTTP_10 | Version::HTTP_09 => Some(Protocol::Http1),
                _ => None,
            };
            if let Some(protocol) = protocol {
                request.extensions_mut().insert(protocol);
            }
        }
        if let Some(timeout) = timeout {
            request.extensions_mut().insert(RequestTimeout(timeout));
        }
        (client, Ok(request))
    }

    /// Sends the request.
    pub fn send(self) -> impl Future<Output = Result<Response>> + Send + 'static {
        let (client, request) = self.build_split();
        let sent = request.map(|request| client.execute(request));
        async move { sent?.await }
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use super::*;

    #[test]
    fn client_is_clone_send_sync_and_one_pointer_wide() {
        fn assert_traits<T: Clone + Send + Sync + 'static>() {}
        assert_traits::<crate::TokioClient>();
        assert_eq!(
            std::mem::size_of::<crate::TokioClient>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn url_errors_never_quote_credentials_and_unsendable_hosts_fail_early() {
        let error = "http://user:S3CRET@exa mple.com/".into_url().unwrap_err();
        assert!(error.is_builder());
        assert!(!error.to_string().contains("S3CRET"), "{error}");
        for url in ["http://a\"b/", "http://a{b/"] {
            let error = url.into_url().unwrap_err();
            assert!(error.is_builder(), "{url}: {error}");
        }
    }

    #[test]
    fn url_without_explicit_host_is_rejected() {
        for url in [
            "http:///example.com/",
            "https:/example.com",
            "http://",
            "http:?q",
        ] {
            let error = url.into_url().unwrap_err();
            assert!(error.is_builder(), "{url}: {error}");
        }
        assert_eq!(
            "http://example.com/a b".into_url().unwrap().as_str(),
            "http://example.com/a%20b"
        );
    }
}
