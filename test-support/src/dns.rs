//! [`DnsServer`]: an authoritative name server for a few test names, over plain DNS (UDP and
//! TCP on one port), DNS-over-TLS or DNS-over-HTTPS, that counts the questions it answers.
//!
//! Messages are parsed and built with hickory-proto (the resolver's own wire format code,
//! used here on the other side); only the exchange around them is written here.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{RData, Record, RecordType};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

use crate::TestPki;

/// Largest DNS message over TCP (its two-byte length prefix).
const MAX_MESSAGE: usize = 65_535;

/// What the server knows and has been asked.
struct Zone {
    /// Lower-case names without the final dot, and their addresses.
    records: HashMap<String, Vec<IpAddr>>,
    ttl: u32,
    questions: AtomicUsize,
}

impl Zone {
    /// The answer to the message in `query`, or `None` for bytes that are no DNS query.
    fn answer(&self, query: &[u8]) -> Option<Vec<u8>> {
        let request = Message::from_vec(query).ok()?;
        if request.metadata.message_type != MessageType::Query {
            return None;
        }
        self.questions
            .fetch_add(request.queries.len(), Ordering::SeqCst);
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.authoritative = true;
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        for question in &request.queries {
            response.add_query(question.clone());
            let name = question.name().to_ascii();
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let Some(addresses) = self.records.get(&name) else {
                response.metadata.response_code = ResponseCode::NXDomain;
                continue;
            };
            for address in addresses {
                let wanted = matches!(
                    (question.query_type(), address),
                    (RecordType::A, IpAddr::V4(_)) | (RecordType::AAAA, IpAddr::V6(_))
                );
                if wanted {
                    response.add_answer(Record::from_rdata(
                        question.name().clone(),
                        self.ttl,
                        RData::from(*address),
                    ));
                }
            }
        }
        response.to_vec().ok()
    }
}

/// An in-process name server; stops when dropped.
pub struct DnsServer {
    addr: SocketAddr,
    zone: Arc<Zone>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn zone(records: &[(&str, IpAddr)], ttl: u32) -> Arc<Zone> {
    let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for (name, address) in records {
        map.entry(name.trim_end_matches('.').to_ascii_lowercase())
            .or_default()
            .push(*address);
    }
    Arc::new(Zone {
        records: map,
        ttl,
        questions: AtomicUsize::new(0),
    })
}

impl DnsServer {
    /// Plain DNS on `127.0.0.1`, UDP and TCP on the same port, answering `A` and `AAAA`
    /// questions for `records` with `ttl` and `NXDOMAIN` for other names.
    ///
    /// # Panics
    ///
    /// When no port is free for both protocols.
    pub async fn plain(records: &[(&str, IpAddr)], ttl: u32) -> Self {
        let zone = zone(records, ttl);
        let (udp, tcp) = bind_udp_and_tcp().await;
        let addr = udp.local_addr().expect("a bound socket has an address");
        let udp_zone = Arc::clone(&zone);
        let udp_task = tokio::spawn(async move {
            let mut buffer = vec![0; MAX_MESSAGE];
            while let Ok((len, peer)) = udp.recv_from(&mut buffer).await {
                if let Some(answer) = udp_zone.answer(&buffer[..len]) {
                    let _ = udp.send_to(&answer, peer).await;
                }
            }
        });
        let tcp_task = tokio::spawn(serve_streams(tcp, Arc::clone(&zone), None));
        Self {
            addr,
            zone,
            tasks: vec![udp_task, tcp_task],
        }
    }

    /// DNS-over-TLS (RFC 7858) on `127.0.0.1` with `pki`'s server certificate (valid for
    /// `localhost` and `127.0.0.1`), ALPN `dot`.
    pub async fn tls(pki: &TestPki, records: &[(&str, IpAddr)], ttl: u32) -> Self {
        let zone = zone(records, ttl);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound socket has an address");
        let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config(&[b"dot"], false));
        let task = tokio::spawn(serve_streams(listener, Arc::clone(&zone), Some(acceptor)));
        Self {
            addr,
            zone,
            tasks: vec![task],
        }
    }

    /// DNS-over-HTTPS (RFC 8484) on `127.0.0.1` with `pki`'s server certificate: `POST` of an
    /// `application/dns-message` to `/dns-query` over HTTP/2.
    pub async fn https(pki: &TestPki, records: &[(&str, IpAddr)], ttl: u32) -> Self {
        let zone = zone(records, ttl);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound socket has an address");
        let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config(&[b"h2"], false));
        let served = Arc::clone(&zone);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let zone = Arc::clone(&served);
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |request| {
                        let zone = Arc::clone(&zone);
                        async move { Ok::<_, std::convert::Infallible>(doh(&zone, request).await) }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(crate::TokioExecutor)
                        .serve_connection(crate::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            zone,
            tasks: vec![task],
        }
    }

    /// The address to send questions to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many questions the server has answered (one per record type asked).
    pub fn questions(&self) -> usize {
        self.zone.questions.load(Ordering::SeqCst)
    }
}

/// A UDP socket and a TCP listener on the same `127.0.0.1` port.
async fn bind_udp_and_tcp() -> (UdpSocket, TcpListener) {
    for _ in 0..64 {
        let udp = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0");
        let addr = udp.local_addr().expect("a bound socket has an address");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// Serves DNS over TCP streams (RFC 1035 §4.2.2: each message after its two-byte length),
/// in TLS when `tls` is given.
async fn serve_streams(
    listener: TcpListener,
    zone: Arc<Zone>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    while let Ok((stream, _)) = listener.accept().await {
        let zone = Arc::clone(&zone);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        exchange(stream, &zone).await;
                    }
                }
                None => exchange(stream, &zone).await,
            }
        });
    }
}

async fn exchange<S>(mut stream: S, zone: &Zone)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut message = vec![0; MAX_MESSAGE];
    loop {
        let Ok(len) = stream.read_u16().await else {
            return;
        };
        let len = usize::from(len);
        if stream.read_exact(&mut message[..len]).await.is_err() {
            return;
        }
        let Some(answer) = zone.answer(&message[..len]) else {
            return;
        };
        let Ok(answer_len) = u16::try_from(answer.len()) else {
            return;
        };
        if stream.write_u16(answer_len).await.is_err() || stream.write_all(&answer).await.is_err() {
            return;
        }
    }
}

async fn doh(
    zone: &Zone,
    request: http::Request<hyper::body::Incoming>,
) -> http::Response<crate::BoxBody> {
    let status = |code: u16| crate::response(code, Bytes::new());
    if request.method() != http::Method::POST || request.uri().path() != "/dns-query" {
        return status(404);
    }
    let Ok(body) = request.into_body().collect().await else {
        return status(400);
    };
    let Some(answer) = zone.answer(&body.to_bytes()) else {
        return status(400);
    };
    let mut response = http::Response::new(crate::full(answer));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/dns-message"),
    );
    response
}
