//! `forwarded::parse`, the RFC 7239 `Forwarded` parser, on arbitrary text.
//!
//! Invariants: no panic; over `MAX_LEN` bytes is an error; a parsed value has at most
//! `MAX_ELEMENTS` elements, none empty, each with at most `MAX_EXTENSIONS` extensions, a
//! `proto` that is a URI scheme, and obfuscated node names and ports of the RFC's form; what
//! `to_header_value` writes parses back to the same elements.
#![no_main]

use libfuzzer_sys::fuzz_target;
use towline::forwarded::{self, MAX_ELEMENTS, MAX_EXTENSIONS, MAX_LEN, NodeName, NodePort};

fn obfuscated(value: &str) -> bool {
    value.len() > 1
        && value.starts_with('_')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = forwarded::parse(value);
    if value.len() > MAX_LEN {
        assert!(parsed.is_err());
        return;
    }
    let Ok(elements) = parsed else {
        return;
    };
    assert!(elements.len() <= MAX_ELEMENTS);
    for element in &elements {
        assert!(
            element.by.is_some()
                || element.for_node.is_some()
                || element.host.is_some()
                || element.proto.is_some()
                || !element.extensions.is_empty()
        );
        assert!(element.extensions.len() <= MAX_EXTENSIONS);
        if let Some(proto) = &element.proto {
            assert!(proto.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()));
        }
        for node in element.by.iter().chain(element.for_node.iter()) {
            if let NodeName::Obfuscated(name) = &node.name {
                assert!(obfuscated(name), "{name:?}");
            }
            if let Some(NodePort::Obfuscated(port)) = &node.port {
                assert!(obfuscated(port), "{port:?}");
            }
        }
    }
    if let Ok(written) = forwarded::to_header_value(&elements) {
        let text = std::str::from_utf8(written.as_bytes()).expect("written from UTF-8");
        assert_eq!(forwarded::parse(text).expect("what was written parses"), elements, "{text}");
    }
});
