//! One step of flate2's raw or zlib inflater, shared by gzip and deflate.

use flate2::{Decompress, FlushDecompress, Status};

use super::{super::Encoding, DecompressionError, Progress};

/// Inflates from `input` into `output`; also says whether the deflate stream has ended.
pub(super) fn inflate(
    inflater: &mut Decompress,
    encoding: Encoding,
    input: &[u8],
    output: &mut [u8],
) -> Result<(Progress, bool), DecompressionError> {
    let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
    let status = inflater
        .decompress(input, output, FlushDecompress::None)
        .map_err(|err| DecompressionError::codec(encoding, err))?;
    // Both differences are bounded by the slices' lengths.
    let read =
        usize::try_from(inflater.total_in().saturating_sub(in_before)).unwrap_or(input.len());
    let written =
        usize::try_from(inflater.total_out().saturating_sub(out_before)).unwrap_or(output.len());
    let progress = Progress {
        read: read.min(input.len()),
        written: written.min(output.len()),
    };
    Ok((progress, status == Status::StreamEnd))
}
