//! Spawning background work through hyper's runtime seam.
//!
//! Layers that start work which outlives the request that triggered it (the cache's
//! `stale-while-revalidate` refresh) take a [`SharedExecutor`]: any
//! [`hyper::rt::Executor`] of boxed `Send` futures behind an `Arc`. The crate never names a
//! runtime; the facade passes its runtime's executor, and tests pass one that queues the
//! futures so they can run them at a moment of their choosing.
//!
//! # Example
//!
//! ```
//! use std::sync::{Arc, Mutex};
//!
//! use towline_layers::exec::{BoxFuture, SharedExecutor};
//!
//! /// Queues tasks; the owner runs them when it wants to.
//! #[derive(Default)]
//! struct Queue(Mutex<Vec<BoxFuture>>);
//!
//! impl hyper::rt::Executor<BoxFuture> for Queue {
//!     fn execute(&self, future: BoxFuture) {
//!         self.0.lock().unwrap().push(future);
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let queue = Arc::new(Queue::default());
//! let executor: SharedExecutor = queue.clone();
//! let done = Arc::new(Mutex::new(false));
//! let flag = Arc::clone(&done);
//! executor.execute(Box::pin(async move { *flag.lock().unwrap() = true }));
//!
//! let tasks = std::mem::take(&mut *queue.0.lock().unwrap());
//! for task in tasks {
//!     task.await;
//! }
//! assert!(*done.lock().unwrap());
//! # }
//! // With tokio, `execute` would be `tokio::spawn(future);`.
//! //! ```

use std::{future::Future, pin::Pin, sync::Arc};

/// A boxed background task: it owns everything it needs and yields nothing.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// An executor shared by every clone of a layer: any [`hyper::rt::Executor`] of
/// [`BoxFuture`]s behind an `Arc`.
pub type SharedExecutor = Arc<dyn hyper::rt::Executor<BoxFuture> + Send + Sync>;
