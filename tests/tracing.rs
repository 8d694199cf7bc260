#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! The facade's `trace` option: one span per logical request, redirects included, with
//! OpenTelemetry field names and no credentials or query values anywhere.

mod common;

use std::sync::{Arc, Mutex};

use towline::TokioClient;
use towline::towline_layers::trace::TraceLayer;
use towline_test_support::{TestServer, response};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Everything recorded: `(span id, field, value)` for spans and `(0, field, value)` for events.
#[derive(Clone, Default)]
struct Recorder {
    fields: Arc<Mutex<Vec<(u64, String, String)>>>,
    next_id: Arc<Mutex<u64>>,
}

struct Collect<'a> {
    span: u64,
    out: &'a Mutex<Vec<(u64, String, String)>>,
}

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let value = format!("{value:?}");
        let value = value.trim_matches('"').to_owned();
        self.out
            .lock()
            .unwrap()
            .push((self.span, field.name().to_owned(), value));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut next = self.next_id.lock().unwrap();
        *next += 1;
        span.record(&mut Collect {
            span: *next,
            out: &self.fields,
        });
        Id::from_u64(*next)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        values.record(&mut Collect {
            span: span.into_u64(),
            out: &self.fields,
        });
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        event.record(&mut Collect {
            span: 0,
            out: &self.fields,
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

impl Recorder {
    /// Values of a span field (events excluded).
    fn value(&self, name: &str) -> Vec<String> {
        let fields = self.fields.lock().unwrap();
        fields
            .iter()
            .filter(|(span, field, _)| *span != 0 && field == name)
            .map(|(_, _, value)| value.clone())
            .collect()
    }

    fn spans_with(&self, name: &str) -> usize {
        let fields = self.fields.lock().unwrap();
        let mut spans: Vec<u64> = fields
            .iter()
            .filter(|(span, field, _)| *span != 0 && field == name)
            .map(|(span, _, _)| *span)
            .collect();
        spans.dedup();
        spans.len()
    }

    fn everything(&self) -> String {
        format!("{:?}", self.fields.lock().unwrap())
    }
}

#[test]
fn one_span_per_request_across_redirects_without_secrets() {
    let recorder = Recorder::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(recorder.clone(), || {
        runtime.block_on(async {
            let server = TestServer::builder()
                .handler(|request| async move {
                    match request.uri().path() {
                        "/start" => {
                            let mut redirect = response(302, "");
                            redirect
                                .headers_mut()
                                .insert("location", "/end?session=hunter2".parse().unwrap());
                            redirect
                        }
                        _ => response(404, "missing"),
                    }
                })
                .build();
            let client = TokioClient::builder()
                .trace(TraceLayer::new())
                .build()
                .unwrap();
            let url = format!(
                "http://alice:s3cret@{}/start?token=topsecret",
                server.addr()
            );
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 404);
            response.bytes().await.unwrap();
        });
    });

    assert_eq!(
        recorder.spans_with("http.request.method"),
        1,
        "{}",
        recorder.everything()
    );
    assert_eq!(recorder.value("http.request.method"), ["GET"]);
    assert_eq!(recorder.value("http.response.status_code"), ["404"]);
    assert_eq!(recorder.value("error.type"), ["404"]);
    assert_eq!(recorder.value("server.address"), ["127.0.0.1"]);
    let url_full = recorder.value("url.full");
    assert_eq!(url_full.len(), 1);
    assert!(
        url_full[0].ends_with("/start?token=REDACTED"),
        "{url_full:?}"
    );
    // The redirect hop is an event inside the span.
    let hops = recorder
        .fields
        .lock()
        .unwrap()
        .iter()
        .filter(|(span, field, _)| *span == 0 && field == "redirect.from")
        .count();
    assert_eq!(hops, 1, "{}", recorder.everything());
    let everything = recorder.everything();
    for secret in ["alice", "s3cret", "topsecret", "hunter2"] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked: {everything}"
        );
    }
}

#[test]
fn the_client_classifies_its_own_errors_for_the_span() {
    let recorder = Recorder::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(recorder.clone(), || {
        runtime.block_on(async {
            let server = TestServer::builder()
                .handler(|_request| async move {
                    let mut redirect = response(302, "");
                    redirect
                        .headers_mut()
                        .insert("location", "/again".parse().unwrap());
                    redirect
                })
                .build();
            let client = TokioClient::builder()
                .trace(TraceLayer::new())
                .max_redirects(1)
                .build()
                .unwrap();
            let err = client.get(server.url("/")).send().await.unwrap_err();
            assert!(err.is_redirect(), "{err:?}");
        });
    });
    // The client's classifier, not the layer's default `_OTHER`.
    assert_eq!(recorder.value("error.type"), ["redirect_limit"]);
}
