//! Name resolution: the system resolver run off the async threads, and static overrides.

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
