//! The `Forwarded` header field (RFC 7239), parsed and written: `for`, `by`, `host` and
//! `proto` per hop, node names that are IP addresses, `unknown` or obfuscated identifiers
//! (`_hidden`), with ports or obfuscated ports; IPv6 nodes are bracketed and quoted.
//!
//! Parsing is bounded: a value longer than [`MAX_LEN`] bytes or with more than
//! [`MAX_ELEMENTS`] elements is an error, as is a malformed node, a repeated parameter in one
//! element, or a `proto` that is not a URI scheme.
//!
//! ```
//! use std::net::{IpAddr, Ipv6Addr};
//! use towline::forwarded::{self, ForwardedElement, Node, NodeName, NodePort};
//!
//! let hops = forwarded::parse(r#"for="[2001:db8:cafe::17]:4711";proto=https, for=_hidden;by=unknown"#)?;
//! assert_eq!(
//!     hops[0].for_node,
//!     Some(Node::ip("2001:db8:cafe::17".parse::<IpAddr>()?).with_port(NodePort::Port(4711)))
//! );
//! assert_eq!(hops[1].for_node.as_ref().map(|n| &n.name), Some(&NodeName::Obfuscated("_hidden".into())));
//!
//! let hop = ForwardedElement {
//!     for_node: Some(Node::ip(IpAddr::V6(Ipv6Addr::LOCALHOST))),
//!     proto: Some("https".into()),
//!     host: Some("api.example".into()),
//!     ..ForwardedElement::default()
//! };
//! assert_eq!(hop.to_string(), r#"for="[::1]";host=api.example;proto=https"#);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use http::HeaderMap;
use http::header::FORWARDED;

use crate::error::{Error, Result};
pub use crate::header_syntax::HeaderParseError;
use crate::header_syntax::{Cursor, is_token, quotable, write_token_or_quoted};

/// The longest `Forwarded` value (all fields together) that is parsed.
pub const MAX_LEN: usize = 8 * 1024;
/// The most elements (hops) parsed.
pub const MAX_ELEMENTS: usize = 64;
/// The most extension parameters kept per element.
pub const MAX_EXTENSIONS: usize = 8;

/// A node's name (RFC 7239 §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeName {
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// `unknown`: the proxy does not know, or will not say.
    Unknown,
    /// An obfuscated identifier: `_` and letters, digits, `.`, `_`, `-`.
    Obfuscated(String),
}

/// A node's port (RFC 7239 §6.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodePort {
    /// A port number.
    Port(u16),
    /// An obfuscated port: `_` and letters, digits, `.`, `_`, `-`.
    Obfuscated(String),
}

/// A `for` or `by` node: a name and an optional port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The name.
    pub name: NodeName,
    /// The port, if given.
    pub port: Option<NodePort>,
}

impl Node {
    /// The node of an IP address, without a port.
    pub fn ip(addr: IpAddr) -> Self {
        Self {
            name: NodeName::Ip(addr),
            port: None,
        }
    }

    /// The node of a socket address: its IP and port.
    pub fn socket(addr: SocketAddr) -> Self {
        Self::ip(addr.ip()).with_port(NodePort::Port(addr.port()))
    }

    /// `unknown`.
    pub fn unknown() -> Self {
        Self {
            name: NodeName::Unknown,
            port: None,
        }
    }

    /// An obfuscated identifier (`_` and letters, digits, `.`, `_`, `-`).
    ///
    /// # Errors
    ///
    /// When `id` is not of that form.
    pub fn obfuscated(id: impl Into<String>) -> std::result::Result<Self, HeaderParseError> {
        let id = id.into();
        if !is_obfuscated(&id) {
            return Err(HeaderParseError::new("not an obfuscated identifier", 0));
        }
        Ok(Self {
            name: NodeName::Obfuscated(id),
            port: None,
        })
    }

    /// This node with `port`.
    pub fn with_port(mut self, port: NodePort) -> Self {
        self.port = Some(port);
        self
    }
}

fn is_obfuscated(value: &str) -> bool {
    value.len() > 1
        && value.starts_with('_')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl FromStr for Node {
    type Err = HeaderParseError;

    /// Parses `nodename [":" node-port]`, unquoted: `192.0.2.43:47011`, `[2001:db8::1]`,
    /// `unknown`, `_gazonk:_port`.
    fn from_str(value: &str) -> std::result::Result<Self, HeaderParseError> {
        let bad = |what| HeaderParseError::new(what, 0);
        let (name, port) = if let Some(rest) = value.strip_prefix('[') {
            let (v6, after) = rest
                .split_once(']')
                .ok_or(bad("an IPv6 node is not closed"))?;
            let v6 = Ipv6Addr::from_str(v6).map_err(|_| bad("not an IPv6 address"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or(bad("junk after an IPv6 node"))?,
                ),
            };
            (NodeName::Ip(IpAddr::V6(v6)), port)
        } else {
            let (name, port) = match value.split_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (value, None),
            };
            let name = if name.eq_ignore_ascii_case("unknown") {
                NodeName::Unknown
            } else if is_obfuscated(name) {
                NodeName::Obfuscated(name.to_owned())
            } else {
                NodeName::Ip(IpAddr::V4(
                    Ipv4Addr::from_str(name)
                        .map_err(|_| bad("not an IPv4 address, unknown or _obfuscated"))?,
                ))
            };
            (name, port)
        };
        let port = match port {
            None => None,
            Some(port) if is_obfuscated(port) => Some(NodePort::Obfuscated(port.to_owned())),
            Some(port)
                if (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(NodePort::Port(
                    port.parse().map_err(|_| bad("port out of range"))?,
                ))
            }
            Some(_) => return Err(bad("not a port or an _obfuscated port")),
        };
        Ok(Self { name, port })
    }
}

impl fmt::Display for Node {
    /// The node unquoted (a header value quotes it when needed).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            NodeName::Ip(IpAddr::V4(v4)) => write!(f, "{v4}")?,
            NodeName::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]")?,
            NodeName::Unknown => f.write_str("unknown")?,
            NodeName::Obfuscated(id) => f.write_str(id)?,
        }
        match &self.port {
            Some(NodePort::Port(port)) => write!(f, ":{port}"),
            Some(NodePort::Obfuscated(port)) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

/// One hop of `Forwarded`: what one proxy saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForwardedElement {
    /// `by`: the interface where the request came in to the proxy.
    pub by: Option<Node>,
    /// `for`: the client that sent the request to the proxy.
    pub for_node: Option<Node>,
    /// `host`: the `Host` the proxy received.
    pub host: Option<String>,
    /// `proto`: the scheme the proxy received the request over (`http`, `https`).
    pub proto: Option<String>,
    /// Other parameters, names lower-cased, in order.
    pub extensions: Vec<(String, String)>,
}

impl fmt::Display for ForwardedElement {
    /// `by=…;for=…;host=…;proto=…` then the extensions, values quoted where they are not
    /// tokens (IPv6 nodes and nodes with ports always are).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut pair = |f: &mut fmt::Formatter<'_>, name: &str, value: &str| {
            if !std::mem::take(&mut first) {
                f.write_str(";")?;
            }
            write!(f, "{name}=")?;
            write_token_or_quoted(f, value)
        };
        if let Some(by) = &self.by {
            pair(f, "by", &by.to_string())?;
        }
        if let Some(node) = &self.for_node {
            pair(f, "for", &node.to_string())?;
        }
        if let Some(host) = &self.host {
            pair(f, "host", host)?;
        }
        if let Some(proto) = &self.proto {
            pair(f, "proto", proto)?;
        }
        for (name, value) in &self.extensions {
            pair(f, name, value)?;
        }
        Ok(())
    }
}

fn is_scheme(value: &str) -> bool {
    value
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// A `Forwarded` field value for `elements` (hops, nearest the client first), checked.
///
/// # Errors
///
/// A builder error for a `proto` that is not a URI scheme, an extension whose name is not a
/// token or a value that cannot be written.
pub fn to_header_value(elements: &[ForwardedElement]) -> Result<http::HeaderValue> {
    let mut value = String::new();
    for (i, element) in elements.iter().enumerate() {
        if element.proto.as_deref().is_some_and(|p| !is_scheme(p))
            || element.host.as_deref().is_some_and(|h| !quotable(h))
            || element
                .extensions
                .iter()
                .any(|(name, value)| !is_token(name) || !quotable(value))
        {
            return Err(Error::builder(format!(
                "Forwarded element {i} cannot be written"
            )));
        }
        if i > 0 {
            value.push_str(", ");
        }
        value.push_str(&element.to_string());
    }
    http::HeaderValue::try_from(value).map_err(Error::builder)
}

/// Parses a `Forwarded` field value: elements separated by `,`, pairs by `;`.
///
/// # Errors
///
/// When the value is malformed or over the bounds ([`MAX_LEN`], [`MAX_ELEMENTS`],
/// [`MAX_EXTENSIONS`]).
pub fn parse(value: &str) -> std::result::Result<Vec<ForwardedElement>, HeaderParseError> {
    let mut elements = Vec::new();
    parse_into(value, &mut elements)?;
    Ok(elements)
}

/// Parses every `Forwarded` field of `headers`, in order, within the bounds of [`parse`]
/// (counted over all the fields together).
///
/// # Errors
///
/// As [`parse`]; a field that is not text is malformed.
pub fn parse_headers(
    headers: &HeaderMap,
) -> std::result::Result<Vec<ForwardedElement>, HeaderParseError> {
    let mut elements = Vec::new();
    let mut total = 0usize;
    for value in headers.get_all(FORWARDED) {
        total = total.saturating_add(value.len());
        if total > MAX_LEN {
            return Err(HeaderParseError::new(
                "the Forwarded fields are too long",
                MAX_LEN,
            ));
        }
        let text = value
            .to_str()
            .map_err(|_| HeaderParseError::new("a Forwarded field is not text", 0))?;
        parse_into(text, &mut elements)?;
    }
    Ok(elements)
}

fn parse_into(
    value: &str,
    elements: &mut Vec<ForwardedElement>,
) -> std::result::Result<(), HeaderParseError> {
    if value.len() > MAX_LEN {
        return Err(HeaderParseError::new(
            "the Forwarded field is too long",
            MAX_LEN,
        ));
    }
    let mut cursor = Cursor::new(value);
    let mut element = ForwardedElement::default();
    let mut empty = true;
    loop {
        cursor.skip_ows();
        match cursor.peek() {
            None | Some(b',') => {
                if !empty {
                    if elements.len() >= MAX_ELEMENTS {
                        return Err(cursor.error("too many Forwarded elements"));
                    }
                    elements.push(std::mem::take(&mut element));
                    empty = true;
                }
                if !cursor.eat(b',') {
                    return Ok(());
                }
                continue;
            }
            Some(b';') => {
                cursor.eat(b';');
                continue;
            }
            Some(_) => {}
        }
        let at = cursor.offset();
        let mut name = cursor.token()?.to_owned();
        name.make_ascii_lowercase();
        if !cursor.eat(b'=') {
            return Err(cursor.error("expected '=' after a Forwarded parameter name"));
        }
        let value = cursor.token_or_quoted()?;
        let node =
            |value: &str| Node::from_str(value).map_err(|e| HeaderParseError::new(e.reason(), at));
        let repeated = match name.as_str() {
            "for" => element.for_node.replace(node(&value)?).is_some(),
            "by" => element.by.replace(node(&value)?).is_some(),
            "host" => element.host.replace(value).is_some(),
            "proto" => {
                if !is_scheme(&value) {
                    return Err(HeaderParseError::new("proto is not a URI scheme", at));
                }
                element.proto.replace(value).is_some()
            }
            _ => {
                let repeated = element.extensions.iter().any(|(n, _)| *n == name);
                if !repeated && element.extensions.len() >= MAX_EXTENSIONS {
                    return Err(cursor.error("too many Forwarded extension parameters"));
                }
                element.extensions.push((name, value));
                repeated
            }
        };
        if repeated {
            return Err(HeaderParseError::new(
                "a parameter appears twice in one Forwarded element",
                at,
            ));
        }
        empty = false;
        cursor.skip_ows();
        if !matches!(cursor.peek(), None | Some(b',' | b';')) {
            return Err(cursor.error("expected ';' or ',' after a Forwarded parameter"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rfc_examples() {
        let hops = parse(r#"for="_gazonk""#).unwrap();
        assert_eq!(hops[0].for_node, Some(Node::obfuscated("_gazonk").unwrap()));
        let hops = parse(r#"For="[2001:db8:cafe::17]:4711""#).unwrap();
        assert_eq!(
            hops[0].for_node,
            Some(Node::socket("[2001:db8:cafe::17]:4711".parse().unwrap()))
        );
        let hops = parse("for=192.0.2.60;proto=http;by=203.0.113.43").unwrap();
        assert_eq!(hops[0].proto.as_deref(), Some("http"));
        assert_eq!(hops[0].by, Some(Node::ip("203.0.113.43".parse().unwrap())));
        let hops = parse("for=192.0.2.43, for=198.51.100.17").unwrap();
        assert_eq!(hops.len(), 2);
        let hops = parse(r#"for=unknown;by="_a:_p", for="10.0.0.1:8080";ext="x y""#).unwrap();
        assert_eq!(hops[0].for_node, Some(Node::unknown()));
        assert_eq!(
            hops[0].by,
            Some(
                Node::obfuscated("_a")
                    .unwrap()
                    .with_port(NodePort::Obfuscated("_p".into()))
            )
        );
        assert_eq!(hops[1].extensions, [("ext".to_owned(), "x y".to_owned())]);
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "for=2001:db8::1",
            r#"for="[2001:db8::1""#,
            "for=192.0.2.1:99999",
            "for=192.0.2.1:",
            "for=_",
            "for=host.example",
            "for=1.2.3.4;for=5.6.7.8",
            "proto=1http",
            "for",
            "for=1.2.3.4 by=1.2.3.4",
            r#"for="1.2.3.4"#,
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&"for=1.2.3.4,".repeat(MAX_ELEMENTS + 1)).is_err());
        assert!(parse(&" ".repeat(MAX_LEN + 1)).is_err());
        assert_eq!(parse(" , ;, ").unwrap(), []);
    }

    #[test]
    fn writes_what_it_parses_quoting_ipv6_and_ports() {
        let hops = vec![
            ForwardedElement {
                for_node: Some(Node::socket("[2001:db8::17]:4711".parse().unwrap())),
                by: Some(Node::obfuscated("_proxy").unwrap()),
                proto: Some("https".into()),
                host: Some("example.com:8443".into()),
                extensions: vec![("note".into(), "a \"quoted\" value".into())],
            },
            ForwardedElement {
                for_node: Some(Node::ip("192.0.2.1".parse().unwrap())),
                ..ForwardedElement::default()
            },
        ];
        let value = to_header_value(&hops).unwrap();
        assert_eq!(
            value,
            r#"by=_proxy;for="[2001:db8::17]:4711";host="example.com:8443";proto=https;note="a \"quoted\" value", for=192.0.2.1"#
        );
        assert_eq!(parse(value.to_str().unwrap()).unwrap(), hops);
        let bad_proto = ForwardedElement {
            proto: Some("ht tp".into()),
            ..ForwardedElement::default()
        };
        assert!(to_header_value(&[bad_proto]).unwrap_err().is_builder());
    }
}
