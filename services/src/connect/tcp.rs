//! TCP connect with Happy Eyeballs (RFC 8305).
//!
//! Addresses are interleaved by family, starting with the family the resolver listed first;
//! a new attempt starts whenever the previous one fails or after the attempt delay
//! (250 ms by default), and the first connection to succeed wins while the others are dropped.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tower_service::Service;

use super::dns::{GaiResolver, IpStrategy, Name, ResolveOverrides};
use super::{ConnectTimings, Connected, Connection, Target};
use crate::error::{ConnectError, ConnectErrorKind};
use crate::rt::{BoxFuture, Runtime, SharedTimer};

/// Socket options and Happy Eyeballs tuning.
///
/// ```
/// use std::time::Duration;
/// use towline_services::connect::TcpConfig;
///
/// let config = TcpConfig::default().with_keepalive(Duration::from_secs(60));
/// assert_eq!(config.keepalive, Some(Duration::from_secs(60)));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TcpConfig {
    /// Disable Nagle's algorithm (on by default: requests are small and latency-bound).
    pub nodelay: bool,
    /// TCP keepalive idle time; `None` leaves the system default (off).
    pub keepalive: Option<Duration>,
    /// Local IPv4 address to bind before connecting.
    pub local_ipv4: Option<std::net::Ipv4Addr>,
    /// Local IPv6 address to bind before connecting.
    pub local_ipv6: Option<std::net::Ipv6Addr>,
    /// Delay before the next address is tried while an attempt is still pending (RFC 8305).
    pub happy_eyeballs_delay: Duration,
    /// Static host → address overrides.
    pub overrides: ResolveOverrides,
    /// The address families to connect to (both, by default).
    pub ip_strategy: IpStrategy,
}

impl Default for TcpConfig {
    fn default() -> Self {
        Self {
            nodelay: true,
            keepalive: None,
            local_ipv4: None,
            local_ipv6: None,
            happy_eyeballs_delay: Duration::from_millis(250),
            overrides: ResolveOverrides::default(),
            ip_strategy: IpStrategy::Both,
        }
    }
}

impl TcpConfig {
    /// Sets [`nodelay`](Self::nodelay).
    pub fn with_nodelay(mut self, enabled: bool) -> Self {
        self.nodelay = enabled;
        self
    }

    /// Sets [`keepalive`](Self::keepalive).
    pub fn with_keepalive(mut self, idle: Duration) -> Self {
        self.keepalive = Some(idle);
        self
    }

    /// Sets the local address to bind, as [`set_local_address`](Self::set_local_address).
    pub fn with_local_address(mut self, addr: IpAddr) -> Self {
        self.set_local_address(addr);
        self
    }

    /// Sets [`happy_eyeballs_delay`](Self::happy_eyeballs_delay).
    pub fn with_happy_eyeballs_delay(mut self, delay: Duration) -> Self {
        self.happy_eyeballs_delay = delay;
        self
    }

    /// Sets [`overrides`](Self::overrides).
    pub fn with_overrides(mut self, overrides: ResolveOverrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// Sets [`ip_strategy`](Self::ip_strategy).
    pub fn with_ip_strategy(mut self, strategy: IpStrategy) -> Self {
        self.ip_strategy = strategy;
        self
    }

    /// Sets the local address to bind (its family picks which of the two slots it fills).
    pub fn set_local_address(&mut self, addr: IpAddr) {
        match addr {
            IpAddr::V4(v4) => self.local_ipv4 = Some(v4),
            IpAddr::V6(v6) => self.local_ipv6 = Some(v6),
        }
    }
}

/// Resolves a [`Target`] and opens a TCP connection to it.
///
/// The resolver is any `Service<Name, Response = Vec<IpAddr>>`; IP literals and overridden
/// names never reach it.
#[derive(Clone, Debug)]
pub struct HttpConnector<R, D = GaiResolver<R>> {
    runtime: R,
    resolver: D,
    timer: SharedTimerDebug,
    config: std::sync::Arc<TcpConfig>,
}

#[derive(Clone)]
struct SharedTimerDebug(SharedTimer);

impl std::fmt::Debug for SharedTimerDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Timer")
    }
}

impl<R: Runtime> HttpConnector<R> {
    /// A connector using the system resolver.
    pub fn new(runtime: R, config: TcpConfig) -> Self {
        let resolver = GaiResolver::new(runtime.clone());
        Self::with_resolver(runtime, resolver, config)
    }
}

impl<R: Runtime, D> HttpConnector<R, D> {
    /// A connector using `resolver`.
    pub fn with_resolver(runtime: R, resolver: D, config: TcpConfig) -> Self {
        let timer = SharedTimerDebug(runtime.timer());
        Self {
            runtime,
            resolver,
            timer,
            config: std::sync::Arc::new(config),
        }
    }
}

/// A TCP connection with the facts of how it was made.
#[derive(Debug)]
pub struct TcpConnection<T> {
    stream: T,
    connected: Connected,
}

impl<T> TcpConnection<T> {
    /// The underlying stream.
    pub fn get_ref(&self) -> &T {
        &self.stream
    }
}

impl<T> Connection for TcpConnection<T> {
    fn connected(&self) -> Connected {
        self.connected.clone()
    }
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for TcpConnection<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for TcpConnection<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
}

impl<R, D> Service<Target> for HttpConnector<R, D>
where
    R: Runtime,
    D: Service<Name, Response = Vec<IpAddr>, Error = io::Error> + Clone + Send + 'static,
    D::Future: Send + 'static,
{
    type Response = TcpConnection<R::TcpStream>;
    type Error = ConnectError;
    type Future = BoxFuture<'static, Result<Self::Response, ConnectError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, target: Target) -> Self::Future {
        let runtime = self.runtime.clone();
        let timer = self.timer.0.clone();
        let config = self.config.clone();
        let mut resolver = self.resolver.clone();
        Box::pin(async move {
            let (addrs, dns) = resolve(&mut resolver, &config, &target).await?;
            let tcp_start = Instant::now();
            let (stream, remote_addr, local_addr) =
                HappyEyeballs::new(runtime, timer, config, addrs)
                    .await
                    .map_err(|e| ConnectError::new(ConnectErrorKind::Tcp, e))?;
            Ok(TcpConnection {
                stream,
                connected: Connected {
                    remote_addr: Some(remote_addr),
                    local_addr,
                    alpn_h2: false,
                    timings: {
                        let timings = ConnectTimings::default().with_tcp(tcp_start.elapsed());
                        match dns {
                            Some(took) => timings.with_dns(took),
                            None => timings,
                        }
                    },
                    write_limit: Default::default(),
                    extended_connect: false,
                },
            })
        })
    }
}

/// The addresses to try for `target`, in RFC 8305 order, and how long resolving took
/// (`None` for an IP literal): the literal itself, the override map's answer, or the
/// resolver's, filtered by the [`IpStrategy`]. The QUIC connector resolves through it too.
pub(crate) async fn resolve<D>(
    resolver: &mut D,
    config: &TcpConfig,
    target: &Target,
) -> Result<(Vec<SocketAddr>, Option<std::time::Duration>), ConnectError>
where
    D: Service<Name, Response = Vec<IpAddr>, Error = io::Error>,
{
    let port = target.port();
    let host = target.host();
    let dns_start = Instant::now();
    let (addrs, dns) = if let Ok(ip) = host.parse::<IpAddr>() {
        (vec![SocketAddr::new(ip, port)], None)
    } else if let Some(addrs) = config.overrides.lookup(host, port) {
        // A name was resolved, from the map: a DNS phase of no length (as curl
        // reports for `--resolve`), so timing consumers see the phase.
        (addrs, Some(std::time::Duration::ZERO))
    } else {
        let failed = |e| ConnectError::new(ConnectErrorKind::Dns, e).with_message(host);
        std::future::poll_fn(|cx| resolver.poll_ready(cx))
            .await
            .map_err(failed)?;
        let ips = resolver.call(Name::from(host)).await.map_err(failed)?;
        let addrs = ips.into_iter().map(|ip| SocketAddr::new(ip, port));
        (addrs.collect(), Some(dns_start.elapsed()))
    };
    if addrs.is_empty() {
        return Err(ConnectError::msg(
            ConnectErrorKind::Dns,
            format!("no addresses found for {host}"),
        ));
    }
    let addrs = config.ip_strategy.apply(addrs);
    if addrs.is_empty() {
        let family = match config.ip_strategy {
            IpStrategy::Ipv6Only => "IPv6",
            _ => "IPv4",
        };
        return Err(ConnectError::msg(
            ConnectErrorKind::Dns,
            format!(
                "no {family} address found for {host} (the client connects over {family} only)"
            ),
        ));
    }
    Ok((interleave(addrs), dns))
}

/// Orders addresses per RFC 8305 §4: alternate families, starting with the first listed.
fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return addrs;
    };
    let first_is_v6 = first.is_ipv6();
    let (preferred, other): (Vec<_>, Vec<_>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == first_is_v6);
    let mut ordered = Vec::with_capacity(preferred.len() + other.len());
    let mut preferred = preferred.into_iter();
    let mut other = other.into_iter();
    loop {
        match (preferred.next(), other.next()) {
            (None, None) => return ordered,
            (a, b) => ordered.extend(a.into_iter().chain(b)),
        }
    }
}

fn open_socket(addr: SocketAddr, config: &TcpConfig) -> io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(config.nodelay)?;
    if let Some(idle) = config.keepalive {
        socket.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(idle))?;
    }
    let local = match addr {
        SocketAddr::V4(_) => config.local_ipv4.map(IpAddr::V4),
        SocketAddr::V6(_) => config.local_ipv6.map(IpAddr::V6),
    };
    if let Some(ip) = local {
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    Ok(socket)
}

type Attempt<T> = Pin<Box<dyn Future<Output = (SocketAddr, io::Result<T>)> + Send>>;

/// Races connection attempts; see the module docs.
struct HappyEyeballs<R: Runtime> {
    runtime: R,
    timer: SharedTimer,
    config: std::sync::Arc<TcpConfig>,
    remaining: std::vec::IntoIter<SocketAddr>,
    attempts: Vec<Attempt<(R::TcpStream, Option<SocketAddr>)>>,
    next_attempt: Option<Pin<Box<dyn hyper::rt::Sleep>>>,
    last_error: Option<io::Error>,
}

impl<R: Runtime> HappyEyeballs<R> {
    fn new(
        runtime: R,
        timer: SharedTimer,
        config: std::sync::Arc<TcpConfig>,
        addrs: Vec<SocketAddr>,
    ) -> Self {
        Self {
            runtime,
            timer,
            config,
            remaining: addrs.into_iter(),
            attempts: Vec::new(),
            next_attempt: None,
            last_error: None,
        }
    }

    fn start_next(&mut self) -> bool {
        let Some(addr) = self.remaining.next() else {
            self.next_attempt = None;
            return false;
        };
        let attempt: Attempt<(R::TcpStream, Option<SocketAddr>)> =
            match open_socket(addr, &self.config) {
                Ok(socket) => {
                    let connect = self.runtime.connect(socket, addr);
                    Box::pin(async move { (addr, connect.await) })
                }
                Err(e) => Box::pin(std::future::ready((addr, Err(e)))),
            };
        self.attempts.push(attempt);
        if self.remaining.len() == 0 {
            self.next_attempt = None;
            return true;
        }
        let delay = self.config.happy_eyeballs_delay;
        match &mut self.next_attempt {
            Some(sleep) => {
                let deadline = self.timer.now() + delay;
                self.timer.reset(sleep, deadline);
            }
            None => self.next_attempt = Some(self.timer.sleep(delay)),
        }
        true
    }
}

impl<R: Runtime> Future for HappyEyeballs<R> {
    type Output = io::Result<(R::TcpStream, SocketAddr, Option<SocketAddr>)>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.attempts.is_empty() && !this.start_next() {
            return Poll::Ready(Err(this
                .last_error
                .take()
                .unwrap_or_else(|| io::Error::other("no address to connect to"))));
        }
        loop {
            let mut index = 0;
            while index < this.attempts.len() {
                match this.attempts[index].as_mut().poll(cx) {
                    Poll::Pending => index += 1,
                    Poll::Ready((addr, Ok((stream, local)))) => {
                        return Poll::Ready(Ok((stream, addr, local)));
                    }
                    Poll::Ready((addr, Err(e))) => {
                        drop(this.attempts.swap_remove(index));
                        this.last_error = Some(io::Error::new(
                            e.kind(),
                            format!("connect to {addr} failed: {e}"),
                        ));
                        if this.start_next() {
                            // The new attempt must be polled to register its waker.
                            index = 0;
                        }
                    }
                }
            }
            if this.attempts.is_empty() {
                return Poll::Ready(Err(this
                    .last_error
                    .take()
                    .unwrap_or_else(|| io::Error::other("no address to connect to"))));
            }
            match &mut this.next_attempt {
                Some(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    if !this.start_next() {
                        return Poll::Pending;
                    }
                }
                None => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_alternates_families_starting_with_first() {
        let addrs: Vec<SocketAddr> = ["[::1]:1", "[::2]:1", "[::3]:1", "10.0.0.1:1", "10.0.0.2:1"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let ordered: Vec<String> = interleave(addrs).iter().map(|a| a.to_string()).collect();
        assert_eq!(
            ordered,
            ["[::1]:1", "10.0.0.1:1", "[::2]:1", "10.0.0.2:1", "[::3]:1"]
        );
    }
}
