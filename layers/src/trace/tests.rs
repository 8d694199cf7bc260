use std::{
    collections::BTreeMap,
    convert::Infallible,
    error::Error,
    fmt,
    pin::pin,
    sync::{Arc, Mutex},
    task::Poll,
};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Full};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;
use tracing::{
    Event, Instrument, Level, Metadata, Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id, Record},
    subscriber::{DefaultGuard, Interest},
};

use super::*;
use crate::{
    BoxError, RedirectObserver,
    sync::lock,
    test_util::{Probe, TestBodyError, channel},
};

// ---------------------------------------------------------------------------------------
// A subscriber that records spans, their fields, events and closes.

#[derive(Clone, Debug)]
struct SpanRecord {
    name: &'static str,
    level: Level,
    parent: Option<u64>,
    fields: BTreeMap<String, String>,
    refs: usize,
    closed: bool,
}

#[derive(Clone, Debug)]
struct EventRecord {
    level: Level,
    parent: Option<u64>,
    fields: BTreeMap<String, String>,
}

impl EventRecord {
    fn message(&self) -> &str {
        self.fields.get("message").map_or("", String::as_str)
    }
}

#[derive(Default)]
struct State {
    spans: Vec<SpanRecord>,
    events: Vec<EventRecord>,
    /// Entered spans of the (single) test thread, innermost last.
    stack: Vec<u64>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<State>>);

struct FieldVisitor<'a>(&'a mut BTreeMap<String, String>);

impl Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Recorder {
    /// Installs a fresh recorder as this thread's subscriber.
    fn install() -> (Self, DefaultGuard) {
        let recorder = Self::default();
        let guard = tracing::subscriber::set_default(recorder.clone());
        (recorder, guard)
    }

    fn spans(&self) -> Vec<SpanRecord> {
        lock(&self.0).spans.clone()
    }

    /// The one request span recorded.
    fn request_span(&self) -> SpanRecord {
        let spans: Vec<_> = self
            .spans()
            .into_iter()
            .filter(|span| span.name == "HTTP request")
            .collect();
        assert_eq!(spans.len(), 1, "one span per request: {spans:?}");
        spans[0].clone()
    }

    fn field(&self, name: &str) -> Option<String> {
        self.request_span().fields.get(name).cloned()
    }

    fn closed(&self) -> bool {
        self.request_span().closed
    }

    fn events(&self) -> Vec<EventRecord> {
        lock(&self.0).events.clone()
    }

    fn events_named(&self, message: &str) -> Vec<EventRecord> {
        self.events()
            .into_iter()
            .filter(|event| event.message() == message)
            .collect()
    }

    /// Every name and value recorded, on spans and events.
    fn everything(&self) -> String {
        let state = lock(&self.0);
        let spans = state.spans.iter().map(|span| &span.fields);
        let events = state.events.iter().map(|event| &event.fields);
        spans
            .chain(events)
            .flat_map(|fields| fields.iter())
            .map(|(name, value)| format!("{name}={value}\n"))
            .collect()
    }
}

impl Subscriber for Recorder {
    fn register_callsite(&self, _metadata: &'static Metadata<'static>) -> Interest {
        // Ask every time: other tests' threads run without this subscriber.
        Interest::sometimes()
    }

    fn enabled(&self, _metadata: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut state = lock(&self.0);
        let parent = match attributes.parent() {
            Some(parent) => Some(parent.into_u64()),
            None if attributes.is_contextual() => state.stack.last().copied(),
            None => None,
        };
        let mut fields = BTreeMap::new();
        attributes.record(&mut FieldVisitor(&mut fields));
        state.spans.push(SpanRecord {
            name: attributes.metadata().name(),
            level: *attributes.metadata().level(),
            parent,
            fields,
            refs: 1,
            closed: false,
        });
        Id::from_u64(state.spans.len() as u64)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut state = lock(&self.0);
        if let Some(span) = state.spans.get_mut(span.into_u64() as usize - 1) {
            values.record(&mut FieldVisitor(&mut span.fields));
        }
    }

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut state = lock(&self.0);
        let parent = match event.parent() {
            Some(parent) => Some(parent.into_u64()),
            None if event.is_contextual() => state.stack.last().copied(),
            None => None,
        };
        let mut fields = BTreeMap::new();
        event.record(&mut FieldVisitor(&mut fields));
        state.events.push(EventRecord {
            level: *event.metadata().level(),
            parent,
            fields,
        });
    }

    fn enter(&self, span: &Id) {
        lock(&self.0).stack.push(span.into_u64());
    }

    fn exit(&self, span: &Id) {
        let mut state = lock(&self.0);
        if let Some(at) = state.stack.iter().rposition(|id| *id == span.into_u64()) {
            state.stack.remove(at);
        }
    }

    fn clone_span(&self, span: &Id) -> Id {
        if let Some(record) = lock(&self.0).spans.get_mut(span.into_u64() as usize - 1) {
            record.refs += 1;
        }
        span.clone()
    }

    fn try_close(&self, span: Id) -> bool {
        let mut state = lock(&self.0);
        let Some(record) = state.spans.get_mut(span.into_u64() as usize - 1) else {
            return false;
        };
        record.refs -= 1;
        record.closed = record.refs == 0;
        record.closed
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

fn request(method: Method, uri: &str) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::default());
    *request.method_mut() = method;
    *request.uri_mut() = uri.parse().unwrap();
    request
}

/// What the mock services answer.
type Reply = Result<Response<Full<Bytes>>, Infallible>;

/// Answers every request with `status` and `version` and a short body.
fn answer(
    status: StatusCode,
    version: Version,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = std::future::Ready<Reply>,
> + Clone {
    service_fn(move |_request: Request<Full<Bytes>>| {
        let mut response = Response::new(Full::new(Bytes::from_static(b"body")));
        *response.status_mut() = status;
        *response.version_mut() = version;
        std::future::ready(Ok(response))
    })
}

/// Sends `request` through a default `TraceLayer` over `answer(status)` and reads the body.
async fn exchange(layer: TraceLayer, request: Request<Full<Bytes>>, status: StatusCode) {
    let response = layer
        .layer(answer(status, Version::HTTP_11))
        .oneshot(request)
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();
}

/// An error whose message quotes the URI it failed on, as real transport errors do.
#[derive(Debug)]
struct ChattyError(String);

impl fmt::Display for ChattyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not reach {}", self.0)
    }
}

impl Error for ChattyError {}

// ---------------------------------------------------------------------------------------
// Fields.

#[tokio::test(flavor = "current_thread")]
async fn records_the_semantic_convention_fields() {
    let (recorder, _guard) = Recorder::install();
    exchange(
        TraceLayer::new(),
        request(Method::GET, "https://example.com:8443/a/b"),
        StatusCode::OK,
    )
    .await;

    let span = recorder.request_span();
    assert_eq!(span.level, Level::INFO, "INFO by default");
    let expected: BTreeMap<String, String> = [
        ("otel.name", "GET"),
        ("otel.kind", "client"),
        ("http.request.method", "GET"),
        ("url.full", "https://example.com:8443/a/b"),
        ("url.scheme", "https"),
        ("server.address", "example.com"),
        ("server.port", "8443"),
        ("http.response.status_code", "200"),
        ("network.protocol.version", "1.1"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    assert_eq!(span.fields, expected, "no error.type on success");
}

#[tokio::test(flavor = "current_thread")]
async fn the_port_defaults_from_the_scheme() {
    for (uri, port) in [
        ("http://example.com/", "80"),
        ("https://example.com/", "443"),
        ("http://example.com:8080/", "8080"),
    ] {
        let (recorder, _guard) = Recorder::install();
        exchange(TraceLayer::new(), request(Method::GET, uri), StatusCode::OK).await;
        assert_eq!(
            recorder.field("server.port").as_deref(),
            Some(port),
            "{uri}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn ipv6_hosts_lose_their_brackets_in_server_address_only() {
    let (recorder, _guard) = Recorder::install();
    exchange(
        TraceLayer::new(),
        request(Method::GET, "http://[::1]:8080/x"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(recorder.field("server.address").as_deref(), Some("::1"));
    assert_eq!(
        recorder.field("url.full").as_deref(),
        Some("http://[::1]:8080/x")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_origin_form_request_names_its_server_by_the_host_header() {
    let (recorder, _guard) = Recorder::install();
    let mut origin_form = request(Method::GET, "/p?k=v");
    origin_form
        .headers_mut()
        .insert(http::header::HOST, "example.org:81".parse().unwrap());
    exchange(TraceLayer::new(), origin_form, StatusCode::OK).await;
    assert_eq!(
        recorder.field("server.address").as_deref(),
        Some("example.org")
    );
    assert_eq!(recorder.field("server.port").as_deref(), Some("81"));
    assert_eq!(recorder.field("url.full").as_deref(), Some("/p?k=REDACTED"));
    assert_eq!(recorder.field("url.scheme"), None);
}

#[tokio::test(flavor = "current_thread")]
async fn a_non_standard_method_is_other() {
    let (recorder, _guard) = Recorder::install();
    let purge = Method::from_bytes(b"PURGE").unwrap();
    exchange(
        TraceLayer::new(),
        request(purge, "http://example.com/"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        recorder.field("http.request.method").as_deref(),
        Some("_OTHER")
    );
    assert_eq!(
        recorder.field("http.request.method_original").as_deref(),
        Some("PURGE")
    );
    assert_eq!(recorder.field("otel.name").as_deref(), Some("HTTP"));
}

#[tokio::test(flavor = "current_thread")]
async fn the_protocol_version_comes_from_the_response() {
    let (recorder, _guard) = Recorder::install();
    let response = TraceLayer::new()
        .layer(answer(StatusCode::OK, Version::HTTP_2))
        .oneshot(request(Method::GET, "https://example.com/"))
        .await
        .unwrap();
    drop(response);
    assert_eq!(
        recorder.field("network.protocol.version").as_deref(),
        Some("2")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_level_is_configurable_for_spans_and_events() {
    let (recorder, _guard) = Recorder::install();
    exchange(
        TraceLayer::new().level(Level::DEBUG),
        request(Method::GET, "http://example.com/"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(recorder.request_span().level, Level::DEBUG);
    let finished = recorder.events_named("response body finished");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].level, Level::DEBUG);
}

// ---------------------------------------------------------------------------------------
// Errors.

#[tokio::test(flavor = "current_thread")]
async fn client_and_server_error_statuses_are_the_error_type() {
    for (status, expected) in [
        (StatusCode::NOT_FOUND, Some("404")),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("500")),
        (StatusCode::FOUND, None),
        (StatusCode::NO_CONTENT, None),
    ] {
        let (recorder, _guard) = Recorder::install();
        exchange(
            TraceLayer::new(),
            request(Method::GET, "http://example.com/"),
            status,
        )
        .await;
        assert_eq!(
            recorder.field("error.type").as_deref(),
            expected,
            "{status}"
        );
        assert_eq!(
            recorder.field("otel.status_code").as_deref(),
            expected.map(|_| "ERROR"),
            "{status}"
        );
        assert_eq!(
            recorder.field("http.response.status_code"),
            Some(status.as_u16().to_string())
        );
    }
}

/// Errors raised by this crate's timeout layer below the trace layer.
#[cfg(feature = "timeout")]
mod with_timeout {
    use std::time::Duration;

    use tower::ServiceBuilder;

    use super::*;
    use crate::{time::ManualTimer, timeout::TimeoutLayer};

    #[test]
    fn a_total_timeout_below_is_a_timeout_error_type() {
        let (recorder, _guard) = Recorder::install();
        let timer = ManualTimer::new();
        let service = ServiceBuilder::new()
            .layer(TraceLayer::new())
            .layer(TimeoutLayer::new(timer.shared()).total(Some(Duration::from_secs(1))))
            .service_fn(|_request: Request<Full<Bytes>>| {
                std::future::pending::<Result<Response<Full<Bytes>>, Infallible>>()
            });
        let probe = Probe::new();
        let mut call = pin!(service.oneshot(request(Method::GET, "http://example.com/")));
        assert!(probe.poll(call.as_mut()).is_pending());
        assert!(!recorder.closed());
        timer.advance(Duration::from_secs(1));
        let Poll::Ready(Err(_elapsed)) = probe.poll(call.as_mut()) else {
            panic!("the total timeout must fire");
        };
        assert_eq!(recorder.field("error.type").as_deref(), Some("timeout"));
        assert_eq!(recorder.field("otel.status_code").as_deref(), Some("ERROR"));
        let failed = recorder.events_named("request failed");
        assert_eq!(failed.len(), 1);
        assert_eq!(
            failed[0].fields.get("error.type").map(String::as_str),
            Some("timeout")
        );
        assert_eq!(
            failed[0].parent,
            Some(1),
            "the event is in the request span"
        );
        assert!(recorder.closed(), "a failed request closes its span");
    }

    #[test]
    fn a_read_timeout_in_the_body_is_recorded_and_closes_the_span() {
        let (recorder, _guard) = Recorder::install();
        let timer = ManualTimer::new();
        let (tx, body) = channel();
        let body = Mutex::new(Some(body));
        let service = ServiceBuilder::new()
            .layer(TraceLayer::new())
            .layer(TimeoutLayer::new(timer.shared()).read(Some(Duration::from_secs(1))))
            .service_fn(move |_request: Request<Full<Bytes>>| {
                let body = lock(&body).take().unwrap();
                std::future::ready(Ok::<_, Infallible>(Response::new(body)))
            });
        let probe = Probe::new();
        let mut call = pin!(service.oneshot(request(Method::GET, "http://example.com/")));
        let Poll::Ready(Ok(response)) = probe.poll(call.as_mut()) else {
            panic!("the head is ready");
        };
        let mut body = response.into_body();
        assert!(probe.poll_frame(&mut body).is_pending());
        timer.advance(Duration::from_secs(1));
        assert!(matches!(
            probe.poll_frame(&mut body),
            Poll::Ready(Some(Err(_)))
        ));
        assert_eq!(recorder.field("error.type").as_deref(), Some("timeout"));
        assert_eq!(recorder.events_named("response body failed").len(), 1);
        assert!(recorder.closed(), "a failed body closes the span");
        assert!(recorder.events_named("response body finished").is_empty());
        drop(tx);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn other_errors_are_other_and_their_messages_are_not_recorded() {
    let (recorder, _guard) = Recorder::install();
    let err = TraceLayer::new()
        .layer(service_fn(|request: Request<Full<Bytes>>| async move {
            Err::<Response<Full<Bytes>>, _>(ChattyError(request.uri().to_string()))
        }))
        .oneshot(request(Method::GET, "https://example.com/?token=secret"))
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("secret"),
        "the error itself is intact"
    );
    assert_eq!(recorder.field("error.type").as_deref(), Some("_OTHER"));
    assert!(!recorder.everything().contains("secret"));
    assert!(recorder.closed());
}

#[tokio::test(flavor = "current_thread")]
async fn the_error_classifier_is_configurable() {
    fn classify(err: &(dyn Error + 'static)) -> &'static str {
        if crate::error::find_cause::<ChattyError>(err).is_some() {
            "unreachable"
        } else {
            default_error_type(err)
        }
    }
    let (recorder, _guard) = Recorder::install();
    let result = TraceLayer::new()
        .error_classifier(classify)
        .layer(service_fn(|_request: Request<Full<Bytes>>| async {
            Err::<Response<Full<Bytes>>, _>(ChattyError("somewhere".into()))
        }))
        .oneshot(request(Method::GET, "https://example.com/"))
        .await;
    assert!(result.is_err());
    assert_eq!(recorder.field("error.type").as_deref(), Some("unreachable"));
}

#[test]
fn a_body_error_is_classified() {
    let (recorder, _guard) = Recorder::install();
    let (tx, body) = channel();
    let body = Mutex::new(Some(body));
    let service = TraceLayer::new().layer(service_fn(move |_request: Request<Full<Bytes>>| {
        let body = lock(&body).take().unwrap();
        std::future::ready(Ok::<_, Infallible>(Response::new(body)))
    }));
    let probe = Probe::new();
    let mut call = pin!(service.oneshot(request(Method::GET, "http://example.com/")));
    let Poll::Ready(Ok(response)) = probe.poll(call.as_mut()) else {
        panic!("the head is ready");
    };
    let mut body = response.into_body();
    tx.error("reset by peer");
    let Poll::Ready(Some(Err(err))) = probe.poll_frame(&mut body) else {
        panic!("the body fails");
    };
    assert!(crate::error::find_cause::<TestBodyError>(&*err).is_some());
    // The classifier knows nothing of it, but the head had arrived: the body failed.
    assert_eq!(recorder.field("error.type").as_deref(), Some("body"));
    assert!(recorder.closed());
}

// ---------------------------------------------------------------------------------------
// The span's lifetime.

#[test]
fn the_span_stays_open_until_the_body_ends_and_covers_the_inner_polls() {
    let (recorder, _guard) = Recorder::install();
    let (tx, body) = channel();
    let body = Mutex::new(Some(body));
    let service = TraceLayer::new().layer(service_fn(move |_request: Request<Full<Bytes>>| {
        let body = lock(&body).take();
        async move {
            // Runs while the trace layer polls its future: inside the span.
            tracing::info!("inner future polled");
            Ok::<_, Infallible>(Response::new(body.unwrap()))
        }
    }));
    let probe = Probe::new();
    let mut call = pin!(service.oneshot(request(Method::GET, "http://example.com/")));
    let Poll::Ready(Ok(response)) = probe.poll(call.as_mut()) else {
        panic!("the head is ready");
    };
    let inner = recorder.events_named("inner future polled");
    assert_eq!(inner.len(), 1);
    assert_eq!(
        inner[0].parent,
        Some(1),
        "the inner future runs in the span"
    );
    assert_eq!(
        recorder.field("http.response.status_code").as_deref(),
        Some("200")
    );
    assert!(!recorder.closed(), "the head does not end the exchange");

    let mut body = response.into_body();
    assert!(probe.poll_frame(&mut body).is_pending());
    tx.data("a");
    assert!(matches!(
        probe.poll_frame(&mut body),
        Poll::Ready(Some(Ok(_)))
    ));
    assert!(
        !recorder.closed(),
        "a body still being read keeps the span open"
    );
    assert!(recorder.events_named("response body finished").is_empty());

    drop(tx);
    assert!(matches!(probe.poll_frame(&mut body), Poll::Ready(None)));
    assert!(recorder.closed(), "the end of the body closes the span");
    let finished = recorder.events_named("response body finished");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].parent, Some(1));

    // Later polls record nothing more.
    assert!(matches!(probe.poll_frame(&mut body), Poll::Ready(None)));
    assert_eq!(recorder.events_named("response body finished").len(), 1);
    drop(body);
    assert_eq!(recorder.spans().len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_body_closes_the_span_without_finishing() {
    let (recorder, _guard) = Recorder::install();
    let response = TraceLayer::new()
        .layer(answer(StatusCode::OK, Version::HTTP_11))
        .oneshot(request(Method::GET, "http://example.com/"))
        .await
        .unwrap();
    assert!(!recorder.closed());
    drop(response);
    assert!(recorder.closed());
    assert!(recorder.events_named("response body finished").is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn an_empty_body_ends_the_exchange_with_its_head() {
    let (recorder, _guard) = Recorder::install();
    let response = TraceLayer::new()
        .layer(service_fn(|_request: Request<Full<Bytes>>| async {
            let mut response = Response::new(Empty::<Bytes>::new());
            *response.status_mut() = StatusCode::NO_CONTENT;
            Ok::<_, Infallible>(response)
        }))
        .oneshot(request(Method::HEAD, "http://example.com/"))
        .await
        .unwrap();
    assert!(response.body().is_end_stream());
    assert!(recorder.closed(), "nothing more to wait for");
    assert_eq!(recorder.events_named("response body finished").len(), 1);
    drop(response);
}

#[tokio::test(flavor = "current_thread")]
async fn a_body_ending_with_its_last_data_frame_finishes_then() {
    let (recorder, _guard) = Recorder::install();
    let response = TraceLayer::new()
        .layer(answer(StatusCode::OK, Version::HTTP_11))
        .oneshot(request(Method::GET, "http://example.com/"))
        .await
        .unwrap();
    let mut body = response.into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "body");
    assert!(recorder.closed(), "Full's one frame ends it");
    assert_eq!(recorder.events_named("response body finished").len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn the_span_is_a_child_of_the_callers_span() {
    let (recorder, _guard) = Recorder::install();
    let outer = tracing::info_span!("caller");
    let response = TraceLayer::new()
        .layer(answer(StatusCode::OK, Version::HTTP_11))
        .oneshot(request(Method::GET, "http://example.com/"))
        .instrument(outer)
        .await
        .unwrap();
    drop(response);
    let spans = recorder.spans();
    assert_eq!(spans[0].name, "caller");
    assert_eq!(recorder.request_span().parent, Some(1));
}

#[tokio::test(flavor = "current_thread")]
async fn one_span_per_request_on_a_shared_service() {
    let (recorder, _guard) = Recorder::install();
    let service = TraceLayer::new().layer(answer(StatusCode::OK, Version::HTTP_11));
    for _ in 0..3 {
        let response = service
            .clone()
            .oneshot(request(Method::GET, "http://example.com/"))
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    let spans = recorder.spans();
    assert_eq!(spans.len(), 3);
    assert!(spans.iter().all(|span| span.closed));
}

// ---------------------------------------------------------------------------------------
// Redaction.

const SECRET_URI: &str = "https://alice:pass@example.com/p?token=secret&flag";

#[tokio::test(flavor = "current_thread")]
async fn userinfo_and_query_values_never_reach_any_output() {
    let (recorder, _guard) = Recorder::install();
    let service = TraceLayer::new().layer(service_fn(|request: Request<Full<Bytes>>| async move {
        let next: Uri = "https://bob:pass@example.net/q?token=secret"
            .parse()
            .unwrap();
        report_hop(&request, request.uri(), &next, StatusCode::FOUND);
        let mut response = Response::new(Full::new(Bytes::from_static(b"x")));
        *response.status_mut() = StatusCode::NOT_FOUND;
        Ok::<_, Infallible>(response)
    }));
    let response = service
        .oneshot(request(Method::GET, SECRET_URI))
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();

    assert_eq!(
        recorder.field("url.full").as_deref(),
        Some("https://example.com/p?token=REDACTED&REDACTED")
    );
    let everything = recorder.everything();
    assert!(everything.contains("url.full="), "the scan sees the fields");
    assert!(
        everything.contains("redirect.to="),
        "the scan sees the events"
    );
    for leaked in ["pass", "secret", "alice", "bob", "flag"] {
        assert!(
            !everything.contains(leaked),
            "{leaked} leaked: {everything}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_query_can_be_removed_or_kept_but_userinfo_never() {
    let (recorder, _guard) = Recorder::install();
    exchange(
        TraceLayer::new().query(QueryRedaction::Remove),
        request(Method::GET, SECRET_URI),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        recorder.field("url.full").as_deref(),
        Some("https://example.com/p")
    );

    let (recorder, _guard) = Recorder::install();
    exchange(
        TraceLayer::new().query(QueryRedaction::Keep),
        request(Method::GET, SECRET_URI),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        recorder.field("url.full").as_deref(),
        Some("https://example.com/p?token=secret&flag")
    );
    assert!(!recorder.everything().contains("pass"));
}

// ---------------------------------------------------------------------------------------
// Redirect hops.

/// Tells the request's redirect observer of a hop, as a redirect layer would.
fn report_hop<B>(request: &Request<B>, from: &Uri, to: &Uri, status: StatusCode) {
    let observer = request
        .extensions()
        .get::<RedirectObserver>()
        .expect("the trace layer inserts a redirect observer");
    observer.redirected(from, to, status);
}

/// A stand-in for a redirect layer below the trace layer: two hops, then the final answer.
fn redirecting_service() -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future<Output = Reply>,
> {
    service_fn(|request: Request<Full<Bytes>>| async move {
        let second: Uri = "https://example.com/second?step=2".parse().unwrap();
        let last: Uri = "/last".parse().unwrap();
        tokio::task::yield_now().await;
        report_hop(
            &request,
            request.uri(),
            &second,
            StatusCode::MOVED_PERMANENTLY,
        );
        tokio::task::yield_now().await;
        report_hop(&request, &second, &last, StatusCode::SEE_OTHER);
        Ok(Response::new(Full::new(Bytes::from_static(b"done"))))
    })
}

#[tokio::test(flavor = "current_thread")]
async fn redirect_hops_are_events_in_the_span() {
    let (recorder, _guard) = Recorder::install();
    let response = TraceLayer::new()
        .level(Level::DEBUG)
        .layer(redirecting_service())
        .oneshot(request(Method::GET, "https://u:p@example.com/first?id=1"))
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();

    let hops = recorder.events_named("following redirect");
    assert_eq!(hops.len(), 2);
    let field = |hop: &EventRecord, name: &str| hop.fields.get(name).cloned();
    assert_eq!(
        field(&hops[0], "redirect.from").as_deref(),
        Some("https://example.com/first?id=REDACTED")
    );
    assert_eq!(
        field(&hops[0], "redirect.to").as_deref(),
        Some("https://example.com/second?step=REDACTED")
    );
    assert_eq!(
        field(&hops[0], "http.response.status_code").as_deref(),
        Some("301")
    );
    assert_eq!(field(&hops[1], "redirect.to").as_deref(), Some("/last"));
    assert_eq!(
        field(&hops[1], "http.response.status_code").as_deref(),
        Some("303")
    );
    for hop in &hops {
        assert_eq!(hop.parent, Some(1), "hops are inside the request span");
        assert_eq!(hop.level, Level::DEBUG, "at the layer's level");
    }
    assert_eq!(
        recorder.spans().len(),
        1,
        "one span for the logical request"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn redirect_hops_follow_the_enclosing_layers_redaction() {
    let (recorder, _guard) = Recorder::install();
    let response = TraceLayer::new()
        .query(QueryRedaction::Keep)
        .layer(redirecting_service())
        .oneshot(request(Method::GET, "https://example.com/first?id=1"))
        .await
        .unwrap();
    drop(response);
    let hops = recorder.events_named("following redirect");
    assert_eq!(
        hops[0].fields.get("redirect.to").map(String::as_str),
        Some("https://example.com/second?step=2")
    );
}

/// Runs each call's future in its own spawned task, as an executor-backed buffer or a
/// spawning middleware would: the redirect layer below is not polled inside the trace
/// layer's poll, nor on a stack where the trace layer's span is entered.
#[cfg(feature = "redirect")]
#[derive(Clone)]
struct Spawned<S>(S);

#[cfg(feature = "redirect")]
impl<S, Req> tower::Service<Req> for Spawned<S>
where
    S: tower::Service<Req>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let task = tokio::spawn(self.0.call(request));
        Box::pin(async move { task.await?.map_err(Into::into) })
    }
}

#[cfg(feature = "redirect")]
#[tokio::test(flavor = "current_thread")]
async fn hops_of_a_redirect_layer_in_another_task_are_events_in_the_span() {
    use crate::redirect::RedirectLayer;

    let (recorder, _guard) = Recorder::install();
    let origin = service_fn(|request: Request<_>| async move {
        let mut response = Response::new(Full::new(Bytes::from_static(b"done")));
        if request.uri().path() == "/first" {
            *response.status_mut() = StatusCode::FOUND;
            response.headers_mut().insert(
                http::header::LOCATION,
                http::HeaderValue::from_static("/second?token=secret"),
            );
        }
        Ok::<_, Infallible>(response)
    });
    let service = TraceLayer::new()
        .level(Level::DEBUG)
        .layer(Spawned(RedirectLayer::default().layer(origin)));
    let response = service
        .oneshot(request(Method::GET, "https://u:p@example.com/first?id=1"))
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();

    let hops = recorder.events_named("following redirect");
    assert_eq!(hops.len(), 1, "{}", recorder.everything());
    assert_eq!(
        hops[0].parent,
        Some(1),
        "the hop is inside the request span"
    );
    assert_eq!(hops[0].level, Level::DEBUG, "at the layer's level");
    assert_eq!(
        hops[0].fields.get("redirect.from").map(String::as_str),
        Some("https://example.com/first?id=REDACTED")
    );
    assert_eq!(
        hops[0].fields.get("redirect.to").map(String::as_str),
        Some("https://example.com/second?token=REDACTED")
    );
}

#[test]
fn the_layer_debug_output_shows_its_settings() {
    let layer = TraceLayer::default()
        .level(Level::WARN)
        .query(QueryRedaction::Remove);
    let shown = format!("{layer:?}");
    assert!(
        shown.contains("Warn") && shown.contains("Remove"),
        "{shown}"
    );
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is_send<T: Send>() {}
    is_send::<ResponseFuture<std::future::Ready<Result<Response<Full<Bytes>>, BoxError>>>>();
    is_send::<TraceBody<Full<Bytes>>>();
    is_send::<Trace<()>>();
}
