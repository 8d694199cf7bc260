//! Name resolution: the system resolver run off the async threads, resolvers of your own
//! ([`Resolve`], [`DynResolver`]), static overrides, and the address families a client
//! connects to ([`IpStrategy`]).
//!
//! The connector asks a resolver only for names: an IP literal never reaches it, and a name
//! in the [`ResolveOverrides`] map is answered from the map first.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use crate::rt::{BoxFuture, Runtime};

/// A host name to resolve.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Name(Box<str>);

impl Name {
    /// The host name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Name {
    fn from(host: &str) -> Self {
        Self(host.into())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Resolves names with the operating system (`getaddrinfo`) on the runtime's blocking pool,
/// so a slow lookup never stalls an async worker.
#[derive(Clone, Debug)]
pub struct GaiResolver<R> {
    runtime: R,
}

impl<R> GaiResolver<R> {
    /// A resolver whose lookups run on `runtime`'s blocking threads.
    pub fn new(runtime: R) -> Self {
        Self { runtime }
    }
}

impl<R: Runtime> Service<Name> for GaiResolver<R> {
    type Response = Vec<IpAddr>;
    type Error = io::Error;
    type Future = BoxFuture<'static, io::Result<Vec<IpAddr>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let lookup = self.runtime.spawn_blocking(move || {
            (name.as_str(), 0)
                .to_socket_addrs()
                .map(|addrs| addrs.map(|addr| addr.ip()).collect::<Vec<_>>())
        });
        Box::pin(async move { lookup.await? })
    }
}

/// A resolver of your own, in the shape reqwest's `dns::Resolve` has: give one to the
/// `towline` client with `ClientBuilder::dns_resolver`, or wrap it in a [`DynResolver`] for an
/// [`HttpConnector`](super::HttpConnector) built by hand.
///
/// The ports of the addresses it yields are ignored: the connection goes to the URL's port.
///
/// ```
/// use std::net::SocketAddr;
/// use towline_services::connect::dns::{Addrs, Name, Resolve, Resolving};
///
/// /// Every name is this machine.
/// struct Loopback;
///
/// impl Resolve for Loopback {
///     fn resolve(&self, _name: Name) -> Resolving {
///         Box::pin(async {
///             let addrs: Addrs = Box::new(std::iter::once(SocketAddr::from(([127, 0, 0, 1], 0))));
///             Ok(addrs)
///         })
///     }
/// }
/// ```
pub trait Resolve: Send + Sync + 'static {
    /// Resolves `name` to addresses, in the order to try them.
    fn resolve(&self, name: Name) -> Resolving;
}

impl<R: Resolve + ?Sized> Resolve for Arc<R> {
    fn resolve(&self, name: Name) -> Resolving {
        (**self).resolve(name)
    }
}

/// The addresses a [`Resolve`] found.
pub type Addrs = Box<dyn Iterator<Item = SocketAddr> + Send>;

/// The future of [`Resolve::resolve`].
pub type Resolving = BoxFuture<'static, Result<Addrs, Box<dyn std::error::Error + Send + Sync>>>;

impl<R: Runtime> Resolve for GaiResolver<R> {
    fn resolve(&self, name: Name) -> Resolving {
        let lookup = self.runtime.spawn_blocking(move || {
            (name.as_str(), 0)
                .to_socket_addrs()
                .map(|addrs| addrs.collect::<Vec<_>>())
        });
        Box::pin(async move {
            let addrs: Addrs = Box::new(lookup.await??.into_iter());
            Ok(addrs)
        })
    }
}

/// Any [`Resolve`] as the resolver service an [`HttpConnector`](super::HttpConnector) takes;
/// clones share the resolver.
#[derive(Clone)]
pub struct DynResolver(Arc<dyn Resolve>);

impl DynResolver {
    /// Wraps `resolver`.
    pub fn new(resolver: impl Resolve) -> Self {
        Self(Arc::new(resolver))
    }

    /// Shares `resolver`.
    pub fn from_arc(resolver: Arc<dyn Resolve>) -> Self {
        Self(resolver)
    }
}

impl fmt::Debug for DynResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DynResolver")
    }
}

impl Service<Name> for DynResolver {
    type Response = Vec<IpAddr>;
    type Error = io::Error;
    type Future = BoxFuture<'static, io::Result<Vec<IpAddr>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolving = self.0.resolve(name);
        Box::pin(async move {
            let addrs = resolving
                .await
                .map_err(|error| match error.downcast::<io::Error>() {
                    Ok(io) => *io,
                    Err(other) => io::Error::other(other),
                })?;
            Ok(addrs.map(|addr| addr.ip()).collect())
        })
    }
}

/// Which address families the connector uses, applied to every host's addresses (resolved,
/// overridden or literal) before Happy Eyeballs, which interleaves the families it is left
/// with, starting with the first address's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IpStrategy {
    /// IPv4 and IPv6, in the order the resolver gave them (the default).
    #[default]
    Both,
    /// IPv4 addresses only.
    Ipv4Only,
    /// IPv6 addresses only.
    Ipv6Only,
    /// Both families, IPv4 first.
    PreferIpv4,
    /// Both families, IPv6 first.
    PreferIpv6,
}

impl IpStrategy {
    /// `addrs` as this strategy keeps and orders them (the order within a family stays).
    pub fn apply(self, mut addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
        match self {
            Self::Both => {}
            Self::Ipv4Only => addrs.retain(SocketAddr::is_ipv4),
            Self::Ipv6Only => addrs.retain(SocketAddr::is_ipv6),
            Self::PreferIpv4 => addrs.sort_by_key(SocketAddr::is_ipv6),
            Self::PreferIpv6 => addrs.sort_by_key(SocketAddr::is_ipv4),
        }
        addrs
    }
}

/// Static host → address overrides, consulted before the resolver (like curl's `--resolve`).
///
/// An override address with port 0 takes the port from the URL.
#[derive(Clone, Debug, Default)]
pub struct ResolveOverrides {
    map: Arc<HashMap<Box<str>, Vec<SocketAddr>>>,
}

impl ResolveOverrides {
    /// Overrides from `(host, addresses)` pairs; host names compare case-insensitively.
    pub fn new<I, H>(entries: I) -> Self
    where
        I: IntoIterator<Item = (H, Vec<SocketAddr>)>,
        H: AsRef<str>,
    {
        let map = entries
            .into_iter()
            .map(|(host, addrs)| (host.as_ref().to_ascii_lowercase().into_boxed_str(), addrs))
            .collect();
        Self { map: Arc::new(map) }
    }

    /// Whether there are no overrides.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The addresses for `host` on `port`, if overridden.
    pub fn lookup(&self, host: &str, port: u16) -> Option<Vec<SocketAddr>> {
        if self.map.is_empty() {
            return None;
        }
        let addrs = self.map.get(host.to_ascii_lowercase().as_str())?;
        Some(
            addrs
                .iter()
                .map(|addr| match addr.port() {
                    0 => SocketAddr::new(addr.ip(), port),
                    _ => *addr,
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_strategy_filters_and_orders_families() {
        let addrs: Vec<SocketAddr> = ["[::1]:1", "10.0.0.1:1", "[::2]:1", "10.0.0.2:1"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let shown = |strategy: IpStrategy| -> Vec<String> {
            strategy
                .apply(addrs.clone())
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            shown(IpStrategy::Both),
            ["[::1]:1", "10.0.0.1:1", "[::2]:1", "10.0.0.2:1"]
        );
        assert_eq!(shown(IpStrategy::Ipv4Only), ["10.0.0.1:1", "10.0.0.2:1"]);
        assert_eq!(shown(IpStrategy::Ipv6Only), ["[::1]:1", "[::2]:1"]);
        assert_eq!(
            shown(IpStrategy::PreferIpv4),
            ["10.0.0.1:1", "10.0.0.2:1", "[::1]:1", "[::2]:1"]
        );
        assert_eq!(
            shown(IpStrategy::PreferIpv6),
            ["[::1]:1", "[::2]:1", "10.0.0.1:1", "10.0.0.2:1"]
        );
    }

    #[test]
    fn override_port_zero_takes_url_port() {
        let overrides = ResolveOverrides::new([(
            "Example.COM",
            vec![
                "10.0.0.1:0".parse().unwrap(),
                "10.0.0.2:8443".parse().unwrap(),
            ],
        )]);
        let addrs = overrides.lookup("example.com", 443).unwrap();
        assert_eq!(
            addrs,
            vec![
                "10.0.0.1:443".parse::<SocketAddr>().unwrap(),
                "10.0.0.2:8443".parse().unwrap()
            ]
        );
        assert!(overrides.lookup("other.example", 443).is_none());
    }
}
