#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! The facade's `otel` option: a client span per send (redirect hops and retries each their
//! own), W3C trace context received by the origin, the client's `error.type` classes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::{Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use towline::towline_layers::otel::OtelLayer;
use towline::{RetryConfig, TokioClient};
use towline_test_support::{TestServer, response};

use common::{closed_addr, wait_until, within};

struct Telemetry {
    spans: InMemorySpanExporter,
    tracer_provider: SdkTracerProvider,
    metrics: InMemoryMetricExporter,
    meter_provider: SdkMeterProvider,
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
        }
    }

    fn client(&self, builder: towline::ClientBuilder) -> TokioClient {
        let timer = Arc::new(towline::towline_services::rt::tokio::TokioTimer);
        let layer = OtelLayer::with_providers(timer, &self.tracer_provider, &self.meter_provider)
            .propagator(TraceContextPropagator::new());
        builder.otel(layer).build().unwrap()
    }

    fn spans(&self) -> Vec<SpanData> {
        self.spans.get_finished_spans().unwrap()
    }

    /// How many connections `http.client.connection.duration` counted, after a flush.
    fn closed_connections(&self) -> u64 {
        self.meter_provider.force_flush().unwrap();
        let exported = self.metrics.get_finished_metrics().unwrap();
        let Some(last) = exported.last() else {
            return 0;
        };
        last.scope_metrics()
            .flat_map(|scope| scope.metrics())
            .filter(|metric| metric.name() == "http.client.connection.duration")
            .map(|metric| match metric.data() {
                AggregatedMetrics::F64(MetricData::Histogram(histogram)) => {
                    histogram.data_points().map(|point| point.count()).sum()
                }
                _ => 0,
            })
            .sum()
    }

    /// `http.client.open_connections` for HTTP/1.1 after a flush: `(active, idle)`.
    fn open_http1_connections(&self) -> (i64, i64) {
        self.meter_provider.force_flush().unwrap();
        let exported = self.metrics.get_finished_metrics().unwrap();
        let last = exported.last().unwrap();
        let metric = last
            .scope_metrics()
            .flat_map(|scope| scope.metrics())
            .find(|metric| metric.name() == "http.client.open_connections")
            .expect("no open_connections");
        let AggregatedMetrics::I64(MetricData::Sum(sum)) = metric.data() else {
            panic!("not an i64 sum: {:?}", metric.data());
        };
        let count = |state: &str| {
            sum.data_points()
                .filter(|point| {
                    point.attributes().any(|kv| {
                        kv.key.as_str() == "http.connection.state" && kv.value.as_str() == state
                    }) && point.attributes().any(|kv| {
                        kv.key.as_str() == "network.protocol.version" && kv.value.as_str() == "1.1"
                    })
                })
                .map(|point| point.value())
                .sum()
        };
        (count("active"), count("idle"))
    }
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn string(span: &SpanData, key: &str) -> Option<String> {
    attr(span, key).map(|value| value.as_str().into_owned())
}

fn int(span: &SpanData, key: &str) -> Option<i64> {
    match attr(span, key) {
        Some(Value::I64(value)) => Some(*value),
        _ => None,
    }
}

fn traceparent_of(span: &SpanData) -> String {
    format!(
        "00-{}-{}-01",
        span.span_context.trace_id(),
        span.span_context.span_id()
    )
}

#[tokio::test]
async fn a_redirect_chain_is_one_span_per_hop_each_propagated_to_the_origin() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = {
        let seen = seen.clone();
        TestServer::builder()
            .handler(move |request| {
                let seen = seen.clone();
                async move {
                    let traceparent = request
                        .headers()
                        .get("traceparent")
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_owned);
                    seen.lock().unwrap().push(traceparent);
                    let next = match request.uri().path() {
                        "/one" => Some("/two?code=hunter2"),
                        "/two" => Some("/three"),
                        _ => None,
                    };
                    match next {
                        Some(location) => {
                            let mut redirect = response(302, "");
                            redirect
                                .headers_mut()
                                .insert("location", location.parse().unwrap());
                            redirect
                        }
                        None => response(200, "done"),
                    }
                }
            })
            .build()
    };
    let telemetry = Telemetry::new();
    let client = telemetry.client(TokioClient::builder());
    let caller = telemetry.tracer_provider.tracer("test").start("caller");
    let caller = Context::current_with_span(caller);
    let url = format!("http://alice:s3cret@{}/one?token=topsecret", server.addr());
    {
        let _attached = caller.clone().attach();
        let response = within(client.get(&url).send()).await.unwrap();
        assert_eq!(response.text().await.unwrap(), "done");
    }

    let spans = telemetry.spans();
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let resends: Vec<Option<i64>> = spans
        .iter()
        .map(|span| int(span, "http.request.resend_count"))
        .collect();
    assert_eq!(resends, [None, Some(1), Some(2)]);
    let statuses: Vec<Option<i64>> = spans
        .iter()
        .map(|span| int(span, "http.response.status_code"))
        .collect();
    assert_eq!(statuses, [Some(302), Some(302), Some(200)]);
    let urls: Vec<String> = spans
        .iter()
        .filter_map(|span| string(span, "url.full"))
        .collect();
    let base = format!("http://{}", server.addr());
    assert_eq!(
        urls,
        [
            format!("{base}/one?token=REDACTED"),
            format!("{base}/two?code=REDACTED"),
            format!("{base}/three"),
        ]
    );
    let caller_span = caller.span().span_context().clone();
    let seen = seen.lock().unwrap().clone();
    for (span, traceparent) in spans.iter().zip(&seen) {
        assert_eq!(span.span_context.trace_id(), caller_span.trace_id());
        assert_eq!(span.parent_span_id, caller_span.span_id());
        assert_eq!(traceparent.as_deref(), Some(traceparent_of(span).as_str()));
        assert_eq!(
            string(span, "network.peer.address").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            int(span, "network.peer.port"),
            Some(i64::from(server.addr().port()))
        );
        assert_eq!(
            string(span, "user_agent.original"),
            Some(towline::DEFAULT_USER_AGENT.to_owned())
        );
    }
    let everything = format!("{spans:?}");
    for secret in ["alice", "s3cret", "topsecret", "hunter2"] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked: {everything}"
        );
    }
}

#[tokio::test]
async fn a_retry_after_503_is_a_second_span() {
    let server = TestServer::builder()
        .handler(|_request| async { response(503, "busy") })
        .build();
    let telemetry = Telemetry::new();
    let retry = RetryConfig::new()
        .max_retries(1)
        .initial_backoff(Duration::from_millis(1));
    let client = telemetry.client(TokioClient::builder().retry(retry));
    let response = within(client.get(server.url("/")).send()).await.unwrap();
    assert_eq!(response.status(), 503);
    response.bytes().await.unwrap();

    let spans = telemetry.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    for (span, resend) in spans.iter().zip([None, Some(1)]) {
        assert_eq!(int(span, "http.request.resend_count"), resend);
        assert_eq!(string(span, "error.type").as_deref(), Some("503"));
        assert!(matches!(span.status, Status::Error { .. }));
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let telemetry = Telemetry::new();
    let client = telemetry.client(TokioClient::builder());
    let url = format!("http://{}/", closed_addr());
    let err = within(client.get(&url).send()).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let spans = telemetry.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(string(&spans[0], "error.type").as_deref(), Some("connect"));
    assert_eq!(int(&spans[0], "http.response.status_code"), None);
}

#[tokio::test]
async fn a_total_timeout_is_a_timeout() {
    let server = TestServer::builder()
        .handler(|_request| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            response(200, "late")
        })
        .build();
    let telemetry = Telemetry::new();
    let client = telemetry.client(TokioClient::builder().timeout(Duration::from_millis(200)));
    let err = within(client.get(server.url("/")).send())
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    let spans = telemetry.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(string(&spans[0], "error.type").as_deref(), Some("timeout"));
    assert!(matches!(spans[0].status, Status::Error { .. }));
}

#[tokio::test]
async fn the_span_ends_when_the_body_is_read() {
    let server = TestServer::builder()
        .handler(|_request| async { response(200, "hello") })
        .build();
    let telemetry = Telemetry::new();
    let client = telemetry.client(TokioClient::builder());
    let response = within(client.get(server.url("/")).send()).await.unwrap();
    assert!(telemetry.spans().is_empty(), "ended with the head");
    assert_eq!(response.text().await.unwrap(), "hello");
    assert_eq!(telemetry.spans().len(), 1);
}

#[tokio::test]
async fn the_pool_gauge_counts_a_connection_active_then_idle() {
    let server = TestServer::builder()
        .handler(|_request| async { response(200, "hello") })
        .build();
    let telemetry = Telemetry::new();
    let client = telemetry.client(TokioClient::builder());
    let response = within(client.get(server.url("/")).send()).await.unwrap();
    assert_eq!(telemetry.open_http1_connections(), (1, 0));
    assert_eq!(response.text().await.unwrap(), "hello");
    assert_eq!(telemetry.open_http1_connections(), (0, 1));
}

#[tokio::test]
async fn a_connection_that_closes_is_recorded_with_its_duration() {
    let server = TestServer::builder()
        .handler(|_request| async { response(200, "hello") })
        .build();
    let telemetry = Telemetry::new();
    // Nothing kept idle: the connection closes once the response is read.
    let client = telemetry.client(TokioClient::builder().pool_max_idle_per_host(0));
    assert_eq!(telemetry.closed_connections(), 0);
    let response = within(client.get(server.url("/")).send()).await.unwrap();
    assert_eq!(response.text().await.unwrap(), "hello");
    wait_until("the connection's duration", || {
        telemetry.closed_connections() == 1
    })
    .await;
}

#[tokio::test]
async fn a_body_that_breaks_off_is_a_body_error() {
    let telemetry = Telemetry::new();
    let server = towline_test_support::RawServer::spawn(|mut conn| async move {
        if conn.read_request().await.is_some() {
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")
                .await;
        }
    });
    let client = telemetry.client(TokioClient::builder());
    let response = within(client.get(server.url("/")).send()).await.unwrap();
    let error = within(response.bytes()).await.unwrap_err();
    assert!(error.is_body(), "{error:?}");
    let spans = telemetry.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(string(&spans[0], "error.type").as_deref(), Some("body"));
}
