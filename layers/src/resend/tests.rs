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
