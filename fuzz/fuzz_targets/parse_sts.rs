//! `hsts::parse_sts`, the `Strict-Transport-Security` parser, on arbitrary bytes.
//!
//! Invariants, from its documentation: no panic; values over `MAX_HEADER_LEN` are refused
//! unread (`TooLong`); a valid header has a `max-age` directive and a `max_age` no larger
//! than `MAX_AGE_CAP`. And two properties of the grammar it documents: directive names are
//! case-insensitive and `max-age` is digits (so changing the ASCII case of the whole value
//! never changes the result), and whitespace around the value and an empty directive at its
//! end are allowed (so `" " + value + " ;"` parses as `value` does).
#![no_main]

use libfuzzer_sys::fuzz_target;
use towline_layers::hsts::{MAX_AGE_CAP, MAX_HEADER_LEN, StsError, parse_sts};

fuzz_target!(|data: &[u8]| {
    let parsed = parse_sts(data);
    if data.len() > MAX_HEADER_LEN {
        assert_eq!(parsed, Err(StsError::TooLong));
        return;
    }
    if let Ok(sts) = parsed {
        assert!(sts.max_age <= MAX_AGE_CAP, "{sts:?}");
        let lower = data.to_ascii_lowercase();
        assert!(
            lower.windows(7).any(|w| w == b"max-age"),
            "valid without max-age: {sts:?}"
        );
    }
    // Any message must render without panicking.
    let _ = parsed.map_err(|err| err.to_string());

    assert_eq!(parse_sts(&data.to_ascii_uppercase()), parsed, "upper case");
    assert_eq!(parse_sts(&data.to_ascii_lowercase()), parsed, "lower case");
    if data.len() + 3 <= MAX_HEADER_LEN {
        let mut padded = Vec::with_capacity(data.len() + 3);
        padded.push(b' ');
        padded.extend_from_slice(data);
        padded.extend_from_slice(b" ;");
        assert_eq!(parse_sts(&padded), parsed, "padded");
    }
});
