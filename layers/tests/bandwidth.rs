//! End to end: `BandwidthLayer` over towline's bare transport with tokio's timer, against
//! in-process HTTP/1.1 and h2c servers. Checks the body arrives whole and in pieces no larger
//! than the bucket; it asserts nothing about time.

#![cfg(feature = "bandwidth")]

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use towline_layers::{BoxError, ServiceBuilderExt, bandwidth::BandwidthLimiter, time::SharedTimer};
use towline_services::{
    connect::{HttpConnector, TcpConfig},
    rt::tokio::{TokioRuntime, TokioTimer},
    transport::{Transport, TransportConfig},
};
use towline_test_support::{TestServer, full};

const BURST: u64 = 32 * 1024;

/// Bytes that differ from position to position, so a lost or repeated piece shows.
fn payload(len: usize) -> Bytes {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[tokio::test]
async fn paced_bodies_arrive_whole_over_http1_and_h2c() -> Result<(), BoxError> {
    let data = payload(512 * 1024);
    let timer: SharedTimer = Arc::new(TokioTimer);
    // 16 MiB/s: the 512 KiB body takes about 30 ms, in pieces of at most 32 KiB.
    let limiter = BandwidthLimiter::new(16 * 1024 * 1024, timer)?.burst(BURST);
    let connector = HttpConnector::new(TokioRuntime, TcpConfig::default());
    let transport = Transport::new(connector, TokioRuntime, TransportConfig::default());
    let client = ServiceBuilder::new()
        .bandwidth_limit(limiter)
        .service(transport);

    for h2 in [false, true] {
        let served = data.clone();
        let builder = if h2 {
            TestServer::builder().h2c()
        } else {
            TestServer::builder()
        };
        let server = builder
            .handler(move |_request| {
                let served = served.clone();
                async move { http::Response::new(full(served)) }
            })
            .build();
        let version = if h2 {
            Version::HTTP_2
        } else {
            Version::HTTP_11
        };
        let request = Request::get(server.url("/"))
            .version(version)
            .body(Full::<Bytes>::default())?;
        let response = client.clone().oneshot(request).await?;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.version(), version);

        let mut body = response.into_body();
        let mut received = Vec::with_capacity(data.len());
        while let Some(frame) = body.frame().await {
            if let Ok(piece) = frame?.into_data() {
                assert!(
                    piece.len() as u64 <= BURST,
                    "a piece larger than the bucket"
                );
                received.extend_from_slice(&piece);
            }
        }
        assert_eq!(received.len(), data.len());
        assert!(received == data, "the body arrived altered (h2: {h2})");
    }
    Ok(())
}
