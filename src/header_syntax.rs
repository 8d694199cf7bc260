//! The RFC 9110 §5.6 building blocks the header helpers share: tokens, quoted strings, and a
//! cursor over a field value that never reads past its end.

use std::fmt;

/// A malformed header field value, with what was wrong and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderParseError {
    what: &'static str,
    at: usize,
}

impl HeaderParseError {
    pub(crate) fn new(what: &'static str, at: usize) -> Self {
        Self { what, at }
    }

    /// What was wrong.
    pub fn reason(&self) -> &'static str {
        self.what
    }

    /// The byte offset in the value where it was found.
    pub fn offset(&self) -> usize {
        self.at
    }
}

impl fmt::Display for HeaderParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed header value at byte {}: {}",
            self.at, self.what
        )
    }
}

impl std::error::Error for HeaderParseError {}

pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// An RFC 9110 token.
pub(crate) fn is_token(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(is_tchar)
}

/// `value` as a token when it is one, else as a quoted string (`"` and `\` escaped).
pub(crate) fn write_token_or_quoted(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    if is_token(value) {
        f.write_str(value)
    } else {
        write_quoted(f, value)
    }
}

pub(crate) fn write_quoted(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in value.chars() {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

/// Whether `value` can be written in a quoted string: visible ASCII, spaces and tabs, and
/// obs-text (what a header value may carry).
pub(crate) fn quotable(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)
}

/// A position in a field value.
pub(crate) struct Cursor<'a> {
    value: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(value: &'a str) -> Self {
        Self { value, at: 0 }
    }

    pub(crate) fn offset(&self) -> usize {
        self.at
    }

    pub(crate) fn error(&self, what: &'static str) -> HeaderParseError {
        HeaderParseError::new(what, self.at)
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.value.as_bytes().get(self.at).copied()
    }

    pub(crate) fn at_end(&self) -> bool {
        self.at >= self.value.len()
    }

    /// Skips optional whitespace (spaces and tabs).
    pub(crate) fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    /// Consumes `byte` if it is next.
    pub(crate) fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// Consumes bytes while `accept` says so; the (possibly empty) run.
    pub(crate) fn take_while(&mut self, accept: impl Fn(u8) -> bool) -> &'a str {
        let start = self.at;
        while self.peek().is_some_and(&accept) {
            self.at += 1;
        }
        // Only ASCII bytes are accepted by every caller, so the run ends on a char boundary;
        // `get` keeps that a checked assumption.
        self.value.get(start..self.at).unwrap_or_default()
    }

    pub(crate) fn token(&mut self) -> Result<&'a str, HeaderParseError> {
        let token = self.take_while(is_tchar);
        if token.is_empty() {
            return Err(self.error("expected a token"));
        }
        Ok(token)
    }

    /// A quoted string, unescaped; the cursor must be on its opening quote.
    pub(crate) fn quoted_string(&mut self) -> Result<String, HeaderParseError> {
        if !self.eat(b'"') {
            return Err(self.error("expected a quoted string"));
        }
        let mut out = String::new();
        let mut chars = self.value.get(self.at..).unwrap_or_default().char_indices();
        while let Some((offset, c)) = chars.next() {
            match c {
                '"' => {
                    self.at += offset + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) if escaped != '\r' && escaped != '\n' => out.push(escaped),
                    _ => {
                        self.at += offset;
                        return Err(self.error("a backslash at the end of a quoted string"));
                    }
                },
                '\r' | '\n' | '\0' => {
                    self.at += offset;
                    return Err(self.error("a control character in a quoted string"));
                }
                c => out.push(c),
            }
        }
        self.at = self.value.len();
        Err(self.error("a quoted string is not closed"))
    }

    /// A token or a quoted string, as its value.
    pub(crate) fn token_or_quoted(&mut self) -> Result<String, HeaderParseError> {
        if self.peek() == Some(b'"') {
            self.quoted_string()
        } else {
            self.token().map(str::to_owned)
        }
    }

    /// Everything up to (not including) `end`, which is then consumed.
    pub(crate) fn until(&mut self, end: u8) -> Result<&'a str, HeaderParseError> {
        let rest = self.value.get(self.at..).unwrap_or_default();
        match rest.bytes().position(|b| b == end) {
            Some(len) => {
                let taken = rest.get(..len).unwrap_or_default();
                self.at += len + 1;
                Ok(taken)
            }
            None => Err(self.error("a delimiter is not closed")),
        }
    }
}
