//! [`TestServer`]: a hyper server over HTTP/1.1, h2c or TLS, on `127.0.0.1:0`.

use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::{Pin, pin},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, header};
use http_body_util::BodyExt;
use hyper::{
    body::Incoming,
    server::conn::{http1, http2},
    service::service_fn,
};
use rustls::ServerConfig;
use tokio::{net::TcpStream, sync::Notify};
use tokio_rustls::TlsAcceptor;

use crate::{
    TestPki,
    acceptor::Acceptor,
    body::{BoxBody, response},
    router,
    rt::{TokioExecutor, TokioIo},
};

type HandlerFuture = Pin<Box<dyn Future<Output = Response<BoxBody>> + Send>>;
type Handler = Arc<dyn Fn(Request<Incoming>) -> HandlerFuture + Send + Sync>;

/// Facts about the connection a request arrived on, found in the request's
/// extensions (`req.extensions().get::<ConnectionInfo>()`).
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    /// 1-based number of the connection in accept order; equals
    /// [`TestServer::connections`] right after it was accepted.
    pub id: usize,
    /// The client's address.
    pub peer_addr: SocketAddr,
    /// The ALPN protocol negotiated over TLS; `None` without TLS or ALPN.
    pub alpn: Option<Vec<u8>>,
    /// The server name the client sent over TLS (SNI); `None` without TLS or
    /// when the client sent none (as for IP addresses).
    pub sni: Option<String>,
}

/// Request trailers, found in the extensions of requests given to
/// [`TestServerBuilder::handler`] when the client sent any.
#[derive(Clone, Debug)]
pub struct RequestTrailers(pub HeaderMap);

#[derive(Clone)]
enum Transport {
    Http1,
    H2c,
    Tls(Arc<ServerConfig>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

struct Shared {
    transport: Transport,
    handler: Handler,
    max_requests_per_connection: Option<usize>,
    requests: AtomicUsize,
}

/// An HTTP server running on the current tokio runtime, listening on `127.0.0.1:0`.
///
/// Without a handler it serves a built-in router (see
/// [`TestServerBuilder::build`]). Dropping it stops accepting and closes every
/// connection.
pub struct TestServer {
    acceptor: Acceptor,
    shared: Arc<Shared>,
    tls: bool,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr())
            .field("tls", &self.tls)
            .field("connections", &self.connections())
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Starts configuring a server: HTTP/1.1, built-in router, no request limit.
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder {
            transport: Transport::Http1,
            handler: None,
            max_requests_per_connection: None,
        }
    }

    /// An HTTP/1.1 server with the built-in router.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or when binding fails.
    pub fn http1() -> Self {
        Self::builder().build()
    }

    /// An h2c (HTTP/2 with prior knowledge, no TLS) server with the built-in router.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or when binding fails.
    pub fn h2c() -> Self {
        Self::builder().h2c().build()
    }

    /// A TLS server with the built-in router, presenting `pki`'s `localhost`
    /// certificate and offering `alpn` (e.g. `&[b"h2", b"http/1.1"]`).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or when binding fails.
    pub fn tls(pki: &TestPki, alpn: &[&[u8]]) -> Self {
        Self::builder().tls(pki, alpn).build()
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }

    /// An absolute URL for `path` on this server: `http://127.0.0.1:PORT/path`,
    /// or `https://localhost:PORT/path` over TLS (the name in the certificate).
    /// A missing leading `/` is added.
    ///
    /// The server listens on IPv4 only, so `localhost` must resolve to
    /// `127.0.0.1` (or the client must fall back to it from `::1`). The
    /// [`TestPki`] certificate also names `127.0.0.1`, so
    /// `https://127.0.0.1:PORT/` verifies too.
    pub fn url(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        let port = self.addr().port();
        if self.tls {
            format!("https://localhost:{port}{slash}{path}")
        } else {
            format!("http://127.0.0.1:{port}{slash}{path}")
        }
    }

    /// TCP connections accepted so far, counted as each is accepted (before any
    /// TLS handshake). A connection is always counted before its first response
    /// is sent, so after a response the count includes the connection that carried it.
    pub fn connections(&self) -> usize {
        self.acceptor.connections()
    }

    /// Requests that reached the handler so far, over all connections.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Stops accepting and waits until every connection is closed; dropping
    /// does the same without waiting.
    pub async fn shutdown(self) {
        self.acceptor.shutdown().await;
    }
}

/// Configures a [`TestServer`]; made by [`TestServer::builder`].
pub struct TestServerBuilder {
    transport: Transport,
    handler: Option<Handler>,
    max_requests_per_connection: Option<usize>,
}

impl std::fmt::Debug for TestServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let transport = match self.transport {
            Transport::Http1 => "http1",
            Transport::H2c => "h2c",
            Transport::Tls(_) => "tls",
        };
        f.debug_struct("TestServerBuilder")
            .field("transport", &transport)
            .field("custom_handler", &self.handler.is_some())
            .field(
                "max_requests_per_connection",
                &self.max_requests_per_connection,
            )
            .finish()
    }
}

impl TestServerBuilder {
    /// Plain HTTP/1.1 (the default).
    pub fn http1(mut self) -> Self {
        self.transport = Transport::Http1;
        self
    }

    /// Plain HTTP/2 with prior knowledge (h2c); HTTP/1 requests are refused.
    pub fn h2c(mut self) -> Self {
        self.transport = Transport::H2c;
        self
    }

    /// TLS with `pki`'s `localhost` certificate, offering the `alpn` protocols
    /// in order of preference. HTTP/2 is spoken when `h2` is negotiated,
    /// HTTP/1.1 otherwise. For client-certificate checks or an untrusted
    /// certificate, use [`tls_config`](Self::tls_config) with
    /// [`TestPki::server_config`] or [`TestPki::self_signed_server_config`].
    pub fn tls(self, pki: &TestPki, alpn: &[&[u8]]) -> Self {
        self.tls_config(pki.server_config(alpn, false))
    }

    /// TLS with a ready-made rustls configuration; its ALPN list decides
    /// between HTTP/2 (`h2`) and HTTP/1.1 as in [`tls`](Self::tls).
    pub fn tls_config(mut self, config: Arc<ServerConfig>) -> Self {
        self.transport = Transport::Tls(config);
        self
    }

    /// After `n` requests on one connection, closes it gracefully: over HTTP/1
    /// the `n`th response carries `Connection: close` and the connection is
    /// closed after it; over HTTP/2 the server sends GOAWAY, so streams the
    /// client opened before receiving it are still answered.
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    pub fn max_requests_per_connection(mut self, n: usize) -> Self {
        assert!(n > 0, "a connection must be allowed at least one request");
        self.max_requests_per_connection = Some(n);
        self
    }

    /// Serves every request with `handler`, given the request with its body
    /// already read (trailers, if any, are in a [`RequestTrailers`] extension,
    /// the connection in a [`ConnectionInfo`] extension).
    ///
    /// If reading the body fails, the handler is not called and the client gets
    /// a 400.
    ///
    /// ```no_run
    /// # async fn doc() {
    /// use towline_test_support::{TestServer, response};
    /// let server = TestServer::builder()
    ///     .handler(|req: http::Request<bytes::Bytes>| async move {
    ///         response(201, format!("got {} bytes", req.body().len()))
    ///     })
    ///     .build();
    /// # }
    /// ```
    pub fn handler<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Request<Bytes>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<BoxBody>> + Send + 'static,
    {
        self.handler = Some(collecting(handler));
        self
    }

    /// Serves every request with `handler`, given the request with its body
    /// still streaming, for tests that watch how the client sends a body.
    pub fn streaming_handler<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<BoxBody>> + Send + 'static,
    {
        self.handler = Some(Arc::new(move |req| Box::pin(handler(req))));
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    ///
    /// Without a handler, the built-in router answers:
    ///
    /// | path | response |
    /// | --- | --- |
    /// | `/echo…` (any method) | 200 JSON: `method`, `path`, `query` (or null), `uri`, `headers` (`[[name, value], …]`, every value, grouped by name in first-seen order), `trailers` (same shape, or null), `body` (UTF-8, lossy), `body_len`, `version` (`"HTTP/1.1"`, `"HTTP/2.0"`), `connection_id`, `peer_addr`, `sni` (the TLS server name the client sent, or null) |
    /// | `/status/N` | status N, empty body |
    /// | `/bytes/N` | N bytes, byte i = `(i % 251) as u8`, with `Content-Length` |
    /// | `/chunks?n=N&size=S&delay_ms=D` | N chunks of S bytes (same byte pattern), D ms apart, no `Content-Length` |
    /// | `/slow-headers?ms=D` | waits D ms before the response head |
    /// | `/close` | 200 with `Connection: close` (HTTP/1; HTTP/2 strips the header) |
    /// | `/no-content`, `/not-modified` | 204, 304 |
    /// | `/redirect?to=URL&status=302` | that status (default 302) with `Location: URL` |
    /// | `/json` | the request body, if it is JSON, as `application/json`; else 400 |
    /// | `/text?charset=X` | "héllo wörld" in `utf-8` or `iso-8859-1`/`latin1`, `Content-Type: text/plain; charset=X` |
    /// | `/trailers` | chunked body `hello`, then trailer `x-checksum: abc` (HTTP/1 only when the request sent `TE: trailers`; HTTP/2 always) |
    /// | `/headers?name=value&…` | 200 with those response headers (repeats kept) |
    ///
    /// Anything else is a 404; a malformed parameter is a 400.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or when binding fails.
    pub fn build(self) -> TestServer {
        let tls = matches!(self.transport, Transport::Tls(_));
        let handler = self.handler.unwrap_or_else(|| collecting(router::route));
        let shared = Arc::new(Shared {
            transport: self.transport,
            handler,
            max_requests_per_connection: self.max_requests_per_connection,
            requests: AtomicUsize::new(0),
        });
        let acceptor = Acceptor::spawn({
            let shared = shared.clone();
            move |stream, peer_addr, id| {
                let info = ConnectionInfo {
                    id,
                    peer_addr,
                    alpn: None,
                    sni: None,
                };
                serve_connection(stream, info, shared.clone())
            }
        });
        TestServer {
            acceptor,
            shared,
            tls,
        }
    }
}

/// Wraps a handler of collected requests into one of streaming requests.
fn collecting<F, Fut>(handler: F) -> Handler
where
    F: Fn(Request<Bytes>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<BoxBody>> + Send + 'static,
{
    let handler = Arc::new(handler);
    Arc::new(move |req| {
        let handler = handler.clone();
        Box::pin(async move {
            match collect_request(req).await {
                Ok(req) => handler(req).await,
                Err(res) => res,
            }
        })
    })
}

async fn collect_request(req: Request<Incoming>) -> Result<Request<Bytes>, Response<BoxBody>> {
    let (mut parts, body) = req.into_parts();
    match body.collect().await {
        Ok(collected) => {
            if let Some(trailers) = collected.trailers() {
                parts.extensions.insert(RequestTrailers(trailers.clone()));
            }
            Ok(Request::from_parts(parts, collected.to_bytes()))
        }
        Err(error) => Err(response(400, format!("reading the request body: {error}"))),
    }
}

async fn serve_connection(stream: TcpStream, mut info: ConnectionInfo, shared: Arc<Shared>) {
    // Small writes (heads, chunks) must not sit in Nagle's buffer while a test
    // measures timing.
    let _ = stream.set_nodelay(true);
    match &shared.transport {
        Transport::Http1 => serve_http(TokioIo::new(stream), Protocol::Http1, info, &shared).await,
        Transport::H2c => serve_http(TokioIo::new(stream), Protocol::Http2, info, &shared).await,
        Transport::Tls(config) => {
            // A failed handshake is what TLS tests provoke; the client sees it.
            let Ok(tls) = TlsAcceptor::from(config.clone()).accept(stream).await else {
                return;
            };
            info.alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            info.sni = tls.get_ref().1.server_name().map(str::to_owned);
            let protocol = if info.alpn.as_deref() == Some(b"h2") {
                Protocol::Http2
            } else {
                Protocol::Http1
            };
            serve_http(TokioIo::new(tls), protocol, info, &shared).await;
        }
    }
}

async fn serve_http<I>(io: I, protocol: Protocol, info: ConnectionInfo, shared: &Arc<Shared>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let limit_reached = Arc::new(Notify::new());
    let service = {
        let shared = shared.clone();
        let limit_reached = limit_reached.clone();
        let served_here = AtomicUsize::new(0);
        service_fn(move |mut req: Request<Incoming>| {
            shared.requests.fetch_add(1, Ordering::SeqCst);
            let served = served_here.fetch_add(1, Ordering::SeqCst) + 1;
            let last = shared
                .max_requests_per_connection
                .is_some_and(|max| served >= max);
            if last {
                limit_reached.notify_one();
            }
            req.extensions_mut().insert(info.clone());
            let handled = (shared.handler)(req);
            async move {
                let mut res = handled.await;
                if last && protocol == Protocol::Http1 {
                    res.headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(res)
            }
        })
    };
    match protocol {
        Protocol::Http1 => {
            let conn = http1::Builder::new().serve_connection(io, service);
            drive(conn, &limit_reached, http1::Connection::graceful_shutdown).await;
        }
        Protocol::Http2 => {
            let conn = http2::Builder::new(TokioExecutor).serve_connection(io, service);
            drive(conn, &limit_reached, http2::Connection::graceful_shutdown).await;
        }
    }
}

/// Runs a connection to its end, shutting it down gracefully once the
/// per-connection request limit is reached.
async fn drive<C, E>(conn: C, limit_reached: &Notify, graceful_shutdown: fn(Pin<&mut C>))
where
    C: Future<Output = Result<(), E>>,
{
    let mut conn = pin!(conn);
    tokio::select! {
        // Connection errors (a client vanishing mid-request) are what some tests
        // provoke on purpose; the client side observes and asserts them.
        _ = conn.as_mut() => return,
        () = limit_reached.notified() => graceful_shutdown(conn.as_mut()),
    }
    let _ = conn.await;
}
