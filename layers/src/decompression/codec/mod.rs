//! Push decoders for each coding: fed encoded bytes and an output buffer, each step reports
//! how much it read and wrote, so the body decodes a bounded amount at a time.

#[cfg(feature = "decompression-br")]
mod brotli;
#[cfg(feature = "decompression-deflate")]
mod deflate;
#[cfg(any(feature = "decompression-gzip", feature = "decompression-deflate"))]
mod flate;
#[cfg(feature = "decompression-gzip")]
pub(super) mod gzip;
#[cfg(feature = "decompression-zstd")]
mod zstd;

use super::{DecompressionError, Encoding};

/// What one decoding step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Progress {
    /// Input bytes consumed (decoded, parsed or discarded).
    pub(super) read: usize,
    /// Output bytes written to the start of the output buffer.
    pub(super) written: usize,
}

/// The decoder of one coding.
///
/// A step that fills the whole output buffer may have more output pending: the caller steps
/// again, with or without new input, until a step leaves room in the buffer.
pub(super) enum Decoder {
    #[cfg(feature = "decompression-gzip")]
    Gzip(Box<gzip::GzipDecoder>),
    #[cfg(feature = "decompression-deflate")]
    Deflate(Box<deflate::DeflateDecoder>),
    #[cfg(feature = "decompression-br")]
    Brotli(Box<brotli::BrotliDecoder>),
    #[cfg(feature = "decompression-zstd")]
    Zstd(zstd::ZstdDecoder),
    /// Lets the enum exist, and its matches stay exhaustive, in a build without codecs.
    #[allow(dead_code)]
    Unavailable(std::convert::Infallible),
}

impl Decoder {
    /// A decoder for `encoding`; an error if this build lacks it (callers check first).
    pub(super) fn new(encoding: Encoding) -> Result<Self, DecompressionError> {
        match encoding {
            #[cfg(feature = "decompression-gzip")]
            Encoding::Gzip => Ok(Self::Gzip(Box::default())),
            #[cfg(feature = "decompression-deflate")]
            Encoding::Deflate => Ok(Self::Deflate(Box::default())),
            #[cfg(feature = "decompression-br")]
            Encoding::Br => Ok(Self::Brotli(Box::default())),
            #[cfg(feature = "decompression-zstd")]
            Encoding::Zstd => zstd::ZstdDecoder::new().map(Self::Zstd),
            #[allow(unreachable_patterns)]
            other => Err(DecompressionError::corrupt(
                other,
                "this build has no decoder for the coding",
            )),
        }
    }

    /// The coding this decoder undoes.
    pub(super) fn encoding(&self) -> Encoding {
        match self {
            #[cfg(feature = "decompression-gzip")]
            Self::Gzip(_) => Encoding::Gzip,
            #[cfg(feature = "decompression-deflate")]
            Self::Deflate(_) => Encoding::Deflate,
            #[cfg(feature = "decompression-br")]
            Self::Brotli(_) => Encoding::Br,
            #[cfg(feature = "decompression-zstd")]
            Self::Zstd(_) => Encoding::Zstd,
            Self::Unavailable(never) => match *never {},
        }
    }

    /// Decodes from `input` into `output`.
    #[cfg_attr(
        not(any(
            feature = "decompression-gzip",
            feature = "decompression-deflate",
            feature = "decompression-br",
            feature = "decompression-zstd"
        )),
        allow(unused_variables)
    )]
    pub(super) fn decode(
        &mut self,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<Progress, DecompressionError> {
        match self {
            #[cfg(feature = "decompression-gzip")]
            Self::Gzip(decoder) => decoder.decode(input, output),
            #[cfg(feature = "decompression-deflate")]
            Self::Deflate(decoder) => decoder.decode(input, output),
            #[cfg(feature = "decompression-br")]
            Self::Brotli(decoder) => decoder.decode(input, output),
            #[cfg(feature = "decompression-zstd")]
            Self::Zstd(decoder) => decoder.decode(input, output),
            Self::Unavailable(never) => match *never {},
        }
    }

    /// Called when the input has ended (after at least one byte of it): whether the encoded
    /// stream was complete.
    pub(super) fn finish(&self) -> Result<(), DecompressionError> {
        match self {
            #[cfg(feature = "decompression-gzip")]
            Self::Gzip(decoder) => decoder.finish(),
            #[cfg(feature = "decompression-deflate")]
            Self::Deflate(decoder) => decoder.finish(),
            #[cfg(feature = "decompression-br")]
            Self::Brotli(decoder) => decoder.finish(),
            #[cfg(feature = "decompression-zstd")]
            Self::Zstd(decoder) => decoder.finish(),
            Self::Unavailable(never) => match *never {},
        }
    }
}
