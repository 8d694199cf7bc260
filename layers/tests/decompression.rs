//! End to end: `DecompressionLayer` over towline's bare transport, against in-process servers
//! that answer with bodies compressed here, over HTTP/1.1 and h2c.

#![cfg(all(
    feature = "decompression-gzip",
    feature = "decompression-deflate",
    feature = "decompression-br",
    feature = "decompression-zstd"
))]

use std::{io::Write, sync::Arc, time::Duration};

use bytes::Bytes;
use flate2::{
    Compression,
    write::{DeflateEncoder, GzEncoder, ZlibEncoder},
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version, header};
use http_body_util::{BodyExt, Full};
use tokio::sync::Notify;
use tower::{Service, ServiceBuilder, ServiceExt};
use towline_layers::{
    BoxError,
    decompression::{
        Decompression, DecompressionBody, DecompressionError, DecompressionErrorKind,
        DecompressionLayer, Encoding, NoDecompression,
    },
    error::find_cause,
};
use towline_services::{
    connect::{HttpConnector, TcpConfig},
    rt::tokio::TokioRuntime,
    transport::{ResponseBody, Transport, TransportConfig},
};
use towline_test_support::{BoxBody, TestServer, body_channel, full};

type Client = Decompression<Transport<HttpConnector<TokioRuntime>, Full<Bytes>, TokioRuntime>>;
type Body = DecompressionBody<ResponseBody<Full<Bytes>>>;

fn client(layer: DecompressionLayer) -> Client {
    let connector = HttpConnector::new(TokioRuntime, TcpConfig::default());
    let transport = Transport::new(connector, TokioRuntime, TransportConfig::default());
    ServiceBuilder::new().layer(layer).service(transport)
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data)?;
    encoder.finish()
}

fn zlib(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data)?;
    encoder.finish()
}

fn raw_deflate(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data)?;
    encoder.finish()
}

fn brotli(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
    encoder.write_all(data)?;
    Ok(encoder.into_inner())
}

fn zstd(data: &[u8]) -> std::io::Result<Vec<u8>> {
    zstd::encode_all(data, 3)
}

type Encoder = fn(&[u8]) -> std::io::Result<Vec<u8>>;

const CODINGS: [(&str, Encoder); 6] = [
    ("gzip", gzip),
    ("x-gzip", gzip),
    ("deflate", zlib),
    ("deflate", raw_deflate),
    ("br", brotli),
    ("zstd", zstd),
];

fn text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut n = 0u64;
    while out.len() < len {
        n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        out.extend_from_slice(
            format!("line {} of the body, value {}\n", out.len(), n >> 40).as_bytes(),
        );
    }
    out.truncate(len);
    out
}

/// A response with `Content-Encoding: content_encoding` and `body`, echoing the request's
/// `Accept-Encoding` in `x-accept-encoding`.
fn encoded_response(
    request: &Request<Bytes>,
    content_encoding: &str,
    body: BoxBody,
) -> Response<BoxBody> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_encoding) {
        headers.insert(header::CONTENT_ENCODING, value);
    }
    if let Some(accept) = request.headers().get(header::ACCEPT_ENCODING) {
        headers.insert("x-accept-encoding", accept.clone());
    }
    response
}

/// A server answering every request with `encoded`, labelled `content_encoding`.
fn server(h2: bool, content_encoding: &'static str, encoded: Vec<u8>) -> TestServer {
    let encoded = Bytes::from(encoded);
    let builder = if h2 {
        TestServer::builder().h2c()
    } else {
        TestServer::builder()
    };
    builder
        .handler(move |request| {
            let encoded = encoded.clone();
            async move { encoded_response(&request, content_encoding, full(encoded)) }
        })
        .build()
}

fn get(server: &TestServer, h2: bool) -> Result<Request<Full<Bytes>>, BoxError> {
    let version = if h2 {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    Ok(Request::get(server.url("/"))
        .version(version)
        .body(Full::default())?)
}

async fn send(client: &Client, request: Request<Full<Bytes>>) -> Result<Response<Body>, BoxError> {
    client.clone().oneshot(request).await
}

async fn read_all(body: Body) -> Result<(Vec<u8>, Option<HeaderMap>), BoxError> {
    let collected = body.collect().await?;
    let trailers = collected.trailers().cloned();
    Ok((collected.to_bytes().to_vec(), trailers))
}

fn decompression_error(err: &BoxError) -> Option<(DecompressionErrorKind, Encoding)> {
    find_cause::<DecompressionError>(&**err).map(|err| (err.kind(), err.encoding()))
}

#[tokio::test]
async fn every_coding_decodes_over_http1_and_h2c() -> Result<(), BoxError> {
    let data = text(300_000);
    let client = client(DecompressionLayer::new());
    for h2 in [false, true] {
        for (name, encoder) in CODINGS {
            let server = server(h2, name, encoder(&data)?);
            let response = send(&client, get(&server, h2)?).await?;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(
                response.version(),
                if h2 {
                    Version::HTTP_2
                } else {
                    Version::HTTP_11
                }
            );
            let headers = response.headers();
            assert_eq!(headers["x-accept-encoding"], "gzip, deflate, br, zstd");
            assert!(headers.get(header::CONTENT_ENCODING).is_none(), "{name}");
            assert!(headers.get(header::CONTENT_LENGTH).is_none(), "{name}");
            let (body, _) = read_all(response.into_body()).await?;
            assert!(
                body == data,
                "{name} over {}",
                if h2 { "h2c" } else { "HTTP/1.1" }
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn stacked_and_oddly_cased_codings() -> Result<(), BoxError> {
    let data = text(50_000);
    let client = client(DecompressionLayer::new());
    let server = server(false, "GZIP, Br", brotli(&gzip(&data)?)?);
    let response = send(&client, get(&server, false)?).await?;
    assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    assert!(read_all(response.into_body()).await?.0 == data);
    Ok(())
}

#[tokio::test]
async fn decodes_while_the_body_streams() -> Result<(), BoxError> {
    // The server sends half of the compressed body, then waits until the client has read
    // decoded data: a layer that buffered the whole body would never get there.
    let data = text(2 * 1024 * 1024);
    let encoded = Bytes::from(zstd(&data)?);
    let client_read = Arc::new(Notify::new());
    let server = TestServer::builder()
        .handler({
            let client_read = client_read.clone();
            move |request| {
                let encoded = encoded.clone();
                let client_read = client_read.clone();
                async move {
                    let (tx, body) = body_channel();
                    tokio::spawn(async move {
                        let half = encoded.len() / 2;
                        for chunk in encoded.slice(..half).chunks(4096) {
                            tx.send_data(Bytes::copy_from_slice(chunk)).await;
                        }
                        client_read.notified().await;
                        tx.send_data(encoded.slice(half..)).await;
                    });
                    encoded_response(&request, "zstd", body)
                }
            }
        })
        .build();
    let client = client(DecompressionLayer::new());
    let response = send(&client, get(&server, false)?).await?;
    let mut body = response.into_body();
    let mut decoded = Vec::new();
    while decoded.len() < data.len() / 4 {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await?
            .ok_or("the body ended early")??;
        decoded.extend_from_slice(&frame.into_data().map_err(|_| "data")?);
    }
    client_read.notify_one();
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(10), body.frame()).await? {
        decoded.extend_from_slice(&frame?.into_data().map_err(|_| "data")?);
    }
    assert!(decoded == data);
    Ok(())
}

#[tokio::test]
async fn trailers_pass_through_over_h2c() -> Result<(), BoxError> {
    let data = text(100_000);
    let encoded = Bytes::from(gzip(&data)?);
    let server = TestServer::builder()
        .h2c()
        .handler(move |request| {
            let encoded = encoded.clone();
            async move {
                let (tx, body) = body_channel();
                tokio::spawn(async move {
                    for chunk in encoded.chunks(10_000) {
                        tx.send_data(Bytes::copy_from_slice(chunk)).await;
                    }
                    let mut trailers = HeaderMap::new();
                    trailers.insert("x-checksum", HeaderValue::from_static("abc"));
                    tx.send_trailers(trailers).await;
                });
                encoded_response(&request, "gzip", body)
            }
        })
        .build();
    let client = client(DecompressionLayer::new());
    let response = send(&client, get(&server, true)?).await?;
    let (body, trailers) = read_all(response.into_body()).await?;
    assert!(body == data);
    let trailers = trailers.ok_or("trailers must pass through")?;
    assert_eq!(trailers["x-checksum"], "abc");
    Ok(())
}

#[tokio::test]
async fn a_gzip_bomb_stops_at_the_limit() -> Result<(), BoxError> {
    // 10 MiB of zeros, gzip-compressed to about 10 KiB, against a 1 MiB limit.
    let bomb = gzip(&vec![0u8; 10 * 1024 * 1024])?;
    assert!(bomb.len() < 64 * 1024);
    let client = client(DecompressionLayer::new().max_size(Some(1024 * 1024)));
    for h2 in [false, true] {
        let server = server(h2, "gzip", bomb.clone());
        let response = send(&client, get(&server, h2)?).await?;
        let mut body = response.into_body();
        let mut decoded = 0;
        let err = loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    let len = frame.into_data().map_or(0, |data| data.len());
                    assert!(len <= 32 * 1024);
                    decoded += len;
                }
                Some(Err(err)) => break err,
                None => return Err("the bomb must be stopped".into()),
            }
        };
        assert!(decoded <= 1024 * 1024);
        assert_eq!(
            decompression_error(&err),
            Some((DecompressionErrorKind::SizeLimit, Encoding::Gzip))
        );
        assert_eq!(
            err.to_string(),
            "decompressed response body (gzip) exceeds the limit of 1048576 bytes"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_brotli_bomb_trips_the_default_ratio_limit() -> Result<(), BoxError> {
    let bomb = brotli(&vec![0u8; 8 * 1024 * 1024])?;
    let client = client(DecompressionLayer::new());
    let server = server(false, "br", bomb);
    let response = send(&client, get(&server, false)?).await?;
    let err = read_all(response.into_body())
        .await
        .err()
        .ok_or("the ratio limit")?;
    assert_eq!(
        decompression_error(&err),
        Some((DecompressionErrorKind::RatioLimit, Encoding::Br))
    );
    Ok(())
}

#[tokio::test]
async fn corrupt_and_truncated_bodies_are_body_errors() -> Result<(), BoxError> {
    let data = text(20_000);
    let client = client(DecompressionLayer::new());

    let garbage = b"<html>not gzip at all</html>".to_vec();
    let server_ = server(false, "gzip", garbage);
    let response = send(&client, get(&server_, false)?).await?;
    assert_eq!(response.status(), StatusCode::OK, "the head arrives fine");
    let err = read_all(response.into_body())
        .await
        .err()
        .ok_or("corrupt")?;
    assert_eq!(
        decompression_error(&err),
        Some((DecompressionErrorKind::Corrupt, Encoding::Gzip))
    );

    // A complete HTTP body holding a cut compressed stream.
    for (name, encoder) in CODINGS {
        let encoded = encoder(&data)?;
        let server_ = server(false, name, encoded[..encoded.len() - 3].to_vec());
        let response = send(&client, get(&server_, false)?).await?;
        let err = read_all(response.into_body())
            .await
            .err()
            .ok_or("truncated")?;
        assert_eq!(
            decompression_error(&err).map(|(kind, _)| kind),
            Some(DecompressionErrorKind::Truncated),
            "{name}: {err}"
        );
    }

    // The connection dies mid-body: the transport's error passes through as it is.
    let encoded = Bytes::from(gzip(&text(200_000))?);
    let server_ = TestServer::builder()
        .handler(move |request| {
            let encoded = encoded.clone();
            async move {
                let (tx, body) = body_channel();
                tokio::spawn(async move {
                    tx.send_data(encoded.slice(..encoded.len() / 2)).await;
                    tx.abort().await;
                });
                encoded_response(&request, "gzip", body)
            }
        })
        .build();
    let response = send(&client, get(&server_, false)?).await?;
    let err = read_all(response.into_body())
        .await
        .err()
        .ok_or("aborted")?;
    assert_eq!(decompression_error(&err), None, "{err}");
    Ok(())
}

#[tokio::test]
async fn opt_outs_and_bodiless_responses_pass_through() -> Result<(), BoxError> {
    let encoded = gzip(&text(10_000))?;
    let server = TestServer::builder()
        .handler({
            let encoded = Bytes::from(encoded.clone());
            move |request| {
                let encoded = encoded.clone();
                async move {
                    let status = match request.uri().path() {
                        "/no-content" => StatusCode::NO_CONTENT,
                        "/not-modified" => StatusCode::NOT_MODIFIED,
                        _ => StatusCode::OK,
                    };
                    let body = if status == StatusCode::OK {
                        full(encoded)
                    } else {
                        full(Bytes::new())
                    };
                    let mut response = encoded_response(&request, "gzip", body);
                    *response.status_mut() = status;
                    response
                }
            }
        })
        .build();
    let client_ = client(DecompressionLayer::new());

    // Per request.
    let mut request = get(&server, false)?;
    request.extensions_mut().insert(NoDecompression);
    let response = send(&client_, request).await?;
    assert!(response.headers().get("x-accept-encoding").is_none());
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    assert!(read_all(response.into_body()).await?.0 == encoded);

    // For the whole layer.
    let off = client(DecompressionLayer::new().no_decompression());
    let response = send(&off, get(&server, false)?).await?;
    assert!(response.headers().get("x-accept-encoding").is_none());
    assert!(read_all(response.into_body()).await?.0 == encoded);

    // HEAD: the headers describe the representation.
    let request = Request::builder()
        .method(Method::HEAD)
        .uri(server.url("/"))
        .body(Full::default())?;
    let response = send(&client_, request).await?;
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(
        response.headers()[header::CONTENT_LENGTH],
        encoded.len().to_string().as_str()
    );
    assert!(read_all(response.into_body()).await?.0.is_empty());

    for path in ["/no-content", "/not-modified"] {
        let request = Request::get(server.url(path)).body(Full::default())?;
        let response = send(&client_, request).await?;
        assert_eq!(
            response.headers()[header::CONTENT_ENCODING],
            "gzip",
            "{path}"
        );
        assert!(read_all(response.into_body()).await?.0.is_empty(), "{path}");
    }
    Ok(())
}

#[tokio::test]
async fn connections_are_reused_after_decoded_bodies() -> Result<(), BoxError> {
    let data = text(40_000);
    let server = server(false, "br", brotli(&data)?);
    let mut client = client(DecompressionLayer::new());
    for _ in 0..3 {
        let response = client.ready().await?.call(get(&server, false)?).await?;
        assert!(read_all(response.into_body()).await?.0 == data);
    }
    assert_eq!(
        server.connections(),
        1,
        "the decoded body was read to its end"
    );
    Ok(())
}
