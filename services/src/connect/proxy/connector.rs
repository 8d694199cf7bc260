//! [`ProxyConnector`]: the connector stage that dials a target's proxy route.

use std::task::{Context, Poll};
use std::time::Instant;

use http::uri::{Authority, Scheme};
use tower_service::Service;

use super::http_connect::{self, Prefixed, TunnelAuthenticator};
use super::{ProxyError, ProxyErrorKind, ProxyScheme, ProxyUrl};
use crate::connect::dns::{DynResolver, Name, ResolveOverrides};
use crate::connect::either::EitherIo;
use crate::connect::socks::{self, SocksAuth, SocksTarget, SocksVersion};
use crate::connect::{Connection, Protocol, Target};
use crate::error::{ConnectError, ConnectErrorKind};
use crate::rt::BoxFuture;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a proxied connection is made of once the hops are dialled: boxed, since its layers
/// (TLS to a proxy, bytes read past a `CONNECT` answer) depend on the route.
pub trait ProxyIo: hyper::rt::Read + hyper::rt::Write + Unpin + Send {}

impl<T: hyper::rt::Read + hyper::rt::Write + Unpin + Send> ProxyIo for T {}

/// Dials the [`ProxyRoute`](super::ProxyRoute) of targets that have one, through the
/// connector it wraps (for the first hop); targets without one go to that connector as they
/// are. See the [module docs](super) for where it sits.
///
/// SOCKS4 and SOCKS5 (without `a`/`h`) resolve the next destination's name locally, from the
/// override map first ([`with_overrides`](Self::with_overrides)), then with the resolver
/// given here; SOCKS4a and SOCKS5h send the name to the proxy. An `https://`
/// proxy needs TLS settings (`with_tls`, feature `rustls`): without them
/// it fails as unsupported.
#[derive(Clone)]
pub struct ProxyConnector<C> {
    inner: C,
    resolver: DynResolver,
    overrides: ResolveOverrides,
    #[cfg(feature = "rustls")]
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    tunnel_authenticator: Option<TunnelAuthenticator>,
}

impl<C: std::fmt::Debug> std::fmt::Debug for ProxyConnector<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConnector")
            .field("inner", &self.inner)
            .field("tunnel_authenticator", &self.tunnel_authenticator.is_some())
            .finish_non_exhaustive()
    }
}

impl<C> ProxyConnector<C> {
    /// Wraps `inner`, which dials first hops and direct targets; `resolver` resolves names
    /// for SOCKS4 and SOCKS5 hops.
    pub fn new(inner: C, resolver: DynResolver) -> Self {
        Self {
            inner,
            resolver,
            overrides: ResolveOverrides::default(),
            #[cfg(feature = "rustls")]
            tls: None,
            tunnel_authenticator: None,
        }
    }

    /// Answers a `407` to `CONNECT` whose challenges Basic cannot meet (Digest): `answer`
    /// turns the challenges into a `Proxy-Authorization` value with the proxy's credentials,
    /// and the `CONNECT` is sent once more with it. The `towline` client passes the digest
    /// layer's `tunnel_authorization`.
    pub fn with_tunnel_authenticator(mut self, answer: TunnelAuthenticator) -> Self {
        self.tunnel_authenticator = Some(answer);
        self
    }

    /// Names answered without the resolver, as the wrapped TCP connector answers them.
    pub fn with_overrides(mut self, overrides: ResolveOverrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// TLS settings for `https://` proxies (the `http1` configuration of `configs`: a proxy
    /// speaks HTTP/1.1).
    #[cfg(feature = "rustls")]
    pub fn with_tls(mut self, configs: &crate::connect::tls::TlsClientConfigs) -> Self {
        self.tls = Some(configs.for_proxy());
        self
    }
}

/// A connection of a [`ProxyConnector`]: the wrapped connector's own (`Inner`, a direct
/// connection), or one through the target's proxies (`Own`: the tunnel — or, for
/// absolute-form requests, the connection to the last proxy — with the first hop's facts and
/// the proxy handshake's duration).
pub type MaybeProxied<IO> = EitherIo<IO, Box<dyn ProxyIo>>;

impl<C, IO> Service<Target> for ProxyConnector<C>
where
    C: Service<Target, Response = IO> + Clone + Send + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
    IO: hyper::rt::Read + hyper::rt::Write + Connection + Unpin + Send + 'static,
{
    type Response = MaybeProxied<IO>;
    type Error = ConnectError;
    type Future = BoxFuture<'static, Result<Self::Response, ConnectError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(into_connect_error)
    }

    fn call(&mut self, target: Target) -> Self::Future {
        let Some(route) = target.proxy().cloned() else {
            let connecting = self.inner.call(target);
            return Box::pin(async move {
                connecting
                    .await
                    .map(EitherIo::Inner)
                    .map_err(into_connect_error)
            });
        };
        let Some(first) = route.hops().first().cloned() else {
            let connecting = self.inner.call(target);
            return Box::pin(async move {
                connecting
                    .await
                    .map(EitherIo::Inner)
                    .map_err(into_connect_error)
            });
        };
        let first_target = match hop_target(&first) {
            Ok(hop) => hop,
            Err(error) => return Box::pin(async move { Err(error) }),
        };
        // The clone-swap idiom: call the connector that was readied, leave a fresh clone.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let dialling = inner.call(first_target);
        let resolver = self.resolver.clone();
        let overrides = self.overrides.clone();
        let authenticator = self.tunnel_authenticator.clone();
        #[cfg(feature = "rustls")]
        let tls = self.tls.clone();
        Box::pin(async move {
            let io = dialling.await.map_err(into_connect_error)?;
            let mut connected = io.connected();
            let started = Instant::now();
            let mut stream: Box<dyn ProxyIo> = Box::new(io);
            let hops = route.hops();
            for (at, hop) in hops.iter().enumerate() {
                if hop.scheme() == ProxyScheme::Https {
                    #[cfg(feature = "rustls")]
                    {
                        stream = tls_to_proxy(tls.as_ref(), hop, stream).await?;
                    }
                    #[cfg(not(feature = "rustls"))]
                    {
                        return Err(proxy_error(
                            ProxyError::new(ProxyErrorKind::UnsupportedScheme, hop.to_string())
                                .with_message("https proxies need the `rustls` feature".into()),
                        ));
                    }
                }
                let (host, port) = match hops.get(at + 1) {
                    Some(next) => (next.host().to_owned(), next.port()),
                    None if route.is_forward() => break,
                    None => (target.host().to_owned(), target.port()),
                };
                stream = through(
                    hop,
                    stream,
                    &host,
                    port,
                    (&resolver, &overrides),
                    authenticator.as_ref(),
                )
                .await?;
            }
            connected.timings.proxy = Some(started.elapsed());
            Ok(EitherIo::Own {
                io: stream,
                connected,
            })
        })
    }
}

/// The target the wrapped connector dials for a proxy: plain TCP to its host and port.
fn hop_target(hop: &ProxyUrl) -> Result<Target, ConnectError> {
    let authority = Authority::try_from(hop.host_port()).map_err(|e| {
        proxy_error(ProxyError::new(ProxyErrorKind::InvalidUrl, hop.to_string()).with_source(e))
    })?;
    Ok(Target::new(Scheme::HTTP, authority, Protocol::Http1))
}

/// Asks `hop`, over `stream`, for a tunnel to `host:port`.
async fn through(
    hop: &ProxyUrl,
    mut stream: Box<dyn ProxyIo>,
    host: &str,
    port: u16,
    (resolver, overrides): (&DynResolver, &ResolveOverrides),
    authenticator: Option<&TunnelAuthenticator>,
) -> Result<Box<dyn ProxyIo>, ConnectError> {
    let version = match hop.scheme() {
        ProxyScheme::Http | ProxyScheme::Https => {
            let authority = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            let rest = http_connect::connect(&mut stream, hop, &authority, authenticator)
                .await
                .map_err(proxy_error)?;
            if rest.is_empty() {
                return Ok(stream);
            }
            return Ok(Box::new(Prefixed::new(rest, stream)));
        }
        ProxyScheme::Socks4 => SocksVersion::V4,
        ProxyScheme::Socks4a => SocksVersion::V4a,
        ProxyScheme::Socks5 | ProxyScheme::Socks5h => SocksVersion::V5,
    };
    let remote_dns = matches!(hop.scheme(), ProxyScheme::Socks4a | ProxyScheme::Socks5h);
    let destination = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => SocksTarget::Addr((ip, port).into()),
        Err(_) if remote_dns => SocksTarget::Domain(host.to_owned(), port),
        Err(_) => match overrides
            .lookup(host, port)
            .and_then(|addrs| addrs.first().copied())
        {
            Some(addr) => SocksTarget::Addr(addr),
            None => SocksTarget::Addr((resolve(resolver, host, hop.scheme()).await?, port).into()),
        },
    };
    let auth = hop.credentials().map(|credentials| SocksAuth {
        username: credentials.username().to_owned(),
        password: credentials.password().to_owned(),
    });
    socks::handshake(&mut stream, version, &destination, auth.as_ref())
        .await
        .map_err(|error| {
            proxy_error(ProxyError::new(ProxyErrorKind::Socks, hop.to_string()).with_source(error))
        })?;
    Ok(stream)
}

/// Resolves `host` locally for a SOCKS4 or SOCKS5 hop: the first address, IPv4 first for
/// SOCKS4 (which cannot carry IPv6).
async fn resolve(
    resolver: &DynResolver,
    host: &str,
    scheme: ProxyScheme,
) -> Result<std::net::IpAddr, ConnectError> {
    let mut resolver = resolver.clone();
    let addrs = resolver
        .call(Name::from(host))
        .await
        .map_err(|e| ConnectError::new(ConnectErrorKind::Dns, e))?;
    let chosen = if scheme == ProxyScheme::Socks4 {
        addrs.iter().find(|ip| ip.is_ipv4())
    } else {
        addrs.first()
    };
    chosen.copied().ok_or_else(|| {
        ConnectError::msg(
            ConnectErrorKind::Dns,
            format!("no usable address found for {host}"),
        )
    })
}

#[cfg(feature = "rustls")]
async fn tls_to_proxy(
    config: Option<&std::sync::Arc<rustls::ClientConfig>>,
    hop: &ProxyUrl,
    stream: Box<dyn ProxyIo>,
) -> Result<Box<dyn ProxyIo>, ConnectError> {
    let failed = |kind: ProxyErrorKind| ProxyError::new(kind, hop.to_string());
    let config = hop.own_tls().or(config).ok_or_else(|| {
        proxy_error(
            failed(ProxyErrorKind::UnsupportedScheme)
                .with_message("no TLS settings for https proxies".into()),
        )
    })?;
    let server_name = rustls::pki_types::ServerName::try_from(hop.host().to_owned())
        .map_err(|e| proxy_error(failed(ProxyErrorKind::Tls).with_source(e)))?;
    let conn = rustls::ClientConnection::new(config.clone(), server_name)
        .map_err(|e| proxy_error(failed(ProxyErrorKind::Tls).with_source(e)))?;
    let stream = crate::connect::tls::TlsStream::connect(stream, conn)
        .await
        .map_err(|e| proxy_error(failed(ProxyErrorKind::Tls).with_source(e)))?;
    Ok(Box::new(stream))
}

fn proxy_error(error: ProxyError) -> ConnectError {
    ConnectError::new(ConnectErrorKind::Proxy, error)
}

fn into_connect_error(error: impl Into<BoxError>) -> ConnectError {
    match error.into().downcast::<ConnectError>() {
        Ok(connect) => *connect,
        Err(other) => ConnectError::new(ConnectErrorKind::Tcp, other),
    }
}
