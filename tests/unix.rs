#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! HTTP/1.1 and h2c over Unix domain sockets, per client and per request, pooled per socket.

mod common;

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response, Version};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use tokio::net::UnixListener;
use towline::TokioClient;
use towline_test_support::{TokioExecutor, TokioIo};

use common::within;

/// A hyper server on a Unix socket in a fresh directory: every response's body says the
/// server's name, the request's `Host` (or `:authority`), its path and the connection's
/// number.
struct UnixServer {
    dir: PathBuf,
    path: PathBuf,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl UnixServer {
    fn start(name: &'static str, http2: bool) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "towline-unix-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("http.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let connection = counted.fetch_add(1, Ordering::SeqCst) + 1;
                let service = service_fn(move |request: Request<Incoming>| async move {
                    let host = request
                        .headers()
                        .get(http::header::HOST)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                        .or_else(|| request.uri().authority().map(ToString::to_string))
                        .unwrap_or_default();
                    let body = format!("{name} {host} {} #{connection}", request.uri().path());
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                });
                let io = TokioIo::new(stream);
                tokio::spawn(async move {
                    if http2 {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor)
                            .serve_connection(io, service)
                            .await;
                    } else {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    }
                });
            }
        });
        Self {
            dir,
            path,
            connections,
            task,
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for UnixServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn text(client: &TokioClient, url: &str) -> (Version, String) {
    let response = within(client.get(url).send()).await.unwrap();
    let version = response.version();
    (version, response.text().await.unwrap())
}

#[tokio::test]
async fn http1_over_a_unix_socket_names_the_urls_host_and_reuses_the_connection() {
    let server = UnixServer::start("docker", false);
    let client = TokioClient::builder()
        .unix_socket(server.path())
        .build()
        .unwrap();
    let (version, body) = text(&client, "http://localhost/v1.43/containers/json").await;
    assert_eq!(version, Version::HTTP_11);
    assert_eq!(body, "docker localhost /v1.43/containers/json #1");
    let (_, body) = text(&client, "http://localhost:2375/info").await;
    assert_eq!(
        body, "docker localhost:2375 /info #2",
        "another authority, another connection"
    );
    let (_, body) = text(&client, "http://localhost/version").await;
    assert_eq!(
        body, "docker localhost /version #1",
        "the pooled connection is reused"
    );
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn h2c_prior_knowledge_over_a_unix_socket() {
    let server = UnixServer::start("h2", true);
    let client = TokioClient::builder()
        .unix_socket(server.path())
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let (version, body) = text(&client, "http://service.local/ping").await;
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(body, "h2 service.local /ping #1");
    let (_, body) = text(&client, "http://service.local/pong").await;
    assert_eq!(body, "h2 service.local /pong #1");
}

#[tokio::test]
async fn a_requests_own_socket_wins_and_sockets_never_share_connections() {
    let first = UnixServer::start("first", false);
    let second = UnixServer::start("second", false);
    let client = TokioClient::builder()
        .unix_socket(first.path())
        .build()
        .unwrap();
    let url = "http://daemon/status";
    let response = within(client.get(url).unix_socket(second.path()).send())
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "second daemon /status #1");
    let (_, body) = text(&client, url).await;
    assert_eq!(body, "first daemon /status #1");

    // Without a socket the same URL goes to the network, where no such host exists.
    let network = TokioClient::new();
    assert!(
        within(network.get("http://daemon.invalid/status").send())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_missing_socket_is_a_connect_error_naming_it() {
    let dir = std::env::temp_dir().join(format!("towline-unix-missing-{}", std::process::id()));
    let path = dir.join("nothing.sock");
    let client = TokioClient::builder().unix_socket(&path).build().unwrap();
    let error = within(client.get("http://localhost/").send())
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    assert!(error.to_string().contains("nothing.sock"), "{error}");
}
