//! [`Attempt`]: one attempt's span and measurements, from the call to the end of its body.

use std::{borrow::Cow, error::Error, fmt::Write as _, sync::Arc, time::Instant};

use http::{Request, Response};
use opentelemetry::{
    Context, KeyValue,
    trace::{SpanKind, Status, TraceContextExt, Tracer},
};
use towline_core::ConnectionInfo;

use super::{Propagation, headers, layer::Shared};
use crate::{AttemptTimedOut, Deadline, ResendCount, redact::RedactedUri, semconv};

/// An attempt in flight. Dropping it ends the span and records the metrics, so the attempt
/// is over when its response body ends, fails or is dropped, and when its response future
/// is dropped before the head arrived.
pub(super) struct Attempt {
    cx: Context,
    shared: Arc<Shared>,
    start: Instant,
    deadline: Option<Instant>,
    /// Raised by a retry layer above when it gives the attempt up at its attempt timeout.
    timed_out: Option<AttemptTimedOut>,
    /// The metrics' attributes; the first `common` are those of `http.client.active_requests`.
    attributes: Vec<KeyValue>,
    common: usize,
    request_size: Option<u64>,
    response_size: u64,
    stage: Stage,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for the response head.
    Sending,
    /// Reading the response body.
    Receiving,
    /// The body ended, or the request or body failed.
    Over { body_complete: bool },
}

impl Attempt {
    /// Starts the attempt's span (a child of the request's [`Context`] extension, else of the
    /// current context) and injects its context into the request's headers.
    pub(super) fn start<B: http_body::Body>(
        shared: &Arc<Shared>,
        request: &mut Request<B>,
    ) -> Self {
        let settings = &shared.settings;
        let parent = request
            .extensions()
            .get::<Context>()
            .cloned()
            .unwrap_or_else(Context::current);
        let uri = request.uri();
        let (method, method_original) = semconv::method(request.method());
        let authority = semconv::request_authority(request);
        let scheme = uri.scheme_str();
        let port = semconv::server_port(authority.as_deref(), scheme);

        let mut attributes = Vec::with_capacity(8);
        attributes.push(KeyValue::new("http.request.method", method));
        if let Some(authority) = &authority {
            let address = semconv::server_address(authority.host()).to_owned();
            attributes.push(KeyValue::new("server.address", address));
        }
        if let Some(port) = port {
            attributes.push(KeyValue::new("server.port", i64::from(port)));
        }
        if let Some(scheme) = scheme {
            attributes.push(KeyValue::new("url.scheme", scheme_value(scheme)));
        }
        let common = attributes.len();

        // Sized for what follows, so the span's attributes and the URL are built without
        // growing (this runs on every attempt, recorded or not).
        let mut span_attributes = Vec::with_capacity(common + 4 + settings.request_headers.len());
        span_attributes.extend_from_slice(&attributes);
        let mut full = String::with_capacity(uri_len(uri));
        let _ = write!(full, "{}", RedactedUri::new(uri, settings.query));
        span_attributes.push(KeyValue::new("url.full", full));
        if let Some(original) = method_original {
            span_attributes.push(KeyValue::new(
                "http.request.method_original",
                original.to_owned(),
            ));
        }
        if let Some(agent) = request
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
        {
            span_attributes.push(KeyValue::new("user_agent.original", agent.to_owned()));
        }
        // The conventions set it from the second send on.
        let resends = ResendCount::of(request.extensions());
        if resends > 0 {
            span_attributes.push(KeyValue::new(
                "http.request.resend_count",
                i64::from(resends),
            ));
        }
        span_attributes.extend(headers::captured(
            "http.request.header.",
            &settings.request_headers,
            request.headers(),
        ));

        let span = shared
            .tracer
            .span_builder(semconv::otel_name(method))
            .with_kind(SpanKind::Client)
            .with_attributes(span_attributes)
            .start_with_context(&*shared.tracer, &parent);
        let cx = parent.with_span(span);
        inject(shared, &cx, request);

        shared.instruments.active.add(1, &attributes[..common]);
        Self {
            cx,
            shared: shared.clone(),
            start: shared.timer.now(),
            deadline: request
                .extensions()
                .get::<Deadline>()
                .map(|deadline| deadline.0),
            timed_out: request.extensions().get::<AttemptTimedOut>().cloned(),
            attributes,
            common,
            request_size: request.body().size_hint().exact(),
            response_size: 0,
            stage: Stage::Sending,
        }
    }

    /// Records the response head: status, protocol, peer, connection phases and the listed
    /// headers; a status of 400 or more fails the span.
    pub(super) fn head<B>(&mut self, response: &Response<B>) {
        self.stage = Stage::Receiving;
        let status = response.status();
        let status_code = KeyValue::new("http.response.status_code", i64::from(status.as_u16()));
        let version = semconv::protocol_version(response.version())
            .map(|version| KeyValue::new("network.protocol.version", version));
        self.attributes.push(status_code.clone());
        self.attributes.extend(version.clone());
        if status.as_u16() >= 400 {
            self.fail(Cow::Owned(status.as_str().to_owned()));
        }
        // The span's own attributes are built only for a span that records them (a no-op
        // provider's does not); the metrics' attributes above are needed either way.
        let span = self.cx.span();
        if !span.is_recording() {
            return;
        }
        let mut recorded = Vec::with_capacity(10 + self.shared.settings.response_headers.len());
        recorded.push(status_code);
        recorded.extend(version);
        if let Some(info) = response.extensions().get::<ConnectionInfo>() {
            if let Some(peer) = info.remote_addr() {
                recorded.push(KeyValue::new("network.peer.address", peer.ip().to_string()));
                recorded.push(KeyValue::new("network.peer.port", i64::from(peer.port())));
            }
            recorded.extend(phases(info, self.shared.timer.now()));
        }
        recorded.extend(headers::captured(
            "http.response.header.",
            &self.shared.settings.response_headers,
            response.headers(),
        ));
        span.set_attributes(recorded);
    }

    /// Fails the attempt with `err`, classified.
    pub(super) fn error(&mut self, err: &(dyn Error + 'static)) {
        let error_type = (self.shared.settings.classify)(err);
        self.fail(Cow::Borrowed(error_type));
        self.stage = Stage::Over {
            body_complete: false,
        };
    }

    /// Reading the response body failed: the classifier's answer, or `body` when it knows
    /// no better (the response head had arrived, so the failure is the body's).
    pub(super) fn body_error(&mut self, err: &(dyn Error + 'static)) {
        let error_type = match (self.shared.settings.classify)(err) {
            "_OTHER" => "body",
            known => known,
        };
        self.fail(Cow::Borrowed(error_type));
        self.stage = Stage::Over {
            body_complete: false,
        };
    }

    /// Counts `len` more bytes of the response body.
    pub(super) fn received(&mut self, len: usize) {
        self.response_size = self
            .response_size
            .saturating_add(u64::try_from(len).unwrap_or(u64::MAX));
    }

    /// The response body reached its end.
    pub(super) fn body_complete(&mut self) {
        self.stage = Stage::Over {
            body_complete: true,
        };
    }

    fn fail(&mut self, error_type: Cow<'static, str>) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new("error.type", error_type.clone()));
        span.set_status(Status::error(error_type.clone()));
        // The last failure wins: a body that fails after a 5xx head says why it ended.
        self.attributes.retain(|kv| kv.key.as_str() != "error.type");
        self.attributes
            .push(KeyValue::new("error.type", error_type));
    }

    /// Whether a timeout ended the attempt: the total timeout's deadline has passed, or a
    /// retry layer gave the attempt up at its attempt timeout.
    fn deadline_passed(&self) -> bool {
        self.timed_out
            .as_ref()
            .is_some_and(AttemptTimedOut::is_raised)
            || self
                .deadline
                .is_some_and(|deadline| self.shared.timer.now() >= deadline)
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        // Dropped early: by a timeout above (the total timeout's deadline has passed, or the
        // retry layer's attempt timeout elapsed), or by a caller that gave up. A body dropped unread after its head is not a failure.
        match self.stage {
            Stage::Sending if self.deadline_passed() => self.fail(Cow::Borrowed("timeout")),
            Stage::Sending => self.fail(Cow::Borrowed("cancelled")),
            Stage::Receiving if self.deadline_passed() => self.fail(Cow::Borrowed("timeout")),
            Stage::Receiving | Stage::Over { .. } => {}
        }
        self.cx.span().end();
        let instruments = &self.shared.instruments;
        let elapsed = self
            .shared
            .timer
            .now()
            .saturating_duration_since(self.start);
        instruments
            .duration
            .record(elapsed.as_secs_f64(), &self.attributes);
        if let Some(size) = self.request_size {
            instruments.request_size.record(size, &self.attributes);
        }
        if self.stage
            == (Stage::Over {
                body_complete: true,
            })
        {
            instruments
                .response_size
                .record(self.response_size, &self.attributes);
        }
        instruments.active.add(-1, &self.attributes[..self.common]);
    }
}

/// Writes the attempt span's context into the request, as [`Propagation`] says.
fn inject<B>(shared: &Shared, cx: &Context, request: &mut Request<B>) {
    let headers = request.headers_mut();
    match shared.settings.propagation {
        Propagation::Off => return,
        Propagation::KeepCaller if headers.contains_key("traceparent") => return,
        Propagation::KeepCaller | Propagation::Replace => {}
    }
    let mut injector = headers::HeaderInjector(headers);
    match &shared.settings.propagator {
        Some(propagator) => propagator.inject_context(cx, &mut injector),
        None => opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(cx, &mut injector);
        }),
    }
}

/// `url.scheme` without an allocation for the usual schemes.
fn scheme_value(scheme: &str) -> opentelemetry::Value {
    match scheme {
        "http" => "http".into(),
        "https" => "https".into(),
        other => other.to_owned().into(),
    }
}

/// The connection's phase durations (a fresh connection only: a reused one's belong to an
/// earlier request) and the time to first byte, in seconds.
/// The length of `uri` written out: the room its redacted form usually needs.
fn uri_len(uri: &http::Uri) -> usize {
    let scheme = uri.scheme_str().map_or(0, |scheme| scheme.len() + 3);
    let authority = uri
        .authority()
        .map_or(0, |authority| authority.as_str().len());
    let path = uri.path_and_query().map_or(1, |path| path.as_str().len());
    scheme + authority + path
}

fn phases(info: &ConnectionInfo, now: Instant) -> Vec<KeyValue> {
    let mut phases = vec![
        KeyValue::new("towline.connection.reused", info.is_reused()),
        KeyValue::new(
            "towline.time_to_first_byte",
            now.saturating_duration_since(info.request_sent_at())
                .as_secs_f64(),
        ),
    ];
    if !info.is_reused() {
        let timings = info.connect_timings();
        let durations = [
            ("towline.connect.dns.duration", timings.dns),
            ("towline.connect.tcp.duration", Some(timings.tcp)),
            ("towline.connect.tls.duration", timings.tls),
            ("towline.connect.proxy.duration", timings.proxy),
        ];
        phases.extend(durations.into_iter().filter_map(|(key, duration)| {
            duration.map(|duration| KeyValue::new(key, duration.as_secs_f64()))
        }));
    }
    phases
}
