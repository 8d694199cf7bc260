use std::{
    convert::Infallible,
    future::Future,
    io,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper::rt::Timer;
use tower::ServiceExt;
use tower_layer::Layer;
use tower_service::Service;

use super::*;
use crate::{
    BoxError, Deadline,
    replay::ReplayError,
    resend::ResendBody,
    sync::lock,
    test_util::channel,
    time::{ManualTimer, TimerClock},
};

const MS: Duration = Duration::from_millis(1);

/// A response body of one frame that records when it has been read to its end.
struct Tracked {
    data: Option<Bytes>,
    read: Arc<AtomicBool>,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let data = self.data.take();
        if data.is_some() {
            self.read.store(true, Ordering::SeqCst);
        }
        Poll::Ready(data.map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |data| data.len() as u64))
    }
}

/// What the mock saw of one attempt.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: Method,
    /// `original`, `replay` or `empty`: how the layer sent the body.
    kind: &'static str,
    /// The body as read, or the error reading it.
    body: Result<Bytes, String>,
    /// Whether every earlier response's body had been read to its end.
    earlier_drained: bool,
}

type Script = Arc<dyn Fn(usize) -> Result<Response<Bytes>, BoxError> + Send + Sync>;

/// A service answering attempt `n` with `script(n)`, recording what it was sent.
#[derive(Clone)]
struct Mock {
    script: Script,
    seen: Arc<Mutex<Vec<Seen>>>,
    bodies: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
}

impl Mock {
    fn new(
        script: impl Fn(usize) -> Result<Response<Bytes>, BoxError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            script: Arc::new(script),
            seen: Arc::default(),
            bodies: Arc::default(),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        lock(&self.seen).clone()
    }

    fn calls(&self) -> usize {
        lock(&self.seen).len()
    }
}

impl<B> Service<Request<ResendBody<B>>> for Mock
where
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Tracked>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Tracked>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ResendBody<B>>) -> Self::Future {
        let kind = if request.body().is_replay() {
            "replay"
        } else if request.body().is_empty() {
            "empty"
        } else {
            "original"
        };
        let earlier_drained = lock(&self.bodies)
            .iter()
            .all(|read| read.load(Ordering::SeqCst));
        let method = request.method().clone();
        let this = self.clone();
        Box::pin(async move {
            let body = match request.into_body().collect().await {
                Ok(body) => Ok(body.to_bytes()),
                Err(err) => Err(err.to_string()),
            };
            let index = {
                let mut seen = lock(&this.seen);
                seen.push(Seen {
                    method,
                    kind,
                    body,
                    earlier_drained,
                });
                seen.len() - 1
            };
            let response = (this.script)(index)?;
            let read = Arc::new(AtomicBool::new(false));
            lock(&this.bodies).push(Arc::clone(&read));
            Ok(response.map(|data| Tracked {
                data: (!data.is_empty()).then_some(data),
                read,
            }))
        })
    }
}

fn status(code: u16) -> Result<Response<Bytes>, BoxError> {
    Ok(Response::builder()
        .status(code)
        .body(Bytes::from_static(b"response body"))?)
}

fn status_with(code: u16, name: &str, value: &str) -> Result<Response<Bytes>, BoxError> {
    Ok(Response::builder()
        .status(code)
        .header(name, value)
        .body(Bytes::from_static(b"response body"))?)
}

/// `503` until attempt `ok_at`, then `200`.
fn fails_until(ok_at: usize) -> impl Fn(usize) -> Result<Response<Bytes>, BoxError> {
    move |n| status(if n >= ok_at { 200 } else { 503 })
}

fn exact() -> RetryConfig {
    RetryConfig::new()
        .initial_backoff(100 * MS)
        .jitter(Jitter::None)
}

fn count(response: &Response<Tracked>) -> Option<u32> {
    response
        .extensions()
        .get::<RetryCount>()
        .map(|RetryCount(n)| *n)
}

fn refused() -> BoxError {
    Box::new(io::Error::from(io::ErrorKind::ConnectionRefused))
}

fn get() -> Request<Full<Bytes>> {
    Request::new(Full::default())
}

fn with_body(method: Method, body: &'static str) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(Bytes::from_static(body.as_bytes())));
    *request.method_mut() = method;
    request
}

/// Sends `request` and moves virtual time by `step` whenever the layer sleeps, until the
/// call completes; returns the outcome and the virtual time it took.
async fn drive<B>(
    timer: &ManualTimer,
    service: Retry<Mock>,
    request: Request<B>,
    step: Duration,
) -> Result<(Result<Response<Tracked>, BoxError>, Duration), BoxError>
where
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let start = timer.now();
    let mut call = tokio::spawn(service.oneshot(request));
    loop {
        tokio::select! {
            biased;
            outcome = &mut call => return Ok((outcome?, timer.now() - start)),
            () = timer.wait_for_sleeps(1) => timer.advance(step),
        }
    }
}

#[test]
fn backoff_grows_exponentially_up_to_the_cap() {
    let config = exact().max_backoff(2 * Duration::from_secs(1));
    let sequence: Vec<_> = (0..7).map(|n| config.backoff(n)).collect();
    assert_eq!(
        sequence,
        [100, 200, 400, 800, 1600, 2000, 2000].map(|ms| ms * MS)
    );
    assert_eq!(config.backoff(u32::MAX), 2 * Duration::from_secs(1));
    for multiplier in [f64::MAX, f64::INFINITY, 1e300] {
        let config = exact().backoff_multiplier(multiplier);
        assert_eq!(config.backoff(1000), Duration::from_secs(30));
        assert_eq!(config.backoff(0), 100 * MS);
    }
    for multiplier in [f64::NAN, -3.0, 0.5, f64::NEG_INFINITY] {
        let config = exact().backoff_multiplier(multiplier);
        assert_eq!(
            config.backoff(5),
            100 * MS,
            "{multiplier} is clamped to 1.0"
        );
    }
    let huge = exact()
        .initial_backoff(Duration::MAX)
        .max_backoff(Duration::MAX);
    assert_eq!(huge.backoff(3), Duration::MAX);
}

#[test]
fn jitter_stays_within_its_bounds() {
    let config = RetryConfig::new().initial_backoff(Duration::from_secs(1));
    let full: Vec<_> = (0..500).map(|_| config.jittered_backoff(1)).collect();
    assert!(full.iter().all(|wait| *wait <= Duration::from_secs(2)));
    assert!(
        full.iter().any(|wait| *wait != full[0]),
        "full jitter varies"
    );

    let equal = config.clone().jitter(Jitter::Equal);
    let equal: Vec<_> = (0..500).map(|_| equal.jittered_backoff(1)).collect();
    assert!(
        equal
            .iter()
            .all(|wait| (Duration::from_secs(1)..=Duration::from_secs(2)).contains(wait))
    );
    assert!(
        equal.iter().any(|wait| *wait != equal[0]),
        "equal jitter varies"
    );

    let none = config.jitter(Jitter::None);
    assert!((0..50).all(|_| none.jittered_backoff(1) == Duration::from_secs(2)));
}

#[tokio::test]
async fn waits_exactly_the_backoff_between_attempts() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let mock = Mock::new(fails_until(3));
    let service = RetryLayer::new(exact(), timer.shared()).layer(mock.clone());
    let mut call = tokio::spawn(service.oneshot(get()));
    for (calls, wait) in [(1, 100 * MS), (2, 200 * MS), (3, 400 * MS)] {
        timer.wait_for_sleeps(1).await;
        assert_eq!(mock.calls(), calls);
        timer.advance(wait - Duration::from_nanos(1));
        tokio::task::yield_now().await;
        assert_eq!((mock.calls(), timer.pending_sleeps()), (calls, 1));
        timer.advance(Duration::from_nanos(1));
    }
    let response = (&mut call).await??;
    assert_eq!(response.status(), 200);
    assert_eq!(count(&response), Some(3));
    assert_eq!(mock.calls(), 4);
    Ok(())
}

#[tokio::test]
async fn full_jitter_waits_at_most_the_backoff() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let mock = Mock::new(fails_until(1));
    let config = RetryConfig::new().initial_backoff(Duration::from_secs(10));
    let service = RetryLayer::new(config, timer.shared()).layer(mock.clone());
    let (response, took) = drive(&timer, service, get(), MS).await?;
    assert_eq!(response?.status(), 200);
    assert!(took <= Duration::from_secs(10), "{took:?}");
    Ok(())
}

#[tokio::test]
async fn max_retries_is_honoured() -> Result<(), BoxError> {
    for max in [0, 1, 3] {
        let timer = ManualTimer::new();
        let mock = Mock::new(|_| status(503));
        let config = exact().max_retries(max).initial_backoff(Duration::ZERO);
        let service = RetryLayer::new(config, timer.shared()).layer(mock.clone());
        let response = service.oneshot(get()).await?;
        assert_eq!(response.status(), 503);
        assert_eq!(mock.calls(), max as usize + 1);
        // With retries off the request passes through and is not marked.
        assert_eq!(count(&response), (max > 0).then_some(max));
    }
    Ok(())
}

#[tokio::test]
async fn retry_after_seconds_replaces_the_backoff() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let mock = Mock::new(|n| {
        if n == 0 {
            status_with(429, "retry-after", " 5 ")
        } else {
            status(200)
        }
    });
    let service = RetryLayer::new(exact(), timer.shared()).layer(mock.clone());
    let (response, took) = drive(&timer, service, get(), MS).await?;
    assert_eq!(response?.status(), 200);
    assert_eq!(took, Duration::from_secs(5));
    Ok(())
}

#[tokio::test]
async fn retry_after_http_date_is_read_against_the_wall_clock() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    // 2015-10-21 07:28:00 UTC, three seconds before the date the server names.
    let wall = UNIX_EPOCH + Duration::from_secs(1_445_412_480);
    let mock = Mock::new(|n| {
        if n == 0 {
            status_with(503, "retry-after", "Wed, 21 Oct 2015 07:28:03 GMT")
        } else {
            status(200)
        }
    });
    let layer = RetryLayer::new(exact(), timer.shared())
        .wall_clock(TimerClock::starting_at(timer.shared(), wall).shared());
    let (response, took) = drive(&timer, layer.layer(mock.clone()), get(), MS).await?;
    assert_eq!(response?.status(), 200);
    assert_eq!(took, Duration::from_secs(3));
    Ok(())
}

#[tokio::test]
async fn retry_after_is_capped_by_max_backoff() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let mock = Mock::new(|n| {
        if n == 0 {
            status_with(503, "retry-after", "120")
        } else {
            status(200)
        }
    });
    let config = exact().max_backoff(Duration::from_secs(10));
    let service = RetryLayer::new(config, timer.shared()).layer(mock.clone());
    let (response, took) = drive(&timer, service, get(), MS).await?;
    assert_eq!(response?.status(), 200);
    assert_eq!(took, Duration::from_secs(10));
    Ok(())
}

#[tokio::test]
async fn no_retry_whose_wait_ends_past_the_deadline() -> Result<(), BoxError> {
    for (retry_after, retried) in [("10", false), ("4", true)] {
        let timer = ManualTimer::new();
        let mock = Mock::new(move |n| {
            if n == 0 {
                status_with(503, "retry-after", retry_after)
            } else {
                status(200)
            }
        });
        let service = RetryLayer::new(exact(), timer.shared()).layer(mock.clone());
        let mut request = get();
        request
            .extensions_mut()
            .insert(Deadline(timer.now() + Duration::from_secs(5)));
        let (response, took) = drive(&timer, service, request, MS).await?;
        let response = response?;
        if retried {
            assert_eq!(
                (response.status(), count(&response)),
                (StatusCode::OK, Some(1))
            );
            assert_eq!(took, Duration::from_secs(4));
        } else {
            assert_eq!(
                (response.status(), count(&response)),
                (StatusCode::SERVICE_UNAVAILABLE, Some(0))
            );
            assert_eq!((took, mock.calls()), (Duration::ZERO, 1));
        }
    }
    // The computed backoff is held to the deadline too.
    let timer = ManualTimer::new();
    let mock = Mock::new(fails_until(1));
    let service = RetryLayer::new(exact(), timer.shared()).layer(mock.clone());
    let mut request = get();
    request
        .extensions_mut()
        .insert(Deadline(timer.now() + 50 * MS));
    let response = service.oneshot(request).await?;
    assert_eq!(
        (response.status(), mock.calls()),
        (StatusCode::SERVICE_UNAVAILABLE, 1)
    );
    Ok(())
}

#[tokio::test]
async fn absurd_or_garbage_retry_after_falls_back_to_the_backoff() -> Result<(), BoxError> {
    for value in [
        "-5",
        "soon",
        "1.5",
        "99999999999999999999999999",
        "86401",
        "Wed, 21 Oct 2015 07:28:00 GMT trailing",
        "",
    ] {
        let timer = ManualTimer::new();
        let mock = Mock::new(move |n| {
            if n == 0 {
                status_with(503, "retry-after", value)
            } else {
                status(200)
            }
        });
        let service = RetryLayer::new(exact(), timer.shared()).layer(mock.clone());
        let (response, took) = drive(&timer, service, get(), MS).await?;
        assert_eq!(response?.status(), 200, "{value:?}");
        assert_eq!(took, 100 * MS, "{value:?} falls back to the backoff");
    }
    Ok(())
}

#[test]
fn parse_retry_after_reads_both_forms_and_refuses_the_rest() {
    let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 2015-10-21 07:28:00
    let secs = |s| Some(Duration::from_secs(s));
    assert_eq!(parse_retry_after(b"0", now), secs(0));
    assert_eq!(parse_retry_after(b"\t 42 \t", now), secs(42));
    assert_eq!(parse_retry_after(b"86400", now), secs(86_400));
    assert_eq!(parse_retry_after(b"86401", now), None);
    assert_eq!(parse_retry_after(b"18446744073709551616", now), None);
    assert_eq!(
        parse_retry_after(b"Wed, 21 Oct 2015 07:29:00 GMT", now),
        secs(60)
    );
    assert_eq!(
        parse_retry_after(b"Wednesday, 21-Oct-15 07:29:00 GMT", now),
        secs(60)
    );
    assert_eq!(
        parse_retry_after(b"Wed Oct 21 07:29:00 2015", now),
        secs(60)
    );
    // A date in the past means now; one further than a day is absurd.
    assert_eq!(
        parse_retry_after(b"Tue, 20 Oct 2015 07:28:00 GMT", now),
        secs(0)
    );
    assert_eq!(
        parse_retry_after(b"Fri, 23 Oct 2015 07:28:00 GMT", now),
        None
    );
    for garbage in [
        &b""[..],
        b" ",
        b"-1",
        b"+1",
        b"1e3",
        b"0x10",
        b"\xff\xfe",
        b"Wed, 32 Oct 2015 07:28:00 GMT",
        &[b'1'; MAX_RETRY_AFTER_LEN + 1],
    ] {
        assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
    }
    // Far-future and far-past clocks do not overflow.
    let far = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) * 100);
    assert_eq!(
        parse_retry_after(b"Wed, 21 Oct 2015 07:29:00 GMT", far),
        secs(0)
    );
}

#[tokio::test]
async fn non_idempotent_methods_are_retried_only_when_unsent_or_opted_in() -> Result<(), BoxError> {
    type Case = (
        Method,
        fn(usize) -> Result<Response<Bytes>, BoxError>,
        bool,
        usize,
    );
    let maybe_sent: fn(usize) -> Result<Response<Bytes>, BoxError> = |n| {
        if n == 0 {
            Err("connection reset".into())
        } else {
            status(200)
        }
    };
    let not_sent: fn(usize) -> Result<Response<Bytes>, BoxError> =
        |n| if n == 0 { Err(refused()) } else { status(200) };
    let unavailable: fn(usize) -> Result<Response<Bytes>, BoxError> =
        |n| status(if n == 0 { 503 } else { 200 });
    let cases: [Case; 9] = [
        (Method::POST, unavailable, false, 1),
        (Method::POST, maybe_sent, false, 1),
        (Method::POST, not_sent, false, 2),
        (Method::POST, unavailable, true, 2),
        (Method::POST, maybe_sent, true, 2),
        (Method::PATCH, unavailable, false, 1),
        (Method::GET, maybe_sent, false, 2),
        (Method::PUT, unavailable, false, 2),
        (Method::DELETE, not_sent, false, 2),
    ];
    for (method, script, opt_in, calls) in cases {
        let timer = ManualTimer::new();
        let mock = Mock::new(script);
        let config = exact()
            .initial_backoff(Duration::ZERO)
            .retry_non_idempotent(opt_in);
        let service = RetryLayer::new(config, timer.shared()).layer(mock.clone());
        let outcome = service.oneshot(with_body(method.clone(), "data")).await;
        assert_eq!(mock.calls(), calls, "{method} opt-in {opt_in}");
        if calls == 2 {
            assert_eq!(outcome?.status(), 200);
        }
    }
    Ok(())
}

#[tokio::test]
async fn errors_are_classified_and_fatal_ones_never_retried() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let mock = Mock::new(|n| if n == 0 { Err(refused()) } else { status(200) });
    let config = exact()
        .initial_backoff(Duration::ZERO)
        .classify_error(|_| ErrorClass::Fatal);
    let service = RetryLayer::new(config, timer.shared()).layer(mock.clone());
    let err = service
        .oneshot(get())
        .await
        .err()
        .ok_or("fatal errors surface")?;
    assert_eq!(
        crate::error::find_cause::<io::Error>(&*err).map(io::Error::kind),
        Some(io::ErrorKind::ConnectionRefused)
    );
    assert_eq!(mock.calls(), 1);

    let refused = refused();
    assert_eq!(default_error_class(&*refused), ErrorClass::NotSent);
    let replay: BoxError = Box::new(ReplayError::CapExceeded { cap: 1 });
    assert_eq!(default_error_class(&*replay), ErrorClass::Fatal);
    let reset: BoxError = Box::new(io::Error::from(io::ErrorKind::ConnectionReset));
    assert_eq!(default_error_class(&*reset), ErrorClass::MaybeSent);
    let other: BoxError = "something".into();
    assert_eq!(default_error_class(&*other), ErrorClass::MaybeSent);
    Ok(())
}

#[tokio::test]
async fn layer_error_classifier_serves_configs_without_their_own() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let quick = exact().initial_backoff(Duration::ZERO).max_retries(1);
    let unsent_post = || {
        let mut request = with_body(Method::POST, "data");
        request.extensions_mut().insert(quick.clone());
        request
    };
    // A "reset" is MaybeSent by default, so a POST is not retried ...
    let reset = || {
        Err::<Response<Bytes>, BoxError>(Box::new(io::Error::from(io::ErrorKind::ConnectionReset)))
    };
    let mock = Mock::new(move |n| if n == 0 { reset() } else { status(200) });
    let service = RetryLayer::new(RetryConfig::disabled(), timer.shared()).layer(mock.clone());
    assert!(service.oneshot(unsent_post()).await.is_err());
    assert_eq!(mock.calls(), 1);

    // ... unless the layer's classifier knows better, for a request's own config too.
    let mock = Mock::new(move |n| if n == 0 { reset() } else { status(200) });
    let service = RetryLayer::new(RetryConfig::disabled(), timer.shared())
        .error_classifier(|_| ErrorClass::NotSent)
        .layer(mock.clone());
    let response = service.oneshot(unsent_post()).await?;
    assert_eq!(
        (response.status(), count(&response)),
        (StatusCode::OK, Some(1))
    );
    assert_eq!(mock.calls(), 2);

    // A config's own hook still wins over the layer's.
    let mock = Mock::new(move |n| if n == 0 { reset() } else { status(200) });
    let service = RetryLayer::new(RetryConfig::disabled(), timer.shared())
        .error_classifier(|_| ErrorClass::NotSent)
        .layer(mock.clone());
    let mut request = with_body(Method::POST, "data");
    request
        .extensions_mut()
        .insert(quick.clone().classify_error(|_| ErrorClass::Fatal));
    assert!(service.oneshot(request).await.is_err());
    assert_eq!(mock.calls(), 1);
    Ok(())
}

#[tokio::test]
async fn a_body_that_cannot_be_replayed_is_never_retried_whatever_the_classifier_says()
-> Result<(), BoxError> {
    #[derive(Debug)]
    struct Wrapper(ReplayError);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("transport failed")
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let timer = ManualTimer::new();
    let mock = Mock::new(|n| {
        if n == 0 {
            Err(Box::new(Wrapper(ReplayError::CapExceeded { cap: 1 })) as BoxError)
        } else {
            status(200)
        }
    });
    let service = RetryLayer::new(exact().initial_backoff(Duration::ZERO), timer.shared())
        .error_classifier(|_| ErrorClass::NotSent)
        .layer(mock.clone());
    let err = service
        .oneshot(get())
        .await
        .err()
        .ok_or("the replay failure surfaces")?;
    assert!(
        crate::error::find_cause::<ReplayError>(&*err).is_some(),
        "{err}"
    );
    assert_eq!(mock.calls(), 1);
    Ok(())
}

#[cfg(feature = "timeout")]
#[tokio::test]
async fn default_classifier_takes_a_timeout_as_maybe_sent() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let timeout = crate::timeout::TimeoutLayer::new(timer.shared())
        .total(Some(MS))
        .layer(tower::service_fn(|_: Request<()>| {
            std::future::pending::<Result<Response<Full<Bytes>>, BoxError>>()
        }));
    let call = tokio::spawn(timeout.oneshot(Request::new(())));
    timer.wait_for_sleeps(1).await;
    timer.advance(MS);
    let err = call.await?.err().ok_or("the request times out")?;
    assert_eq!(default_error_class(&*err), ErrorClass::MaybeSent);
    Ok(())
}

#[tokio::test]
async fn buffered_body_is_replayed_on_each_attempt() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let mock = Mock::new(fails_until(2));
    let config = exact().initial_backoff(Duration::ZERO);
    let service = RetryLayer::new(config, timer.shared()).layer(mock.clone());
    let response = service.oneshot(with_body(Method::PUT, "payload")).await?;
    assert_eq!(
        (response.status(), count(&response)),
        (StatusCode::OK, Some(2))
    );
    let seen = mock.seen();
    assert_eq!(seen.len(), 3);
    for attempt in &seen {
        assert_eq!(attempt.method, Method::PUT);
        assert_eq!(attempt.kind, "replay");
        assert_eq!(attempt.body, Ok(Bytes::from_static(b"payload")));
    }
    Ok(())
}

#[tokio::test]
async fn streaming_body_within_the_cap_is_replayed() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let mock = Mock::new(fails_until(1));
    let config = exact().initial_backoff(Duration::ZERO).max_replay_bytes(10);
    let service = RetryLayer::new(config, timer.shared()).layer(mock.clone());
    let (tx, body) = channel();
    tx.data("hello ");
    tx.data("you");
    drop(tx);
    let response = service.oneshot(Request::put("/").body(body)?).await?;
    assert_eq!(response.status(), 200);
    let bodies: Vec<_> = mock.seen().into_iter().map(|seen| seen.body).collect();
    assert_eq!(bodies, vec![Ok(Bytes::from_static(b"hello you")); 2]);
    Ok(())
}

#[tokio::test]
async fn body_over_the_replay_cap_is_not_retried() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let config = exact().initial_backoff(Duration::ZERO).max_replay_bytes(8);

    // A streaming body that outgrows the cap while it is sent.
    let mock = Mock::new(fails_until(1));
    let service = RetryLayer::new(config.clone(), timer.shared()).layer(mock.clone());
    let (tx, body) = channel();
    tx.data("hello ");
    tx.data("world");
    drop(tx);
    let response = service.oneshot(Request::put("/").body(body)?).await?;
    assert_eq!(
        (response.status(), count(&response)),
        (StatusCode::SERVICE_UNAVAILABLE, Some(0))
    );
    assert_eq!(mock.calls(), 1);
    assert_eq!(mock.seen()[0].body, Ok(Bytes::from_static(b"hello world")));

    // A body known to be too large is sent as it is, unwrapped.
    let mock = Mock::new(fails_until(1));
    let service = RetryLayer::new(config, timer.shared()).layer(mock.clone());
    let response = service
        .oneshot(with_body(Method::PUT, "far too large"))
        .await?;
    assert_eq!(response.status(), 503);
    assert_eq!(mock.calls(), 1);
    assert_eq!(mock.seen()[0].kind, "original");
    Ok(())
}

#[tokio::test]
async fn empty_body_is_sent_unwrapped_and_retried_empty() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let mock = Mock::new(fails_until(2));
    let config = exact().initial_backoff(Duration::ZERO);
    let service = RetryLayer::new(config, timer.shared()).layer(mock.clone());
    let response = service.oneshot(get()).await?;
    assert_eq!(response.status(), 200);
    let kinds: Vec<_> = mock.seen().iter().map(|seen| seen.kind).collect();
    assert_eq!(kinds, ["original", "empty", "empty"]);
    assert!(mock.seen().iter().all(|seen| seen.body == Ok(Bytes::new())));
    Ok(())
}

#[tokio::test]
async fn failed_response_body_is_drained_before_the_retry() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let mock = Mock::new(fails_until(1));
    let service = RetryLayer::new(exact(), timer.shared()).layer(mock.clone());
    let (response, _) = drive(&timer, service, get(), 100 * MS).await?;
    assert_eq!(response?.status(), 200);
    let seen = mock.seen();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[1].earlier_drained,
        "the 503's body was read before the retry"
    );
    Ok(())
}

#[test]
fn budget_allows_fractional_shares_of_successes() {
    let timer = ManualTimer::new();
    let now = timer.now();
    for (ratio, successes_per_retry) in [(0.005, 200), (0.125, 8), (0.3, 10)] {
        let budget = RetryBudget::new(Duration::from_secs(10), 0, ratio);
        // 0.3 allows 3 retries per 10 successes (tower's rounding would allow 1 per 3).
        let retries = if ratio == 0.3 { 3 } else { 1 };
        for _ in 1..successes_per_retry {
            budget.deposit(None, now);
        }
        assert_eq!(budget.remaining(None, now), retries - 1, "{ratio}");
        budget.deposit(None, now);
        assert_eq!(budget.remaining(None, now), retries, "{ratio}");
        for _ in 0..retries {
            assert!(budget.withdraw(None, now));
        }
        assert!(!budget.withdraw(None, now), "{ratio}: exhausted");
    }
}

#[test]
fn budget_recovers_as_its_window_passes() {
    let timer = ManualTimer::new();
    let budget = RetryBudget::new(Duration::from_secs(2), 1, 0.0);
    assert_eq!(budget.remaining(None, timer.now()), 2, "min_per_sec × ttl");
    assert!(budget.withdraw(None, timer.now()));
    timer.advance(Duration::from_secs(1));
    assert!(budget.withdraw(None, timer.now()));
    assert!(!budget.withdraw(None, timer.now()));
    // The first withdrawal expires after the ttl; the second a second later.
    timer.advance(Duration::from_secs(1));
    assert_eq!(budget.remaining(None, timer.now()), 1);
    timer.advance(Duration::from_secs(1));
    assert_eq!(budget.remaining(None, timer.now()), 2);
    // Deposits expire too.
    let budget = RetryBudget::new(Duration::from_secs(1), 0, 1.0);
    budget.deposit(None, timer.now());
    assert_eq!(budget.remaining(None, timer.now()), 1);
    timer.advance(Duration::from_secs(1));
    assert_eq!(budget.remaining(None, timer.now()), 0);
}

#[tokio::test]
async fn exhausted_budget_returns_the_last_response_until_it_recovers() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let mock = Mock::new(|_| status(503));
    let budget = RetryBudget::new(Duration::from_secs(1), 1, 0.0);
    let config = exact()
        .max_retries(1)
        .initial_backoff(Duration::ZERO)
        .budget(budget);
    let layer = RetryLayer::new(config, timer.shared());
    let send = || -> Result<_, http::Error> {
        let request = Request::get("http://a.test/").body(Full::<Bytes>::default())?;
        Ok(layer.layer(mock.clone()).oneshot(request))
    };
    assert_eq!(count(&send()?.await?), Some(1));
    assert_eq!(count(&send()?.await?), Some(0), "budget spent");
    assert_eq!(mock.calls(), 3);
    timer.advance(Duration::from_secs(1));
    assert_eq!(count(&send()?.await?), Some(1), "budget recovered");
    Ok(())
}

#[tokio::test]
async fn successes_refill_the_budget() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let mock = Mock::new(|n| status(if n < 2 { 200 } else { 503 }));
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.5);
    let config = exact()
        .max_retries(5)
        .initial_backoff(Duration::ZERO)
        .budget(budget.clone());
    let service = RetryLayer::new(config, timer.shared()).layer(mock.clone());
    for _ in 0..2 {
        service.clone().oneshot(get()).await?;
    }
    assert_eq!(budget.remaining(None, timer.now()), 1);
    let response = service.oneshot(get()).await?;
    assert_eq!(
        (response.status(), count(&response)),
        (StatusCode::SERVICE_UNAVAILABLE, Some(1))
    );
    Ok(())
}

#[tokio::test]
async fn budget_is_scoped_per_host_unless_global() -> Result<(), BoxError> {
    for (scope, b_retried) in [(BudgetScope::PerHost, true), (BudgetScope::Global, false)] {
        let timer = ManualTimer::new();
        let mock = Mock::new(|_| status(503));
        let budget = RetryBudget::new(Duration::from_secs(1), 1, 0.0).scope(scope);
        let config = exact()
            .max_retries(3)
            .initial_backoff(Duration::ZERO)
            .budget(budget);
        let layer = RetryLayer::new(config, timer.shared());
        let send = |uri: &str| -> Result<_, http::Error> {
            let request = Request::get(uri).body(Full::<Bytes>::default())?;
            Ok(layer.layer(mock.clone()).oneshot(request))
        };
        assert_eq!(count(&send("http://a.test/")?.await?), Some(1));
        let b = count(&send("http://b.test/")?.await?);
        assert_eq!(b, Some(u32::from(b_retried)), "{scope:?}");
    }
    Ok(())
}

#[test]
fn per_host_budget_keeps_a_bounded_number_of_hosts() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let budget = RetryBudget::new(Duration::from_secs(10), 1, 0.0).max_hosts(2);
    let hosts: Vec<http::uri::Authority> = ["a.test", "b.test", "c.test"]
        .map(str::parse)
        .into_iter()
        .collect::<Result<_, _>>()?;
    assert!(budget.withdraw(Some(&hosts[0]), timer.now()));
    timer.advance(MS);
    assert!(budget.withdraw(Some(&hosts[1]), timer.now()));
    timer.advance(MS);
    assert!(budget.withdraw(Some(&hosts[2]), timer.now()));
    assert_eq!(budget.hosts(), 2);
    // a.test, least recently used, was evicted and starts afresh.
    assert_eq!(budget.remaining(Some(&hosts[0]), timer.now()), 10);
    assert_eq!(budget.remaining(Some(&hosts[2]), timer.now()), 9);
    assert_eq!(budget.hosts(), 2);
    Ok(())
}

#[tokio::test]
async fn request_extension_overrides_the_layer_config() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let quick = exact().initial_backoff(Duration::ZERO);

    // Off in the layer, on for one request.
    let mock = Mock::new(fails_until(1));
    let service = RetryLayer::new(RetryConfig::disabled(), timer.shared()).layer(mock.clone());
    let mut request = get();
    request
        .extensions_mut()
        .insert(quick.clone().max_retries(1));
    let response = service.clone().oneshot(request).await?;
    assert_eq!(
        (response.status(), count(&response)),
        (StatusCode::OK, Some(1))
    );
    let response = service.oneshot(get()).await?;
    assert_eq!(
        (response.status(), count(&response)),
        (StatusCode::OK, None)
    );

    // On in the layer, off for one request: passed through untouched.
    let mock = Mock::new(|_| status(503));
    let service = RetryLayer::new(quick, timer.shared()).layer(mock.clone());
    let mut request = with_body(Method::PUT, "data");
    request.extensions_mut().insert(RetryConfig::disabled());
    let response = service.oneshot(request).await?;
    assert_eq!(
        (response.status(), count(&response)),
        (StatusCode::SERVICE_UNAVAILABLE, None)
    );
    assert_eq!(mock.calls(), 1);
    assert_eq!(mock.seen()[0].kind, "original");
    Ok(())
}

#[tokio::test]
async fn classifier_hook_overrides_the_rules() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let mock = Mock::new(|n| match n {
        0 => status(404),
        1 => status(409),
        2 => status_with(503, "x-final", "yes"),
        _ => status(200),
    });
    let config = exact().classify({
        let attempts = Arc::clone(&attempts);
        move |attempt| {
            let AttemptOutcome::Response { status, headers } = attempt.outcome else {
                return RetryDecision::Default;
            };
            lock(&attempts).push((attempt.method.clone(), attempt.attempt, status));
            match status.as_u16() {
                404 => RetryDecision::Retry,
                409 => RetryDecision::RetryAfter(Duration::from_secs(2)),
                _ if headers.contains_key("x-final") => RetryDecision::DoNotRetry,
                _ => RetryDecision::Default,
            }
        }
    });
    let service = RetryLayer::new(config, timer.shared()).layer(mock.clone());
    // POST, which the rules alone would never retry on 404 or 409.
    let (response, took) = drive(&timer, service, with_body(Method::POST, "x"), MS).await?;
    let response = response?;
    assert_eq!(
        (response.status(), count(&response)),
        (StatusCode::SERVICE_UNAVAILABLE, Some(2))
    );
    assert_eq!(took, 100 * MS + Duration::from_secs(2));
    let statuses = [
        StatusCode::NOT_FOUND,
        StatusCode::CONFLICT,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
    let expected: Vec<_> = (0..3)
        .map(|n| (Method::POST, n, statuses[n as usize]))
        .collect();
    assert_eq!(*lock(&attempts), expected);
    Ok(())
}

#[tokio::test]
async fn status_set_can_be_chosen_or_turned_off() -> Result<(), BoxError> {
    for (statuses, calls) in [
        (RetryStatuses::none(), 1),
        (RetryStatuses::list([StatusCode::BAD_GATEWAY]), 1),
        (RetryStatuses::list([StatusCode::SERVICE_UNAVAILABLE]), 2),
        (RetryStatuses::predicate(|status| status.as_u16() == 503), 2),
        (RetryStatuses::default(), 2),
    ] {
        let timer = ManualTimer::new();
        let mock = Mock::new(fails_until(1));
        let config = exact()
            .initial_backoff(Duration::ZERO)
            .retry_on_status(statuses.clone());
        let service = RetryLayer::new(config, timer.shared()).layer(mock.clone());
        service.oneshot(get()).await?;
        assert_eq!(mock.calls(), calls, "{statuses:?}");
    }
    let default = RetryStatuses::default();
    assert!(default.contains(StatusCode::TOO_MANY_REQUESTS));
    assert!(default.contains(StatusCode::from_u16(599)?));
    assert!(!default.contains(StatusCode::NOT_FOUND));
    Ok(())
}

#[tokio::test]
async fn errors_pass_through_when_not_retried() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let mock = Mock::new(|_| Err(refused()));
    let config = exact().max_retries(2).initial_backoff(Duration::ZERO);
    let service = RetryLayer::new(config, timer.shared()).layer(mock.clone());
    let err = service
        .oneshot(get())
        .await
        .err()
        .ok_or("the last error surfaces")?;
    assert!(crate::error::find_cause::<io::Error>(&*err).is_some());
    assert_eq!(mock.calls(), 3);
    Ok(())
}

type StallFuture = Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, BoxError>> + Send>>;

/// A service whose first `stalls` calls never answer and whose later ones answer `200`.
fn stalls_first(
    stalls: usize,
    calls: Arc<std::sync::atomic::AtomicUsize>,
) -> impl Service<
    Request<ResendBody<Full<Bytes>>>,
    Response = Response<Full<Bytes>>,
    Error = BoxError,
    Future = StallFuture,
> + Clone {
    tower::service_fn(move |_request: Request<ResendBody<Full<Bytes>>>| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if n < stalls {
                std::future::pending::<()>().await;
            }
            Ok::<_, BoxError>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }) as StallFuture
    })
}

#[tokio::test]
async fn an_attempt_past_its_timeout_is_dropped_and_retried() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let config = exact().attempt_timeout(150 * MS);
    let service = RetryLayer::new(config, timer.shared()).layer(stalls_first(1, calls.clone()));
    let mut call = tokio::spawn(service.oneshot(Request::new(Full::new(Bytes::new()))));
    timer.wait_for_sleeps(1).await;
    timer.advance(150 * MS - Duration::from_nanos(1));
    tokio::task::yield_now().await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "not ended before its timeout"
    );
    timer.advance(Duration::from_nanos(1));
    // The backoff before the retry.
    timer.wait_for_sleeps(1).await;
    timer.advance(100 * MS);
    let response = (&mut call).await??;
    assert_eq!(
        response.extensions().get::<RetryCount>(),
        Some(&RetryCount(1))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    Ok(())
}

#[tokio::test]
async fn an_attempt_timeout_without_retries_ends_the_one_attempt() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let service = RetryLayer::new(RetryConfig::disabled(), timer.shared())
        .layer(stalls_first(1, calls.clone()));
    let mut request = Request::new(Full::new(Bytes::new()));
    request.extensions_mut().insert(AttemptTimeout(50 * MS));
    let mut call = tokio::spawn(service.oneshot(request));
    timer.wait_for_sleeps(1).await;
    timer.advance(50 * MS);
    let error = (&mut call).await?.expect_err("the attempt timed out");
    assert!(crate::error::is_timeout(&*error), "{error}");
    assert_eq!(
        error
            .downcast_ref::<AttemptElapsed>()
            .map(AttemptElapsed::duration),
        Some(50 * MS)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    Ok(())
}
