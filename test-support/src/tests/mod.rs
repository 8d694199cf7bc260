//! Tests of the servers, driven by raw sockets and hyper client connections.

mod blackhole;
mod raw;
mod server;
mod socks;
mod tls;

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use hyper::client::conn::{http1, http2};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
    task::JoinHandle,
};

use crate::{BoxBody, TokioExecutor, TokioIo, empty, full};

/// Writes `request` on a new connection and reads until the server closes it.
async fn raw_roundtrip(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

/// Splits a raw response into its head and what follows.
fn split_response(raw: &str) -> (&str, &str) {
    raw.split_once("\r\n\r\n").unwrap()
}

/// A response read in full by [`Client`].
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    trailers: Option<HeaderMap>,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

enum Sender {
    Http1(http1::SendRequest<BoxBody>),
    Http2(http2::SendRequest<BoxBody>),
}

/// A hyper client connection; `task` ends when the connection does.
struct Client {
    sender: Sender,
    authority: String,
    scheme: &'static str,
    task: JoinHandle<Result<(), hyper::Error>>,
}

impl Client {
    async fn h1(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        Self::http1_over(stream, addr.to_string(), "http").await
    }

    async fn h2(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        Self::http2_over(stream, addr.to_string(), "http").await
    }

    async fn http1_over<I>(io: I, authority: String, scheme: &'static str) -> Self
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = http1::handshake(TokioIo::new(io)).await.unwrap();
        Self {
            sender: Sender::Http1(sender),
            authority,
            scheme,
            task: tokio::spawn(conn),
        }
    }

    async fn http2_over<I>(io: I, authority: String, scheme: &'static str) -> Self
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = http2::handshake(TokioExecutor, TokioIo::new(io))
            .await
            .unwrap();
        Self {
            sender: Sender::Http2(sender),
            authority,
            scheme,
            task: tokio::spawn(conn),
        }
    }

    fn request(&self, method: &str, path: &str) -> http::request::Builder {
        let builder = Request::builder().method(method);
        match self.sender {
            Sender::Http1(_) => builder.uri(path).header("host", &self.authority),
            Sender::Http2(_) => builder.uri(format!("{}://{}{path}", self.scheme, self.authority)),
        }
    }

    async fn try_send(&mut self, req: Request<BoxBody>) -> Result<Reply, crate::BoxError> {
        let res = match &mut self.sender {
            Sender::Http1(sender) => {
                sender.ready().await?;
                sender.send_request(req).await?
            }
            Sender::Http2(sender) => {
                sender.ready().await?;
                sender.send_request(req).await?
            }
        };
        let (parts, body) = res.into_parts();
        let collected = body.collect().await?;
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            trailers: collected.trailers().cloned(),
            body: collected.to_bytes(),
        })
    }

    async fn send(&mut self, req: Request<BoxBody>) -> Reply {
        self.try_send(req).await.unwrap()
    }

    async fn get(&mut self, path: &str) -> Reply {
        let req = self.request("GET", path).body(empty()).unwrap();
        self.send(req).await
    }

    async fn post(&mut self, path: &str, body: &'static str) -> Reply {
        let req = self.request("POST", path).body(full(body)).unwrap();
        self.send(req).await
    }
}
