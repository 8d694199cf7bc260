//! Layers II composed by hand, without the facade: the bare transport under the cache, retry,
//! rate-limit and bandwidth layers (added with `ServiceBuilderExt`) and a tower-http layer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::within;
use http::header::USER_AGENT;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::set_header::SetRequestHeaderLayer;
use towline::towline_layers::ServiceBuilderExt;
use towline::towline_layers::cache::{CacheStatus, HttpCache};
use towline::towline_layers::exec::SharedExecutor;
use towline::towline_layers::resend::ResendBody;
use towline::towline_layers::retry::{RetryConfig, RetryCount};
use towline::towline_services::connect::{HttpConnector, TcpConfig};
use towline::towline_services::rt::tokio::TokioRuntime;
use towline::towline_services::rt::{Exec, Runtime};
use towline::towline_services::transport::{Transport, TransportConfig};
use towline::{BandwidthLimiter, RateLimiter};
use towline_test_support::{TestServer, response};

#[tokio::test]
async fn cache_retry_rate_and_bandwidth_compose_over_the_bare_transport() {
    // 503 + Retry-After: 0 first, then a cacheable 200; records each User-Agent.
    let seen = Arc::new(AtomicUsize::new(0));
    let agents = Arc::new(std::sync::Mutex::new(Vec::new()));
    let server = TestServer::builder()
        .handler({
            let (seen, agents) = (seen.clone(), agents.clone());
            move |req: Request<Bytes>| {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                agents
                    .lock()
                    .unwrap()
                    .push(req.headers()[USER_AGENT].to_str().unwrap().to_owned());
                async move {
                    let mut res = if n == 0 {
                        let mut res = response(503, "busy");
                        res.headers_mut()
                            .insert("retry-after", HeaderValue::from_static("0"));
                        res
                    } else {
                        response(200, "fresh")
                    };
                    res.headers_mut()
                        .insert("cache-control", HeaderValue::from_static("max-age=60"));
                    res
                }
            }
        })
        .build();

    let timer = TokioRuntime.timer();
    let executor: SharedExecutor = Arc::new(Exec(TokioRuntime));
    let transport: Transport<_, ResendBody<Full<Bytes>>, _> = Transport::new(
        HttpConnector::new(TokioRuntime, TcpConfig::default()),
        TokioRuntime,
        TransportConfig::default(),
    );
    let cache = HttpCache::new();
    let limiter = RateLimiter::new(10, Duration::from_secs(3600), timer.clone()).unwrap();
    let stack = ServiceBuilder::new()
        .layer(SetRequestHeaderLayer::overriding(
            USER_AGENT,
            HeaderValue::from_static("hand-built"),
        ))
        .cache(cache.clone(), timer.clone(), executor)
        .retries(
            RetryConfig::new().initial_backoff(Duration::ZERO),
            timer.clone(),
            towline::towline_services::retry_class,
        )
        .request_rate_limit(limiter.clone())
        .bandwidth_limit(BandwidthLimiter::new(64 * 1024 * 1024, timer.clone()).unwrap())
        .service(transport);

    let get = || {
        Request::get(server.url("/page"))
            .body(Full::<Bytes>::default())
            .unwrap()
    };
    // A miss: the 503 is retried (the retry waits its turn at the rate limiter too), the 200
    // is stored as its body streams through the bandwidth limit.
    let response = within(stack.clone().oneshot(get())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.extensions().get::<CacheStatus>(),
        Some(&CacheStatus::Miss)
    );
    assert_eq!(
        response.extensions().get::<RetryCount>(),
        Some(&RetryCount(1))
    );
    let body = within(response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, "fresh");

    // A hit: answered above retry, rate limit and transport.
    let response = within(stack.oneshot(get())).await.unwrap();
    assert_eq!(
        response.extensions().get::<CacheStatus>(),
        Some(&CacheStatus::Hit)
    );
    let body = within(response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, "fresh");

    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert_eq!(*agents.lock().unwrap(), ["hand-built", "hand-built"]);
    assert_eq!(cache.len(), 1);
    // Both attempts, and nothing else, took a slot of the shared limiter.
    for _ in 0..8 {
        assert!(limiter.try_acquire());
    }
    assert!(!limiter.try_acquire());
}
