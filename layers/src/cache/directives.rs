//! The few `Cache-Control` directives that `http-cache-semantics` does not act on.
//!
//! The crate decides freshness, storability and revalidation; this parser only reads what the
//! layer adds on top: the RFC 5861 windows (`stale-while-revalidate`, `stale-if-error`),
//! `only-if-cached`, and the directives that forbid serving stale (`no-cache`,
//! `must-revalidate`, request `max-age`). It is a plain function over header values: it never
//! panics, skips values longer than [`MAX_HEADER_LEN`], and clamps numbers at 2³¹ seconds
//! (RFC 9111 §1.2.2).

use std::time::Duration;

use http::{
    HeaderMap,
    header::{CACHE_CONTROL, PRAGMA},
};

/// The longest `Cache-Control` value read; longer values are ignored as hostile.
pub const MAX_HEADER_LEN: usize = 8 * 1024;

/// The largest delta-seconds value kept (RFC 9111 §1.2.2): larger values mean "2³¹".
const MAX_DELTA_SECONDS: u64 = 1 << 31;

/// The directives of one message's `Cache-Control` (and `Pragma`) header fields that the
/// layer reads itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directives {
    /// `no-cache` (or, in a request without `Cache-Control`, `Pragma: no-cache`).
    pub no_cache: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `only-if-cached` (a request directive).
    pub only_if_cached: bool,
    /// `must-understand` (a response directive, RFC 9111 §5.2.2.3).
    pub must_understand: bool,
    /// `max-age` with a valid value.
    pub max_age: Option<Duration>,
    /// `stale-while-revalidate` with a valid value (RFC 5861 §3).
    pub stale_while_revalidate: Option<Duration>,
    /// `stale-if-error` with a valid value (RFC 5861 §4).
    pub stale_if_error: Option<Duration>,
}

/// Parses the `Cache-Control` header fields in `headers`, and `Pragma: no-cache` when there
/// is no `Cache-Control` field.
pub fn parse_directives(headers: &HeaderMap) -> Directives {
    let mut directives = Directives::default();
    let mut any = false;
    for value in headers.get_all(CACHE_CONTROL) {
        any = true;
        let bytes = value.as_bytes();
        if bytes.len() > MAX_HEADER_LEN {
            continue;
        }
        for part in bytes.split(|&b| b == b',') {
            let (name, argument) = match part.iter().position(|&b| b == b'=') {
                Some(at) => (&part[..at], Some(&part[at + 1..])),
                None => (part, None),
            };
            let name = name.trim_ascii();
            let seconds = argument.and_then(delta_seconds);
            if name.eq_ignore_ascii_case(b"no-cache") {
                directives.no_cache = true;
            } else if name.eq_ignore_ascii_case(b"must-revalidate") {
                directives.must_revalidate = true;
            } else if name.eq_ignore_ascii_case(b"only-if-cached") {
                directives.only_if_cached = true;
            } else if name.eq_ignore_ascii_case(b"must-understand") {
                directives.must_understand = true;
            } else if name.eq_ignore_ascii_case(b"max-age") {
                directives.max_age = seconds;
            } else if name.eq_ignore_ascii_case(b"stale-while-revalidate") {
                directives.stale_while_revalidate = seconds;
            } else if name.eq_ignore_ascii_case(b"stale-if-error") {
                directives.stale_if_error = seconds;
            }
        }
    }
    if !any
        && headers.get_all(PRAGMA).iter().any(|value| {
            value
                .as_bytes()
                .split(|&b| b == b',')
                .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"no-cache"))
        })
    {
        directives.no_cache = true;
    }
    directives
}

/// Parses a delta-seconds argument, optionally quoted; `None` when it is not all digits.
fn delta_seconds(argument: &[u8]) -> Option<Duration> {
    let argument = argument.trim_ascii();
    let argument = argument
        .strip_prefix(b"\"")
        .and_then(|rest| rest.strip_suffix(b"\""))
        .unwrap_or(argument);
    if argument.is_empty() || !argument.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut seconds: u64 = 0;
    for digit in argument {
        seconds = seconds
            .saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'));
    }
    Some(Duration::from_secs(seconds.min(MAX_DELTA_SECONDS)))
}

/// Reads the `Age` field: the first member of a list (RFC 9111 §5.1), and of that the leading
/// digits, so `7200.0` or `7200;x` count as 7200 seconds — the larger, safer age — while a
/// value with no leading digit is ignored. `None` when missing or ignored.
pub(super) fn age_header(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::AGE)?.as_bytes();
    let first = value.split(|&b| b == b',').next()?.trim_ascii();
    let digits = first.iter().take_while(|b| b.is_ascii_digit()).count();
    delta_seconds(&first[..digits])
}
