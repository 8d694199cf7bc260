//! gzip (RFC 1952): one or more members, each a header, raw deflate data and an 8-byte trailer
//! (CRC-32 and length of the member's data).
//!
//! flate2 inflates the deflate data and computes the CRC-32; the framing is parsed here
//! because flate2's own gzip decoders keep the header's file name and comment in buffers
//! that grow as long as the server keeps sending them. This parser keeps nothing of them but
//! a running checksum, and refuses headers over [`MAX_HEADER`] bytes.

use flate2::{Crc, Decompress};

use super::{super::Encoding, DecompressionError, Progress, flate::inflate};

/// The longest gzip header accepted: the fixed part, `FEXTRA` (at most 64 KiB by its length
/// field) and a file name and comment of reasonable size.
pub(crate) const MAX_HEADER: usize = 128 * 1024;

const MAGIC: [u8; 2] = [0x1f, 0x8b];
const DEFLATE: u8 = 8;
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;

/// Decodes a gzip body: every member in turn. Bytes after a member that do not begin another
/// (with the gzip magic number) are ignored, as gzip(1), browsers and urllib3 do.
pub(crate) struct GzipDecoder {
    state: State,
    inflater: Decompress,
    crc: Crc,
}

enum State {
    Header(HeaderParser),
    Data,
    Trailer {
        bytes: [u8; 8],
        len: usize,
    },
    /// After the last member: the rest of the body is discarded.
    Trailing,
}

impl Default for GzipDecoder {
    fn default() -> Self {
        Self {
            state: State::Header(HeaderParser::first()),
            inflater: Decompress::new(false),
            crc: Crc::new(),
        }
    }
}

impl GzipDecoder {
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<Progress, DecompressionError> {
        let corrupt = |message| DecompressionError::corrupt(Encoding::Gzip, message);
        let mut read = 0;
        loop {
            let rest = input.get(read..).unwrap_or_default();
            match &mut self.state {
                State::Header(parser) => {
                    if rest.is_empty() {
                        return Ok(Progress { read, written: 0 });
                    }
                    let (used, status) = parser.parse(rest).map_err(corrupt)?;
                    read += used;
                    match status {
                        HeaderStatus::Incomplete => return Ok(Progress { read, written: 0 }),
                        HeaderStatus::Complete => {
                            self.inflater.reset(false);
                            self.crc.reset();
                            self.state = State::Data;
                        }
                        HeaderStatus::NotAMember => self.state = State::Trailing,
                    }
                }
                State::Data => {
                    let (step, end) = inflate(&mut self.inflater, Encoding::Gzip, rest, output)?;
                    read += step.read;
                    let written = output.get(..step.written).unwrap_or_default();
                    self.crc.update(written);
                    if end {
                        self.state = State::Trailer {
                            bytes: [0; 8],
                            len: 0,
                        };
                    }
                    if step.written > 0 || !end {
                        return Ok(Progress {
                            read,
                            written: step.written,
                        });
                    }
                }
                State::Trailer { bytes, len } => {
                    let used = fill(bytes, len, rest);
                    read += used;
                    if *len < bytes.len() {
                        return Ok(Progress { read, written: 0 });
                    }
                    let [c0, c1, c2, c3, s0, s1, s2, s3] = *bytes;
                    if u32::from_le_bytes([c0, c1, c2, c3]) != self.crc.sum() {
                        return Err(corrupt("CRC-32 mismatch"));
                    }
                    if u32::from_le_bytes([s0, s1, s2, s3]) != self.crc.amount() {
                        return Err(corrupt("length mismatch"));
                    }
                    self.state = State::Header(HeaderParser::next_member());
                }
                State::Trailing => {
                    return Ok(Progress {
                        read: input.len(),
                        written: 0,
                    });
                }
            }
        }
    }

    /// Complete when the input ended after a whole member, not in the middle of the next.
    pub(crate) fn finish(&self) -> Result<(), DecompressionError> {
        match &self.state {
            State::Trailing => Ok(()),
            State::Header(parser) if parser.is_member_boundary() => Ok(()),
            _ => Err(DecompressionError::truncated(Encoding::Gzip)),
        }
    }
}

/// Copies from `input` into `buf[*len..]`; returns how many bytes it took.
fn fill<const N: usize>(buf: &mut [u8; N], len: &mut usize, input: &[u8]) -> usize {
    let room = buf.get_mut(*len..).unwrap_or_default();
    let used = room.len().min(input.len());
    if let (Some(room), Some(input)) = (room.get_mut(..used), input.get(..used)) {
        room.copy_from_slice(input);
    }
    *len += used;
    used
}

/// What [`HeaderParser::parse`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderStatus {
    /// All input was used and the header goes on.
    Incomplete,
    /// The header ended; the member's deflate data follows.
    Complete,
    /// After a member, bytes that do not start another: trailing garbage.
    NotAMember,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Fixed,
    ExtraLen,
    Extra { remaining: usize },
    Name,
    Comment,
    HeaderCrc,
    Done,
}

/// An incremental parser of one gzip member header that buffers at most 12 bytes.
pub(crate) struct HeaderParser {
    phase: Phase,
    /// The fixed 10-byte part.
    fixed: [u8; 10],
    fixed_len: usize,
    /// A 2-byte field: `XLEN`, then `CRC16`.
    field: [u8; 2],
    field_len: usize,
    flags: u8,
    /// CRC-32 of the header bytes so far, for `FHCRC`.
    crc: Crc,
    /// Header bytes parsed so far.
    total: usize,
    /// Whether a member came before: then bytes without the magic number are not an error.
    after_member: bool,
}

impl HeaderParser {
    /// A parser for the first member of a body.
    pub(crate) fn first() -> Self {
        Self {
            phase: Phase::Fixed,
            fixed: [0; 10],
            fixed_len: 0,
            field: [0; 2],
            field_len: 0,
            flags: 0,
            crc: Crc::new(),
            total: 0,
            after_member: false,
        }
    }

    /// A parser for what follows a member: another member, or trailing garbage.
    pub(crate) fn next_member() -> Self {
        Self {
            after_member: true,
            ..Self::first()
        }
    }

    /// Whether the input may end here: after a member, before a second magic number is whole.
    pub(crate) fn is_member_boundary(&self) -> bool {
        self.after_member && self.phase == Phase::Fixed && self.fixed_len < MAGIC.len()
    }

    /// Parses header bytes from `input`; returns how many it used and where the header stands.
    pub(crate) fn parse(&mut self, input: &[u8]) -> Result<(usize, HeaderStatus), &'static str> {
        let mut used = 0;
        while self.phase != Phase::Done {
            let rest = input.get(used..).unwrap_or_default();
            if rest.is_empty() {
                return Ok((used, HeaderStatus::Incomplete));
            }
            let step = match self.phase {
                Phase::Fixed => {
                    let step = fill(&mut self.fixed, &mut self.fixed_len, rest);
                    let seen = self
                        .fixed
                        .get(..self.fixed_len.min(MAGIC.len()))
                        .unwrap_or_default();
                    if seen != MAGIC.get(..seen.len()).unwrap_or_default() {
                        if self.after_member {
                            return Ok((used + step, HeaderStatus::NotAMember));
                        }
                        return Err("not a gzip stream (bad magic number)");
                    }
                    if self.fixed_len == self.fixed.len() {
                        let [_, _, method, flags, ..] = self.fixed;
                        if method != DEFLATE {
                            return Err("unknown compression method");
                        }
                        if flags & FRESERVED != 0 {
                            return Err("reserved header flags set");
                        }
                        self.flags = flags;
                        self.crc.update(&self.fixed);
                        self.next_phase();
                    }
                    step
                }
                Phase::ExtraLen => {
                    let step = fill(&mut self.field, &mut self.field_len, rest);
                    if self.field_len == self.field.len() {
                        self.crc.update(&self.field);
                        let xlen = usize::from(u16::from_le_bytes(self.field));
                        self.field_len = 0;
                        if xlen == 0 {
                            self.next_phase();
                        } else {
                            self.phase = Phase::Extra { remaining: xlen };
                        }
                    }
                    step
                }
                Phase::Extra { remaining } => {
                    let step = remaining.min(rest.len());
                    self.crc.update(rest.get(..step).unwrap_or_default());
                    if step == remaining {
                        self.next_phase();
                    } else {
                        self.phase = Phase::Extra {
                            remaining: remaining - step,
                        };
                    }
                    step
                }
                Phase::Name | Phase::Comment => match rest.iter().position(|&byte| byte == 0) {
                    Some(nul) => {
                        self.crc.update(rest.get(..=nul).unwrap_or_default());
                        self.next_phase();
                        nul + 1
                    }
                    None => {
                        self.crc.update(rest);
                        rest.len()
                    }
                },
                Phase::HeaderCrc => {
                    let step = fill(&mut self.field, &mut self.field_len, rest);
                    if self.field_len == self.field.len() {
                        // The low 16 bits of the CRC-32 of the header before this field.
                        let stored = u32::from(u16::from_le_bytes(self.field));
                        if stored != self.crc.sum() & 0xffff {
                            return Err("header checksum mismatch");
                        }
                        self.phase = Phase::Done;
                    }
                    step
                }
                Phase::Done => 0,
            };
            used += step;
            self.total = self.total.saturating_add(step);
            if self.total > MAX_HEADER {
                return Err("header longer than 128 KiB");
            }
        }
        Ok((used, HeaderStatus::Complete))
    }

    /// Moves past the phase just finished to the next one the flags ask for.
    fn next_phase(&mut self) {
        let order = [
            (Phase::ExtraLen, FEXTRA),
            (Phase::Name, FNAME),
            (Phase::Comment, FCOMMENT),
            (Phase::HeaderCrc, FHCRC),
        ];
        let done = match self.phase {
            Phase::Fixed => 0,
            Phase::ExtraLen | Phase::Extra { .. } => 1,
            Phase::Name => 2,
            Phase::Comment => 3,
            Phase::HeaderCrc | Phase::Done => order.len(),
        };
        self.phase = order
            .into_iter()
            .skip(done)
            .find(|(_, flag)| self.flags & flag != 0)
            .map_or(Phase::Done, |(phase, _)| phase);
    }
}
