//! `ProblemDetails::from_json`, the RFC 9457 problem document reader, on arbitrary bytes.
//!
//! Invariants: no panic; over `MAX_PROBLEM_LEN` bytes is an error; a `status` is in
//! 100..=599; no standard member is left among the extensions; the document written back
//! with serde reads as the same problem.
#![no_main]

use libfuzzer_sys::fuzz_target;
use towline::problem::{MAX_PROBLEM_LEN, ProblemDetails};

fuzz_target!(|data: &[u8]| {
    let read = ProblemDetails::from_json(data);
    if data.len() > MAX_PROBLEM_LEN {
        assert!(read.is_err());
        return;
    }
    let Ok(problem) = read else {
        return;
    };
    assert!(problem.status.is_none_or(|s| (100..=599).contains(&s)));
    for member in ["type", "status", "title", "detail", "instance"] {
        assert!(!problem.extensions.contains_key(member), "{member}");
    }
    let written = serde_json::to_vec(&problem).expect("a problem serializes");
    if written.len() <= MAX_PROBLEM_LEN {
        assert_eq!(ProblemDetails::from_json(&written).expect("it reads back"), problem);
    }
});
