//! The `Alt-Svc` response header (RFC 7838): a bounded parser, a plain function over bytes.
//!
//! A server names alternative services for its origin — `h3=":443"; ma=3600` says "HTTP/3 on
//! UDP port 443 of this host, for an hour" — or withdraws them all with `clear`. The parser
//! only reads the header. `AltSvcCache` (feature `http3`) keeps what responses said per
//! origin, and the transport tries HTTP/3 there (see `Http3Config::alt_svc`).
//!
//! Bounds: a value longer than [`MAX_HEADER_LEN`] is refused unread, at most
//! [`MAX_ALTERNATIVES`] alternatives are kept and each may carry at most [`MAX_PARAMS`]
//! parameters; ALPN protocol ids and hosts are bounded by the value's length. `ma` saturates
//! at [`MAX_AGE_LIMIT`] rather than overflowing. Unknown parameters are skipped (RFC 7838
//! §3); any syntax error makes the whole value invalid, so a cache keeps what it had.
//!
//! ```
//! use std::time::Duration;
//! use towline_services::alt_svc::{AltSvc, parse_alt_svc};
//!
//! let AltSvc::Alternatives(alternatives) =
//!     parse_alt_svc(br#"h3=":443"; ma=3600, h3-29="alt.example:8443"; persist=1"#).unwrap()
//! else {
//!     panic!("alternatives expected");
//! };
//! assert_eq!(alternatives[0].protocol(), b"h3");
//! assert_eq!(alternatives[0].host(), None);
//! assert_eq!(alternatives[0].port(), 443);
//! assert_eq!(alternatives[0].max_age(), Duration::from_secs(3600));
//! assert_eq!(alternatives[1].host(), Some("alt.example"));
//! assert!(alternatives[1].persist());
//! assert_eq!(parse_alt_svc(b"clear"), Ok(AltSvc::Clear));
//! ```

#[cfg(feature = "http3")]
mod cache;

use std::fmt;
use std::time::Duration;

#[cfg(feature = "http3")]
pub use cache::{AltEndpoint, AltSvcCache, AltSvcEntry};

/// Longest header value parsed, in bytes.
pub const MAX_HEADER_LEN: usize = 8 * 1024;
/// Most alternatives kept from one value; later ones are ignored.
pub const MAX_ALTERNATIVES: usize = 16;
/// Most parameters one alternative may carry.
pub const MAX_PARAMS: usize = 16;
/// The largest `ma` honoured, in seconds (2^31, as for HTTP delta-seconds, RFC 9111 §1.2.2).
pub const MAX_AGE_LIMIT: u64 = 1 << 31;
/// `ma` when absent: 24 hours (RFC 7838 §3.1).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// What an `Alt-Svc` value says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AltSvc {
    /// `clear`: forget every alternative of this origin.
    Clear,
    /// These alternatives, in the server's order of preference.
    Alternatives(Vec<Alternative>),
}

/// One alternative service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alternative {
    protocol: Vec<u8>,
    host: Option<String>,
    port: u16,
    max_age: Duration,
    persist: bool,
}

impl Alternative {
    /// The ALPN protocol id, percent-decoded (`h3`).
    pub fn protocol(&self) -> &[u8] {
        &self.protocol
    }

    /// The alternative's host; `None` means the origin's own host.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The alternative's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How long the alternative may be used (`ma`; 24 hours when absent).
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// `persist=1`: the alternative survives a change of network.
    pub fn persist(&self) -> bool {
        self.persist
    }
}

/// Why an `Alt-Svc` value was not understood.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AltSvcError {
    /// Longer than [`MAX_HEADER_LEN`].
    TooLong,
    /// Not the RFC 7838 syntax; the message says where.
    Syntax(&'static str),
}

impl fmt::Display for AltSvcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => write!(f, "Alt-Svc value longer than {MAX_HEADER_LEN} bytes"),
            Self::Syntax(what) => write!(f, "invalid Alt-Svc value: {what}"),
        }
    }
}

impl std::error::Error for AltSvcError {}

/// Parses an `Alt-Svc` header value (see the module docs).
pub fn parse_alt_svc(value: &[u8]) -> Result<AltSvc, AltSvcError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(AltSvcError::TooLong);
    }
    let mut cursor = Cursor { rest: value };
    cursor.skip_ows();
    if trim_ows_end(cursor.rest) == b"clear" {
        return Ok(AltSvc::Clear);
    }
    let mut alternatives = Vec::new();
    loop {
        cursor.skip_ows();
        // Empty list elements are allowed (RFC 9110 §5.6.1).
        if cursor.eat(b',') {
            continue;
        }
        if cursor.rest.is_empty() {
            break;
        }
        let alternative = cursor.alternative()?;
        if alternatives.len() < MAX_ALTERNATIVES {
            alternatives.push(alternative);
        }
        cursor.skip_ows();
        if cursor.rest.is_empty() {
            break;
        }
        if !cursor.eat(b',') {
            return Err(AltSvcError::Syntax("expected `,` between alternatives"));
        }
    }
    if alternatives.is_empty() {
        return Err(AltSvcError::Syntax("no alternative"));
    }
    Ok(AltSvc::Alternatives(alternatives))
}

fn trim_ows_end(mut bytes: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn skip_ows(&mut self) {
        while let [b' ' | b'\t', rest @ ..] = self.rest {
            self.rest = rest;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        match self.rest {
            [first, rest @ ..] if *first == byte => {
                self.rest = rest;
                true
            }
            _ => false,
        }
    }

    fn token(&mut self) -> Option<&'a [u8]> {
        let len = self.rest.iter().take_while(|b| is_tchar(**b)).count();
        let (token, rest) = self.rest.split_at(len);
        self.rest = rest;
        (len > 0).then_some(token)
    }

    /// A quoted-string's content, unescaped.
    fn quoted(&mut self) -> Result<Vec<u8>, AltSvcError> {
        if !self.eat(b'"') {
            return Err(AltSvcError::Syntax("expected a quoted string"));
        }
        let mut content = Vec::new();
        loop {
            match self.rest {
                [b'"', rest @ ..] => {
                    self.rest = rest;
                    return Ok(content);
                }
                [b'\\', escaped, rest @ ..] if *escaped == b'\t' || *escaped >= b' ' => {
                    content.push(*escaped);
                    self.rest = rest;
                }
                [byte, rest @ ..] if *byte == b'\t' || (*byte >= b' ' && *byte != 0x7f) => {
                    content.push(*byte);
                    self.rest = rest;
                }
                _ => return Err(AltSvcError::Syntax("unterminated or invalid quoted string")),
            }
        }
    }

    fn alternative(&mut self) -> Result<Alternative, AltSvcError> {
        let protocol = self
            .token()
            .ok_or(AltSvcError::Syntax("expected a protocol id"))?;
        let protocol = percent_decode(protocol)?;
        if !self.eat(b'=') {
            return Err(AltSvcError::Syntax("expected `=` after the protocol id"));
        }
        let (host, port) = authority(&self.quoted()?)?;
        let mut alternative = Alternative {
            protocol,
            host,
            port,
            max_age: DEFAULT_MAX_AGE,
            persist: false,
        };
        let mut params = 0;
        let mut max_age_seen = false;
        loop {
            self.skip_ows();
            if !self.eat(b';') {
                return Ok(alternative);
            }
            self.skip_ows();
            params += 1;
            if params > MAX_PARAMS {
                return Err(AltSvcError::Syntax("too many parameters"));
            }
            let name = self
                .token()
                .ok_or(AltSvcError::Syntax("expected a parameter name"))?;
            if !self.eat(b'=') {
                return Err(AltSvcError::Syntax("expected `=` after a parameter name"));
            }
            let value = match self.token() {
                Some(token) => token.to_vec(),
                None => self.quoted()?,
            };
            if name.eq_ignore_ascii_case(b"ma") && !max_age_seen {
                max_age_seen = true;
                alternative.max_age = Duration::from_secs(delta_seconds(&value)?);
            } else if name.eq_ignore_ascii_case(b"persist") {
                alternative.persist = value == b"1";
            }
        }
    }
}

/// `[ uri-host ] ":" port`; an empty host is the origin's.
fn authority(content: &[u8]) -> Result<(Option<String>, u16), AltSvcError> {
    let colon = content
        .iter()
        .rposition(|b| *b == b':')
        .ok_or(AltSvcError::Syntax("the authority has no port"))?;
    let (host, port) = (&content[..colon], &content[colon + 1..]);
    let port = std::str::from_utf8(port)
        .ok()
        .filter(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|port| port.parse::<u16>().ok())
        .filter(|port| *port != 0)
        .ok_or(AltSvcError::Syntax("invalid port"))?;
    if host.is_empty() {
        return Ok((None, port));
    }
    let valid_host = match host {
        [b'[', inner @ .., b']'] => std::str::from_utf8(inner)
            .ok()
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok()),
        _ => host
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(b)),
    };
    if !valid_host {
        return Err(AltSvcError::Syntax("invalid host"));
    }
    let host = String::from_utf8(host.to_vec()).map_err(|_| AltSvcError::Syntax("invalid host"))?;
    Ok((Some(host), port))
}

/// delta-seconds, saturating at [`MAX_AGE_LIMIT`].
fn delta_seconds(value: &[u8]) -> Result<u64, AltSvcError> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(AltSvcError::Syntax("`ma` is not a number of seconds"));
    }
    let mut seconds: u64 = 0;
    for digit in value {
        seconds = seconds
            .checked_mul(10)
            .and_then(|s| s.checked_add(u64::from(digit - b'0')))
            .unwrap_or(MAX_AGE_LIMIT)
            .min(MAX_AGE_LIMIT);
    }
    Ok(seconds)
}

fn percent_decode(token: &[u8]) -> Result<Vec<u8>, AltSvcError> {
    let mut decoded = Vec::with_capacity(token.len());
    let mut bytes = token.iter();
    while let Some(byte) = bytes.next() {
        if *byte != b'%' {
            decoded.push(*byte);
            continue;
        }
        let hex = |b: Option<&u8>| b.and_then(|b| char::from(*b).to_digit(16));
        match (hex(bytes.next()), hex(bytes.next())) {
            (Some(high), Some(low)) => {
                decoded.push(u8::try_from(high * 16 + low).unwrap_or_default())
            }
            _ => {
                return Err(AltSvcError::Syntax(
                    "invalid percent-encoding in a protocol id",
                ));
            }
        }
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alternatives(value: &str) -> Vec<Alternative> {
        match parse_alt_svc(value.as_bytes()) {
            Ok(AltSvc::Alternatives(alternatives)) => alternatives,
            other => panic!("{value}: {other:?}"),
        }
    }

    #[test]
    fn parses_the_common_forms() {
        let parsed = alternatives(r#"h3=":443"; ma=2592000, h3-29=":443"; ma=2592000"#);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].protocol(), b"h3");
        assert_eq!(parsed[0].port(), 443);
        assert_eq!(parsed[0].max_age(), Duration::from_secs(2_592_000));
        assert_eq!(parsed[1].protocol(), b"h3-29");

        let parsed = alternatives(r#"h2="alt.example.com:8000", h3="[::1]:443";persist=1"#);
        assert_eq!(parsed[0].host(), Some("alt.example.com"));
        assert_eq!(parsed[0].max_age(), DEFAULT_MAX_AGE);
        assert_eq!(parsed[1].host(), Some("[::1]"));
        assert!(parsed[1].persist());
    }

    #[test]
    fn clear_withdraws_everything() {
        assert_eq!(parse_alt_svc(b"clear"), Ok(AltSvc::Clear));
        assert_eq!(parse_alt_svc(b"  clear "), Ok(AltSvc::Clear));
        assert!(parse_alt_svc(br#"clear, h3=":443""#).is_err());
    }

    #[test]
    fn percent_encoded_protocol_ids_are_decoded() {
        let parsed = alternatives(r#"w%3Dx%3Ay=":443""#);
        assert_eq!(parsed[0].protocol(), b"w=x:y");
        assert!(parse_alt_svc(br#"h%3=":443""#).is_err());
    }

    #[test]
    fn unknown_parameters_are_skipped_and_ma_saturates() {
        let parsed = alternatives(r#"h3=":443"; foo="bar;baz"; ma=99999999999999999999999"#);
        assert_eq!(parsed[0].max_age(), Duration::from_secs(MAX_AGE_LIMIT));
        // The first `ma` counts.
        let parsed = alternatives(r#"h3=":443"; ma=10; ma=20"#);
        assert_eq!(parsed[0].max_age(), Duration::from_secs(10));
    }

    #[test]
    fn hostile_values_are_errors_not_panics() {
        for value in [
            "",
            ",",
            "h3",
            "h3=",
            "h3=:443",
            r#"h3="""#,
            r#"h3=":0""#,
            r#"h3=":65536""#,
            r#"h3=":-1""#,
            r#"h3="host""#,
            r#"h3=":443"; ma=-5"#,
            r#"h3=":443"; ma="""#,
            r#"h3=":443" h2=":443""#,
            r#"h3="[zz]:443""#,
            r#"h3="a b:443""#,
            r#"h3=":443"#,
            "\"",
        ] {
            assert!(parse_alt_svc(value.as_bytes()).is_err(), "{value:?}");
        }
        let long = vec![b'a'; MAX_HEADER_LEN + 1];
        assert_eq!(parse_alt_svc(&long), Err(AltSvcError::TooLong));
        let many_params = format!(r#"h3=":443"{}"#, "; a=1".repeat(MAX_PARAMS + 1));
        assert!(parse_alt_svc(many_params.as_bytes()).is_err());
    }

    #[test]
    fn alternatives_beyond_the_limit_are_ignored() {
        let value = vec![r#"h3=":443""#; MAX_ALTERNATIVES + 5].join(", ");
        assert_eq!(alternatives(&value).len(), MAX_ALTERNATIVES);
    }
}
