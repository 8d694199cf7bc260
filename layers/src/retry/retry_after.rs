//! The `Retry-After` parser (RFC 9110, section 10.2.3), a plain function over bytes.

use std::time::{Duration, SystemTime};

/// The longest `Retry-After` value (in bytes) the parser reads; an HTTP-date is 29 bytes.
pub const MAX_RETRY_AFTER_LEN: usize = 64;

/// The longest wait a `Retry-After` may ask for before it is deemed absurd: one day.
///
/// A longer wait is treated like an unparsable value (the computed backoff applies), not
/// capped: a server asking for days is broken or hostile, and its number carries no signal.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses a `Retry-After` value: delta-seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, and the obsolete RFC 850 and asctime forms), measured
/// from `now`.
///
/// Returns `None` for anything else: an empty, over-long ([`MAX_RETRY_AFTER_LEN`]) or
/// malformed value, a negative number, or a wait longer than [`MAX_RETRY_AFTER`]. A date in
/// the past means "now" (`Some(Duration::ZERO)`). Leading and trailing spaces and tabs are
/// allowed. Never panics.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
///
/// use towline_layers::retry::parse_retry_after;
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_445_412_400); // 2015-10-21 07:26:40 UTC
/// assert_eq!(parse_retry_after(b"120", now), Some(Duration::from_secs(120)));
/// assert_eq!(
///     parse_retry_after(b"Wed, 21 Oct 2015 07:28:00 GMT", now),
///     Some(Duration::from_secs(80))
/// );
/// assert_eq!(parse_retry_after(b"-1", now), None);
/// assert_eq!(parse_retry_after(b"soon", now), None);
/// ```
pub fn parse_retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    if value.len() > MAX_RETRY_AFTER_LEN {
        return None;
    }
    let value = value.trim_ascii();
    let wait = if !value.is_empty() && value.iter().all(u8::is_ascii_digit) {
        // Digits only, so the one failure left is overflow: absurd, like any huge value.
        let secs = std::str::from_utf8(value).ok()?.parse::<u64>().ok()?;
        Duration::from_secs(secs)
    } else {
        let date = httpdate::parse_http_date(std::str::from_utf8(value).ok()?).ok()?;
        date.duration_since(now).unwrap_or(Duration::ZERO)
    };
    (wait <= MAX_RETRY_AFTER).then_some(wait)
}
