//! `auth::netrc::Netrc::parse` on arbitrary text.
//!
//! Invariants, from its documentation: no panic; an error names a line that exists; a file
//! that parses answers every lookup (its machines' hosts, any case) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use towline_layers::auth::netrc::{Netrc, NetrcError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Netrc::parse(text) {
        Ok(netrc) => {
            for word in text.split_whitespace() {
                let _ = netrc.machine(word);
                let _ = netrc.machine(&word.to_ascii_uppercase());
            }
            let _ = netrc.default_entry();
        }
        Err(NetrcError::Syntax { line, message }) => {
            assert!(line >= 1 && line <= text.split('\n').count(), "line {line}");
            assert!(!message.is_empty());
        }
        Err(other) => panic!("parse returned a file error: {other}"),
    }
});
