//! towline's and tower-http's `ServiceBuilderExt` in scope together: no method name of one
//! shadows or makes ambiguous a method of the other, and a stack built from both works over
//! towline's transport.

#![cfg(all(
    feature = "redirect",
    feature = "rate-limit",
    feature = "retry",
    feature = "timeout"
))]

use std::{io::Write, sync::Arc, time::Duration};

use bytes::Bytes;
use flate2::{Compression, write::GzEncoder};
use http::{
    HeaderValue, Request, StatusCode,
    header::{CONTENT_ENCODING, HeaderName, LOCATION},
};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::ServiceBuilderExt as _;
use towline_layers::{
    BoxError, ServiceBuilderExt as _,
    rate_limit::RateLimiter,
    redirect::{Policy, RedirectHistory},
    retry::{RetryConfig, default_error_class},
    time::SharedTimer,
};
use towline_services::{
    connect::{HttpConnector, TcpConfig},
    rt::tokio::{TokioRuntime, TokioTimer},
    transport::{Transport, TransportConfig},
};
use towline_test_support::{TestServer, full, response};

fn gzip(data: &[u8]) -> Result<Vec<u8>, std::io::Error> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data)?;
    encoder.finish()
}

#[tokio::test]
async fn a_stack_mixes_both_extension_traits() -> Result<(), BoxError> {
    // `/old` redirects to `/new`, which answers with the `x-stack` request header it got,
    // gzip-encoded.
    let server = TestServer::builder()
        .handler(|request: Request<Bytes>| async move {
            if request.uri().path() == "/old" {
                let mut moved = response(302, "");
                moved
                    .headers_mut()
                    .insert(LOCATION, HeaderValue::from_static("/new"));
                return moved;
            }
            let seen = request
                .headers()
                .get("x-stack")
                .map(|value| value.as_bytes().to_vec())
                .unwrap_or_default();
            let mut answer = http::Response::new(full(gzip(&seen).unwrap_or_default()));
            answer
                .headers_mut()
                .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            answer
        })
        .build();

    let timer: SharedTimer = Arc::new(TokioTimer);
    let transport = Transport::new(
        HttpConnector::new(TokioRuntime, TcpConfig::default()),
        TokioRuntime,
        TransportConfig::default(),
    );
    let stack = ServiceBuilder::new()
        // tower-http
        .override_request_header(
            HeaderName::from_static("x-stack"),
            HeaderValue::from_static("mixed"),
        )
        .decompression()
        // towline
        .timeouts(Arc::clone(&timer), Some(Duration::from_secs(30)), None)
        .redirects(Policy::limited(5))
        .retries(RetryConfig::new(), Arc::clone(&timer), default_error_class)
        .request_rate_limit(RateLimiter::new(100, Duration::from_secs(1), timer)?)
        .service(transport);

    let request = Request::get(server.url("/old")).body(Full::<Bytes>::default())?;
    let response = stack.oneshot(request).await?;
    assert_eq!(response.status(), StatusCode::OK);
    let history = response
        .extensions()
        .get::<RedirectHistory>()
        .map(|RedirectHistory(hops)| hops.len());
    assert_eq!(history, Some(1), "towline's redirect layer followed /old");
    assert!(
        !response.headers().contains_key(CONTENT_ENCODING),
        "tower-http's decompression decoded the body"
    );
    let body = response.into_body().collect().await?.to_bytes();
    assert_eq!(body, "mixed", "tower-http's header reached the final hop");
    Ok(())
}
