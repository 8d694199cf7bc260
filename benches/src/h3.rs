//! The HTTP/3 listener of [`BenchServer`](crate::BenchServer): quinn and h3 on a UDP port of
//! `127.0.0.1`, presenting a test PKI's certificate (for `localhost` and `127.0.0.1`).
//!
//! It serves `GET /small`, `/json`, `/64k` and `/1m` from the same shared bodies as the TCP
//! listeners, each in one DATA frame after its head, with `Content-Length`; any other request
//! gets a 404. Its receive windows match the HTTP/2 listener's, so no client is held back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{Method, Response, StatusCode, header};

use crate::{Bodies, H2_CONNECTION_WINDOW, H2_STREAM_WINDOW};

/// Binds the listener; returns its endpoint, to run with [`accept`].
pub(crate) fn bind(tls: Arc<rustls::ServerConfig>) -> std::io::Result<quinn::Endpoint> {
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .stream_receive_window(H2_STREAM_WINDOW.into())
        .receive_window(H2_CONNECTION_WINDOW.into())
        .send_window(u64::from(H2_CONNECTION_WINDOW))
        .max_concurrent_bidi_streams(1024u32.into());
    config.transport_config(Arc::new(transport));
    quinn::Endpoint::server(config, SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// Accepts connections on `endpoint` until it closes, counting them in `counter`.
pub(crate) async fn accept(
    endpoint: quinn::Endpoint,
    counter: Arc<AtomicU64>,
    bodies: Arc<Bodies>,
) {
    while let Some(incoming) = endpoint.accept().await {
        let bodies = bodies.clone();
        let counter = counter.clone();
        tokio::spawn(async move {
            let Ok(connection) = incoming.await else {
                return;
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let Ok(mut h3) =
                h3::server::Connection::<_, Bytes>::new(h3_quinn::Connection::new(connection))
                    .await
            else {
                return;
            };
            while let Ok(Some(resolver)) = h3.accept().await {
                let bodies = bodies.clone();
                tokio::spawn(async move {
                    let Ok((request, mut stream)) = resolver.resolve_request().await else {
                        return;
                    };
                    let body = match (request.method(), request.uri().path()) {
                        (&Method::GET, "/small") => Some((&bodies.small, "text/plain")),
                        (&Method::GET, "/json") => Some((&bodies.json, "application/json")),
                        (&Method::GET, "/64k") => {
                            Some((&bodies.kib_64, "application/octet-stream"))
                        }
                        (&Method::GET, "/1m") => Some((&bodies.mib_1, "application/octet-stream")),
                        _ => None,
                    };
                    let mut response = Response::new(());
                    let Some((body, content_type)) = body else {
                        *response.status_mut() = StatusCode::NOT_FOUND;
                        let _ = stream.send_response(response).await;
                        let _ = stream.finish().await;
                        return;
                    };
                    let headers = response.headers_mut();
                    headers.insert(
                        header::CONTENT_TYPE,
                        header::HeaderValue::from_static(content_type),
                    );
                    headers.insert(
                        header::CONTENT_LENGTH,
                        header::HeaderValue::from(body.len()),
                    );
                    if stream.send_response(response).await.is_ok()
                        && stream.send_data(body.clone()).await.is_ok()
                    {
                        let _ = stream.finish().await;
                    }
                });
            }
        });
    }
}
