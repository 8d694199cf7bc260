//! [`HttpProxy`]: an in-process HTTP forward proxy — absolute-form requests and `CONNECT`
//! tunnels, optional Basic authentication, optional TLS to the proxy itself — that logs
//! every request it receives.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use http::header::{HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION};
use http::{Method, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper::service::service_fn;
use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::acceptor::Acceptor;
use crate::body::{BoxBody, boxed, empty, full};
use crate::rt::TokioIo;

/// A request as the proxy received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyRequest {
    /// The method (`CONNECT` for tunnels).
    pub method: Method,
    /// The request target as it arrived: `http://origin/path` in absolute form,
    /// `host:port` for `CONNECT`.
    pub target: String,
    /// The `Host` header.
    pub host: Option<String>,
    /// The `Proxy-Authorization` header.
    pub proxy_authorization: Option<String>,
    /// The number of the client connection it came on (1-based, in accept order).
    pub connection: usize,
}

#[derive(Default)]
struct Settings {
    credentials: Option<String>,
    challenge_status: Option<StatusCode>,
    digest: Option<crate::DigestServer>,
}

/// An HTTP forward proxy on `127.0.0.1:0`.
///
/// Absolute-form requests are forwarded to their origin in origin form (without
/// `Proxy-Authorization`) over a fresh connection each; `CONNECT host:port` is answered `200`
/// and the connection becomes a TCP tunnel. With [`HttpProxyBuilder::basic_auth`], requests
/// without the right `Proxy-Authorization` are answered `407` with
/// `Proxy-Authenticate: Basic realm="towline-test"` (or the status of
/// [`HttpProxyBuilder::challenge_status`], e.g. `401` as tinyproxy answers `CONNECT`).
pub struct HttpProxy {
    acceptor: Acceptor,
    log: Arc<Mutex<Vec<ProxyRequest>>>,
    tls: bool,
}

impl std::fmt::Debug for HttpProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProxy")
            .field("addr", &self.acceptor.addr())
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// Configures an [`HttpProxy`].
#[derive(Default)]
pub struct HttpProxyBuilder {
    settings: Settings,
    tls: Option<Arc<ServerConfig>>,
}

impl std::fmt::Debug for HttpProxyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProxyBuilder").finish_non_exhaustive()
    }
}

impl HttpProxyBuilder {
    /// Requires Basic credentials.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.settings.credentials = Some(format!("Basic {encoded}"));
        self
    }

    /// Requires a Digest answer that `server` (in proxy mode, see
    /// [`DigestServer::proxy`](crate::DigestServer::proxy)) accepts: a request without one
    /// gets the server's `407` and challenges, on a connection kept open.
    pub fn digest_auth(mut self, server: crate::DigestServer) -> Self {
        self.settings.digest = Some(server);
        self
    }

    /// The status a request without the right credentials gets (`407` by default).
    pub fn challenge_status(mut self, status: StatusCode) -> Self {
        self.settings.challenge_status = Some(status);
        self
    }

    /// Speaks TLS to clients (an `https://` proxy) with `config`.
    pub fn tls(mut self, config: Arc<ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Starts the proxy.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or when binding fails.
    pub fn build(self) -> HttpProxy {
        let log = Arc::new(Mutex::new(Vec::new()));
        let settings = Arc::new(self.settings);
        let tls = self.tls.map(TlsAcceptor::from);
        let has_tls = tls.is_some();
        let acceptor = Acceptor::spawn({
            let log = log.clone();
            move |stream, _peer, connection| {
                let (log, settings, tls) = (log.clone(), settings.clone(), tls.clone());
                async move {
                    let service = service_fn(move |request| {
                        handle(request, connection, log.clone(), settings.clone())
                    });
                    let builder = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(tls) => {
                            let Ok(stream) = tls.accept(stream).await else {
                                return;
                            };
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .with_upgrades()
                                .await;
                        }
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .with_upgrades()
                                .await;
                        }
                    }
                }
            }
        });
        HttpProxy {
            acceptor,
            log,
            tls: has_tls,
        }
    }
}

impl HttpProxy {
    /// A proxy without authentication or TLS.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or when binding fails.
    pub fn spawn() -> Self {
        Self::builder().build()
    }

    /// Configures a proxy.
    pub fn builder() -> HttpProxyBuilder {
        HttpProxyBuilder::default()
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` for a TLS proxy (the test
    /// certificates name `localhost`).
    pub fn url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.addr().port())
        } else {
            format!("http://{}", self.addr())
        }
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Accepted client connections.
    pub fn connections(&self) -> usize {
        self.acceptor.connections()
    }
}

async fn handle(
    request: Request<Incoming>,
    connection: usize,
    log: Arc<Mutex<Vec<ProxyRequest>>>,
    settings: Arc<Settings>,
) -> Result<Response<BoxBody>, std::convert::Infallible> {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let proxy_authorization = header(PROXY_AUTHORIZATION);
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(ProxyRequest {
            method: request.method().clone(),
            target: request.uri().to_string(),
            host: header(HOST),
            proxy_authorization: proxy_authorization.clone(),
            connection,
        });
    if let Some(expected) = &settings.credentials
        && proxy_authorization.as_deref() != Some(expected.as_str())
    {
        let mut response = Response::new(empty());
        *response.status_mut() = settings
            .challenge_status
            .unwrap_or(StatusCode::PROXY_AUTHENTICATION_REQUIRED);
        response.headers_mut().insert(
            PROXY_AUTHENTICATE,
            http::HeaderValue::from_static("Basic realm=\"towline-test\""),
        );
        return Ok(response);
    }
    if let Some(digest) = &settings.digest {
        let mut head = Request::new(bytes::Bytes::new());
        *head.method_mut() = request.method().clone();
        *head.uri_mut() = request.uri().clone();
        *head.headers_mut() = request.headers().clone();
        let answer = digest.respond(&head);
        if answer.status() != StatusCode::OK {
            return Ok(answer);
        }
    }
    if request.method() == Method::CONNECT {
        return Ok(tunnel(request).await);
    }
    Ok(forward(request).await)
}

fn bad_gateway(why: impl std::fmt::Display) -> Response<BoxBody> {
    let mut response = Response::new(full(why.to_string()));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response
}

async fn tunnel(request: Request<Incoming>) -> Response<BoxBody> {
    let Some(authority) = request.uri().authority().map(ToString::to_string) else {
        return bad_gateway("CONNECT needs host:port");
    };
    let upstream = match TcpStream::connect(&authority).await {
        Ok(upstream) => upstream,
        Err(error) => return bad_gateway(error),
    };
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(request).await else {
            return;
        };
        let mut client = TokioIo::new(upgraded);
        let mut upstream = upstream;
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    });
    Response::new(empty())
}

async fn forward(request: Request<Incoming>) -> Response<BoxBody> {
    let uri = request.uri().clone();
    let (Some(host), Some("http")) = (uri.host(), uri.scheme_str()) else {
        return bad_gateway("not an absolute-form http request");
    };
    let port = uri.port_u16().unwrap_or(80);
    let upstream = match TcpStream::connect((host, port)).await {
        Ok(upstream) => upstream,
        Err(error) => return bad_gateway(error),
    };
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake::<_, Incoming>(TokioIo::new(upstream)).await
    else {
        return bad_gateway("handshake with the origin failed");
    };
    tokio::spawn(connection);
    let (mut parts, body) = request.into_parts();
    parts.uri = uri
        .path_and_query()
        .map_or_else(|| Uri::from_static("/"), |path| Uri::from(path.clone()));
    parts.headers.remove(PROXY_AUTHORIZATION);
    parts.headers.remove("proxy-connection");
    match sender.send_request(Request::from_parts(parts, body)).await {
        Ok(response) => response.map(boxed),
        Err(error) => bad_gateway(error),
    }
}

/// The `Proxy-Authorization` value of Basic credentials, to compare with a log.
pub fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}
