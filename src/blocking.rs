//! File IO on the runtime's blocking threads, for multipart file parts and downloads.
//!
//! [`Runtime::spawn_blocking`] is generic, so it cannot sit behind the client's single pointer
//! as it is; [`Blocking`] erases it once, when the client is built.

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use towline_services::rt::{BoxFuture, Runtime};

type Task = Box<dyn FnOnce() + Send>;
type Spawn = dyn Fn(Task) -> BoxFuture<'static, io::Result<()>> + Send + Sync;

/// Runs blocking functions on a runtime's blocking threads.
#[derive(Clone)]
pub(crate) struct Blocking {
    spawn: Arc<Spawn>,
}

impl std::fmt::Debug for Blocking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Blocking")
    }
}

impl Blocking {
    pub(crate) fn new<R: Runtime>(runtime: R) -> Self {
        Self {
            spawn: Arc::new(move |task: Task| runtime.spawn_blocking(task)),
        }
    }

    /// The default runtime's blocking threads, for bodies built outside a client.
    #[cfg(feature = "multipart")]
    pub(crate) fn default_runtime() -> Self {
        Self::new(crate::DefaultRuntime::default())
    }

    /// Runs `f` on a blocking thread and yields its result.
    pub(crate) fn run<T, F>(&self, f: F) -> impl Future<Output = io::Result<T>> + Send + 'static
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let slot = Arc::new(Mutex::new(None));
        let filled = slot.clone();
        let spawned = (self.spawn)(Box::new(move || {
            let output = f();
            *filled.lock().unwrap_or_else(PoisonError::into_inner) = Some(output);
        }));
        async move {
            spawned.await?;
            slot.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .ok_or_else(|| io::Error::other("a blocking task ended without a result"))
        }
    }
}
