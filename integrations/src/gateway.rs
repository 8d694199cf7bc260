//! An axum gateway that forwards `/api/*` to an upstream through a [`towline::Client`].
//!
//! [`router`] builds an axum [`Router`] with two routes:
//!
//! - `/api` and everything below it go to the upstream through a [`Forwarder`], with `/api`
//!   replaced by the upstream's own path. The client under it times out connects and stalled
//!   reads (never a whole response: a download may take as long as it takes), retries
//!   idempotent requests the upstream failed (connection failures, `502`/`503`/`504`, `429`,
//!   with backoff and `Retry-After`), follows no redirects (the downstream client does that)
//!   and opens a `tracing` span per upstream request;
//! - `/healthz` answers the gateway's own `200`, without asking the upstream.
//!
//! What the [`Forwarder`] does to each request is in [`towline::forward`]: hop-by-hop fields
//! removed both ways, `X-Forwarded-For`/`-Proto`/`-Host` added, bodies and trailers streamed
//! frame by frame (a 1 GiB body passes through in constant memory), WebSocket and other
//! HTTP/1.1 upgrades tunnelled end to end (and closed after
//! [`tunnel_idle_timeout`](GatewayConfig::tunnel_idle_timeout) of silence), and an upstream that
//! cannot be reached or dies before its response head turned into a `502` (a timeout into a
//! `504`) whose body names nothing internal. The reason goes to the gateway's log instead: the
//! routes log every [`UpstreamError`] at `WARN`.
//!
//! `axum::serve` speaks HTTP/1.1 and HTTP/2, but does not enable HTTP/2's extended CONNECT:
//! WebSockets reach this gateway over HTTP/1.1. A gateway that serves them over HTTP/2 as well
//! serves its router with hyper's `http2::Builder::enable_connect_protocol`; the forwarder then
//! translates them for the upstream (see [`towline::forward`]).
//!
//! [`serve`] runs the router with the peer addresses the forwarder reports upstream.
//!
//! ```no_run
//! use towline_integrations::gateway::{self, GatewayConfig};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = GatewayConfig::new("http://10.0.0.7:8080/v2".parse()?);
//! let router = gateway::router(&config)?;
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! // `GET /api/users?page=2` reaches the upstream as `GET /v2/users?page=2`.
//! gateway::serve(listener, router).await?;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::routing::get;
use http::{Request, Response, Uri};
use tower::ServiceBuilder;
use towline::forward::{Forwarder, InvalidUpstream, PeerAddr, UpstreamError};
use towline::towline_layers::retry::RetryConfig;
use towline::towline_layers::trace::TraceLayer;
use towline::{Client, ResponseBody};

/// Where the gateway forwards to, and how patiently.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// The upstream's base URL: `http://` or `https://`, with an optional path that replaces
    /// `/api`.
    pub upstream: Uri,
    /// How long a connect to the upstream (TCP and TLS) may take before it is a `504`.
    pub connect_timeout: Duration,
    /// How long the upstream may stay silent, before its head or between body chunks, before
    /// it is a `504` (or, once the head is sent on, a broken body). The wait for the head
    /// counts from sending the request, its upload included: raise it for long uploads.
    pub read_timeout: Duration,
    /// How many times an idempotent request the upstream failed is sent again.
    pub max_retries: u32,
    /// How long a WebSocket (or another upgraded connection) may stay silent both ways before
    /// the gateway closes it.
    pub tunnel_idle_timeout: Duration,
}

impl GatewayConfig {
    /// A gateway to `upstream` with a 5 s connect timeout, a 30 s read timeout, two retries
    /// and a 5 min tunnel idle timeout.
    pub fn new(upstream: Uri) -> Self {
        Self {
            upstream,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
            max_retries: 2,
            tunnel_idle_timeout: Duration::from_secs(300),
        }
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`read_timeout`](Self::read_timeout).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Sets [`tunnel_idle_timeout`](Self::tunnel_idle_timeout).
    pub fn tunnel_idle_timeout(mut self, timeout: Duration) -> Self {
        self.tunnel_idle_timeout = timeout;
        self
    }

    /// Sets [`max_retries`](Self::max_retries).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }
}

/// Why a gateway could not be built.
#[derive(Debug)]
pub enum GatewayError {
    /// The client could not be built (its TLS roots, say).
    Client(towline::Error),
    /// The upstream is not an absolute `http://` or `https://` URL.
    Upstream(InvalidUpstream),
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Client(error) => write!(f, "cannot build the gateway's client: {error}"),
            Self::Upstream(error) => write!(f, "cannot forward there: {error}"),
        }
    }
}

impl std::error::Error for GatewayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Client(error) => Some(error),
            Self::Upstream(error) => Some(error),
        }
    }
}

/// The client the gateway sends through: retries, connect and read timeouts, tracing, no
/// redirects.
pub fn client(config: &GatewayConfig) -> Result<Client, GatewayError> {
    Client::builder()
        .redirect(towline::redirect::Policy::none())
        .connect_timeout(config.connect_timeout)
        .read_timeout(config.read_timeout)
        .retry(
            RetryConfig::new()
                .max_retries(config.max_retries)
                .initial_backoff(Duration::from_millis(50))
                .max_backoff(Duration::from_secs(2)),
        )
        .trace(TraceLayer::new())
        .build()
        .map_err(GatewayError::Client)
}

/// The gateway's routes: `/api/*` forwarded to the upstream, `/healthz` answered here.
pub fn router(config: &GatewayConfig) -> Result<Router, GatewayError> {
    let forwarder = Forwarder::new(client(config)?, config.upstream.clone())
        .map_err(GatewayError::Upstream)?
        .strip_prefix("/api")
        .x_forwarded(true)
        .tunnel_idle_timeout(config.tunnel_idle_timeout);
    let forward = ServiceBuilder::new()
        .map_request(peer_from_connect_info)
        .map_response(log_upstream_error)
        .service(forwarder);
    Ok(Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route_service("/api", forward.clone())
        .route_service("/api/{*rest}", forward))
}

/// Serves `router` on `listener` until the task is dropped or accepting fails, with the
/// peers' addresses available to the routes (the forwarder's `X-Forwarded-For`).
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// axum records the peer as `ConnectInfo`; the forwarder reads its own extension, which keeps
/// it independent of any one server framework.
fn peer_from_connect_info(mut request: Request<Body>) -> Request<Body> {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let peer = PeerAddr(*peer);
        request.extensions_mut().insert(peer);
    }
    request
}

fn log_upstream_error(response: Response<ResponseBody>) -> Response<ResponseBody> {
    if let Some(UpstreamError(error)) = response.extensions().get::<UpstreamError>() {
        tracing::warn!(status = response.status().as_u16(), %error, "upstream failed");
    }
    response
}
