//! Web links: the `Link` header field (RFC 8288), parsed and written, with lookup by relation
//! and the pagination helpers on [`Response`].
//!
//! Parsing is bounded: a value longer than [`MAX_LEN`] bytes, more than [`MAX_LINKS`] links or
//! more than [`MAX_PARAMS`] parameters on one link is an error, as is any malformed link.
//!
//! ```
//! use towline::link::{self, Link};
//!
//! let links = link::parse(r#"<https://api.example/items?page=3>; rel="next", </items?page=1>; rel="first prev""#)?;
//! assert_eq!(links[0].target(), "https://api.example/items?page=3");
//! assert!(links[1].has_rel("prev"));
//! let base = towline::Url::parse("https://api.example/items?page=2")?;
//! assert_eq!(links[1].resolve(&base)?.as_str(), "https://api.example/items?page=1");
//!
//! let written = Link::new("/items?page=4").rel("next").param("title", "Page 4, the last").to_string();
//! assert_eq!(written, r#"</items?page=4>; rel=next; title="Page 4, the last""#);
//! assert_eq!(link::parse(&written)?, [Link::new("/items?page=4").rel("next").param("title", "Page 4, the last")]);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use http::HeaderMap;
use http::header::LINK;

use crate::error::{Error, Result};
pub use crate::header_syntax::HeaderParseError;
use crate::header_syntax::{Cursor, quotable, write_token_or_quoted};
use crate::response::Response;

/// The longest `Link` value (all of a response's `Link` fields together) that is parsed.
pub const MAX_LEN: usize = 16 * 1024;
/// The most links in one response.
pub const MAX_LINKS: usize = 128;
/// The most parameters on one link.
pub const MAX_PARAMS: usize = 16;

/// One link: a target URI reference and its parameters (`rel`, `title`, `type`, `anchor`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    target: String,
    params: Vec<(String, String)>,
}

impl Link {
    /// A link to `target`, a URI reference (relative to the response's URL when relative),
    /// with no parameters.
    pub fn new(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            params: Vec::new(),
        }
    }

    /// This link with the parameter `name` (lower-cased) set to `value`.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let mut name = name.into();
        name.make_ascii_lowercase();
        self.params.push((name, value.into()));
        self
    }

    /// This link with the relation type `rel` (several separated by spaces).
    pub fn rel(self, rel: impl Into<String>) -> Self {
        self.param("rel", rel)
    }

    /// The target, as written.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The value of the parameter `name` (case-insensitive); when repeated, the first one, as
    /// RFC 8288 §3 says of `rel`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The parameters in order, names lower-cased.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The relation types (the first `rel` parameter, split at whitespace).
    pub fn rels(&self) -> impl Iterator<Item = &str> {
        self.get("rel").unwrap_or_default().split_ascii_whitespace()
    }

    /// Whether `rel` is one of the relation types (ASCII case-insensitive, RFC 8288 §2.1.1).
    pub fn has_rel(&self, rel: &str) -> bool {
        self.rels().any(|r| r.eq_ignore_ascii_case(rel))
    }

    /// The target resolved against `base` (the URL of the response that carried the link).
    ///
    /// # Errors
    ///
    /// A decode error when the target is not a URI reference.
    pub fn resolve(&self, base: &url::Url) -> Result<url::Url> {
        base.join(&self.target)
            .map_err(|e| Error::decode(format!("link target {:?}: {e}", self.target)))
    }

    fn check(&self) -> std::result::Result<(), HeaderParseError> {
        if self
            .target
            .bytes()
            .any(|b| b == b'>' || !(0x21..=0x7e).contains(&b))
        {
            return Err(HeaderParseError::new(
                "a link target must be a URI reference",
                0,
            ));
        }
        for (name, value) in &self.params {
            if !crate::header_syntax::is_token(name) || !quotable(value) {
                return Err(HeaderParseError::new(
                    "a link parameter cannot be written",
                    0,
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Link {
    /// Writes `<target>; name=value; …`, quoting values that are not tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.target)?;
        for (name, value) in &self.params {
            write!(f, "; {name}=")?;
            write_token_or_quoted(f, value)?;
        }
        Ok(())
    }
}

/// A `Link` field value for `links`, checked: targets without spaces, controls or `>`, and
/// parameter names that are tokens.
///
/// # Errors
///
/// A builder error when a link cannot be written as a header value.
pub fn to_header_value(links: &[Link]) -> Result<http::HeaderValue> {
    let mut value = String::new();
    for (i, link) in links.iter().enumerate() {
        link.check().map_err(Error::builder)?;
        if i > 0 {
            value.push_str(", ");
        }
        value.push_str(&link.to_string());
    }
    http::HeaderValue::try_from(value).map_err(Error::builder)
}

/// Parses a `Link` field value (RFC 8288 §3): `<target>; param=value, …`. Empty list elements
/// are skipped (RFC 9110 §5.6.1); parameter names are lower-cased; a parameter without a
/// value has the empty value.
///
/// # Errors
///
/// When the value is malformed or over the bounds ([`MAX_LEN`], [`MAX_LINKS`], [`MAX_PARAMS`]).
pub fn parse(value: &str) -> std::result::Result<Vec<Link>, HeaderParseError> {
    let mut links = Vec::new();
    parse_into(value, &mut links)?;
    Ok(links)
}

/// Parses every `Link` field of `headers`, in order, within the same bounds as [`parse`]
/// (counted over all the fields together).
///
/// # Errors
///
/// As [`parse`]; a field that is not text is malformed.
pub fn parse_headers(headers: &HeaderMap) -> std::result::Result<Vec<Link>, HeaderParseError> {
    let mut links = Vec::new();
    let mut total = 0usize;
    for value in headers.get_all(LINK) {
        total = total.saturating_add(value.len());
        if total > MAX_LEN {
            return Err(HeaderParseError::new(
                "the Link fields are too long",
                MAX_LEN,
            ));
        }
        let text = value
            .to_str()
            .map_err(|_| HeaderParseError::new("a Link field is not text", 0))?;
        parse_into(text, &mut links)?;
    }
    Ok(links)
}

fn parse_into(value: &str, links: &mut Vec<Link>) -> std::result::Result<(), HeaderParseError> {
    if value.len() > MAX_LEN {
        return Err(HeaderParseError::new("the Link field is too long", MAX_LEN));
    }
    let mut cursor = Cursor::new(value);
    loop {
        cursor.skip_ows();
        if cursor.at_end() {
            return Ok(());
        }
        if cursor.eat(b',') {
            continue;
        }
        if links.len() >= MAX_LINKS {
            return Err(cursor.error("too many links"));
        }
        if !cursor.eat(b'<') {
            return Err(cursor.error("expected '<' to open a link target"));
        }
        let target = cursor.until(b'>')?.trim();
        let mut link = Link::new(target);
        loop {
            cursor.skip_ows();
            if !cursor.eat(b';') {
                break;
            }
            cursor.skip_ows();
            if link.params.len() >= MAX_PARAMS {
                return Err(cursor.error("too many link parameters"));
            }
            let mut name = cursor.token()?.to_owned();
            name.make_ascii_lowercase();
            cursor.skip_ows();
            let value = if cursor.eat(b'=') {
                cursor.skip_ows();
                cursor.token_or_quoted()?
            } else {
                String::new()
            };
            link.params.push((name, value));
        }
        links.push(link);
        cursor.skip_ows();
        if !cursor.at_end() && !cursor.eat(b',') {
            return Err(cursor.error("expected ',' between links"));
        }
    }
}

/// Links and pagination.
impl Response {
    /// The links of the `Link` fields (see [`crate::link`]).
    ///
    /// # Errors
    ///
    /// A decode error when a `Link` field is malformed or over the bounds.
    pub fn links(&self) -> Result<Vec<Link>> {
        parse_headers(self.headers()).map_err(|e| Error::decode(e).with_url(self.url().clone()))
    }

    /// The target of the first link whose relation types include `rel`, resolved against this
    /// response's URL: `link_url("next")` is the next page of a paginated API (RFC 8288
    /// §6.2.2's `next`, `prev`, `first`, `last`). `None` without such a link, or when the
    /// `Link` fields do not parse.
    pub fn link_url(&self, rel: &str) -> Option<url::Url> {
        let links = parse_headers(self.headers()).ok()?;
        let link = links.iter().find(|link| link.has_rel(rel))?;
        link.resolve(self.url()).ok()
    }

    /// The next page of a paginated response: [`link_url("next")`](Self::link_url).
    pub fn next_page_url(&self) -> Option<url::Url> {
        self.link_url("next")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rfc_examples() {
        let links = parse(
            r#"<http://example.com/TheBook/chapter2>; rel="previous"; title="previous chapter""#,
        )
        .unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].target(), "http://example.com/TheBook/chapter2");
        assert!(links[0].has_rel("Previous"));
        assert_eq!(links[0].get("title"), Some("previous chapter"));

        let links = parse(
            r##"</>; rel="http://example.net/foo", </terms>; rel="copyright"; anchor="#foo""##,
        )
        .unwrap();
        assert_eq!(links.len(), 2);
        assert_eq!(links[1].get("anchor"), Some("#foo"));

        let links =
            parse(r#"<http://example.org/>; rel="start http://example.net/relation/other""#)
                .unwrap();
        assert_eq!(
            links[0].rels().collect::<Vec<_>>(),
            ["start", "http://example.net/relation/other"]
        );
    }

    #[test]
    fn first_rel_wins_and_flags_have_empty_values() {
        let links = parse("<a>; rel=next; rel=prev; crossorigin").unwrap();
        assert!(links[0].has_rel("next") && !links[0].has_rel("prev"));
        assert_eq!(links[0].get("crossorigin"), Some(""));
    }

    #[test]
    fn rejects_malformed_and_oversized_values() {
        for bad in [
            "a>; rel=next",
            "<a; rel=next",
            "<a>; rel=\"open",
            "<a>; =x",
            "<a> rel=next",
            "<a>; rel=next <b>",
            "<a>; rel=\"x\\",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let many = "<a>, ".repeat(MAX_LINKS + 1);
        assert_eq!(parse(&many).unwrap_err().reason(), "too many links");
        let params = format!("<a>{}", "; p=1".repeat(MAX_PARAMS + 1));
        assert_eq!(
            parse(&params).unwrap_err().reason(),
            "too many link parameters"
        );
        assert!(parse(&"<a>".repeat(MAX_LEN)).is_err());
        assert_eq!(parse(" , ,").unwrap(), []);
    }

    #[test]
    fn writes_what_it_parses() {
        let links = vec![
            Link::new("/p?page=2").rel("next"),
            Link::new("https://e.example/x")
                .rel("alternate")
                .param("Title", "say \"hi\" \\ there"),
        ];
        let value = to_header_value(&links).unwrap();
        assert_eq!(parse(value.to_str().unwrap()).unwrap(), links);
        assert!(
            to_header_value(&[Link::new("a b")])
                .unwrap_err()
                .is_builder()
        );
        assert!(to_header_value(&[Link::new("a").param("bad name", "x")]).is_err());
    }
}
