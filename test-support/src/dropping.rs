//! [`DroppingH2Server`]: an h2c server that drops its connection once a request arrived,
//! the HTTP/2 form of "the server read the request, then the connection died".

use bytes::Bytes;

use crate::acceptor::Acceptor;
use crate::counter::Counter;

/// An h2c (prior knowledge) server on `127.0.0.1:0` that answers the first `answered`
/// streams of every connection `200` with body `ok`, then closes the TCP connection (no
/// GOAWAY, no reset of the stream) as soon as the next stream's request head arrived.
pub struct DroppingH2Server {
    acceptor: Acceptor,
    streams: Counter,
}

impl std::fmt::Debug for DroppingH2Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DroppingH2Server")
            .field("addr", &self.acceptor.addr())
            .field("streams", &self.streams.get())
            .finish()
    }
}

impl DroppingH2Server {
    /// Starts the server.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or when binding fails.
    pub fn spawn(answered: usize) -> Self {
        let streams = Counter::new();
        let counted = streams.clone();
        let acceptor = Acceptor::spawn(move |tcp, _peer, _id| {
            let streams = counted.clone();
            async move {
                let Ok(mut connection) = h2::server::handshake(tcp).await else {
                    return;
                };
                let mut on_this_connection = 0;
                while let Some(Ok((_request, mut respond))) = connection.accept().await {
                    streams.incr();
                    on_this_connection += 1;
                    if on_this_connection > answered {
                        return;
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

    /// Streams received, the dropped ones included.
    pub fn streams(&self) -> usize {
        self.streams.get()
    }

    /// Accepted TCP connections.
    pub fn connections(&self) -> usize {
        self.acceptor.connections()
    }
}
