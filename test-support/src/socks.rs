//! [`SocksServer`]: a SOCKS4, SOCKS4a and SOCKS5 proxy with optional username/password
//! authentication, a log of the requests it received, and scripted faults.

use std::{
    net::{Ipv6Addr, SocketAddr},
    sync::{Arc, Mutex, PoisonError},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use towline_services::connect::socks::{SocksTarget, SocksVersion};

use crate::acceptor::Acceptor;

/// The longest user id, domain, user name or password the server reads; SOCKS5 fields carry
/// a one-byte length, and SOCKS4 ones are held to the same bound.
const MAX_FIELD: usize = 255;
/// SOCKS5 reply codes the server sends by itself (RFC 1928 §6).
const GENERAL_FAILURE: u8 = 0x01;
const NETWORK_UNREACHABLE: u8 = 0x03;
const HOST_UNREACHABLE: u8 = 0x04;
const CONNECTION_REFUSED: u8 = 0x05;
const COMMAND_NOT_SUPPORTED: u8 = 0x07;
const ADDRESS_TYPE_NOT_SUPPORTED: u8 = 0x08;
/// SOCKS4's "granted" and "rejected or failed".
const V4_GRANTED: u8 = 0x5a;
const V4_REJECTED: u8 = 0x5b;

/// A malformed answer to SOCKS5 CONNECT, sent instead of connecting; the server closes the
/// connection after it. The method choice and authentication before it are well-formed.
///
/// Only [`WrongVersion`](Self::WrongVersion) and [`Truncated`](Self::Truncated) have a
/// SOCKS4 form; SOCKS4 requests are served normally under the other variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The reply's version byte is 4 (SOCKS5; a SOCKS4 reply carries 4 instead of 0).
    WrongVersion,
    /// A success reply whose reserved byte is 1.
    NonZeroReserved,
    /// The first bytes of a success reply, then the connection closes.
    Truncated,
    /// A success reply with address type 2, which RFC 1928 does not define.
    UnknownAddressType,
    /// A success reply naming a 255-byte domain, longer than any DNS name.
    OversizedDomain,
}

impl Malformed {
    fn v5_reply(self) -> Vec<u8> {
        match self {
            Self::WrongVersion => vec![4, 0, 0, 1, 127, 0, 0, 1, 0, 0],
            Self::NonZeroReserved => vec![5, 0, 1, 1, 127, 0, 0, 1, 0, 0],
            Self::Truncated => vec![5, 0, 0, 1, 127, 0],
            Self::UnknownAddressType => vec![5, 0, 0, 2, 127, 0, 0, 1, 0, 0],
            Self::OversizedDomain => [&[5, 0, 0, 3, 255][..], &[b'a'; 255], &[0, 80]].concat(),
        }
    }

    fn v4_reply(self) -> Option<Vec<u8>> {
        match self {
            Self::WrongVersion => Some(vec![4, V4_GRANTED, 0, 0, 0, 0, 0, 0]),
            Self::Truncated => Some(vec![0, V4_GRANTED, 0, 0]),
            Self::NonZeroReserved | Self::UnknownAddressType | Self::OversizedDomain => None,
        }
    }
}

/// A CONNECT request as it reached a [`SocksServer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocksRequest {
    /// The protocol: [`SocksVersion::V4a`] when a SOCKS4 request named a domain.
    pub version: SocksVersion,
    /// The target as the client sent it: an address, or a domain the server resolved.
    pub target: SocksTarget,
    /// The authenticated SOCKS5 user name, or the SOCKS4 user id when not empty.
    pub username: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct Config {
    auth: Option<(String, String)>,
    reply_code: Option<u8>,
    malformed: Option<Malformed>,
}

/// Configures a [`SocksServer`]; from [`SocksServer::builder`].
#[derive(Clone, Debug, Default)]
pub struct SocksServerBuilder {
    config: Config,
}

impl SocksServerBuilder {
    /// Requires RFC 1929 username/password authentication from SOCKS5 clients (a client
    /// that does not offer it gets method 0xff), and this user id from SOCKS4 clients
    /// (rejected with 0x5b otherwise).
    pub fn auth(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.config.auth = Some((username.into(), password.into()));
        self
    }

    /// Answers every CONNECT with `code` instead of connecting, then closes. The byte is
    /// sent as is in the client's protocol: SOCKS5 codes (0x01–0x08, or an undefined one) for
    /// SOCKS5 clients, 0x5b–0x5d for SOCKS4 ones.
    pub fn reply_code(mut self, code: u8) -> Self {
        self.config.reply_code = Some(code);
        self
    }

    /// Answers every CONNECT with a malformed reply instead of connecting, then closes.
    pub fn malformed(mut self, malformed: Malformed) -> Self {
        self.config.malformed = Some(malformed);
        self
    }

    /// Starts the server.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or when binding fails.
    pub fn spawn(self) -> SocksServer {
        let config = Arc::new(self.config);
        let requests = Log::default();
        let acceptor = Acceptor::spawn({
            let requests = requests.clone();
            move |client, _peer, _id| serve(client, config.clone(), requests.clone())
        });
        SocksServer { acceptor, requests }
    }
}

type Log = Arc<Mutex<Vec<SocksRequest>>>;

/// A SOCKS4/4a/5 proxy on `127.0.0.1:0` that connects to the requested target (resolving
/// domains itself) and relays bytes both ways. It logs every CONNECT request it receives,
/// and can require authentication or answer with scripted faults instead of connecting.
/// Dropping it stops accepting and closes every connection, relayed ones included.
///
/// A target it cannot reach gets reply 0x05 (refused), 0x03 or 0x04 (unreachable, or a
/// name that does not resolve) or 0x01 (other errors); SOCKS4 clients get 0x5b for all.
///
/// ```no_run
/// use towline_test_support::{Malformed, SocksServer};
///
/// # async fn doc() {
/// let proxy = SocksServer::spawn();
/// let proxy_url = proxy.url("socks5h"); // socks5h://127.0.0.1:PORT
///
/// let authed = SocksServer::builder().auth("user", "pass").spawn();
/// let refusing = SocksServer::builder().reply_code(0x05).spawn();
/// let broken = SocksServer::builder().malformed(Malformed::Truncated).spawn();
/// # let _ = (proxy_url, authed, refusing, broken);
/// # }
/// ```
pub struct SocksServer {
    acceptor: Acceptor,
    requests: Log,
}

impl std::fmt::Debug for SocksServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocksServer")
            .field("addr", &self.addr())
            .field("connections", &self.connections())
            .field("requests", &self.requests())
            .finish()
    }
}

impl SocksServer {
    /// Starts a server without authentication or faults.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or when binding fails.
    pub fn spawn() -> Self {
        Self::builder().spawn()
    }

    /// A builder for authentication and faults.
    pub fn builder() -> SocksServerBuilder {
        SocksServerBuilder::default()
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }

    /// `{scheme}://127.0.0.1:PORT`, e.g. `socks5h://127.0.0.1:1080`.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr())
    }

    /// Every CONNECT request received so far, in arrival order, answered or not.
    pub fn requests(&self) -> Vec<SocksRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.acceptor.connections()
    }

    /// Stops accepting and waits until every connection is closed.
    pub async fn shutdown(self) {
        self.acceptor.shutdown().await;
    }
}

/// Serves one client: a handshake, then relaying until either side closes. Anything the
/// server cannot parse ends the connection.
async fn serve(mut client: TcpStream, config: Arc<Config>, log: Log) {
    let Ok(version) = client.read_u8().await else {
        return;
    };
    let upstream = match version {
        4 => serve_v4(&mut client, &config, &log).await,
        5 => serve_v5(&mut client, &config, &log).await,
        _ => None,
    };
    if let Some(mut upstream) = upstream {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}

fn record(log: &Log, request: SocksRequest) {
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(request);
}

/// SOCKS5 after the version byte: methods, authentication, CONNECT, reply.
async fn serve_v5(client: &mut TcpStream, config: &Config, log: &Log) -> Option<TcpStream> {
    let count = client.read_u8().await.ok()?;
    let mut methods = vec![0; usize::from(count)];
    client.read_exact(&mut methods).await.ok()?;
    let wanted = if config.auth.is_some() { 0x02 } else { 0x00 };
    if !methods.contains(&wanted) {
        let _ = client.write_all(&[5, 0xff]).await;
        return None;
    }
    client.write_all(&[5, wanted]).await.ok()?;
    let username = match &config.auth {
        Some((user, pass)) => {
            let version = client.read_u8().await.ok()?;
            let name = read_v5_field(client).await?;
            let password = read_v5_field(client).await?;
            let accepted = version == 1 && name == user.as_bytes() && password == pass.as_bytes();
            client
                .write_all(&[1, if accepted { 0 } else { 1 }])
                .await
                .ok()?;
            if !accepted {
                return None;
            }
            Some(String::from_utf8_lossy(&name).into_owned())
        }
        None => None,
    };

    let mut head = [0; 4];
    client.read_exact(&mut head).await.ok()?;
    let [version, command, _reserved, address_type] = head;
    if version != 5 {
        return None;
    }
    let target = match address_type {
        0x01 => {
            let mut ip = [0; 4];
            client.read_exact(&mut ip).await.ok()?;
            SocksTarget::Addr(SocketAddr::from((ip, client.read_u16().await.ok()?)))
        }
        0x04 => {
            let mut ip = [0; 16];
            client.read_exact(&mut ip).await.ok()?;
            let ip = Ipv6Addr::from(ip);
            SocksTarget::Addr(SocketAddr::from((ip, client.read_u16().await.ok()?)))
        }
        0x03 => {
            let name = read_v5_field(client).await?;
            let name = String::from_utf8_lossy(&name).into_owned();
            SocksTarget::Domain(name, client.read_u16().await.ok()?)
        }
        _ => {
            let _ = client
                .write_all(&v5_reply(ADDRESS_TYPE_NOT_SUPPORTED, None))
                .await;
            return None;
        }
    };
    if command != 0x01 {
        let _ = client
            .write_all(&v5_reply(COMMAND_NOT_SUPPORTED, None))
            .await;
        return None;
    }
    record(
        log,
        SocksRequest {
            version: SocksVersion::V5,
            target: target.clone(),
            username,
        },
    );
    if let Some(malformed) = config.malformed {
        let _ = client.write_all(&malformed.v5_reply()).await;
        return None;
    }
    if let Some(code) = config.reply_code {
        let _ = client.write_all(&v5_reply(code, None)).await;
        return None;
    }
    match connect(&target).await {
        Ok(upstream) => {
            let bound = upstream.local_addr().ok();
            client.write_all(&v5_reply(0, bound)).await.ok()?;
            Some(upstream)
        }
        Err(code) => {
            let _ = client.write_all(&v5_reply(code, None)).await;
            None
        }
    }
}

/// SOCKS4 and 4a after the version byte: the request, then the reply.
async fn serve_v4(client: &mut TcpStream, config: &Config, log: &Log) -> Option<TcpStream> {
    let command = client.read_u8().await.ok()?;
    let port = client.read_u16().await.ok()?;
    let mut ip = [0; 4];
    client.read_exact(&mut ip).await.ok()?;
    let user_id = read_until_nul(client).await?;
    // SOCKS4a: 0.0.0.x with x nonzero says a domain follows the user id.
    let (version, target) = if ip[..3] == [0, 0, 0] && ip[3] != 0 {
        let name = read_until_nul(client).await?;
        let name = String::from_utf8_lossy(&name).into_owned();
        (SocksVersion::V4a, SocksTarget::Domain(name, port))
    } else {
        (
            SocksVersion::V4,
            SocksTarget::Addr(SocketAddr::from((ip, port))),
        )
    };
    if command != 0x01 {
        let _ = client.write_all(&v4_reply(V4_REJECTED)).await;
        return None;
    }
    let user_id = String::from_utf8_lossy(&user_id).into_owned();
    let authorized = config
        .auth
        .as_ref()
        .is_none_or(|(user, _)| *user == user_id);
    record(
        log,
        SocksRequest {
            version,
            target: target.clone(),
            username: (!user_id.is_empty()).then_some(user_id),
        },
    );
    if !authorized {
        let _ = client.write_all(&v4_reply(V4_REJECTED)).await;
        return None;
    }
    if let Some(reply) = config.malformed.and_then(Malformed::v4_reply) {
        let _ = client.write_all(&reply).await;
        return None;
    }
    if let Some(code) = config.reply_code {
        let _ = client.write_all(&v4_reply(code)).await;
        return None;
    }
    match connect(&target).await {
        Ok(upstream) => {
            client.write_all(&v4_reply(V4_GRANTED)).await.ok()?;
            Some(upstream)
        }
        Err(_) => {
            let _ = client.write_all(&v4_reply(V4_REJECTED)).await;
            None
        }
    }
}

/// A SOCKS5 reply with `code`, bound to `bound` (or 0.0.0.0:0).
fn v5_reply(code: u8, bound: Option<SocketAddr>) -> Vec<u8> {
    let mut reply = vec![5, code, 0];
    match bound {
        Some(SocketAddr::V6(addr)) => {
            reply.push(0x04);
            reply.extend_from_slice(&addr.ip().octets());
        }
        Some(SocketAddr::V4(addr)) => {
            reply.push(0x01);
            reply.extend_from_slice(&addr.ip().octets());
        }
        None => reply.extend_from_slice(&[0x01, 0, 0, 0, 0]),
    }
    reply.extend_from_slice(&bound.map_or(0, |addr| addr.port()).to_be_bytes());
    reply
}

/// A SOCKS4 reply with `code`; its address and port fields are ignored by clients.
fn v4_reply(code: u8) -> [u8; 8] {
    [0, code, 0, 0, 0, 0, 0, 0]
}

/// A SOCKS5 length-prefixed field.
async fn read_v5_field(client: &mut TcpStream) -> Option<Vec<u8>> {
    let len = client.read_u8().await.ok()?;
    let mut field = vec![0; usize::from(len)];
    client.read_exact(&mut field).await.ok()?;
    Some(field)
}

/// A SOCKS4 NUL-terminated field, without the NUL; `None` past [`MAX_FIELD`] bytes.
async fn read_until_nul(client: &mut TcpStream) -> Option<Vec<u8>> {
    let mut field = Vec::new();
    loop {
        match client.read_u8().await.ok()? {
            0 => return Some(field),
            _ if field.len() == MAX_FIELD => return None,
            byte => field.push(byte),
        }
    }
}

/// Connects to the target, resolving a domain here; on failure, the SOCKS5 reply code.
async fn connect(target: &SocksTarget) -> Result<TcpStream, u8> {
    let addrs: Vec<SocketAddr> = match target {
        SocksTarget::Addr(addr) => vec![*addr],
        SocksTarget::Domain(name, port) => tokio::net::lookup_host((name.as_str(), *port))
            .await
            .map_err(|_| HOST_UNREACHABLE)?
            .collect(),
    };
    let mut code = HOST_UNREACHABLE;
    // Every address in turn: `localhost` may list ::1 first while the target listens on
    // 127.0.0.1 only.
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(error) => {
                code = match error.kind() {
                    std::io::ErrorKind::ConnectionRefused => CONNECTION_REFUSED,
                    std::io::ErrorKind::NetworkUnreachable => NETWORK_UNREACHABLE,
                    std::io::ErrorKind::HostUnreachable => HOST_UNREACHABLE,
                    _ => GENERAL_FAILURE,
                }
            }
        }
    }
    Err(code)
}
