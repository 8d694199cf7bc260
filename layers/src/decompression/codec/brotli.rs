//! `br`: Brotli (RFC 7932) through brotli-decompressor.

use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};

use super::{super::Encoding, DecompressionError, Progress};

/// Decodes one Brotli stream. The decoder is the strict one: large-window streams (a window
/// over 16 MiB, not part of RFC 7932) are refused, so its memory stays within 16 MiB plus
/// tables. Bytes after the end of the stream are corrupt input, as for the reference decoder.
pub(crate) struct BrotliDecoder {
    state: BrotliState<StandardAlloc, StandardAlloc, StandardAlloc>,
    done: bool,
}

impl Default for BrotliDecoder {
    fn default() -> Self {
        Self {
            state: BrotliState::new_strict(
                StandardAlloc::default(),
                StandardAlloc::default(),
                StandardAlloc::default(),
            ),
            done: false,
        }
    }
}

impl BrotliDecoder {
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<Progress, DecompressionError> {
        let trailing =
            || DecompressionError::corrupt(Encoding::Br, "data after the end of the stream");
        if self.done {
            return if input.is_empty() {
                Ok(Progress {
                    read: 0,
                    written: 0,
                })
            } else {
                Err(trailing())
            };
        }
        let mut available_in = input.len();
        let mut input_offset = 0;
        let mut available_out = output.len();
        let mut output_offset = 0;
        let mut total_out = 0;
        let result = BrotliDecompressStream(
            &mut available_in,
            &mut input_offset,
            input,
            &mut available_out,
            &mut output_offset,
            output,
            &mut total_out,
            &mut self.state,
        );
        let progress = Progress {
            read: input_offset.min(input.len()),
            written: output_offset.min(output.len()),
        };
        match result {
            BrotliResult::ResultSuccess => {
                self.done = true;
                if progress.read < input.len() {
                    return Err(trailing());
                }
                Ok(progress)
            }
            BrotliResult::NeedsMoreInput | BrotliResult::NeedsMoreOutput => Ok(progress),
            BrotliResult::ResultFailure => Err(DecompressionError::corrupt(
                Encoding::Br,
                format!("{:?}", self.state.error_code),
            )),
        }
    }

    pub(crate) fn finish(&self) -> Result<(), DecompressionError> {
        if self.done {
            Ok(())
        } else {
            Err(DecompressionError::truncated(Encoding::Br))
        }
    }
}
