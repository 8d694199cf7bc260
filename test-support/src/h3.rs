//! [`Http3Server`]: an in-process HTTP/3 server (quinn + h3), feature `http3`.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes, BytesMut};
use h3::error::Code;
use h3::server::RequestStream;
use http::{HeaderValue, Request, Response, header};
use http_body_util::BodyExt;
use rustls::ServerConfig;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::body::{BoxBody, full};
use crate::{ConnectionInfo, RequestTrailers, TestPki, router};

type Stream = RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>;

/// [`GZIPPED_TEXT`], gzip-encoded (RFC 1952, mtime 0): the body of `/gzip`.
const GZIPPED: &[u8] = &[
    31, 139, 8, 0, 0, 0, 0, 0, 2, 255, 75, 206, 207, 45, 40, 74, 45, 46, 78, 77, 81, 200, 47, 75,
    45, 82, 200, 48, 214, 81, 72, 73, 77, 206, 79, 1, 10, 36, 85, 42, 148, 100, 164, 42, 36, 231,
    100, 166, 230, 149, 0, 0, 249, 73, 248, 106, 41, 0, 0, 0,
];

/// What `/gzip` decodes to.
pub const GZIPPED_TEXT: &str = "compressed over h3, decoded by the client";

#[derive(Default)]
struct State {
    /// Whether connections are taken in 0.5-RTT, so that requests in 0-RTT early data are
    /// seen before the handshake ends.
    early_data: bool,
    early_requests: AtomicUsize,
    connections: AtomicUsize,
    requests: AtomicUsize,
    rejected_once: AtomicBool,
    open: Mutex<Vec<quinn::Connection>>,
}

/// An HTTP/3 server on a UDP port of `127.0.0.1`, presenting a [`TestPki`]'s `localhost`
/// certificate (ALPN `h3`). It stops, closing its connections, when dropped.
///
/// Its routes are [`TestServer`](crate::TestServer)'s built-in ones (`/echo`, `/bytes/N`,
/// `/chunks`, `/trailers`, `/redirect`, `/headers`, …; request bodies and trailers are
/// read first, as there), plus:
///
/// | path | answer |
/// |---|---|
/// | `/stream-echo` | the request body sent back frame by frame as it arrives (never held whole), then the request's trailers as response trailers |
/// | `/gzip` | `Content-Encoding: gzip` of [`GZIPPED_TEXT`] |
/// | `/reject-once` | the first request ever: its stream reset with H3_REQUEST_REJECTED; later ones: 200 `accepted` |
/// | `/goaway` | GOAWAY on its connection (later streams there are rejected), then 200 `goaway sent` |
///
/// ```no_run
/// # async fn doc() {
/// use towline_test_support::{Http3Server, TestPki};
///
/// let pki = TestPki::generate();
/// let server = Http3Server::start(&pki);
/// let url = server.url("/echo");
/// # let _ = url;
/// # }
/// ```
#[derive(Debug)]
pub struct Http3Server {
    addr: SocketAddr,
    endpoint: quinn::Endpoint,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("connections", &self.connections)
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

impl Http3Server {
    /// A server presenting `pki`'s certificate. Must be called on a tokio runtime.
    ///
    /// # Panics
    ///
    /// If the UDP socket cannot be bound or quinn rejects the TLS configuration.
    pub fn start(pki: &TestPki) -> Self {
        Self::with_tls(pki.server_config_with_versions(&[b"h3"], &[&rustls::version::TLS13]))
    }

    /// A server with the TLS configuration `tls` (which must offer TLS 1.3 and ALPN `h3`),
    /// e.g. [`TestPki::self_signed_server_config`] for a certificate nobody trusts.
    ///
    /// # Panics
    ///
    /// If the UDP socket cannot be bound or quinn rejects `tls`.
    pub fn with_tls(tls: Arc<ServerConfig>) -> Self {
        Self::spawn(tls, IpAddr::from([127, 0, 0, 1]))
    }

    /// Like [`start`](Self::start), on a UDP port of `ip` (`::1` for an IPv6 server).
    ///
    /// # Panics
    ///
    /// If the UDP socket cannot be bound.
    pub fn start_on(pki: &TestPki, ip: IpAddr) -> Self {
        Self::spawn(
            pki.server_config_with_versions(&[b"h3"], &[&rustls::version::TLS13]),
            ip,
        )
    }

    /// Like [`start`](Self::start), but the handshake fails unless the client presents
    /// a certificate `pki`'s CA signed ([`TestPki::client_identity_pem`]).
    ///
    /// # Panics
    ///
    /// If the UDP socket cannot be bound.
    pub fn requiring_client_cert(pki: &TestPki) -> Self {
        Self::with_tls(pki.server_config(&[b"h3"], true))
    }

    /// Like [`start`](Self::start), accepting TLS 0-RTT early data from clients resuming a
    /// session it issued, and counting the requests that came in it
    /// ([`early_requests`](Self::early_requests)). `port` 0 picks a free one; another
    /// server's port (once that server is dropped) makes a server that knows none of its
    /// sessions, so rejects early data meant for it.
    ///
    /// # Panics
    ///
    /// If the UDP socket cannot be bound.
    pub fn with_early_data(pki: &TestPki, port: u16) -> Self {
        let mut tls =
            (*pki.server_config_with_versions(&[b"h3"], &[&rustls::version::TLS13])).clone();
        // QUIC allows only 0 or this (RFC 9001 §4.6.1).
        tls.max_early_data_size = u32::MAX;
        Self::spawn_at(
            Arc::new(tls),
            SocketAddr::from(([127, 0, 0, 1], port)),
            true,
        )
    }

    fn spawn(tls: Arc<ServerConfig>, ip: IpAddr) -> Self {
        Self::spawn_at(tls, SocketAddr::new(ip, 0), false)
    }

    fn spawn_at(tls: Arc<ServerConfig>, addr: SocketAddr, early_data: bool) -> Self {
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
            .expect("a TLS 1.3 server configuration");
        let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let endpoint = quinn::Endpoint::server(config, addr).expect("binding a UDP socket");
        let addr = endpoint.local_addr().expect("the endpoint's address");
        let state = Arc::new(State {
            early_data,
            ..State::default()
        });
        let task = tokio::spawn(accept(endpoint.clone(), state.clone()));
        Self {
            addr,
            endpoint,
            state,
            task,
        }
    }

    /// The server's UDP address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://localhost:PORT{path}`: resolve `localhost` to [`addr`](Self::addr) in the
    /// client (the certificate names `localhost`).
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// QUIC connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Requests that arrived before their connection's handshake was done: in 0-RTT early
    /// data (servers made by [`with_early_data`](Self::with_early_data) only).
    pub fn early_requests(&self) -> usize {
        self.state.early_requests.load(Ordering::SeqCst)
    }

    /// Closes every open connection with an application error (H3_INTERNAL_ERROR), as a
    /// crashing server would.
    pub fn close_connections(&self) {
        let open = std::mem::take(&mut *self.state.open.lock().expect("not poisoned"));
        for connection in open {
            // 0x102: H3_INTERNAL_ERROR.
            connection.close(quinn::VarInt::from_u32(0x102), b"closed by the test");
        }
    }
}

impl Drop for Http3Server {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"server dropped");
        self.task.abort();
    }
}

async fn accept(endpoint: quinn::Endpoint, state: Arc<State>) {
    while let Some(incoming) = endpoint.accept().await {
        let state = state.clone();
        tokio::spawn(async move {
            let handshake_done = Arc::new(AtomicBool::new(true));
            let connection = if state.early_data {
                let Ok(connecting) = incoming.accept() else {
                    return;
                };
                match connecting.into_0rtt() {
                    Ok((connection, done)) => {
                        handshake_done.store(false, Ordering::SeqCst);
                        let flag = handshake_done.clone();
                        tokio::spawn(async move {
                            done.await;
                            flag.store(true, Ordering::SeqCst);
                        });
                        connection
                    }
                    Err(connecting) => match connecting.await {
                        Ok(connection) => connection,
                        Err(_) => return,
                    },
                }
            } else {
                match incoming.await {
                    Ok(connection) => connection,
                    Err(_) => return,
                }
            };
            let id = state.connections.fetch_add(1, Ordering::SeqCst) + 1;
            state
                .open
                .lock()
                .expect("not poisoned")
                .push(connection.clone());
            let info = ConnectionInfo {
                id,
                peer_addr: connection.remote_address(),
                alpn: Some(b"h3".to_vec()),
                sni: connection
                    .handshake_data()
                    .and_then(|data| data.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
                    .and_then(|data| data.server_name),
            };
            let Ok(mut h3) =
                h3::server::Connection::<_, Bytes>::new(h3_quinn::Connection::new(connection))
                    .await
            else {
                return;
            };
            // `/goaway` asks this loop, which owns the connection, to send the GOAWAY.
            let (goaway_tx, mut goaway_rx) = mpsc::unbounded_channel::<oneshot::Sender<()>>();
            loop {
                let resolver = tokio::select! {
                    accepted = h3.accept() => match accepted {
                        Ok(Some(resolver)) => {
                            if !handshake_done.load(Ordering::SeqCst) {
                                state.early_requests.fetch_add(1, Ordering::SeqCst);
                            }
                            resolver
                        }
                        _ => break,
                    },
                    Some(sent) = goaway_rx.recv() => {
                        let _ = h3.shutdown(0).await;
                        let _ = sent.send(());
                        continue;
                    }
                };
                let state = state.clone();
                let context = Context {
                    info: info.clone(),
                    goaway: goaway_tx.clone(),
                };
                tokio::spawn(async move {
                    if let Ok((request, stream)) = resolver.resolve_request().await {
                        state.requests.fetch_add(1, Ordering::SeqCst);
                        serve(request, stream, context, &state).await;
                    }
                });
            }
        });
    }
}

/// What a request's handler knows of its connection.
struct Context {
    info: ConnectionInfo,
    goaway: mpsc::UnboundedSender<oneshot::Sender<()>>,
}

async fn serve(request: Request<()>, mut stream: Stream, context: Context, state: &State) {
    match request.uri().path() {
        "/goaway" => {
            let (sent, sent_rx) = oneshot::channel();
            if context.goaway.send(sent).is_ok() {
                let _ = sent_rx.await;
            }
            let _ = respond(&mut stream, Response::new(full("goaway sent"))).await;
            return;
        }
        "/stream-echo" => {
            let _ = stream_echo(stream).await;
            return;
        }
        "/reject-once" if !state.rejected_once.swap(true, Ordering::SeqCst) => {
            stream.stop_sending(Code::H3_REQUEST_REJECTED);
            stream.stop_stream(Code::H3_REQUEST_REJECTED);
            return;
        }
        "/reject-once" => {
            let _ = respond(&mut stream, Response::new(full("accepted"))).await;
            return;
        }
        "/gzip" => {
            let mut response = Response::new(full(Bytes::from_static(GZIPPED)));
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            let _ = respond(&mut stream, response).await;
            return;
        }
        _ => {}
    }
    let mut body = BytesMut::new();
    loop {
        match stream.recv_data().await {
            Ok(Some(mut data)) => body.extend_from_slice(&data.copy_to_bytes(data.remaining())),
            Ok(None) => break,
            Err(_) => return,
        }
    }
    let (mut parts, ()) = request.into_parts();
    if let Ok(Some(trailers)) = stream.recv_trailers().await {
        parts.extensions.insert(RequestTrailers(trailers));
    }
    parts.extensions.insert(context.info);
    let response = router::route(Request::from_parts(parts, body.freeze())).await;
    let _ = respond(&mut stream, response).await;
}

/// Sends `response` (head, body frames, trailers) and ends the stream.
async fn respond(
    stream: &mut Stream,
    response: Response<BoxBody>,
) -> Result<(), h3::error::StreamError> {
    let (parts, mut body) = response.into_parts();
    stream
        .send_response(Response::from_parts(parts, ()))
        .await?;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            stream.stop_stream(Code::H3_INTERNAL_ERROR);
            return Ok(());
        };
        match frame.into_data() {
            Ok(data) => stream.send_data(data).await?,
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    stream.send_trailers(trailers).await?;
                }
            }
        }
    }
    stream.finish().await
}

/// `/stream-echo`: each request DATA frame goes back as it arrives.
async fn stream_echo(stream: Stream) -> Result<(), h3::error::StreamError> {
    let (mut send, mut recv) = stream.split();
    send.send_response(Response::new(())).await?;
    while let Some(mut data) = recv.recv_data().await? {
        send.send_data(data.copy_to_bytes(data.remaining())).await?;
    }
    if let Some(trailers) = recv.recv_trailers().await? {
        send.send_trailers(trailers).await?;
    }
    send.finish().await
}
