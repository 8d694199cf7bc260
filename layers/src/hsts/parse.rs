//! The `Strict-Transport-Security` header parser (RFC 6797 §6.1): a plain function over
//! bytes, bounded, with checked arithmetic.

use std::{error::Error, fmt, time::Duration};

/// The longest header value parsed; longer ones are refused unread.
pub const MAX_HEADER_LEN: usize = 4096;

/// The longest `max-age` kept: one year, as Chromium does. Larger values (up to any number
/// of digits) are clamped to it.
pub const MAX_AGE_CAP: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The directives of a valid `Strict-Transport-Security` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StsDirectives {
    /// How long the host is known as HTTPS-only, clamped to [`MAX_AGE_CAP`]. Zero means
    /// "forget this host".
    pub max_age: Duration,
    /// Whether the policy covers the host's subdomains too.
    pub include_subdomains: bool,
}

/// Why a `Strict-Transport-Security` header is invalid (and so ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StsError {
    /// The value is longer than [`MAX_HEADER_LEN`].
    TooLong,
    /// The value does not follow the directive grammar.
    Syntax,
    /// No `max-age` directive.
    MissingMaxAge,
    /// `max-age` without a value, or a value that is not all digits.
    InvalidMaxAge,
    /// `includeSubDomains` with a value.
    InvalidIncludeSubDomains,
    /// `max-age` or `includeSubDomains` appears twice.
    Duplicate,
}

impl fmt::Display for StsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooLong => "Strict-Transport-Security header too long",
            Self::Syntax => "malformed Strict-Transport-Security header",
            Self::MissingMaxAge => "Strict-Transport-Security header without max-age",
            Self::InvalidMaxAge => "invalid max-age in Strict-Transport-Security header",
            Self::InvalidIncludeSubDomains => {
                "includeSubDomains with a value in Strict-Transport-Security header"
            }
            Self::Duplicate => "repeated directive in Strict-Transport-Security header",
        })
    }
}

impl Error for StsError {}

/// Parses a `Strict-Transport-Security` header value.
///
/// Directive names are case-insensitive; values are tokens or quoted strings; empty
/// directives (`;;`) are allowed; unknown directives are ignored; `max-age` is required and
/// must be digits (a quoted `"123"` too). `max-age` and `includeSubDomains` may appear only
/// once: a repeat makes the whole header invalid (RFC 6797 §6.1). A `max-age` too large for
/// any integer is clamped to [`MAX_AGE_CAP`], like every value above it.
///
/// ```
/// use std::time::Duration;
///
/// use towline_layers::hsts::{parse_sts, StsError, MAX_AGE_CAP};
///
/// let sts = parse_sts(b"max-age=31536000; includeSubDomains").unwrap();
/// assert_eq!(sts.max_age, Duration::from_secs(31_536_000));
/// assert!(sts.include_subdomains);
///
/// assert_eq!(parse_sts(b"max-age=99999999999999999999999").unwrap().max_age, MAX_AGE_CAP);
/// assert_eq!(parse_sts(b"includeSubDomains"), Err(StsError::MissingMaxAge));
/// assert_eq!(parse_sts(b"max-age=1; max-age=2"), Err(StsError::Duplicate));
/// ```
///
/// # Errors
///
/// [`StsError`] says why the header is invalid; an invalid header must be ignored.
pub fn parse_sts(value: &[u8]) -> Result<StsDirectives, StsError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(StsError::TooLong);
    }
    let mut cursor = Cursor {
        input: value,
        pos: 0,
    };
    let mut max_age: Option<Duration> = None;
    let mut include_subdomains = false;

    loop {
        cursor.skip_whitespace();
        match cursor.peek() {
            None => break,
            Some(b';') => {
                cursor.pos += 1;
                continue;
            }
            Some(_) => {}
        }
        let name = cursor.token().ok_or(StsError::Syntax)?;
        cursor.skip_whitespace();
        let directive_value = if cursor.peek() == Some(b'=') {
            cursor.pos += 1;
            cursor.skip_whitespace();
            Some(cursor.value()?)
        } else {
            None
        };
        cursor.skip_whitespace();
        match cursor.peek() {
            None | Some(b';') => {}
            Some(_) => return Err(StsError::Syntax),
        }

        if name.eq_ignore_ascii_case(b"max-age") {
            if max_age.is_some() {
                return Err(StsError::Duplicate);
            }
            let digits = directive_value.ok_or(StsError::InvalidMaxAge)?;
            max_age = Some(parse_delta_seconds(&digits)?);
        } else if name.eq_ignore_ascii_case(b"includesubdomains") {
            if include_subdomains {
                return Err(StsError::Duplicate);
            }
            if directive_value.is_some() {
                return Err(StsError::InvalidIncludeSubDomains);
            }
            include_subdomains = true;
        }
    }

    Ok(StsDirectives {
        max_age: max_age.ok_or(StsError::MissingMaxAge)?,
        include_subdomains,
    })
}

/// `1*DIGIT` as seconds, saturating, then clamped to [`MAX_AGE_CAP`].
fn parse_delta_seconds(digits: &[u8]) -> Result<Duration, StsError> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(StsError::InvalidMaxAge);
    }
    let seconds = digits.iter().fold(0u64, |acc, &digit| {
        acc.checked_mul(10)
            .and_then(|acc| acc.checked_add(u64::from(digit - b'0')))
            .unwrap_or(u64::MAX)
    });
    Ok(Duration::from_secs(seconds).min(MAX_AGE_CAP))
}

/// A read position in the header value.
struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// `1*tchar`, or `None` when there is none here.
    fn token(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        let token = self.input.get(start..self.pos)?;
        (!token.is_empty()).then_some(token)
    }

    /// A directive value: a token or a quoted string, unquoted.
    fn value(&mut self) -> Result<Vec<u8>, StsError> {
        if self.peek() != Some(b'"') {
            return self.token().map(<[u8]>::to_vec).ok_or(StsError::Syntax);
        }
        self.pos += 1;
        let mut unquoted = Vec::new();
        loop {
            match self.peek() {
                None => return Err(StsError::Syntax),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(unquoted);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = self.peek().ok_or(StsError::Syntax)?;
                    if !is_quoted_pair_char(escaped) {
                        return Err(StsError::Syntax);
                    }
                    unquoted.push(escaped);
                    self.pos += 1;
                }
                Some(byte) if is_qdtext(byte) => {
                    unquoted.push(byte);
                    self.pos += 1;
                }
                Some(_) => return Err(StsError::Syntax),
            }
        }
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// RFC 9110 `qdtext`: HTAB, SP, visible ASCII but `"` and `\`, obs-text.
fn is_qdtext(byte: u8) -> bool {
    matches!(byte, b'\t' | b' ' | 0x21 | 0x23..=0x5B | 0x5D..=0x7E | 0x80..=0xFF)
}

/// What may follow `\` in a quoted string.
fn is_quoted_pair_char(byte: u8) -> bool {
    matches!(byte, b'\t' | b' ' | 0x21..=0x7E | 0x80..=0xFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(value: &str) -> Result<(u64, bool), StsError> {
        parse_sts(value.as_bytes()).map(|sts| (sts.max_age.as_secs(), sts.include_subdomains))
    }

    #[test]
    fn valid_headers() {
        assert_eq!(secs("max-age=0"), Ok((0, false)));
        assert_eq!(secs("max-age=31536000"), Ok((31_536_000, false)));
        assert_eq!(secs("MAX-AGE=10; INCLUDESUBDOMAINS"), Ok((10, true)));
        assert_eq!(secs("includeSubDomains; max-age=10"), Ok((10, true)));
        assert_eq!(
            secs("  max-age = 10 ;  includeSubDomains  ; "),
            Ok((10, true))
        );
        assert_eq!(secs("max-age=\"10\""), Ok((10, false)));
        assert_eq!(secs(";;max-age=10;;"), Ok((10, false)));
        assert_eq!(secs("max-age=10; preload"), Ok((10, false)));
        assert_eq!(secs("max-age=10; ext=\"a;b\\\"c\"; x=y"), Ok((10, false)));
        assert_eq!(secs("max-age=0010"), Ok((10, false)));
    }

    #[test]
    fn huge_max_age_is_clamped() {
        let cap = MAX_AGE_CAP.as_secs();
        assert_eq!(secs("max-age=31536001"), Ok((cap, false)));
        assert_eq!(secs("max-age=18446744073709551615"), Ok((cap, false)));
        assert_eq!(secs("max-age=18446744073709551616"), Ok((cap, false)));
        let digits = "9".repeat(4000);
        assert_eq!(secs(&format!("max-age={digits}")), Ok((cap, false)));
    }

    #[test]
    fn invalid_headers() {
        assert_eq!(secs(""), Err(StsError::MissingMaxAge));
        assert_eq!(secs("includeSubDomains"), Err(StsError::MissingMaxAge));
        assert_eq!(secs("max-age"), Err(StsError::InvalidMaxAge));
        assert_eq!(secs("max-age="), Err(StsError::Syntax));
        assert_eq!(secs("max-age=\"\""), Err(StsError::InvalidMaxAge));
        assert_eq!(secs("max-age=-1"), Err(StsError::InvalidMaxAge));
        assert_eq!(secs("max-age=+1"), Err(StsError::InvalidMaxAge));
        assert_eq!(secs("max-age=1.5"), Err(StsError::InvalidMaxAge));
        assert_eq!(secs("max-age=1e9"), Err(StsError::InvalidMaxAge));
        assert_eq!(secs("max-age=1 2"), Err(StsError::Syntax));
        assert_eq!(secs("max-age=\"10"), Err(StsError::Syntax));
        assert_eq!(secs("max-age=10, includeSubDomains"), Err(StsError::Syntax));
        assert_eq!(secs("max-age=1; max-age=1"), Err(StsError::Duplicate));
        assert_eq!(
            secs("max-age=1; includeSubDomains; includesubdomains"),
            Err(StsError::Duplicate)
        );
        assert_eq!(
            secs("max-age=1; includeSubDomains=yes"),
            Err(StsError::InvalidIncludeSubDomains)
        );
        assert_eq!(secs("=10"), Err(StsError::Syntax));
        assert_eq!(secs("max-age=10; \"quoted\""), Err(StsError::Syntax));
        assert_eq!(secs("max-age=10\u{0}"), Err(StsError::Syntax));
        assert_eq!(secs("max-âge=10"), Err(StsError::Syntax));
        let long = format!("max-age=1; {}", "x".repeat(MAX_HEADER_LEN));
        assert_eq!(secs(&long), Err(StsError::TooLong));
    }

    /// Every byte string made of the grammar's interesting bytes, up to a length, parses to a
    /// value or an error: no panic, and the result never exceeds the cap.
    #[test]
    fn exhaustive_short_inputs_never_panic() {
        const ALPHABET: &[u8] = b"m=;\"\\ 9a-,\x00\xff";
        let mut input = Vec::new();
        fn walk(input: &mut Vec<u8>, depth: usize) {
            if let Ok(sts) = parse_sts(input) {
                assert!(sts.max_age <= MAX_AGE_CAP);
            }
            if depth == 0 {
                return;
            }
            for &byte in ALPHABET {
                input.push(byte);
                walk(input, depth - 1);
                input.pop();
            }
        }
        walk(&mut input, 5);
    }

    #[test]
    fn pseudo_random_inputs_never_panic() {
        let pieces: &[&[u8]] = &[
            b"max-age",
            b"MaX-aGe",
            b"includeSubDomains",
            b"=",
            b";",
            b" ",
            b"\t",
            b"\"",
            b"\\",
            b"0",
            b"9999999999999999999999999",
            b"-",
            b"preload",
            b"\xc3\xa9",
            b"\x00",
            b",",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            let mut input = Vec::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let count = (state % 12) as usize;
            for step in 0..count {
                let index = ((state >> (step * 4 % 60)) as usize) % pieces.len();
                input.extend_from_slice(pieces[index]);
            }
            if let Ok(sts) = parse_sts(&input) {
                assert!(sts.max_age <= MAX_AGE_CAP);
            }
        }
    }
}
