//! The error a decompressed response body ends with when it cannot be decoded.

use std::{borrow::Cow, error::Error, fmt};

use super::Encoding;
use crate::BoxError;

/// What went wrong while decoding a response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecompressionErrorKind {
    /// The encoded data is invalid for its coding (a bad header, checksum or stream), or uses a
    /// feature the decoder refuses (a zstd window over 8 MiB, a preset dictionary).
    Corrupt,
    /// The body ended before the encoded stream did.
    Truncated,
    /// The decoded body grew past the configured maximum size
    /// ([`DecompressionLayer::max_size`](super::DecompressionLayer::max_size)).
    SizeLimit,
    /// The decoded body grew more than the configured maximum ratio larger than the encoded
    /// bytes read so far ([`DecompressionLayer::max_ratio`](super::DecompressionLayer::max_ratio)).
    RatioLimit,
}

#[derive(Debug)]
enum Detail {
    Message(Cow<'static, str>),
    Size { limit: u64 },
    Ratio { limit: u32, encoded: u64 },
}

/// A response body could not be decoded: it was corrupt or truncated, or decoding it went past
/// a decompression-bomb limit.
///
/// The body yields it as its last frame, boxed as a [`BoxError`]; find it with
/// [`find_cause`](crate::error::find_cause)`::<DecompressionError>`.
#[derive(Debug)]
pub struct DecompressionError {
    kind: DecompressionErrorKind,
    encoding: Encoding,
    detail: Detail,
    source: Option<BoxError>,
}

impl DecompressionError {
    pub(super) fn corrupt(encoding: Encoding, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind: DecompressionErrorKind::Corrupt,
            encoding,
            detail: Detail::Message(message.into()),
            source: None,
        }
    }

    /// A corrupt stream, as reported by the codec's own error.
    #[cfg_attr(
        not(any(
            feature = "decompression-gzip",
            feature = "decompression-deflate",
            feature = "decompression-zstd"
        )),
        allow(dead_code)
    )]
    pub(super) fn codec(encoding: Encoding, source: impl Into<BoxError>) -> Self {
        let source = source.into();
        Self {
            kind: DecompressionErrorKind::Corrupt,
            encoding,
            detail: Detail::Message(source.to_string().into()),
            source: Some(source),
        }
    }

    #[cfg_attr(
        not(any(
            feature = "decompression-gzip",
            feature = "decompression-deflate",
            feature = "decompression-br",
            feature = "decompression-zstd"
        )),
        allow(dead_code)
    )]
    pub(super) fn truncated(encoding: Encoding) -> Self {
        Self {
            kind: DecompressionErrorKind::Truncated,
            encoding,
            detail: Detail::Message(Cow::Borrowed("")),
            source: None,
        }
    }

    pub(super) fn size_limit(encoding: Encoding, limit: u64) -> Self {
        Self {
            kind: DecompressionErrorKind::SizeLimit,
            encoding,
            detail: Detail::Size { limit },
            source: None,
        }
    }

    pub(super) fn ratio_limit(encoding: Encoding, limit: u32, encoded: u64) -> Self {
        Self {
            kind: DecompressionErrorKind::RatioLimit,
            encoding,
            detail: Detail::Ratio { limit, encoded },
            source: None,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> DecompressionErrorKind {
        self.kind
    }

    /// The coding being undone when it went wrong.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Whether a decompression-bomb limit stopped the body (as opposed to bad input).
    pub fn is_limit(&self) -> bool {
        matches!(
            self.kind,
            DecompressionErrorKind::SizeLimit | DecompressionErrorKind::RatioLimit
        )
    }
}

impl fmt::Display for DecompressionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let encoding = self.encoding;
        match (&self.kind, &self.detail) {
            (DecompressionErrorKind::Truncated, _) => write!(
                f,
                "{encoding} response body ended before the end of its compressed stream"
            ),
            (_, Detail::Size { limit }) => write!(
                f,
                "decompressed response body ({encoding}) exceeds the limit of {limit} bytes"
            ),
            (_, Detail::Ratio { limit, encoded }) => write!(
                f,
                "decompressed response body ({encoding}) is more than {limit} times larger than \
                 the {encoded} compressed bytes it came from"
            ),
            (_, Detail::Message(message)) => {
                write!(f, "invalid {encoding} response body: {message}")
            }
        }
    }
}

impl Error for DecompressionError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn Error + 'static))
    }
}
