//! Unit tests of the cache layer, over mock origins, a virtual clock and a queueing executor.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceExt, service_fn};
use tower_layer::Layer;

use super::*;
use crate::{
    BoxError,
    exec::{BoxFuture, SharedExecutor},
    test_util::{Probe, channel},
    time::{ManualTimer, TimerClock},
};

const START: u64 = 1_700_000_000;

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(START)
}

/// An HTTP date `offset` seconds from the start of the test (negative: in the past).
fn date(offset: i64) -> String {
    let at = if offset >= 0 {
        start() + Duration::from_secs(offset.unsigned_abs())
    } else {
        start() - Duration::from_secs(offset.unsigned_abs())
    };
    httpdate::fmt_http_date(at)
}

/// Queues background tasks so a test runs them when it chooses.
#[derive(Default)]
struct Queue(Mutex<Vec<BoxFuture>>);

impl hyper::rt::Executor<BoxFuture> for Queue {
    fn execute(&self, future: BoxFuture) {
        self.0.lock().unwrap().push(future);
    }
}

impl Queue {
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    async fn run(&self) {
        let tasks = std::mem::take(&mut *self.0.lock().unwrap());
        for task in tasks {
            task.await;
        }
    }
}

type Answer = Result<Response<Full<Bytes>>, &'static str>;

/// A scripted origin: answers with the queued responses in order (then a plain 200), and
/// records every request it sees.
#[derive(Clone, Default)]
struct Origin {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<(Method, String, HeaderMap)>>>,
    hits: Arc<AtomicUsize>,
}

impl Origin {
    fn push(&self, answer: Answer) {
        self.answers.lock().unwrap().push_back(answer);
    }

    fn respond(&self, headers: &[(&str, &str)], body: &'static str) {
        self.respond_status(200, headers, body);
    }

    fn respond_status(&self, status: u16, headers: &[(&str, &str)], body: &'static str) {
        let mut builder = Response::builder().status(status);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.push(Ok(builder.body(Full::new(Bytes::from(body))).unwrap()));
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn last_request_header(&self, name: &str) -> Option<String> {
        let seen = self.seen.lock().unwrap();
        let (_, _, headers) = seen.last()?;
        headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    }
}

struct Env {
    timer: ManualTimer,
    cache: HttpCache,
    origin: Origin,
    queue: Arc<Queue>,
}

impl Env {
    fn new() -> Self {
        Self::with_cache(HttpCache::new())
    }

    fn with_cache(cache: HttpCache) -> Self {
        Self {
            timer: ManualTimer::new(),
            cache,
            origin: Origin::default(),
            queue: Arc::new(Queue::default()),
        }
    }

    fn layer(&self) -> CacheLayer {
        let executor: SharedExecutor = self.queue.clone();
        let clock = TimerClock::starting_at(self.timer.shared(), start());
        CacheLayer::new(self.cache.clone(), self.timer.shared(), executor)
            .wall_clock(clock.shared())
    }

    fn service(
        &self,
    ) -> impl Service<
        Request<Full<Bytes>>,
        Response = Response<CacheBody<Full<Bytes>>>,
        Error = BoxError,
        Future: Send,
    > + Clone
    + Send
    + 'static {
        let origin = self.origin.clone();
        self.layer()
            .layer(service_fn(move |request: Request<Full<Bytes>>| {
                let origin = origin.clone();
                async move {
                    origin.hits.fetch_add(1, Ordering::SeqCst);
                    origin.seen.lock().unwrap().push((
                        request.method().clone(),
                        request.uri().to_string(),
                        request.headers().clone(),
                    ));
                    let answer = origin.answers.lock().unwrap().pop_front();
                    match answer {
                        Some(Ok(response)) => Ok(response),
                        Some(Err(message)) => Err(BoxError::from(message)),
                        None => Ok(Response::new(Full::new(Bytes::from("default")))),
                    }
                }
            }))
    }

    async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(http::response::Parts, Bytes), BoxError> {
        let response = self.service().oneshot(request).await?;
        let (parts, body) = response.into_parts();
        Ok((parts, body.collect().await?.to_bytes()))
    }

    async fn get(&self, uri: &str) -> (http::response::Parts, Bytes) {
        self.send(get(uri)).await.unwrap()
    }

    fn advance(&self, seconds: u64) {
        self.timer.advance(Duration::from_secs(seconds));
    }
}

fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::default()).unwrap()
}

fn get_with(uri: &str, name: &str, value: &str) -> Request<Full<Bytes>> {
    Request::get(uri)
        .header(name, value)
        .body(Full::default())
        .unwrap()
}

fn status(parts: &http::response::Parts) -> Option<CacheStatus> {
    parts.extensions.get::<CacheStatus>().copied()
}

fn age(parts: &http::response::Parts) -> Option<u64> {
    parts
        .headers
        .get("age")
        .map(|value| value.to_str().unwrap().parse().unwrap())
}

const URL: &str = "http://example.test/page";

#[tokio::test]
async fn max_age_is_fresh_then_stale_and_age_grows_on_hits() {
    let env = Env::new();
    let now = date(0);
    env.origin
        .respond(&[("cache-control", "max-age=100"), ("date", &now)], "one");
    env.origin
        .respond(&[("cache-control", "max-age=100")], "two");

    let (parts, body) = env.get(URL).await;
    assert_eq!(body, "one");
    assert_eq!(age(&parts), None, "a response from the origin gets no Age");
    assert_eq!(status(&parts), Some(CacheStatus::Miss));

    env.advance(10);
    let (parts, body) = env.get(URL).await;
    assert_eq!((body.as_ref(), env.origin.hits()), (&b"one"[..], 1));
    assert_eq!(age(&parts), Some(10));
    assert_eq!(status(&parts), Some(CacheStatus::Hit));
    assert_eq!(
        parts.headers["date"],
        now.as_str(),
        "the stored Date is kept"
    );

    env.advance(35);
    let (parts, _) = env.get(URL).await;
    assert_eq!(age(&parts), Some(45));

    env.advance(60);
    let (_, body) = env.get(URL).await;
    assert_eq!((body.as_ref(), env.origin.hits()), (&b"two"[..], 2));
}

#[tokio::test]
async fn expires_sets_freshness_relative_to_date() {
    let env = Env::new();
    env.origin
        .respond(&[("date", &date(0)), ("expires", &date(60))], "one");
    env.get(URL).await;
    env.advance(59);
    env.get(URL).await;
    assert_eq!(env.origin.hits(), 1);
    env.advance(2);
    env.get(URL).await;
    assert_eq!(env.origin.hits(), 2);
}

#[tokio::test]
async fn heuristic_freshness_is_a_tenth_of_the_time_since_last_modified() {
    let env = Env::new();
    env.origin.respond(
        &[("date", &date(0)), ("last-modified", &date(-1000))],
        "one",
    );
    env.get(URL).await;
    env.advance(99);
    env.get(URL).await;
    assert_eq!(env.origin.hits(), 1);
    env.advance(2);
    env.get(URL).await;
    assert_eq!(env.origin.hits(), 2);
}

#[tokio::test]
async fn apparent_age_from_an_old_date_counts() {
    let env = Env::new();
    env.origin.respond(
        &[("cache-control", "max-age=60"), ("date", &date(-50))],
        "one",
    );
    env.get(URL).await;
    let (parts, _) = env.get(URL).await;
    assert_eq!(age(&parts), Some(50));
    env.advance(11);
    env.get(URL).await;
    assert_eq!(env.origin.hits(), 2, "stale 60 s after its Date");
}

#[tokio::test]
async fn received_age_counts() {
    let env = Env::new();
    env.origin
        .respond(&[("cache-control", "max-age=60"), ("age", "30")], "one");
    env.get(URL).await;
    env.advance(5);
    let (parts, _) = env.get(URL).await;
    assert_eq!(age(&parts), Some(35));
    env.advance(26);
    env.get(URL).await;
    assert_eq!(env.origin.hits(), 2);
}

#[tokio::test]
async fn vary_keeps_one_variant_per_header_value() {
    let env = Env::new();
    let vary = [
        ("cache-control", "max-age=100"),
        ("vary", "Accept-Language"),
    ];
    env.origin.respond(&vary, "english");
    env.origin.respond(&vary, "french");

    let english = || get_with(URL, "accept-language", "en");
    let french = || get_with(URL, "accept-language", "fr");
    assert_eq!(env.send(english()).await.unwrap().1, "english");
    assert_eq!(env.send(french()).await.unwrap().1, "french");
    assert_eq!(env.send(english()).await.unwrap().1, "english");
    assert_eq!(env.send(french()).await.unwrap().1, "french");
    assert_eq!(env.origin.hits(), 2);
    assert_eq!(env.cache.len(), 2);

    // A third value is a miss.
    assert_eq!(
        env.send(get_with(URL, "accept-language", "de"))
            .await
            .unwrap()
            .1,
        "default"
    );
    assert_eq!(env.origin.hits(), 3);
}

#[tokio::test]
async fn not_modified_refreshes_the_stored_head_and_serves_the_stored_body() {
    let env = Env::new();
    env.origin.respond(
        &[
            ("cache-control", "max-age=10"),
            ("etag", "\"v1\""),
            ("x-version", "1"),
        ],
        "stored body",
    );
    env.origin.respond_status(
        304,
        &[
            ("cache-control", "max-age=100"),
            ("etag", "\"v1\""),
            ("x-version", "2"),
            ("x-new", "yes"),
            ("content-length", "0"),
        ],
        "",
    );
    env.get(URL).await;
    env.advance(20);

    let (parts, body) = env.get(URL).await;
    assert_eq!(
        env.origin.last_request_header("if-none-match").as_deref(),
        Some("\"v1\"")
    );
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(status(&parts), Some(CacheStatus::Revalidated));
    assert_eq!(body, "stored body");
    assert_eq!(parts.headers["x-version"], "2");
    assert_eq!(
        parts.headers["x-new"], "yes",
        "a field new in the 304 is added"
    );
    assert!(
        parts.headers.get("content-length").is_none(),
        "the 304's body fields are not"
    );

    // The refreshed max-age=100 now applies, with the refreshed headers.
    env.advance(50);
    let (parts, body) = env.get(URL).await;
    assert_eq!(env.origin.hits(), 2);
    assert_eq!(body, "stored body");
    assert_eq!(parts.headers["x-version"], "2");
    assert_eq!(age(&parts), Some(50));
}

#[tokio::test]
async fn last_modified_is_revalidated_with_if_modified_since() {
    let env = Env::new();
    let modified = date(-3600);
    env.origin.respond(
        &[("cache-control", "max-age=1"), ("last-modified", &modified)],
        "stored",
    );
    env.origin
        .respond_status(304, &[("last-modified", &modified)], "");
    env.get(URL).await;
    env.advance(2);
    let (_, body) = env.get(URL).await;
    assert_eq!(
        env.origin.last_request_header("if-modified-since"),
        Some(modified)
    );
    assert_eq!(body, "stored");
}

#[tokio::test]
async fn a_changed_resource_replaces_the_stored_one() {
    let env = Env::new();
    env.origin
        .respond(&[("cache-control", "max-age=1"), ("etag", "\"v1\"")], "old");
    env.origin.respond(
        &[("cache-control", "max-age=100"), ("etag", "\"v2\"")],
        "new",
    );
    env.get(URL).await;
    env.advance(2);
    assert_eq!(env.get(URL).await.1, "new");
    assert_eq!(env.get(URL).await.1, "new");
    assert_eq!(env.origin.hits(), 2);
}

#[tokio::test]
async fn stale_while_revalidate_serves_stale_and_refreshes_in_the_background() {
    let env = Env::new();
    env.origin.respond(
        &[
            ("cache-control", "max-age=1, stale-while-revalidate=60"),
            ("etag", "\"v1\""),
        ],
        "old",
    );
    env.origin.respond(
        &[("cache-control", "max-age=100"), ("etag", "\"v2\"")],
        "new",
    );
    env.get(URL).await;
    env.advance(10);

    // Served stale at once; the refresh is only queued.
    let (parts, body) = env.get(URL).await;
    assert_eq!(body, "old");
    assert_eq!(age(&parts), Some(10));
    assert_eq!(status(&parts), Some(CacheStatus::Stale));
    assert_eq!(env.origin.hits(), 1);
    assert_eq!(env.queue.len(), 1);
    // A second stale hit does not queue a second refresh.
    env.get(URL).await;
    assert_eq!(env.queue.len(), 1);

    env.queue.run().await;
    assert_eq!(env.origin.hits(), 2);
    assert_eq!(
        env.origin.last_request_header("if-none-match").as_deref(),
        Some("\"v1\"")
    );

    let (_, body) = env.get(URL).await;
    assert_eq!(body, "new");
    assert_eq!(env.origin.hits(), 2);
}

#[tokio::test]
async fn stale_while_revalidate_window_ends() {
    let env = Env::new();
    env.origin.respond(
        &[("cache-control", "max-age=1, stale-while-revalidate=5")],
        "old",
    );
    env.get(URL).await;
    env.advance(10);
    let (_, body) = env.get(URL).await;
    assert_eq!(
        body, "default",
        "outside the window the origin answers in the foreground"
    );
    assert_eq!(env.queue.len(), 0);
}

#[tokio::test]
async fn stale_if_error_covers_server_errors_inside_its_window() {
    let env = Env::new();
    env.origin
        .respond(&[("cache-control", "max-age=1, stale-if-error=60")], "old");
    env.origin.respond_status(503, &[], "unavailable");
    env.origin.respond_status(500, &[], "broken");
    env.get(URL).await;

    env.advance(30);
    let (parts, body) = env.get(URL).await;
    assert_eq!((parts.status, body.as_ref()), (StatusCode::OK, &b"old"[..]));
    assert_eq!(status(&parts), Some(CacheStatus::Stale));

    env.advance(60);
    let (parts, body) = env.get(URL).await;
    assert_eq!(
        (parts.status, body.as_ref()),
        (StatusCode::INTERNAL_SERVER_ERROR, &b"broken"[..])
    );
    assert_eq!(status(&parts), Some(CacheStatus::Miss));
}

#[tokio::test]
async fn stale_if_error_covers_connection_errors_inside_its_window() {
    let env = Env::new();
    env.origin
        .respond(&[("cache-control", "max-age=1, stale-if-error=60")], "old");
    env.origin.push(Err("connection refused"));
    env.origin.push(Err("connection refused"));
    env.get(URL).await;

    env.advance(30);
    assert_eq!(env.send(get(URL)).await.unwrap().1, "old");
    env.advance(60);
    let err = env.send(get(URL)).await.unwrap_err();
    assert_eq!(err.to_string(), "connection refused");
}

#[tokio::test]
async fn without_stale_if_error_errors_pass_through() {
    let env = Env::new();
    env.origin.respond(&[("cache-control", "max-age=1")], "old");
    env.origin.respond_status(502, &[], "bad gateway");
    env.get(URL).await;
    env.advance(2);
    assert_eq!(env.get(URL).await.0.status, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn must_revalidate_forbids_stale_if_error() {
    let env = Env::new();
    env.origin.respond(
        &[(
            "cache-control",
            "max-age=1, must-revalidate, stale-if-error=60",
        )],
        "old",
    );
    env.origin.respond_status(500, &[], "broken");
    env.get(URL).await;
    env.advance(2);
    assert_eq!(
        env.get(URL).await.0.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

async fn store_three(env: &Env) {
    for uri in [
        "http://example.test/a",
        "http://example.test/b",
        "http://other.test/c",
    ] {
        env.origin.respond(&[("cache-control", "max-age=100")], "x");
        env.get(uri).await;
    }
    assert_eq!(env.cache.len(), 3);
}

fn post(uri: &str) -> Request<Full<Bytes>> {
    Request::post(uri)
        .body(Full::new(Bytes::from("form")))
        .unwrap()
}

#[tokio::test]
async fn a_successful_post_invalidates_its_target() {
    let env = Env::new();
    store_three(&env).await;
    env.origin.respond_status(201, &[], "created");
    env.send(post("http://example.test/a")).await.unwrap();
    assert_eq!(env.cache.len(), 2);
    assert!(env.cache.store().get("http://example.test/a").is_empty());
}

#[tokio::test]
async fn a_failed_post_invalidates_nothing() {
    let env = Env::new();
    store_three(&env).await;
    env.origin
        .respond_status(500, &[("location", "/b")], "error");
    env.send(post("http://example.test/a")).await.unwrap();
    env.origin.push(Err("refused"));
    assert!(env.send(post("http://example.test/a")).await.is_err());
    assert_eq!(env.cache.len(), 3);
}

#[tokio::test]
async fn location_and_content_location_invalidate_only_on_the_same_origin() {
    let env = Env::new();
    store_three(&env).await;
    env.origin.respond_status(
        303,
        &[
            ("location", "http://other.test/c"),
            ("content-location", "/b"),
        ],
        "",
    );
    let request = Request::delete("http://example.test/x")
        .body(Full::default())
        .unwrap();
    env.send(request).await.unwrap();
    assert_eq!(env.cache.len(), 2);
    assert!(env.cache.store().get("http://example.test/b").is_empty());
    assert_eq!(env.cache.store().get("http://other.test/c").len(), 1);
}

#[tokio::test]
async fn memory_store_evicts_the_least_recently_used_by_count() {
    let env = Env::with_cache(HttpCache::new().with_store(MemoryStore::with_limits(2, 1 << 20)));
    for path in ["/1", "/2"] {
        env.origin.respond(&[("cache-control", "max-age=100")], "x");
        env.get(&format!("http://example.test{path}")).await;
    }
    env.get("http://example.test/1").await; // a hit: /1 is now the most recent
    env.origin.respond(&[("cache-control", "max-age=100")], "x");
    env.get("http://example.test/3").await;
    assert_eq!(env.cache.len(), 2);
    assert_eq!(env.cache.store().get("http://example.test/1").len(), 1);
    assert!(env.cache.store().get("http://example.test/2").is_empty());
    assert_eq!(env.cache.store().get("http://example.test/3").len(), 1);
}

#[tokio::test]
async fn memory_store_evicts_the_least_recently_used_by_bytes() {
    // Each entry: a 100-byte body plus its `cache-control: max-age=100` header (24 bytes).
    let store = MemoryStore::with_limits(100, 300);
    let env = Env::with_cache(HttpCache::new().with_store(store.clone()));
    let body: &'static str = Box::leak("b".repeat(100).into_boxed_str());
    for path in ["/1", "/2"] {
        env.origin
            .respond(&[("cache-control", "max-age=100")], body);
        env.get(&format!("http://example.test{path}")).await;
    }
    assert_eq!(store.bytes(), 2 * 124);
    env.get("http://example.test/1").await;
    env.origin
        .respond(&[("cache-control", "max-age=100")], body);
    env.get("http://example.test/3").await;
    assert_eq!(store.bytes(), 2 * 124);
    assert!(env.cache.store().get("http://example.test/2").is_empty());
    assert_eq!(env.cache.store().get("http://example.test/1").len(), 1);
}

#[test]
fn memory_store_replaces_the_same_variant() {
    let store = MemoryStore::new();
    let entry = |variant: &str| Arc::new(test_entry(variant, "body"));
    store.put("k", entry("a"));
    store.put("k", entry("b"));
    store.put("k", entry("a"));
    assert_eq!(store.len(), 2);
    let variants: Vec<String> = store
        .get("k")
        .iter()
        .map(|e| e.variant().to_owned())
        .collect();
    assert_eq!(variants, ["a", "b"], "most recently stored first");
    assert!(store.remove("k"));
    assert!(store.is_empty());
    assert_eq!(store.bytes(), 0);
}

fn test_entry(variant: &str, body: &'static str) -> CachedResponse {
    let request = Request::get(URL).body(()).unwrap();
    let response = Response::new(());
    let headers = HeaderMap::new();
    let body = Bytes::from(body);
    CachedResponse {
        status: StatusCode::OK,
        version: http::Version::HTTP_11,
        size: store::entry_size(&headers, &body, variant),
        headers,
        body,
        policy: http_cache_semantics::CachePolicy::new_options(
            &request,
            &response,
            start(),
            policy::options(0.1),
        ),
        directives: Directives::default(),
        variant: variant.to_owned(),
        lifetime: Duration::ZERO,
        received_at: hyper::rt::Timer::now(&ManualTimer::new()),
        response_time: start(),
    }
}

#[tokio::test]
async fn an_oversized_response_with_content_length_passes_uncached() {
    let env = Env::with_cache(HttpCache::new().with_config(CacheConfig::new().max_entry_size(4)));
    env.origin.respond(
        &[("cache-control", "max-age=100"), ("content-length", "11")],
        "hello world",
    );
    assert_eq!(env.get(URL).await.1, "hello world");
    assert!(env.cache.is_empty());
}

/// A cache layer over an origin that answers with a hand-fed streaming body.
fn streaming_env(
    env: &Env,
    body: Arc<Mutex<Option<crate::test_util::ChannelBody>>>,
) -> impl Service<
    Request<()>,
    Response = Response<CacheBody<crate::test_util::ChannelBody>>,
    Error = BoxError,
> {
    env.layer().layer(service_fn(move |_request: Request<()>| {
        let body = body.lock().unwrap().take().unwrap();
        async move {
            Ok::<_, BoxError>(
                Response::builder()
                    .header("cache-control", "max-age=100")
                    .body(body)
                    .unwrap(),
            )
        }
    }))
}

#[tokio::test]
async fn an_oversized_streaming_response_passes_uncached() {
    let env = Env::with_cache(HttpCache::new().with_config(CacheConfig::new().max_entry_size(4)));
    let (tx, rx) = channel();
    let service = streaming_env(&env, Arc::new(Mutex::new(Some(rx))));
    let response = service
        .oneshot(Request::get(URL).body(()).unwrap())
        .await
        .unwrap();
    tx.data("abc");
    tx.data("defgh");
    drop(tx);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "abcdefgh");
    assert!(env.cache.is_empty());
}

#[tokio::test]
async fn a_streamed_body_is_stored_when_it_ends() {
    let env = Env::new();
    let (tx, rx) = channel();
    let service = streaming_env(&env, Arc::new(Mutex::new(Some(rx))));
    let response = service
        .oneshot(Request::get(URL).body(()).unwrap())
        .await
        .unwrap();
    tx.data("abc");
    tx.data("def");
    drop(tx);
    let mut body = response.into_body();
    let probe = Probe::new();
    assert!(matches!(
        probe.poll_frame(&mut body),
        std::task::Poll::Ready(Some(Ok(_)))
    ));
    assert!(env.cache.is_empty(), "not stored before the end");
    assert_eq!(body.collect().await.unwrap().to_bytes(), "def");
    let stored = env.cache.store().get(URL);
    assert_eq!(stored[0].body(), "abcdef");
}

#[tokio::test]
async fn a_body_dropped_early_or_failing_is_not_stored() {
    let env = Env::new();
    let (tx, rx) = channel();
    let service = streaming_env(&env, Arc::new(Mutex::new(Some(rx))));
    let response = service
        .oneshot(Request::get(URL).body(()).unwrap())
        .await
        .unwrap();
    tx.data("abc");
    let mut body = response.into_body();
    assert!(matches!(
        Probe::new().poll_frame(&mut body),
        std::task::Poll::Ready(Some(Ok(_)))
    ));
    drop(body);
    drop(tx);
    assert!(env.cache.is_empty());

    let (tx, rx) = channel();
    let service = streaming_env(&env, Arc::new(Mutex::new(Some(rx))));
    let response = service
        .oneshot(Request::get(URL).body(()).unwrap())
        .await
        .unwrap();
    tx.data("abc");
    tx.error("connection reset");
    drop(tx);
    assert!(response.into_body().collect().await.is_err());
    assert!(env.cache.is_empty());
}

#[tokio::test]
async fn no_store_is_not_stored() {
    let env = Env::new();
    env.origin
        .respond(&[("cache-control", "no-store, max-age=100")], "secret");
    env.get(URL).await;
    assert!(env.cache.is_empty());

    env.origin.respond(&[("cache-control", "max-age=100")], "x");
    env.send(get_with(URL, "cache-control", "no-store"))
        .await
        .unwrap();
    assert!(env.cache.is_empty(), "request no-store");
}

#[tokio::test]
async fn private_responses_are_stored_by_a_private_cache() {
    let env = Env::new();
    env.origin
        .respond(&[("cache-control", "private, max-age=100")], "mine");
    env.get(URL).await;
    assert_eq!(env.get(URL).await.1, "mine");
    assert_eq!(env.origin.hits(), 1);
}

#[tokio::test]
async fn only_if_cached_answers_504_when_nothing_is_stored() {
    let env = Env::new();
    let only = || get_with(URL, "cache-control", "only-if-cached");
    let (parts, body) = env.send(only()).await.unwrap();
    assert_eq!(parts.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(body.is_empty());
    assert_eq!(env.origin.hits(), 0);

    env.origin
        .respond(&[("cache-control", "max-age=10")], "stored");
    env.get(URL).await;
    assert_eq!(env.send(only()).await.unwrap().1, "stored");
    env.advance(20);
    assert_eq!(
        env.send(only()).await.unwrap().0.status,
        StatusCode::GATEWAY_TIMEOUT
    );
    assert_eq!(env.origin.hits(), 1);
}

#[tokio::test]
async fn request_no_cache_revalidates_a_fresh_response() {
    let env = Env::new();
    env.origin.respond(
        &[("cache-control", "max-age=100"), ("etag", "\"e\"")],
        "stored",
    );
    env.origin.respond_status(304, &[("etag", "\"e\"")], "");
    env.get(URL).await;
    let (_, body) = env
        .send(get_with(URL, "cache-control", "no-cache"))
        .await
        .unwrap();
    assert_eq!(env.origin.hits(), 2);
    assert_eq!(
        env.origin.last_request_header("if-none-match").as_deref(),
        Some("\"e\"")
    );
    assert_eq!(body, "stored");
}

#[tokio::test]
async fn head_is_answered_from_a_stored_get() {
    let env = Env::new();
    env.origin.respond(
        &[("cache-control", "max-age=100"), ("content-length", "6")],
        "stored",
    );
    env.get(URL).await;
    let (parts, body) = env
        .send(Request::head(URL).body(Full::default()).unwrap())
        .await
        .unwrap();
    assert_eq!(env.origin.hits(), 1);
    assert!(body.is_empty());
    assert_eq!(parts.headers["content-length"], "6");
}

#[tokio::test]
async fn hop_by_hop_fields_are_not_stored() {
    let env = Env::new();
    env.origin.respond(
        &[
            ("cache-control", "max-age=100"),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
        ],
        "x",
    );
    env.get(URL).await;
    let (parts, _) = env.get(URL).await;
    assert!(parts.headers.get("x-hop").is_none());
    assert!(parts.headers.get("keep-alive").is_none());
}

#[tokio::test]
async fn hostile_headers_never_panic() {
    let env = Env::new();
    let hostile: [&[(&str, &str)]; 6] = [
        &[
            ("cache-control", "max-age=99999999999999999999999"),
            ("age", "18446744073709551615"),
        ],
        &[
            (
                "cache-control",
                "max-age=-1, stale-while-revalidate=99999999999999999999",
            ),
            ("date", "garbage"),
        ],
        &[
            ("expires", "Tue, 31 Dec 99999 23:59:59 GMT"),
            ("date", "Mon, 01 Jan 0001 00:00:00 GMT"),
        ],
        &[
            ("last-modified", "Sat, 01 Jan 10000 00:00:00 GMT"),
            ("date", "0"),
        ],
        &[("cache-control", "max-age=\"10"), ("vary", ",,,")],
        &[
            (
                "cache-control",
                "max-age=1, stale-if-error=18446744073709551616",
            ),
            ("etag", "\"e\""),
        ],
    ];
    for headers in hostile {
        env.cache.clear();
        env.origin.answers.lock().unwrap().clear();
        env.origin.respond(headers, "x");
        env.get(URL).await;
        env.advance(1 << 40);
        env.origin.respond_status(
            304,
            &[("etag", "\"e\""), ("age", "99999999999999999999999")],
            "",
        );
        env.get(URL).await;
        env.origin.respond_status(500, &[], "");
        env.get(URL).await;
    }
    // A stored response whose 304 carries a huge Age ages to the cap, not past it.
    env.cache.clear();
    env.origin.answers.lock().unwrap().clear();
    env.origin
        .respond(&[("cache-control", "max-age=1"), ("etag", "\"e\"")], "x");
    env.get(URL).await;
    env.advance(2);
    env.origin.respond_status(
        304,
        &[("etag", "\"e\""), ("age", "18446744073709551615")],
        "",
    );
    let (parts, _) = env.get(URL).await;
    assert_eq!(age(&parts), Some(1 << 31));
}

#[test]
fn directives_parse_and_clamp() {
    let mut headers = HeaderMap::new();
    headers.append("cache-control", "No-Cache, max-age=\"20\"".parse().unwrap());
    headers.append(
        "cache-control",
        "stale-while-revalidate=99999999999999999999999, stale-if-error=x, only-if-cached"
            .parse()
            .unwrap(),
    );
    let parsed = parse_directives(&headers);
    assert!(parsed.no_cache && parsed.only_if_cached && !parsed.must_revalidate);
    assert_eq!(parsed.max_age, Some(Duration::from_secs(20)));
    assert_eq!(
        parsed.stale_while_revalidate,
        Some(Duration::from_secs(1 << 31))
    );
    assert_eq!(parsed.stale_if_error, None);

    let mut pragma = HeaderMap::new();
    pragma.insert("pragma", "no-cache".parse().unwrap());
    assert!(parse_directives(&pragma).no_cache);
    pragma.insert("cache-control", "max-age=5".parse().unwrap());
    assert!(
        !parse_directives(&pragma).no_cache,
        "Cache-Control wins over Pragma"
    );

    let mut long = HeaderMap::new();
    let value = format!("no-cache,{}", "x".repeat(MAX_HEADER_LEN));
    long.insert("cache-control", value.parse().unwrap());
    assert_eq!(parse_directives(&long), Directives::default());
}

#[tokio::test]
async fn a_304_without_validators_still_refreshes_the_revalidated_response() {
    let env = Env::new();
    env.origin.respond(
        &[("cache-control", "max-age=1"), ("etag", "\"v1\"")],
        "stored",
    );
    env.origin
        .respond_status(304, &[("cache-control", "max-age=100")], "");
    env.get(URL).await;
    env.advance(2);
    let (parts, body) = env.get(URL).await;
    assert_eq!(
        (parts.status, body.as_ref()),
        (StatusCode::OK, &b"stored"[..])
    );
    env.get(URL).await;
    assert_eq!(env.origin.hits(), 2, "refreshed to max-age=100");
}

#[tokio::test]
async fn a_304_never_changes_the_stored_entity_tag() {
    let env = Env::new();
    env.origin.respond(
        &[("cache-control", "max-age=1"), ("etag", "\"v1\"")],
        "stored",
    );
    env.origin.respond_status(
        304,
        &[("cache-control", "max-age=100"), ("etag", "\"v2\"")],
        "",
    );
    env.get(URL).await;
    env.advance(2);
    let (parts, body) = env.get(URL).await;
    assert_eq!(
        (parts.status, body.as_ref()),
        (StatusCode::OK, &b"stored"[..])
    );
    assert_eq!(parts.headers["etag"], "\"v1\"");
}

#[tokio::test]
async fn a_304_for_another_entity_tag_goes_to_the_caller() {
    let env = Env::new();
    env.origin.respond(
        &[("cache-control", "max-age=1"), ("etag", "\"v1\"")],
        "stored",
    );
    env.origin.respond_status(304, &[("etag", "\"v0\"")], "");
    env.get(URL).await;
    env.advance(2);
    let (parts, _) = env
        .send(get_with(URL, "if-none-match", "\"v0\""))
        .await
        .unwrap();
    assert_eq!(parts.status, StatusCode::NOT_MODIFIED);
    assert_eq!(
        env.origin.last_request_header("if-none-match").as_deref(),
        Some("\"v0\", \"v1\"")
    );
}

#[tokio::test]
async fn the_callers_own_conditional_is_answered_from_the_store() {
    let env = Env::new();
    env.origin.respond(
        &[
            ("cache-control", "max-age=100"),
            ("etag", "W/\"v1\""),
            ("last-modified", &date(-100)),
            ("content-length", "6"),
        ],
        "stored",
    );
    env.get(URL).await;

    let (parts, body) = env
        .send(get_with(URL, "if-none-match", "\"x\", \"v1\""))
        .await
        .unwrap();
    assert_eq!(parts.status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert!(parts.headers.get("content-length").is_none());
    assert_eq!(parts.headers["etag"], "W/\"v1\"");

    let (parts, _) = env
        .send(get_with(URL, "if-none-match", "\"v2\""))
        .await
        .unwrap();
    assert_eq!(parts.status, StatusCode::OK);

    let (parts, _) = env
        .send(get_with(URL, "if-modified-since", &date(-50)))
        .await
        .unwrap();
    assert_eq!(parts.status, StatusCode::NOT_MODIFIED);
    let (parts, _) = env
        .send(get_with(URL, "if-modified-since", &date(-200)))
        .await
        .unwrap();
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(env.origin.hits(), 1);
}

#[tokio::test]
async fn must_understand_keeps_unknown_statuses_out() {
    let env = Env::new();
    env.origin.respond_status(
        599,
        &[("cache-control", "max-age=100, must-understand")],
        "x",
    );
    env.get(URL).await;
    assert!(env.cache.is_empty());
}

#[tokio::test]
async fn request_pragma_is_ignored_when_cache_control_is_present() {
    let env = Env::new();
    env.origin.respond(&[("cache-control", "max-age=100")], "x");
    env.get(URL).await;
    let request = Request::get(URL)
        .header("pragma", "no-cache")
        .header("cache-control", "max-stale")
        .body(Full::default())
        .unwrap();
    env.send(request).await.unwrap();
    assert_eq!(env.origin.hits(), 1);
    env.send(get_with(URL, "pragma", "no-cache")).await.unwrap();
    assert_eq!(env.origin.hits(), 2, "alone, Pragma: no-cache revalidates");
}

#[tokio::test]
async fn error_statuses_with_explicit_freshness_are_stored() {
    let env = Env::new();
    env.origin
        .respond_status(500, &[("cache-control", "max-age=100")], "broken");
    env.origin.respond_status(500, &[], "no freshness");
    let url2 = "http://example.test/other";
    env.get(URL).await;
    let (parts, _) = env.get(URL).await;
    assert_eq!(parts.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(env.origin.hits(), 1);
    env.get(url2).await;
    env.get(url2).await;
    assert_eq!(
        env.origin.hits(),
        3,
        "without explicit freshness a 500 is not stored"
    );
}

#[tokio::test]
async fn directive_names_are_case_insensitive() {
    let env = Env::new();
    env.origin.respond(
        &[
            ("cache-control", "MAX-AGE=100, NO-CACHE"),
            ("etag", "\"e\""),
        ],
        "x",
    );
    env.get(URL).await;
    env.get(URL).await;
    assert_eq!(env.origin.hits(), 2, "NO-CACHE means revalidate");

    env.cache.clear();
    env.origin.respond(&[("cache-control", "Max-Age=100")], "x");
    env.get(URL).await;
    env.get(URL).await;
    assert_eq!(env.origin.hits(), 3);
}

#[tokio::test]
async fn every_http_date_format_is_read() {
    let env = Env::new();
    // RFC 850 and asctime formats (RFC 9110 §5.6.7).
    env.origin.respond(
        &[
            ("date", "Tuesday, 14-Nov-23 22:13:20 GMT"),
            ("expires", "Tue Nov 14 22:14:20 2023"),
        ],
        "x",
    );
    env.get(URL).await;
    env.advance(59);
    env.get(URL).await;
    assert_eq!(env.origin.hits(), 1);
    env.advance(2);
    env.get(URL).await;
    assert_eq!(env.origin.hits(), 2);
}

#[tokio::test]
async fn age_uses_the_first_member_and_its_leading_digits() {
    for (age, fresh) in [
        ("7200.0", false),
        ("7200, 0", false),
        ("0, 7200", true),
        ("abc", true),
    ] {
        let env = Env::new();
        env.origin
            .respond(&[("cache-control", "max-age=3600"), ("age", age)], "x");
        env.get(URL).await;
        env.get(URL).await;
        assert_eq!(env.origin.hits() == 1, fresh, "Age: {age}");
    }
}

#[tokio::test]
async fn vary_compares_a_field_sent_on_several_lines_as_one_list() {
    let env = Env::new();
    env.origin
        .respond(&[("cache-control", "max-age=100"), ("vary", "Foo")], "x");
    env.send(get_with(URL, "foo", "1, 2")).await.unwrap();
    let request = Request::get(URL)
        .header("foo", "1")
        .header("foo", "2")
        .body(Full::default())
        .unwrap();
    env.send(request).await.unwrap();
    assert_eq!(env.origin.hits(), 1);
}

#[tokio::test]
async fn request_max_stale_accepts_a_stale_response() {
    let env = Env::new();
    env.origin
        .respond(&[("cache-control", "max-age=1"), ("date", &date(0))], "x");
    env.get(URL).await;
    env.advance(3);
    let request = Request::get(URL)
        .header("cache-control", "max-stale=1000")
        .header("cache-control", "nothing-to-see-here")
        .body(Full::default())
        .unwrap();
    env.send(request).await.unwrap();
    assert_eq!(env.origin.hits(), 1);
    env.advance(1000);
    env.send(get_with(URL, "cache-control", "max-stale=1000"))
        .await
        .unwrap();
    assert_eq!(env.origin.hits(), 2, "outside max-stale");
}

#[tokio::test]
async fn entity_tags_with_obs_text_are_compared_as_bytes() {
    let env = Env::new();
    let tag = http::HeaderValue::from_bytes(b"\"v\xfc\"").unwrap();
    let mut response = Response::new(Full::new(Bytes::from("x")));
    response
        .headers_mut()
        .insert("cache-control", "max-age=100".parse().unwrap());
    response.headers_mut().insert("etag", tag.clone());
    env.origin.push(Ok(response));
    env.get(URL).await;
    let mut request = get(URL);
    request.headers_mut().insert("if-none-match", tag);
    let (parts, _) = env.send(request).await.unwrap();
    assert_eq!(parts.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn a_clock_past_year_9999_does_not_panic() {
    let env = Env::new();
    env.origin.respond(
        &[
            ("cache-control", "max-age=9999999999999"),
            ("etag", "\"e\""),
        ],
        "x",
    );
    env.get(URL).await;
    // The layer's wall clock follows the timer: 300 000 years on.
    env.advance(300_000 * 365 * 24 * 3600);
    let (parts, _) = env.get(URL).await;
    assert_eq!(parts.status, StatusCode::OK);
}

#[tokio::test]
async fn request_min_fresh_asks_for_more_freshness_than_is_left() {
    let env = Env::new();
    env.origin
        .respond(&[("cache-control", "max-age=100")], "stored");
    env.get(URL).await;
    env.advance(90);
    // 10 s of freshness left: enough for a plain request and for min-fresh=5 ...
    env.send(get_with(URL, "cache-control", "min-fresh=5"))
        .await
        .unwrap();
    assert_eq!(env.origin.hits(), 1);
    // ... not for min-fresh=20, which goes to the origin.
    let (parts, body) = env
        .send(get_with(URL, "cache-control", "min-fresh=20"))
        .await
        .unwrap();
    assert_eq!(env.origin.hits(), 2);
    assert_eq!(
        (status(&parts), body.as_ref()),
        (Some(CacheStatus::Miss), &b"default"[..])
    );
}

#[tokio::test]
async fn s_maxage_is_ignored_by_a_private_cache() {
    let env = Env::new();
    env.origin
        .respond(&[("cache-control", "max-age=10, s-maxage=1000")], "stored");
    env.get(URL).await;
    env.advance(5);
    env.get(URL).await;
    assert_eq!(env.origin.hits(), 1, "fresh under max-age");
    env.advance(20);
    env.get(URL).await;
    assert_eq!(
        env.origin.hits(),
        2,
        "stale past max-age, whatever s-maxage says"
    );
}
