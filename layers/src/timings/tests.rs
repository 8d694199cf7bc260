use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};

use super::{ConnectTimings, ConnectionInfo, RequestTimings, TimingsLayer};
use crate::test_util::channel;
use crate::time::ManualTimer;

#[tokio::test]
async fn reports_connection_phases_first_byte_headers_and_body() {
    let timer = ManualTimer::new();
    let clock = timer.clone();
    let (tx, body) = channel();
    let body = Arc::new(std::sync::Mutex::new(Some(body)));
    let service = ServiceBuilder::new()
        .layer(TimingsLayer::new(timer.shared()))
        .service_fn(move |_req: Request<Full<Bytes>>| {
            let clock = clock.clone();
            let body = body.clone();
            async move {
                // Connecting takes 30 ms, then the server answers 20 ms after the request.
                clock.advance(Duration::from_millis(30));
                let sent: Instant = hyper::rt::Timer::now(&clock);
                clock.advance(Duration::from_millis(20));
                let body = body.lock().unwrap().take().expect("one request");
                let mut response = Response::new(body);
                // What a transport leaves for the layer.
                let timings = ConnectTimings::default()
                    .with_dns(Duration::from_millis(5))
                    .with_tcp(Duration::from_millis(10))
                    .with_tls(Duration::from_millis(15));
                response
                    .extensions_mut()
                    .insert(ConnectionInfo::new(timings, sent));
                Ok::<_, Infallible>(response)
            }
        });
    let response = service
        .oneshot(Request::new(Full::default()))
        .await
        .unwrap();
    let timings = response
        .extensions()
        .get::<RequestTimings>()
        .cloned()
        .unwrap();
    assert_eq!(timings.dns, Some(Duration::from_millis(5)));
    assert_eq!(timings.tcp, Some(Duration::from_millis(10)));
    assert_eq!(timings.tls, Some(Duration::from_millis(15)));
    assert_eq!(timings.time_to_first_byte, Some(Duration::from_millis(20)));
    assert_eq!(timings.headers, Duration::from_millis(50));
    assert_eq!(timings.body_complete(), None);

    let mut body = response.into_body();
    tx.data("a");
    body.frame().await.unwrap().unwrap();
    timer.advance(Duration::from_millis(100));
    assert_eq!(timings.body_complete(), None);
    drop(tx);
    assert!(body.frame().await.is_none());
    assert_eq!(timings.body_complete(), Some(Duration::from_millis(150)));
}

#[tokio::test]
async fn a_bodiless_response_completes_with_its_head_and_without_transport_phases() {
    let timer = ManualTimer::new();
    let clock = timer.clone();
    let service = ServiceBuilder::new()
        .layer(TimingsLayer::new(timer.shared()))
        .service_fn(move |_req: Request<Full<Bytes>>| {
            let clock = clock.clone();
            async move {
                clock.advance(Duration::from_millis(7));
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            }
        });
    let response = service
        .oneshot(Request::new(Full::default()))
        .await
        .unwrap();
    let timings = response.extensions().get::<RequestTimings>().unwrap();
    assert_eq!(timings.dns, None);
    assert_eq!(timings.time_to_first_byte, None);
    assert_eq!(timings.headers, Duration::from_millis(7));
    assert_eq!(timings.body_complete(), Some(Duration::from_millis(7)));
}
