//! Decompression-bomb limits: a maximum decoded size and a maximum decoded-to-encoded ratio.

use super::{DecompressionError, Encoding};

/// Default [`DecompressionLayer::max_size`](super::DecompressionLayer::max_size): 256 MiB.
pub const DEFAULT_MAX_SIZE: u64 = 256 * 1024 * 1024;

/// Default [`DecompressionLayer::max_ratio`](super::DecompressionLayer::max_ratio): 1000 decoded
/// bytes per encoded byte, just under deflate's own ceiling of about 1032.
pub const DEFAULT_MAX_RATIO: u32 = 1000;

/// Bodies are never held to the ratio limit before they have decoded this much (1 MiB): small,
/// very repetitive bodies compress far beyond any ratio and are harmless.
pub const RATIO_CHECK_AFTER: u64 = 1024 * 1024;

/// The most a decoder writes in one step (32 KiB): the size of the frames a decoded body yields.
pub(super) const CHUNK: usize = 32 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    pub(super) max_size: Option<u64>,
    pub(super) max_ratio: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_size: Some(DEFAULT_MAX_SIZE),
            max_ratio: Some(DEFAULT_MAX_RATIO),
        }
    }
}

impl Limits {
    /// How much the next decoding step may write when `decoded` bytes were written before: at
    /// most [`CHUNK`], and never more than one byte past the size limit, so an oversized body
    /// is caught before more than that was decoded.
    pub(super) fn step_len(&self, decoded: u64) -> usize {
        match self.max_size {
            Some(max) => {
                let allowed = max.saturating_sub(decoded).saturating_add(1);
                usize::try_from(allowed).map_or(CHUNK, |allowed| allowed.min(CHUNK))
            }
            None => CHUNK,
        }
    }

    /// Checks `decoded` bytes of output against the limits, `encoded` being the bytes of the
    /// response body read so far.
    pub(super) fn check(
        &self,
        encoding: Encoding,
        decoded: u64,
        encoded: u64,
    ) -> Result<(), DecompressionError> {
        if let Some(max) = self.max_size
            && decoded > max
        {
            return Err(DecompressionError::size_limit(encoding, max));
        }
        if let Some(ratio) = self.max_ratio
            && decoded > RATIO_CHECK_AFTER
            && decoded > u64::from(ratio).saturating_mul(encoded.max(1))
        {
            return Err(DecompressionError::ratio_limit(encoding, ratio, encoded));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decompression::DecompressionErrorKind;

    fn kind(result: Result<(), DecompressionError>) -> Option<DecompressionErrorKind> {
        result.err().map(|err| err.kind())
    }

    #[test]
    fn step_len_stops_one_byte_past_the_size_limit() {
        let limits = Limits {
            max_size: Some(100),
            max_ratio: None,
        };
        assert_eq!(limits.step_len(0), 101);
        assert_eq!(limits.step_len(100), 1);
        assert_eq!(limits.step_len(500), 1);
        let big = Limits {
            max_size: Some(u64::MAX),
            max_ratio: None,
        };
        assert_eq!(big.step_len(0), CHUNK);
        assert_eq!(big.step_len(u64::MAX), 1);
        let none = Limits {
            max_size: None,
            max_ratio: None,
        };
        assert_eq!(none.step_len(u64::MAX), CHUNK);
    }

    #[test]
    fn size_limit() {
        let limits = Limits {
            max_size: Some(1000),
            max_ratio: None,
        };
        assert_eq!(kind(limits.check(Encoding::Gzip, 1000, 1)), None);
        assert_eq!(
            kind(limits.check(Encoding::Gzip, 1001, 1)),
            Some(DecompressionErrorKind::SizeLimit)
        );
    }

    #[test]
    fn ratio_limit_applies_after_the_grace_size() {
        let limits = Limits {
            max_size: None,
            max_ratio: Some(10),
        };
        // Any ratio below the grace size.
        assert_eq!(kind(limits.check(Encoding::Br, RATIO_CHECK_AFTER, 0)), None);
        let over = RATIO_CHECK_AFTER + 1;
        assert_eq!(
            kind(limits.check(Encoding::Br, over, over / 10)),
            Some(DecompressionErrorKind::RatioLimit)
        );
        assert_eq!(kind(limits.check(Encoding::Br, over, over / 10 + 1)), None);
        // No overflow at the extremes.
        assert_eq!(
            kind(limits.check(Encoding::Br, u64::MAX, 0)),
            Some(DecompressionErrorKind::RatioLimit)
        );
        let max_ratio = Limits {
            max_size: None,
            max_ratio: Some(u32::MAX),
        };
        assert_eq!(
            kind(max_ratio.check(Encoding::Br, u64::MAX, u64::MAX)),
            None
        );
    }

    #[test]
    fn defaults() {
        let limits = Limits::default();
        assert_eq!(limits.max_size, Some(DEFAULT_MAX_SIZE));
        assert_eq!(limits.max_ratio, Some(DEFAULT_MAX_RATIO));
    }
}
