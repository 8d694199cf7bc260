//! QUIC connections for HTTP/3 (feature `http3`), over quinn.
//!
//! [`QuicConnector`] is the HTTP/3 counterpart of the TCP stack below the transport: it
//! resolves the target exactly as [`HttpConnector`](super::HttpConnector) does (the same
//! resolver, the override map, the [`IpStrategy`](super::IpStrategy), RFC 8305 order), then
//! runs QUIC handshakes to the addresses: one at a time, the next starting when the one
//! before failed or has not answered within the Happy Eyeballs delay, the first to finish
//! winning. The TLS settings are the TCP stack's ([`TlsClientConfigs`]: roots, client
//! identity, `danger_accept_invalid_certs`, SNI), narrowed to TLS 1.3 and ALPN `h3`, as QUIC
//! requires. The handshake's duration is the connection's
//! [`ConnectTimings::quic`](super::ConnectTimings::quic), which the timings layer reports.
//!
//! One quinn `Endpoint`, so one UDP socket, carries every connection of a connector (and so
//! of a client): created on the first connect, on the runtime's quinn adapter
//! ([`Runtime::quic_runtime`]). It is bound to `[::]:0` as a dual-stack socket, reaching
//! IPv4 peers through IPv4-mapped addresses; where IPv6 is unavailable it is bound to
//! `0.0.0.0:0`. A local address in the [`TcpConfig`] binds the socket to it instead: the
//! IPv4 one if set, else the IPv6 one, and only addresses of that family are tried.
//!
//! An endpoint whose driver is gone (the runtime it ran on shut down) cannot connect any
//! more: the connector then binds a new one, on the runtime running at that moment, and
//! tries once more.
//!
//! 0-RTT ([`Http3Config::zero_rtt`]): the client config then enables TLS early data, and
//! rustls keeps the sessions servers offer; [`QuicConnector::connect_early`] resumes one when
//! it has it and hands the connection over before the handshake is done. Happy Eyeballs does
//! not apply then: the first address gets the connection.
//!
//! A target with an [`alternative`](Target::alternative) (an `Alt-Svc` endpoint) is reached
//! at the alternative's host and UDP port, while the handshake still names and authenticates
//! the origin's host, as RFC 7838 §2.1 requires; the override map applies to the
//! alternative's host, with the alternative's port.
//!
//! The connector does not time itself out: the transport's connect timeout covers DNS and
//! the handshakes. quinn's own idle timeout ([`Http3Config::max_idle_timeout`]) ends a
//! handshake nobody answers when there is no connect timeout.
//!
//! ```no_run
//! # async fn run() -> Result<(), towline_services::ConnectError> {
//! use http::uri::{Authority, Scheme};
//! use towline_services::connect::quic::QuicConnector;
//! use towline_services::connect::tls::TlsConfig;
//! use towline_services::connect::{DynResolver, GaiResolver, Protocol, TcpConfig, Target};
//! use towline_services::rt::tokio::TokioRuntime;
//! use towline_services::transport::Http3Config;
//!
//! let tls = TlsConfig::default().build()?;
//! let resolver = DynResolver::new(GaiResolver::new(TokioRuntime));
//! let connector = QuicConnector::new(
//!     &TokioRuntime,
//!     resolver,
//!     TcpConfig::default(),
//!     &tls,
//!     &Http3Config::default(),
//! );
//! let target = Target::new(Scheme::HTTPS, Authority::from_static("example.com"), Protocol::Http3);
//! let connection = connector.connect(&target).await?;
//! println!("QUIC to {:?}", connection.connected().remote_addr);
//! # Ok(())
//! # }
//! ```

use std::future::poll_fn;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Instant;

use http::uri::Authority;

use super::dns::DynResolver;
use super::tcp::resolve;
use super::tls::TlsClientConfigs;
use super::{ConnectTimings, Connected, Target, TcpConfig};
use crate::error::{ConnectError, ConnectErrorKind};
use crate::rt::{BoxFuture, Runtime, SharedTimer};
use crate::transport::{CongestionController, Http3Config};

/// Opens QUIC connections for HTTP/3; clones share one endpoint (one UDP socket).
#[derive(Clone)]
pub struct QuicConnector {
    inner: Arc<Inner>,
}

struct Inner {
    quic_runtime: Option<Arc<dyn quinn::Runtime>>,
    timer: SharedTimer,
    resolver: DynResolver,
    tcp: TcpConfig,
    /// The client config, or why there is none (the TLS settings exclude TLS 1.3).
    client: Result<quinn::ClientConfig, String>,
    /// [`Http3Config::zero_rtt`].
    zero_rtt: bool,
    endpoint: Mutex<Option<quinn::Endpoint>>,
}

impl std::fmt::Debug for QuicConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicConnector")
            .field("tcp", &self.inner.tcp)
            .finish_non_exhaustive()
    }
}

/// A QUIC connection with the facts of how it was made.
pub struct QuicConnection {
    connection: quinn::Connection,
    connected: Connected,
    /// Resolves once the handshake of a connection sending 0-RTT early data is done: `true`
    /// if the server accepted the early data.
    early_data: Option<quinn::ZeroRttAccepted>,
}

impl std::fmt::Debug for QuicConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicConnection")
            .field("connection", &self.connection)
            .field("connected", &self.connected)
            .field("early", &self.is_early())
            .finish()
    }
}

impl QuicConnection {
    /// The quinn connection.
    pub fn connection(&self) -> &quinn::Connection {
        &self.connection
    }

    /// Facts about the connection: addresses and phase durations.
    pub fn connected(&self) -> &Connected {
        &self.connected
    }

    /// The quinn connection and its facts.
    pub fn into_parts(self) -> (quinn::Connection, Connected) {
        (self.connection, self.connected)
    }

    /// Whether the connection sends 0-RTT early data until its handshake is done (see
    /// [`QuicConnector::connect_early`]).
    pub fn is_early(&self) -> bool {
        self.early_data.is_some()
    }

    /// The outcome of the early data, for a connection that [`is_early`](Self::is_early):
    /// resolves once the handshake is done, `true` if the server accepted it.
    pub fn take_early_data(&mut self) -> Option<quinn::ZeroRttAccepted> {
        self.early_data.take()
    }
}

impl QuicConnector {
    /// A connector resolving through `resolver` with the overrides, address families and
    /// Happy Eyeballs delay of `tcp`, trusting what `tls` trusts, and configuring
    /// connections with `config`.
    pub fn new<R: Runtime>(
        runtime: &R,
        resolver: DynResolver,
        tcp: TcpConfig,
        tls: &TlsClientConfigs,
        config: &Http3Config,
    ) -> Self {
        let client = match tls.for_http3() {
            Some(rustls) => quinn::crypto::rustls::QuicClientConfig::try_from(if config.zero_rtt {
                let mut early = (*rustls).clone();
                early.enable_early_data = true;
                Arc::new(early)
            } else {
                rustls
            })
            .map(|crypto| {
                let mut client = quinn::ClientConfig::new(Arc::new(crypto));
                client.transport_config(Arc::new(transport_config(config)));
                client
            })
            .map_err(|e| format!("the TLS settings cannot carry QUIC: {e}")),
            None => Err("HTTP/3 needs TLS 1.3, which the TLS settings exclude".to_owned()),
        };
        Self {
            inner: Arc::new(Inner {
                quic_runtime: runtime.quic_runtime(),
                timer: runtime.timer(),
                resolver,
                tcp,
                client,
                zero_rtt: config.zero_rtt,
                endpoint: Mutex::new(None),
            }),
        }
    }

    /// Resolves `target` and completes a QUIC handshake with one of its addresses.
    pub async fn connect(&self, target: &Target) -> Result<QuicConnection, ConnectError> {
        self.open(target, false).await
    }

    /// Like [`connect`](Self::connect), but with [`Http3Config::zero_rtt`] on and a TLS
    /// session of the server's to resume, returns as soon as the first address's handshake
    /// has started: the connection then sends early data until the handshake is done
    /// ([`QuicConnection::is_early`]). Only replay-safe requests may go in early data.
    pub async fn connect_early(&self, target: &Target) -> Result<QuicConnection, ConnectError> {
        self.open(target, self.inner.zero_rtt).await
    }

    async fn open(&self, target: &Target, early: bool) -> Result<QuicConnection, ConnectError> {
        let client = self
            .inner
            .client
            .as_ref()
            .map_err(|why| ConnectError::msg(ConnectErrorKind::Tls, why.clone()))?
            .clone();
        let mut resolver = self.inner.resolver.clone();
        let (addrs, dns) = match target.alternative() {
            None => resolve(&mut resolver, &self.inner.tcp, target).await?,
            Some(alternative) => {
                // The alternative's host and port; an override's port for that host does not
                // apply, since the alternative named its own.
                let host = alternative.host().unwrap_or(target.authority.host());
                let authority = Authority::try_from(format!("{host}:{}", alternative.port()))
                    .map_err(|e| ConnectError::new(ConnectErrorKind::Dns, e).with_message(host))?;
                let at = Target::new(target.scheme.clone(), authority, target.protocol);
                let (addrs, dns) = resolve(&mut resolver, &self.inner.tcp, &at).await?;
                let port = alternative.port();
                let addrs = addrs
                    .into_iter()
                    .map(|addr| SocketAddr::new(addr.ip(), port))
                    .collect();
                (addrs, dns)
            }
        };
        let start = Instant::now();
        let (handshake, remote, local) = match self.handshake(&client, &addrs, target, early).await
        {
            // The endpoint's driver is gone (the runtime it ran on shut down, say): a new
            // endpoint, on the runtime running now, gets one more try.
            Err(Stopped::Endpoint) => {
                self.forget_endpoint();
                self.handshake(&client, &addrs, target, early)
                    .await
                    .map_err(Stopped::into_error)?
            }
            other => other.map_err(Stopped::into_error)?,
        };
        let Handshake {
            connection,
            early_data,
        } = handshake;
        let mut timings = ConnectTimings::default().with_quic(start.elapsed());
        if let Some(took) = dns {
            timings = timings.with_dns(took);
        }
        let mut connected = Connected::default()
            .with_remote_addr(remote)
            .with_timings(timings);
        if let Some(local) = local {
            connected = connected.with_local_addr(local);
        }
        Ok(QuicConnection {
            connection,
            connected,
            early_data,
        })
    }

    /// Handshakes with the first of `addrs` to answer, through the endpoint (or, `early`,
    /// starts a 0-RTT one with the first address when a session can be resumed); the
    /// connection, its peer and the endpoint's address.
    async fn handshake(
        &self,
        client: &quinn::ClientConfig,
        addrs: &[SocketAddr],
        target: &Target,
        early: bool,
    ) -> Result<(Handshake, SocketAddr, Option<SocketAddr>), Stopped> {
        let endpoint = self.endpoint()?;
        let local = endpoint
            .local_addr()
            .map_err(|e| ConnectError::new(ConnectErrorKind::Quic, e))?;
        // Only the dual-stack socket (`[::]`) reaches both families.
        let reachable = |addr: &&SocketAddr| match local {
            SocketAddr::V4(_) => addr.is_ipv4(),
            SocketAddr::V6(v6) if !v6.ip().is_unspecified() => addr.is_ipv6(),
            SocketAddr::V6(_) => true,
        };
        let addrs: Vec<SocketAddr> = addrs.iter().filter(reachable).copied().collect();
        if addrs.is_empty() {
            return Err(ConnectError::msg(
                ConnectErrorKind::Quic,
                format!(
                    "no address for {} that the QUIC socket on {local} can reach",
                    target.host()
                ),
            )
            .into());
        }
        let server_name = target.host().to_owned();
        let mut endpoint_stopped = false;
        let raced = race(
            addrs,
            &self.inner.timer,
            self.inner.tcp.happy_eyeballs_delay,
            |addr| {
                let connecting = endpoint.connect_with(client.clone(), addr, &server_name);
                endpoint_stopped |=
                    matches!(connecting, Err(quinn::ConnectError::EndpointStopping));
                Box::pin(async move {
                    let connecting =
                        connecting.map_err(|e| ConnectError::new(ConnectErrorKind::Quic, e))?;
                    let connecting = if early {
                        match connecting.into_0rtt() {
                            Ok((connection, accepted)) => {
                                return Ok(Handshake {
                                    connection,
                                    early_data: Some(accepted),
                                });
                            }
                            // No session to resume: a full handshake.
                            Err(connecting) => connecting,
                        }
                    } else {
                        connecting
                    };
                    let connection = connecting.await.map_err(handshake_error)?;
                    Ok(Handshake {
                        connection,
                        early_data: None,
                    })
                })
            },
        )
        .await;
        match raced {
            Ok((connection, remote)) => Ok((connection, remote, Some(local))),
            Err(_) if endpoint_stopped => Err(Stopped::Endpoint),
            Err(error) => Err(error.into()),
        }
    }

    /// Drops the endpoint, so the next connect binds a new one.
    fn forget_endpoint(&self) {
        *self
            .inner
            .endpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The endpoint, bound on first use.
    fn endpoint(&self) -> Result<quinn::Endpoint, ConnectError> {
        // Only a clone or an insert happens under the lock: nothing to find half-done.
        let mut endpoint = self
            .inner
            .endpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(endpoint) = &*endpoint {
            return Ok(endpoint.clone());
        }
        let runtime = self.inner.quic_runtime.clone().ok_or_else(|| {
            ConnectError::msg(
                ConnectErrorKind::Unsupported,
                "this runtime has no QUIC adapter, so it cannot speak HTTP/3",
            )
        })?;
        let socket =
            bind(&self.inner.tcp).map_err(|e| ConnectError::new(ConnectErrorKind::Quic, e))?;
        let bound = quinn::Endpoint::new(quinn::EndpointConfig::default(), None, socket, runtime)
            .map_err(|e| ConnectError::new(ConnectErrorKind::Quic, e))?;
        *endpoint = Some(bound.clone());
        Ok(bound)
    }
}

/// The UDP socket of the endpoint (see the module docs for the choice of address).
fn bind(tcp: &TcpConfig) -> io::Result<std::net::UdpSocket> {
    let udp =
        |domain| socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP));
    if let Some(v4) = tcp.local_ipv4 {
        let socket = udp(socket2::Domain::IPV4)?;
        socket.bind(&SocketAddr::from((v4, 0)).into())?;
        return Ok(socket.into());
    }
    if let Some(v6) = tcp.local_ipv6 {
        let socket = udp(socket2::Domain::IPV6)?;
        socket.bind(&SocketAddr::from((v6, 0)).into())?;
        return Ok(socket.into());
    }
    let dual_stack = udp(socket2::Domain::IPV6).and_then(|socket| {
        socket.set_only_v6(false)?;
        socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)).into())?;
        Ok(socket)
    });
    match dual_stack {
        Ok(socket) => Ok(socket.into()),
        Err(_) => {
            let socket = udp(socket2::Domain::IPV4)?;
            socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)).into())?;
            Ok(socket.into())
        }
    }
}

/// quinn's transport settings from `config`.
fn transport_config(config: &Http3Config) -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_idle_timeout(
            config
                .max_idle_timeout
                .and_then(|t| quinn::IdleTimeout::try_from(t).ok()),
        )
        .keep_alive_interval(config.keep_alive_interval)
        .stream_receive_window(config.stream_receive_window.into())
        .receive_window(config.receive_window.into())
        .max_concurrent_bidi_streams(config.max_concurrent_bidi_streams.into());
    let congestion: Arc<dyn quinn::congestion::ControllerFactory + Send + Sync> =
        match config.congestion_controller {
            CongestionController::Cubic => Arc::new(quinn::congestion::CubicConfig::default()),
            CongestionController::NewReno => Arc::new(quinn::congestion::NewRenoConfig::default()),
            CongestionController::Bbr => Arc::new(quinn::congestion::BbrConfig::default()),
        };
    transport.congestion_controller_factory(congestion);
    transport
}

/// Whether `error` closed the connection for a TLS reason: a crypto error code (RFC 9001
/// §4.8), ours (we rejected the server's certificate) or the server's (it rejected ours,
/// which TLS 1.3 may say only after the handshake looked complete to us).
pub(crate) fn is_tls_failure(error: &quinn::ConnectionError) -> bool {
    let is_crypto = |code: quinn::TransportErrorCode| (0x100..0x200).contains(&u64::from(code));
    match error {
        quinn::ConnectionError::TransportError(e) => is_crypto(e.code),
        quinn::ConnectionError::ConnectionClosed(close) => is_crypto(close.error_code),
        _ => false,
    }
}

/// A failed QUIC handshake as a connect error: a TLS failure is [`ConnectErrorKind::Tls`],
/// quinn's idle timeout a timeout, anything else [`ConnectErrorKind::Quic`].
fn handshake_error(error: quinn::ConnectionError) -> ConnectError {
    let kind = if is_tls_failure(&error) {
        ConnectErrorKind::Tls
    } else if matches!(error, quinn::ConnectionError::TimedOut) {
        ConnectErrorKind::Timeout
    } else {
        ConnectErrorKind::Quic
    };
    ConnectError::new(kind, error)
}

/// Why a handshake failed: an endpoint that can no longer connect, or a connect error.
enum Stopped {
    Endpoint,
    Error(ConnectError),
}

impl From<ConnectError> for Stopped {
    fn from(error: ConnectError) -> Self {
        Self::Error(error)
    }
}

impl Stopped {
    fn into_error(self) -> ConnectError {
        match self {
            Self::Endpoint => ConnectError::msg(
                ConnectErrorKind::Quic,
                "the QUIC endpoint stopped and a new one could not connect either",
            ),
            Self::Error(error) => error,
        }
    }
}

/// A connection whose handshake is done, or (with `early_data`) under way in 0-RTT.
struct Handshake {
    connection: quinn::Connection,
    early_data: Option<quinn::ZeroRttAccepted>,
}

type Attempt = BoxFuture<'static, Result<Handshake, ConnectError>>;

/// Runs `attempt` for each address in turn, starting the next when the one before failed or
/// `delay` passed, until one succeeds (the others are dropped, which abandons their
/// handshakes); the last error when all fail.
async fn race(
    addrs: Vec<SocketAddr>,
    timer: &SharedTimer,
    delay: std::time::Duration,
    mut attempt: impl FnMut(SocketAddr) -> Attempt,
) -> Result<(Handshake, SocketAddr), ConnectError> {
    let mut addrs = addrs.into_iter();
    let mut pending: Vec<(SocketAddr, Attempt)> = Vec::new();
    let mut next_after: Option<Pin<Box<dyn hyper::rt::Sleep>>> = None;
    let mut last_error = None;
    poll_fn(|cx| {
        loop {
            let delay_over = next_after
                .as_mut()
                .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready());
            let mut changed = false;
            if pending.is_empty() || delay_over {
                next_after = None;
                if let Some(addr) = addrs.next() {
                    pending.push((addr, attempt(addr)));
                    next_after = Some(timer.sleep(delay));
                    changed = true;
                } else if pending.is_empty() {
                    return Poll::Ready(Err(last_error.take().unwrap_or_else(|| {
                        ConnectError::msg(ConnectErrorKind::Quic, "no address to connect to")
                    })));
                }
            }
            let mut i = 0;
            while let Some((addr, future)) = pending.get_mut(i) {
                match future.as_mut().poll(cx) {
                    Poll::Ready(Ok(connection)) => return Poll::Ready(Ok((connection, *addr))),
                    Poll::Ready(Err(error)) => {
                        last_error = Some(error);
                        drop(pending.swap_remove(i));
                        changed = true;
                    }
                    Poll::Pending => i += 1,
                }
            }
            if !changed {
                return Poll::Pending;
            }
        }
    })
    .await
}
