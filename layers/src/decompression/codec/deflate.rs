//! `deflate`: a zlib stream (RFC 1950) as the coding's definition says, or a raw deflate stream
//! (RFC 1951) as some servers send it. The first two bytes decide: a valid zlib header
//! (compression method 8, a window of at most 32 KiB, a correct header check) means zlib,
//! anything else raw deflate — the test browsers apply.

use flate2::Decompress;

use super::{super::Encoding, DecompressionError, Progress, flate::inflate};

/// Decodes one zlib or raw deflate stream; bytes after its end are ignored.
pub(crate) struct DeflateDecoder {
    state: State,
}

enum State {
    /// Waiting for the first two bytes.
    Sniff {
        bytes: [u8; 2],
        len: usize,
    },
    Inflate {
        inflater: Decompress,
        /// The sniffed bytes, fed to the inflater before the rest of the input.
        prefix: [u8; 2],
        prefix_used: usize,
    },
    Done,
}

impl Default for DeflateDecoder {
    fn default() -> Self {
        Self {
            state: State::Sniff {
                bytes: [0; 2],
                len: 0,
            },
        }
    }
}

/// Whether `bytes` begin a zlib stream (RFC 1950 §2.2).
pub(crate) fn is_zlib_header([cmf, flg]: [u8; 2]) -> bool {
    let method = cmf & 0x0f;
    let window = cmf >> 4;
    method == 8 && window <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
}

impl DeflateDecoder {
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<Progress, DecompressionError> {
        let mut read = 0;
        if let State::Sniff { bytes, len } = &mut self.state {
            let take = bytes.len().saturating_sub(*len).min(input.len());
            if let (Some(to), Some(from)) = (bytes.get_mut(*len..*len + take), input.get(..take)) {
                to.copy_from_slice(from);
            }
            *len += take;
            read += take;
            if *len < bytes.len() {
                return Ok(Progress { read, written: 0 });
            }
            let prefix = *bytes;
            self.state = State::Inflate {
                inflater: Decompress::new(is_zlib_header(prefix)),
                prefix,
                prefix_used: 0,
            };
        }
        let State::Inflate {
            inflater,
            prefix,
            prefix_used,
        } = &mut self.state
        else {
            // Done: the rest of the body is ignored.
            return Ok(Progress {
                read: input.len(),
                written: 0,
            });
        };
        let mut written = 0;
        loop {
            let out = output.get_mut(written..).unwrap_or_default();
            let (source, from_prefix) = match prefix.get(*prefix_used..) {
                Some(unused) if !unused.is_empty() => (unused, true),
                _ => (input.get(read..).unwrap_or_default(), false),
            };
            let (step, end) = inflate(inflater, Encoding::Deflate, source, out)?;
            written += step.written;
            if from_prefix {
                *prefix_used += step.read;
            } else {
                read += step.read;
            }
            if end {
                self.state = State::Done;
                read = input.len();
                break;
            }
            // The sniffed bytes go first; once they are in, one step over the input.
            let stalled = step.read == 0 && step.written == 0;
            if !from_prefix || stalled || written == output.len() {
                break;
            }
        }
        Ok(Progress { read, written })
    }

    pub(crate) fn finish(&self) -> Result<(), DecompressionError> {
        match self.state {
            State::Done | State::Sniff { len: 0, .. } => Ok(()),
            _ => Err(DecompressionError::truncated(Encoding::Deflate)),
        }
    }
}
