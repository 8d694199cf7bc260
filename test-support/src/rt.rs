//! The seams between tokio and hyper: IO from towline's own tokio adapter, and an executor
//! for hyper's HTTP/2 server connections.

pub use towline_services::rt::tokio::TokioIo;

/// A [`hyper::rt::Executor`] that spawns onto the current tokio runtime; HTTP/2
/// connections (server or client) need one to run their streams.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioExecutor;

impl<F> hyper::rt::Executor<F> for TokioExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(future);
    }
}
