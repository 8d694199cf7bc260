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
//! (`fuzz/fuzz_targets/socks_reply.rs`). The handshake reads exactly what the parsers ask for:
//! no byte past the proxy's reply is consumed, so what follows belongs to the tunnel. Every
//! message is bounded (a SOCKS5 reply is at most 262 bytes), nothing is allocated from a length
//! the proxy sends, and a proxy that closes mid-reply is an error, never a wait.
//!
//! Written here rather than taken from a crate: the maintained async SOCKS clients
//! (`tokio-socks`, `fast-socks5`) drive tokio's `AsyncRead`/`AsyncWrite` (`tokio-socks` also
//! futures-io's) and wrap the stream in a type of their own, while towline's connectors speak
//! hyper's `rt::Read`/`rt::Write` on every runtime; `fast-socks5`'s client is SOCKS5 only. The
//! protocol is a handful of fixed-layout messages, smaller than an adapter in each direction.
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

/// Reads one reply, exactly as many bytes as `parse` asks for.
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
                read_exact(io, chunk).await?;
                filled = filled.saturating_add(more);
            }
        }
    }
}

/// Fills `buf` from `io`; the end of the stream first is [`SocksErrorKind::Truncated`].
async fn read_exact<IO: Read + Unpin>(io: &mut IO, buf: &mut [u8]) -> Result<(), SocksError> {
    let mut done = 0;
    while done < buf.len() {
        let rest = buf.get_mut(done..).unwrap_or_default();
        let read = poll_fn(|cx| {
            let mut read = ReadBuf::new(&mut *rest);
            ready!(Pin::new(&mut *io).poll_read(cx, read.unfilled()))?;
            Poll::Ready(Ok::<_, io::Error>(read.filled().len()))
        })
        .await
        .map_err(SocksError::io)?;
        if read == 0 {
            return Err(SocksError::new(SocksErrorKind::Truncated));
        }
        done = done.saturating_add(read);
    }
    Ok(())
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
