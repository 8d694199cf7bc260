//! Forwarding: send a request that a server received on to an upstream, as a reverse proxy
//! or an API gateway does.
//!
//! A [`Forwarder`] takes the `http::Request` a hyper or axum server hands its service (any body:
//! hyper's `Incoming`, axum's `Body`, …), rewrites it for the upstream and sends it through a
//! [`Client`], then rewrites the upstream's response for the downstream client:
//!
//! - hop-by-hop fields are removed from the request and from the response: those of
//!   RFC 9110 §7.6.1 (`Connection`, `Proxy-Connection`, `Keep-Alive`, `TE`, `Transfer-Encoding`,
//!   `Upgrade`, `Proxy-Authenticate`, `Proxy-Authorization`) and every field that `Connection`
//!   names ([`remove_hop_by_hop`]). `Trailer` stays: it names the trailers end to end, and
//!   HTTP/1.1 senders write only the trailers it announces;
//! - `Host` names the upstream, or stays the one the client sent
//!   ([`preserve_host`](Forwarder::preserve_host));
//! - a path prefix is replaced ([`replace_prefix`](Forwarder::replace_prefix),
//!   [`strip_prefix`](Forwarder::strip_prefix)) and the upstream's own path, if any, goes in front;
//! - `Forwarded` (RFC 7239, built with [`crate::forwarded`]), `X-Forwarded-For`,
//!   `X-Forwarded-Proto`, `X-Forwarded-Host` and `Via` are added on request
//!   ([`forwarded`](Forwarder::forwarded), [`x_forwarded`](Forwarder::x_forwarded),
//!   [`via`](Forwarder::via)), each after the chain earlier proxies left;
//! - both bodies stream frame by frame, trailers included: nothing is collected in memory;
//! - content codings pass through untouched (the client's decompression is off for forwarded
//!   requests), so the downstream client decodes what the upstream encoded;
//! - an upstream that cannot be reached, or that fails before its response head, becomes a
//!   `502 Bad Gateway`, and one that times out a `504 Gateway Timeout` (a failure after the head
//!   ends the response body with an error, as the status is already sent). Their bodies are a
//!   fixed phrase: the error itself
//!   may name internal hosts and addresses, so it goes to the caller through
//!   [`ForwardOutcome::error`], never to the downstream client.
//!
//! ```
//! use std::net::SocketAddr;
//! use towline::forward::Forwarder;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A gateway wants the upstream's redirects passed on to its clients, not followed.
//! let client = towline::Client::builder()
//!     .redirect(towline::redirect::Policy::none())
//!     .build()?;
//! # let closed = std::net::TcpListener::bind("127.0.0.1:0")?;
//! # let upstream = format!("http://{}/", closed.local_addr()?);
//! # drop(closed);
//! let forwarder = Forwarder::new(client, upstream.parse()?)?
//!     .strip_prefix("/api")
//!     .x_forwarded(true);
//!
//! // In a hyper or axum handler: the request as the server received it, and the peer's address.
//! let request = http::Request::get("/api/users?page=2")
//!     .header("host", "gateway.example")
//!     .body(String::new())?;
//! let peer: SocketAddr = "192.0.2.7:50000".parse()?;
//!
//! let forwarded = forwarder.forward(request, Some(peer)).await;
//! // Nothing listens upstream here: the client gets a 502 and the gateway keeps the reason.
//! assert_eq!(forwarded.response.status(), http::StatusCode::BAD_GATEWAY);
//! assert!(forwarded.error.is_some());
//! # Ok(())
//! # }
//! ```
//!
//! A `Forwarder` is also a `tower::Service` that never fails, so it serves directly as an axum
//! fallback service or behind hyper's `service_fn`. Given to a server that way, it reads the
//! peer's address from a [`PeerAddr`] request extension, and puts the upstream error behind a
//! `502` or `504` in the response's [`UpstreamError`] extension, for a logging layer above it.
//!
//! # Why a facade module and not a layer
//!
//! Forwarding lives here, in the facade, rather than as a `ForwardLayer` in `towline-layers`.
//! It is not middleware of a client stack: it sits at the boundary between a server and a client,
//! turning a server's request into a client's and back, and it ends every call with a response,
//! never an error, which a layer's `Service<Request>` → `Result<Response, BoxError>` contract
//! cannot express without hiding the error. It needs what only the facade has: the `Forwarded`
//! builder of [`crate::forwarded`] and the error kinds of [`Error`] that tell a timeout (504) from
//! an unreachable or failing upstream (502) — `towline-layers` may not depend on the facade.
//! And the stack it sends through is the [`Client`], so retries, timeouts, tracing and every
//! other layer a gateway wants are configured once, on the client, rather than again here.
//! The header rewriting itself is public as plain functions ([`remove_hop_by_hop`]) for
//! hand-built stacks.
//!
//! # HTTP/2 to the upstream
//!
//! Over `https`, ALPN decides. Over plain `http`, requests go out as HTTP/1.1 unless
//! [`upstream_protocol`](Forwarder::upstream_protocol) says otherwise:
//! [`UpstreamProtocol::H2c`] speaks HTTP/2 with prior knowledge, and
//! [`UpstreamProtocol::Adaptive`] finds out once. Its first bodiless `GET`, `HEAD` or `OPTIONS`
//! request goes out over h2c; if the upstream answers, every later request does too, and if
//! the attempt fails (an HTTP/1.1-only server rejects the connection preface), the same request
//! is sent again over HTTP/1.1 and, when that succeeds, HTTP/1.1 is remembered. Only such
//! requests probe because only they are safe to send twice and have no body to replay; until the
//! answer is known, the others go over HTTP/1.1.
//!
//! # Upgrades
//!
//! An HTTP/1.1 request that asks to switch protocols (`Connection: upgrade` with `Upgrade`,
//! as a WebSocket handshake does) keeps those two fields. When the upstream answers
//! `101 Switching Protocols`, the `101` goes back to the client and, once the server has
//! handed over the downstream connection, a task on the tokio runtime copies bytes both ways
//! between it and the upstream's until either side closes, or until neither has sent a byte
//! for the [`tunnel_idle_timeout`](Forwarder::tunnel_idle_timeout), if set (a gateway should
//! set one: a silent tunnel otherwise holds two connections forever). The server must serve connections
//! with upgrades on (hyper's `serve_connection(..).with_upgrades()`; axum does this). A request
//! whose server offers no upgrade is forwarded without `Upgrade`, as an ordinary request.
//!
//! A WebSocket opened over HTTP/2 (an extended CONNECT with `:protocol` `websocket`, RFC 8441;
//! the server must enable it, with hyper's `http2::Builder::enable_connect_protocol`) goes to
//! the upstream as the HTTP/1.1 handshake it stands for (RFC 8441 §5 allows intermediaries
//! this): a `GET` with `Upgrade: websocket` and a `Sec-WebSocket-Key` of the gateway's own,
//! the offered version, subprotocols and extensions kept. The upstream's `101` must carry the
//! `Sec-WebSocket-Accept` for that key (else the client gets a `502`); the client then gets the
//! `200` that opens the HTTP/2 stream, with the agreed subprotocol and extensions, and the
//! frames pass through unchanged, as both protocols frame WebSocket messages alike. An extended
//! CONNECT for another protocol, or without the `websocket` feature, is answered
//! `501 Not Implemented`.

mod tunnel;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{PathAndQuery, Scheme};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::upgrade::OnUpgrade;
use tower::{Service, ServiceExt};

use self::tunnel::IdleLimit;
use crate::forwarded::{ForwardedElement, Node};
use crate::{BoxError, Client, Error, ResponseBody};

/// The hop-by-hop fields of RFC 9110 §7.6.1, and `Proxy-Connection`, their common non-standard
/// relative.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
];

/// Longest chain (`Forwarded`, `X-Forwarded-For`, `Via`) kept: a longer one restarts at this
/// hop rather than grow further, so a client cannot make the gateway send ever larger fields.
const MAX_CHAIN_LEN: usize = 8 * 1024;

/// Removes the hop-by-hop fields from `headers`: every field that a `Connection` field names,
/// then the fixed list of RFC 9110 §7.6.1 (`Connection`, `Proxy-Connection`, `Keep-Alive`, `TE`,
/// `Transfer-Encoding`, `Upgrade`, `Proxy-Authenticate`, `Proxy-Authorization`).
///
/// Names in `Connection` that are not valid field names are ignored.
///
/// ```
/// use http::HeaderMap;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("connection", "close, x-session".parse().unwrap());
/// headers.insert("x-session", "abc".parse().unwrap());
/// headers.insert("keep-alive", "timeout=5".parse().unwrap());
/// headers.insert("accept", "*/*".parse().unwrap());
/// towline::forward::remove_hop_by_hop(&mut headers);
/// assert_eq!(headers.len(), 1);
/// assert!(headers.contains_key("accept"));
/// ```
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Whether a `TE` field accepts trailers (`TE: trailers`, possibly among codings).
fn accepts_trailers(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::TE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            item.split(';')
                .next()
                .is_some_and(|coding| coding.trim().eq_ignore_ascii_case("trailers"))
        })
}

/// A copy of `request` to send again over HTTP/1.1 when it may probe for h2c: a bodiless
/// request of a safe method, which the upstream may receive twice without harm.
fn probe_copy(request: &Request<crate::Body>) -> Option<Request<crate::Body>> {
    let safe = matches!(
        *request.method(),
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    );
    if !safe || !http_body::Body::is_end_stream(request.body()) {
        return None;
    }
    let mut again = Request::new(crate::Body::empty());
    *again.method_mut() = request.method().clone();
    *again.uri_mut() = request.uri().clone();
    *again.headers_mut() = request.headers().clone();
    again
        .extensions_mut()
        .insert(towline_layers::decompression::NoDecompression);
    Some(again)
}

/// Whether `headers` hold `token` in their `Connection` field.
fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

/// The protocol a request asks to switch to: its `Upgrade`, when `Connection` names it.
fn requested_upgrade(headers: &HeaderMap) -> Option<HeaderValue> {
    if connection_has(headers, "upgrade") {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

/// The protocol a `101` switched to.
fn switched_protocol<B>(response: &Response<B>) -> Option<HeaderValue> {
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        response.headers().get(header::UPGRADE).cloned()
    } else {
        None
    }
}

/// The server's handle on the downstream connection of a request that asked to switch
/// protocols, and the `Sec-WebSocket-Key` sent upstream when the request was a WebSocket over
/// HTTP/2 translated into HTTP/1.1's handshake.
struct DownstreamUpgrade {
    on_upgrade: OnUpgrade,
    websocket_key: Option<String>,
}

/// A key for the HTTP/1.1 handshake that stands for an extended CONNECT, whose protocol must be
/// `websocket`: the only one with an HTTP/1.1 equivalent.
#[cfg(feature = "websocket")]
fn websocket_key_for(extensions: &http::Extensions) -> Result<String, StatusCode> {
    let websocket = extensions
        .get::<hyper::ext::Protocol>()
        .is_some_and(|protocol| protocol.as_str().eq_ignore_ascii_case("websocket"));
    if !websocket {
        return Err(StatusCode::NOT_IMPLEMENTED);
    }
    crate::websocket::new_key().map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
}

#[cfg(not(feature = "websocket"))]
fn websocket_key_for(_extensions: &http::Extensions) -> Result<String, StatusCode> {
    Err(StatusCode::NOT_IMPLEMENTED)
}

/// Whether the upstream's `101` proves it read `key`.
#[cfg(feature = "websocket")]
fn answers_websocket_key(headers: &HeaderMap, key: &str) -> bool {
    headers
        .get(header::SEC_WEBSOCKET_ACCEPT)
        .is_some_and(|accept| {
            accept.as_bytes() == crate::websocket::accept_key(key.as_bytes()).as_bytes()
        })
}

#[cfg(not(feature = "websocket"))]
fn answers_websocket_key(_headers: &HeaderMap, _key: &str) -> bool {
    false
}

/// What [`Forwarder::forward`] produced: the response for the downstream client, and the
/// upstream error behind it when it is a `502` or `504` of the gateway's own making.
#[derive(Debug)]
pub struct ForwardOutcome {
    /// The response to send to the downstream client.
    pub response: Response<ResponseBody>,
    /// Why the upstream gave no response, for the gateway's logs; `None` when it did, and when
    /// the gateway answered on its own for another reason (a `400` for a path the configured
    /// prefix turned invalid, a `501` for an extended CONNECT it cannot translate, a `502` for
    /// a `101` that could not be tunnelled or that answered a WebSocket key wrongly).
    pub error: Option<Error>,
}

/// The protocol [`Forwarder`] speaks to an `http` upstream; over `https`, ALPN decides and this
/// is not used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamProtocol {
    /// HTTP/1.1 (the default).
    #[default]
    Http1,
    /// HTTP/2 with prior knowledge (h2c).
    H2c,
    /// h2c if the upstream speaks it, found out once and remembered; see the
    /// [module docs](self#http2-to-the-upstream).
    Adaptive,
}

/// What [`UpstreamProtocol::Adaptive`] knows of the upstream.
const H2C_UNKNOWN: u8 = 0;
const H2C_SPOKEN: u8 = 1;
const H2C_NOT_SPOKEN: u8 = 2;

#[derive(Debug, Clone)]
struct Config {
    scheme: Scheme,
    authority: http::uri::Authority,
    /// The upstream's path without its trailing `/`: empty for an upstream given as a bare
    /// origin.
    base_path: String,
    preserve_host: bool,
    prefix: Option<(String, String)>,
    forwarded: bool,
    x_forwarded: bool,
    via: Option<HeaderValue>,
    incoming_scheme: Scheme,
    upstream_protocol: UpstreamProtocol,
    tunnel_idle_timeout: Option<std::time::Duration>,
}

/// Forwards requests a server received to one upstream through a [`Client`]; see the
/// [module docs](self).
///
/// Cheap to clone: clones share the client and the configuration.
#[derive(Debug, Clone)]
pub struct Forwarder {
    client: Client,
    config: Arc<Config>,
    /// The adaptive mode's answer, shared by clones: one of the `H2C_*` values.
    h2c: Arc<AtomicU8>,
}

/// The upstream given to [`Forwarder::new`] has no scheme or no authority, or a scheme other
/// than `http` and `https`.
#[derive(Debug)]
pub struct InvalidUpstream(Uri);

impl std::fmt::Display for InvalidUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "upstream {} is not an absolute http or https URI",
            self.0
        )
    }
}

impl std::error::Error for InvalidUpstream {}

impl Forwarder {
    /// Forwards to `upstream`, an absolute `http` or `https` URI; a path in it
    /// (`http://backend/v2`) goes in front of every forwarded path. Its query, if any, is ignored.
    ///
    /// By default `Host` is rewritten to the upstream, no prefix is replaced, no
    /// `Forwarded`, `X-Forwarded-*` or `Via` field is added, and requests are taken to have
    /// come in over `http`.
    ///
    /// # Errors
    ///
    /// [`InvalidUpstream`] when `upstream` has no scheme or authority, or a scheme other than
    /// `http` or `https`.
    pub fn new(client: Client, upstream: Uri) -> Result<Self, InvalidUpstream> {
        let (Some(scheme), Some(authority)) = (upstream.scheme(), upstream.authority()) else {
            return Err(InvalidUpstream(upstream));
        };
        if *scheme != Scheme::HTTP && *scheme != Scheme::HTTPS {
            return Err(InvalidUpstream(upstream));
        }
        let config = Config {
            scheme: scheme.clone(),
            authority: authority.clone(),
            base_path: upstream.path().trim_end_matches('/').to_owned(),
            preserve_host: false,
            prefix: None,
            forwarded: false,
            x_forwarded: false,
            via: None,
            incoming_scheme: Scheme::HTTP,
            upstream_protocol: UpstreamProtocol::default(),
            tunnel_idle_timeout: None,
        };
        Ok(Self {
            client,
            config: Arc::new(config),
            h2c: Arc::new(AtomicU8::new(H2C_UNKNOWN)),
        })
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Keeps the `Host` the client sent (the authority of an HTTP/2 request) instead of naming
    /// the upstream, for upstreams that route or build links by the public host name.
    pub fn preserve_host(mut self, preserve: bool) -> Self {
        self.config_mut().preserve_host = preserve;
        self
    }

    /// Replaces a leading `from` in the path with `to`: with `("/api", "/v1")`, `/api/users`
    /// goes upstream as `/v1/users`. `from` matches whole segments only (`/api` matches
    /// `/api` and `/api/x`, not `/apis`); a path without it is forwarded unchanged.
    pub fn replace_prefix(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        let from = from.into().trim_end_matches('/').to_owned();
        let to = to.into().trim_end_matches('/').to_owned();
        self.config_mut().prefix = Some((from, to));
        self
    }

    /// Removes a leading `prefix` from the path: with `"/api"`, `/api/users` goes upstream as
    /// `/users` and `/api` as `/`. Same matching as [`replace_prefix`](Self::replace_prefix).
    pub fn strip_prefix(self, prefix: impl Into<String>) -> Self {
        self.replace_prefix(prefix, "")
    }

    /// Adds an element to `Forwarded` (RFC 7239) with `for` (the peer), `host` (the `Host`
    /// received) and `proto`, after any elements earlier proxies added.
    pub fn forwarded(mut self, enabled: bool) -> Self {
        self.config_mut().forwarded = enabled;
        self
    }

    /// Appends the peer's address to `X-Forwarded-For`, and sets `X-Forwarded-Proto` and
    /// `X-Forwarded-Host` when no earlier proxy did (the first proxy saw the client's own).
    pub fn x_forwarded(mut self, enabled: bool) -> Self {
        self.config_mut().x_forwarded = enabled;
        self
    }

    /// Appends `<version> <pseudonym>` to `Via` on the request and on the response, as in
    /// `Via: 1.1 gateway`; `None` (the default) adds nothing.
    ///
    /// # Errors
    ///
    /// When `pseudonym` cannot be part of a field value (control characters).
    pub fn via(
        mut self,
        pseudonym: Option<&str>,
    ) -> Result<Self, http::header::InvalidHeaderValue> {
        let via = pseudonym.map(HeaderValue::from_str).transpose()?;
        self.config_mut().via = via;
        Ok(self)
    }

    /// The scheme requests come in over, for `proto` and `X-Forwarded-Proto`: `https` behind a
    /// TLS listener. Requests whose URI carries a scheme (HTTP/2) use theirs.
    pub fn incoming_scheme(mut self, scheme: Scheme) -> Self {
        self.config_mut().incoming_scheme = scheme;
        self
    }

    /// The protocol to speak to an `http` upstream: HTTP/1.1 (the default), h2c, or h2c when
    /// the upstream turns out to speak it ([`UpstreamProtocol::Adaptive`]).
    pub fn upstream_protocol(mut self, protocol: UpstreamProtocol) -> Self {
        self.config_mut().upstream_protocol = protocol;
        self
    }

    /// Closes an upgraded connection (a WebSocket, say) once no byte has moved either way for
    /// `timeout`; without it (the default) a tunnel lasts until either side closes.
    pub fn tunnel_idle_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.config_mut().tunnel_idle_timeout = Some(timeout);
        self
    }

    /// Forwards `request`, received from `peer` (`None` when unknown, as behind a Unix socket),
    /// and returns the response for the downstream client. Never fails: an upstream error is a
    /// `502` or `504` response, with the error alongside it in [`ForwardOutcome::error`].
    pub async fn forward<B>(&self, request: Request<B>, peer: Option<SocketAddr>) -> ForwardOutcome
    where
        B: http_body::Body + Send + 'static,
        B::Data: Into<Bytes>,
        B::Error: Into<BoxError>,
    {
        let (request, downstream_upgrade) = match self.upstream_request(request, peer) {
            Ok(rewritten) => rewritten,
            Err(status) => {
                return ForwardOutcome {
                    response: gateway_response(status),
                    error: None,
                };
            }
        };
        let upgrading = downstream_upgrade.is_some();
        let request = match &downstream_upgrade {
            // The HTTP/2 stream is the tunnel: nothing of it is a request body upstream.
            Some(DownstreamUpgrade {
                websocket_key: Some(_),
                ..
            }) => request.map(|_| crate::Body::empty()),
            _ => request.map(crate::Body::wrap),
        };
        match self.send(request, upgrading).await {
            Ok(mut response) => {
                let upgrade = switched_protocol(&response);
                remove_hop_by_hop(response.headers_mut());
                if let (Some(protocol), Some(downstream)) = (upgrade, downstream_upgrade)
                    && let Some(upstream) = response.extensions_mut().remove::<OnUpgrade>()
                {
                    match downstream.websocket_key {
                        Some(key) => {
                            if !answers_websocket_key(response.headers(), &key) {
                                return ForwardOutcome {
                                    response: gateway_response(StatusCode::BAD_GATEWAY),
                                    error: None,
                                };
                            }
                            // The downstream stream opens with a 200 (RFC 8441 §5).
                            *response.status_mut() = StatusCode::OK;
                            response.headers_mut().remove(header::SEC_WEBSOCKET_ACCEPT);
                        }
                        None => {
                            let headers = response.headers_mut();
                            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
                            headers.insert(header::UPGRADE, protocol);
                        }
                    }
                    let idle = self.config.tunnel_idle_timeout.map(|after| IdleLimit {
                        after,
                        timer: Arc::clone(self.client.timer()),
                    });
                    self.client
                        .spawn(Box::pin(tunnel::run(downstream.on_upgrade, upstream, idle)));
                } else if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                    // A switch nobody can carry through (not asked for, or to no protocol)
                    // would leave the downstream connection in limbo.
                    return ForwardOutcome {
                        response: gateway_response(StatusCode::BAD_GATEWAY),
                        error: None,
                    };
                }
                if let Some(pseudonym) = &self.config.via {
                    let version = response.version();
                    append_via(response.headers_mut(), version, pseudonym);
                }
                ForwardOutcome {
                    response,
                    error: None,
                }
            }
            Err(error) => {
                let status = if error.is_timeout() {
                    StatusCode::GATEWAY_TIMEOUT
                } else {
                    StatusCode::BAD_GATEWAY
                };
                ForwardOutcome {
                    response: gateway_response(status),
                    error: Some(error),
                }
            }
        }
    }

    /// Sends `request` upstream over the configured protocol. An upgrade always goes over
    /// HTTP/1.1: HTTP/2 has no `Upgrade`.
    async fn send(
        &self,
        mut request: Request<crate::Body>,
        upgrading: bool,
    ) -> Result<Response<ResponseBody>, Error> {
        if self.config.scheme != Scheme::HTTP || upgrading {
            return self.client.clone().oneshot(request).await;
        }
        match self.config.upstream_protocol {
            UpstreamProtocol::Http1 => {}
            UpstreamProtocol::H2c => *request.version_mut() = Version::HTTP_2,
            UpstreamProtocol::Adaptive => match self.h2c.load(Ordering::Relaxed) {
                H2C_SPOKEN => *request.version_mut() = Version::HTTP_2,
                H2C_NOT_SPOKEN => {}
                _ => {
                    if let Some(again) = probe_copy(&request) {
                        return self.probe(request, again).await;
                    }
                }
            },
        }
        self.client.clone().oneshot(request).await
    }

    /// Sends `request` over h2c and, when that fails for any reason but a timeout, `again`
    /// over HTTP/1.1, remembering which one the upstream answered.
    async fn probe(
        &self,
        mut request: Request<crate::Body>,
        again: Request<crate::Body>,
    ) -> Result<Response<ResponseBody>, Error> {
        *request.version_mut() = Version::HTTP_2;
        match self.client.clone().oneshot(request).await {
            Ok(response) => {
                self.h2c.store(H2C_SPOKEN, Ordering::Relaxed);
                Ok(response)
            }
            // A timeout says nothing about the protocol, and waiting again would double it.
            Err(error) if error.is_timeout() => Err(error),
            Err(_) => {
                let answer = self.client.clone().oneshot(again).await;
                if answer.is_ok() {
                    self.h2c.store(H2C_NOT_SPOKEN, Ordering::Relaxed);
                }
                answer
            }
        }
    }

    /// `request` rewritten for the upstream, with the server's handle on the downstream
    /// connection when the request asks for an upgrade the server can grant; or the status to
    /// answer when it cannot be rewritten (a path that is not a valid URI, an extended CONNECT
    /// for a protocol without an HTTP/1.1 equivalent).
    fn upstream_request<B>(
        &self,
        request: Request<B>,
        peer: Option<SocketAddr>,
    ) -> Result<(Request<B>, Option<DownstreamUpgrade>), StatusCode> {
        let config = &*self.config;
        let (mut parts, body) = request.into_parts();
        let received_host = parts.headers.get(header::HOST).cloned().or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|authority| HeaderValue::from_str(authority.as_str()).ok())
        });
        let incoming_scheme = parts
            .uri
            .scheme()
            .cloned()
            .unwrap_or_else(|| config.incoming_scheme.clone());
        let trailers = accepts_trailers(&parts.headers);
        let extended_connect = parts.method == http::Method::CONNECT
            && parts.extensions.get::<hyper::ext::Protocol>().is_some();
        let (upgrade, websocket_key) = if extended_connect {
            let key = websocket_key_for(&parts.extensions)?;
            parts.method = http::Method::GET;
            (Some(HeaderValue::from_static("websocket")), Some(key))
        } else {
            (requested_upgrade(&parts.headers), None)
        };
        let downstream_upgrade = match upgrade {
            Some(_) => parts
                .extensions
                .remove::<OnUpgrade>()
                .map(|on_upgrade| DownstreamUpgrade {
                    on_upgrade,
                    websocket_key: websocket_key.clone(),
                }),
            None => None,
        };
        if extended_connect && downstream_upgrade.is_none() {
            return Err(StatusCode::NOT_IMPLEMENTED);
        }

        remove_hop_by_hop(&mut parts.headers);
        if let (Some(protocol), Some(_)) = (upgrade, &downstream_upgrade) {
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            parts.headers.insert(header::UPGRADE, protocol);
            if let Some(key) = websocket_key
                && let Ok(key) = HeaderValue::try_from(key)
            {
                parts.headers.insert(header::SEC_WEBSOCKET_KEY, key);
            }
        }
        // `TE` is hop-by-hop, but whether the client takes trailers is not: a downstream client
        // that accepts them lets this hop ask the upstream for them too.
        if trailers {
            parts
                .headers
                .insert(header::TE, HeaderValue::from_static("trailers"));
        }

        parts.uri = self.upstream_uri(&parts.uri)?;
        parts.headers.remove(header::HOST);
        if config.preserve_host
            && let Some(host) = &received_host
        {
            parts.headers.insert(header::HOST, host.clone());
        }

        if config.forwarded {
            append_forwarded(
                &mut parts.headers,
                peer,
                received_host.as_ref(),
                &incoming_scheme,
            );
        }
        if config.x_forwarded {
            append_x_forwarded(&mut parts.headers, peer, received_host, &incoming_scheme);
        }
        if let Some(pseudonym) = &config.via {
            append_via(&mut parts.headers, parts.version, pseudonym);
        }

        // The client picks the upstream's protocol itself; the downstream's says nothing about
        // it. The server's extensions (its connection details, its upgrade handle) are not the
        // client's business, and the representation passes through still encoded.
        parts.version = Version::HTTP_11;
        parts.extensions = http::Extensions::new();
        parts
            .extensions
            .insert(towline_layers::decompression::NoDecompression);
        Ok((Request::from_parts(parts, body), downstream_upgrade))
    }

    fn upstream_uri(&self, received: &Uri) -> Result<Uri, StatusCode> {
        let config = &*self.config;
        let path = received.path();
        let rest = match &config.prefix {
            Some((from, to)) => match path.strip_prefix(from.as_str()) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                    let mut replaced = String::with_capacity(to.len() + rest.len());
                    replaced.push_str(to);
                    replaced.push_str(rest);
                    replaced
                }
                _ => path.to_owned(),
            },
            None => path.to_owned(),
        };
        let mut path_and_query = String::with_capacity(config.base_path.len() + rest.len() + 1);
        path_and_query.push_str(&config.base_path);
        if !rest.starts_with('/') {
            path_and_query.push('/');
        }
        path_and_query.push_str(&rest);
        if let Some(query) = received.query() {
            path_and_query.push('?');
            path_and_query.push_str(query);
        }
        let path_and_query =
            PathAndQuery::try_from(path_and_query).map_err(|_| StatusCode::BAD_REQUEST)?;
        Uri::builder()
            .scheme(config.scheme.clone())
            .authority(config.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| StatusCode::BAD_REQUEST)
    }
}

/// A request extension with the address of the peer that sent the request, read by the
/// `Service` implementation of [`Forwarder`] for `Forwarded` and `X-Forwarded-For`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// A response extension on the `502` and `504` responses the `Service` implementation of
/// [`Forwarder`] makes: why the upstream gave no response.
#[derive(Debug, Clone)]
pub struct UpstreamError(pub Arc<Error>);

/// The future of [`Forwarder`]'s `Service` implementation.
pub struct ResponseFuture {
    // One allocation per forwarded request, as the `Client` underneath already makes one.
    inner: Pin<Box<dyn Future<Output = Response<ResponseBody>> + Send>>,
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<ResponseBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx).map(Ok)
    }
}

impl<B> Service<Request<B>> for Forwarder
where
    B: http_body::Body + Send + 'static,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The client underneath is always ready: it queues for connections inside its call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let forwarder = self.clone();
        let peer = request.extensions().get::<PeerAddr>().map(|peer| peer.0);
        ResponseFuture {
            inner: Box::pin(async move {
                let ForwardOutcome {
                    mut response,
                    error,
                } = forwarder.forward(request, peer).await;
                if let Some(error) = error {
                    response
                        .extensions_mut()
                        .insert(UpstreamError(Arc::new(error)));
                }
                response
            }),
        }
    }
}

/// Joins the existing values of `name` and `value` into one field line, comma-separated, which
/// means the same as separate lines and keeps the chain in one place for the upstream.
fn append_to_list(headers: &mut HeaderMap, name: HeaderName, value: &[u8]) {
    let mut joined = BytesMut::new();
    for existing in headers.get_all(&name) {
        joined.extend_from_slice(existing.as_bytes());
        joined.extend_from_slice(b", ");
    }
    joined.extend_from_slice(value);
    if joined.len() > MAX_CHAIN_LEN {
        // An over-long chain is not trustworthy anyway; restart it at this hop.
        joined.clear();
        joined.extend_from_slice(value);
    }
    if let Ok(joined) = HeaderValue::from_maybe_shared(joined.freeze()) {
        headers.insert(name, joined);
    }
}

fn append_forwarded(
    headers: &mut HeaderMap,
    peer: Option<SocketAddr>,
    host: Option<&HeaderValue>,
    scheme: &Scheme,
) {
    let element = ForwardedElement {
        for_node: Some(peer.map_or_else(Node::unknown, |peer| Node::ip(peer.ip()))),
        host: host.and_then(|host| host.to_str().ok()).map(str::to_owned),
        proto: Some(scheme.as_str().to_owned()),
        ..ForwardedElement::default()
    };
    // A `Host` that `Forwarded` cannot carry leaves out the whole element rather than a
    // malformed one.
    if let Ok(value) = crate::forwarded::to_header_value(std::slice::from_ref(&element)) {
        append_to_list(headers, header::FORWARDED, value.as_bytes());
    }
}

fn append_x_forwarded(
    headers: &mut HeaderMap,
    peer: Option<SocketAddr>,
    host: Option<HeaderValue>,
    scheme: &Scheme,
) {
    let x_forwarded_for = HeaderName::from_static("x-forwarded-for");
    let x_forwarded_proto = HeaderName::from_static("x-forwarded-proto");
    let x_forwarded_host = HeaderName::from_static("x-forwarded-host");
    let for_value = peer.map_or_else(|| "unknown".to_owned(), |peer| peer.ip().to_string());
    append_to_list(headers, x_forwarded_for, for_value.as_bytes());
    if !headers.contains_key(&x_forwarded_proto)
        && let Ok(proto) = HeaderValue::from_str(scheme.as_str())
    {
        headers.insert(x_forwarded_proto, proto);
    }
    if !headers.contains_key(&x_forwarded_host)
        && let Some(host) = host
    {
        headers.insert(x_forwarded_host, host);
    }
}

fn append_via(headers: &mut HeaderMap, version: Version, pseudonym: &HeaderValue) {
    let protocol: &[u8] = match version {
        Version::HTTP_09 => b"0.9 ",
        Version::HTTP_10 => b"1.0 ",
        Version::HTTP_2 => b"2 ",
        Version::HTTP_3 => b"3 ",
        _ => b"1.1 ",
    };
    let mut value = Vec::with_capacity(protocol.len() + pseudonym.len());
    value.extend_from_slice(protocol);
    value.extend_from_slice(pseudonym.as_bytes());
    append_to_list(headers, header::VIA, &value);
}

/// A response of the gateway's own: `status` with its reason phrase as a plain-text body, and
/// nothing about the cause.
fn gateway_response(status: StatusCode) -> Response<ResponseBody> {
    let reason = status.canonical_reason().unwrap_or("Gateway Error");
    let body = Full::new(Bytes::from_static(reason.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
