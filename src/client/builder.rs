//! [`ClientBuilder`]: every setting of a client, kept as plain data until
//! [`build`](ClientBuilder::build) hands it to [`stack`](super::stack) for assembly.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, USER_AGENT};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceExt};
#[cfg(feature = "bandwidth")]
use towline_layers::bandwidth::BandwidthLimiter;
#[cfg(feature = "cache")]
use towline_layers::cache::HttpCache;
#[cfg(feature = "cookies")]
use towline_layers::cookie::{CookieJar, CookieStore};
use towline_layers::decompression::DecompressionLayer;
#[cfg(feature = "hsts")]
use towline_layers::hsts::HstsStore;
#[cfg(feature = "otel")]
use towline_layers::otel::OtelLayer;
#[cfg(feature = "rate-limit")]
use towline_layers::rate_limit::RateLimiter;
use towline_layers::redirect::Policy;
use towline_layers::retry::RetryConfig;
#[cfg(feature = "tracing")]
use towline_layers::trace::TraceLayer;
use towline_services::connect::proxy::{Proxy, ProxyConfig};
use towline_services::connect::unix::UnixSocket;
use towline_services::connect::{DynResolver, IpStrategy, Protocol, Resolve, TcpConfig};
use towline_services::rt::Runtime;
use towline_services::transport::{Http1Config, Http2Config, TransportConfig};

use super::Client;
use super::stack::{HttpService, LayerFn};
use crate::body::Body;
use crate::error::{BoxError, Error, Result};
#[cfg(feature = "rustls")]
use crate::tls::{Certificate, Identity, TlsVersion};

/// A limiter the caller made (on a timer of its choosing), or the rate of one the builder
/// makes on the runtime's timer when it builds the client.
#[cfg(any(feature = "rate-limit", feature = "bandwidth"))]
pub(super) enum LimiterSetting<L> {
    Given(L),
    PerSecond(u64),
}

/// The runtime [`Client::new`] and [`ClientBuilder::new`] use: tokio when its feature is on,
/// smol otherwise.
#[cfg(feature = "tokio")]
pub type DefaultRuntime = towline_services::rt::tokio::TokioRuntime;

/// The runtime [`Client::new`] and [`ClientBuilder::new`] use: tokio when its feature is on,
/// smol otherwise.
#[cfg(all(feature = "smol", not(feature = "tokio")))]
pub type DefaultRuntime = towline_services::rt::smol::SmolRuntime;

/// Configures and builds a [`Client`].
#[must_use]
pub struct ClientBuilder<R = DefaultRuntime> {
    pub(super) runtime: R,
    pub(super) transport: TransportConfig,
    pub(super) tcp: TcpConfig,
    pub(super) resolve: Vec<(String, Vec<SocketAddr>)>,
    pub(super) resolver: Option<DynResolver>,
    #[cfg(feature = "hickory-dns")]
    pub(super) hickory_dns: bool,
    pub(super) unix_socket: Option<UnixSocket>,
    /// `None`: the environment's proxies, read when the client is built.
    pub(super) proxies: Option<ProxyConfig>,
    #[cfg(feature = "rustls")]
    pub(super) tls: towline_services::connect::tls::TlsConfig,
    pub(super) default_headers: HeaderMap,
    pub(super) https_only: bool,
    pub(super) base_url: Option<url::Url>,
    pub(super) max_body_size: Option<u64>,
    pub(super) timeout: Option<Duration>,
    pub(super) read_timeout: Option<Duration>,
    pub(super) attempt_timeout: Option<Duration>,
    pub(super) timings: bool,
    #[cfg(feature = "tracing")]
    pub(super) trace: Option<TraceLayer>,
    #[cfg(feature = "otel")]
    pub(super) otel: Option<OtelLayer>,
    #[cfg(feature = "tracing")]
    pub(super) connection_verbose: bool,
    pub(super) redirect_policy: Policy,
    pub(super) redirect_keep_post: Vec<StatusCode>,
    pub(super) referer: bool,
    #[cfg(feature = "hsts")]
    pub(super) hsts: Option<HstsStore>,
    #[cfg(feature = "cookies")]
    pub(super) cookies: Option<Arc<dyn CookieStore>>,
    pub(super) decompression: DecompressionLayer,
    #[cfg(feature = "cache")]
    pub(super) cache: Option<HttpCache>,
    pub(super) retry: RetryConfig,
    #[cfg(feature = "rate-limit")]
    pub(super) rate_limiter: Option<LimiterSetting<RateLimiter>>,
    #[cfg(feature = "bandwidth")]
    pub(super) bandwidth: Option<LimiterSetting<BandwidthLimiter>>,
    pub(super) layers: Vec<LayerFn>,
    pub(super) error: Option<Error>,
    #[cfg(feature = "digest-auth")]
    pub(super) digest_auth: Option<towline_layers::auth::Credentials>,
    #[cfg(feature = "netrc")]
    pub(super) netrc: NetrcSetting,
}

/// Where the client's netrc file comes from, if it uses one.
#[cfg(feature = "netrc")]
#[derive(Clone, Debug, Default)]
pub(super) enum NetrcSetting {
    #[default]
    Off,
    /// `$NETRC`, else `~/.netrc`; no file there means no netrc.
    Default,
    /// This file, which must exist.
    Path(std::path::PathBuf),
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

#[cfg(any(feature = "tokio", feature = "smol"))]
impl ClientBuilder {
    /// The default configuration on the default runtime.
    pub fn new() -> Self {
        Self::with_runtime(DefaultRuntime::default())
    }
}

#[cfg(any(feature = "tokio", feature = "smol"))]
impl Default for ClientBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Runtime> ClientBuilder<R> {
    /// The default configuration on `runtime`.
    pub fn with_runtime(runtime: R) -> Self {
        let mut default_headers = HeaderMap::new();
        default_headers.insert(USER_AGENT, HeaderValue::from_static(DEFAULT_USER_AGENT));
        default_headers.insert(http::header::ACCEPT, HeaderValue::from_static("*/*"));
        Self {
            runtime,
            transport: TransportConfig::default(),
            tcp: TcpConfig::default(),
            resolve: Vec::new(),
            resolver: None,
            #[cfg(feature = "hickory-dns")]
            hickory_dns: false,
            unix_socket: None,
            proxies: None,
            #[cfg(feature = "rustls")]
            tls: Default::default(),
            default_headers,
            https_only: false,
            base_url: None,
            max_body_size: None,
            timeout: None,
            read_timeout: None,
            attempt_timeout: None,
            timings: false,
            #[cfg(feature = "tracing")]
            trace: None,
            #[cfg(feature = "otel")]
            otel: None,
            #[cfg(feature = "tracing")]
            connection_verbose: false,
            redirect_policy: Policy::default(),
            redirect_keep_post: Vec::new(),
            referer: false,
            #[cfg(feature = "hsts")]
            hsts: None,
            #[cfg(feature = "cookies")]
            cookies: None,
            decompression: DecompressionLayer::new(),
            #[cfg(feature = "cache")]
            cache: None,
            retry: RetryConfig::disabled(),
            #[cfg(feature = "rate-limit")]
            rate_limiter: None,
            #[cfg(feature = "bandwidth")]
            bandwidth: None,
            layers: Vec::new(),
            error: None,
            #[cfg(feature = "digest-auth")]
            digest_auth: None,
            #[cfg(feature = "netrc")]
            netrc: NetrcSetting::Off,
        }
    }
}

impl<R: Runtime> ClientBuilder<R> {
    /// Builds the client.
    pub fn build(self) -> Result<Client> {
        if let Some(error) = self.error {
            return Err(error);
        }
        super::stack::assemble(self)
    }

    fn fail(mut self, error: Error) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// Records [`RequestTimings`](towline_layers::timings::RequestTimings) for every request,
    /// read with [`Response::timings`](crate::Response::timings).
    pub fn timings(mut self, enabled: bool) -> Self {
        self.timings = enabled;
        self
    }

    /// Opens one `tracing` span per request with OpenTelemetry HTTP field names (see
    /// [`TraceLayer`] for levels, query redaction and error classification).
    #[cfg(feature = "tracing")]
    pub fn trace(mut self, layer: TraceLayer) -> Self {
        self.trace = Some(layer);
        self
    }

    /// Records an OpenTelemetry client span and the HTTP client metrics for every request
    /// sent — each redirect hop and each retry is its own span, with
    /// `http.request.resend_count` — and propagates the trace context to the server (see
    /// [`OtelLayer`]); also reports the pool's connections as `http.client.open_connections`
    /// and their lifetimes as `http.client.connection.duration` on the layer's meter. Unless
    /// the layer was given an error classifier, `error.type` comes from
    /// [`crate::error_type`].
    ///
    /// ```no_run
    /// # fn main() -> towline::Result<()> {
    /// use towline::towline_layers::otel::OtelLayer;
    ///
    /// // After installing the SDK's providers and propagator as the global ones:
    /// let timer = std::sync::Arc::new(towline::towline_services::rt::tokio::TokioTimer);
    /// let client = towline::Client::builder().otel(OtelLayer::new(timer)).build()?;
    /// # drop(client);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "otel")]
    pub fn otel(mut self, layer: OtelLayer) -> Self {
        self.otel = Some(layer);
        self
    }

    /// Logs the head of every request sent and response received (each redirect hop and
    /// retry included) as `tracing` events at `trace` level, target `towline::connection`,
    /// with credentials redacted. Needs the `tracing` feature; without it this does nothing,
    /// so code written for reqwest still compiles.
    #[cfg_attr(not(feature = "tracing"), allow(unused_mut))]
    pub fn connection_verbose(mut self, enabled: bool) -> Self {
        #[cfg(feature = "tracing")]
        {
            self.connection_verbose = enabled;
        }
        #[cfg(not(feature = "tracing"))]
        let _ = enabled;
        self
    }

    /// How redirects are followed (default: up to 10).
    pub fn redirect_policy(mut self, policy: Policy) -> Self {
        self.redirect_policy = policy;
        self
    }

    /// How redirects are followed, with reqwest's [`redirect::Policy`](crate::redirect::Policy)
    /// (default: up to 10).
    pub fn redirect(self, policy: crate::redirect::Policy) -> Self {
        self.redirect_policy(policy.into_layer_policy())
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

    /// Keeps a POST a POST, body included, when it is redirected with `status` (301, 302 or
    /// 303) instead of turning it into a GET without its body, as curl's `--post301`,
    /// `--post302` and `--post303` do; call it once per status. See
    /// [`RedirectLayer::keep_post`](towline_layers::redirect::RedirectLayer::keep_post).
    pub fn redirect_keep_post(mut self, status: StatusCode) -> Self {
        self.redirect_keep_post.push(status);
        self
    }

    /// Sends a `Referer` header on redirects (off by default).
    pub fn referer(mut self, enabled: bool) -> Self {
        self.referer = enabled;
        self
    }

    /// Keeps cookies in a jar of the client's own (shared by its clones).
    #[cfg(feature = "cookies")]
    pub fn cookie_store(mut self, enabled: bool) -> Self {
        self.cookies = enabled.then(|| Arc::new(CookieJar::new()) as Arc<dyn CookieStore>);
        self
    }

    /// Keeps cookies in `jar`, which the caller can inspect, save and load.
    #[cfg(feature = "cookies")]
    pub fn cookie_jar(mut self, jar: CookieJar) -> Self {
        self.cookies = Some(Arc::new(jar));
        self
    }

    /// Keeps cookies in `store`: reqwest's [`cookie::Jar`](crate::cookie::Jar), or any
    /// [`CookieStore`] of your own (the client holds it behind the `Arc`, shared with you).
    #[cfg(feature = "cookies")]
    pub fn cookie_provider<C: CookieStore + 'static>(mut self, store: Arc<C>) -> Self {
        self.cookies = Some(store);
        self
    }

    /// Remembers `Strict-Transport-Security` and upgrades `http` requests to known hosts.
    #[cfg(feature = "hsts")]
    pub fn hsts(mut self, enabled: bool) -> Self {
        self.hsts = enabled.then(HstsStore::new);
        self
    }

    /// Uses `store` for HSTS (e.g. one shared with other clients or preloaded).
    #[cfg(feature = "hsts")]
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

    fn codecs(mut self, set: impl FnOnce(DecompressionLayer) -> DecompressionLayer) -> Self {
        self.decompression = set(std::mem::take(&mut self.decompression));
        self
    }

    /// Whether to ask for and decode gzip (on by default with the `gzip` feature, which it
    /// needs to have an effect).
    pub fn gzip(self, enabled: bool) -> Self {
        self.codecs(|layer| layer.gzip(enabled))
    }

    /// Whether to ask for and decode brotli (on by default with the `brotli` feature, which
    /// it needs to have an effect).
    pub fn brotli(self, enabled: bool) -> Self {
        self.codecs(|layer| layer.br(enabled))
    }

    /// Whether to ask for and decode zstd (on by default with the `zstd` feature, which it
    /// needs to have an effect).
    pub fn zstd(self, enabled: bool) -> Self {
        self.codecs(|layer| layer.zstd(enabled))
    }

    /// Whether to ask for and decode deflate (on by default with the `deflate` feature,
    /// which it needs to have an effect).
    pub fn deflate(self, enabled: bool) -> Self {
        self.codecs(|layer| layer.deflate(enabled))
    }

    /// Neither asks for nor decodes gzip: `gzip(false)`.
    pub fn no_gzip(self) -> Self {
        self.gzip(false)
    }

    /// Neither asks for nor decodes brotli: `brotli(false)`.
    pub fn no_brotli(self) -> Self {
        self.brotli(false)
    }

    /// Neither asks for nor decodes zstd: `zstd(false)`.
    pub fn no_zstd(self) -> Self {
        self.zstd(false)
    }

    /// Neither asks for nor decodes deflate: `deflate(false)`.
    pub fn no_deflate(self) -> Self {
        self.deflate(false)
    }

    /// Keeps responses in `cache` (an RFC 9111 private cache, shared by every clone of the
    /// client and with whoever else holds the handle) and answers from it while they are
    /// fresh: revalidation with `If-None-Match`/`If-Modified-Since`, `Vary`,
    /// `stale-while-revalidate` (in the background) and `stale-if-error`. The cache sits
    /// under decompression and keeps bodies as the server encoded them.
    #[cfg(feature = "cache")]
    pub fn cache(mut self, cache: HttpCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Retries failed requests as `config` says (none by default): connection failures
    /// that never reached the server for any method; other errors and retryable statuses
    /// (5xx and 429 by default) for idempotent methods, or for any method with
    /// `retry_non_idempotent`. `Retry-After` is honoured, bodies are replayed up to the
    /// config's cap, and a budget can bound retries. [`RequestBuilder::retry`](crate::RequestBuilder::retry) overrides
    /// it per request.
    pub fn retry(mut self, config: RetryConfig) -> Self {
        self.retry = config;
        self
    }

    /// Holds requests to `limiter`'s rate (shared with every clone of the client, and with
    /// other clients given the same limiter); requests over the rate wait their turn, first
    /// come first served, on the limiter's own timer.
    #[cfg(feature = "rate-limit")]
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.rate_limiter = Some(LimiterSetting::Given(limiter));
        self
    }

    /// At most `requests` requests per second, in bursts of up to `requests`. Zero is a
    /// builder error.
    #[cfg(feature = "rate-limit")]
    pub fn max_requests_per_sec(mut self, requests: u64) -> Self {
        self.rate_limiter = Some(LimiterSetting::PerSecond(requests));
        self
    }

    /// Paces response bodies to `limiter`'s rate, shared by every request of the client
    /// and its clones, on the limiter's own timer.
    #[cfg(feature = "bandwidth")]
    pub fn bandwidth_limiter(mut self, limiter: BandwidthLimiter) -> Self {
        self.bandwidth = Some(LimiterSetting::Given(limiter));
        self
    }

    /// Downloads at most `bytes_per_sec` bytes per second, over all requests of the client
    /// and its clones. Zero is a builder error.
    #[cfg(feature = "bandwidth")]
    pub fn max_download_speed(mut self, bytes_per_sec: u64) -> Self {
        self.bandwidth = Some(LimiterSetting::PerSecond(bytes_per_sec));
        self
    }

    /// Answers HTTP Digest challenges (`401` + `WWW-Authenticate: Digest`, RFC 7616) with
    /// these credentials, from any origin a request is addressed to (not from one a redirect
    /// leads to): MD5, SHA-256 and SHA-512-256 (and `-sess`), qop
    /// `auth` and `auth-int`, the body replayed for the second attempt, and later requests
    /// in the same protection space answered at once. An `Authorization` header on the
    /// request, or credentials in its URL, win. To confine credentials to one request and
    /// its origin, use [`RequestBuilder::digest_auth`](crate::RequestBuilder::digest_auth).
    ///
    /// httpbin's `/digest-auth` stale-nonce path needs the cookie store on
    /// ([`cookie_store`](Self::cookie_store)).
    #[cfg(feature = "digest-auth")]
    pub fn digest_auth(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.digest_auth = Some(towline_layers::auth::Credentials::new(username, password));
        self
    }

    /// Uses the netrc file (`$NETRC`, else `~/.netrc`; `_netrc` on Windows) read when the
    /// client is built, as curl's `--netrc-optional`: no file is no credentials, a malformed
    /// one is a builder error. A `machine` entry's Basic credentials go out at once only
    /// over https or to loopback, otherwise in answer to a `401`; the `default` entry only
    /// in answer to a `401`; a Digest challenge is answered with the entry's credentials.
    /// An `Authorization` header or credentials in the URL win.
    #[cfg(feature = "netrc")]
    pub fn netrc(mut self, enabled: bool) -> Self {
        self.netrc = if enabled {
            NetrcSetting::Default
        } else {
            NetrcSetting::Off
        };
        self
    }

    /// Uses the netrc file at `path` (see [`netrc`](Self::netrc)); a missing or malformed
    /// file is a builder error.
    #[cfg(feature = "netrc")]
    pub fn netrc_path(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.netrc = NetrcSetting::Path(path.into());
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

    /// Resolves relative request URLs (`client.get("users/7")`) against `url`, by RFC 3986:
    /// a reference replaces the base's last path segment, so a base meant as a directory
    /// ends with `/` (`users` against `http://h/api/` is `http://h/api/users`, against
    /// `http://h/api` it is `http://h/users`); a reference starting with `/` replaces the
    /// whole path; an absolute URL is used as it is (and a scheme other than http or https
    /// fails when sent, before any connection). The base must be an http or https URL with
    /// a host.
    pub fn base_url(self, url: impl crate::IntoUrl) -> Self {
        match url.into_url() {
            Ok(url) => {
                let mut this = self;
                this.base_url = Some(url);
                this
            }
            Err(e) => self.fail(e),
        }
    }

    // ---- headers ----

    /// Headers sent with every request unless the request sets the same name. They merge
    /// into the defaults, as reqwest's do: a name given here replaces every default value of
    /// that name (`User-Agent`, say), and the other defaults stay. Clear the defaults first
    /// with [`no_default_headers`](Self::no_default_headers) to send only these.
    pub fn default_headers(mut self, headers: HeaderMap) -> Self {
        let mut last = None;
        for (name, value) in headers {
            match name {
                Some(name) => {
                    self.default_headers.insert(name.clone(), value);
                    last = Some(name);
                }
                None => {
                    if let Some(name) = &last {
                        self.default_headers.append(name.clone(), value);
                    }
                }
            }
        }
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

    /// The total timeout, or none (for the blocking client, whose default is 30 seconds).
    #[cfg(feature = "blocking")]
    pub(crate) fn total_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest each attempt may wait for its response head (none by default): a slow
    /// attempt is dropped so the retry layer can send the request again within the total
    /// [`timeout`](Self::timeout). The dropped attempt may have reached the server, so only
    /// requests a retry may resend go again (idempotent methods, unless the retry
    /// configuration says otherwise), and only with retries on ([`retry`](Self::retry));
    /// without them it ends the one attempt with a timeout error. A retry configuration's
    /// own [`RetryConfig::attempt_timeout`] wins over this one.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// The longest a write to a connection may stay pending (none by default): an upload
    /// to a server that stops reading then fails with a timeout error (`is_timeout`)
    /// instead of hanging. On HTTP/2 it bounds the connection's socket writes; a peer that
    /// withholds flow-control window is bounded by the total timeout instead.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.transport.write_timeout = Some(timeout);
        self
    }

    /// The longest the server may stay silent: from sending the request until the response
    /// head, then between two chunks of the response body (reqwest's `read_timeout`). Time
    /// spent uploading the request body counts towards the wait for the head.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    /// Bounds making one connection: DNS, TCP, TLS and the HTTP handshake (for HTTP/2, until
    /// the server's first SETTINGS frame).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport.connect_timeout = Some(timeout);
        self
    }

    /// Bounds how long a request waits for a connection: one another request is opening, or
    /// one to free up under [`pool_max_connections_per_host`](Self::pool_max_connections_per_host).
    pub fn pool_acquire_timeout(mut self, timeout: Duration) -> Self {
        self.transport.pool_acquire_timeout = Some(timeout);
        self
    }

    // ---- pool ----

    /// How long idle connections are kept (default 90 s; `None`: until the server closes them).
    /// Takes a `Duration` or an `Option`, as reqwest's does.
    pub fn pool_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.transport.pool.idle_timeout = timeout.into();
        self
    }

    /// Most idle connections kept per host (0 disables reuse).
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.transport.pool.max_idle_per_host = max;
        self
    }

    /// Most connections open to one host at once (0, the default: no limit). Requests over
    /// the limit wait, first come first served, for a connection to come back or close; an
    /// HTTP/2 connection counts once however many requests share it. The wait counts
    /// against [`pool_acquire_timeout`](Self::pool_acquire_timeout).
    pub fn pool_max_connections_per_host(mut self, max: usize) -> Self {
        self.transport.pool.max_connections_per_host = std::num::NonZeroUsize::new(max);
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

    /// Speaks HTTP/3 to every `https` URL, over QUIC, with no fallback to TCP: a server
    /// that does not answer over UDP fails the request with a connect error. `http` URLs are
    /// HTTP/1.1 (HTTP/3 needs TLS). A request can ask for HTTP/3 on its own with
    /// [`RequestBuilder::version`](crate::RequestBuilder::version)`(Version::HTTP_3)`.
    /// Proxies do not apply to HTTP/3 requests, which fail when a proxy would be used.
    #[cfg(feature = "http3")]
    pub fn http3_prior_knowledge(mut self) -> Self {
        self.transport.protocol = Protocol::Http3;
        self
    }

    /// HTTP/3 (QUIC) settings: idle timeout, keep-alive, receive windows, congestion
    /// controller, the `Alt-Svc` head start. An [`alt_svc`](Self::alt_svc) cache set before
    /// stays unless `config` has one of its own.
    #[cfg(feature = "http3")]
    pub fn http3_config(mut self, mut config: crate::Http3Config) -> Self {
        if config.alt_svc.is_none() {
            config.alt_svc = self.transport.http3.alt_svc.take();
        }
        self.transport.http3 = config;
        self
    }

    /// Learns HTTP/3 alternatives from `Alt-Svc` response fields (RFC 7838) and sends later
    /// requests to those origins over HTTP/3 (off by default, as in curl).
    ///
    /// Only `https` requests made directly (no proxy) that did not ask for a version take
    /// the alternative, and only while it has not expired (`ma`). The QUIC handshake gets a
    /// head start of 300 ms over TCP
    /// ([`Http3Config::alt_svc_budget`](crate::Http3Config::alt_svc_budget)): when it fails
    /// or is slower, the request goes over TCP, and the alternative is skipped for a back-off
    /// that doubles with each failure (from 5 minutes) until a handshake with it succeeds.
    /// The cache is the client's own; [`alt_svc_cache`](Self::alt_svc_cache) shares one.
    ///
    /// ```no_run
    /// # async fn run() -> towline::Result<()> {
    /// use http::Version;
    ///
    /// let client = towline::Client::builder().alt_svc(true).build()?;
    /// // Over TCP; the response's `Alt-Svc: h3=":443"` is learned.
    /// let first = client.get("https://example.com/").send().await?;
    /// first.bytes().await?;
    /// // Over HTTP/3, if the server named it and answers over QUIC in time.
    /// let second = client.get("https://example.com/").send().await?;
    /// println!("{:?}", second.version() == Version::HTTP_3);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "http3")]
    pub fn alt_svc(mut self, enabled: bool) -> Self {
        self.transport.http3.alt_svc =
            enabled.then(|| crate::AltSvcCache::new(self.runtime.timer()));
        self
    }

    /// Sends idempotent requests without a body in QUIC 0-RTT early data when a connection
    /// resumes an earlier TLS session with the server (off by default): they reach the
    /// server a round trip sooner. Other requests on such a connection wait for its
    /// handshake; a request whose early data the server rejected is sent again, once, on a
    /// new connection. See [`Http3Config::zero_rtt`](crate::Http3Config::zero_rtt).
    #[cfg(feature = "http3")]
    pub fn http3_zero_rtt(mut self, enabled: bool) -> Self {
        self.transport.http3.zero_rtt = enabled;
        self
    }

    /// Learns `Alt-Svc` alternatives into `cache`, which clients built with it share (see
    /// [`alt_svc`](Self::alt_svc)); the caller's handle sees what they learn and can
    /// [`clear`](crate::AltSvcCache::clear) it.
    #[cfg(feature = "http3")]
    pub fn alt_svc_cache(mut self, cache: crate::AltSvcCache) -> Self {
        self.transport.http3.alt_svc = Some(cache);
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

    /// Accepts HTTP/1 response headers folded over several lines (obsolete since RFC 7230),
    /// joining the lines with spaces; off by default, when such a response is an error.
    pub fn http1_allow_obsolete_multiline_headers_in_responses(mut self, enabled: bool) -> Self {
        self.transport.http1.allow_obsolete_multiline_headers = enabled;
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

    /// HTTP/2 stream-level flow-control window (`None`: towline's default, 2 MiB); reqwest's
    /// name for a field of [`http2_config`](Self::http2_config).
    pub fn http2_initial_stream_window_size(mut self, size: impl Into<Option<u32>>) -> Self {
        self.transport.http2.initial_stream_window_size = size
            .into()
            .unwrap_or(Http2Config::default().initial_stream_window_size);
        self
    }

    /// HTTP/2 connection-level flow-control window (`None`: towline's default, 4 MiB).
    pub fn http2_initial_connection_window_size(mut self, size: impl Into<Option<u32>>) -> Self {
        self.transport.http2.initial_connection_window_size = size
            .into()
            .unwrap_or(Http2Config::default().initial_connection_window_size);
        self
    }

    /// Sizes HTTP/2 windows from the measured bandwidth-delay product (overrides the two
    /// window sizes).
    pub fn http2_adaptive_window(mut self, enabled: bool) -> Self {
        self.transport.http2.adaptive_window = enabled;
        self
    }

    /// Largest HTTP/2 frame payload accepted (`None`: the protocol's 16 KiB).
    pub fn http2_max_frame_size(mut self, size: impl Into<Option<u32>>) -> Self {
        self.transport.http2.max_frame_size = size.into();
        self
    }

    /// Largest HTTP/2 header list accepted.
    pub fn http2_max_header_list_size(mut self, size: u32) -> Self {
        self.transport.http2.max_header_list_size = Some(size);
        self
    }

    /// Sends HTTP/2 PINGs at this interval to find dead connections (`None`: never).
    pub fn http2_keep_alive_interval(mut self, interval: impl Into<Option<Duration>>) -> Self {
        self.transport.http2.keep_alive_interval = interval.into();
        self
    }

    /// How long to wait for a PING to be acknowledged before closing the connection.
    pub fn http2_keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.transport.http2.keep_alive_timeout = timeout;
        self
    }

    /// Sends PINGs even on a connection with no open stream.
    pub fn http2_keep_alive_while_idle(mut self, enabled: bool) -> Self {
        self.transport.http2.keep_alive_while_idle = enabled;
        self
    }

    // ---- TCP and DNS ----

    /// Disables Nagle's algorithm (default on).
    pub fn tcp_nodelay(mut self, enabled: bool) -> Self {
        self.tcp.nodelay = enabled;
        self
    }

    /// TCP keepalive idle time (`None`, the default: no keepalive probes). Takes a `Duration`
    /// or an `Option`, as reqwest's does.
    pub fn tcp_keepalive(mut self, idle: impl Into<Option<Duration>>) -> Self {
        self.tcp.keepalive = idle.into();
        self
    }

    /// Local address to connect from: an address of one family binds connections of that
    /// family; `None` binds nothing (the system chooses, the default), undoing earlier calls.
    /// Takes an `IpAddr` or an `Option`, as reqwest's does.
    pub fn local_address(mut self, addr: impl Into<Option<IpAddr>>) -> Self {
        match addr.into() {
            Some(addr) => self.tcp.set_local_address(addr),
            None => {
                self.tcp.local_ipv4 = None;
                self.tcp.local_ipv6 = None;
            }
        }
        self
    }

    /// Delay before Happy Eyeballs tries the next address (default 250 ms).
    pub fn happy_eyeballs_delay(mut self, delay: Duration) -> Self {
        self.tcp.happy_eyeballs_delay = delay;
        self
    }

    /// Sends every request over the Unix domain socket at `path` instead of the network
    /// (a request's own [`RequestBuilder::unix_socket`](crate::RequestBuilder::unix_socket)
    /// wins). The URL still names the host for the `Host` header and picks the scheme:
    /// `http://localhost/v1.43/containers/json` over `/var/run/docker.sock` speaks
    /// HTTP/1.1, or h2c with [`http2_prior_knowledge`](Self::http2_prior_knowledge).
    /// Connections are pooled per socket path. Unix platforms only; elsewhere requests
    /// fail with a connect error.
    pub fn unix_socket(mut self, path: impl AsRef<std::path::Path>) -> Self {
        self.unix_socket = Some(UnixSocket::new(path));
        self
    }

    /// Sends the requests `proxy` is for through it; proxies are tried in the order they were
    /// added, and the first that takes a request carries it. Adding one turns off the
    /// environment's proxies, as in reqwest. See [`Proxy`](crate::Proxy).
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxies
            .get_or_insert_with(ProxyConfig::new)
            .push(proxy);
        self
    }

    /// Uses no proxy at all: neither the environment's nor any added before.
    ///
    /// By default the client uses the proxies the environment names when it is built
    /// (`http_proxy`, `https_proxy`, `all_proxy`, `no_proxy`, lower case first, then upper
    /// case; `HTTP_PROXY` is ignored under CGI, where `REQUEST_METHOD` is set).
    pub fn no_proxy(mut self) -> Self {
        self.proxies = Some(ProxyConfig::new());
        self
    }

    /// Resolves names with `resolver` instead of the system's (`getaddrinfo`). IP literals
    /// never reach it, and names given to [`resolve`](Self::resolve) are answered from
    /// that map first. Takes a resolver or an `Arc` of one, as reqwest's does.
    pub fn dns_resolver(mut self, resolver: impl Resolve) -> Self {
        self.resolver = Some(DynResolver::new(resolver));
        self
    }

    /// Resolves names with hickory-dns and the system's name servers (`/etc/resolv.conf`),
    /// caching answers for their TTLs, instead of `getaddrinfo`; a resolver given to
    /// [`dns_resolver`](Self::dns_resolver) wins over it. For explicit name servers,
    /// DNS-over-TLS or DNS-over-HTTPS, give a [`HickoryResolver`](crate::dns::HickoryResolver)
    /// to `dns_resolver` instead.
    ///
    /// hickory runs on tokio: building a client on another runtime with this on fails with a
    /// builder error.
    #[cfg(feature = "hickory-dns")]
    pub fn hickory_dns(mut self, enabled: bool) -> Self {
        self.hickory_dns = enabled;
        self
    }

    /// Resolves names with the system's resolver, not hickory-dns (reqwest's name for
    /// `hickory_dns(false)`).
    #[cfg(feature = "hickory-dns")]
    pub fn no_hickory_dns(self) -> Self {
        self.hickory_dns(false)
    }

    /// Which address families to connect to (both, by default), applied to every host's
    /// addresses before Happy Eyeballs: `Ipv4Only` is curl's `-4`, `Ipv6Only` its `-6`. A
    /// host with no address of an allowed family fails with a DNS error.
    pub fn ip_strategy(mut self, strategy: IpStrategy) -> Self {
        self.tcp.ip_strategy = strategy;
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

    /// Uses rustls for TLS. rustls is towline's only TLS, so this changes nothing; it is here
    /// so that reqwest code that calls it compiles unchanged.
    #[cfg(feature = "rustls")]
    pub fn use_rustls_tls(self) -> Self {
        self
    }

    /// Trusts an extra root certificate.
    #[cfg(feature = "rustls")]
    pub fn add_root_certificate(mut self, certificate: Certificate) -> Self {
        self.tls.extra_roots.push(certificate.inner);
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
        self.tls.identity = Some(identity.inner);
        self
    }

    /// Lowest TLS version accepted (default TLS 1.2).
    #[cfg(feature = "rustls")]
    pub fn min_tls_version(mut self, version: TlsVersion) -> Self {
        self.tls.min_version = version;
        self
    }

    /// Highest TLS version offered (default TLS 1.3). A maximum below the minimum fails
    /// [`build`](Self::build).
    #[cfg(feature = "rustls")]
    pub fn max_tls_version(mut self, version: TlsVersion) -> Self {
        self.tls.max_version = Some(version);
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
