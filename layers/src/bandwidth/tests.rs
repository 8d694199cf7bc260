use std::{task::Poll, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower::{Service, ServiceExt, service_fn};
use tower_layer::Layer;

use super::*;
use crate::{
    BoxError,
    error::find_cause,
    test_util::{ChannelBody, Probe, TestBodyError, channel},
    time::ManualTimer,
};

const SECOND: Duration = Duration::from_secs(1);
const KIB: usize = 1024;

/// What one round of polling a body gave: the sizes of its data frames, then whether it ended.
#[derive(Debug, Default, PartialEq)]
struct Drained {
    sizes: Vec<usize>,
    ended: bool,
}

impl Drained {
    fn bytes(&self) -> usize {
        self.sizes.iter().sum()
    }
}

/// Polls `body` until it has nothing more to give now.
fn drain<B>(body: &mut B) -> Result<Drained, BoxError>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    let probe = Probe::new();
    let mut drained = Drained::default();
    loop {
        match probe.poll_frame(body) {
            Poll::Ready(Some(frame)) => {
                if let Ok(data) = frame?.into_data() {
                    drained.sizes.push(data.len());
                }
            }
            Poll::Ready(None) => {
                drained.ended = true;
                return Ok(drained);
            }
            Poll::Pending => return Ok(drained),
        }
    }
}

/// A response to any request: `body`, once, through a layer over `limiter`.
async fn respond<B>(limiter: &BandwidthLimiter, body: B) -> Result<BandwidthBody<B>, BoxError>
where
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut body = Some(body);
    let service =
        BandwidthLayer::new(limiter.clone()).layer(service_fn(move |_request: Request<()>| {
            let response = body.take().map(Response::new);
            async move { response.ok_or_else(|| BoxError::from("answers once")) }
        }));
    Ok(service.oneshot(Request::new(())).await?.into_body())
}

#[test]
fn zero_rate_is_an_error() {
    let timer = ManualTimer::new();
    assert_eq!(
        BandwidthLimiter::new(0, timer.shared()).err(),
        Some(BandwidthConfigError::ZeroRate)
    );
    assert_eq!(
        BandwidthConfigError::ZeroRate.to_string(),
        "bandwidth limit must allow at least one byte per second"
    );
}

#[test]
fn consume_and_wait_arithmetic() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let limiter = BandwidthLimiter::new(1000, timer.shared())?;
    assert_eq!(limiter.try_consume(10), 0, "the bucket starts empty");
    assert_eq!(limiter.wait_duration(500), Duration::from_millis(500));
    assert_eq!(limiter.wait_duration(0), Duration::ZERO);
    timer.advance(Duration::from_millis(500));
    assert_eq!(limiter.wait_duration(500), Duration::ZERO);
    assert_eq!(limiter.try_consume(600), 500, "takes what there is");
    assert_eq!(limiter.try_consume(1), 0);

    // The bucket holds one second's worth, however long it fills.
    timer.advance(10 * SECOND);
    assert_eq!(limiter.wait_duration(u64::MAX), Duration::ZERO);
    assert_eq!(limiter.try_consume(u64::MAX), 1000);
    assert_eq!(
        limiter.wait_duration(u64::MAX),
        SECOND,
        "answered for the burst"
    );

    // Fractions of a byte are kept, and waits round up to the next whole byte.
    let thirds = BandwidthLimiter::new(3, timer.shared())?;
    assert_eq!(thirds.try_consume(1), 0);
    timer.advance(Duration::from_nanos(333_333_333));
    assert_eq!(thirds.try_consume(1), 0);
    assert_eq!(thirds.wait_duration(1), Duration::from_nanos(1));
    timer.advance(Duration::from_nanos(1));
    assert_eq!(thirds.try_consume(1), 1);
    timer.advance(Duration::from_nanos(666_666_666));
    assert_eq!(
        thirds.try_consume(5),
        2,
        "no fraction was lost between readings"
    );
    Ok(())
}

#[test]
fn extreme_amounts_saturate() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let fastest = BandwidthLimiter::new(u64::MAX, timer.shared())?.burst(u64::MAX);
    assert_eq!(fastest.try_consume(u64::MAX), 0);
    assert_eq!(fastest.wait_duration(u64::MAX), SECOND);
    timer.advance(Duration::MAX);
    assert_eq!(fastest.try_consume(u64::MAX), u64::MAX);

    let slowest = BandwidthLimiter::new(1, timer.shared())?.burst(u64::MAX);
    assert_eq!(
        slowest.wait_duration(u64::MAX),
        Duration::from_secs(u64::MAX)
    );
    assert_eq!(slowest.try_consume(u64::MAX), 0);

    let single = BandwidthLimiter::new(5, timer.shared())?.burst(0);
    assert_eq!(single.burst_size(), 1);
    timer.advance(SECOND);
    assert_eq!(single.try_consume(u64::MAX), 1);
    Ok(())
}

#[test]
fn two_limiters_on_two_timers_each_follow_their_own_clock() -> Result<(), BoxError> {
    let (first_timer, second_timer) = (ManualTimer::new(), ManualTimer::new());
    let first = BandwidthLimiter::new(100, first_timer.shared())?;
    let second = BandwidthLimiter::new(100, second_timer.shared())?;
    // Layers built over both change neither clock.
    let _layers = (
        BandwidthLayer::new(second.clone()),
        BandwidthLayer::new(first.clone()),
    );
    first_timer.advance(SECOND);
    assert_eq!(first.try_consume(1000), 100, "the first clock moved");
    assert_eq!(second.try_consume(1000), 0, "the second clock did not");
    assert_eq!(second.wait_duration(1), Duration::from_millis(10));
    second_timer.advance(SECOND / 2);
    assert_eq!(second.try_consume(1000), 50);
    assert_eq!(first.try_consume(1000), 0);
    Ok(())
}

#[tokio::test]
async fn bodies_sleep_on_their_limiters_timer() -> Result<(), BoxError> {
    let (timer, other) = (ManualTimer::new(), ManualTimer::new());
    let limiter = BandwidthLimiter::new(10, timer.shared())?;
    let _unrelated = BandwidthLimiter::new(10, other.shared())?;
    let mut body = respond(&limiter, Full::new(Bytes::from_static(b"0123456789"))).await?;
    assert_eq!(drain(&mut body)?.bytes(), 0);
    assert_eq!((timer.pending_sleeps(), other.pending_sleeps()), (1, 0));
    timer.advance(SECOND);
    assert_eq!(drain(&mut body)?.bytes(), 10);
    Ok(())
}

#[tokio::test]
async fn one_mebibyte_at_64_kib_per_second_takes_16_seconds() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let limiter = BandwidthLimiter::new(64 * KIB as u64, timer.shared())?;
    let payload = Bytes::from(vec![0x5a; 1024 * KIB]);
    let mut body = respond(&limiter, Full::new(payload)).await?;

    let mut received = drain(&mut body)?;
    assert_eq!(received.bytes(), 0, "nothing before time moves");
    assert_eq!(timer.pending_sleeps(), 1);
    for second in 1..=16 {
        timer.advance(SECOND);
        let drained = drain(&mut body)?;
        // The one 1 MiB frame comes out split, a second's worth at a time.
        assert_eq!(drained.sizes, [64 * KIB], "at {second} s");
        received.sizes.extend(drained.sizes);
        assert_eq!(received.bytes(), second * 64 * KIB);
        assert_eq!(drained.ended, second == 16, "at {second} s");
        assert!(timer.pending_sleeps() <= 1, "one sleep, re-armed");
    }
    Ok(())
}

#[tokio::test]
async fn frames_larger_than_the_bucket_are_split() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let limiter = BandwidthLimiter::new(4, timer.shared())?;
    let (sender, inner) = channel();
    let mut body = respond(&limiter, inner).await?;
    sender.data("0123456789");
    sender.data("ab");
    drop(sender);

    timer.advance(10 * SECOND);
    let probe = Probe::new();
    let mut pieces = Vec::new();
    for _ in 0..4 {
        while let Poll::Ready(Some(frame)) = probe.poll_frame(&mut body) {
            if let Ok(data) = frame?.into_data() {
                pieces.push(data);
            }
        }
        timer.advance(SECOND);
    }
    assert_eq!(pieces, ["0123", "4567", "89", "ab"]);
    Ok(())
}

#[tokio::test]
async fn the_inner_body_waits_while_a_frame_is_held() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let limiter = BandwidthLimiter::new(4, timer.shared())?;
    let (sender, inner) = channel();
    let mut body = respond(&limiter, inner).await?;
    sender.data("0123456789");
    sender.data("next");
    timer.advance(SECOND);
    assert_eq!(drain(&mut body)?.sizes, [4]);
    assert_eq!(
        sender.queued(),
        1,
        "the next frame is not read while one is held"
    );
    assert_eq!(sender.polls(), 1);
    Ok(())
}

#[tokio::test]
async fn concurrent_bodies_share_the_rate() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let limiter = BandwidthLimiter::new(1000, timer.shared())?;
    let mut first = respond(&limiter, Full::new(Bytes::from(vec![1; 3000]))).await?;
    let mut second = respond(&limiter, Full::new(Bytes::from(vec![2; 3000]))).await?;

    let (mut a, mut b) = (0, 0);
    for elapsed in 1..=6 {
        timer.advance(SECOND);
        // Take turns at being polled first, as tasks woken together would.
        if elapsed % 2 == 0 {
            a += drain(&mut first)?.bytes();
            b += drain(&mut second)?.bytes();
        } else {
            b += drain(&mut second)?.bytes();
            a += drain(&mut first)?.bytes();
        }
        assert_eq!(a + b, elapsed * 1000, "together they get the rate, no more");
    }
    assert_eq!((a, b), (3000, 3000));
    assert!(drain(&mut first)?.ended && drain(&mut second)?.ended);
    Ok(())
}

#[tokio::test]
async fn trailers_empty_frames_and_errors_pass_through() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let limiter = BandwidthLimiter::new(1000, timer.shared())?;
    let (sender, inner) = channel();
    let mut body: BandwidthBody<ChannelBody> = respond(&limiter, inner).await?;
    let probe = Probe::new();

    sender.data("");
    let empty = match probe.poll_frame(&mut body) {
        Poll::Ready(Some(frame)) => frame?.into_data().ok(),
        _ => None,
    };
    assert_eq!(empty, Some(Bytes::new()), "an empty frame needs no tokens");

    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc"));
    sender.trailers(trailers.clone());
    let frame = match probe.poll_frame(&mut body) {
        Poll::Ready(Some(frame)) => frame?,
        other => return Err(format!("expected trailers, got {other:?}").into()),
    };
    assert_eq!(frame.into_trailers().ok(), Some(trailers));

    sender.error("reset");
    let err = match probe.poll_frame(&mut body) {
        Poll::Ready(Some(Err(err))) => err,
        other => return Err(format!("expected an error, got {other:?}").into()),
    };
    assert_eq!(
        find_cause::<TestBodyError>(&*err),
        Some(&TestBodyError("reset"))
    );
    Ok(())
}

#[tokio::test]
async fn service_errors_pass_through() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let mut service = BandwidthLayer::new(BandwidthLimiter::new(10, timer.shared())?).layer(
        service_fn(|_request: Request<()>| async {
            Err::<Response<Full<Bytes>>, _>(std::io::Error::other("refused"))
        }),
    );
    let err = service.ready().await?.call(Request::new(())).await.err();
    assert_eq!(err.map(|err| err.to_string()).as_deref(), Some("refused"));
    Ok(())
}

#[test]
fn size_hint_counts_the_held_frame() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let limiter = BandwidthLimiter::new(4, timer.shared())?;
    let mut body = BandwidthBody::new(Full::new(Bytes::from_static(b"0123456789")), limiter);
    assert_eq!(body.size_hint().exact(), Some(10));
    timer.advance(SECOND);
    let probe = Probe::new();
    assert!(matches!(
        probe.poll_frame(&mut body),
        Poll::Ready(Some(Ok(_)))
    ));
    assert_eq!(body.size_hint().exact(), Some(6));
    assert!(!body.is_end_stream());
    Ok(())
}
