use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use http::{Method, Request, Response, header::LOCATION};
use http_body::Body;
use http_body_util::{BodyExt, Empty};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_service::Service;

use super::ResendBody;
use crate::{
    BoxError,
    redirect::{Policy, RedirectLayer},
    retry::{Jitter, RetryConfig, RetryLayer},
    sync::lock,
    test_util::{ChannelBody, channel},
    time::ManualTimer,
};

/// What the server saw of one attempt: whether the layer right above it wrapped the body
/// in a replay of its own, and the body as read.
type Seen = Arc<Mutex<Vec<(bool, Result<Bytes, String>)>>>;

/// A server answering attempt `n` with `statuses[n]` (a 307 to `/b`), recording each body.
fn server<B>(
    statuses: &'static [u16],
    seen: Seen,
) -> impl Service<
    Request<ResendBody<B>>,
    Response = Response<Empty<Bytes>>,
    Error = BoxError,
    Future = impl Send,
> + Clone
where
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    service_fn(move |request: Request<ResendBody<B>>| {
        let seen = Arc::clone(&seen);
        async move {
            let wrapped = request.body().is_replay();
            let body = match request.into_body().collect().await {
                Ok(body) => Ok(body.to_bytes()),
                Err(err) => Err(err.to_string()),
            };
            let attempt = {
                let mut seen = lock(&seen);
                seen.push((wrapped, body));
                seen.len() - 1
            };
            let status = statuses.get(attempt).copied().unwrap_or(500);
            let mut response = Response::builder().status(status);
            if status == 307 {
                response = response.header(LOCATION, "/b");
            }
            Ok::<_, BoxError>(response.body(Empty::new())?)
        }
    })
}

/// A streaming body of 8 bytes in two frames, with no size hint.
fn streaming_body() -> ChannelBody {
    let (tx, body) = channel();
    tx.data("abcd");
    tx.data("efgh");
    body
}

fn put(body: ChannelBody) -> Result<Request<ChannelBody>, http::Error> {
    Request::builder()
        .method(Method::PUT)
        .uri("http://example.test/a")
        .body(body)
}

/// Retries once, at once, with a replay cap the 8-byte body exceeds.
fn retry(timer: &ManualTimer) -> RetryLayer {
    let config = RetryConfig::new()
        .max_retries(1)
        .initial_backoff(Duration::ZERO)
        .jitter(Jitter::None)
        .max_replay_bytes(4);
    RetryLayer::new(config, timer.shared())
}

#[tokio::test]
async fn retry_under_redirect_replays_the_redirects_recording() -> Result<(), BoxError> {
    let timer = ManualTimer::new();
    let seen = Seen::default();
    let service = ServiceBuilder::new()
        .layer(RedirectLayer::new(Policy::default()).max_replay_body_bytes(1024))
        .layer(retry(&timer))
        .service(server(&[503, 307, 503, 200], Arc::clone(&seen)));

    let response = service.oneshot(put(streaming_body())?).await?;

    assert_eq!(response.status(), 200);
    // Retry's cap of 4 bytes would have refused to replay the 8-byte body, before the
    // redirect and after it: every attempt replays the redirect layer's recording, under its
    // cap, and retry wraps none of them.
    let whole = (false, Ok(Bytes::from_static(b"abcdefgh")));
    assert_eq!(
        *lock(&seen),
        [whole.clone(), whole.clone(), whole.clone(), whole]
    );
    Ok(())
}

/// Each send's [`ResendCount`](crate::ResendCount), as the server saw it, with the path.
type Counts = Arc<Mutex<Vec<(String, u32)>>>;

#[tokio::test]
async fn resend_counts_add_up_across_a_retry_below_a_redirect() -> Result<(), BoxError> {
    use crate::ResendCount;

    let counts: Counts = Arc::default();
    let server = {
        let counts = counts.clone();
        service_fn(
            move |request: Request<ResendBody<ResendBody<Empty<Bytes>>>>| {
                let counts = counts.clone();
                async move {
                    let count = ResendCount::of(request.extensions());
                    let path = request.uri().path().to_owned();
                    let sends = {
                        let mut counts = lock(&counts);
                        counts.push((path.clone(), count));
                        counts.len()
                    };
                    // `/a` fails once, then redirects to `/b`, which redirects to `/c`.
                    let response = match (sends, path.as_str()) {
                        (1, _) => Response::builder().status(503),
                        (_, "/a") => Response::builder().status(302).header(LOCATION, "/b"),
                        (_, "/b") => Response::builder().status(302).header(LOCATION, "/c"),
                        _ => Response::builder().status(200),
                    };
                    Ok::<_, BoxError>(response.body(Empty::<Bytes>::new())?)
                }
            },
        )
    };
    let timer = ManualTimer::new();
    let retry = RetryConfig::new()
        .initial_backoff(Duration::ZERO)
        .jitter(Jitter::None);
    let service = ServiceBuilder::new()
        .layer(RedirectLayer::new(Policy::limited(5)))
        .layer(RetryLayer::new(retry, timer.shared()))
        .service(server);
    let mut request = Request::new(Empty::<Bytes>::new());
    *request.uri_mut() = "http://example.com/a".parse()?;
    *request.method_mut() = Method::GET;
    let response = service.oneshot(request).await?;

    let seen = lock(&counts).clone();
    let expected: Vec<(String, u32)> = [("/a", 0), ("/a", 1), ("/b", 2), ("/c", 3)]
        .into_iter()
        .map(|(path, count)| (path.to_owned(), count))
        .collect();
    assert_eq!(seen, expected);
    // The response says which send answered, for a re-sending layer further up.
    assert_eq!(
        response.extensions().get::<ResendCount>(),
        Some(&ResendCount(3))
    );
    response.into_body().collect().await?;
    Ok(())
}
