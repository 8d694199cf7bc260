//! towline against bare hyper, hyper-util, reqwest and aioduct, side by side.
//!
//! Run it through `benches/run.sh`, which pins the settings and writes `benches/RESULTS.md`.
//!
//! How it measures (each point avoids a pitfall seen on the 2-core machines):
//!
//! - one multi-threaded tokio runtime with 2 workers, shared by the server and every client;
//! - each measurement is a loop of `iters` requests inside a task spawned on that runtime,
//!   timed inside the task (`iter_custom`), so no request crosses from the bench thread;
//! - every client is built once, warmed up and reused (warm pools); TCP_NODELAY everywhere;
//! - every response's status, version and body length is checked inside the loop;
//! - the scenarios that churn connections run last;
//! - the h1 50-concurrent rows count the connections the server accepts while they run;
//! - the h3 rows (HTTP/3 over QUIC with TLS 1.3) are measured for the clients that speak it:
//!   `towline`, `towline_all_layers` and `towline_transport`, against a bare `h3` + `h3-quinn`
//!   client on a quinn
//!   endpoint (the floor, in the `bare_hyper` row) with the same receive windows. reqwest's
//!   `http3` needs `--cfg reqwest_unstable` in RUSTFLAGS, which would rebuild every crate of
//!   the bench under other flags than the rest of the workspace, so it has no h3 row.

#![allow(
    missing_docs,
    unreachable_pub,
    // A benchmark fails loudly: a wrong response must stop it, not be measured.
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf as _, Bytes};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BenchmarkGroup, Criterion};
use http::header::{HOST, HeaderValue};
use http::{Method, Request, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::client::legacy::{Client as LegacyClient, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::runtime::Runtime;
use tower_service::Service as _;
use towline::towline_services::rt::tokio::TokioRuntime;
use towline_bench::{BenchServer, JSON_BODY, KIB_64, MIB_1, Message, SMALL_BODY};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

/// CPU time used so far by the whole process (every thread: server, clients, runtime).
#[allow(unsafe_code)]
fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec` through a pointer to a live local.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// What a measurement reports: wall-clock time, or the CPU time the process (server and
/// client together) spent. CPU time is what the report judges by: on a shared 2-core machine
/// wall time also counts the time our threads waited for a core while others' builds ran.
/// Set with `TOWLINE_BENCH_CLOCK=cpu|wall` (default `cpu`).
struct Clock {
    cpu: bool,
    wall: WallTime,
}

impl Clock {
    fn from_env() -> Self {
        let cpu = match std::env::var("TOWLINE_BENCH_CLOCK").as_deref() {
            Ok("wall") => false,
            Ok("cpu") | Err(_) => true,
            Ok(other) => panic!("TOWLINE_BENCH_CLOCK must be cpu or wall, not {other:?}"),
        };
        Self {
            cpu,
            wall: WallTime,
        }
    }
}

/// A reading of both clocks.
#[derive(Clone, Copy)]
struct Stamp {
    wall: Instant,
    cpu: Duration,
}

impl Stamp {
    fn now() -> Self {
        Self {
            wall: Instant::now(),
            cpu: process_cpu_time(),
        }
    }

    fn elapsed(self, cpu: bool) -> Duration {
        if cpu {
            process_cpu_time().saturating_sub(self.cpu)
        } else {
            self.wall.elapsed()
        }
    }
}

impl Measurement for Clock {
    type Intermediate = Stamp;
    type Value = Duration;

    fn start(&self) -> Stamp {
        Stamp::now()
    }

    fn end(&self, start: Stamp) -> Duration {
        start.elapsed(self.cpu)
    }

    fn add(&self, v1: &Duration, v2: &Duration) -> Duration {
        *v1 + *v2
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}

/// Concurrency of the h1 concurrent rows.
const H1_CONCURRENCY: usize = 50;
/// Concurrency of the h2c concurrent rows (all on one connection).
const H2_CONCURRENCY: usize = 10;
/// Size of the POST echo body.
const POST_LEN: usize = 4 * 1024;

/// Concurrency of the h3 concurrent row (all on one connection).
const H3_CONCURRENCY: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    H1,
    H2,
    H3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    BareHyper,
    HyperUtil,
    Reqwest,
    Aioduct,
    Towline,
    TowlineAllLayers,
    TowlineTransport,
}

const KINDS: [Kind; 7] = [
    Kind::BareHyper,
    Kind::HyperUtil,
    Kind::Reqwest,
    Kind::Aioduct,
    Kind::Towline,
    Kind::TowlineAllLayers,
    Kind::TowlineTransport,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::BareHyper => "bare_hyper",
            Self::HyperUtil => "hyper_util",
            Self::Reqwest => "reqwest",
            Self::Aioduct => "aioduct",
            Self::Towline => "towline",
            Self::TowlineAllLayers => "towline_all_layers",
            Self::TowlineTransport => "towline_transport",
        }
    }

    fn index(self) -> usize {
        KINDS.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// Whether this client has a row for `proto` (HTTP/3: the bare h3 client and the facade).
    fn speaks(self, proto: Proto) -> bool {
        proto != Proto::H3
            || matches!(
                self,
                Self::BareHyper | Self::Towline | Self::TowlineAllLayers | Self::TowlineTransport
            )
    }
}

/// What one request does and how its response is checked.
#[derive(Clone, Debug)]
enum Op {
    /// GET a body of this length.
    Get { path: &'static str, len: usize },
    /// GET `/json` and deserialize it.
    Json,
    /// POST this body to `/echo`; the same length comes back.
    Post { body: Bytes },
}

impl Op {
    fn path(&self) -> &'static str {
        match self {
            Self::Get { path, .. } => path,
            Self::Json => "/json",
            Self::Post { .. } => "/echo",
        }
    }

    fn expected_len(&self) -> usize {
        match self {
            Self::Get { len, .. } => *len,
            Self::Json => JSON_BODY.len(),
            Self::Post { body } => body.len(),
        }
    }
}

/// Where a request goes, in every form a client takes it.
struct Endpoint {
    proto: Proto,
    addr: SocketAddr,
    /// For aioduct, whose builder takes only a string: the URL as text.
    url: String,
    /// For reqwest and towline: the URL parsed once (`url::Url`), cloned per request — the
    /// cheapest form their APIs take, as the hyper-based rows get a parsed `Uri`. Parsing a
    /// string instead costs both about the same (the `url` crate's parser).
    parsed: reqwest::Url,
    /// For hyper-based clients: absolute-form URI.
    absolute: Uri,
    /// For the bare HTTP/1 connection: origin-form URI plus Host.
    origin: Uri,
    host: HeaderValue,
}

impl Endpoint {
    fn new(server: &BenchServer, proto: Proto, path: &str) -> Self {
        let (addr, url) = match proto {
            Proto::H1 => (server.h1_addr(), server.h1_url(path)),
            Proto::H2 => (server.h2_addr(), server.h2_url(path)),
            Proto::H3 => (server.h3_addr(), server.h3_url(path)),
        };
        Self {
            proto,
            addr,
            absolute: url.parse().unwrap(),
            origin: path.parse().unwrap(),
            host: HeaderValue::from_str(&addr.to_string()).unwrap(),
            parsed: reqwest::Url::parse(&url).unwrap(),
            url,
        }
    }

    fn version(&self) -> Version {
        match self.proto {
            Proto::H1 => Version::HTTP_11,
            Proto::H2 => Version::HTTP_2,
            Proto::H3 => Version::HTTP_3,
        }
    }
}

type Req = Full<Bytes>;

/// One client handle as a measuring task holds it.
// Every client is held inline: no row pays an indirection another does not.
#[allow(clippy::large_enum_variant)]
enum Conn {
    BareH1(http1::SendRequest<Req>),
    BareH2(http2::SendRequest<Req>),
    /// A bare h3 client on one QUIC connection; the endpoint (its UDP socket) lives as long.
    BareH3(BareH3),
    /// Bare hyper with a new connection (TCP connect + handshake) per request.
    BareFresh,
    HyperUtil(LegacyClient<HttpConnector, Req>),
    Reqwest(reqwest::Client),
    Aioduct(aioduct::TokioClient),
    Towline(towline::TokioClient),
    /// towline's transport and pool alone, called as a tower `Service` with a parsed `Uri`,
    /// as `hyper_util` is.
    TowlineTransport(TowlineTransport),
}

struct BareH3 {
    sender: h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
    _endpoint: quinn::Endpoint,
}

type TowlineTransport = towline::towline_services::transport::Transport<
    towline::towline_services::connect::HttpConnector<TokioRuntime>,
    Req,
    TokioRuntime,
>;

fn request_body(op: &Op) -> (Method, Req) {
    match op {
        Op::Post { body } => (Method::POST, Full::new(body.clone())),
        _ => (Method::GET, Full::new(Bytes::new())),
    }
}

fn hyper_request(op: &Op, uri: Uri, host: Option<&HeaderValue>) -> Request<Req> {
    let (method, body) = request_body(op);
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    if let Some(host) = host {
        request.headers_mut().insert(HOST, host.clone());
    }
    request
}

fn check_head(status: StatusCode, version: Version, ep: &Endpoint) -> Res<()> {
    if status != StatusCode::OK {
        return Err(format!("status {status}").into());
    }
    if version != ep.version() {
        return Err(format!("version {version:?}, expected {:?}", ep.version()).into());
    }
    Ok(())
}

fn check_body(bytes: &[u8], op: &Op) -> Res<()> {
    if bytes.len() != op.expected_len() {
        return Err(format!(
            "body of {} bytes, expected {}",
            bytes.len(),
            op.expected_len()
        )
        .into());
    }
    Ok(())
}

fn check_message(message: &Message) -> Res<()> {
    if message.count != 42 || message.message != "hello" {
        return Err(format!("unexpected JSON {message:?}").into());
    }
    Ok(())
}

/// Reads a hyper response the way a hyper user would: collect into one `Bytes`.
async fn finish_hyper(
    response: http::Response<hyper::body::Incoming>,
    ep: &Endpoint,
    op: &Op,
) -> Res<()> {
    check_head(response.status(), response.version(), ep)?;
    let bytes = response.into_body().collect().await?.to_bytes();
    check_body(&bytes, op)?;
    if let Op::Json = op {
        check_message(&serde_json::from_slice::<Message>(&bytes)?)?;
    }
    Ok(())
}

impl Conn {
    /// A handle for one more concurrent task (clients are cheap to clone; bare HTTP/2 clones
    /// its sender; a bare HTTP/1 connection cannot be shared).
    fn share(&self) -> Self {
        match self {
            Self::BareH1(_) => panic!("a bare HTTP/1 connection is exclusive"),
            Self::BareH2(sender) => Self::BareH2(sender.clone()),
            Self::BareH3(bare) => Self::BareH3(BareH3 {
                sender: bare.sender.clone(),
                _endpoint: bare._endpoint.clone(),
            }),
            Self::BareFresh => Self::BareFresh,
            Self::HyperUtil(client) => Self::HyperUtil(client.clone()),
            Self::Reqwest(client) => Self::Reqwest(client.clone()),
            Self::Aioduct(client) => Self::Aioduct(client.clone()),
            Self::Towline(client) => Self::Towline(client.clone()),
            Self::TowlineTransport(transport) => Self::TowlineTransport(transport.clone()),
        }
    }

    async fn once(&mut self, ep: &Endpoint, op: &Op) -> Res<()> {
        match self {
            Self::BareH1(sender) => {
                sender.ready().await?;
                let response = sender
                    .send_request(hyper_request(op, ep.origin.clone(), Some(&ep.host)))
                    .await?;
                finish_hyper(response, ep, op).await
            }
            Self::BareH2(sender) => {
                sender.ready().await?;
                let response = sender
                    .send_request(hyper_request(op, ep.absolute.clone(), None))
                    .await?;
                finish_hyper(response, ep, op).await
            }
            Self::BareH3(bare) => {
                let request = Request::get(ep.absolute.clone()).body(())?;
                let mut stream = bare.sender.send_request(request).await?;
                stream.finish().await?;
                let response = stream.recv_response().await?;
                check_head(response.status(), response.version(), ep)?;
                let mut body = Vec::with_capacity(op.expected_len());
                while let Some(mut data) = stream.recv_data().await? {
                    while data.has_remaining() {
                        let chunk = data.chunk();
                        body.extend_from_slice(chunk);
                        let len = chunk.len();
                        data.advance(len);
                    }
                }
                let body = Bytes::from(body);
                check_body(&body, op)?;
                if let Op::Json = op {
                    check_message(&serde_json::from_slice::<Message>(&body)?)?;
                }
                Ok(())
            }
            Self::BareFresh => {
                let stream = tokio::net::TcpStream::connect(ep.addr).await?;
                stream.set_nodelay(true)?;
                let io = TokioIo::new(stream);
                match ep.proto {
                    Proto::H1 => {
                        let (mut sender, connection) = http1::handshake(io).await?;
                        tokio::spawn(connection);
                        sender.ready().await?;
                        let response = sender
                            .send_request(hyper_request(op, ep.origin.clone(), Some(&ep.host)))
                            .await?;
                        finish_hyper(response, ep, op).await
                    }
                    Proto::H3 => Err("no fresh-connection row over HTTP/3".into()),
                    Proto::H2 => {
                        let (mut sender, connection) =
                            http2::handshake(TokioExecutor::new(), io).await?;
                        tokio::spawn(connection);
                        sender.ready().await?;
                        let response = sender
                            .send_request(hyper_request(op, ep.absolute.clone(), None))
                            .await?;
                        finish_hyper(response, ep, op).await
                    }
                }
            }
            Self::HyperUtil(client) => {
                let response = client
                    .request(hyper_request(op, ep.absolute.clone(), None))
                    .await?;
                finish_hyper(response, ep, op).await
            }
            Self::Reqwest(client) => {
                let builder = match op {
                    Op::Post { body } => client.post(ep.parsed.clone()).body(body.clone()),
                    _ => client.get(ep.parsed.clone()),
                };
                let response = builder.send().await?;
                check_head(response.status(), response.version(), ep)?;
                if let Op::Json = op {
                    check_message(&response.json::<Message>().await?)
                } else {
                    check_body(&response.bytes().await?, op)
                }
            }
            Self::Aioduct(client) => {
                let mut builder = match op {
                    Op::Post { body } => client.post(&ep.url)?.body(body.clone()),
                    _ => client.get(&ep.url)?,
                };
                if ep.proto == Proto::H2 {
                    builder = builder.h2c_prior_knowledge();
                }
                let response = builder.send().await?;
                check_head(response.status(), response.version(), ep)?;
                if let Op::Json = op {
                    check_message(&response.json::<Message>().await?)
                } else {
                    check_body(&response.bytes().await?, op)
                }
            }
            Self::TowlineTransport(transport) => {
                let response = transport
                    .call(hyper_request(op, ep.absolute.clone(), None))
                    .await?;
                check_head(response.status(), response.version(), ep)?;
                let bytes = response.into_body().collect().await?.to_bytes();
                check_body(&bytes, op)?;
                if let Op::Json = op {
                    check_message(&serde_json::from_slice::<Message>(&bytes)?)?;
                }
                Ok(())
            }
            Self::Towline(client) => {
                let builder = match op {
                    Op::Post { body } => client.post(ep.parsed.clone()).body(body.clone()),
                    _ => client.get(ep.parsed.clone()),
                };
                let response = builder.send().await?;
                check_head(response.status(), response.version(), ep)?;
                if let Op::Json = op {
                    check_message(&response.json::<Message>().await?)
                } else {
                    check_body(&response.bytes().await?, op)
                }
            }
        }
    }
}

/// The layers `towline_all_layers` configures, by the names `TOWLINE_BENCH_LAYERS` takes.
const IDLE_LAYERS: [&str; 12] = [
    "timeouts",
    "timings",
    "trace",
    "otel",
    "cookies",
    "hsts",
    "referer",
    "retry",
    "rate_limit",
    "bandwidth",
    "digest",
    "netrc",
];

/// The `towline_all_layers` client: the facade with every layer that exists configured but
/// idle (nothing in these exchanges makes them act). On top of the default stack (redirect
/// policy, decompression, the timeout layer): total and read timeouts (armed on every request
/// and body wait), timings, a tracing span per request (no subscriber installed), an
/// OpenTelemetry span and metrics per attempt (the global no-op providers), a cookie
/// store, HSTS, `Referer` on redirects, retries (3, every response is a 200), a rate limit
/// of 10^9 requests per second and a download limit of 1 TB/s (both far above what a loop
/// reaches, so they count but never wait), Digest credentials (the server never challenges)
/// and a netrc file with an entry for another host. Add each new layer here and to [`IDLE_LAYERS`]
/// as it lands, and to `ALL_LAYERS` in `run.sh`.
///
/// `TOWLINE_BENCH_LAYERS=a,b` (names from [`IDLE_LAYERS`]) configures only those, so that
/// `benches/layer_costs.sh` can count what each layer costs on its own.
fn towline_all_layers(mut builder: towline::TokioClientBuilder) -> towline::TokioClientBuilder {
    let only = std::env::var("TOWLINE_BENCH_LAYERS").ok();
    let wanted = |layer: &str| {
        only.as_deref()
            .is_none_or(|only| only.split(',').any(|name| name == layer))
    };
    if let Some(unknown) = only
        .iter()
        .flat_map(|only| only.split(','))
        .find(|name| !IDLE_LAYERS.contains(name))
    {
        panic!("TOWLINE_BENCH_LAYERS: no layer {unknown:?}; the layers are {IDLE_LAYERS:?}");
    }
    if wanted("timeouts") {
        builder = builder
            .timeout(Duration::from_secs(60))
            .read_timeout(Duration::from_secs(30));
    }
    if wanted("timings") {
        builder = builder.timings(true);
    }
    if wanted("trace") {
        builder = builder.trace(towline::towline_layers::trace::TraceLayer::new());
    }
    if wanted("otel") {
        let timer = std::sync::Arc::new(towline::towline_services::rt::tokio::TokioTimer);
        builder = builder.otel(towline::towline_layers::otel::OtelLayer::new(timer));
    }
    if wanted("cookies") {
        builder = builder.cookie_store(true);
    }
    if wanted("hsts") {
        builder = builder.hsts(true);
    }
    if wanted("referer") {
        builder = builder.referer(true);
    }
    if wanted("retry") {
        builder = builder.retry(towline::RetryConfig::new());
    }
    if wanted("rate_limit") {
        builder = builder.max_requests_per_sec(1_000_000_000);
    }
    if wanted("bandwidth") {
        builder = builder.max_download_speed(1_000_000_000_000);
    }
    if wanted("digest") {
        builder = builder.digest_auth("user", "password");
    }
    if wanted("netrc") {
        let path = std::env::temp_dir().join(format!("towline-bench-netrc-{}", std::process::id()));
        std::fs::write(&path, "machine idle.invalid login user password password\n")
            .expect("write the bench's netrc file");
        builder = builder.netrc_path(path);
    }
    builder
}

async fn build(kind: Kind, proto: Proto, pooled: bool, server: &BenchServer) -> Conn {
    match kind {
        Kind::BareHyper if !pooled => Conn::BareFresh,
        Kind::BareHyper => bare_connection(proto, server).await,
        Kind::HyperUtil => {
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            let mut builder = LegacyClient::builder(TokioExecutor::new());
            builder.http2_only(proto == Proto::H2);
            if !pooled {
                builder.pool_max_idle_per_host(0);
            }
            Conn::HyperUtil(builder.build(connector))
        }
        Kind::Reqwest => {
            let mut builder = reqwest::Client::builder().tcp_nodelay(true).no_proxy();
            builder = match proto {
                Proto::H1 => builder.http1_only(),
                Proto::H2 => builder.http2_prior_knowledge(),
                Proto::H3 => panic!("reqwest has no HTTP/3 row (see the module docs)"),
            };
            if !pooled {
                builder = builder.pool_max_idle_per_host(0);
            }
            Conn::Reqwest(builder.build().unwrap())
        }
        Kind::Aioduct => {
            // TCP_NODELAY is always on in aioduct's tokio connector.
            let mut builder = aioduct::TokioClient::builder();
            if !pooled {
                builder = builder.no_connection_reuse();
            }
            Conn::Aioduct(builder.build().unwrap())
        }
        Kind::Towline | Kind::TowlineAllLayers => {
            let mut builder = towline::TokioClient::builder().tcp_nodelay(true);
            if kind == Kind::TowlineAllLayers {
                builder = towline_all_layers(builder);
            }
            match proto {
                Proto::H1 => {}
                Proto::H2 => builder = builder.http2_prior_knowledge(),
                Proto::H3 => {
                    builder = builder.http3_prior_knowledge().add_root_certificate(
                        towline::Certificate::from_pem(server.h3_ca_pem().as_bytes()).unwrap(),
                    );
                }
            }
            if !pooled {
                builder = builder.pool_max_idle_per_host(0);
            }
            Conn::Towline(builder.build().unwrap())
        }
        Kind::TowlineTransport => Conn::TowlineTransport(towline_transport(proto, pooled, server)),
    }
}

fn towline_transport(proto: Proto, pooled: bool, server: &BenchServer) -> TowlineTransport {
    use towline::towline_services::connect::quic::QuicConnector;
    use towline::towline_services::connect::tls::{Certificate, TlsConfig};
    use towline::towline_services::connect::{
        DynResolver, GaiResolver, HttpConnector as TowlineConnector, Protocol, TcpConfig,
    };
    use towline::towline_services::transport::{Transport, TransportConfig};
    let mut config = TransportConfig::default();
    match proto {
        Proto::H1 => {}
        Proto::H2 => config.protocol = Protocol::Http2,
        Proto::H3 => config.protocol = Protocol::Http3,
    }
    if !pooled {
        config.pool.max_idle_per_host = 0;
    }
    let connector = TowlineConnector::new(TokioRuntime, TcpConfig::default());
    if proto != Proto::H3 {
        return Transport::new(connector, TokioRuntime, config);
    }
    let mut tls = TlsConfig::default();
    tls.extra_roots
        .push(Certificate::from_pem(server.h3_ca_pem().as_bytes()).unwrap());
    let quic = QuicConnector::new(
        &TokioRuntime,
        DynResolver::new(GaiResolver::new(TokioRuntime)),
        TcpConfig::default(),
        &tls.build().unwrap(),
        &config.http3,
    );
    Transport::with_http3(connector, quic, TokioRuntime, config)
}

/// A bare h3 client: a quinn endpoint and one connection, with towline's default receive
/// windows (`Http3Config`), so the floor and towline move data alike.
async fn bare_h3(server: &BenchServer) -> Conn {
    let defaults = towline::Http3Config::default();
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(server.h3_client_tls()).unwrap();
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .stream_receive_window(defaults.stream_receive_window.into())
        .receive_window(defaults.receive_window.into());
    config.transport_config(Arc::new(transport));
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    endpoint.set_default_client_config(config);
    let connection = endpoint
        .connect(server.h3_addr(), "127.0.0.1")
        .unwrap()
        .await
        .unwrap();
    let (mut driver, sender) = h3::client::new(h3_quinn::Connection::new(connection))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
    });
    Conn::BareH3(BareH3 {
        sender,
        _endpoint: endpoint,
    })
}

async fn bare_connection(proto: Proto, server: &BenchServer) -> Conn {
    let (addr, h2) = match proto {
        Proto::H1 => (server.h1_addr(), false),
        Proto::H2 => (server.h2_addr(), true),
        Proto::H3 => return bare_h3(server).await,
    };
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let io = TokioIo::new(stream);
    if h2 {
        let (sender, connection) = http2::handshake(TokioExecutor::new(), io).await.unwrap();
        tokio::spawn(connection);
        Conn::BareH2(sender)
    } else {
        let (sender, connection) = http1::handshake(io).await.unwrap();
        tokio::spawn(connection);
        Conn::BareH1(sender)
    }
}

/// A scenario: which clients, which request, how many at once.
struct Scenario {
    name: &'static str,
    proto: Proto,
    op: Op,
    concurrency: usize,
    pooled: bool,
}

/// The handles one client uses for one scenario: `concurrency` of them, taken by the
/// measuring task and put back after.
struct Slot {
    conns: Mutex<Vec<Conn>>,
}

struct Env {
    rt: Runtime,
    /// Whether measurements report CPU time to criterion (see [`Clock`]).
    cpu: bool,
    /// `TOWLINE_BENCH_SAMPLES`: every timed call is appended here as
    /// `<scenario> <client> <iters> <wall ns> <cpu ns>`, both clocks of the same run; the
    /// report pools the last `sample-size` calls of each benchmark (criterion's samples,
    /// after its warm-up calls) over the rounds `run.sh` makes.
    samples: Mutex<Option<std::io::BufWriter<std::fs::File>>>,
    /// The order clients are measured in: `TOWLINE_BENCH_ROUND=r` rotates it by `r`, so
    /// rounds do not always measure the same client first.
    order: [Kind; KINDS.len()],
    server: BenchServer,
    /// New connections and requests counted per client during the current scenario.
    new_connections: [AtomicU64; KINDS.len()],
    requests: [AtomicU64; KINDS.len()],
}

impl Env {
    fn record(&self, scenario: &Scenario, kind: Kind, iters: u64, wall: Duration, cpu: Duration) {
        use std::io::Write as _;
        if let Some(out) = self.samples.lock().unwrap().as_mut() {
            writeln!(
                out,
                "{} {} {iters} {} {}",
                scenario.name,
                kind.name(),
                wall.as_nanos(),
                cpu.as_nanos()
            )
            .unwrap();
        }
    }

    fn flush(&self) {
        use std::io::Write as _;
        if let Some(out) = self.samples.lock().unwrap().as_mut() {
            out.flush().unwrap();
        }
    }

    fn connections(&self, proto: Proto) -> u64 {
        match proto {
            Proto::H1 => self.server.h1_connections(),
            Proto::H2 => self.server.h2_connections(),
            Proto::H3 => self.server.h3_connections(),
        }
    }
}

/// `iters` rounds of the scenario on the runtime; returns the time they took.
async fn measure(
    env: Arc<Env>,
    slot: Arc<Slot>,
    kind: Kind,
    scenario: Arc<Scenario>,
    ep: Arc<Endpoint>,
    iters: u64,
) -> (Duration, Duration) {
    let mut conns = std::mem::take(&mut *slot.conns.lock().unwrap());
    let op = Arc::new(scenario.op.clone());
    let connections_before = env.connections(scenario.proto);
    let start = Stamp::now();
    if scenario.concurrency == 1 {
        let conn = &mut conns[0];
        for _ in 0..iters {
            conn.once(&ep, &op).await.unwrap();
        }
    } else {
        let mut tasks = Vec::with_capacity(conns.len());
        for _ in 0..iters {
            for mut conn in conns.drain(..) {
                let (ep, op) = (ep.clone(), op.clone());
                tasks.push(tokio::spawn(async move {
                    conn.once(&ep, &op).await.unwrap();
                    conn
                }));
            }
            for task in tasks.drain(..) {
                conns.push(task.await.unwrap());
            }
        }
    }
    let elapsed = (start.elapsed(false), start.elapsed(true));
    let opened = env.connections(scenario.proto) - connections_before;
    env.new_connections[kind.index()].fetch_add(opened, Ordering::Relaxed);
    env.requests[kind.index()].fetch_add(iters * scenario.concurrency as u64, Ordering::Relaxed);
    *slot.conns.lock().unwrap() = conns;
    elapsed
}

async fn make_slot(kind: Kind, scenario: &Scenario, server: &BenchServer) -> Slot {
    let mut conns = Vec::with_capacity(scenario.concurrency);
    let first = build(kind, scenario.proto, scenario.pooled, server).await;
    let exclusive = matches!(first, Conn::BareH1(_));
    conns.push(first);
    while conns.len() < scenario.concurrency {
        let next = if exclusive {
            build(kind, scenario.proto, scenario.pooled, server).await
        } else {
            conns[0].share()
        };
        conns.push(next);
    }
    Slot {
        conns: Mutex::new(conns),
    }
}

fn run_scenario(group: &mut BenchmarkGroup<'_, Clock>, env: &Arc<Env>, scenario: Scenario) {
    let scenario = Arc::new(scenario);
    let ep = Arc::new(Endpoint::new(
        &env.server,
        scenario.proto,
        scenario.op.path(),
    ));
    for counter in env.new_connections.iter().chain(&env.requests) {
        counter.store(0, Ordering::Relaxed);
    }
    for kind in env
        .order
        .into_iter()
        .filter(|kind| kind.speaks(scenario.proto))
    {
        // Built and warmed outside the measurement: every pool holds what the scenario needs.
        let slot = Arc::new(env.rt.block_on(make_slot(kind, &scenario, &env.server)));
        env.rt
            .block_on(env.rt.spawn(measure(
                env.clone(),
                slot.clone(),
                kind,
                scenario.clone(),
                ep.clone(),
                2,
            )))
            .unwrap();
        env.new_connections[kind.index()].store(0, Ordering::Relaxed);
        env.requests[kind.index()].store(0, Ordering::Relaxed);
        group.bench_function(kind.name(), |b| {
            b.to_async(&env.rt).iter_custom(|iters| {
                let task = measure(
                    env.clone(),
                    slot.clone(),
                    kind,
                    scenario.clone(),
                    ep.clone(),
                    iters,
                );
                let env = env.clone();
                let scenario = scenario.clone();
                async move {
                    let (wall, cpu) = tokio::spawn(task).await.unwrap();
                    env.record(&scenario, kind, iters, wall, cpu);
                    if env.cpu { cpu } else { wall }
                }
            });
        });
    }
    if scenario.concurrency > 1 || !scenario.pooled {
        for kind in KINDS.into_iter().filter(|kind| kind.speaks(scenario.proto)) {
            println!(
                "CONNECTIONS {} {} {} {}",
                scenario.name,
                kind.name(),
                env.new_connections[kind.index()].load(Ordering::Relaxed),
                env.requests[kind.index()].load(Ordering::Relaxed),
            );
        }
    }
}

fn scenarios() -> Vec<Scenario> {
    let get = |path, len| Op::Get { path, len };
    let one = |name, proto, op| Scenario {
        name,
        proto,
        op,
        concurrency: 1,
        pooled: true,
    };
    let post = Op::Post {
        body: Bytes::from(vec![b'x'; POST_LEN]),
    };
    vec![
        one("h1_get_13b", Proto::H1, get("/small", SMALL_BODY.len())),
        one("h1_get_json", Proto::H1, Op::Json),
        one("h1_get_64k", Proto::H1, get("/64k", KIB_64)),
        one("h1_get_1m", Proto::H1, get("/1m", MIB_1)),
        one("h1_post_4k_echo", Proto::H1, post),
        one("h2c_get_13b", Proto::H2, get("/small", SMALL_BODY.len())),
        one("h2c_get_64k", Proto::H2, get("/64k", KIB_64)),
        one("h2c_get_1m", Proto::H2, get("/1m", MIB_1)),
        Scenario {
            name: "h2c_concurrent_10",
            proto: Proto::H2,
            op: get("/small", SMALL_BODY.len()),
            concurrency: H2_CONCURRENCY,
            pooled: true,
        },
        one("h3_get_13b", Proto::H3, get("/small", SMALL_BODY.len())),
        one("h3_get_1m", Proto::H3, get("/1m", MIB_1)),
        Scenario {
            name: "h3_concurrent_10",
            proto: Proto::H3,
            op: get("/small", SMALL_BODY.len()),
            concurrency: H3_CONCURRENCY,
            pooled: true,
        },
        // Churn last: many connections, then fresh connections per request.
        Scenario {
            name: "h1_concurrent_50",
            proto: Proto::H1,
            op: get("/small", SMALL_BODY.len()),
            concurrency: H1_CONCURRENCY,
            pooled: true,
        },
        Scenario {
            name: "h1_fresh_connection",
            proto: Proto::H1,
            op: get("/small", SMALL_BODY.len()),
            concurrency: 1,
            pooled: false,
        },
        Scenario {
            name: "h2c_fresh_connection",
            proto: Proto::H2,
            op: get("/small", SMALL_BODY.len()),
            concurrency: 1,
            pooled: false,
        },
    ]
}

/// The runtime every client and the server share: `TOWLINE_BENCH_RUNTIME=multi` (default) is
/// tokio's multi-threaded scheduler with 2 workers; `current` is the current-thread one.
fn runtime() -> Runtime {
    match std::env::var("TOWLINE_BENCH_RUNTIME").as_deref() {
        Ok("current") => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        Ok("multi") | Err(_) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
        Ok(other) => panic!("TOWLINE_BENCH_RUNTIME must be multi or current, not {other:?}"),
    }
}

fn main() {
    let clock = Clock::from_env();
    let round: usize = std::env::var("TOWLINE_BENCH_ROUND")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let mut order = KINDS;
    order.rotate_left(round % KINDS.len());
    let rt = runtime();
    let server = rt.block_on(BenchServer::start()).unwrap();
    let env = Arc::new(Env {
        rt,
        cpu: clock.cpu,
        samples: Mutex::new(std::env::var_os("TOWLINE_BENCH_SAMPLES").map(|path| {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap();
            std::io::BufWriter::new(file)
        })),
        order,
        server,
        new_connections: Default::default(),
        requests: Default::default(),
    });
    // TOWLINE_BENCH_PROFILE=<scenario>:<client>:<iters> skips criterion and runs that one
    // benchmark for <iters> iterations (after a warm-up of as many), for a profiler, e.g.
    // `valgrind --tool=callgrind --toggle-collect='*measure*'`.
    if let Ok(spec) = std::env::var("TOWLINE_BENCH_PROFILE") {
        profile(&env, &spec);
        return;
    }
    // Short fixed settings (run.sh passes the same on the command line, which wins).
    let mut criterion = Criterion::default()
        .with_measurement(clock)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(40)
        .configure_from_args();
    // TOWLINE_BENCH_ONLY=a,b runs only the scenarios whose names contain a or b.
    let only = std::env::var("TOWLINE_BENCH_ONLY").unwrap_or_default();
    for scenario in scenarios() {
        if !only.is_empty() && !only.split(',').any(|part| scenario.name.contains(part)) {
            continue;
        }
        let mut group = criterion.benchmark_group(scenario.name);
        run_scenario(&mut group, &env, scenario);
        group.finish();
        env.flush();
    }
    criterion.final_summary();
}

fn profile(env: &Arc<Env>, spec: &str) {
    let [name, client, iters] = spec.split(':').collect::<Vec<_>>()[..] else {
        panic!("TOWLINE_BENCH_PROFILE=<scenario>:<client>:<iters>, not {spec:?}");
    };
    let scenario = scenarios()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario {name:?}"));
    let kind = KINDS
        .into_iter()
        .find(|k| k.name() == client)
        .unwrap_or_else(|| panic!("no client {client:?}"));
    let iters: u64 = iters.parse().unwrap();
    let scenario = Arc::new(scenario);
    let ep = Arc::new(Endpoint::new(
        &env.server,
        scenario.proto,
        scenario.op.path(),
    ));
    let slot = Arc::new(env.rt.block_on(make_slot(kind, &scenario, &env.server)));
    let run = |iters| {
        env.rt
            .block_on(env.rt.spawn(measure(
                env.clone(),
                slot.clone(),
                kind,
                scenario.clone(),
                ep.clone(),
                iters,
            )))
            .unwrap()
    };
    run(iters);
    let (wall, cpu) = run(iters);
    println!(
        "{name}/{client}: {iters} iterations, wall {:?}/iter, cpu {:?}/iter",
        wall / u32::try_from(iters).unwrap_or(u32::MAX),
        cpu / u32::try_from(iters).unwrap_or(u32::MAX),
    );
}
