//! The accept loop shared by every server in this crate.

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::oneshot,
    task::{JoinHandle, JoinSet},
};

/// Pause after a failed `accept` so that a persistent error (say, out of file
/// descriptors) does not turn the loop into a busy spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(10);

/// A listener on `127.0.0.1:0` whose connections are each served by their own task.
///
/// Dropping it stops accepting and aborts every connection task, which closes
/// their sockets: servers never outlive the test that made them.
pub(crate) struct Acceptor {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Acceptor {
    /// Binds and starts accepting; `serve` gets each stream, its peer address
    /// and its 1-based connection number.
    ///
    /// Panics outside a tokio runtime or when the bind fails.
    pub(crate) fn spawn<F, Fut>(serve: F) -> Self
    where
        F: Fn(TcpStream, SocketAddr, usize) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("binding a test server on 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("making the test listener non-blocking");
        let addr = listener.local_addr().expect("reading the listener address");
        let listener = TcpListener::from_std(listener)
            .expect("test servers must start inside a tokio runtime");
        let connections = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, connections.clone(), stopped, serve));
        Self {
            addr,
            connections,
            stop,
            task,
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Stops accepting and waits until every connection task has been torn down.
    pub(crate) async fn shutdown(self) {
        let Self { stop, task, .. } = self;
        drop(stop);
        // The loop only ends by being told to stop; a join error would mean the
        // runtime is shutting down, which tears the tasks down anyway.
        let _ = task.await;
    }
}

async fn accept_loop<F, Fut>(
    listener: TcpListener,
    connections: Arc<AtomicUsize>,
    mut stopped: oneshot::Receiver<()>,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr, usize) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            // Checked first so that no connection is accepted once the owner is gone.
            biased;
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let id = connections.fetch_add(1, Ordering::SeqCst) + 1;
                    tasks.spawn(serve(stream, peer, id));
                }
                Err(_) => tokio::time::sleep(ACCEPT_ERROR_PAUSE).await,
            },
            // Reaps finished connections so the set does not grow for the server's life.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    tasks.shutdown().await;
}
