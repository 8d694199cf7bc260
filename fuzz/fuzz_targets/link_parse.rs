//! `link::parse`, the RFC 8288 `Link` parser, on arbitrary text.
//!
//! Invariants: no panic; over `MAX_LEN` bytes is an error; a parsed value has at most
//! `MAX_LINKS` links of at most `MAX_PARAMS` parameters, whose names are lower-case tokens;
//! the links that `to_header_value` accepts to write parse back to themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use towline::link::{self, MAX_LEN, MAX_LINKS, MAX_PARAMS};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = link::parse(value);
    if value.len() > MAX_LEN {
        assert!(parsed.is_err());
        return;
    }
    let Ok(links) = parsed else {
        return;
    };
    assert!(links.len() <= MAX_LINKS);
    for link in &links {
        assert!(link.params().count() <= MAX_PARAMS);
        for (name, _) in link.params() {
            assert!(!name.is_empty());
            assert!(!name.bytes().any(|b| b.is_ascii_uppercase()), "{name:?}");
        }
        let _ = link.rels().count();
    }
    if let Ok(written) = link::to_header_value(&links) {
        let text = std::str::from_utf8(written.as_bytes()).expect("written from UTF-8");
        assert_eq!(link::parse(text).expect("what was written parses"), links, "{text}");
    }
});
