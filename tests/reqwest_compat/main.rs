#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! reqwest compatibility: programs written against reqwest's public API, compiled against
//! towline by `use towline as reqwest;` alone (`programs`), and the behaviour each reqwest
//! name has in towline (`names`), against the in-process servers of `towline-test-support`.

#[path = "../common/mod.rs"]
mod common;
mod names;
mod programs;
