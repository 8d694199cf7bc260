//! `zstd`: Zstandard (RFC 8878) through the reference C library, as RFC 9659 profiles it for
//! HTTP.

use zstd::stream::raw::{DParameter, Decoder, InBuffer, Operation, OutBuffer};

use super::{super::Encoding, DecompressionError, Progress};

/// RFC 9659 §3: a recipient may refuse windows over 8 MiB, and encoders must not exceed it.
/// It bounds the decoder's memory.
const WINDOW_LOG_MAX: u32 = 23;

/// Decodes one or more Zstandard frames (skippable frames included). Anything else after a
/// frame is corrupt input, as for the reference decoder.
pub(crate) struct ZstdDecoder {
    context: Decoder<'static>,
    /// Whether the last step ended a frame with all its output written.
    frame_done: bool,
}

impl ZstdDecoder {
    pub(crate) fn new() -> Result<Self, DecompressionError> {
        let codec = |err| DecompressionError::codec(Encoding::Zstd, err);
        let mut context = Decoder::new().map_err(codec)?;
        context
            .set_parameter(DParameter::WindowLogMax(WINDOW_LOG_MAX))
            .map_err(codec)?;
        Ok(Self {
            context,
            frame_done: false,
        })
    }

    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<Progress, DecompressionError> {
        if input.is_empty() && self.frame_done {
            // Nothing is pending between frames; a step now would only start waiting for the
            // next frame's header.
            return Ok(Progress {
                read: 0,
                written: 0,
            });
        }
        let mut input = InBuffer::around(input);
        let mut output = OutBuffer::around(output);
        let hint = self
            .context
            .run(&mut input, &mut output)
            .map_err(|err| DecompressionError::codec(Encoding::Zstd, err))?;
        self.frame_done = hint == 0;
        Ok(Progress {
            read: input.pos(),
            written: output.pos(),
        })
    }

    pub(crate) fn finish(&self) -> Result<(), DecompressionError> {
        if self.frame_done {
            Ok(())
        } else {
            Err(DecompressionError::truncated(Encoding::Zstd))
        }
    }
}
