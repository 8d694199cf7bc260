//! `retry::parse_retry_after`, the `Retry-After` parser, on arbitrary bytes.
//!
//! The first input byte picks the wall-clock time the value is measured against (the epoch,
//! a date in 2015, or one far in the future); the rest is the header value. Invariants, from
//! its documentation: no panic; values over `MAX_RETRY_AFTER_LEN` are refused unread; a
//! result is never longer than `MAX_RETRY_AFTER`; a value of digits only is its number of
//! seconds exactly when that is at most `MAX_RETRY_AFTER`; and surrounding spaces and tabs
//! do not change the result.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use towline_layers::retry::{MAX_RETRY_AFTER, MAX_RETRY_AFTER_LEN, parse_retry_after};

fuzz_target!(|data: &[u8]| {
    let Some((&clock, value)) = data.split_first() else {
        return;
    };
    let now = match clock % 3 {
        0 => UNIX_EPOCH,
        1 => UNIX_EPOCH + Duration::from_secs(1_445_412_480),
        _ => UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) * 100),
    };
    let parsed = parse_retry_after(value, now);
    if value.len() > MAX_RETRY_AFTER_LEN {
        assert_eq!(parsed, None);
        return;
    }
    if let Some(wait) = parsed {
        assert!(wait <= MAX_RETRY_AFTER, "{wait:?}");
    }
    let trimmed = value.trim_ascii();
    if !trimmed.is_empty() && trimmed.iter().all(u8::is_ascii_digit) {
        let model = std::str::from_utf8(trimmed)
            .ok()
            .and_then(|digits| digits.parse::<u64>().ok())
            .map(Duration::from_secs)
            .filter(|wait| *wait <= MAX_RETRY_AFTER);
        assert_eq!(parsed, model, "delta-seconds");
    }
    if value.len() + 2 <= MAX_RETRY_AFTER_LEN {
        let mut padded = Vec::with_capacity(value.len() + 2);
        padded.push(b'\t');
        padded.extend_from_slice(value);
        padded.push(b' ');
        assert_eq!(parse_retry_after(&padded, now), parsed, "padded");
    }
});
