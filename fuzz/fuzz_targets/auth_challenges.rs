//! `auth::parse_challenges`, the `WWW-Authenticate` / `Proxy-Authenticate` parser, and
//! `DigestChallenge::from_challenge` on what it returns, on arbitrary bytes.
//!
//! Invariants, from their documentation: no panic; values over `MAX_HEADER_LEN` are refused
//! unread (`TooLong`); a parsed value has at most `MAX_CHALLENGES` challenges of at most
//! `MAX_PARAMS` parameters, with non-empty schemes and lower-case parameter names. And a
//! round trip: writing the parsed challenges back in canonical form (values quoted and
//! escaped) and parsing that gives the same challenges.
#![no_main]

use libfuzzer_sys::fuzz_target;
use towline_layers::auth::{
    ChallengeError, MAX_CHALLENGES, MAX_HEADER_LEN, MAX_PARAMS, digest::DigestChallenge,
    parse_challenges,
};

fuzz_target!(|data: &[u8]| {
    let parsed = parse_challenges(data);
    if data.len() > MAX_HEADER_LEN {
        assert_eq!(parsed, Err(ChallengeError::TooLong));
        return;
    }
    let _ = parsed.as_ref().map_err(|err| err.to_string());
    let Ok(challenges) = parsed else { return };
    assert!(challenges.len() <= MAX_CHALLENGES);
    let mut canonical = String::new();
    for challenge in &challenges {
        assert!(!challenge.scheme().is_empty());
        assert!(challenge.params().count() <= MAX_PARAMS);
        let _ = DigestChallenge::from_challenge(challenge);
        if !canonical.is_empty() {
            canonical.push_str(", ");
        }
        canonical.push_str(challenge.scheme());
        if let Some(token68) = challenge.token68() {
            canonical.push(' ');
            canonical.push_str(token68);
        }
        for (i, (name, value)) in challenge.params().enumerate() {
            assert_eq!(name, name.to_ascii_lowercase());
            canonical.push_str(if i == 0 { " " } else { ", " });
            canonical.push_str(name);
            canonical.push_str("=\"");
            for c in value.chars() {
                if c == '"' || c == '\\' {
                    canonical.push('\\');
                }
                canonical.push(c);
            }
            canonical.push('"');
        }
    }
    if canonical.len() <= MAX_HEADER_LEN {
        assert_eq!(
            parse_challenges(canonical.as_bytes()).as_ref(),
            Ok(&challenges),
            "{canonical}"
        );
    }
});
