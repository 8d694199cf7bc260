//! The in-process server the benchmarks measure against, and the routes they use.
//!
//! [`BenchServer`] listens on `127.0.0.1` three times: once for HTTP/1.1, once for HTTP/2 with
//! prior knowledge (h2c), and once for HTTP/3 over QUIC (TLS with a test PKI whose CA
//! [`BenchServer::h3_ca_pem`] gives, see the `h3` module). The TCP ones set `TCP_NODELAY` on
//! every accepted socket; all count the connections they accept (so a benchmark can tell
//! whether a client churned connections), and serve the same routes (HTTP/3 the `GET` ones
//! but `/stream/<n>`):
//!
//! | route | response |
//! |---|---|
//! | `GET /small` | the 13 bytes of [`SMALL_BODY`] |
//! | `GET /json` | [`JSON_BODY`], `Content-Type: application/json` |
//! | `GET /64k` | 64 KiB ([`KIB_64`]) |
//! | `GET /1m` | 1 MiB ([`MIB_1`]) |
//! | `POST /echo` | the request body |
//! | `GET /stream/<n>` | `n` bytes generated in 64 KiB chunks, with `Content-Length`; a `Range: bytes=a-b` (or `a-`) gets those bytes as a `206` with `Content-Range` (the byte at offset `o` is `(o % 65536) % 251`) |
//!
//! The HTTP/2 side advertises large flow-control windows so that no client is held back by
//! the server. The server runs on whichever tokio runtime [`BenchServer::start`] is called
//! on, and stops when that runtime shuts down.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use tokio::net::TcpListener;
use towline_test_support::{TestPki, TokioExecutor, TokioIo};

mod h3;

/// Body of `GET /small`: 13 bytes.
pub const SMALL_BODY: &[u8] = b"Hello, World!";

/// Body of `GET /json`.
pub const JSON_BODY: &[u8] = br#"{"message":"hello","count":42}"#;

/// Length of the `GET /64k` body.
pub const KIB_64: usize = 64 * 1024;

/// Length of the `GET /1m` body.
pub const MIB_1: usize = 1024 * 1024;

/// Size of the chunks `GET /stream/<n>` sends.
pub const STREAM_CHUNK: usize = 64 * 1024;

/// HTTP/2 stream window the server advertises (covers a 1 MiB body several times over).
pub const H2_STREAM_WINDOW: u32 = 16 * 1024 * 1024;

/// HTTP/2 connection window the server advertises.
pub const H2_CONNECTION_WINDOW: u32 = 64 * 1024 * 1024;

/// The JSON object of `GET /json`, as clients deserialize it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Message {
    /// Always `"hello"`.
    pub message: String,
    /// Always 42.
    pub count: u32,
}

/// The HTTP/1.1 and h2c listeners, and their connection counters.
#[derive(Debug, Clone)]
pub struct BenchServer {
    h1: SocketAddr,
    h2: SocketAddr,
    h3: SocketAddr,
    h1_connections: Arc<AtomicU64>,
    h2_connections: Arc<AtomicU64>,
    h3_connections: Arc<AtomicU64>,
    h3_ca_pem: Arc<str>,
    h3_client_tls: Arc<rustls::ClientConfig>,
}

/// The bodies served, built once and shared by reference count.
struct Bodies {
    small: Bytes,
    json: Bytes,
    kib_64: Bytes,
    mib_1: Bytes,
    chunk: Bytes,
}

impl Bodies {
    fn new() -> Self {
        let pattern =
            |len: usize| Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        Self {
            small: Bytes::from_static(SMALL_BODY),
            json: Bytes::from_static(JSON_BODY),
            kib_64: pattern(KIB_64),
            mib_1: pattern(MIB_1),
            chunk: pattern(STREAM_CHUNK),
        }
    }
}

impl BenchServer {
    /// Binds the three listeners on `127.0.0.1` and starts accepting on the current tokio
    /// runtime.
    ///
    /// Must be called from inside a tokio runtime.
    pub async fn start() -> std::io::Result<Self> {
        let bodies = Arc::new(Bodies::new());
        let h1_listener = TcpListener::bind("127.0.0.1:0").await?;
        let h2_listener = TcpListener::bind("127.0.0.1:0").await?;
        let pki = TestPki::generate();
        let h3_endpoint =
            h3::bind(pki.server_config_with_versions(&[b"h3"], &[&rustls::version::TLS13]))?;
        let server = Self {
            h1: h1_listener.local_addr()?,
            h2: h2_listener.local_addr()?,
            h3: h3_endpoint.local_addr()?,
            h1_connections: Arc::new(AtomicU64::new(0)),
            h2_connections: Arc::new(AtomicU64::new(0)),
            h3_connections: Arc::new(AtomicU64::new(0)),
            h3_ca_pem: pki.ca_pem().into(),
            h3_client_tls: pki.client_config(&[b"h3"], false),
        };
        tokio::spawn(h3::accept(
            h3_endpoint,
            server.h3_connections.clone(),
            bodies.clone(),
        ));
        tokio::spawn(accept(
            h1_listener,
            server.h1_connections.clone(),
            bodies.clone(),
            false,
        ));
        tokio::spawn(accept(
            h2_listener,
            server.h2_connections.clone(),
            bodies,
            true,
        ));
        Ok(server)
    }

    /// Address of the HTTP/1.1 listener.
    pub fn h1_addr(&self) -> SocketAddr {
        self.h1
    }

    /// Address of the h2c (HTTP/2 prior knowledge) listener.
    pub fn h2_addr(&self) -> SocketAddr {
        self.h2
    }

    /// `http://<HTTP/1.1 listener><path>`.
    pub fn h1_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.h1)
    }

    /// `http://<h2c listener><path>`.
    pub fn h2_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.h2)
    }

    /// Connections accepted so far on the HTTP/1.1 listener.
    pub fn h1_connections(&self) -> u64 {
        self.h1_connections.load(Ordering::Relaxed)
    }

    /// Connections accepted so far on the h2c listener.
    pub fn h2_connections(&self) -> u64 {
        self.h2_connections.load(Ordering::Relaxed)
    }

    /// Address of the HTTP/3 listener (UDP).
    pub fn h3_addr(&self) -> SocketAddr {
        self.h3
    }

    /// `https://127.0.0.1:<HTTP/3 port><path>` (the certificate names `127.0.0.1`).
    pub fn h3_url(&self, path: &str) -> String {
        format!("https://{}{path}", self.h3)
    }

    /// QUIC connections accepted so far on the HTTP/3 listener.
    pub fn h3_connections(&self) -> u64 {
        self.h3_connections.load(Ordering::Relaxed)
    }

    /// The PEM of the CA that signed the HTTP/3 listener's certificate.
    pub fn h3_ca_pem(&self) -> &str {
        &self.h3_ca_pem
    }

    /// A rustls client configuration trusting the HTTP/3 listener, with ALPN `h3`.
    pub fn h3_client_tls(&self) -> Arc<rustls::ClientConfig> {
        self.h3_client_tls.clone()
    }
}

async fn accept(listener: TcpListener, counter: Arc<AtomicU64>, bodies: Arc<Bodies>, h2: bool) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let bodies = bodies.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let bodies = bodies.clone();
                async move { Ok::<_, Infallible>(route(request, &bodies).await) }
            });
            let io = TokioIo::new(stream);
            if h2 {
                let _ = http2::Builder::new(TokioExecutor)
                    .initial_stream_window_size(H2_STREAM_WINDOW)
                    .initial_connection_window_size(H2_CONNECTION_WINDOW)
                    .max_concurrent_streams(1024)
                    .serve_connection(io, service)
                    .await;
            } else {
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(io, service)
                    .await;
            }
        });
    }
}

async fn route(request: Request<Incoming>, bodies: &Bodies) -> Response<ServerBody> {
    let path = request.uri().path();
    match (request.method(), path) {
        (&Method::GET, "/small") => full(bodies.small.clone(), "text/plain"),
        (&Method::GET, "/json") => full(bodies.json.clone(), "application/json"),
        (&Method::GET, "/64k") => full(bodies.kib_64.clone(), "application/octet-stream"),
        (&Method::GET, "/1m") => full(bodies.mib_1.clone(), "application/octet-stream"),
        (&Method::POST, "/echo") => {
            let mut body = request.into_body();
            let mut collected = Vec::new();
            while let Some(frame) =
                std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
            {
                match frame {
                    Ok(frame) => {
                        if let Ok(data) = frame.into_data() {
                            collected.extend_from_slice(&data);
                        }
                    }
                    Err(_) => return status(StatusCode::BAD_REQUEST),
                }
            }
            full(Bytes::from(collected), "application/octet-stream")
        }
        (&Method::GET, _) if path.starts_with("/stream/") => {
            let Ok(length) = path["/stream/".len()..].parse::<u64>() else {
                return status(StatusCode::BAD_REQUEST);
            };
            let range = request
                .headers()
                .get(header::RANGE)
                .and_then(|value| value.to_str().ok())
                .map(|value| byte_range(value, length));
            let (first, last) = match range {
                None => (0, length.checked_sub(1)),
                Some(Some((first, last))) => (first, Some(last)),
                Some(None) => return status(StatusCode::RANGE_NOT_SATISFIABLE),
            };
            let remaining = last.map_or(0, |last| last - first + 1);
            let chunk_len = bodies.chunk.len() as u64;
            let mut response = Response::new(ServerBody::Repeat {
                chunk: bodies.chunk.clone(),
                offset: (first % chunk_len) as usize,
                remaining,
            });
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/octet-stream"),
            );
            headers.insert(
                header::ACCEPT_RANGES,
                header::HeaderValue::from_static("bytes"),
            );
            if let Ok(etag) = header::HeaderValue::from_str(&format!("\"{length}\"")) {
                headers.insert(header::ETAG, etag);
            }
            if let (Some(_), Some(last)) = (range, last) {
                if let Ok(value) =
                    header::HeaderValue::from_str(&format!("bytes {first}-{last}/{length}"))
                {
                    headers.insert(header::CONTENT_RANGE, value);
                }
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            }
            response
        }
        _ => status(StatusCode::NOT_FOUND),
    }
}

/// The first and last offsets of a single `bytes=a-b` or `bytes=a-` range within `length`
/// bytes; `None` when it is not one satisfiable range.
fn byte_range(value: &str, length: u64) -> Option<(u64, u64)> {
    let (first, last) = value.strip_prefix("bytes=")?.split_once('-')?;
    let first: u64 = first.trim().parse().ok()?;
    let end = length.checked_sub(1)?;
    let last = match last.trim() {
        "" => end,
        last => last.parse::<u64>().ok()?.min(end),
    };
    (first <= last).then_some((first, last))
}

fn full(bytes: Bytes, content_type: &'static str) -> Response<ServerBody> {
    let mut response = Response::new(ServerBody::Full(Some(bytes)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

fn status(status: StatusCode) -> Response<ServerBody> {
    let mut response = Response::new(ServerBody::Full(None));
    *response.status_mut() = status;
    response
}

/// The server's response body: bytes in memory, or a repeated chunk (for `/stream/<n>`).
/// Both report their exact length, so hyper sends `Content-Length`.
enum ServerBody {
    Full(Option<Bytes>),
    /// `remaining` bytes of `chunk` repeated, the first frame starting at `offset` in it.
    Repeat {
        chunk: Bytes,
        offset: usize,
        remaining: u64,
    },
}

impl Body for ServerBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = match self.get_mut() {
            Self::Full(bytes) => bytes.take(),
            Self::Repeat {
                chunk,
                offset,
                remaining,
            } => {
                if *remaining == 0 {
                    None
                } else {
                    let available = chunk.len() - *offset;
                    let take = usize::try_from(*remaining).map_or(available, |r| r.min(available));
                    *remaining -= take as u64;
                    let frame = chunk.slice(*offset..*offset + take);
                    *offset = 0;
                    Some(frame)
                }
            }
        };
        Poll::Ready(frame.map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.is_none(),
            Self::Repeat { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Repeat { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}
