//! `DecompressionLayer`'s reading of `Content-Encoding` (stacked codings, several field lines,
//! `identity`, case, `x-gzip`, unknown or disabled codings), checked against a model of the
//! rules in the module documentation, and the body that follows through the whole pipeline.
//!
//! Input: byte 0 status, byte 1 method, byte 2 flags (bit 0: `NoDecompression` extension;
//! bits 1-4: gzip, deflate, br, zstd *disabled*; bits 5-7: frame size), byte 3 the number of
//! `Content-Encoding` lines (0-3), then the lines separated by `\n`, then the body.
#![no_main]

use http::{HeaderValue, Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use towline_fuzz::{DecodeCase, Reader, check_chunking_independent, run_decode};
use towline_layers::decompression::{Encoding, MAX_CODINGS};

/// The documented plan: every line in order, split on `,`, OWS trimmed, empty elements and
/// `identity` skipped, names without regard to ASCII case, `x-gzip` is gzip; pass through
/// (`[]`) when a coding is unknown or disabled, a line is not visible ASCII, more than
/// `MAX_CODINGS` are stacked, or nothing is left.
fn model_plan(lines: &[HeaderValue], codecs: [bool; 4]) -> Vec<Encoding> {
    let mut plan = Vec::new();
    for line in lines {
        if !line.as_bytes().iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)) {
            return Vec::new();
        }
        for name in line.as_bytes().split(|&b| b == b',') {
            let name = trim(name);
            if name.is_empty() || name.eq_ignore_ascii_case(b"identity") {
                continue;
            }
            let coding = match name.to_ascii_lowercase().as_slice() {
                b"gzip" | b"x-gzip" if codecs[0] => Encoding::Gzip,
                b"deflate" if codecs[1] => Encoding::Deflate,
                b"br" if codecs[2] => Encoding::Br,
                b"zstd" if codecs[3] => Encoding::Zstd,
                _ => return Vec::new(),
            };
            if plan.len() == MAX_CODINGS {
                return Vec::new();
            }
            plan.push(coding);
        }
    }
    plan
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fuzz_target!(|data: &[u8]| {
    const STATUS: [u16; 8] = [200, 204, 304, 206, 101, 404, 301, 500];
    const CHUNK: [usize; 8] = [0, 1, 2, 3, 7, 64, 512, 4096];
    let mut reader = Reader::new(data);
    let status = StatusCode::from_u16(reader.pick(&STATUS)).expect("valid status");
    let method = reader.pick(&[Method::GET, Method::HEAD, Method::POST]);
    let flags = reader.byte();
    let lines = usize::from(reader.byte() % 4);
    let content_encoding: Vec<HeaderValue> = (0..lines)
        .filter_map(|_| HeaderValue::from_bytes(reader.until(b'\n')).ok())
        .collect();
    let codecs = [
        flags & 0b10 == 0,
        flags & 0b100 == 0,
        flags & 0b1000 == 0,
        flags & 0b1_0000 == 0,
    ];
    let mut case = DecodeCase {
        content_encoding,
        status,
        method,
        no_decompression_ext: flags & 1 == 1,
        body: reader.rest(),
        chunk: 0,
        trailers: false,
        max_size: Some(1 << 20),
        max_ratio: Some(1000),
        codecs,
    };

    let passes_through = case.no_decompression_ext
        || case.method == Method::HEAD
        || status.is_informational()
        || matches!(status.as_u16(), 204 | 304 | 206);
    let expected = if passes_through {
        Vec::new()
    } else {
        model_plan(&case.content_encoding, codecs)
    };

    let whole = run_decode(&case);
    assert_eq!(
        whole.encodings, expected,
        "plan for {:?} ({codecs:?})",
        case.content_encoding
    );
    case.chunk = CHUNK[usize::from(flags >> 5)];
    let chunked = run_decode(&case);
    check_chunking_independent(&whole, &chunked);
});
