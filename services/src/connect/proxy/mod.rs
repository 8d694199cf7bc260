//! Proxies: which requests go through which proxy ([`ProxyConfig`], [`Proxy`], [`NoProxy`],
//! the environment), and the connector stage that dials them ([`ProxyConnector`]).
//!
//! # Where proxies sit
//!
//! The connector stack is resolver → Happy Eyeballs TCP → **proxy** → TLS → HTTP handshake.
//! The transport picks a [`ProxyRoute`] for each request from its [`ProxyConfig`] (see
//! [`TransportConfig::proxy`](crate::transport::TransportConfig::proxy)) and puts it in the
//! request's [`Target`](super::Target), so the pool keeps proxied, differently proxied and
//! direct connections apart. [`ProxyConnector`] then dials the route's first hop through the
//! connector it wraps, makes each later hop and the origin reachable through the previous one
//! (HTTP `CONNECT`, SOCKS4/4a/5/5h, TLS to an `https://` proxy), and hands the tunnel to the
//! TLS stage, which speaks TLS to the origin for `https` targets (where ALPN may pick h2).
//!
//! A plain-`http` request whose last hop is an HTTP(S) proxy is not tunnelled: it goes in
//! absolute form (`GET http://origin/path HTTP/1.1`) over a connection to the proxy that all
//! origins behind it share, with the proxy's `Proxy-Authorization`
//! ([`Proxy::connect_for_http`] tunnels those too). The credentials go to the proxy only: on
//! the `CONNECT` request, or on absolute-form requests — never inside a tunnel.
//!
//! # Proxy authentication
//!
//! Basic credentials come from the proxy URL's userinfo (percent-decoded) or
//! [`Proxy::basic_auth`]. A `407` to an absolute-form request is the response the caller
//! gets; a `CONNECT` refused with `407` (or `401`, as tinyproxy answers) is a
//! [`ProxyError`] saying whether credentials were missing or refused. Credentials are sent
//! once: a refusal is never retried, so it never loops. A `CONNECT` refused with challenges
//! Basic cannot meet (Digest) is asked once more when the connector has a
//! [`TunnelAuthenticator`] ([`ProxyConnector::with_tunnel_authenticator`]; the `towline` client
//! gives it the digest layer's answer), on the same connection; [`ProxyError::challenge`] keeps
//! the proxy's first `Proxy-Authenticate` otherwise.

mod connector;
mod env;
mod http_connect;
mod no_proxy;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use base64::Engine;
use http::header::HeaderValue;
use http::{StatusCode, Uri};

pub use connector::{MaybeProxied, ProxyConnector};
pub use http_connect::TunnelAuthenticator;
pub use no_proxy::NoProxy;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How the client talks to a proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyScheme {
    /// An HTTP proxy over plain TCP (`http://`).
    Http,
    /// An HTTP proxy over TLS (`https://`): TLS to the proxy itself.
    Https,
    /// SOCKS4 (`socks4://`): names are resolved locally, IPv4 only.
    Socks4,
    /// SOCKS4a (`socks4a://`): the proxy resolves names.
    Socks4a,
    /// SOCKS5 (`socks5://`): names are resolved locally.
    Socks5,
    /// SOCKS5 (`socks5h://`): the proxy resolves names; no local lookup happens.
    Socks5h,
}

impl ProxyScheme {
    fn parse(scheme: &str) -> Option<Self> {
        Some(match scheme.to_ascii_lowercase().as_str() {
            "http" => Self::Http,
            "https" => Self::Https,
            "socks4" => Self::Socks4,
            "socks4a" => Self::Socks4a,
            "socks5" => Self::Socks5,
            "socks5h" => Self::Socks5h,
            _ => return None,
        })
    }

    /// The scheme as written in a proxy URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Socks4 => "socks4",
            Self::Socks4a => "socks4a",
            Self::Socks5 => "socks5",
            Self::Socks5h => "socks5h",
        }
    }

    /// Whether this is an HTTP proxy (`http://` or `https://`).
    pub fn is_http(self) -> bool {
        matches!(self, Self::Http | Self::Https)
    }

    fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
            _ => 1080,
        }
    }
}

/// Credentials for a proxy. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProxyCredentials {
    username: String,
    password: String,
}

impl ProxyCredentials {
    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The `Proxy-Authorization` value for Basic authentication, marked sensitive.
    pub fn basic_header(&self) -> HeaderValue {
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password));
        let mut value = HeaderValue::try_from(format!("Basic {encoded}"))
            .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
        value.set_sensitive(true);
        value
    }
}

impl fmt::Debug for ProxyCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// One proxy: its scheme, where it listens, and its credentials.
///
/// ```
/// use towline_services::connect::proxy::{ProxyScheme, ProxyUrl};
///
/// let proxy = ProxyUrl::parse("http://alice:s%40cret@proxy.corp:3128").unwrap();
/// assert_eq!(proxy.scheme(), ProxyScheme::Http);
/// assert_eq!((proxy.host(), proxy.port()), ("proxy.corp", 3128));
/// assert_eq!(proxy.credentials().unwrap().password(), "s@cret");
/// assert_eq!(proxy.to_string(), "http://alice:***@proxy.corp:3128");
/// assert!(ProxyUrl::parse("ftp://proxy.corp").is_err());
/// ```
#[derive(Clone)]
pub struct ProxyUrl {
    scheme: ProxyScheme,
    /// Without the brackets of an IPv6 literal.
    host: Box<str>,
    port: u16,
    credentials: Option<Arc<ProxyCredentials>>,
    /// TLS settings of this proxy's own, for an `https://` proxy (the client's otherwise).
    #[cfg(feature = "rustls")]
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl ProxyUrl {
    /// Parses a proxy URL: `scheme://[user[:password]@]host[:port]`, the userinfo
    /// percent-decoded. Without a scheme, `http://` is assumed (as curl does); without a port,
    /// 80 for `http`, 443 for `https` and 1080 for SOCKS. A path other than `/` is an error.
    pub fn parse(url: &str) -> Result<Self, ProxyError> {
        let invalid = |why: &str| ProxyError::invalid_url(url, why);
        let url = url.trim();
        let with_scheme;
        let full = if url.contains("://") {
            url
        } else {
            with_scheme = format!("http://{url}");
            &with_scheme
        };
        let (scheme, rest) = full.split_once("://").ok_or_else(|| invalid("no scheme"))?;
        let scheme = ProxyScheme::parse(scheme).ok_or_else(|| {
            ProxyError::new(ProxyErrorKind::UnsupportedScheme, redact(url))
                .with_message(format!("proxy scheme {scheme:?} is not supported"))
        })?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return Err(invalid("a proxy URL has no path, query or fragment"));
        }
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let (host, port) = split_host_port(host_port).ok_or_else(|| invalid("bad host or port"))?;
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let credentials = match userinfo {
            None => None,
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let decode = |part: &str| {
                    percent_encoding::percent_decode_str(part)
                        .decode_utf8()
                        .map(|decoded| decoded.into_owned())
                        .map_err(|_| invalid("userinfo is not UTF-8 once percent-decoded"))
                };
                Some(Arc::new(ProxyCredentials {
                    username: decode(user)?,
                    password: decode(password)?,
                }))
            }
        };
        Ok(Self {
            scheme,
            host: host.into(),
            port: port.unwrap_or(scheme.default_port()),
            credentials,
            #[cfg(feature = "rustls")]
            tls: None,
        })
    }

    /// How the client talks to this proxy.
    pub fn scheme(&self) -> ProxyScheme {
        self.scheme
    }

    /// The proxy's host (an IPv6 literal without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The credentials, if any.
    pub fn credentials(&self) -> Option<&ProxyCredentials> {
        self.credentials.as_deref()
    }

    /// Sets the credentials (Basic for HTTP proxies, RFC 1929 for SOCKS5, the user id for
    /// SOCKS4).
    pub fn basic_auth(mut self, username: &str, password: &str) -> Self {
        self.credentials = Some(Arc::new(ProxyCredentials {
            username: username.to_owned(),
            password: password.to_owned(),
        }));
        self
    }

    /// TLS settings for this proxy itself, for an `https://` proxy whose certificate is
    /// issued by another authority than the servers' (a corporate proxy's private CA) or that
    /// wants a client certificate of its own: its own roots and identity, instead of the
    /// client's. The proxy speaks HTTP/1.1, so the configuration's ALPN should offer
    /// `http/1.1` or nothing. The server name is the proxy's host either way, and the
    /// connections through the proxy to `https` servers still use the client's settings.
    /// Ignored for other schemes.
    #[cfg(feature = "rustls")]
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// The TLS settings given with [`tls_config`](Self::tls_config).
    #[cfg(feature = "rustls")]
    pub(crate) fn own_tls(&self) -> Option<&Arc<rustls::ClientConfig>> {
        self.tls.as_ref()
    }

    /// `host:port`, with brackets around an IPv6 literal.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for ProxyUrl {
    /// The URL with the password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        if let Some(credentials) = &self.credentials {
            write!(f, "{}:***@", credentials.username)?;
        }
        f.write_str(&self.host_port())
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

impl PartialEq for ProxyUrl {
    fn eq(&self, other: &Self) -> bool {
        self.scheme == other.scheme
            && self.port == other.port
            && self.host.eq_ignore_ascii_case(&other.host)
            && self.credentials == other.credentials
            && self.same_tls(other)
    }
}

impl ProxyUrl {
    /// Whether both use the same TLS settings (connections made with other settings are not
    /// interchangeable in the pool).
    #[cfg(feature = "rustls")]
    fn same_tls(&self, other: &Self) -> bool {
        match (&self.tls, &other.tls) {
            (None, None) => true,
            (Some(mine), Some(theirs)) => Arc::ptr_eq(mine, theirs),
            _ => false,
        }
    }

    #[cfg(not(feature = "rustls"))]
    fn same_tls(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for ProxyUrl {}

impl Hash for ProxyUrl {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.scheme.hash(state);
        self.port.hash(state);
        for byte in self.host.bytes() {
            byte.to_ascii_lowercase().hash(state);
        }
        self.credentials.hash(state);
        #[cfg(feature = "rustls")]
        self.tls.as_ref().map(Arc::as_ptr).hash(state);
    }
}

/// `host[:port]` or `[v6][:port]`; `None` when malformed.
fn split_host_port(host_port: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = host_port.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        return match after {
            "" => Some((host, None)),
            port => Some((host, Some(port.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) => {
            if host.contains(':') {
                return None;
            }
            Some((host, Some(port.parse().ok()?)))
        }
        None => Some((host_port, None)),
    }
}

/// `url` with anything between `://` and the last `@` after it cut down to the user name.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return match url.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or_default();
                format!("{user}:***@{host}")
            }
            None => url.to_owned(),
        };
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// A proxy for one request: the hops in dialling order, and whether the request goes to the
/// last hop in absolute form (`forward`) rather than through a tunnel to the origin.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProxyRoute {
    hops: Arc<[ProxyUrl]>,
    forward: bool,
}

impl ProxyRoute {
    /// The hops, first dialled first.
    pub fn hops(&self) -> &[ProxyUrl] {
        &self.hops
    }

    /// Whether requests go to the last hop in absolute form (a plain-`http` target behind an
    /// HTTP proxy) instead of through a tunnel to the origin.
    pub fn is_forward(&self) -> bool {
        self.forward
    }

    /// The last hop.
    pub fn last(&self) -> Option<&ProxyUrl> {
        self.hops.last()
    }
}

type CustomFn = Arc<dyn Fn(&Uri) -> Option<ProxyUrl> + Send + Sync>;

#[derive(Clone)]
enum Intercept {
    Http(Arc<[ProxyUrl]>),
    Https(Arc<[ProxyUrl]>),
    All(Arc<[ProxyUrl]>),
    Custom(CustomFn),
}

/// A proxy and the requests it is for, as reqwest's `Proxy` is built.
///
/// ```
/// use towline_services::connect::proxy::{NoProxy, Proxy, ProxyConfig};
///
/// let proxies = ProxyConfig::new()
///     .with(Proxy::https("http://proxy.corp:3128").unwrap())
///     .with(Proxy::all("socks5h://127.0.0.1:1080").unwrap().no_proxy(NoProxy::parse(".internal")));
/// let to = |uri: &str| proxies.route(&uri.parse().unwrap()).map(|route| route.hops()[0].to_string());
/// assert_eq!(to("https://example.com/").as_deref(), Some("http://proxy.corp:3128"));
/// assert_eq!(to("http://example.com/").as_deref(), Some("socks5h://127.0.0.1:1080"));
/// assert_eq!(to("http://db.internal/"), None);
/// ```
#[derive(Clone)]
pub struct Proxy {
    intercept: Intercept,
    credentials: Option<Arc<ProxyCredentials>>,
    no_proxy: Option<NoProxy>,
    connect_for_http: bool,
}

impl Proxy {
    fn new(intercept: Intercept) -> Self {
        Self {
            intercept,
            credentials: None,
            no_proxy: None,
            connect_for_http: false,
        }
    }

    fn one(url: &str) -> Result<Arc<[ProxyUrl]>, ProxyError> {
        Ok(Arc::from([ProxyUrl::parse(url)?]))
    }

    /// A proxy for `http` requests.
    pub fn http(url: impl AsRef<str>) -> Result<Self, ProxyError> {
        Ok(Self::new(Intercept::Http(Self::one(url.as_ref())?)))
    }

    /// A proxy for `https` requests.
    pub fn https(url: impl AsRef<str>) -> Result<Self, ProxyError> {
        Ok(Self::new(Intercept::Https(Self::one(url.as_ref())?)))
    }

    /// A proxy for every request.
    pub fn all(url: impl AsRef<str>) -> Result<Self, ProxyError> {
        Ok(Self::new(Intercept::All(Self::one(url.as_ref())?)))
    }

    /// A chain of proxies for every request: each hop is reached through the one before it
    /// (HTTP `CONNECT` for HTTP proxies, SOCKS for SOCKS ones), each with its own
    /// credentials; the first is dialled directly. An empty chain is an error.
    pub fn chain(hops: impl IntoIterator<Item = ProxyUrl>) -> Result<Self, ProxyError> {
        let hops: Arc<[ProxyUrl]> = hops.into_iter().collect();
        if hops.is_empty() {
            return Err(ProxyError::invalid_url(
                "",
                "a proxy chain needs at least one hop",
            ));
        }
        Ok(Self::new(Intercept::All(hops)))
    }

    /// A proxy chosen per request by `choose` (`None`: no proxy for that URI).
    pub fn custom(choose: impl Fn(&Uri) -> Option<ProxyUrl> + Send + Sync + 'static) -> Self {
        Self::new(Intercept::Custom(Arc::new(choose)))
    }

    /// Credentials for the proxy (the last hop of a chain), replacing those of its URL.
    pub fn basic_auth(mut self, username: &str, password: &str) -> Self {
        self.credentials = Some(Arc::new(ProxyCredentials {
            username: username.to_owned(),
            password: password.to_owned(),
        }));
        self
    }

    /// TLS settings of its own for an `https://` proxy (every `https://` hop of a chain), as
    /// [`ProxyUrl::tls_config`] sets them; a [`custom`](Self::custom) proxy sets them on the
    /// URLs it returns.
    #[cfg(feature = "rustls")]
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        let with_config = |hops: &Arc<[ProxyUrl]>| -> Arc<[ProxyUrl]> {
            hops.iter()
                .map(|hop| hop.clone().tls_config(config.clone()))
                .collect()
        };
        self.intercept = match &self.intercept {
            Intercept::Http(hops) => Intercept::Http(with_config(hops)),
            Intercept::Https(hops) => Intercept::Https(with_config(hops)),
            Intercept::All(hops) => Intercept::All(with_config(hops)),
            Intercept::Custom(choose) => Intercept::Custom(choose.clone()),
        };
        self
    }

    /// Hosts that bypass this proxy.
    pub fn no_proxy(mut self, no_proxy: impl Into<Option<NoProxy>>) -> Self {
        self.no_proxy = no_proxy.into();
        self
    }

    /// Tunnels plain-`http` requests through `CONNECT` too, instead of sending them to the
    /// proxy in absolute form.
    pub fn connect_for_http(mut self, enabled: bool) -> Self {
        self.connect_for_http = enabled;
        self
    }

    fn route(&self, uri: &Uri) -> Option<ProxyRoute> {
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let mut hops = match &self.intercept {
            Intercept::Http(hops) if !https => hops.clone(),
            Intercept::Https(hops) if https => hops.clone(),
            Intercept::All(hops) => hops.clone(),
            Intercept::Custom(choose) => Arc::from([choose(uri)?]),
            _ => return None,
        };
        if let Some(no_proxy) = &self.no_proxy {
            let host = uri.host()?;
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            if no_proxy.matches(host, port) {
                return None;
            }
        }
        if let Some(credentials) = &self.credentials {
            let mut owned = hops.to_vec();
            if let Some(last) = owned.last_mut() {
                last.credentials = Some(credentials.clone());
            }
            hops = owned.into();
        }
        let last_is_http = hops.last().is_some_and(|hop| hop.scheme.is_http());
        Some(ProxyRoute {
            forward: last_is_http && !https && !self.connect_for_http,
            hops,
        })
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (applies_to, hops) = match &self.intercept {
            Intercept::Http(hops) => ("http", Some(hops)),
            Intercept::Https(hops) => ("https", Some(hops)),
            Intercept::All(hops) => ("all", Some(hops)),
            Intercept::Custom(_) => ("custom", None),
        };
        f.debug_struct("Proxy")
            .field("applies_to", &applies_to)
            .field("hops", &hops)
            .field("no_proxy", &self.no_proxy)
            .field("connect_for_http", &self.connect_for_http)
            .finish_non_exhaustive()
    }
}

/// The proxies of a transport; the first whose scheme and `no_proxy` accept a request's URI
/// carries it.
#[derive(Clone, Debug, Default)]
pub struct ProxyConfig {
    proxies: Vec<Proxy>,
}

impl ProxyConfig {
    /// No proxies.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `proxy` after the ones already there.
    pub fn with(mut self, proxy: Proxy) -> Self {
        self.proxies.push(proxy);
        self
    }

    /// Adds `proxy` after the ones already there.
    pub fn push(&mut self, proxy: Proxy) {
        self.proxies.push(proxy);
    }

    /// Whether there are no proxies.
    pub fn is_empty(&self) -> bool {
        self.proxies.is_empty()
    }

    /// The route for a request to `uri`, or `None` to go direct.
    pub fn route(&self, uri: &Uri) -> Option<ProxyRoute> {
        self.proxies.iter().find_map(|proxy| proxy.route(uri))
    }
}

/// What went wrong with a proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyErrorKind {
    /// The proxy URL could not be parsed.
    InvalidUrl,
    /// The proxy URL's scheme is not one of http, https, socks4, socks4a, socks5, socks5h,
    /// or its support is not compiled in (`https` needs TLS).
    UnsupportedScheme,
    /// The proxy wants credentials and none are configured (`407`, or `401` to `CONNECT`).
    AuthRequired,
    /// The proxy refused the configured credentials.
    AuthRejected,
    /// The proxy answered `CONNECT` with another non-2xx status.
    Refused,
    /// The proxy's answer was not HTTP or SOCKS as it should be.
    Malformed,
    /// The SOCKS handshake failed; the SOCKS error is the source.
    Socks,
    /// TLS to an `https://` proxy failed; the TLS error is the source.
    Tls,
    /// Reading from or writing to the proxy failed.
    Io,
}

/// A proxy failed: its kind, the proxy (password redacted), the status the proxy answered
/// with, and the cause.
#[derive(Debug)]
pub struct ProxyError {
    kind: ProxyErrorKind,
    proxy: String,
    status: Option<StatusCode>,
    challenge: Option<HeaderValue>,
    message: Option<String>,
    source: Option<BoxError>,
}

impl ProxyError {
    fn new(kind: ProxyErrorKind, proxy: String) -> Self {
        Self {
            kind,
            proxy,
            status: None,
            challenge: None,
            message: None,
            source: None,
        }
    }

    fn invalid_url(url: &str, why: &str) -> Self {
        Self::new(ProxyErrorKind::InvalidUrl, redact(url)).with_message(why.to_owned())
    }

    fn with_message(mut self, message: String) -> Self {
        self.message = Some(message);
        self
    }

    fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ProxyErrorKind {
        self.kind
    }

    /// The proxy, its password redacted.
    pub fn proxy(&self) -> &str {
        &self.proxy
    }

    /// The status the proxy answered `CONNECT` with, when it refused.
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }

    /// The proxy's `Proxy-Authenticate` challenge, when it asked for credentials.
    pub fn challenge(&self) -> Option<&HeaderValue> {
        self.challenge.as_ref()
    }

    /// Whether trying again cannot help: bad configuration or refused credentials.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self.kind,
            ProxyErrorKind::InvalidUrl
                | ProxyErrorKind::UnsupportedScheme
                | ProxyErrorKind::AuthRequired
                | ProxyErrorKind::AuthRejected
        )
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ProxyErrorKind::InvalidUrl => "invalid proxy URL",
            ProxyErrorKind::UnsupportedScheme => "unsupported proxy",
            ProxyErrorKind::AuthRequired => "the proxy requires authentication",
            ProxyErrorKind::AuthRejected => "the proxy rejected the credentials",
            ProxyErrorKind::Refused => "the proxy refused the tunnel",
            ProxyErrorKind::Malformed => "malformed answer from the proxy",
            ProxyErrorKind::Socks => "SOCKS handshake failed",
            ProxyErrorKind::Tls => "TLS to the proxy failed",
            ProxyErrorKind::Io => "proxy connection failed",
        };
        write!(f, "{what} ({})", self.proxy)?;
        if let Some(status) = self.status {
            write!(f, ": {status}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProxyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_parse_with_defaults_and_redact_passwords() {
        let cases = [
            ("proxy.corp:3128", "http://proxy.corp:3128"),
            ("http://proxy.corp", "http://proxy.corp:80"),
            ("https://proxy.corp/", "https://proxy.corp:443"),
            ("socks5h://127.0.0.1", "socks5h://127.0.0.1:1080"),
            ("SOCKS4A://[::1]:9050", "socks4a://[::1]:9050"),
            ("socks5://u:p@h:1", "socks5://u:***@h:1"),
        ];
        for (url, shown) in cases {
            assert_eq!(ProxyUrl::parse(url).unwrap().to_string(), shown, "{url}");
        }
        for bad in [
            "ftp://proxy",
            "http://",
            "http://proxy:99999",
            "http://proxy/path",
            "http://[zz]:80",
            "http://a:b:c",
        ] {
            assert!(ProxyUrl::parse(bad).is_err(), "{bad}");
        }
        let error = ProxyUrl::parse("gopher://alice:hunter2@proxy").unwrap_err();
        assert_eq!(error.kind(), ProxyErrorKind::UnsupportedScheme);
        let shown = error.to_string();
        assert!(
            !shown.contains("hunter2") && shown.contains("alice"),
            "{shown}"
        );
        let error = ProxyUrl::parse("http://alice:hunter2@proxy/x").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn credentials_are_percent_decoded_and_encoded_for_basic() {
        let url = ProxyUrl::parse("http://Aladdin:open%20sesame@proxy").unwrap();
        let credentials = url.credentials().unwrap();
        assert_eq!(credentials.password(), "open sesame");
        assert_eq!(
            credentials.basic_header(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert!(!format!("{credentials:?}").contains("sesame"));
    }

    #[test]
    fn routes_follow_scheme_no_proxy_and_tunnelling() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        let http = Proxy::http("http://p:3128").unwrap();
        assert!(http.route(&uri("http://a/")).unwrap().is_forward());
        assert!(http.route(&uri("https://a/")).is_none());
        let tunnel = Proxy::http("http://p:3128").unwrap().connect_for_http(true);
        assert!(!tunnel.route(&uri("http://a/")).unwrap().is_forward());
        let https = Proxy::https("http://p:3128").unwrap();
        assert!(!https.route(&uri("https://a/")).unwrap().is_forward());
        let socks = Proxy::all("socks5://p").unwrap();
        assert!(!socks.route(&uri("http://a/")).unwrap().is_forward());
        let custom = Proxy::custom(|uri| {
            (uri.host() == Some("via.test")).then(|| ProxyUrl::parse("http://p:1").unwrap())
        });
        assert!(custom.route(&uri("http://via.test/")).is_some());
        assert!(custom.route(&uri("http://direct.test/")).is_none());
        let authed = Proxy::all("http://p:1").unwrap().basic_auth("u", "pw");
        let route = authed.route(&uri("http://a/")).unwrap();
        assert_eq!(route.last().unwrap().credentials().unwrap().username(), "u");
        assert_ne!(
            route,
            Proxy::all("http://p:1")
                .unwrap()
                .route(&uri("http://a/"))
                .unwrap(),
            "credentials are part of a route's identity"
        );
        assert!(Proxy::chain([]).is_err());
    }
}
