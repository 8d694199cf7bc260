//! The `br` decoder of `DecompressionLayer`: arbitrary bytes as a `Content-Encoding: br`
//! response body from a `service_fn`, drained whole and in small frames.
//!
//! Input: byte 0 picks `max_size`, `max_ratio` and the frame size, byte 1 bit 0 adds
//! trailers, the rest is the body. Invariants: see `towline_fuzz::run_decode` (frame size,
//! size and ratio limits, header handling, errors end the body) and
//! `check_chunking_independent` (framing never changes the decoded bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    towline_fuzz::fuzz_decoder(data, "br");
});
