//! Exports towline's OpenTelemetry spans and metrics over OTLP/gRPC (`opentelemetry-otlp`,
//! tonic) to a real OTLP receiver — `fake-opentelemetry-collector`, a tonic OTLP server started
//! in this process on 127.0.0.1 — while making requests to httpbin, then checks what the
//! receiver got: the span names, kinds and attributes, one trace under the caller's span, the
//! resend counts of a redirect chain, and that httpbin's `/headers` echoed the `traceparent`
//! of the span the receiver holds for that request.
//!
//! Run by `.ci/run` (phase `otel-interop`) once the peers are up:
//! `cargo run -p towline-otel-interop -- http://127.0.0.1:8081`. Exits non-zero on any
//! mismatch.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use fake_opentelemetry_collector::{ExportedSpan, FakeCollectorServer};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, global};
use opentelemetry_otlp::{MetricExporter, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use towline::towline_layers::otel::OtelLayer;
use towline::towline_services::rt::tokio::TokioTimer;

type BoxError = Box<dyn Error + Send + Sync>;

/// How long the receiver is given to get what was exported.
const RECEIVE: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let httpbin = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8081".to_owned());
    let mut collector = FakeCollectorServer::start()
        .await
        .map_err(|err| err.to_string())?;

    // The setup the README shows, pointed at the receiver.
    let resource = Resource::builder()
        .with_service_name("towline-otel-interop")
        .build();
    let spans = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(collector.endpoint())
        .build()?;
    let tracer_provider = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(spans)
        .build();
    let metrics = MetricExporter::builder()
        .with_tonic()
        .with_endpoint(collector.endpoint())
        .build()?;
    let meter_provider = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_periodic_exporter(metrics)
        .build();
    global::set_text_map_propagator(TraceContextPropagator::new());
    global::set_tracer_provider(tracer_provider.clone());
    global::set_meter_provider(meter_provider.clone());

    let otel = OtelLayer::new(Arc::new(TokioTimer))
        .capture_response_headers([towline::header::CONTENT_TYPE]);
    let client = towline::Client::builder().otel(otel).build()?;

    let caller = global::tracer("otel_export").start("otel_export");
    let cx = Context::current_with_span(caller);
    let headers: serde_json::Value = client
        .get(format!("{httpbin}/headers?token=secret"))
        .send()
        .with_context(cx.clone())
        .await?
        .json()
        .await?;
    let missing = client
        .get(format!("{httpbin}/status/404"))
        .send()
        .with_context(cx.clone())
        .await?;
    check(missing.status() == 404, "httpbin /status/404 answered 404")?;
    missing.bytes().await?;
    let redirected = client
        .get(format!("{httpbin}/redirect/2"))
        .send()
        .with_context(cx.clone())
        .await?;
    check(
        redirected.status() == 200,
        "httpbin /redirect/2 ends in a 200",
    )?;
    redirected.bytes().await?;
    cx.span().end();

    tracer_provider.force_flush()?;
    meter_provider.force_flush()?;
    // 1 + 1 + 3 client spans and the caller's.
    let exported = collector.exported_spans(6, RECEIVE).await;
    let exported_metrics = collector.exported_metrics(1, RECEIVE).await;

    let root = exported
        .iter()
        .find(|span| span.name == "otel_export")
        .ok_or("the caller's span did not arrive")?;
    let mut clients: Vec<&ExportedSpan> = exported
        .iter()
        .filter(|span| span.kind == "SPAN_KIND_CLIENT")
        .collect();
    clients.sort_by_key(|span| span.start_time_unix_nano);
    check(
        clients.len() == 5,
        &format!("5 client spans arrived: {clients:#?}"),
    )?;
    for span in &clients {
        check(
            span.name == "GET",
            "client spans are named after the method",
        )?;
        check(
            span.trace_id == root.trace_id && span.parent_span_id == root.span_id,
            "every client span is a child of the caller's span",
        )?;
        check(
            has(span, "http.request.method", "\"GET\"")
                && has(span, "server.address", "\"127.0.0.1\"")
                && has(span, "url.scheme", "\"http\"")
                && has(span, "network.protocol.version", "\"1.1\"")
                && has(span, "network.peer.address", "\"127.0.0.1\""),
            &format!("the HTTP client attributes are there: {span:#?}"),
        )?;
    }

    // httpbin echoed the traceparent of the span the receiver got for `/headers`.
    let first = clients[0];
    check(
        has(
            first,
            "http.response.header.content-type",
            "application/json",
        ),
        &format!("the listed response header is captured: {first:#?}"),
    )?;
    check(
        has(first, "url.full", "/headers?token=REDACTED\""),
        &format!("the query value is redacted: {first:#?}"),
    )?;
    let echoed = headers["headers"]["Traceparent"]
        .as_str()
        .ok_or("httpbin echoed no traceparent")?;
    let expected = format!("00-{}-{}-01", first.trace_id, first.span_id);
    check(
        echoed == expected,
        &format!("httpbin echoed {echoed}, the exported span is {expected}"),
    )?;

    let second = clients[1];
    check(
        has(second, "http.response.status_code", "IntValue(404)")
            && has(second, "error.type", "\"404\"")
            && second
                .status
                .as_ref()
                .is_some_and(|status| status.code == "STATUS_CODE_ERROR"),
        &format!("the 404 is an error: {second:#?}"),
    )?;

    let resends: Vec<bool> = clients[2..]
        .iter()
        .zip(["", "IntValue(1)", "IntValue(2)"])
        .map(|(span, count)| match count {
            "" => !span.attributes.contains_key("http.request.resend_count"),
            count => has(span, "http.request.resend_count", count),
        })
        .collect();
    check(
        resends == [true, true, true],
        &format!(
            "the redirect chain counts its resends: {:#?}",
            &clients[2..]
        ),
    )?;

    let names: Vec<&str> = exported_metrics
        .iter()
        .flat_map(|export| export.metrics.iter())
        .map(|metric| metric.name.as_str())
        .collect();
    for name in [
        "http.client.request.duration",
        "http.client.active_requests",
        "http.client.open_connections",
    ] {
        check(
            names.contains(&name),
            &format!("metric {name} arrived: {names:?}"),
        )?;
    }

    tracer_provider.shutdown()?;
    meter_provider.shutdown()?;
    collector.abort();
    println!(
        "otel-interop: {} spans and {} metrics received over OTLP/gRPC; traceparent {echoed} echoed by httpbin",
        exported.len(),
        names.len()
    );
    Ok(())
}

/// Whether `span`'s attribute `key` (as the receiver shows it, the OTLP value's debug form)
/// contains `needle`.
fn has(span: &ExportedSpan, key: &str, needle: &str) -> bool {
    span.attributes
        .get(key)
        .is_some_and(|value| value.contains(needle))
}

fn check(ok: bool, what: &str) -> Result<(), BoxError> {
    if ok {
        Ok(())
    } else {
        Err(format!("otel-interop check failed: {what}").into())
    }
}
