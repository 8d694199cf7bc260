//! [`RefusingH2Server`]: an h2c server that refuses streams with `REFUSED_STREAM`, the
//! HTTP/2 way of saying "not processed, send it again".

use std::net::SocketAddr;

use bytes::Bytes;

use crate::acceptor::Acceptor;
use crate::counter::Counter;

/// An h2c (prior knowledge) server on `127.0.0.1:0` that resets the first `refuse` streams it
/// receives (over all connections) with `REFUSED_STREAM` and answers later ones `200` with
/// body `ok`.
pub struct RefusingH2Server {
    acceptor: Acceptor,
    streams: Counter,
}

impl std::fmt::Debug for RefusingH2Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefusingH2Server")
            .field("addr", &self.acceptor.addr())
            .field("streams", &self.streams.get())
            .finish()
    }
}

impl RefusingH2Server {
    /// Starts the server.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or when binding fails.
    pub fn spawn(refuse: usize) -> Self {
        let streams = Counter::new();
        let counted = streams.clone();
        let acceptor = Acceptor::spawn(move |tcp, _peer, _id| {
            let streams = counted.clone();
            async move {
                let Ok(mut connection) = h2::server::handshake(tcp).await else {
                    return;
                };
                while let Some(Ok((_request, mut respond))) = connection.accept().await {
                    if streams.incr() <= refuse {
                        respond.send_reset(h2::Reason::REFUSED_STREAM);
                        continue;
                    }
                    let Ok(mut body) = respond.send_response(http::Response::new(()), false) else {
                        return;
                    };
                    let _ = body.send_data(Bytes::from_static(b"ok"), true);
                }
            }
        });
        Self { acceptor, streams }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.acceptor.addr())
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }

    /// Streams received, refused ones included.
    pub fn streams(&self) -> usize {
        self.streams.get()
    }

    /// Accepted TCP connections.
    pub fn connections(&self) -> usize {
        self.acceptor.connections()
    }
}
