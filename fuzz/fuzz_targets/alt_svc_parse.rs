//! `alt_svc::parse_alt_svc`, the `Alt-Svc` parser, on arbitrary bytes.
//!
//! Invariants, from its documentation: no panic; values over `MAX_HEADER_LEN` are refused
//! unread (`TooLong`); a parsed value has at least one and at most `MAX_ALTERNATIVES`
//! alternatives, each with a non-zero port and an `ma` of at most `MAX_AGE_LIMIT`. And a
//! round trip: writing the alternatives back in canonical form (protocol ids
//! percent-encoded, `ma` and `persist` explicit) and parsing that gives the same value.
#![no_main]

use std::fmt::Write as _;

use libfuzzer_sys::fuzz_target;
use towline_services::alt_svc::{
    AltSvc, AltSvcError, MAX_AGE_LIMIT, MAX_ALTERNATIVES, MAX_HEADER_LEN, parse_alt_svc,
};

fuzz_target!(|data: &[u8]| {
    let parsed = parse_alt_svc(data);
    if data.len() > MAX_HEADER_LEN {
        assert_eq!(parsed, Err(AltSvcError::TooLong));
        return;
    }
    let Ok(AltSvc::Alternatives(alternatives)) = &parsed else {
        let _ = parsed.map_err(|error| error.to_string());
        return;
    };
    assert!(!alternatives.is_empty() && alternatives.len() <= MAX_ALTERNATIVES);
    let mut canonical = String::new();
    for alternative in alternatives {
        assert_ne!(alternative.port(), 0);
        assert!(alternative.max_age().as_secs() <= MAX_AGE_LIMIT);
        if !canonical.is_empty() {
            canonical.push_str(", ");
        }
        for byte in alternative.protocol() {
            if byte.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~".contains(byte) {
                canonical.push(char::from(*byte));
            } else {
                let _ = write!(canonical, "%{byte:02X}");
            }
        }
        let _ = write!(
            canonical,
            "=\"{}:{}\"; ma={}",
            alternative.host().unwrap_or(""),
            alternative.port(),
            alternative.max_age().as_secs()
        );
        if alternative.persist() {
            canonical.push_str("; persist=1");
        }
    }
    if canonical.len() <= MAX_HEADER_LEN {
        assert_eq!(parse_alt_svc(canonical.as_bytes()), parsed, "{canonical}");
    }
});
