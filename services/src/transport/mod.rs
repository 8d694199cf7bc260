//! The HTTP transport: a `tower::Service<http::Request<B>>` over pooled
//! `hyper::client::conn` HTTP/1.1 and HTTP/2 connections, and (feature `http3`) HTTP/3
//! connections over QUIC.
//!
//! Per request it picks the [`Protocol`] (a `Protocol` request extension wins, then the
//! request's version — `HTTP_2` asks for HTTP/2, `HTTP_10` for HTTP/1, `HTTP_3` for HTTP/3 —
//! then the configured default), takes a pooled connection or makes one through the
//! connector (the QUIC connector given to `Transport::with_http3` for HTTP/3), and sends.
//! For HTTP/1 it writes the request in origin form with a `Host` header; for HTTP/2 and
//! HTTP/3 in absolute form. HTTP/3 is for `https` only: a request that asks for it for an
//! `http` URL, through a proxy or a Unix socket fails; a configured default of HTTP/3 leaves
//! `http` URLs on HTTP/1.1.
//!
//! `Alt-Svc` (feature `http3`, with an `AltSvcCache` in `Http3Config::alt_svc`): every
//! response from an `https` origin reached directly teaches the cache, and a request that
//! did not choose its protocol goes to the origin's HTTP/3 alternative while the cache has
//! one that is not broken: over a pooled connection to it, or a QUIC handshake that runs on
//! a task of its own (so it can finish and be pooled for later requests whoever waits for
//! it), with `Http3Config::alt_svc_budget` of head start over a TCP connection to the
//! origin; the first of the two to be ready carries the request. A handshake that fails, or
//! is not done within the budget, marks the alternative broken; one that succeeds clears the
//! mark. The alternative's connections are pooled under the origin with the alternative's
//! endpoint in the key (`Target::alternative`).
//!
//! Stale connections: a request handed back unsent by a pooled connection is sent again on
//! a fresh connection, once. When a reused connection dies after the request was written
//! (the keep-alive race: the server closed it as the request went out), the server may have
//! acted on it: an idempotent request (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) whose body
//! is empty or was held in memory — sent in one data frame, which the transport kept (see
//! [`SendBody`]) — is sent again on a fresh connection, once, byte for byte; a
//! non-idempotent request, or one with a streaming body, gets
//! [`TransportErrorKind::ConnectionClosedAmbiguous`]. A connection that dies after the
//! request was written is that same error on a fresh connection, where nothing is sent
//! again (the server, not a keep-alive race, ended it). A stream that an HTTP/2 server
//! refused (REFUSED_STREAM, or a graceful GOAWAY) was not processed: an idempotent request
//! with an empty or kept body is sent again; any other gets [`TransportErrorKind::Refused`],
//! which a retry layer may resend. Doing this costs a clone of the request head for
//! idempotent requests on reused and HTTP/2 connections — the price of never losing a GET
//! or a PUT to a keep-alive race.
//!
//! Upgrades: HTTP/1 connections are driven with hyper's upgrade support, so a `101
//! Switching Protocols` (or a 2xx to `CONNECT`) carries a `hyper::upgrade::OnUpgrade` in its
//! extensions and its connection never returns to the pool. An extended CONNECT (RFC 8441: a
//! `CONNECT` request with a `hyper::ext::Protocol` extension) goes over a pooled HTTP/2
//! connection, and fails with [`TransportErrorKind::ExtendedConnectUnsupported`] before
//! anything is sent when the server did not enable it; its 200 carries the `OnUpgrade` of the
//! stream. An HTTP/2 connection is handed out only once the server's SETTINGS are in effect,
//! so even the first request on it sees them.
//!
//! Every response carries a [`ConnectionInfo`] in its extensions (addresses, reuse, the
//! connection's phases and the moment the request was sent), which the timings layer
//! reads. Errors say whether the request may have reached the server through
//! [`retry_class`](crate::retry_class).
//!
//! The response future is boxed once per request; layers above it are not.

mod body;
mod config;
#[cfg(feature = "http3")]
pub(crate) mod http3;
mod preface;
mod write_timeout;

use std::error::Error as StdError;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{CONNECTION, HOST, HeaderValue};
use http::{Method, Request, Response, Uri, Version};
use http_body::Body;
use hyper::client::conn::{http1, http2};
use tower_service::Service;
use towline_core::{ClosedConnection, RequestHead};

pub use body::{ResponseBody, SendBody, SendData};
#[cfg(feature = "http3")]
pub use config::{CongestionController, Http3Config};
pub use config::{ConnectionCloseHook, Http1Config, Http2Config, TransportConfig};
pub(crate) use write_timeout::WriteLimit;
use write_timeout::WriteTimeoutIo;
pub use write_timeout::{WriteTimedOut, WriteTimeout};

use crate::connect::proxy::{ProxyCredentials, ProxyUrl};
use crate::connect::unix::UnixSocket;
use crate::connect::{Connection, Protocol, Target};
use crate::error::{ConnectError, ConnectErrorKind, TransportError, TransportErrorKind};
use crate::pool::{Checkout, Pool, PooledConn, Sender, Waited};
use crate::rt::{BoxFuture, Exec, Runtime, SharedTimer, TimerHandle, timeout, until};
use body::Release;

type BoxError = Box<dyn StdError + Send + Sync>;

pub use towline_core::ConnectionInfo;

struct Inner<C, B, R> {
    connector: C,
    runtime: R,
    timer: SharedTimer,
    pool: Pool<SendBody<B>>,
    config: TransportConfig,
    http1: http1::Builder,
    http2: http2::Builder<Exec<R>>,
    /// Opens the QUIC connections of HTTP/3 requests; `None` fails them.
    #[cfg(feature = "http3")]
    quic: Option<crate::connect::quic::QuicConnector>,
}

/// The transport service; clones share one pool.
pub struct Transport<C, B, R>
where
    B: Send + 'static,
{
    inner: Arc<Inner<C, B, R>>,
}

impl<C, B: Send + 'static, R> Clone for Transport<C, B, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<C, B: Send + 'static, R> std::fmt::Debug for Transport<C, B, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl<C, B, R> Transport<C, B, R>
where
    R: Runtime,
    B: Send + 'static,
{
    /// A transport connecting through `connector` on `runtime`.
    pub fn new(connector: C, runtime: R, config: TransportConfig) -> Self {
        let timer = runtime.timer();
        let spawner = runtime.clone();
        let pool = Pool::new(
            config.pool.clone(),
            timer.clone(),
            Arc::new(move |task| spawner.spawn(task)),
        );
        let mut h1 = http1::Builder::new();
        h1.title_case_headers(config.http1.title_case_headers)
            .allow_obsolete_multiline_headers_in_responses(
                config.http1.allow_obsolete_multiline_headers,
            );
        if let Some(size) = config.http1.max_header_size {
            h1.max_header_size(size);
        }
        if let Some(count) = config.http1.max_headers {
            h1.max_headers(count);
        }
        let mut h2 = http2::Builder::new(Exec(runtime.clone()));
        let h2c = &config.http2;
        h2.timer(TimerHandle(timer.clone()))
            .initial_stream_window_size(h2c.initial_stream_window_size)
            .initial_connection_window_size(h2c.initial_connection_window_size)
            .adaptive_window(h2c.adaptive_window)
            .max_frame_size(h2c.max_frame_size)
            .keep_alive_interval(h2c.keep_alive_interval)
            .keep_alive_timeout(h2c.keep_alive_timeout)
            .keep_alive_while_idle(h2c.keep_alive_while_idle);
        if let Some(size) = h2c.max_header_list_size {
            h2.max_header_list_size(size);
        }
        if let Some(size) = h2c.max_send_buf_size {
            h2.max_send_buf_size(size);
        }
        if let Some(count) = h2c.max_concurrent_reset_streams {
            h2.max_concurrent_reset_streams(count);
        }
        Self {
            inner: Arc::new(Inner {
                connector,
                runtime,
                timer,
                pool,
                config,
                http1: h1,
                http2: h2,
                #[cfg(feature = "http3")]
                quic: None,
            }),
        }
    }

    /// A transport that also speaks HTTP/3, opening QUIC connections through `quic`: to
    /// requests for [`Protocol::Http3`] (a `Protocol` extension, version `HTTP_3`, or the
    /// configured default) to `https` targets.
    #[cfg(feature = "http3")]
    pub fn with_http3(
        connector: C,
        quic: crate::connect::quic::QuicConnector,
        runtime: R,
        config: TransportConfig,
    ) -> Self {
        let mut transport = Self::new(connector, runtime, config);
        if let Some(inner) = Arc::get_mut(&mut transport.inner) {
            inner.quic = Some(quic);
        }
        transport
    }

    /// The pool (to inspect idle connections).
    pub fn pool(&self) -> &Pool<SendBody<B>> {
        &self.inner.pool
    }
}

impl<C, B, R, IO> Service<Request<B>> for Transport<C, B, R>
where
    C: Service<Target, Response = IO> + Clone + Send + Sync + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
    IO: hyper::rt::Read + hyper::rt::Write + Connection + Unpin + Send + 'static,
    R: Runtime,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<B>>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move { Inner::send(&inner, request).await })
    }
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

fn protocol_for<B>(request: &Request<B>, default: Protocol) -> Protocol {
    if let Some(protocol) = request.extensions().get::<Protocol>() {
        return *protocol;
    }
    match request.version() {
        Version::HTTP_2 => Protocol::Http2,
        #[cfg(feature = "http3")]
        Version::HTTP_3 => Protocol::Http3,
        Version::HTTP_10 | Version::HTTP_09 => Protocol::Http1,
        _ => default,
    }
}

/// Whether a send error on a reused connection means "the peer closed it under us": the
/// request may or may not have been processed.
fn closed_under_us(error: &hyper::Error) -> bool {
    if error.is_incomplete_message() || error.is_canceled() || error.is_closed() {
        return true;
    }
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            );
        }
        source = cause.source();
    }
    false
}

/// Whether the server said, through HTTP/2, that it did not process the request: the stream
/// was refused, or the connection went away gracefully before the stream (RFC 9113 §8.7).
fn refused_unprocessed(error: &hyper::Error) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(h2) = cause.downcast_ref::<h2::Error>() {
            return h2.is_remote()
                && (h2.reason() == Some(h2::Reason::REFUSED_STREAM)
                    || h2.is_go_away() && h2.reason() == Some(h2::Reason::NO_ERROR));
        }
        source = cause.source();
    }
    false
}

/// The `Host` header for HTTP/1 requests to `target`: the authority without userinfo, and
/// without the port when it is the scheme's default.
fn host_header_for(target: &Target) -> Option<HeaderValue> {
    let authority = target.authority.as_str();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let default_port =
        target.authority.port_u16() == Some(if target.is_https() { 443 } else { 80 });
    let value = if default_port {
        target.authority.host()
    } else {
        host_port
    };
    HeaderValue::from_str(value).ok()
}

/// Rewrites the request head for the connection's protocol.
fn prepare<B>(
    request: &mut Request<B>,
    http2: bool,
    target: &Target,
    host_header: Option<&HeaderValue>,
    absolute_form: bool,
) {
    if http2 {
        *request.version_mut() = Version::HTTP_2;
        if request.uri().scheme().is_none() {
            let mut parts = request.uri().clone().into_parts();
            parts.scheme = Some(target.scheme.clone());
            parts.authority = Some(target.authority.clone());
            if let Ok(uri) = Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
        return;
    }
    if request.version() != Version::HTTP_10 {
        *request.version_mut() = Version::HTTP_11;
    }
    if let Some(host) = host_header
        && !request.headers().contains_key(HOST)
    {
        request.headers_mut().insert(HOST, host.clone());
    }
    if absolute_form {
        return;
    }
    if request.method() == Method::CONNECT {
        *request.uri_mut() = Uri::from(target.authority.clone());
    } else if request.uri().scheme().is_some() {
        let origin_form = match request.uri().path_and_query() {
            Some(path) if path.as_str().starts_with('/') || path.as_str() == "*" => {
                Uri::from(path.clone())
            }
            _ => Uri::from_static("/"),
        };
        *request.uri_mut() = origin_form;
    }
}

fn asks_to_close(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("close"))
}

impl<C, B, R, IO> Inner<C, B, R>
where
    C: Service<Target, Response = IO> + Clone + Send + Sync + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
    IO: hyper::rt::Read + hyper::rt::Write + Connection + Unpin + Send + 'static,
    R: Runtime,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Puts the request's proxy route, if any, into `target`. A plain-http request to an
    /// HTTP proxy goes to the proxy in absolute form, over a connection keyed by the proxy
    /// and shared by every origin behind it: `target` becomes the proxy, and the request gets
    /// its origin's `Host` and the proxy's Basic credentials now (the caller's own headers
    /// win); returns whether that is the case.
    fn route_through_proxy(
        &self,
        request: &mut Request<B>,
        target: &mut Target,
    ) -> Result<bool, BoxError> {
        let Some(route) = self.config.proxy.route(request.uri()) else {
            return Ok(false);
        };
        if !route.is_forward() {
            target.set_proxy(Some(route));
            return Ok(false);
        }
        let last = route.last().map(ProxyUrl::host_port).unwrap_or_default();
        let authority = http::uri::Authority::try_from(last)
            .map_err(|e| TransportError::new(TransportErrorKind::InvalidUri, Some(e.into())))?;
        let credentials = route
            .last()
            .and_then(ProxyUrl::credentials)
            .map(ProxyCredentials::basic_header);
        let mut proxy_target = Target::new(http::uri::Scheme::HTTP, authority, Protocol::Http1);
        proxy_target.set_proxy(Some(route));
        let origin = std::mem::replace(target, proxy_target);
        let headers = request.headers_mut();
        if let Some(host) = host_header_for(&origin) {
            headers.entry(HOST).or_insert(host);
        }
        if let Some(credentials) = credentials {
            headers
                .entry(http::header::PROXY_AUTHORIZATION)
                .or_insert(credentials);
        }
        Ok(true)
    }

    async fn send(
        self: &Arc<Self>,
        mut request: Request<B>,
    ) -> Result<Response<ResponseBody<B>>, BoxError> {
        let protocol = protocol_for(&request, self.config.protocol);
        let mut target = Target::from_uri(request.uri(), protocol)
            .ok_or_else(|| TransportError::new(TransportErrorKind::InvalidUri, None))?;
        if let Some(UnixSocket(path)) = request.extensions().get() {
            target.set_unix_socket(Some(path.clone()));
        }
        let forward = target.unix_socket().is_none()
            && !self.config.proxy.is_empty()
            && self.route_through_proxy(&mut request, &mut target)?;
        if target.scheme != http::uri::Scheme::HTTP && target.scheme != http::uri::Scheme::HTTPS {
            return Err(ConnectError::msg(
                ConnectErrorKind::Unsupported,
                format!("unsupported scheme {}", target.scheme),
            )
            .into());
        }
        #[cfg(feature = "http3")]
        if target.protocol == Protocol::Http3 {
            let explicit = request.extensions().get::<Protocol>().is_some()
                || request.version() == Version::HTTP_3;
            if !target.is_https() && !explicit {
                // The default is HTTP/3, which needs TLS: plain `http` is HTTP/1.1.
                target.protocol = Protocol::Http1;
            } else if !target.is_https() {
                return Err(ConnectError::msg(
                    ConnectErrorKind::Unsupported,
                    "HTTP/3 needs an https URL",
                )
                .into());
            } else if target.unix_socket().is_some() || target.proxy().is_some() {
                return Err(ConnectError::msg(
                    ConnectErrorKind::Unsupported,
                    "HTTP/3 goes over UDP to the server: not through a proxy or a Unix socket",
                )
                .into());
            }
        }
        if target.protocol == Protocol::Auto && !target.is_https() {
            // Without TLS there is nothing to negotiate: "auto" is HTTP/1.1, and requests
            // that ask for HTTP/1 explicitly share its connections.
            target.protocol = Protocol::Http1;
        }
        #[cfg(feature = "http3")]
        let alt_svc = self
            .config
            .http3
            .alt_svc
            .as_ref()
            .filter(|_| self.quic.is_some() && target.is_https() && target.is_direct());
        #[cfg(feature = "http3")]
        let (target, mut raced) = match alt_svc {
            Some(cache) if target.protocol == Protocol::Auto => {
                self.alternative_route(target, cache).await?
            }
            _ => (target, None),
        };
        #[cfg(not(feature = "http3"))]
        let mut raced = None;
        let idempotent = is_idempotent(request.method());
        let request_closes = asks_to_close(request.headers());
        let mut request = request.map(SendBody::new);
        let mut fresh_only = false;
        loop {
            let conn = match raced.take() {
                Some(conn) => conn,
                None => self.acquire(&target, fresh_only).await?,
            };
            let PooledConn {
                sender,
                connected,
                reused,
                host_header,
                slot,
            } = conn;
            // A reused connection may have died under us; an HTTP/2 or HTTP/3 one may refuse
            // streams (GOAWAY, REFUSED_STREAM, H3_REQUEST_REJECTED) even when fresh, since
            // others share it.
            let shared = !matches!(sender, Sender::Http1(_));
            let may_replay = (reused || shared) && !fresh_only;
            let host_header = if shared || forward {
                None
            } else {
                host_header.or_else(|| host_header_for(&target))
            };
            if !shared {
                let limit = request.extensions().get::<WriteTimeout>();
                connected.write_limit.set(
                    limit
                        .map(|WriteTimeout(limit)| *limit)
                        .or(self.config.write_timeout),
                );
            }
            prepare(&mut request, shared, &target, host_header.as_ref(), forward);
            let replay_head = if may_replay && idempotent {
                request.body().keep();
                Some(RequestHead::from_request(&request))
            } else {
                None
            };
            let had_body = !request.body().is_empty();
            let is_connect = request.method() == Method::CONNECT;
            let sent_at = self.timer.now();
            let request_sent = request.body().sent_flag();
            let (result, h1_sender) = match sender {
                Sender::Http1(mut sender) => {
                    let sent = sender.try_send_request(request).await;
                    (
                        sent.map(Sent::Hyper).map_err(Failure::from_hyper),
                        Some(sender),
                    )
                }
                Sender::Http2(mut sender) => {
                    if is_connect
                        && !connected.extended_connect
                        && request.extensions().get::<hyper::ext::Protocol>().is_some()
                    {
                        return Err(TransportError::new(
                            TransportErrorKind::ExtendedConnectUnsupported,
                            None,
                        )
                        .into());
                    }
                    let sent = sender.try_send_request(request).await;
                    (sent.map(Sent::Hyper).map_err(Failure::from_hyper), None)
                }
                #[cfg(feature = "http3")]
                Sender::Http3(mut sender) => {
                    // Early data may be replayed by an attacker: only an idempotent request
                    // without a body goes in it; any other waits for the handshake.
                    let early = sender.pending_early_data();
                    let replay_safe = idempotent && !had_body;
                    if let Some(early) = &early
                        && !replay_safe
                        && !early.accepted().await
                    {
                        // The connection is done for (see `http3`); nothing was sent.
                        fresh_only = true;
                        continue;
                    }
                    *request.version_mut() = Version::HTTP_3;
                    let mut sent = http3::send(&mut sender, request, &self.runtime).await;
                    if let (Err(failure), Some(early)) = (&mut sent, early.filter(|_| replay_safe))
                        && !early.accepted().await
                    {
                        // The server dropped the early data unprocessed.
                        failure.refused = true;
                    }
                    (
                        sent.map(|response| Sent::Http3(response.map(Box::new)))
                            .map_err(Failure::from_http3),
                        None,
                    )
                }
            };
            let failure = match result {
                Ok(response) => {
                    if replay_head.is_some() && had_body {
                        request_sent.stop_keeping();
                    }
                    let mut response = match response {
                        Sent::Hyper(response) => {
                            // An HTTP/1 connection's slot returns to the pool with it; an
                            // HTTP/2 one the pool does not keep lasts as long as this
                            // response.
                            let (release, h2_slot) = match h1_sender {
                                Some(sender) => (Some((sender, slot)), None),
                                None => (None, slot),
                            };
                            let release = release.map(|(sender, slot)| Release {
                                pool: self.pool.clone(),
                                target: target.clone(),
                                conn: PooledConn {
                                    sender: Sender::Http1(sender),
                                    connected: connected.clone(),
                                    reused: true,
                                    host_header,
                                    slot,
                                },
                                reusable: !(request_closes
                                    || asks_to_close(response.headers())
                                    || response.status() == http::StatusCode::SWITCHING_PROTOCOLS
                                    || is_connect && response.status().is_success()),
                                request_sent,
                            });
                            response.map(|body| ResponseBody::new(body, release, h2_slot))
                        }
                        #[cfg(feature = "http3")]
                        Sent::Http3(response) => {
                            response.map(|body| ResponseBody::http3(body, slot))
                        }
                    };
                    let mut info =
                        ConnectionInfo::new(connected.timings, sent_at).with_reused(reused);
                    if let Some(addr) = connected.remote_addr {
                        info = info.with_remote_addr(addr);
                    }
                    if let Some(addr) = connected.local_addr {
                        info = info.with_local_addr(addr);
                    }
                    response.extensions_mut().insert(info);
                    #[cfg(feature = "http3")]
                    if let Some(cache) = alt_svc {
                        cache.learn(target.host(), target.port(), response.headers());
                    }
                    return Ok(response);
                }
                Err(failure) => failure,
            };
            if may_replay {
                if let Some(unsent) = failure.unsent {
                    request = unsent;
                    fresh_only = true;
                    continue;
                }
                if failure.refused || reused && failure.closed {
                    let body = if had_body {
                        request_sent.take_kept().map(SendBody::kept)
                    } else {
                        Some(SendBody::empty())
                    };
                    if let (Some(head), Some(body)) = (replay_head, body) {
                        request = head.into_request(body);
                        fresh_only = true;
                        continue;
                    }
                    if failure.refused {
                        return Err(TransportError::new(
                            TransportErrorKind::Refused,
                            Some(failure.error),
                        )
                        .into());
                    }
                }
            }
            // The server read the request, then the connection ended: whether it acted on
            // it is unknown, on a fresh connection as on a reused one.
            let kind = if failure.closed {
                TransportErrorKind::ConnectionClosedAmbiguous
            } else {
                TransportErrorKind::Request
            };
            return Err(TransportError::new(kind, Some(failure.error)).into());
        }
    }

    async fn acquire(
        &self,
        target: &Target,
        fresh_only: bool,
    ) -> Result<PooledConn<SendBody<B>>, BoxError> {
        let may_be_http2 = match target.protocol {
            Protocol::Http2 => true,
            Protocol::Http1 => false,
            Protocol::Auto => target.is_https(),
            #[cfg(feature = "http3")]
            Protocol::Http3 => true,
        };
        // One deadline for every wait of this acquire, started by the first.
        let mut deadline = None;
        let mut next = None;
        loop {
            let checkout = match next.take() {
                Some(checkout) => checkout,
                None if fresh_only => self.pool.ungated(target),
                None => self.pool.checkout(target, may_be_http2),
            };
            match checkout {
                Checkout::Ready(mut conn) => {
                    if conn.ready().await {
                        return Ok(conn);
                    }
                }
                Checkout::Wait(waiting) => {
                    let waited = match self.config.pool_acquire_timeout {
                        Some(limit) => {
                            let sleep = deadline.get_or_insert_with(|| self.timer.sleep(limit));
                            until(sleep.as_mut(), waiting).await.ok_or_else(|| {
                                TransportError::new(TransportErrorKind::PoolTimeout, None)
                            })?
                        }
                        None => waiting.await,
                    };
                    match waited {
                        Ok(Waited::Conn(conn)) => next = Some(Checkout::Ready(conn)),
                        Ok(Waited::Slot(slot)) => {
                            next = Some(self.pool.connect_with(target, Some(slot)))
                        }
                        Ok(Waited::Failed(error)) => return Err(error.into()),
                        Ok(Waited::Retry) | Err(_) => {}
                    }
                }
                // Boxed: connecting (DNS, Happy Eyeballs, TLS, handshake) is a large future
                // that would otherwise be part of every request's future, and be moved with
                // it, even when the pool has a connection ready.
                Checkout::Connect(guard) => match Box::pin(self.connect(target, !fresh_only)).await
                {
                    Ok(mut conn) => {
                        if !matches!(conn.sender, Sender::Http1(_)) {
                            guard.finish_shared(&mut conn, self.timer.now());
                        } else {
                            guard.finish_http1(&mut conn);
                        }
                        return Ok(conn);
                    }
                    Err(error) => {
                        guard.fail(&error);
                        return Err(error.into());
                    }
                },
            }
        }
    }

    /// Makes a connection, within the connect timeout; `early` allows an HTTP/3 one to start
    /// in 0-RTT (see `Http3Config::zero_rtt`).
    async fn connect(
        &self,
        target: &Target,
        early: bool,
    ) -> Result<PooledConn<SendBody<B>>, ConnectError> {
        self.connect_within(target, early, self.config.connect_timeout)
            .await
    }

    /// Makes a connection within `limit`, if any.
    async fn connect_within(
        &self,
        target: &Target,
        early: bool,
        limit: Option<std::time::Duration>,
    ) -> Result<PooledConn<SendBody<B>>, ConnectError> {
        match limit {
            Some(limit) => timeout(&self.timer, limit, self.establish(target, early))
                .await
                .ok_or_else(|| {
                    ConnectError::msg(
                        ConnectErrorKind::Timeout,
                        format!("no connection within {limit:?}"),
                    )
                })?,
            None => self.establish(target, early).await,
        }
    }

    /// Connects (DNS, TCP, TLS through the connector) and completes the HTTP handshake.
    async fn establish(
        &self,
        target: &Target,
        // Only HTTP/3 connections start in 0-RTT.
        #[cfg_attr(not(feature = "http3"), expect(unused_variables))] early: bool,
    ) -> Result<PooledConn<SendBody<B>>, ConnectError> {
        #[cfg(feature = "http3")]
        if target.protocol == Protocol::Http3 {
            return self.establish_http3(target, early).await;
        }
        let mut connector = self.connector.clone();
        poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(into_connect_error)?;
        let io = connector
            .call(target.clone())
            .await
            .map_err(into_connect_error)?;
        let mut connected = io.connected();
        // Each connection its own limit, whatever a connector's `Connected` was cloned from.
        connected.write_limit = Arc::default();
        connected.write_limit.set(self.config.write_timeout);
        let io = WriteTimeoutIo::new(io, connected.write_limit.clone(), self.timer.clone());
        let use_http2 = match target.protocol {
            Protocol::Http2 => true,
            Protocol::Http1 => false,
            Protocol::Auto => connected.alpn_h2,
            // HTTP/3 targets never reach the TCP connector (see `establish`).
            #[cfg(feature = "http3")]
            Protocol::Http3 => connected.alpn_h2,
        };
        if use_http2 && target.is_https() && !connected.alpn_h2 {
            return Err(ConnectError::msg(
                ConnectErrorKind::Handshake,
                "HTTP/2 was required but the server did not select it in ALPN",
            ));
        }
        let handshake_error = |e: hyper::Error| ConnectError::new(ConnectErrorKind::Handshake, e);
        let version = if use_http2 {
            Version::HTTP_2
        } else {
            Version::HTTP_11
        };
        let close = self
            .config
            .on_connection_close
            .clone()
            .map(|hook| CloseReport {
                hook,
                timer: self.timer.clone(),
                opened: self.timer.now(),
                scheme: target.scheme.clone(),
                authority: target.authority.clone(),
                version,
                peer: connected.remote_addr,
            });
        let sender = if use_http2 {
            let (io, preface) = preface::watch(io);
            let (sender, connection) = self.http2.handshake(io).await.map_err(handshake_error)?;
            // The connection's own error says why it ended before the server's preface
            // (a TLS alert, say): the connect fails with it rather than with a guess.
            let (ended, why_ended) = futures_channel::oneshot::channel();
            let (settled, preface_settled) = futures_channel::oneshot::channel();
            self.runtime.spawn(Box::pin(async move {
                let result = drive_http2(connection, preface, settled).await;
                if let Some(close) = close {
                    close.report();
                }
                if let Err(error) = result {
                    let _ = ended.send(error);
                }
            }));
            match preface_settled.await {
                Ok(Settled::Settings { extended_connect }) => {
                    connected.extended_connect = extended_connect;
                }
                Ok(Settled::NotSettings) => {
                    return Err(ConnectError::msg(
                        ConnectErrorKind::Handshake,
                        "the server's first HTTP/2 frame was not SETTINGS",
                    ));
                }
                Err(_) => {
                    return Err(match why_ended.await {
                        Ok(error) => handshake_error(error),
                        Err(_) => ConnectError::msg(
                            ConnectErrorKind::Handshake,
                            "the connection closed before the server's HTTP/2 SETTINGS",
                        ),
                    });
                }
            }
            Sender::Http2(sender)
        } else {
            let (mut sender, connection) =
                self.http1.handshake(io).await.map_err(handshake_error)?;
            self.runtime.spawn(Box::pin(async move {
                let _ = connection.with_upgrades().await;
                if let Some(close) = close {
                    close.report();
                }
            }));
            sender.ready().await.map_err(handshake_error)?;
            Sender::Http1(sender)
        };
        Ok(PooledConn {
            sender,
            connected: Arc::new(connected),
            reused: false,
            host_header: None,
            slot: None,
        })
    }
}

/// A response head as the connection gave it.
enum Sent {
    Hyper(Response<hyper::body::Incoming>),
    #[cfg(feature = "http3")]
    Http3(Response<Box<http3::RecvBody>>),
}

/// Why sending a request failed, in the terms of the replay rules (see the module docs).
struct Failure<B> {
    /// The request, handed back because it never reached the wire.
    unsent: Option<Request<SendBody<B>>>,
    /// The server refused it unprocessed.
    refused: bool,
    /// The connection ended under it.
    closed: bool,
    error: BoxError,
}

impl<B> Failure<B> {
    fn from_hyper(mut error: hyper::client::conn::TrySendError<Request<SendBody<B>>>) -> Self {
        Self {
            unsent: error.take_message(),
            refused: refused_unprocessed(error.error()),
            closed: closed_under_us(error.error()),
            error: error.into_error().into(),
        }
    }

    #[cfg(feature = "http3")]
    fn from_http3(failure: http3::SendFailure) -> Self {
        Self {
            unsent: None,
            refused: failure.refused,
            closed: failure.closed,
            error: failure.error,
        }
    }
}

#[cfg(feature = "http3")]
impl<C, B, R> Inner<C, B, R>
where
    R: Runtime,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Opens a QUIC connection (DNS, the QUIC handshake) and starts HTTP/3 on it.
    async fn establish_http3(
        &self,
        target: &Target,
        early: bool,
    ) -> Result<PooledConn<SendBody<B>>, ConnectError> {
        let quic = self.quic.as_ref().ok_or_else(|| {
            ConnectError::msg(
                ConnectErrorKind::Unsupported,
                "this transport was built without an HTTP/3 connector",
            )
        })?;
        let connection = if early {
            quic.connect_early(target).await?
        } else {
            quic.connect(target).await?
        };
        let close = self
            .config
            .on_connection_close
            .clone()
            .map(|hook| CloseReport {
                hook,
                timer: self.timer.clone(),
                opened: self.timer.now(),
                scheme: target.scheme.clone(),
                authority: target.authority.clone(),
                version: Version::HTTP_3,
                peer: connection.connected().remote_addr,
            });
        let (sender, connected) = http3::handshake(
            connection,
            self.config.http3.max_field_section_size,
            &self.runtime,
            close,
        )
        .await?;
        Ok(PooledConn {
            sender: Sender::Http3(Box::new(sender)),
            connected: Arc::new(connected),
            reused: false,
            host_header: None,
            slot: None,
        })
    }
}

/// The longest an `Alt-Svc` handshake goes on in the background when the transport has no
/// connect timeout (quinn's idle timeout may be off, and a silent UDP port never answers).
#[cfg(feature = "http3")]
const ALT_SVC_HANDSHAKE_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

#[cfg(feature = "http3")]
impl<C, B, R, IO> Inner<C, B, R>
where
    C: Service<Target, Response = IO> + Clone + Send + Sync + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
    IO: hyper::rt::Read + hyper::rt::Write + Connection + Unpin + Send + 'static,
    R: Runtime,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// Where a request to `origin` goes when the origin named an HTTP/3 alternative in
    /// `cache` (see [`Http3Config::alt_svc`]): a pooled HTTP/3 connection to it; else a QUIC
    /// handshake with it, given the budget's head start over TCP. The target the request
    /// goes to, and the connection when it is already made.
    async fn alternative_route(
        self: &Arc<Self>,
        origin: Target,
        cache: &crate::alt_svc::AltSvcCache,
    ) -> Result<(Target, Option<PooledConn<SendBody<B>>>), BoxError> {
        let Some(endpoint) = cache.lookup(origin.host(), origin.port()) else {
            return Ok((origin, None));
        };
        let mut alternative = origin.clone();
        alternative.protocol = Protocol::Http3;
        let origins_own = endpoint.port() == origin.port()
            && endpoint
                .host()
                .is_none_or(|host| host.eq_ignore_ascii_case(origin.host()));
        if !origins_own {
            alternative.set_alternative(Some(endpoint.clone()));
        }
        // Set once the alternative is marked broken for the handshake this request started.
        let mut marked = None;
        let mut quic: BoxFuture<'static, Option<PooledConn<SendBody<B>>>> = loop {
            match self.pool.checkout(&alternative, true) {
                Checkout::Ready(mut conn) => {
                    if conn.ready().await {
                        return Ok((alternative, Some(conn)));
                    }
                }
                Checkout::Wait(waiting) => {
                    break Box::pin(async move {
                        match waiting.await {
                            Ok(Waited::Conn(conn)) => Some(conn),
                            _ => None,
                        }
                    });
                }
                Checkout::Connect(guard) => {
                    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
                    marked = Some(flag.clone());
                    break self.handshake_in_background(
                        alternative.clone(),
                        endpoint.clone(),
                        cache.clone(),
                        guard,
                        flag,
                    );
                }
            }
        };
        let mut head_start = self.timer.sleep(self.config.http3.alt_svc_budget);
        match until(head_start.as_mut(), &mut quic).await {
            Some(Some(conn)) => return Ok((alternative, Some(conn))),
            // It failed (and is marked broken): TCP at once.
            Some(None) => return Ok((origin, None)),
            None => {}
        }
        if let Some(flag) = marked
            && !flag.swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            cache.mark_broken(origin.host(), origin.port(), &endpoint);
        }
        // The first of the two connections to be ready carries the request; if TCP fails,
        // the handshake may still succeed.
        let mut tcp = Box::pin(self.acquire(&origin, false));
        let mut quic = Some(quic);
        let mut tcp_failed = None;
        poll_fn(|cx| {
            if let Some(pending) = quic.as_mut() {
                match pending.as_mut().poll(cx) {
                    Poll::Ready(Some(conn)) => {
                        return Poll::Ready(Ok((alternative.clone(), Some(conn))));
                    }
                    Poll::Ready(None) => quic = None,
                    Poll::Pending => {}
                }
            }
            if tcp_failed.is_none() {
                match tcp.as_mut().poll(cx) {
                    Poll::Ready(Ok(conn)) => return Poll::Ready(Ok((origin.clone(), Some(conn)))),
                    Poll::Ready(Err(error)) => tcp_failed = Some(error),
                    Poll::Pending => {}
                }
            }
            if quic.is_none()
                && let Some(error) = tcp_failed.take()
            {
                return Poll::Ready(Err(error));
            }
            Poll::Pending
        })
        .await
    }

    /// Runs the QUIC handshake with an `Alt-Svc` alternative on a task of its own, so that it
    /// can finish (and pool its connection for later requests) after the request that
    /// started it went over TCP. A failure marks the alternative broken, unless the request
    /// already did (`marked`); a success clears the mark. The future yields the connection,
    /// or `None` when the handshake failed.
    fn handshake_in_background(
        self: &Arc<Self>,
        target: Target,
        endpoint: crate::alt_svc::AltEndpoint,
        cache: crate::alt_svc::AltSvcCache,
        guard: crate::pool::ConnectGuard<SendBody<B>>,
        marked: Arc<std::sync::atomic::AtomicBool>,
    ) -> BoxFuture<'static, Option<PooledConn<SendBody<B>>>> {
        let (connected, handshake) = futures_channel::oneshot::channel();
        let inner = self.clone();
        self.runtime.spawn(Box::pin(async move {
            let limit = inner
                .config
                .connect_timeout
                .unwrap_or(ALT_SVC_HANDSHAKE_LIMIT);
            let result = inner.connect_within(&target, true, Some(limit)).await;
            match result {
                Ok(mut conn) => {
                    guard.finish_shared(&mut conn, inner.timer.now());
                    cache.mark_working(target.host(), target.port(), &endpoint);
                    let _ = connected.send(conn);
                }
                Err(error) => {
                    guard.fail(&error);
                    if !marked.swap(true, std::sync::atomic::Ordering::AcqRel) {
                        cache.mark_broken(target.host(), target.port(), &endpoint);
                    }
                }
            }
        }));
        Box::pin(async move { handshake.await.ok() })
    }
}

/// What the server's preface turned out to be, once h2 has taken it in.
enum Settled {
    /// SETTINGS, now in effect.
    Settings { extended_connect: bool },
    /// Another frame: not an HTTP/2 server.
    NotSettings,
}

/// Runs an HTTP/2 connection to its end. Once the server's first frame has been taken in
/// (`preface`), it reads what the connection's settings say and passes them on through
/// `settled`: only this task holds the connection, and the request that waited for the
/// handshake learns the settings from it.
async fn drive_http2<IO, B, R>(
    connection: http2::Connection<IO, SendBody<B>, Exec<R>>,
    preface: preface::PrefaceSeen,
    settled: futures_channel::oneshot::Sender<Settled>,
) -> hyper::Result<()>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    R: Runtime,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut connection = std::pin::pin!(connection);
    let mut waiting = Some((preface, settled));
    poll_fn(|cx| {
        let polled = connection.as_mut().poll(cx);
        if let Some((preface, _)) = &mut waiting {
            match Pin::new(preface).poll(cx) {
                Poll::Pending => {}
                Poll::Ready(Ok(settings)) => {
                    if let Some((_, settled)) = waiting.take() {
                        let _ = settled.send(if settings {
                            Settled::Settings {
                                extended_connect: connection.is_extended_connect_protocol_enabled(),
                            }
                        } else {
                            Settled::NotSettings
                        });
                    }
                }
                // The connection ended first: dropping `settled` tells the connect.
                Poll::Ready(Err(_)) => waiting = None,
            }
        }
        polled
    })
    .await
}

/// What a connection's task reports to the [`ConnectionCloseHook`] when the connection ends.
pub(crate) struct CloseReport {
    hook: ConnectionCloseHook,
    timer: SharedTimer,
    opened: std::time::Instant,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    version: Version,
    peer: Option<std::net::SocketAddr>,
}

impl CloseReport {
    pub(crate) fn report(self) {
        let duration = self.timer.now().saturating_duration_since(self.opened);
        let mut closed = ClosedConnection::new(self.scheme, self.authority, self.version, duration);
        if let Some(peer) = self.peer {
            closed = closed.with_peer(peer);
        }
        self.hook.closed(&closed);
    }
}

fn into_connect_error(error: impl Into<BoxError>) -> ConnectError {
    match error.into().downcast::<ConnectError>() {
        Ok(connect) => *connect,
        Err(other) => ConnectError::new(ConnectErrorKind::Tcp, other),
    }
}
