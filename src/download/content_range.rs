//! The `Content-Range` response header (RFC 9110, section 14.4), for byte ranges only: a
//! plain function over bytes, bounded, in checked arithmetic, that never panics.

use std::fmt;

/// The longest header value looked at; a longer one is refused unread (two 20-digit
/// positions, a 20-digit length and the unit fit in well under this).
const MAX_LEN: usize = 128;

/// A parsed `Content-Range` with the `bytes` unit: a plain function over bytes, bounded, in
/// checked arithmetic, that never panics.
///
/// ```
/// use towline::download::ContentRange;
///
/// assert_eq!(
///     ContentRange::parse(b"bytes 0-499/1234"),
///     Ok(ContentRange::Bytes { first: 0, last: 499, complete: Some(1234) })
/// );
/// assert_eq!(ContentRange::parse(b"bytes */1234"), Ok(ContentRange::Unsatisfied { complete: 1234 }));
/// assert!(ContentRange::parse(b"bytes 500-499/1234").is_err()); // last before first
/// assert!(ContentRange::parse(b"bytes 0-1234/1234").is_err()); // past the end
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes first-last/complete`: the inclusive range this response carries, and the whole
    /// representation's length when the server knows it (`*` otherwise).
    Bytes {
        /// The first byte's offset.
        first: u64,
        /// The last byte's offset (inclusive; never before `first`, never at or past
        /// `complete`).
        last: u64,
        /// The whole representation's length, when known.
        complete: Option<u64>,
    },
    /// `bytes */complete`: the requested range cannot be satisfied (with a 416).
    Unsatisfied {
        /// The whole representation's length.
        complete: u64,
    },
}

impl ContentRange {
    /// Parses a `Content-Range` header value.
    ///
    /// # Errors
    ///
    /// When the value is longer than 128 bytes, its unit is not `bytes` (any case), a
    /// position or length is not a decimal number that fits a `u64`, `last` comes before
    /// `first`, or the range reaches `complete` or beyond.
    pub fn parse(value: &[u8]) -> Result<Self, ContentRangeError> {
        if value.len() > MAX_LEN {
            return Err(ContentRangeError("longer than 128 bytes"));
        }
        let value = value.trim_ascii();
        let Some((unit, rest)) = split_once(value, b' ') else {
            return Err(ContentRangeError("no space after the range unit"));
        };
        if !unit.eq_ignore_ascii_case(b"bytes") {
            return Err(ContentRangeError("the range unit is not bytes"));
        }
        let Some((range, complete)) = split_once(rest, b'/') else {
            return Err(ContentRangeError("no '/' before the complete length"));
        };
        if range == b"*" {
            return Ok(Self::Unsatisfied {
                complete: number(complete)?,
            });
        }
        let complete = match complete {
            b"*" => None,
            digits => Some(number(digits)?),
        };
        let Some((first, last)) = split_once(range, b'-') else {
            return Err(ContentRangeError(
                "no '-' between the first and last positions",
            ));
        };
        let (first, last) = (number(first)?, number(last)?);
        if last < first {
            return Err(ContentRangeError(
                "the last position comes before the first",
            ));
        }
        if last.checked_add(1).is_none() {
            return Err(ContentRangeError("the range's length does not fit a u64"));
        }
        if complete.is_some_and(|complete| last >= complete) {
            return Err(ContentRangeError(
                "the range reaches past the complete length",
            ));
        }
        Ok(Self::Bytes {
            first,
            last,
            complete,
        })
    }

    /// The number of bytes a [`Bytes`](Self::Bytes) range carries (none for
    /// [`Unsatisfied`](Self::Unsatisfied)).
    pub fn len(&self) -> u64 {
        match *self {
            // `parse` made sure `first <= last < u64::MAX`.
            Self::Bytes { first, last, .. } => last.saturating_sub(first).saturating_add(1),
            Self::Unsatisfied { .. } => 0,
        }
    }

    /// Whether the range carries no bytes ([`Unsatisfied`](Self::Unsatisfied)).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a `Content-Range` value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRangeError(&'static str);

impl ContentRangeError {
    /// A `206` without the header.
    pub(super) fn missing() -> Self {
        Self("a 206 answer has no Content-Range")
    }
}

impl fmt::Display for ContentRangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed Content-Range: {}", self.0)
    }
}

impl std::error::Error for ContentRangeError {}

fn split_once(value: &[u8], at: u8) -> Option<(&[u8], &[u8])> {
    let index = value.iter().position(|&byte| byte == at)?;
    Some((&value[..index], &value[index + 1..]))
}

/// A non-empty run of ASCII digits, in checked arithmetic.
fn number(digits: &[u8]) -> Result<u64, ContentRangeError> {
    if digits.is_empty() {
        return Err(ContentRangeError("a position or length is empty"));
    }
    digits.iter().try_fold(0u64, |value, &digit| {
        if !digit.is_ascii_digit() {
            return Err(ContentRangeError(
                "a position or length is not a decimal number",
            ));
        }
        value
            .checked_mul(10)
            .and_then(|value| value.checked_add(u64::from(digit - b'0')))
            .ok_or(ContentRangeError("a position or length does not fit a u64"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_rfc_9110_allows() {
        let parse = |v: &str| ContentRange::parse(v.as_bytes());
        assert_eq!(
            parse("bytes 42-1233/*"),
            Ok(ContentRange::Bytes {
                first: 42,
                last: 1233,
                complete: None
            })
        );
        assert_eq!(
            parse("BYTES 0-0/1"),
            Ok(ContentRange::Bytes {
                first: 0,
                last: 0,
                complete: Some(1)
            })
        );
        assert_eq!(
            parse("bytes */0"),
            Ok(ContentRange::Unsatisfied { complete: 0 })
        );
        assert_eq!(
            parse(" bytes 0-18446744073709551613/18446744073709551615 "),
            Ok(ContentRange::Bytes {
                first: 0,
                last: u64::MAX - 2,
                complete: Some(u64::MAX)
            })
        );
        assert_eq!(parse("bytes 10-19/100").map(|r| r.len()), Ok(10));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "bytes",
            "bytes ",
            "items 0-1/2",
            "bytes 0-1",
            "bytes 0-/2",
            "bytes -1/2",
            "bytes 1-0/2",
            "bytes 0-2/2",
            "bytes +0-1/2",
            "bytes 0-1/-2",
            "bytes 0 -1/2",
            "bytes  0-1/2",
            "bytes 0-1/2/3",
            "bytes */*",
            "bytes 0-18446744073709551616/*",
            "bytes 0-18446744073709551615/*",
            "bytes 0-99999999999999999999999/*",
            "bytes 0-1,3-4/5",
        ] {
            assert!(ContentRange::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(ContentRange::parse(&[b'1'; 129]).is_err());
    }
}
