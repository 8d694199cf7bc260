use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use opentelemetry::{
    Context, KeyValue, StringValue, Value,
    trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _},
};
use opentelemetry_sdk::{
    metrics::{
        InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
        data::{AggregatedMetrics, MetricData},
    },
    propagation::TraceContextPropagator,
    trace::{InMemorySpanExporter, SdkTracerProvider, SpanData},
};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;
use towline_core::{ConnectTimings, ConnectionInfo};

use super::*;
use crate::{
    BoxError, Deadline, ResendCount,
    redirect::{Policy, RedirectLayer},
    retry::{Jitter, RetryConfig, RetryLayer},
    time::ManualTimer,
};

/// Providers exporting to memory, and the clock the layer measures with.
struct Telemetry {
    spans: InMemorySpanExporter,
    tracer_provider: SdkTracerProvider,
    metrics: InMemoryMetricExporter,
    meter_provider: SdkMeterProvider,
    timer: ManualTimer,
}

impl Telemetry {
    fn new() -> Self {
        let spans = InMemorySpanExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let metrics = InMemoryMetricExporter::default();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        Self {
            spans,
            tracer_provider,
            metrics,
            meter_provider,
            timer: ManualTimer::new(),
        }
    }

    fn layer(&self) -> OtelLayer {
        OtelLayer::with_providers(
            self.timer.shared(),
            &self.tracer_provider,
            &self.meter_provider,
        )
        .propagator(TraceContextPropagator::new())
    }

    fn spans(&self) -> Vec<SpanData> {
        self.spans.get_finished_spans().unwrap_or_default()
    }

    fn only_span(&self) -> SpanData {
        let mut spans = self.spans();
        assert_eq!(spans.len(), 1, "{spans:#?}");
        spans.remove(0)
    }

    /// The data of the metric `name` after a flush (`AggregatedMetrics` is not `Clone`: the
    /// kinds the tests read are copied out).
    fn metric(&self, name: &str) -> Option<AggregatedMetrics> {
        self.meter_provider.force_flush().ok()?;
        let exported = self.metrics.get_finished_metrics().ok()?;
        let last = exported.last()?;
        last.scope_metrics()
            .flat_map(|scope| scope.metrics())
            .find(|metric| metric.name() == name)
            .map(|metric| clone_data(metric.data()))
    }
}

/// A copy of the metric data kinds the tests read.
fn clone_data(data: &AggregatedMetrics) -> AggregatedMetrics {
    match data {
        AggregatedMetrics::F64(MetricData::Histogram(h)) => {
            AggregatedMetrics::F64(MetricData::Histogram(h.clone()))
        }
        AggregatedMetrics::U64(MetricData::Histogram(h)) => {
            AggregatedMetrics::U64(MetricData::Histogram(h.clone()))
        }
        AggregatedMetrics::I64(MetricData::Sum(s)) => {
            AggregatedMetrics::I64(MetricData::Sum(s.clone()))
        }
        other => panic!("unexpected metric data {other:?}"),
    }
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn s(value: &str) -> Value {
    Value::from(value.to_owned())
}

const PEER: &str = "192.0.2.7:8443";

/// An origin answering `status` with `body`, as towline's transport would: with a
/// `ConnectionInfo` for a fresh connection.
fn origin(
    status: u16,
    body: &'static str,
) -> impl tower_service::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = BoxError,
    Future = impl Send,
> + Clone {
    service_fn(move |_request: Request<Full<Bytes>>| async move {
        let timings = ConnectTimings::default()
            .with_dns(Duration::from_millis(1))
            .with_tcp(Duration::from_millis(3))
            .with_tls(Duration::from_millis(5));
        let info = ConnectionInfo::new(timings, std::time::Instant::now())
            .with_remote_addr(PEER.parse::<SocketAddr>()?);
        let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = StatusCode::from_u16(status)?;
        response.extensions_mut().insert(info);
        Ok::<_, BoxError>(response)
    })
}

fn get(uri: &str) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::default());
    *request.uri_mut() = uri.parse().unwrap_or_default();
    request
}

#[tokio::test]
async fn a_success_is_one_client_span_with_the_http_attributes() -> Result<(), BoxError> {
    let telemetry = Telemetry::new();
    let service = telemetry.layer().layer(origin(200, "hello"));
    let mut request = get("https://user:secret@example.com:8443/search?q=rust&token=abc");
    request.headers_mut().insert(
        header::USER_AGENT,
        HeaderValue::from_static("towline-test/1"),
    );
    let response = service.oneshot(request).await?;
    response.into_body().collect().await?;

    let span = telemetry.only_span();
    assert_eq!(span.name, "GET");
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.status, Status::Unset);
    assert_eq!(attr(&span, "http.request.method"), Some(&s("GET")));
    assert_eq!(attr(&span, "server.address"), Some(&s("example.com")));
    assert_eq!(attr(&span, "server.port"), Some(&Value::I64(8443)));
    assert_eq!(attr(&span, "url.scheme"), Some(&s("https")));
    assert_eq!(
        attr(&span, "url.full"),
        Some(&s(
            "https://example.com:8443/search?q=REDACTED&token=REDACTED"
        ))
    );
    assert_eq!(
        attr(&span, "user_agent.original"),
        Some(&s("towline-test/1"))
    );
    assert_eq!(
        attr(&span, "http.response.status_code"),
        Some(&Value::I64(200))
    );
    assert_eq!(attr(&span, "network.protocol.version"), Some(&s("1.1")));
    assert_eq!(attr(&span, "network.peer.address"), Some(&s("192.0.2.7")));
    assert_eq!(attr(&span, "network.peer.port"), Some(&Value::I64(8443)));
    assert_eq!(
        attr(&span, "towline.connection.reused"),
        Some(&Value::Bool(false))
    );
    assert_eq!(
        attr(&span, "towline.connect.dns.duration"),
        Some(&Value::F64(0.001))
    );
    assert_eq!(
        attr(&span, "towline.connect.tcp.duration"),
        Some(&Value::F64(0.003))
    );
    assert_eq!(
        attr(&span, "towline.connect.tls.duration"),
        Some(&Value::F64(0.005))
    );
    assert_eq!(attr(&span, "towline.connect.proxy.duration"), None);
    assert_eq!(attr(&span, "http.request.resend_count"), None);
    assert_eq!(attr(&span, "error.type"), None);
    Ok(())
}

#[tokio::test]
async fn a_404_fails_the_span_with_its_status() -> Result<(), BoxError> {
    let telemetry = Telemetry::new();
    let service = telemetry.layer().layer(origin(404, "missing"));
    let response = service.oneshot(get("http://example.com/x")).await?;
    response.into_body().collect().await?;
    let span = telemetry.only_span();
    assert_eq!(attr(&span, "error.type"), Some(&s("404")));
    assert_eq!(attr(&span, "server.port"), Some(&Value::I64(80)));
    assert!(matches!(span.status, Status::Error { .. }));
    Ok(())
}

#[tokio::test]
async fn a_failed_request_is_classified_and_ends_the_span() -> Result<(), BoxError> {
    fn classify(err: &(dyn std::error::Error + 'static)) -> &'static str {
        match crate::error::find_cause::<std::io::Error>(err) {
            Some(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => "connect",
            _ => "_OTHER",
        }
    }
    let telemetry = Telemetry::new();
    let refused = service_fn(|_request: Request<Full<Bytes>>| async {
        Err::<Response<Full<Bytes>>, BoxError>(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )))
    });
    // A classifier chosen for the layer wins over a stack's default.
    let service = telemetry
        .layer()
        .error_classifier(classify)
        .default_error_classifier(|_| "stack")
        .layer(refused);
    let result = service.oneshot(get("http://127.0.0.1:9/")).await;
    assert!(result.is_err());
    let span = telemetry.only_span();
    assert_eq!(attr(&span, "error.type"), Some(&s("connect")));
    assert_eq!(attr(&span, "http.response.status_code"), None);
    assert!(matches!(span.status, Status::Error { .. }));

    let service = telemetry
        .layer()
        .default_error_classifier(|_| "stack")
        .layer(refused);
    assert!(service.oneshot(get("http://127.0.0.1:9/")).await.is_err());
    assert_eq!(attr(&telemetry.spans()[1], "error.type"), Some(&s("stack")));
    Ok(())
}

#[tokio::test]
async fn an_attempt_dropped_past_the_deadline_is_a_timeout() -> Result<(), BoxError> {
    let telemetry = Telemetry::new();
    let pending = service_fn(|_request: Request<Full<Bytes>>| {
        std::future::pending::<Result<Response<Full<Bytes>>, BoxError>>()
    });
    let service = telemetry.layer().layer(pending);
    let mut request = get("http://example.com/slow");
    let deadline = telemetry.timer.shared().now() + Duration::from_secs(1);
    request.extensions_mut().insert(Deadline(deadline));
    let mut future = Box::pin(service.oneshot(request));
    assert!(crate::test_util::poll_once(future.as_mut()).is_pending());
    telemetry.timer.advance(Duration::from_secs(2));
    drop(future);
    let span = telemetry.only_span();
    assert_eq!(attr(&span, "error.type"), Some(&s("timeout")));

    // Before the deadline, dropping is the caller's choice.
    let service = telemetry.layer().layer(pending);
    let mut future = Box::pin(service.oneshot(get("http://example.com/slow")));
    assert!(crate::test_util::poll_once(future.as_mut()).is_pending());
    drop(future);
    let spans = telemetry.spans();
    assert_eq!(attr(&spans[1], "error.type"), Some(&s("cancelled")));
    Ok(())
}

#[tokio::test]
async fn an_attempt_given_up_at_its_attempt_timeout_is_a_timeout() -> Result<(), BoxError> {
    let telemetry = Telemetry::new();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    // The first attempt never answers; the second does.
    let stalls_first = service_fn(move |_request: Request<_>| {
        let first = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        async move {
            if first {
                std::future::pending::<()>().await;
            }
            Ok::<_, BoxError>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }
    });
    let retry = RetryConfig::new()
        .initial_backoff(Duration::ZERO)
        .jitter(Jitter::None)
        .attempt_timeout(Duration::from_millis(150));
    let service = tower::ServiceBuilder::new()
        .layer(RetryLayer::new(retry, telemetry.timer.shared()))
        .layer(telemetry.layer())
        .service(stalls_first);
    let call = tokio::spawn(service.oneshot(get("http://example.com/slow")));
    telemetry.timer.wait_for_sleeps(1).await;
    telemetry.timer.advance(Duration::from_millis(150));
    let response = call.await??;
    response.into_body().collect().await?;

    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    let spans = telemetry.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    assert_eq!(attr(&spans[0], "error.type"), Some(&s("timeout")));
    assert_eq!(attr(&spans[1], "error.type"), None);
    Ok(())
}

#[tokio::test]
async fn a_non_standard_method_is_other_with_its_original() -> Result<(), BoxError> {
    let telemetry = Telemetry::new();
    let service = telemetry.layer().layer(origin(200, ""));
    let mut request = get("http://example.com/cache");
    *request.method_mut() = Method::from_bytes(b"PURGE")?;
    service
        .oneshot(request)
        .await?
        .into_body()
        .collect()
        .await?;
    let span = telemetry.only_span();
    assert_eq!(span.name, "HTTP");
    assert_eq!(attr(&span, "http.request.method"), Some(&s("_OTHER")));
    assert_eq!(
        attr(&span, "http.request.method_original"),
        Some(&s("PURGE"))
    );
    Ok(())
}

#[tokio::test]
async fn an_ipv6_host_loses_its_brackets() -> Result<(), BoxError> {
    let telemetry = Telemetry::new();
    let service = telemetry.layer().layer(origin(200, ""));
    service
        .oneshot(get("http://[::1]:8080/"))
        .await?
        .into_body()
        .collect()
        .await?;
    let span = telemetry.only_span();
    assert_eq!(attr(&span, "server.address"), Some(&s("::1")));
    assert_eq!(attr(&span, "server.port"), Some(&Value::I64(8080)));
    assert_eq!(attr(&span, "url.full"), Some(&s("http://[::1]:8080/")));
    Ok(())
}

/// An origin that keeps the `traceparent` it receives.
fn recording_origin(
    seen: Arc<Mutex<Vec<Option<HeaderValue>>>>,
) -> impl tower_service::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = BoxError,
    Future = impl Send,
> + Clone {
    service_fn(move |request: Request<Full<Bytes>>| {
        let seen = seen.clone();
        async move {
            if let Ok(mut seen) = seen.lock() {
                seen.push(request.headers().get("traceparent").cloned());
            }
            Ok::<_, BoxError>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }
    })
}

fn traceparent_of(span: &SpanData) -> String {
    format!(
        "00-{}-{}-01",
        span.span_context.trace_id(),
        span.span_context.span_id()
    )
}

#[tokio::test]
async fn the_span_is_a_child_of_the_callers_and_its_context_is_propagated() -> Result<(), BoxError>
{
    let telemetry = Telemetry::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let service = telemetry.layer().layer(recording_origin(seen.clone()));
    let tracer = telemetry.tracer_provider.tracer("caller");
    let caller = tracer.start("caller");
    let caller_cx = Context::current_with_span(caller);
    {
        let _attached = caller_cx.clone().attach();
        let response = service.clone().oneshot(get("http://example.com/")).await?;
        response.into_body().collect().await?;
    }
    // The same parent given as an extension, from outside its context.
    let mut request = get("http://example.com/");
    request.extensions_mut().insert(caller_cx.clone());
    service
        .oneshot(request)
        .await?
        .into_body()
        .collect()
        .await?;

    let caller_span = caller_cx.span().span_context().clone();
    let spans = telemetry.spans();
    assert_eq!(spans.len(), 2);
    let seen = seen.lock().map(|seen| seen.clone()).unwrap_or_default();
    for (span, header) in spans.iter().zip(&seen) {
        assert_eq!(span.span_context.trace_id(), caller_span.trace_id());
        assert_eq!(span.parent_span_id, caller_span.span_id());
        let header = header.as_ref().and_then(|value| value.to_str().ok());
        assert_eq!(header, Some(traceparent_of(span).as_str()));
    }
    Ok(())
}

#[tokio::test]
async fn a_caller_set_traceparent_is_kept_unless_replaced() -> Result<(), BoxError> {
    const CALLERS: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let telemetry = Telemetry::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for propagation in [
        Propagation::KeepCaller,
        Propagation::Replace,
        Propagation::Off,
    ] {
        let service = telemetry
            .layer()
            .propagation(propagation)
            .layer(recording_origin(seen.clone()));
        let mut request = get("http://example.com/");
        if propagation != Propagation::Off {
            request
                .headers_mut()
                .insert("traceparent", HeaderValue::from_static(CALLERS));
        }
        service
            .oneshot(request)
            .await?
            .into_body()
            .collect()
            .await?;
    }
    let spans = telemetry.spans();
    let seen = seen.lock().map(|seen| seen.clone()).unwrap_or_default();
    let seen: Vec<Option<&str>> = seen
        .iter()
        .map(|value| value.as_ref().and_then(|value| value.to_str().ok()))
        .collect();
    assert_eq!(seen[0], Some(CALLERS));
    assert_eq!(seen[1], Some(traceparent_of(&spans[1]).as_str()));
    assert_eq!(seen[2], None);
    Ok(())
}

#[tokio::test]
async fn the_span_ends_with_the_body_not_the_head() -> Result<(), BoxError> {
    let telemetry = Telemetry::new();
    let service = telemetry.layer().layer(origin(200, "hello"));
    let response = service.oneshot(get("http://example.com/")).await?;
    assert!(telemetry.spans().is_empty(), "ended at the head");
    let body = response.into_body().collect().await?.to_bytes();
    assert_eq!(body, "hello");
    assert_eq!(telemetry.spans().len(), 1);

    // A dropped body ends it too.
    let service = telemetry.layer().layer(origin(200, "hello"));
    let response = service.oneshot(get("http://example.com/")).await?;
    drop(response);
    assert_eq!(telemetry.spans().len(), 2);
    Ok(())
}

#[tokio::test]
async fn listed_headers_are_captured_but_never_credentials() -> Result<(), BoxError> {
    let telemetry = Telemetry::new();
    let service = telemetry
        .layer()
        .capture_request_headers([
            HeaderName::from_static("x-request-id"),
            header::AUTHORIZATION,
            header::COOKIE,
        ])
        .capture_response_headers([header::CONTENT_TYPE, header::SET_COOKIE])
        .layer(service_fn(|_request: Request<Full<Bytes>>| async {
            let response = Response::builder()
                .header(header::CONTENT_TYPE, "text/plain")
                .header(header::SET_COOKIE, "session=secret")
                .body(Full::new(Bytes::new()))?;
            Ok::<_, BoxError>(response)
        }));
    let mut request = get("http://example.com/");
    let headers = request.headers_mut();
    headers.insert("x-request-id", HeaderValue::from_static("abc"));
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer secret"),
    );
    headers.insert(header::COOKIE, HeaderValue::from_static("session=secret"));
    service
        .oneshot(request)
        .await?
        .into_body()
        .collect()
        .await?;
    let span = telemetry.only_span();
    let array = |value: &str| Value::Array(vec![StringValue::from(value.to_owned())].into());
    assert_eq!(
        attr(&span, "http.request.header.x-request-id"),
        Some(&array("abc"))
    );
    assert_eq!(
        attr(&span, "http.response.header.content-type"),
        Some(&array("text/plain"))
    );
    let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert!(
        !keys
            .iter()
            .any(|key| key.contains("authorization") || key.contains("cookie")),
        "{keys:?}"
    );
    Ok(())
}

/// 503 for the first request, then 302 to `/b` for `/a`, then 200.
fn retry_then_redirect() -> impl tower_service::Service<
    Request<crate::resend::ResendBody<crate::resend::ResendBody<Full<Bytes>>>>,
    Response = Response<Full<Bytes>>,
    Error = BoxError,
    Future = impl Send,
> + Clone {
    let calls = Arc::new(Mutex::new(0_usize));
    service_fn(
        move |request: Request<
            crate::resend::ResendBody<crate::resend::ResendBody<Full<Bytes>>>,
        >| {
            let calls = calls.clone();
            async move {
                let call = match calls.lock() {
                    Ok(mut calls) => {
                        *calls += 1;
                        *calls
                    }
                    Err(_) => return Err::<_, BoxError>("poisoned".into()),
                };
                let response = match (call, request.uri().path()) {
                    (1, _) => Response::builder().status(503).body(Full::default())?,
                    (_, "/a") => Response::builder()
                        .status(302)
                        .header(header::LOCATION, "/b")
                        .body(Full::default())?,
                    (_, "/b") => Response::builder()
                        .status(302)
                        .header(header::LOCATION, "/c")
                        .body(Full::default())?,
                    _ => Response::new(Full::new(Bytes::from_static(b"done"))),
                };
                Ok::<_, BoxError>(response)
            }
        },
    )
}

#[tokio::test]
async fn every_send_is_a_span_counting_retries_and_redirect_hops() -> Result<(), BoxError> {
    let telemetry = Telemetry::new();
    let retry = RetryConfig::new()
        .initial_backoff(Duration::ZERO)
        .jitter(Jitter::None);
    let service = tower::ServiceBuilder::new()
        .layer(RedirectLayer::new(Policy::limited(5)))
        .layer(RetryLayer::new(retry, telemetry.timer.shared()))
        .layer(telemetry.layer())
        .service(retry_then_redirect());
    let response = service.oneshot(get("http://example.com/a")).await?;
    assert_eq!(response.status(), StatusCode::OK);
    response.into_body().collect().await?;

    let spans = telemetry.spans();
    let summary: Vec<(Option<&Value>, Option<&Value>, Option<&Value>)> = spans
        .iter()
        .map(|span| {
            (
                attr(span, "url.full"),
                attr(span, "http.response.status_code"),
                attr(span, "http.request.resend_count"),
            )
        })
        .collect();
    let url = |path: &str| s(&format!("http://example.com{path}"));
    // A retry after the 503, then a redirect chain of two hops: four sends.
    assert_eq!(
        summary,
        [
            (Some(&url("/a")), Some(&Value::I64(503)), None),
            (
                Some(&url("/a")),
                Some(&Value::I64(302)),
                Some(&Value::I64(1))
            ),
            (
                Some(&url("/b")),
                Some(&Value::I64(302)),
                Some(&Value::I64(2))
            ),
            (
                Some(&url("/c")),
                Some(&Value::I64(200)),
                Some(&Value::I64(3))
            ),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_request_marked_as_a_resend_says_so() -> Result<(), BoxError> {
    let telemetry = Telemetry::new();
    let service = telemetry.layer().layer(origin(200, ""));
    let mut request = get("http://example.com/");
    request.extensions_mut().insert(ResendCount(4));
    service
        .oneshot(request)
        .await?
        .into_body()
        .collect()
        .await?;
    assert_eq!(
        attr(&telemetry.only_span(), "http.request.resend_count"),
        Some(&Value::I64(4))
    );
    Ok(())
}

#[tokio::test]
async fn the_duration_histogram_counts_into_the_recommended_buckets() -> Result<(), BoxError> {
    let telemetry = Telemetry::new();
    let service = telemetry.layer().layer(origin(200, "twelve bytes"));
    for (elapsed, status) in [(300, 200), (300, 200), (2, 200)] {
        let response = service.clone().oneshot(get("http://example.com/")).await?;
        assert_eq!(response.status().as_u16(), status);
        telemetry.timer.advance(Duration::from_millis(elapsed));
        response.into_body().collect().await?;
    }
    let Some(AggregatedMetrics::F64(MetricData::Histogram(histogram))) =
        telemetry.metric("http.client.request.duration")
    else {
        panic!("no duration histogram");
    };
    let point = histogram.data_points().next().expect("a data point");
    assert_eq!(point.count(), 3);
    assert_eq!(point.bounds().collect::<Vec<_>>(), DURATION_BUCKETS);
    let counts: Vec<u64> = point.bucket_counts().collect();
    // 2 ms in the first bucket (≤ 5 ms), both 300 ms in (0.25, 0.5].
    assert_eq!(counts[0], 1);
    assert_eq!(counts[7], 2);
    assert_eq!(counts.iter().sum::<u64>(), 3);
    let attributes: Vec<&KeyValue> = point.attributes().collect();
    assert!(attributes.contains(&&KeyValue::new("http.response.status_code", 200_i64)));
    assert!(attributes.contains(&&KeyValue::new("server.address", "example.com")));

    let Some(AggregatedMetrics::U64(MetricData::Histogram(sizes))) =
        telemetry.metric("http.client.response.body.size")
    else {
        panic!("no response size histogram");
    };
    let point = sizes.data_points().next().expect("a data point");
    assert_eq!((point.count(), point.sum()), (3, 36));
    let Some(AggregatedMetrics::U64(MetricData::Histogram(sizes))) =
        telemetry.metric("http.client.request.body.size")
    else {
        panic!("no request size histogram");
    };
    assert_eq!(sizes.data_points().next().map(|point| point.sum()), Some(0));
    Ok(())
}

#[tokio::test]
async fn active_requests_count_attempts_until_their_body_ends() -> Result<(), BoxError> {
    let telemetry = Telemetry::new();
    let service = telemetry.layer().layer(origin(200, "hello"));
    let active = |telemetry: &Telemetry| match telemetry.metric("http.client.active_requests") {
        Some(AggregatedMetrics::I64(MetricData::Sum(sum))) => {
            sum.data_points().map(|point| point.value()).sum::<i64>()
        }
        _ => -1,
    };
    let first = service.clone().oneshot(get("http://example.com/")).await?;
    let second = service.clone().oneshot(get("http://example.com/")).await?;
    assert_eq!(active(&telemetry), 2);
    first.into_body().collect().await?;
    assert_eq!(active(&telemetry), 1);
    drop(second);
    assert_eq!(active(&telemetry), 0);
    Ok(())
}

#[tokio::test]
async fn the_builder_method_records_through_the_global_providers() -> Result<(), BoxError> {
    use crate::ServiceBuilderExt as _;
    // The only test of this binary that touches the global providers.
    let telemetry = Telemetry::new();
    opentelemetry::global::set_tracer_provider(telemetry.tracer_provider.clone());
    let service = tower::ServiceBuilder::new()
        .otel_attempts(telemetry.timer.shared())
        .service(origin(200, "hello"));
    service
        .oneshot(get("http://example.com/"))
        .await?
        .into_body()
        .collect()
        .await?;
    assert_eq!(telemetry.only_span().name, "GET");
    Ok(())
}

#[tokio::test]
async fn the_pool_is_reported_per_state_and_version() -> Result<(), BoxError> {
    use towline_core::{PoolStats, TargetStats};
    let telemetry = Telemetry::new();
    let mut target = TargetStats::new(http::uri::Scheme::HTTPS, "[::1]:8443".parse()?);
    target.http1_idle = 2;
    target.http1_active = 1;
    target.http2_active = 1;
    let pool = Arc::new(Mutex::new(PoolStats::new(vec![target])));
    let source = pool.clone();
    let _layer = telemetry
        .layer()
        .pool_metrics(move || source.lock().map(|stats| stats.clone()).unwrap_or_default());
    let observed = |telemetry: &Telemetry| -> Vec<(String, String, i64)> {
        let Some(AggregatedMetrics::I64(MetricData::Sum(sum))) =
            telemetry.metric("http.client.open_connections")
        else {
            return Vec::new();
        };
        let mut points: Vec<(String, String, i64)> = sum
            .data_points()
            .map(|point| {
                let get = |key: &str| {
                    point
                        .attributes()
                        .find(|kv| kv.key.as_str() == key)
                        .map(|kv| kv.value.to_string())
                        .unwrap_or_default()
                };
                assert_eq!(get("server.address"), "::1");
                assert_eq!(get("server.port"), "8443");
                assert_eq!(get("url.scheme"), "https");
                (
                    get("http.connection.state"),
                    get("network.protocol.version"),
                    point.value(),
                )
            })
            .collect();
        points.sort();
        points
    };
    let point = |state: &str, version: &str, count| (state.to_owned(), version.to_owned(), count);
    assert_eq!(
        observed(&telemetry),
        [
            point("active", "1.1", 1),
            point("active", "2", 1),
            point("idle", "1.1", 2),
            point("idle", "2", 0),
        ]
    );
    if let Ok(mut stats) = pool.lock() {
        stats.targets[0].http1_active = 0;
        stats.targets[0].http1_idle = 3;
    }
    assert_eq!(observed(&telemetry)[0], point("active", "1.1", 0));
    assert_eq!(observed(&telemetry)[2], point("idle", "1.1", 3));
    Ok(())
}

#[tokio::test]
async fn a_closed_connection_is_recorded_with_its_duration() -> Result<(), BoxError> {
    let telemetry = Telemetry::new();
    let record = telemetry.layer().connection_duration_recorder();
    let closed = towline_core::ClosedConnection::new(
        http::uri::Scheme::HTTP,
        "example.com".parse()?,
        http::Version::HTTP_2,
        Duration::from_secs(45),
    )
    .with_peer(PEER.parse()?);
    record(&closed);
    let Some(AggregatedMetrics::F64(MetricData::Histogram(histogram))) =
        telemetry.metric("http.client.connection.duration")
    else {
        panic!("no connection duration histogram");
    };
    let point = histogram.data_points().next().expect("a data point");
    assert_eq!((point.count(), point.sum()), (1, 45.0));
    assert_eq!(
        point.bounds().collect::<Vec<_>>(),
        CONNECTION_DURATION_BUCKETS
    );
    let attributes: Vec<&KeyValue> = point.attributes().collect();
    for expected in [
        KeyValue::new("server.address", "example.com"),
        KeyValue::new("server.port", 80_i64),
        KeyValue::new("network.protocol.version", "2"),
        KeyValue::new("network.peer.address", "192.0.2.7"),
    ] {
        assert!(attributes.contains(&&expected), "{attributes:?}");
    }
    Ok(())
}
