//! Name resolution with hickory-dns: the system's name servers or explicit ones, over UDP and
//! TCP, DNS-over-TLS (RFC 7858, feature `hickory-dns-over-tls`) or DNS-over-HTTPS (RFC 8484,
//! feature `hickory-dns-over-https`), with answers cached for their TTLs.
//!
//! [`HickoryResolver`] is a [`Resolve`], so it goes wherever the system resolver does: to the
//! `towline` client's `dns_resolver`, or wrapped in a [`DynResolver`](super::dns::DynResolver)
//! for a connector built by hand.
//!
//! # Runtimes
//!
//! hickory runs its queries on tokio (its `TokioRuntimeProvider`): this resolver needs the
//! `tokio` feature and a tokio runtime. Asked to resolve outside one (on a smol client, say), it
//! fails with an error saying so instead of panicking, and the `towline` client's builder refuses
//! `hickory_dns` on another runtime. The system resolver ([`GaiResolver`](super::dns::GaiResolver))
//! runs on every runtime.
//!
//! # Encrypted transports
//!
//! DNS-over-TLS and DNS-over-HTTPS verify the name server's certificate against the
//! `rustls::ClientConfig` given to [`HickoryConfig::tls_config`]; give the one the client's TCP
//! connections use, and the same roots and crypto provider serve both. Without one, hickory's
//! own configuration (webpki roots) applies.
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use towline_services::connect::dns::Resolve;
//! use towline_services::connect::hickory::{HickoryConfig, HickoryResolver, NameServer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let quad9: SocketAddr = "9.9.9.9:53".parse()?;
//! let resolver = HickoryResolver::new(HickoryConfig::new([NameServer::udp_and_tcp(quad9)]))?;
//! let addrs: Vec<SocketAddr> = resolver.resolve("example.com".into()).await?.collect();
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

use super::dns::{Addrs, IpStrategy, Name, Resolve, Resolving};

/// How to reach one name server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameServer {
    addr: SocketAddr,
    transport: Transport,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Transport {
    UdpAndTcp,
    Tcp,
    #[cfg(feature = "hickory-dns-over-tls")]
    Tls {
        server_name: Arc<str>,
    },
    #[cfg(feature = "hickory-dns-over-https")]
    Https {
        server_name: Arc<str>,
        path: Option<Arc<str>>,
    },
}

impl NameServer {
    /// Plain DNS at `addr`: UDP, and TCP for answers too large for a datagram.
    pub fn udp_and_tcp(addr: SocketAddr) -> Self {
        Self {
            addr,
            transport: Transport::UdpAndTcp,
        }
    }

    /// Plain DNS over TCP only at `addr`.
    pub fn tcp(addr: SocketAddr) -> Self {
        Self {
            addr,
            transport: Transport::Tcp,
        }
    }

    /// DNS-over-TLS at `addr` (port 853 by convention), whose certificate must name
    /// `server_name`.
    #[cfg(feature = "hickory-dns-over-tls")]
    pub fn tls(addr: SocketAddr, server_name: impl Into<Arc<str>>) -> Self {
        Self {
            addr,
            transport: Transport::Tls {
                server_name: server_name.into(),
            },
        }
    }

    /// DNS-over-HTTPS at `addr` (port 443 by convention), whose certificate must name
    /// `server_name`; `path` is the query path (`/dns-query` when `None`).
    #[cfg(feature = "hickory-dns-over-https")]
    pub fn https(addr: SocketAddr, server_name: impl Into<Arc<str>>, path: Option<&str>) -> Self {
        Self {
            addr,
            transport: Transport::Https {
                server_name: server_name.into(),
                path: path.map(Arc::from),
            },
        }
    }

    fn into_config(self) -> NameServerConfig {
        let with_port = |mut connection: ConnectionConfig| {
            connection.port = self.addr.port();
            connection
        };
        let connections = match self.transport {
            Transport::UdpAndTcp => vec![
                with_port(ConnectionConfig::udp()),
                with_port(ConnectionConfig::tcp()),
            ],
            Transport::Tcp => vec![with_port(ConnectionConfig::tcp())],
            #[cfg(feature = "hickory-dns-over-tls")]
            Transport::Tls { server_name } => {
                vec![with_port(ConnectionConfig::new(
                    hickory_resolver::config::ProtocolConfig::Tls { server_name },
                ))]
            }
            #[cfg(feature = "hickory-dns-over-https")]
            Transport::Https { server_name, path } => {
                vec![with_port(ConnectionConfig::new(
                    hickory_resolver::config::ProtocolConfig::Https {
                        server_name,
                        path: path.unwrap_or_else(|| Arc::from("/dns-query")),
                    },
                ))]
            }
        };
        NameServerConfig::new(self.addr.ip(), true, connections)
    }
}

/// The configuration of a [`HickoryResolver`] with explicit name servers.
#[derive(Clone)]
pub struct HickoryConfig {
    name_servers: Vec<NameServer>,
    ip_strategy: IpStrategy,
    cache_size: u64,
    timeout: Duration,
    attempts: usize,
    #[cfg(any(feature = "hickory-dns-over-tls", feature = "hickory-dns-over-https"))]
    tls: Option<rustls::ClientConfig>,
}

impl fmt::Debug for HickoryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HickoryConfig")
            .field("name_servers", &self.name_servers)
            .field("ip_strategy", &self.ip_strategy)
            .field("cache_size", &self.cache_size)
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl HickoryConfig {
    /// Asks `name_servers`, in order, for both address families; caches up to 1024 answers
    /// for their TTLs; gives each query 5 s and two attempts.
    pub fn new(name_servers: impl IntoIterator<Item = NameServer>) -> Self {
        Self {
            name_servers: name_servers.into_iter().collect(),
            ip_strategy: IpStrategy::default(),
            cache_size: 1024,
            timeout: Duration::from_secs(5),
            attempts: 2,
            #[cfg(any(feature = "hickory-dns-over-tls", feature = "hickory-dns-over-https"))]
            tls: None,
        }
    }

    /// Which address records to ask for: `A` and `AAAA` (the default), or one family only,
    /// which saves the other query when the client connects over that family alone.
    pub fn ip_strategy(mut self, strategy: IpStrategy) -> Self {
        self.ip_strategy = strategy;
        self
    }

    /// How many answers the cache keeps (0 turns caching off).
    pub fn cache_size(mut self, entries: u64) -> Self {
        self.cache_size = entries;
        self
    }

    /// How long one query to one name server may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times a query is tried before the lookup fails.
    pub fn attempts(mut self, attempts: usize) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The TLS configuration for DNS-over-TLS and DNS-over-HTTPS name servers: their roots,
    /// and the crypto provider. ALPN is set by hickory for each transport.
    #[cfg(any(feature = "hickory-dns-over-tls", feature = "hickory-dns-over-https"))]
    pub fn tls_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(config);
        self
    }
}

/// A [`Resolve`] over hickory-dns; see the [module docs](self). Cheap to clone: clones share
/// the cache and the name servers' connections.
#[derive(Clone)]
pub struct HickoryResolver {
    resolver: Arc<TokioResolver>,
}

impl fmt::Debug for HickoryResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HickoryResolver")
    }
}

impl HickoryResolver {
    /// The system's name servers and options (`/etc/resolv.conf` on Unix, the registry on
    /// Windows), both address families, hickory's default cache.
    ///
    /// # Errors
    ///
    /// When the system configuration cannot be read.
    pub fn system() -> io::Result<Self> {
        let mut builder = TokioResolver::builder_tokio().map_err(io::Error::other)?;
        builder.options_mut().ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        let resolver = builder.build().map_err(io::Error::other)?;
        Ok(Self {
            resolver: Arc::new(resolver),
        })
    }

    /// A resolver asking the name servers of `config`.
    ///
    /// # Errors
    ///
    /// When `config` has no name server, or hickory refuses it.
    pub fn new(config: HickoryConfig) -> io::Result<Self> {
        if config.name_servers.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a hickory resolver needs at least one name server",
            ));
        }
        let servers = config
            .name_servers
            .into_iter()
            .map(NameServer::into_config)
            .collect();
        let mut builder = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        );
        let options = builder.options_mut();
        options.ip_strategy = match config.ip_strategy {
            IpStrategy::Ipv4Only => LookupIpStrategy::Ipv4Only,
            IpStrategy::Ipv6Only => LookupIpStrategy::Ipv6Only,
            _ => LookupIpStrategy::Ipv4AndIpv6,
        };
        options.cache_size = config.cache_size;
        options.timeout = config.timeout;
        options.attempts = config.attempts;
        #[cfg(any(feature = "hickory-dns-over-tls", feature = "hickory-dns-over-https"))]
        if let Some(tls) = config.tls {
            builder = builder.with_tls_config(tls);
        }
        let resolver = builder.build().map_err(io::Error::other)?;
        Ok(Self {
            resolver: Arc::new(resolver),
        })
    }
}

impl Resolve for HickoryResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = Arc::clone(&self.resolver);
        Box::pin(async move {
            // hickory spawns its exchanges on the ambient tokio runtime, and panics without one.
            if tokio::runtime::Handle::try_current().is_err() {
                return Err(format!(
                    "resolving {name}: the hickory resolver runs on tokio, and there is no tokio runtime here"
                )
                .into());
            }
            let lookup = resolver
                .lookup_ip(name.as_str())
                .await
                .map_err(|error| format!("resolving {name}: {error}"))?;
            let addrs: Vec<SocketAddr> = lookup.iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}
