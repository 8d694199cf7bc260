//! SOCKS client handshakes: SOCKS4, SOCKS4a, SOCKS5 (RFC 1928) with username/password
//! authentication (RFC 1929).
//!
//! [`handshake`] runs on a connection already open to the proxy and leaves it a tunnel to the
//! target; the proxy connector dials the proxy and calls it. Which name goes to the proxy is
//! the caller's choice: `socks5h://` and `socks4a://` pass [`SocksTarget::Domain`] so that the
//! proxy resolves the name, `socks5://` and `socks4://` resolve locally and pass
//! [`SocksTarget::Addr`].
//!
//! The protocol lives in plain functions over bytes — request encoders and reply parsers that
//! say how many more bytes they need — so that it is testable without IO and fuzzed
//! (`fuzz/fuzz_targets/socks_reply.rs`). The handshake never reads more than the parsers ask
//! for: no byte past the proxy's reply is consumed, so what follows belongs to the tunnel.
//! Every reply is read into a fixed buffer of [`MAX_V5_REPLY`] bytes, nothing is allocated from
//! a length the proxy sends, and a proxy that closes mid-reply is an error, never a wait.
//!
//! Written here rather than taken from a crate: the async SOCKS clients on crates.io
//! (`tokio-socks`, `fast-socks5`) drive tokio's `AsyncRead`/`AsyncWrite` (`tokio-socks` also
//! futures-io's) and wrap the stream in a type of their own, while towline's connectors speak
//! hyper's `rt::Read`/`rt::Write` on every runtime (tokio, smol, compio); `fast-socks5`'s
//! client is SOCKS5 only. Using them would mean adapting hyper's IO back into their traits,
//! for a protocol of a few short messages, and mapping their errors onto reply codes here.
//!
//! # Errors
//!
//! A [`SocksError`] says which of four things happened, by its [`kind`](SocksError::kind):
//! the proxy **refused** or could not reach the target ([`SocksErrorKind::is_refusal`]: a
//! SOCKS5 reply code or a SOCKS4 rejection — the proxy itself works); **authentication**
//! failed ([`SocksErrorKind::is_auth`]); the proxy broke the protocol
//! ([`SocksErrorKind::is_protocol_violation`]: a malformed or truncated reply — it is probably
//! not a SOCKS proxy of the version asked for); or the request could not be made at all
//! ([`SocksErrorKind::is_invalid_request`]: nothing was sent). Otherwise the IO failed
//! ([`SocksErrorKind::Io`]).
//!
//! ```
//! use towline_services::connect::socks::{Parsed, SocksErrorKind, parse_v5_reply};
//!
//! // A success reply bound to 10.0.0.1:8080, and the first tunnel bytes after it.
//! let bytes = [5, 0, 0, 1, 10, 0, 0, 1, 0x1f, 0x90, b'H', b'T'];
//! assert_eq!(parse_v5_reply(&bytes).unwrap(), Parsed::Complete((), 10));
//! // Only the head so far: the parser asks for the rest of an IPv4 reply.
//! assert_eq!(parse_v5_reply(&bytes[..4]).unwrap(), Parsed::NeedMore(6));
//! // "Connection refused" is a refusal, not a broken proxy.
//! let refused = parse_v5_reply(&[5, 5]).unwrap_err();
//! assert_eq!(refused.kind(), SocksErrorKind::ConnectionRefused);
//! assert!(refused.kind().is_refusal());
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Poll, ready};

use hyper::rt::{Read, ReadBuf, Write};

const V4: u8 = 0x04;
/// The version byte of a SOCKS4 reply (not 4: the protocol says 0).
const V4_REPLY: u8 = 0x00;
const V4_GRANTED: u8 = 0x5a;
const V4_REJECTED: u8 = 0x5b;
const V4_IDENTD_UNREACHABLE: u8 = 0x5c;
const V4_IDENTD_MISMATCH: u8 = 0x5d;
const V4_REPLY_LEN: usize = 8;
/// SOCKS4a's marker for "a domain follows the user id": the address 0.0.0.x with x nonzero.
const V4A_MARKER: [u8; 4] = [0, 0, 0, 1];

const V5: u8 = 0x05;
const CONNECT: u8 = 0x01;
const METHOD_NONE: u8 = 0x00;
const METHOD_USERPASS: u8 = 0x02;
const METHOD_NO_ACCEPTABLE: u8 = 0xff;
/// The version of the username/password subnegotiation (RFC 1929), not of SOCKS.
const USERPASS_VERSION: u8 = 0x01;
const ATYP_IPV4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;
const V5_SUCCEEDED: u8 = 0x00;
/// VER, REP, RSV, ATYP.
const V5_REPLY_HEAD: usize = 4;
/// The longest domain a reply may name: a DNS name's text form is at most 253 bytes.
pub const MAX_REPLY_DOMAIN: usize = 253;
/// The longest SOCKS5 reply this module accepts: head, length byte, domain, port.
pub const MAX_V5_REPLY: usize = V5_REPLY_HEAD + 1 + MAX_REPLY_DOMAIN + 2;
/// The longest domain, user name, password or SOCKS4 user id a request can carry.
pub const MAX_FIELD: usize = 255;

/// What to ask the proxy to connect to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SocksTarget {
    /// An address resolved by the caller (`socks5://`, `socks4://`).
    Addr(SocketAddr),
    /// A host name the proxy resolves (`socks5h://`, `socks4a://`), and the port.
    Domain(String, u16),
}

impl fmt::Display for SocksTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Addr(addr) => write!(f, "{addr}"),
            Self::Domain(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

/// Which protocol to speak to the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocksVersion {
    /// SOCKS4: IPv4 addresses only.
    V4,
    /// SOCKS4a: SOCKS4 plus domain names resolved by the proxy.
    V4a,
    /// SOCKS5, for `socks5://` and `socks5h://` alike: IPv4, IPv6 and domain names.
    V5,
}

/// Credentials for the proxy: RFC 1929 username/password for SOCKS5; for SOCKS4 and 4a the
/// username is the request's user id and the password is not sent.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SocksAuth {
    /// The user name (at most 255 bytes).
    pub username: String,
    /// The password (at most 255 bytes); never shown by `Debug`.
    pub password: String,
}

impl SocksAuth {
    /// Credentials from a user name and a password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for SocksAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocksAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The authentication method a SOCKS5 proxy chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V5Method {
    /// No authentication (method 0x00).
    NoAuth,
    /// Username/password, RFC 1929 (method 0x02).
    UsernamePassword,
}

/// What a reply parser made of the bytes it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    /// A whole reply: what it says, and its length (bytes after it are not the reply's).
    Complete(T, usize),
    /// The reply is not whole yet: at least this many more bytes (always one or more, and
    /// never past the reply's end).
    NeedMore(usize),
}

/// What went wrong in a SOCKS handshake; see [`SocksError::kind`] and the module docs for
/// the four groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocksErrorKind {
    /// Refusal: SOCKS5 reply 0x01, general SOCKS server failure.
    GeneralFailure,
    /// Refusal: SOCKS5 reply 0x02, connection not allowed by ruleset.
    NotAllowed,
    /// Refusal: SOCKS5 reply 0x03, network unreachable.
    NetworkUnreachable,
    /// Refusal: SOCKS5 reply 0x04, host unreachable.
    HostUnreachable,
    /// Refusal: SOCKS5 reply 0x05, connection refused (by the target).
    ConnectionRefused,
    /// Refusal: SOCKS5 reply 0x06, TTL expired.
    TtlExpired,
    /// Refusal: SOCKS5 reply 0x07, command not supported.
    CommandNotSupported,
    /// Refusal: SOCKS5 reply 0x08, address type not supported.
    AddressTypeNotSupported,
    /// Refusal: a failure code no RFC defines (SOCKS5 0x09–0xff, or a SOCKS4 code other than
    /// 0x5a–0x5d).
    UnknownReplyCode(u8),
    /// Refusal: SOCKS4 reply 0x5b, request rejected or failed.
    V4Rejected,
    /// Refusal: SOCKS4 reply 0x5c, rejected because the proxy cannot reach the client's identd.
    V4IdentdUnreachable,
    /// Refusal: SOCKS4 reply 0x5d, rejected because identd reported a different user id.
    V4IdentdMismatch,
    /// Authentication: the SOCKS5 proxy accepts none of the offered methods (method 0xff to
    /// an offer of "none" and "username/password").
    NoAcceptableMethod,
    /// Authentication: the proxy requires credentials and none are configured (method 0xff
    /// to an offer of "none" only, or username/password chosen though not offered).
    AuthRequired,
    /// Authentication: the proxy rejected the username and password (RFC 1929 status ≠ 0).
    AuthRejected,
    /// Protocol violation: a reply's version byte is wrong (SOCKS5 replies carry 5, RFC 1929
    /// replies 1, SOCKS4 replies 0).
    WrongVersion,
    /// Protocol violation: the reserved byte of a SOCKS5 reply is not zero.
    NonZeroReserved,
    /// Protocol violation: a SOCKS5 reply's address type is not IPv4, domain or IPv6.
    UnknownAddressType,
    /// Protocol violation: a SOCKS5 reply names a domain longer than 253 bytes.
    OversizedDomain,
    /// Protocol violation: the SOCKS5 proxy chose an authentication method that was not
    /// offered.
    UnexpectedMethod,
    /// Protocol violation: the proxy closed the connection before its reply was complete.
    Truncated,
    /// Invalid request: the domain is empty or longer than 255 bytes.
    InvalidDomain,
    /// Invalid request: the username or password is longer than 255 bytes.
    CredentialsTooLong,
    /// Invalid request: a SOCKS4 user id or SOCKS4a domain contains a NUL byte, which ends
    /// the field on the wire.
    NulInRequest,
    /// Invalid request: SOCKS4 and 4a carry IPv4 addresses only; use SOCKS5 for IPv6.
    Ipv6OverSocks4,
    /// Invalid request: SOCKS4 carries no domain names; resolve locally or use SOCKS4a.
    DomainOverSocks4,
    /// Reading from or writing to the proxy failed.
    Io,
}

impl SocksErrorKind {
    /// The proxy answered correctly and refused the request, or could not reach the target:
    /// a SOCKS5 reply code or a SOCKS4 rejection. The proxy works; this target, through it,
    /// does not.
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            Self::GeneralFailure
                | Self::NotAllowed
                | Self::NetworkUnreachable
                | Self::HostUnreachable
                | Self::ConnectionRefused
                | Self::TtlExpired
                | Self::CommandNotSupported
                | Self::AddressTypeNotSupported
                | Self::UnknownReplyCode(_)
                | Self::V4Rejected
                | Self::V4IdentdUnreachable
                | Self::V4IdentdMismatch
        )
    }

    /// Authentication with the proxy failed or was impossible.
    pub fn is_auth(self) -> bool {
        matches!(
            self,
            Self::NoAcceptableMethod | Self::AuthRequired | Self::AuthRejected
        )
    }

    /// The proxy broke the protocol: a malformed reply, or none before the connection
    /// closed.
    pub fn is_protocol_violation(self) -> bool {
        matches!(
            self,
            Self::WrongVersion
                | Self::NonZeroReserved
                | Self::UnknownAddressType
                | Self::OversizedDomain
                | Self::UnexpectedMethod
                | Self::Truncated
        )
    }

    /// The request cannot be expressed in the protocol asked for; nothing was sent.
    pub fn is_invalid_request(self) -> bool {
        matches!(
            self,
            Self::InvalidDomain
                | Self::CredentialsTooLong
                | Self::NulInRequest
                | Self::Ipv6OverSocks4
                | Self::DomainOverSocks4
        )
    }

    /// The kind of a SOCKS5 reply code other than success.
    fn from_v5_reply(code: u8) -> Self {
        match code {
            0x01 => Self::GeneralFailure,
            0x02 => Self::NotAllowed,
            0x03 => Self::NetworkUnreachable,
            0x04 => Self::HostUnreachable,
            0x05 => Self::ConnectionRefused,
            0x06 => Self::TtlExpired,
            0x07 => Self::CommandNotSupported,
            0x08 => Self::AddressTypeNotSupported,
            other => Self::UnknownReplyCode(other),
        }
    }

    /// The kind of a SOCKS4 reply code other than "granted".
    fn from_v4_reply(code: u8) -> Self {
        match code {
            V4_REJECTED => Self::V4Rejected,
            V4_IDENTD_UNREACHABLE => Self::V4IdentdUnreachable,
            V4_IDENTD_MISMATCH => Self::V4IdentdMismatch,
            other => Self::UnknownReplyCode(other),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::GeneralFailure => "the SOCKS proxy reported a general failure (reply 0x01)",
            Self::NotAllowed => {
                "the SOCKS proxy's ruleset does not allow the connection (reply 0x02)"
            }
            Self::NetworkUnreachable => {
                "the SOCKS proxy cannot reach the target's network (reply 0x03)"
            }
            Self::HostUnreachable => "the SOCKS proxy cannot reach the target host (reply 0x04)",
            Self::ConnectionRefused => {
                "the target refused the SOCKS proxy's connection (reply 0x05)"
            }
            Self::TtlExpired => {
                "the SOCKS proxy's connection to the target expired (TTL expired, reply 0x06)"
            }
            Self::CommandNotSupported => "the SOCKS proxy does not support CONNECT (reply 0x07)",
            Self::AddressTypeNotSupported => {
                "the SOCKS proxy does not support the target's address type (reply 0x08)"
            }
            Self::UnknownReplyCode(_) => "the SOCKS proxy failed with an unknown reply code",
            Self::V4Rejected => {
                "the SOCKS4 proxy rejected the request or failed to connect (reply 0x5b)"
            }
            Self::V4IdentdUnreachable => {
                "the SOCKS4 proxy rejected the request: it cannot reach the client's identd (reply 0x5c)"
            }
            Self::V4IdentdMismatch => {
                "the SOCKS4 proxy rejected the request: identd reported a different user id (reply 0x5d)"
            }
            Self::NoAcceptableMethod => {
                "the SOCKS5 proxy accepts no offered authentication method (none, username/password)"
            }
            Self::AuthRequired => {
                "the SOCKS5 proxy requires authentication and no credentials are configured"
            }
            Self::AuthRejected => "the SOCKS5 proxy rejected the username and password",
            Self::WrongVersion => "malformed SOCKS reply: wrong version byte",
            Self::NonZeroReserved => "malformed SOCKS5 reply: the reserved byte is not zero",
            Self::UnknownAddressType => "malformed SOCKS5 reply: unknown address type",
            Self::OversizedDomain => {
                "malformed SOCKS5 reply: the bound domain is longer than 253 bytes"
            }
            Self::UnexpectedMethod => {
                "the SOCKS5 proxy chose an authentication method that was not offered"
            }
            Self::Truncated => {
                "the SOCKS proxy closed the connection before its reply was complete"
            }
            Self::InvalidDomain => {
                "invalid SOCKS request: the domain is empty or longer than 255 bytes"
            }
            Self::CredentialsTooLong => {
                "invalid SOCKS request: the username or password is longer than 255 bytes"
            }
            Self::NulInRequest => {
                "invalid SOCKS4 request: the user id or domain contains a NUL byte"
            }
            Self::Ipv6OverSocks4 => {
                "invalid SOCKS4 request: SOCKS4 cannot carry an IPv6 address (use SOCKS5)"
            }
            Self::DomainOverSocks4 => {
                "invalid SOCKS4 request: SOCKS4 cannot carry a domain name (resolve it first or use SOCKS4a)"
            }
            Self::Io => "SOCKS handshake I/O failed",
        }
    }
}

/// A SOCKS handshake failed. Its message never shows credentials.
#[derive(Debug)]
pub struct SocksError {
    kind: SocksErrorKind,
    /// The byte the proxy sent where another was expected, for protocol violations.
    got: Option<u8>,
    source: Option<io::Error>,
}

impl SocksError {
    fn new(kind: SocksErrorKind) -> Self {
        Self {
            kind,
            got: None,
            source: None,
        }
    }

    fn unexpected(kind: SocksErrorKind, got: u8) -> Self {
        Self {
            kind,
            got: Some(got),
            source: None,
        }
    }

    fn io(source: io::Error) -> Self {
        Self {
            kind: SocksErrorKind::Io,
            got: None,
            source: Some(source),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> SocksErrorKind {
        self.kind
    }
}

impl fmt::Display for SocksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.describe())?;
        if let SocksErrorKind::UnknownReplyCode(code) = self.kind {
            write!(f, " 0x{code:02x}")?;
        }
        if let Some(got) = self.got {
            write!(f, " (got 0x{got:02x})")?;
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for SocksError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn StdError + 'static))
    }
}

/// The SOCKS4 or SOCKS4a CONNECT request: an IPv4 target as SOCKS4, a domain as SOCKS4a.
/// `user_id` is sent as the USERID field (empty when there are no credentials).
pub fn encode_v4_request(target: &SocksTarget, user_id: &str) -> Result<Vec<u8>, SocksError> {
    if user_id.len() > MAX_FIELD {
        return Err(SocksError::new(SocksErrorKind::CredentialsTooLong));
    }
    check_no_nul(user_id)?;
    let mut request = Vec::with_capacity(9 + user_id.len());
    request.extend_from_slice(&[V4, CONNECT]);
    match target {
        SocksTarget::Addr(SocketAddr::V4(addr)) => {
            request.extend_from_slice(&addr.port().to_be_bytes());
            request.extend_from_slice(&addr.ip().octets());
            request.extend_from_slice(user_id.as_bytes());
            request.push(0);
        }
        SocksTarget::Addr(SocketAddr::V6(_)) => {
            return Err(SocksError::new(SocksErrorKind::Ipv6OverSocks4));
        }
        SocksTarget::Domain(host, port) => {
            check_domain(host)?;
            check_no_nul(host)?;
            request.extend_from_slice(&port.to_be_bytes());
            request.extend_from_slice(&V4A_MARKER);
            request.extend_from_slice(user_id.as_bytes());
            request.push(0);
            request.extend_from_slice(host.as_bytes());
            request.push(0);
        }
    }
    Ok(request)
}

/// The SOCKS5 greeting: offers "no authentication", and "username/password" as well when
/// there are credentials.
pub fn encode_v5_greeting(with_credentials: bool) -> Vec<u8> {
    if with_credentials {
        vec![V5, 2, METHOD_NONE, METHOD_USERPASS]
    } else {
        vec![V5, 1, METHOD_NONE]
    }
}

/// The RFC 1929 username/password request.
pub fn encode_v5_auth(auth: &SocksAuth) -> Result<Vec<u8>, SocksError> {
    let (Ok(user_len), Ok(pass_len)) = (
        u8::try_from(auth.username.len()),
        u8::try_from(auth.password.len()),
    ) else {
        return Err(SocksError::new(SocksErrorKind::CredentialsTooLong));
    };
    let mut request = Vec::with_capacity(3 + auth.username.len() + auth.password.len());
    request.extend_from_slice(&[USERPASS_VERSION, user_len]);
    request.extend_from_slice(auth.username.as_bytes());
    request.push(pass_len);
    request.extend_from_slice(auth.password.as_bytes());
    Ok(request)
}

/// The SOCKS5 CONNECT request for `target`.
pub fn encode_v5_connect(target: &SocksTarget) -> Result<Vec<u8>, SocksError> {
    let mut request = Vec::with_capacity(7 + MAX_FIELD);
    request.extend_from_slice(&[V5, CONNECT, 0]);
    let port = match target {
        SocksTarget::Addr(addr) => {
            match addr.ip() {
                IpAddr::V4(ip) => {
                    request.push(ATYP_IPV4);
                    request.extend_from_slice(&ip.octets());
                }
                IpAddr::V6(ip) => {
                    request.push(ATYP_IPV6);
                    request.extend_from_slice(&ip.octets());
                }
            }
            addr.port()
        }
        SocksTarget::Domain(host, port) => {
            let len = check_domain(host)?;
            request.extend_from_slice(&[ATYP_DOMAIN, len]);
            request.extend_from_slice(host.as_bytes());
            *port
        }
    };
    request.extend_from_slice(&port.to_be_bytes());
    Ok(request)
}

/// Parses the SOCKS5 proxy's choice of authentication method (2 bytes).
/// `offered_credentials` says whether the greeting offered username/password.
pub fn parse_v5_method_choice(
    buf: &[u8],
    offered_credentials: bool,
) -> Result<Parsed<V5Method>, SocksError> {
    let Some(&version) = buf.first() else {
        return Ok(Parsed::NeedMore(2));
    };
    if version != V5 {
        return Err(SocksError::unexpected(
            SocksErrorKind::WrongVersion,
            version,
        ));
    }
    let Some(&method) = buf.get(1) else {
        return Ok(Parsed::NeedMore(1));
    };
    let method = match method {
        METHOD_NONE => V5Method::NoAuth,
        METHOD_USERPASS if offered_credentials => V5Method::UsernamePassword,
        METHOD_USERPASS => return Err(SocksError::new(SocksErrorKind::AuthRequired)),
        METHOD_NO_ACCEPTABLE if offered_credentials => {
            return Err(SocksError::new(SocksErrorKind::NoAcceptableMethod));
        }
        METHOD_NO_ACCEPTABLE => return Err(SocksError::new(SocksErrorKind::AuthRequired)),
        other => {
            return Err(SocksError::unexpected(
                SocksErrorKind::UnexpectedMethod,
                other,
            ));
        }
    };
    Ok(Parsed::Complete(method, 2))
}

/// Parses the RFC 1929 status reply (2 bytes): complete only when the credentials were
/// accepted.
pub fn parse_v5_auth_reply(buf: &[u8]) -> Result<Parsed<()>, SocksError> {
    let Some(&version) = buf.first() else {
        return Ok(Parsed::NeedMore(2));
    };
    if version != USERPASS_VERSION {
        return Err(SocksError::unexpected(
            SocksErrorKind::WrongVersion,
            version,
        ));
    }
    match buf.get(1) {
        None => Ok(Parsed::NeedMore(1)),
        Some(0) => Ok(Parsed::Complete((), 2)),
        Some(&status) => Err(SocksError::unexpected(SocksErrorKind::AuthRejected, status)),
    }
}

/// Parses the SOCKS5 reply to CONNECT: complete only on success, and then its length covers
/// the bound address of the stated type. A failure code is reported as soon as it is seen,
/// without waiting for the rest: the proxy may close right after it.
pub fn parse_v5_reply(buf: &[u8]) -> Result<Parsed<()>, SocksError> {
    let Some(&version) = buf.first() else {
        return Ok(Parsed::NeedMore(V5_REPLY_HEAD));
    };
    if version != V5 {
        return Err(SocksError::unexpected(
            SocksErrorKind::WrongVersion,
            version,
        ));
    }
    let Some(&code) = buf.get(1) else {
        return Ok(Parsed::NeedMore(V5_REPLY_HEAD - 1));
    };
    if code != V5_SUCCEEDED {
        return Err(SocksError::new(SocksErrorKind::from_v5_reply(code)));
    }
    let Some(&reserved) = buf.get(2) else {
        return Ok(Parsed::NeedMore(V5_REPLY_HEAD - 2));
    };
    if reserved != 0 {
        return Err(SocksError::unexpected(
            SocksErrorKind::NonZeroReserved,
            reserved,
        ));
    }
    let Some(&address_type) = buf.get(3) else {
        return Ok(Parsed::NeedMore(1));
    };
    let address_len = match address_type {
        ATYP_IPV4 => 4,
        ATYP_IPV6 => 16,
        ATYP_DOMAIN => {
            let Some(&domain_len) = buf.get(V5_REPLY_HEAD) else {
                return Ok(Parsed::NeedMore(1));
            };
            if usize::from(domain_len) > MAX_REPLY_DOMAIN {
                return Err(SocksError::unexpected(
                    SocksErrorKind::OversizedDomain,
                    domain_len,
                ));
            }
            // The length byte, then the name.
            usize::from(domain_len).saturating_add(1)
        }
        other => {
            return Err(SocksError::unexpected(
                SocksErrorKind::UnknownAddressType,
                other,
            ));
        }
    };
    // The address, then the port.
    let total = V5_REPLY_HEAD.saturating_add(address_len).saturating_add(2);
    Ok(need(buf.len(), total))
}

/// Parses the SOCKS4 reply (8 bytes): complete only when the request was granted. A
/// rejection is reported as soon as its code is seen.
pub fn parse_v4_reply(buf: &[u8]) -> Result<Parsed<()>, SocksError> {
    let Some(&version) = buf.first() else {
        return Ok(Parsed::NeedMore(V4_REPLY_LEN));
    };
    if version != V4_REPLY {
        return Err(SocksError::unexpected(
            SocksErrorKind::WrongVersion,
            version,
        ));
    }
    match buf.get(1) {
        None => Ok(Parsed::NeedMore(V4_REPLY_LEN - 1)),
        Some(&V4_GRANTED) => Ok(need(buf.len(), V4_REPLY_LEN)),
        Some(&code) => Err(SocksError::new(SocksErrorKind::from_v4_reply(code))),
    }
}

/// Complete at `total` bytes, or the count still missing.
fn need(have: usize, total: usize) -> Parsed<()> {
    match total.checked_sub(have) {
        Some(missing) if missing > 0 => Parsed::NeedMore(missing),
        _ => Parsed::Complete((), total),
    }
}

/// The domain's length as its one-byte length field.
fn check_domain(host: &str) -> Result<u8, SocksError> {
    match u8::try_from(host.len()) {
        Ok(len) if len > 0 => Ok(len),
        _ => Err(SocksError::new(SocksErrorKind::InvalidDomain)),
    }
}

/// SOCKS4 fields end at a NUL, so they cannot contain one.
fn check_no_nul(field: &str) -> Result<(), SocksError> {
    if field.as_bytes().contains(&0) {
        return Err(SocksError::new(SocksErrorKind::NulInRequest));
    }
    Ok(())
}

/// Runs the SOCKS handshake on `io`, a connection open to the proxy, asking it to connect to
/// `target`. On success `io` is a tunnel to the target, positioned right after the proxy's
/// reply.
///
/// `auth` is offered to a SOCKS5 proxy as username/password (alongside "no
/// authentication", which the proxy may prefer), and is the user id of a SOCKS4 request.
/// [`SocksTarget::Domain`] needs [`SocksVersion::V4a`] or [`SocksVersion::V5`]. The request is
/// checked before anything is written. Nothing here times out: a proxy that goes silent
/// without closing is the caller's connect timeout's to end.
pub async fn handshake<IO>(
    io: &mut IO,
    version: SocksVersion,
    target: &SocksTarget,
    auth: Option<&SocksAuth>,
) -> Result<(), SocksError>
where
    IO: Read + Write + Unpin,
{
    match version {
        SocksVersion::V4 | SocksVersion::V4a => {
            if version == SocksVersion::V4 && matches!(target, SocksTarget::Domain(..)) {
                return Err(SocksError::new(SocksErrorKind::DomainOverSocks4));
            }
            let user_id = auth.map_or("", |auth| auth.username.as_str());
            let request = encode_v4_request(target, user_id)?;
            write_all(io, &request).await?;
            read_reply(io, parse_v4_reply).await
        }
        SocksVersion::V5 => {
            // Checked before the greeting, so that an impossible request sends nothing.
            let connect = encode_v5_connect(target)?;
            let credentials = auth.map(encode_v5_auth).transpose()?;
            write_all(io, &encode_v5_greeting(credentials.is_some())).await?;
            let method =
                read_reply(io, |buf| parse_v5_method_choice(buf, credentials.is_some())).await?;
            if let (V5Method::UsernamePassword, Some(credentials)) = (method, &credentials) {
                write_all(io, credentials).await?;
                read_reply(io, parse_v5_auth_reply).await?;
            }
            write_all(io, &connect).await?;
            read_reply(io, parse_v5_reply).await
        }
    }
}

/// Reads one reply, never more bytes than `parse` asks for, parsing after every read so that
/// a failure is seen as soon as it arrives.
async fn read_reply<IO, T>(
    io: &mut IO,
    parse: impl Fn(&[u8]) -> Result<Parsed<T>, SocksError>,
) -> Result<T, SocksError>
where
    IO: Read + Unpin,
{
    let mut buf = [0; MAX_V5_REPLY];
    let mut filled = 0;
    loop {
        let have = buf.get(..filled).unwrap_or_default();
        match parse(have)? {
            Parsed::Complete(value, _) => return Ok(value),
            Parsed::NeedMore(more) => {
                let end = filled.checked_add(more).filter(|&end| end <= buf.len());
                // The parsers never ask past MAX_V5_REPLY; were one to, fail rather than panic.
                let Some(chunk) = end.and_then(|end| buf.get_mut(filled..end)) else {
                    return Err(SocksError::io(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "SOCKS reply longer than the longest valid one",
                    )));
                };
                filled = filled.saturating_add(read_some(io, chunk).await?);
            }
        }
    }
}

/// Reads into `buf` once, at least one byte; the end of the stream is
/// [`SocksErrorKind::Truncated`], as it comes before the reply is whole.
async fn read_some<IO: Read + Unpin>(io: &mut IO, buf: &mut [u8]) -> Result<usize, SocksError> {
    let read = poll_fn(|cx| {
        let mut read = ReadBuf::new(&mut *buf);
        ready!(Pin::new(&mut *io).poll_read(cx, read.unfilled()))?;
        Poll::Ready(Ok::<_, io::Error>(read.filled().len()))
    })
    .await
    .map_err(SocksError::io)?;
    if read == 0 {
        return Err(SocksError::new(SocksErrorKind::Truncated));
    }
    Ok(read)
}

/// Writes all of `buf` to `io` and flushes it.
async fn write_all<IO: Write + Unpin>(io: &mut IO, buf: &[u8]) -> Result<(), SocksError> {
    let mut done = 0;
    while done < buf.len() {
        let rest = buf.get(done..).unwrap_or_default();
        let written = poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, rest))
            .await
            .map_err(SocksError::io)?;
        if written == 0 {
            return Err(SocksError::io(io::ErrorKind::WriteZero.into()));
        }
        done = done.saturating_add(written);
    }
    poll_fn(|cx| Pin::new(&mut *io).poll_flush(cx))
        .await
        .map_err(SocksError::io)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use towline_test_support::TokioIo;

    use super::*;

    const TUNNEL: &[u8] = b"HTTP/1.1 200 OK\r\n";

    /// What the client must send, and what the proxy answers.
    type Step<'a> = (&'a [u8], &'a [u8]);

    fn v4(ip: [u8; 4], port: u16) -> SocksTarget {
        SocksTarget::Addr(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
    }

    fn v6(ip: Ipv6Addr, port: u16) -> SocksTarget {
        SocksTarget::Addr(SocketAddr::V6(SocketAddrV6::new(ip, port, 0, 0)))
    }

    fn domain(host: &str, port: u16) -> SocksTarget {
        SocksTarget::Domain(host.to_owned(), port)
    }

    fn creds() -> SocksAuth {
        SocksAuth::new("alice", "s3cret")
    }

    /// A proxy that, for each step, reads the expected request bytes (failing the test if
    /// they differ) and writes the reply; it closes once the script ends or the client
    /// closes.
    async fn scripted(mut proxy: DuplexStream, steps: Vec<(Vec<u8>, Vec<u8>)>) {
        for (expect, reply) in steps {
            let mut got = vec![0; expect.len()];
            if proxy.read_exact(&mut got).await.is_err() {
                return;
            }
            assert_eq!(got, expect, "the client's request");
            if proxy.write_all(&reply).await.is_err() {
                return;
            }
        }
    }

    /// Runs a handshake against a scripted proxy; on success, also returns what the tunnel
    /// yields after the handshake, up to the proxy's close.
    async fn run(
        version: SocksVersion,
        target: &SocksTarget,
        auth: Option<&SocksAuth>,
        steps: &[Step<'_>],
    ) -> Result<Vec<u8>, SocksError> {
        let (client, proxy) = tokio::io::duplex(4096);
        let steps = steps
            .iter()
            .map(|(expect, reply)| (expect.to_vec(), reply.to_vec()))
            .collect();
        let proxy = tokio::spawn(scripted(proxy, steps));
        let mut io = TokioIo::new(client);
        let outcome = tokio::time::timeout(
            Duration::from_secs(5),
            handshake(&mut io, version, target, auth),
        )
        .await
        .expect("the handshake ends without waiting on a closed or finished proxy");
        let result = match outcome {
            Ok(()) => {
                let mut tunnel = Vec::new();
                io.into_inner().read_to_end(&mut tunnel).await.unwrap();
                Ok(tunnel)
            }
            Err(error) => {
                drop(io);
                Err(error)
            }
        };
        proxy
            .await
            .expect("the scripted proxy saw the expected requests");
        result
    }

    fn with_tunnel(reply: &[u8]) -> Vec<u8> {
        [reply, TUNNEL].concat()
    }

    const GREETING: &[u8] = &[5, 1, 0];
    const GREETING_AUTH: &[u8] = &[5, 2, 0, 2];
    const NO_AUTH: &[u8] = &[5, 0];
    const CONNECT_LOCAL: &[u8] = &[5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90];
    const BOUND_V4: &[u8] = &[5, 0, 0, 1, 10, 0, 0, 7, 0xc3, 0x50];

    async fn v5_reply(reply: &[u8]) -> Result<Vec<u8>, SocksError> {
        run(
            SocksVersion::V5,
            &v4([127, 0, 0, 1], 8080),
            None,
            &[(GREETING, NO_AUTH), (CONNECT_LOCAL, reply)],
        )
        .await
    }

    async fn v4_reply(reply: &[u8]) -> Result<Vec<u8>, SocksError> {
        run(
            SocksVersion::V4,
            &v4([127, 0, 0, 1], 8080),
            None,
            &[(&[4, 1, 0x1f, 0x90, 127, 0, 0, 1, 0], reply)],
        )
        .await
    }

    #[test]
    fn encodes_socks4_and_socks4a_requests() {
        assert_eq!(
            encode_v4_request(&v4([10, 1, 2, 3], 80), "bob").unwrap(),
            [4, 1, 0, 80, 10, 1, 2, 3, b'b', b'o', b'b', 0]
        );
        assert_eq!(
            encode_v4_request(&domain("example.com", 443), "").unwrap(),
            [&[4, 1, 1, 0xbb, 0, 0, 0, 1, 0][..], b"example.com", &[0]].concat()
        );
    }

    #[test]
    fn encodes_socks5_requests() {
        assert_eq!(encode_v5_greeting(false), GREETING);
        assert_eq!(encode_v5_greeting(true), GREETING_AUTH);
        assert_eq!(
            encode_v5_auth(&creds()).unwrap(),
            [&[1, 5][..], b"alice", &[6], b"s3cret"].concat()
        );
        assert_eq!(
            encode_v5_connect(&v4([127, 0, 0, 1], 8080)).unwrap(),
            CONNECT_LOCAL
        );
        assert_eq!(
            encode_v5_connect(&v6(Ipv6Addr::LOCALHOST, 443)).unwrap(),
            [&[5, 1, 0, 4][..], &Ipv6Addr::LOCALHOST.octets(), &[1, 0xbb]].concat()
        );
        assert_eq!(
            encode_v5_connect(&domain("example.com", 80)).unwrap(),
            [&[5, 1, 0, 3, 11][..], b"example.com", &[0, 80]].concat()
        );
        let longest = "a".repeat(255);
        assert_eq!(
            encode_v5_connect(&domain(&longest, 80)).unwrap().len(),
            7 + 255
        );
    }

    #[test]
    fn refuses_requests_the_protocol_cannot_carry() {
        let kind = |result: Result<Vec<u8>, SocksError>| result.unwrap_err().kind();
        let too_long = "a".repeat(256);
        assert_eq!(
            kind(encode_v5_connect(&domain(&too_long, 80))),
            SocksErrorKind::InvalidDomain
        );
        assert_eq!(
            kind(encode_v5_connect(&domain("", 80))),
            SocksErrorKind::InvalidDomain
        );
        assert_eq!(
            kind(encode_v4_request(&domain(&too_long, 80), "")),
            SocksErrorKind::InvalidDomain
        );
        assert_eq!(
            kind(encode_v5_auth(&SocksAuth::new(too_long.as_str(), "p"))),
            SocksErrorKind::CredentialsTooLong
        );
        assert_eq!(
            kind(encode_v5_auth(&SocksAuth::new("u", too_long.as_str()))),
            SocksErrorKind::CredentialsTooLong
        );
        assert_eq!(
            kind(encode_v4_request(&v4([10, 0, 0, 1], 80), &too_long)),
            SocksErrorKind::CredentialsTooLong
        );
        assert_eq!(
            kind(encode_v4_request(&v4([10, 0, 0, 1], 80), "a\0b")),
            SocksErrorKind::NulInRequest
        );
        assert_eq!(
            kind(encode_v4_request(&domain("exa\0mple.com", 80), "")),
            SocksErrorKind::NulInRequest
        );
        assert_eq!(
            kind(encode_v4_request(&v6(Ipv6Addr::LOCALHOST, 80), "")),
            SocksErrorKind::Ipv6OverSocks4
        );
        for error in [
            SocksErrorKind::InvalidDomain,
            SocksErrorKind::Ipv6OverSocks4,
        ] {
            assert!(error.is_invalid_request());
            assert!(!error.is_refusal() && !error.is_protocol_violation() && !error.is_auth());
        }
    }

    #[tokio::test]
    async fn an_impossible_request_sends_nothing() {
        let cases = [
            (
                SocksVersion::V4,
                domain("example.com", 80),
                None,
                SocksErrorKind::DomainOverSocks4,
            ),
            (
                SocksVersion::V4,
                v6(Ipv6Addr::LOCALHOST, 80),
                None,
                SocksErrorKind::Ipv6OverSocks4,
            ),
            (
                SocksVersion::V4a,
                v6(Ipv6Addr::LOCALHOST, 80),
                None,
                SocksErrorKind::Ipv6OverSocks4,
            ),
            (
                SocksVersion::V4a,
                domain("example.com", 80),
                Some(SocksAuth::new("a\0", "")),
                SocksErrorKind::NulInRequest,
            ),
            (
                SocksVersion::V5,
                domain(&"a".repeat(256), 80),
                None,
                SocksErrorKind::InvalidDomain,
            ),
            (
                SocksVersion::V5,
                domain("example.com", 80),
                Some(SocksAuth::new("u", "p".repeat(256))),
                SocksErrorKind::CredentialsTooLong,
            ),
        ];
        for (version, target, auth, expected) in cases {
            let (client, mut proxy) = tokio::io::duplex(4096);
            let mut io = TokioIo::new(client);
            let error = handshake(&mut io, version, &target, auth.as_ref())
                .await
                .unwrap_err();
            assert_eq!(error.kind(), expected, "{version:?} {target}");
            drop(io);
            let mut sent = Vec::new();
            proxy.read_to_end(&mut sent).await.unwrap();
            assert!(sent.is_empty(), "{version:?} {target} sent {sent:?}");
        }
    }

    #[tokio::test]
    async fn socks5_without_auth_leaves_the_tunnel_unread() {
        let tunnel = v5_reply(&with_tunnel(BOUND_V4)).await.unwrap();
        assert_eq!(tunnel, TUNNEL);
    }

    #[tokio::test]
    async fn socks5_reads_bound_addresses_of_every_type() {
        let bound_v6 = [&[5, 0, 0, 4][..], &[0xfe; 16], &[0, 1]].concat();
        let bound_domain = [&[5, 0, 0, 3, 9][..], b"proxy.lan", &[0, 1]].concat();
        let longest_domain = [&[5, 0, 0, 3, 253][..], &[b'a'; 253], &[0, 1]].concat();
        let empty_domain = [5, 0, 0, 3, 0, 0, 1];
        for reply in [&bound_v6[..], &bound_domain, &longest_domain, &empty_domain] {
            assert_eq!(
                v5_reply(&with_tunnel(reply)).await.unwrap(),
                TUNNEL,
                "{reply:?}"
            );
        }
    }

    #[tokio::test]
    async fn socks5h_sends_the_domain_and_socks5_an_ipv6_address() {
        let connect = [&[5, 1, 0, 3, 11][..], b"example.com", &[1, 0xbb]].concat();
        let tunnel = run(
            SocksVersion::V5,
            &domain("example.com", 443),
            None,
            &[(GREETING, NO_AUTH), (&connect, &with_tunnel(BOUND_V4))],
        )
        .await
        .unwrap();
        assert_eq!(tunnel, TUNNEL);

        let ip = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        let connect = [&[5, 1, 0, 4][..], &ip.octets(), &[0, 80]].concat();
        let tunnel = run(
            SocksVersion::V5,
            &v6(ip, 80),
            None,
            &[(GREETING, NO_AUTH), (&connect, &with_tunnel(BOUND_V4))],
        )
        .await
        .unwrap();
        assert_eq!(tunnel, TUNNEL);
    }

    #[tokio::test]
    async fn socks5_authenticates_with_username_and_password() {
        let auth = [&[1, 5][..], b"alice", &[6], b"s3cret"].concat();
        let tunnel = run(
            SocksVersion::V5,
            &v4([127, 0, 0, 1], 8080),
            Some(&creds()),
            &[
                (GREETING_AUTH, &[5, 2]),
                (&auth, &[1, 0]),
                (CONNECT_LOCAL, &with_tunnel(BOUND_V4)),
            ],
        )
        .await
        .unwrap();
        assert_eq!(tunnel, TUNNEL);
    }

    #[tokio::test]
    async fn socks5_skips_auth_when_the_proxy_needs_none() {
        let tunnel = run(
            SocksVersion::V5,
            &v4([127, 0, 0, 1], 8080),
            Some(&creds()),
            &[
                (GREETING_AUTH, NO_AUTH),
                (CONNECT_LOCAL, &with_tunnel(BOUND_V4)),
            ],
        )
        .await
        .unwrap();
        assert_eq!(tunnel, TUNNEL);
    }

    #[tokio::test]
    async fn socks5_auth_failures() {
        let target = v4([127, 0, 0, 1], 8080);
        let auth = [&[1, 5][..], b"alice", &[6], b"s3cret"].concat();
        let cases: [(Option<SocksAuth>, Vec<Step<'_>>, SocksErrorKind); 5] = [
            (
                Some(creds()),
                vec![(GREETING_AUTH, &[5, 0xff])],
                SocksErrorKind::NoAcceptableMethod,
            ),
            (
                None,
                vec![(GREETING, &[5, 0xff])],
                SocksErrorKind::AuthRequired,
            ),
            (
                None,
                vec![(GREETING, &[5, 2])],
                SocksErrorKind::AuthRequired,
            ),
            (
                Some(creds()),
                vec![(GREETING_AUTH, &[5, 2]), (&auth, &[1, 1])],
                SocksErrorKind::AuthRejected,
            ),
            (
                Some(creds()),
                vec![(GREETING_AUTH, &[5, 1])],
                SocksErrorKind::UnexpectedMethod,
            ),
        ];
        for (auth, steps, expected) in cases {
            let error = run(SocksVersion::V5, &target, auth.as_ref(), &steps)
                .await
                .unwrap_err();
            assert_eq!(error.kind(), expected, "{steps:?}");
            assert_eq!(
                expected.is_auth(),
                expected != SocksErrorKind::UnexpectedMethod
            );
            assert!(!error.to_string().contains("s3cret"), "{error}");
        }
    }

    #[tokio::test]
    async fn every_socks5_reply_code_is_its_own_error() {
        let cases = [
            (0x01, SocksErrorKind::GeneralFailure, "general failure"),
            (0x02, SocksErrorKind::NotAllowed, "ruleset"),
            (0x03, SocksErrorKind::NetworkUnreachable, "network"),
            (0x04, SocksErrorKind::HostUnreachable, "target host"),
            (0x05, SocksErrorKind::ConnectionRefused, "refused"),
            (0x06, SocksErrorKind::TtlExpired, "TTL expired"),
            (0x07, SocksErrorKind::CommandNotSupported, "CONNECT"),
            (
                0x08,
                SocksErrorKind::AddressTypeNotSupported,
                "address type",
            ),
            (
                0x09,
                SocksErrorKind::UnknownReplyCode(0x09),
                "unknown reply code 0x09",
            ),
            (
                0xff,
                SocksErrorKind::UnknownReplyCode(0xff),
                "unknown reply code 0xff",
            ),
        ];
        for (code, expected, message) in cases {
            // A whole failure reply, and one cut short after the code: both are the refusal.
            for reply in [&[5, code, 0, 1, 0, 0, 0, 0, 0, 0][..], &[5, code]] {
                let error = v5_reply(reply).await.unwrap_err();
                assert_eq!(error.kind(), expected);
                assert!(error.kind().is_refusal(), "{error}");
                assert!(!error.kind().is_protocol_violation(), "{error}");
                assert!(error.to_string().contains(message), "{error}");
            }
        }
    }

    #[tokio::test]
    async fn every_socks4_rejection_is_its_own_error() {
        let cases = [
            (0x5b, SocksErrorKind::V4Rejected, "rejected"),
            (0x5c, SocksErrorKind::V4IdentdUnreachable, "identd"),
            (0x5d, SocksErrorKind::V4IdentdMismatch, "different user id"),
            (
                0x42,
                SocksErrorKind::UnknownReplyCode(0x42),
                "unknown reply code 0x42",
            ),
        ];
        for (code, expected, message) in cases {
            let error = v4_reply(&[0, code, 0, 0, 0, 0, 0, 0]).await.unwrap_err();
            assert_eq!(error.kind(), expected);
            assert!(error.kind().is_refusal(), "{error}");
            assert!(error.to_string().contains(message), "{error}");
        }
    }

    #[tokio::test]
    async fn socks4_and_socks4a_leave_the_tunnel_unread() {
        let granted = with_tunnel(&[0, 0x5a, 0, 0, 0, 0, 0, 0]);
        assert_eq!(v4_reply(&granted).await.unwrap(), TUNNEL);

        let request = [&[4, 1, 1, 0xbb, 0, 0, 0, 1][..], b"alice\0example.com\0"].concat();
        let tunnel = run(
            SocksVersion::V4a,
            &domain("example.com", 443),
            Some(&creds()),
            &[(&request, &granted)],
        )
        .await
        .unwrap();
        assert_eq!(tunnel, TUNNEL);

        // SOCKS4a with an address is plain SOCKS4.
        let request = [4, 1, 0, 80, 10, 0, 0, 1, 0];
        let tunnel = run(
            SocksVersion::V4a,
            &v4([10, 0, 0, 1], 80),
            None,
            &[(&request, &granted)],
        )
        .await
        .unwrap();
        assert_eq!(tunnel, TUNNEL);
    }

    #[tokio::test]
    async fn malformed_socks5_replies_are_protocol_violations() {
        let oversized = [&[5, 0, 0, 3, 254][..], &[b'a'; 254], &[0, 1]].concat();
        let cases: [(&[u8], SocksErrorKind, &str); 5] = [
            (
                &[4, 0, 0, 1, 0, 0, 0, 0, 0, 0],
                SocksErrorKind::WrongVersion,
                "0x04",
            ),
            (
                &[5, 0, 1, 1, 0, 0, 0, 0, 0, 0],
                SocksErrorKind::NonZeroReserved,
                "0x01",
            ),
            (
                &[5, 0, 0, 2, 0, 0, 0, 0, 0, 0],
                SocksErrorKind::UnknownAddressType,
                "0x02",
            ),
            (&[5, 0, 0, 9], SocksErrorKind::UnknownAddressType, "0x09"),
            (&oversized, SocksErrorKind::OversizedDomain, "0xfe"),
        ];
        for (reply, expected, got) in cases {
            let error = v5_reply(reply).await.unwrap_err();
            assert_eq!(error.kind(), expected, "{reply:?}");
            assert!(error.kind().is_protocol_violation());
            assert!(error.to_string().contains(got), "{error}");
        }
        // The greeting's and the auth reply's version bytes are checked too.
        let error = run(
            SocksVersion::V5,
            &v4([127, 0, 0, 1], 8080),
            None,
            &[(GREETING, &[4, 0])],
        )
        .await
        .unwrap_err();
        assert_eq!(error.kind(), SocksErrorKind::WrongVersion);
        let auth = [&[1, 5][..], b"alice", &[6], b"s3cret"].concat();
        let error = run(
            SocksVersion::V5,
            &v4([127, 0, 0, 1], 8080),
            Some(&creds()),
            &[(GREETING_AUTH, &[5, 2]), (&auth, &[5, 0])],
        )
        .await
        .unwrap_err();
        assert_eq!(error.kind(), SocksErrorKind::WrongVersion);
    }

    #[tokio::test]
    async fn a_reply_cut_short_by_the_proxy_closing_is_truncated() {
        let domain_reply = [&[5, 0, 0, 3, 9][..], b"proxy.lan", &[0, 1]].concat();
        for reply in [BOUND_V4, &domain_reply] {
            for len in 0..reply.len() {
                let error = v5_reply(&reply[..len]).await.unwrap_err();
                assert_eq!(error.kind(), SocksErrorKind::Truncated, "{len} bytes");
                assert!(error.kind().is_protocol_violation());
            }
        }
        for len in [0, 1, 7] {
            let error = v4_reply(&[0, 0x5a, 0, 0, 0, 0, 0, 0][..len])
                .await
                .unwrap_err();
            assert_eq!(error.kind(), SocksErrorKind::Truncated, "{len} bytes");
        }
        // The proxy closes before choosing a method.
        let error = run(
            SocksVersion::V5,
            &v4([127, 0, 0, 1], 8080),
            None,
            &[(GREETING, &[5])],
        )
        .await
        .unwrap_err();
        assert_eq!(error.kind(), SocksErrorKind::Truncated);
    }

    #[tokio::test]
    async fn malformed_socks4_replies_are_protocol_violations() {
        // A SOCKS4 reply carries version 0, not the request's 4.
        let error = v4_reply(&[4, 0x5a, 0, 0, 0, 0, 0, 0]).await.unwrap_err();
        assert_eq!(error.kind(), SocksErrorKind::WrongVersion);
        assert!(error.to_string().contains("0x04"), "{error}");
    }

    #[tokio::test]
    async fn a_failing_connection_is_an_io_error() {
        let (client, proxy) = tokio::io::duplex(64);
        drop(proxy);
        let mut io = TokioIo::new(client);
        let error = handshake(&mut io, SocksVersion::V5, &v4([127, 0, 0, 1], 80), None)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), SocksErrorKind::Io);
        assert!(error.source().is_some());
        assert!(!error.kind().is_refusal() && !error.kind().is_protocol_violation());
    }

    #[test]
    fn parsers_ask_for_exactly_the_rest_of_the_reply() {
        assert_eq!(
            parse_v5_method_choice(&[], false).unwrap(),
            Parsed::NeedMore(2)
        );
        assert_eq!(
            parse_v5_method_choice(&[5], true).unwrap(),
            Parsed::NeedMore(1)
        );
        assert_eq!(
            parse_v5_method_choice(&[5, 2, 9], true).unwrap(),
            Parsed::Complete(V5Method::UsernamePassword, 2)
        );
        assert_eq!(parse_v5_auth_reply(&[1]).unwrap(), Parsed::NeedMore(1));
        assert_eq!(
            parse_v5_auth_reply(&[1, 0, 9]).unwrap(),
            Parsed::Complete((), 2)
        );
        assert_eq!(parse_v5_reply(&[]).unwrap(), Parsed::NeedMore(4));
        assert_eq!(parse_v5_reply(&[5, 0, 0]).unwrap(), Parsed::NeedMore(1));
        assert_eq!(parse_v5_reply(&[5, 0, 0, 4]).unwrap(), Parsed::NeedMore(18));
        assert_eq!(parse_v5_reply(&[5, 0, 0, 3]).unwrap(), Parsed::NeedMore(1));
        assert_eq!(
            parse_v5_reply(&[5, 0, 0, 3, 9]).unwrap(),
            Parsed::NeedMore(11)
        );
        let longest = [&[5, 0, 0, 3, 253][..], &[0; 255]].concat();
        assert_eq!(
            parse_v5_reply(&longest).unwrap(),
            Parsed::Complete((), MAX_V5_REPLY)
        );
        assert_eq!(parse_v4_reply(&[]).unwrap(), Parsed::NeedMore(8));
        assert_eq!(parse_v4_reply(&[0, 0x5a, 0]).unwrap(), Parsed::NeedMore(5));
        assert_eq!(
            parse_v4_reply(&[0, 0x5a, 0, 0, 0, 0, 0, 0, 1]).unwrap(),
            Parsed::Complete((), 8)
        );
    }

    #[test]
    fn credentials_never_show() {
        let auth = creds();
        assert!(!format!("{auth:?}").contains("s3cret"));
        assert!(format!("{auth:?}").contains("alice"));
    }
}
