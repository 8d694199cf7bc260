use std::{
    convert::Infallible,
    pin::{Pin, pin},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::Poll,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use hyper::rt::{Sleep, Timer};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_layer::Layer;

use super::*;
use crate::{
    BoxError,
    error::find_cause,
    test_util::{ChannelBody, Probe, Sender, TestBodyError, channel},
    time::{ManualTimer, SharedTimer},
};

const SECOND: Duration = Duration::from_secs(1);

/// A [`ManualTimer`] that counts the sleeps it creates, to check what the layer allocates.
struct CountingTimer {
    clock: ManualTimer,
    created: AtomicUsize,
}

impl CountingTimer {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            clock: ManualTimer::new(),
            created: AtomicUsize::new(0),
        })
    }

    fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }
}

impl Timer for CountingTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.created.fetch_add(1, Ordering::SeqCst);
        self.clock.sleep(duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        self.created.fetch_add(1, Ordering::SeqCst);
        self.clock.sleep_until(deadline)
    }

    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        self.clock.reset(sleep, new_deadline);
    }
}

/// Sets its flag when dropped: shows that the inner future was cancelled.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn elapsed(err: &BoxError) -> Option<Elapsed> {
    find_cause::<Elapsed>(&**err).copied()
}

fn frame_error(polled: Poll<Option<Result<Frame<Bytes>, BoxError>>>) -> Option<Elapsed> {
    match polled {
        Poll::Ready(Some(Err(err))) => elapsed(&err),
        _ => None,
    }
}

fn frame_data(polled: Poll<Option<Result<Frame<Bytes>, BoxError>>>) -> Option<Bytes> {
    match polled {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().ok(),
        _ => None,
    }
}

/// A service that answers at once with a hand-fed streaming body.
fn streaming_service(
    timer: SharedTimer,
    configure: impl FnOnce(TimeoutLayer) -> TimeoutLayer,
) -> (
    Sender,
    impl tower::Service<Request<()>, Response = Response<TimeoutBody<ChannelBody>>, Error = BoxError>,
) {
    let (tx, rx) = channel();
    let mut body = Some(rx);
    let inner = service_fn(move |_request: Request<()>| {
        let response = body
            .take()
            .map(Response::new)
            .ok_or_else(|| BoxError::from("the test service answers once"));
        async move { response }
    });
    (tx, configure(TimeoutLayer::new(timer)).layer(inner))
}

/// Sends the request and returns the response, which must be ready at once.
fn respond<S>(service: S) -> Result<Response<TimeoutBody<ChannelBody>>, BoxError>
where
    S: tower::Service<Request<()>, Response = Response<TimeoutBody<ChannelBody>>, Error = BoxError>,
{
    let call = pin!(service.oneshot(Request::new(())));
    match Probe::new().poll(call) {
        Poll::Ready(response) => response,
        Poll::Pending => Err("the test service answers at once".into()),
    }
}

#[test]
fn headers_too_slow_elapse_the_total_timeout_and_cancel_the_request() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let cancelled = Arc::new(AtomicBool::new(false));
    let inner = service_fn({
        let cancelled = Arc::clone(&cancelled);
        move |_request: Request<()>| {
            let flag = DropFlag(Arc::clone(&cancelled));
            async move {
                let _flag = flag;
                std::future::pending::<Result<Response<Full<Bytes>>, Infallible>>().await
            }
        }
    });
    let service = TimeoutLayer::new(timer.shared())
        .total(Some(2 * SECOND))
        .layer(inner);

    let probe = Probe::new();
    let mut call = pin!(service.oneshot(Request::new(())));
    assert!(probe.poll(call.as_mut()).is_pending());
    assert_eq!(timer.pending_sleeps(), 1);

    timer.advance(2 * SECOND - Duration::from_millis(1));
    assert_eq!(probe.wakes(), 0);
    assert!(probe.poll(call.as_mut()).is_pending());

    timer.advance(Duration::from_millis(1));
    assert_eq!(probe.wakes(), 1);
    let Poll::Ready(Err(err)) = probe.poll(call.as_mut()) else {
        return Err("the request must time out".into());
    };
    assert_eq!(
        elapsed(&err),
        Some(Elapsed::new(TimeoutKind::Total, 2 * SECOND))
    );
    assert_eq!(err.to_string(), "request timed out after 2s (total)");
    // The inner future is gone although the response future is still alive.
    assert!(cancelled.load(Ordering::SeqCst));
    assert_eq!(timer.pending_sleeps(), 0);

    // Polling again repeats the error rather than panicking or hanging.
    let Poll::Ready(Err(again)) = probe.poll(call.as_mut()) else {
        return Err("a finished timeout stays an error".into());
    };
    assert_eq!(elapsed(&again).map(|e| e.kind()), Some(TimeoutKind::Total));
    Ok(())
}

#[test]
fn a_silent_server_elapses_the_read_timeout_before_the_head_and_cancels_the_request()
-> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let cancelled = Arc::new(AtomicBool::new(false));
    let inner = service_fn({
        let cancelled = Arc::clone(&cancelled);
        move |_request: Request<()>| {
            let flag = DropFlag(Arc::clone(&cancelled));
            async move {
                let _flag = flag;
                std::future::pending::<Result<Response<Full<Bytes>>, Infallible>>().await
            }
        }
    });
    let read = Duration::from_millis(300);
    let service = TimeoutLayer::new(timer.shared())
        .read(Some(read))
        .layer(inner);

    let probe = Probe::new();
    let mut call = pin!(service.oneshot(Request::new(())));
    assert!(probe.poll(call.as_mut()).is_pending());
    assert_eq!(timer.pending_sleeps(), 1);

    timer.advance(read - Duration::from_millis(1));
    assert!(probe.poll(call.as_mut()).is_pending());
    timer.advance(Duration::from_millis(1));
    let Poll::Ready(Err(err)) = probe.poll(call.as_mut()) else {
        return Err("the request must time out".into());
    };
    assert_eq!(elapsed(&err), Some(Elapsed::new(TimeoutKind::Read, read)));
    assert!(cancelled.load(Ordering::SeqCst));
    assert_eq!(timer.pending_sleeps(), 0);
    let Poll::Ready(Err(again)) = probe.poll(call.as_mut()) else {
        return Err("a finished timeout stays an error".into());
    };
    assert_eq!(elapsed(&again).map(|e| e.kind()), Some(TimeoutKind::Read));
    Ok(())
}

#[test]
fn the_head_restarts_the_read_gap_for_the_body() -> Result<(), BoxError> {
    let timer = CountingTimer::new();
    let (head_tx, head_rx) = futures_channel::oneshot::channel::<()>();
    let (body_tx, body_rx) = channel();
    let mut parts = Some((head_rx, body_rx));
    let inner = service_fn(move |_request: Request<()>| {
        let parts = parts.take();
        async move {
            let (head, body) = parts.ok_or("the test service answers once")?;
            head.await.map_err(|_| "the head was never released")?;
            Ok::<_, BoxError>(Response::new(body))
        }
    });
    let read = Duration::from_millis(300);
    let service = TimeoutLayer::new(timer.clone())
        .read(Some(read))
        .layer(inner);

    let probe = Probe::new();
    let mut call = pin!(service.oneshot(Request::new(())));
    assert!(probe.poll(call.as_mut()).is_pending());
    // The head arrives just inside the gap; the body then has a whole gap of its own.
    timer.clock.advance(read - Duration::from_millis(1));
    head_tx.send(()).map_err(|()| "the call is gone")?;
    let Poll::Ready(Ok(response)) = probe.poll(call.as_mut()) else {
        return Err("the head must arrive".into());
    };
    let mut body = response.into_body();
    assert!(probe.poll_frame(&mut body).is_pending());
    timer.clock.advance(read - Duration::from_millis(1));
    body_tx.data("late but in time");
    assert_eq!(
        frame_data(probe.poll_frame(&mut body)),
        Some(Bytes::from_static(b"late but in time"))
    );
    // One sleep served the head and the body.
    assert_eq!(timer.created(), 1);
    Ok(())
}

#[test]
fn slow_body_elapses_the_total_timeout() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let (tx, service) = streaming_service(timer.shared(), |layer| layer.total(Some(SECOND)));
    let mut body = respond(service)?.into_body();

    let probe = Probe::new();
    tx.data("first");
    assert_eq!(
        frame_data(probe.poll_frame(&mut body)),
        Some("first".into())
    );
    assert!(probe.poll_frame(&mut body).is_pending());

    timer.advance(SECOND);
    assert_eq!(probe.wakes(), 1);
    assert_eq!(
        frame_error(probe.poll_frame(&mut body)),
        Some(Elapsed::new(TimeoutKind::Total, SECOND))
    );
    assert!(matches!(probe.poll_frame(&mut body), Poll::Ready(None)));
    assert!(body.is_end_stream());
    assert_eq!(timer.pending_sleeps(), 0);
    Ok(())
}

#[tokio::test]
async fn total_deadline_covers_headers_and_body_together() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let (tx, rx) = channel();
    let mut body = Some(rx);
    let inner = service_fn({
        let timer = timer.clone();
        move |_request: Request<()>| {
            let sleep = timer.sleep(Duration::from_millis(600));
            let body = body.take().ok_or("the test service answers once");
            async move {
                sleep.await;
                body.map(Response::new)
            }
        }
    });
    let service = TimeoutLayer::new(timer.shared())
        .total(Some(SECOND))
        .layer(inner);

    let call = tokio::spawn(service.oneshot(Request::new(())));
    timer.wait_for_sleeps(2).await;
    timer.advance(Duration::from_millis(600));
    let mut body = call.await??.into_body();
    tx.data("in time");
    assert_eq!(
        body.frame()
            .await
            .transpose()?
            .and_then(|f| f.into_data().ok()),
        Some("in time".into())
    );

    // 400ms of the deadline are left for the body, not a fresh second. (The real-time
    // guard only turns a hang into a failure; it measures nothing.)
    let next = tokio::spawn(async move { body.frame().await });
    timer.wait_for_sleeps(1).await;
    timer.advance(Duration::from_millis(400));
    let err = tokio::time::timeout(Duration::from_secs(30), next)
        .await??
        .and_then(Result::err)
        .ok_or("the body must time out")?;
    assert_eq!(
        elapsed(&err),
        Some(Elapsed::new(TimeoutKind::Total, SECOND))
    );
    drop(tx);
    Ok(())
}

#[test]
fn read_gap_restarts_with_every_frame() -> Result<(), BoxError> {
    let timer = CountingTimer::new();
    let read = Duration::from_millis(100);
    let (tx, service) = streaming_service(timer.clone(), |layer| layer.read(Some(read)));
    let mut body = respond(service)?.into_body();
    let probe = Probe::new();

    // Frames arriving every 60% of the read timeout keep the body alive far beyond it.
    for _ in 0..5 {
        assert!(probe.poll_frame(&mut body).is_pending());
        let wakes = probe.wakes();
        timer.clock.advance(read * 6 / 10);
        assert_eq!(probe.wakes(), wakes, "the gap timer must not fire");
        tx.data("chunk");
        assert_eq!(
            frame_data(probe.poll_frame(&mut body)),
            Some("chunk".into())
        );
    }
    // The gap sleep was created once and re-armed with `reset` afterwards.
    assert_eq!(timer.created(), 1);

    // A gap longer than the read timeout ends the body.
    assert!(probe.poll_frame(&mut body).is_pending());
    let wakes = probe.wakes();
    timer.clock.advance(read);
    assert_eq!(probe.wakes(), wakes + 1);
    assert_eq!(
        frame_error(probe.poll_frame(&mut body)),
        Some(Elapsed::new(TimeoutKind::Read, read))
    );
    assert!(matches!(probe.poll_frame(&mut body), Poll::Ready(None)));
    Ok(())
}

#[test]
fn read_gap_does_not_count_time_between_reads() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let read = Duration::from_millis(100);
    let (tx, service) = streaming_service(timer.shared(), |layer| layer.read(Some(read)));
    let mut body = respond(service)?.into_body();
    let probe = Probe::new();

    tx.data("one");
    assert_eq!(frame_data(probe.poll_frame(&mut body)), Some("one".into()));
    // The caller is busy for ten read timeouts before reading again.
    timer.advance(read * 10);
    tx.data("two");
    assert_eq!(frame_data(probe.poll_frame(&mut body)), Some("two".into()));
    drop(tx);
    assert!(matches!(probe.poll_frame(&mut body), Poll::Ready(None)));
    Ok(())
}

#[test]
fn request_timeout_extension_overrides_total() -> Result<(), BoxError> {
    for layer_total in [Some(10 * SECOND), None] {
        let timer = ManualTimer::new();
        let inner = service_fn(|_request: Request<()>| {
            std::future::pending::<Result<Response<Full<Bytes>>, Infallible>>()
        });
        let service = TimeoutLayer::new(timer.shared())
            .total(layer_total)
            .layer(inner);
        let mut request = Request::new(());
        request
            .extensions_mut()
            .insert(RequestTimeout(Duration::from_millis(1500)));

        let probe = Probe::new();
        let mut call = pin!(service.oneshot(request));
        assert!(probe.poll(call.as_mut()).is_pending());
        timer.advance(Duration::from_millis(1499));
        assert!(probe.poll(call.as_mut()).is_pending());
        timer.advance(Duration::from_millis(1));
        let Poll::Ready(Err(err)) = probe.poll(call.as_mut()) else {
            return Err("the per-request timeout must fire".into());
        };
        assert_eq!(
            elapsed(&err),
            Some(Elapsed::new(
                TimeoutKind::Total,
                Duration::from_millis(1500)
            ))
        );
        assert_eq!(err.to_string(), "request timed out after 1.5s (total)");
    }
    Ok(())
}

#[test]
fn unset_timeouts_pass_everything_through_without_sleeping() -> Result<(), BoxError> {
    let timer = CountingTimer::new();
    let (tx, service) = streaming_service(timer.clone(), |layer| layer);
    let mut body = respond(service)?.into_body();
    let probe = Probe::new();

    assert!(probe.poll_frame(&mut body).is_pending());
    timer.clock.advance(Duration::from_secs(86_400));
    tx.data("late");
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc"));
    tx.trailers(trailers.clone());
    tx.error("reset by peer");

    assert_eq!(frame_data(probe.poll_frame(&mut body)), Some("late".into()));
    match probe.poll_frame(&mut body) {
        Poll::Ready(Some(Ok(frame))) => assert_eq!(frame.trailers_ref(), Some(&trailers)),
        _ => return Err("trailers pass through".into()),
    }
    match probe.poll_frame(&mut body) {
        Poll::Ready(Some(Err(err))) => assert_eq!(
            find_cause::<TestBodyError>(&*err),
            Some(&TestBodyError("reset by peer"))
        ),
        _ => return Err("body errors pass through".into()),
    }
    assert_eq!(timer.created(), 0, "no timeout set, no sleep allocated");
    Ok(())
}

#[tokio::test]
async fn inner_errors_pass_through() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let service = ServiceBuilder::new()
        .layer(TimeoutLayer::new(timer.shared()).total(Some(SECOND)))
        .service_fn(|_request: Request<()>| async {
            Err::<Response<Full<Bytes>>, _>(TestBodyError("connection refused"))
        });
    let err = service
        .oneshot(Request::new(()))
        .await
        .err()
        .ok_or("the inner error must surface")?;
    assert_eq!(
        find_cause::<TestBodyError>(&*err),
        Some(&TestBodyError("connection refused"))
    );
    assert_eq!(elapsed(&err), None);
    Ok(())
}

#[tokio::test]
async fn fast_exchange_completes_within_both_timeouts() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let service = ServiceBuilder::new()
        .layer(
            TimeoutLayer::new(timer.shared())
                .total(Some(SECOND))
                .read(Some(SECOND)),
        )
        .service_fn(|_request: Request<()>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
        });
    let response = service.oneshot(Request::new(())).await?;
    let mut body = response.into_body();
    assert_eq!(body.size_hint().exact(), Some(5));
    assert_eq!(
        timer.pending_sleeps(),
        1,
        "the total deadline runs on in the body"
    );

    let frame = body.frame().await.transpose()?;
    assert_eq!(frame.and_then(|f| f.into_data().ok()), Some("hello".into()));
    // The body is complete: the deadline passing now does not turn it into an error.
    timer.advance(2 * SECOND);
    assert!(body.frame().await.is_none());
    assert!(body.is_end_stream());
    assert_eq!(
        timer.pending_sleeps(),
        0,
        "a finished body releases its sleeps"
    );
    Ok(())
}

#[tokio::test]
async fn total_timeout_puts_its_deadline_in_the_request() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    timer.advance(Duration::from_secs(7));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let service = |total: Option<Duration>| {
        let seen = Arc::clone(&seen);
        TimeoutLayer::new(timer.shared())
            .total(total)
            .layer(service_fn(move |request: Request<()>| {
                let deadline = request.extensions().get::<crate::Deadline>().copied();
                seen.lock().map(|mut seen| seen.push(deadline)).ok();
                async { Ok::<_, Infallible>(Response::new(Full::<Bytes>::default())) }
            }))
    };
    service(Some(10 * SECOND)).oneshot(Request::new(())).await?;
    service(None).oneshot(Request::new(())).await?;
    let mut per_request = Request::new(());
    per_request
        .extensions_mut()
        .insert(RequestTimeout(3 * SECOND));
    service(None).oneshot(per_request).await?;

    let now = timer.now();
    let seen = seen.lock().map_err(|_| "poisoned")?.clone();
    assert_eq!(
        seen,
        vec![
            Some(crate::Deadline(now + 10 * SECOND)),
            None,
            Some(crate::Deadline(now + 3 * SECOND)),
        ]
    );
    Ok(())
}
