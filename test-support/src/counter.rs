//! [`Counter`]: a shared count for handlers to bump and tests to read.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

/// A cloneable counter; clones share the count. Typical use: a handler closure
/// owns a clone and bumps it, and the test asserts on the original.
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicUsize>);

impl Counter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one and returns the new count.
    pub fn incr(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The current count.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}
