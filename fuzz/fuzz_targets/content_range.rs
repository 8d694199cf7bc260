//! `download::ContentRange::parse`, the `Content-Range` parser the range downloader checks
//! every `206` with, on arbitrary bytes.
//!
//! Invariants: no panic; values over 128 bytes are refused; an accepted range is consistent
//! (`first <= last`, `last < complete`, a length that fits a `u64`); writing an accepted value
//! back in its canonical form parses to the same value; and a value is accepted unchanged with
//! its unit in upper case and with surrounding spaces (within the length bound).
#![no_main]

use libfuzzer_sys::fuzz_target;
use towline::download::ContentRange;

fuzz_target!(|data: &[u8]| {
    let parsed = ContentRange::parse(data);
    if data.len() > 128 {
        assert!(parsed.is_err());
        return;
    }
    let Ok(range) = parsed else {
        return;
    };
    let canonical = match range {
        ContentRange::Bytes {
            first,
            last,
            complete,
        } => {
            assert!(first <= last);
            assert!(last < u64::MAX);
            assert_eq!(range.len(), last - first + 1);
            if let Some(complete) = complete {
                assert!(last < complete);
            }
            let complete = complete.map_or_else(|| "*".to_owned(), |c| c.to_string());
            format!("bytes {first}-{last}/{complete}")
        }
        ContentRange::Unsatisfied { complete } => {
            assert!(range.is_empty());
            format!("bytes */{complete}")
        }
    };
    assert_eq!(ContentRange::parse(canonical.as_bytes()), Ok(range));
    let shouted = canonical.replacen("bytes", "BYTES", 1);
    assert_eq!(ContentRange::parse(format!(" {shouted} ").as_bytes()), Ok(range));
});
