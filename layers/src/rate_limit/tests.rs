use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use http::{Request, Response};
use tower::{Service, ServiceBuilder, service_fn};
use tower_layer::Layer;

use super::*;
use crate::{BoxError, ServiceBuilderExt, sync::lock, test_util::poll_once, time::ManualTimer};

const SECOND: Duration = Duration::from_secs(1);

type Log = Arc<Mutex<Vec<String>>>;
type Call = Pin<Box<dyn Future<Output = Result<Response<()>, BoxError>> + Send>>;

/// A service that records, in order, the URI of every request it is called with.
fn recorder(
    log: &Log,
) -> impl Service<Request<()>, Response = Response<()>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    let log = Arc::clone(log);
    service_fn(move |request: Request<()>| {
        lock(&log).push(request.uri().to_string());
        async { Ok::<_, Infallible>(Response::new(())) }
    })
}

fn request(uri: &str) -> Request<()> {
    Request::builder().uri(uri).body(()).unwrap_or_default()
}

/// Calls `service` (always ready: the recorder never pushes back) without awaiting.
fn call<S>(service: &mut S, uri: &str) -> Call
where
    S: Service<Request<()>, Response = Response<()>, Error = BoxError>,
    S::Future: Send + 'static,
{
    assert!(
        poll_once(Pin::new(&mut std::future::poll_fn(
            |cx| service.poll_ready(cx)
        )))
        .is_ready()
    );
    Box::pin(service.call(request(uri)))
}

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn logged(log: &Log) -> Vec<String> {
    lock(log).clone()
}

#[test]
fn zero_rate_zero_period_and_absurd_rates_are_errors() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    assert_eq!(
        RateLimiter::new(0, SECOND, timer.shared()).err(),
        Some(RateLimitConfigError::ZeroRate)
    );
    assert_eq!(
        RateLimiter::new(10, Duration::ZERO, timer.shared()).err(),
        Some(RateLimitConfigError::ZeroPeriod)
    );
    assert_eq!(
        RateLimiter::new(u64::MAX, SECOND, timer.shared()).err(),
        Some(RateLimitConfigError::RateTooHigh)
    );
    assert_eq!(
        RateLimitConfigError::ZeroPeriod.to_string(),
        "rate limit period must be longer than zero"
    );
    assert!(RateLimiter::new(1_000_000_000, SECOND, timer.shared()).is_ok());
    Ok(())
}

#[test]
fn burst_passes_at_once_then_the_next_waits_one_interval() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let log = log();
    // Two per second: a burst of two, then one every 500 ms.
    let mut service =
        RateLimitLayer::new(RateLimiter::new(2, SECOND, timer.shared())?).layer(recorder(&log));

    for path in ["/1", "/2"] {
        let mut response = call(&mut service, path);
        assert!(poll_once(response.as_mut()).is_ready());
    }
    assert_eq!(timer.pending_sleeps(), 0, "the burst never sleeps");

    let mut third = call(&mut service, "/3");
    assert!(poll_once(third.as_mut()).is_pending());
    assert_eq!(
        logged(&log),
        ["/1", "/2"],
        "a waiting request is not sent yet"
    );
    timer.advance(Duration::from_millis(499));
    assert!(poll_once(third.as_mut()).is_pending());
    timer.advance(Duration::from_millis(1));
    assert!(poll_once(third.as_mut()).is_ready());
    assert_eq!(logged(&log), ["/1", "/2", "/3"]);
    Ok(())
}

#[test]
fn waiters_are_released_first_come_first_served() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let log = log();
    let mut service =
        RateLimitLayer::new(RateLimiter::new(1, SECOND, timer.shared())?).layer(recorder(&log));

    let mut first = call(&mut service, "/0");
    assert!(poll_once(first.as_mut()).is_ready());
    let mut waiters: Vec<Call> = (1..=5)
        .map(|i| call(&mut service, &format!("/{i}")))
        .collect();
    assert_eq!(
        timer.pending_sleeps(),
        5,
        "each waiter sleeps once, until its own slot"
    );

    let mut late = Vec::new();
    for second in 1..=5 {
        timer.advance(SECOND);
        // A newcomer arriving just as a slot frees, polled before the waiters, still queues
        // behind them.
        let mut newcomer = call(&mut service, &format!("/late{second}"));
        assert!(poll_once(newcomer.as_mut()).is_pending());
        late.push(newcomer);
        // Poll the waiters last to first: only the oldest is released.
        let mut released = 0;
        for waiter in waiters.iter_mut().rev() {
            if poll_once(waiter.as_mut()).is_ready() {
                released += 1;
            }
        }
        assert_eq!(released, 1, "one slot per second");
        drop(waiters.remove(0));
    }
    let expected: Vec<String> = (0..=5).map(|i| format!("/{i}")).collect();
    assert_eq!(logged(&log), expected);

    for second in 1..=5 {
        timer.advance(SECOND);
        assert!(poll_once(late[0].as_mut()).is_ready());
        drop(late.remove(0));
        assert_eq!(logged(&log).last(), Some(&format!("/late{second}")));
    }
    Ok(())
}

#[test]
fn clones_of_the_layer_and_services_over_one_limiter_share_the_limit() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let log = log();
    let shared = RateLimiter::new(1, SECOND, timer.shared())?;
    let layer = RateLimitLayer::new(shared.clone());
    let mut a = layer.clone().layer(recorder(&log));
    let mut b = layer.layer(recorder(&log));
    let mut c = ServiceBuilder::new()
        .request_rate_limit(shared.clone())
        .service(recorder(&log));

    let mut from_a = call(&mut a, "/a");
    assert!(poll_once(from_a.as_mut()).is_ready());
    let mut from_b = call(&mut b, "/b");
    let mut from_c = call(&mut c, "/c");
    assert!(poll_once(from_b.as_mut()).is_pending());
    assert!(poll_once(from_c.as_mut()).is_pending());
    assert!(
        !shared.try_acquire(),
        "the standalone limiter sees the same bucket"
    );
    assert_eq!(
        shared.wait_duration(),
        3 * SECOND,
        "after the two queued requests"
    );

    timer.advance(SECOND);
    assert!(poll_once(from_c.as_mut()).is_pending());
    assert!(poll_once(from_b.as_mut()).is_ready());
    timer.advance(SECOND);
    assert!(poll_once(from_c.as_mut()).is_ready());
    assert_eq!(logged(&log), ["/a", "/b", "/c"]);
    Ok(())
}

#[test]
fn per_host_buckets_are_independent() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let log = log();
    let layer = RateLimitLayer::new(RateLimiter::new(1, SECOND, timer.shared())?.per_host(true));
    let mut service = layer.layer(recorder(&log));

    for uri in ["http://a.test/", "http://b.test/", "/no-authority"] {
        let mut response = call(&mut service, uri);
        assert!(
            poll_once(response.as_mut()).is_ready(),
            "{uri} has a fresh bucket"
        );
    }
    // Authorities compare without regard to case.
    let mut again = call(&mut service, "http://A.TEST/again");
    assert!(poll_once(again.as_mut()).is_pending());
    timer.advance(SECOND);
    assert!(poll_once(again.as_mut()).is_ready());

    // Without per-host buckets, every host draws from one.
    let mut global =
        RateLimitLayer::new(RateLimiter::new(1, SECOND, timer.shared())?).layer(recorder(&log));
    let mut a = call(&mut global, "http://a.test/");
    let mut b = call(&mut global, "http://b.test/");
    assert!(poll_once(a.as_mut()).is_ready());
    assert!(poll_once(b.as_mut()).is_pending());
    Ok(())
}

#[test]
fn per_host_buckets_are_bounded() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let limiter = RateLimiter::new(1, SECOND, timer.shared())?.per_host(true);
    for i in 0..MAX_HOSTS + 10 {
        let host = http::uri::Authority::try_from(format!("h{i}.test")).ok();
        if let Some((_, reservation)) = limiter.reserve(host.as_ref()) {
            reservation.consume();
        }
    }
    assert_eq!(limiter.tracked_hosts(), MAX_HOSTS);

    // Once their slots have passed, idle buckets make room for new hosts.
    timer.advance(SECOND);
    let host = http::uri::Authority::from_static("fresh.test");
    assert!(limiter.reserve(Some(&host)).is_none(), "a fresh bucket");
    assert_eq!(limiter.tracked_hosts(), 1);
    Ok(())
}

#[test]
fn cancelled_waiters_do_not_starve_others() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let log = log();
    let mut service =
        RateLimitLayer::new(RateLimiter::new(1, SECOND, timer.shared())?).layer(recorder(&log));

    let mut first = call(&mut service, "/first");
    assert!(poll_once(first.as_mut()).is_ready());

    // A hundred waiters give up, the oldest first: once the last of them is gone, all their
    // slots are given back.
    let cancelled: Vec<Call> = (0..100)
        .map(|i| call(&mut service, &format!("/gone{i}")))
        .collect();
    drop(cancelled);
    let mut next = call(&mut service, "/next");
    timer.advance(SECOND);
    assert!(
        poll_once(next.as_mut()).is_ready(),
        "released after one interval, not 101"
    );

    // A cancelled slot in the middle of the queue expires unused; the one behind it keeps
    // its own time.
    let middle = call(&mut service, "/middle");
    let mut behind = call(&mut service, "/behind");
    drop(middle);
    timer.advance(SECOND);
    assert!(poll_once(behind.as_mut()).is_pending());
    timer.advance(SECOND);
    assert!(poll_once(behind.as_mut()).is_ready());
    assert_eq!(logged(&log), ["/first", "/next", "/behind"]);

    // Dropped after its slot came, a request gives nothing back.
    let mut late = call(&mut service, "/late");
    timer.advance(SECOND);
    drop(late);
    late = call(&mut service, "/after");
    assert!(poll_once(late.as_mut()).is_pending());
    Ok(())
}

#[test]
fn standalone_acquire_and_wait() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let limiter = RateLimiter::new(1, SECOND, timer.shared())?.burst(3);
    assert_eq!(limiter.wait_duration(), Duration::ZERO);
    assert!((0..3).all(|_| limiter.try_acquire()));
    assert!(!limiter.try_acquire(), "a refused attempt takes nothing");
    assert_eq!(limiter.wait_duration(), SECOND);
    timer.advance(Duration::from_millis(600));
    assert_eq!(limiter.wait_duration(), Duration::from_millis(400));
    timer.advance(Duration::from_millis(400));
    assert!(limiter.try_acquire());
    assert!(!limiter.try_acquire());

    // Zero burst means one at a time.
    let single = RateLimiter::new(1, SECOND, timer.shared())?.burst(0);
    assert!(single.try_acquire());
    assert!(!single.try_acquire());
    Ok(())
}

#[test]
fn two_limiters_on_two_timers_each_follow_their_own_clock() -> Result<(), BoxError> {
    let (first_timer, second_timer) = (ManualTimer::new(), ManualTimer::new());
    let first = RateLimiter::new(1, SECOND, first_timer.shared())?;
    let second = RateLimiter::new(1, SECOND, second_timer.shared())?;
    // Layers built over both change neither clock.
    let log = log();
    let mut first_service = RateLimitLayer::new(first.clone()).layer(recorder(&log));
    let mut second_service = RateLimitLayer::new(second.clone()).layer(recorder(&log));
    assert!(first.try_acquire() && second.try_acquire());

    first_timer.advance(SECOND);
    assert!(first.try_acquire(), "the first clock moved");
    assert!(!second.try_acquire(), "the second clock did not");
    assert_eq!(second.wait_duration(), SECOND);

    // Each layer sleeps on its own limiter's timer.
    let mut from_first = call(&mut first_service, "/first");
    let mut from_second = call(&mut second_service, "/second");
    assert_eq!(
        (first_timer.pending_sleeps(), second_timer.pending_sleeps()),
        (1, 1)
    );
    second_timer.advance(SECOND);
    assert!(poll_once(from_second.as_mut()).is_ready());
    assert!(poll_once(from_first.as_mut()).is_pending());
    first_timer.advance(SECOND);
    assert!(poll_once(from_first.as_mut()).is_ready());
    assert_eq!(logged(&log), ["/second", "/first"]);
    Ok(())
}

#[test]
fn huge_periods_and_bursts_saturate_instead_of_overflowing() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let limiter = RateLimiter::new(1, Duration::MAX, timer.shared())?.burst(u64::MAX);
    assert!((0..1000).all(|_| limiter.try_acquire()));
    timer.advance(Duration::MAX);

    let slow = RateLimiter::new(1, Duration::MAX, timer.shared())?;
    assert!(slow.try_acquire());
    assert!(!slow.try_acquire());
    assert!(slow.wait_duration() > Duration::from_secs(u64::MAX / 2));
    for _ in 0..3 {
        let wait = slow.reserve(None).map(|(wait, _reservation)| wait);
        assert!(wait > Some(Duration::from_secs(u64::MAX / 2)));
    }
    Ok(())
}

#[tokio::test]
async fn inner_errors_pass_through() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let mut service = RateLimitLayer::new(RateLimiter::new(1, SECOND, timer.shared())?).layer(
        service_fn(|_request: Request<()>| async {
            Err::<Response<()>, _>(std::io::Error::other("refused"))
        }),
    );
    let err = call(&mut service, "/").await.err();
    assert_eq!(err.map(|err| err.to_string()).as_deref(), Some("refused"));
    Ok(())
}

#[tokio::test]
async fn a_waiting_request_holds_no_concurrency_permit_below() -> Result<(), BoxError> {
    use tower::{ServiceExt, limit::ConcurrencyLimitLayer};

    let timer = ManualTimer::new();
    let log = log();
    let limiter = RateLimiter::new(1, SECOND, timer.shared())?.per_host(true);
    let service = ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter))
        .layer(ConcurrencyLimitLayer::new(1))
        .service(recorder(&log));

    service.clone().oneshot(request("http://a.test/1")).await?;
    // a.test's next slot is a second away: this request waits for it.
    let mut waiting = Box::pin(service.clone().oneshot(request("http://a.test/2")));
    assert!(poll_once(waiting.as_mut()).is_pending());
    // b.test's slot is free, and the only permit is not held by the waiting request.
    let mut other = Box::pin(service.clone().oneshot(request("http://b.test/3")));
    assert!(poll_once(other.as_mut()).is_ready());

    timer.advance(SECOND);
    assert!(poll_once(waiting.as_mut()).is_ready());
    assert_eq!(
        logged(&log),
        ["http://a.test/1", "http://b.test/3", "http://a.test/2"]
    );
    Ok(())
}

#[tokio::test]
async fn a_request_whose_slot_came_waits_for_the_inner_service_to_be_ready() -> Result<(), BoxError>
{
    use tower::{ServiceExt, limit::ConcurrencyLimitLayer};

    let timer = ManualTimer::new();
    let log = log();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let released = Arc::new(Mutex::new(Some(released)));
    let inner = {
        let log = Arc::clone(&log);
        service_fn(move |request: Request<()>| {
            lock(&log).push(request.uri().to_string());
            // The first request stays in flight until told to finish.
            let hold = lock(&released).take();
            async move {
                if let Some(hold) = hold {
                    let _ = hold.await;
                }
                Ok::<_, Infallible>(Response::new(()))
            }
        })
    };
    let service = ServiceBuilder::new()
        .layer(RateLimitLayer::new(RateLimiter::new(
            1,
            SECOND,
            timer.shared(),
        )?))
        .layer(ConcurrencyLimitLayer::new(1))
        .service(inner);

    let mut first = Box::pin(service.clone().oneshot(request("/first")));
    assert!(
        poll_once(first.as_mut()).is_pending(),
        "in flight, holding the permit"
    );
    let mut second = Box::pin(service.clone().oneshot(request("/second")));
    assert!(poll_once(second.as_mut()).is_pending());
    timer.advance(SECOND);
    assert!(
        poll_once(second.as_mut()).is_pending(),
        "its slot came, the permit did not"
    );
    assert_eq!(logged(&log), ["/first"]);

    let _ = release.send(());
    assert!(poll_once(first.as_mut()).is_ready());
    assert!(poll_once(second.as_mut()).is_ready());
    assert_eq!(logged(&log), ["/first", "/second"]);
    Ok(())
}
