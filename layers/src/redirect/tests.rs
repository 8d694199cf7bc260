use std::{
    error::Error as _,
    fmt,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{
    HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version,
    header::{
        AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, LOCATION,
        PROXY_AUTHORIZATION, REFERER, TRANSFER_ENCODING,
    },
};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;
use tower_service::Service;

use super::{location::resolve, *};
use crate::{
    BoxError, EffectiveUri, RedirectObserver, RedirectResponse,
    error::find_cause,
    replay::ReplayError,
    resend::ResendBody,
    sync::lock,
    test_util::{Probe, channel},
};

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

type TestBody = BoxBody<Bytes, BoxError>;

fn full(data: impl Into<Bytes>) -> TestBody {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

/// What the mock service saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    extensions: http::Extensions,
    /// The body as the inner service read it, or the error reading it gave.
    body: Result<Bytes, String>,
    /// Whether the body came wrapped in a `ReplayBody`.
    replay: bool,
    /// Whether the body was the layer's empty body.
    empty: bool,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// The mock inner service: answers with test bodies, fails with `BoxError`, `Send` futures.
trait MockService<B>:
    Service<
        Request<ResendBody<B>>,
        Response = Response<TestBody>,
        Error = BoxError,
        Future: Send + 'static,
    > + Clone
{
}

impl<B, T> MockService<B> for T where
    T: Service<
            Request<ResendBody<B>>,
            Response = Response<TestBody>,
            Error = BoxError,
            Future: Send + 'static,
        > + Clone
{
}

/// A service that reads each request's body, logs the request and answers with `route`.
fn mock<B, F>(route: F) -> (impl MockService<B>, Log)
where
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
    F: Fn(&Seen) -> Response<TestBody> + Clone + Send + Sync + 'static,
{
    let log: Log = Arc::default();
    let service = service_fn({
        let log = Arc::clone(&log);
        move |request: Request<ResendBody<B>>| {
            let log = Arc::clone(&log);
            let route = route.clone();
            async move {
                let (parts, body) = request.into_parts();
                let (replay, empty) = (body.is_replay(), body.is_empty());
                let body = body
                    .collect()
                    .await
                    .map(|collected| collected.to_bytes())
                    .map_err(|err| err.to_string());
                let seen = Seen {
                    method: parts.method,
                    uri: parts.uri,
                    version: parts.version,
                    headers: parts.headers,
                    extensions: parts.extensions,
                    body,
                    replay,
                    empty,
                };
                lock(&log).push(seen.clone());
                Ok::<_, BoxError>(route(&seen))
            }
        }
    });
    (service, log)
}

fn redirect(status: u16, location: &str) -> Response<TestBody> {
    let mut response = Response::new(full(""));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

fn ok(body: &'static str) -> Response<TestBody> {
    Response::new(full(body))
}

/// `/a` redirects to `/b` with `status`; everything else is 200 "done".
fn one_hop(status: u16) -> impl Fn(&Seen) -> Response<TestBody> + Clone + Send + Sync + 'static {
    move |seen: &Seen| {
        if seen.uri.path() == "/a" {
            redirect(status, "/b")
        } else {
            ok("done")
        }
    }
}

/// `/N` redirects to `/N+1` while N < `last`; `/last` is 200.
fn chain(last: usize) -> impl Fn(&Seen) -> Response<TestBody> + Clone + Send + Sync + 'static {
    move |seen: &Seen| {
        let n: usize = seen.uri.path().trim_start_matches('/').parse().unwrap_or(0);
        if n < last {
            redirect(302, &format!("/{}", n + 1))
        } else {
            ok("end")
        }
    }
}

fn get(uri: &str) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::default());
    *request.uri_mut() = uri.parse().unwrap_or_default();
    request
}

fn request(method: Method, uri: &str, body: &'static str) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(Bytes::from_static(body.as_bytes())));
    *request.method_mut() = method;
    *request.uri_mut() = uri.parse().unwrap_or_default();
    request
}

fn seen(log: &Log) -> Vec<Seen> {
    lock(log).clone()
}

fn effective_uri<B>(response: &Response<B>) -> Option<String> {
    response
        .extensions()
        .get::<EffectiveUri>()
        .map(|EffectiveUri(uri)| uri.to_string())
}

fn history<B>(response: &Response<B>) -> Option<Vec<String>> {
    response
        .extensions()
        .get::<RedirectHistory>()
        .map(|history| history.uris().iter().map(Uri::to_string).collect())
}

fn redirect_error(err: &BoxError) -> Result<&RedirectError, BoxError> {
    find_cause::<RedirectError>(&**err).ok_or_else(|| format!("not a RedirectError: {err}").into())
}

fn strings(uris: &[Uri]) -> Vec<String> {
    uris.iter().map(Uri::to_string).collect()
}

fn body_of(seen: &Seen) -> String {
    match &seen.body {
        Ok(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Err(err) => format!("error: {err}"),
    }
}

// ---------------------------------------------------------------------------
// following and not following
// ---------------------------------------------------------------------------

#[tokio::test]
async fn follows_each_redirect_status() -> Result<(), BoxError> {
    for status in [301, 302, 303, 307, 308] {
        let (service, log) = mock(one_hop(status));
        let response = RedirectLayer::default()
            .layer(service)
            .oneshot(get("http://h.test/a"))
            .await?;
        assert_eq!(response.status(), StatusCode::OK, "{status}");
        assert_eq!(
            effective_uri(&response).as_deref(),
            Some("http://h.test/b"),
            "{status}"
        );
        assert_eq!(
            history(&response),
            Some(vec!["http://h.test/a".to_owned()]),
            "{status}"
        );
        let seen = seen(&log);
        assert_eq!(seen.len(), 2, "{status}");
        assert_eq!(seen[1].uri, "http://h.test/b", "{status}");
        assert_eq!(
            response.into_body().collect().await?.to_bytes(),
            "done",
            "{status}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn other_3xx_and_non_redirects_are_returned_as_they_are() -> Result<(), BoxError> {
    // A Location alone does not make a redirect: 300, 304, 305, 306 and 201 come back.
    for status in [300, 304, 305, 306, 201, 200] {
        let (service, log) = mock(move |_: &Seen| redirect(status, "/elsewhere"));
        let response = RedirectLayer::default()
            .layer(service)
            .oneshot(get("http://h.test/a"))
            .await?;
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(seen(&log).len(), 1, "{status} must not be followed");
        // Not redirected: no URI and no history from the layer.
        assert_eq!(effective_uri(&response), None);
        assert_eq!(history(&response), None);
    }
    Ok(())
}

#[tokio::test]
async fn redirect_without_location_is_returned() -> Result<(), BoxError> {
    for status in [301, 302, 303, 307, 308] {
        let (service, log) = mock(move |_: &Seen| {
            let mut response = ok("no location");
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or_default();
            response
        });
        let response = RedirectLayer::default()
            .layer(service)
            .oneshot(get("http://h.test/a"))
            .await?;
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(seen(&log).len(), 1);
        assert_eq!(
            response.into_body().collect().await?.to_bytes(),
            "no location"
        );
    }
    Ok(())
}

#[tokio::test]
async fn history_lists_every_hop_in_order() -> Result<(), BoxError> {
    let (service, log) = mock(chain(3));
    let response = RedirectLayer::default()
        .layer(service)
        .oneshot(get("http://h.test/0"))
        .await?;
    assert_eq!(
        history(&response),
        Some(vec![
            "http://h.test/0".to_owned(),
            "http://h.test/1".to_owned(),
            "http://h.test/2".to_owned(),
        ])
    );
    assert_eq!(effective_uri(&response).as_deref(), Some("http://h.test/3"));
    let paths: Vec<_> = seen(&log).iter().map(|s| s.uri.to_string()).collect();
    assert_eq!(
        paths,
        [
            "http://h.test/0",
            "http://h.test/1",
            "http://h.test/2",
            "http://h.test/3"
        ]
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// policies
// ---------------------------------------------------------------------------

#[tokio::test]
async fn default_policy_follows_ten_redirects() -> Result<(), BoxError> {
    let (service, log) = mock(chain(10));
    let response = RedirectLayer::default()
        .layer(service)
        .oneshot(get("http://h.test/0"))
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(history(&response).map(|h| h.len()), Some(10));
    assert_eq!(seen(&log).len(), 11);
    Ok(())
}

#[tokio::test]
async fn eleventh_redirect_fails_with_the_history() -> Result<(), BoxError> {
    let (service, log) = mock(chain(11));
    let err = RedirectLayer::default()
        .layer(service)
        .oneshot(get("http://h.test/0"))
        .await
        .err()
        .ok_or("the 11th redirect must fail")?;
    let err = redirect_error(&err)?;
    assert_eq!(err.kind(), RedirectErrorKind::TooManyRedirects);
    assert!(err.is_too_many_redirects());
    let expected: Vec<String> = (0..=10).map(|n| format!("http://h.test/{n}")).collect();
    assert_eq!(strings(err.history()), expected);
    assert_eq!(
        err.location().map(Uri::to_string).as_deref(),
        Some("http://h.test/11")
    );
    // The refused hop was never sent.
    assert_eq!(seen(&log).len(), 11);
    assert_eq!(
        err.to_string(),
        "too many redirects (after following 10 redirects)"
    );
    Ok(())
}

#[tokio::test]
async fn limited_policy_stops_at_its_limit() -> Result<(), BoxError> {
    let (service, _) = mock(chain(2));
    let response = RedirectLayer::new(Policy::limited(2))
        .layer(service)
        .oneshot(get("http://h.test/0"))
        .await?;
    assert_eq!(response.status(), StatusCode::OK);

    let (service, log) = mock(chain(3));
    let err = RedirectLayer::new(Policy::limited(2))
        .layer(service)
        .oneshot(get("http://h.test/0"))
        .await
        .err()
        .ok_or("the third redirect must fail")?;
    let err = redirect_error(&err)?;
    assert_eq!(err.kind(), RedirectErrorKind::TooManyRedirects);
    assert_eq!(
        strings(err.history()),
        ["http://h.test/0", "http://h.test/1", "http://h.test/2"]
    );
    assert_eq!(seen(&log).len(), 3);

    let (service, log) = mock(chain(1));
    let err = RedirectLayer::new(Policy::limited(0))
        .layer(service)
        .oneshot(get("http://h.test/0"))
        .await
        .err()
        .ok_or("limited(0) fails on the first redirect")?;
    assert_eq!(
        strings(redirect_error(&err)?.history()),
        ["http://h.test/0"]
    );
    assert_eq!(seen(&log).len(), 1);
    Ok(())
}

#[tokio::test]
async fn none_policy_returns_the_redirect_and_passes_the_body_through() -> Result<(), BoxError> {
    let (service, log) = mock(one_hop(307));
    let response = RedirectLayer::new(Policy::none())
        .layer(service)
        .oneshot(request(Method::POST, "http://h.test/a", "payload"))
        .await?;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    // Not redirected: the layer adds no URI and no history (the request's URI stands).
    assert_eq!(effective_uri(&response), None);
    assert_eq!(history(&response), None);
    let seen = seen(&log);
    assert_eq!(seen.len(), 1);
    assert!(!seen[0].replay, "Policy::none never records the body");
    assert_eq!(body_of(&seen[0]), "payload");
    Ok(())
}

#[test]
fn policy_accessors() {
    assert_eq!(Policy::default().max_redirects(), Some(10));
    assert_eq!(Policy::DEFAULT_MAX_REDIRECTS, 10);
    assert_eq!(Policy::limited(3).max_redirects(), Some(3));
    assert!(Policy::none().is_none());
    assert!(!Policy::default().is_none());
    let custom = Policy::custom(|attempt| attempt.follow());
    assert_eq!(custom.max_redirects(), None);
    assert!(!custom.is_none());
    assert_eq!(format!("{:?}", Policy::limited(3)), "Policy::Limited(3)");
}

#[test]
fn limited_policy_decides_by_hops() -> Result<(), BoxError> {
    let current: Uri = "http://h.test/".parse()?;
    let next: Uri = "http://h.test/next".parse()?;
    let headers = HeaderMap::new();
    let previous: Vec<Uri> = vec![current.clone(); 3];
    let attempt = |hops: usize| Attempt {
        status: StatusCode::FOUND,
        method: &Method::GET,
        current: &current,
        next: &next,
        headers: &headers,
        previous: previous.get(..hops).unwrap_or_default(),
    };
    let policy = Policy::limited(2);
    assert!(policy.redirect(attempt(0)).is_follow());
    assert!(policy.redirect(attempt(1)).is_follow());
    assert!(policy.redirect(attempt(2)).is_error());
    assert!(Policy::none().redirect(attempt(0)).is_stop());
    Ok(())
}

#[tokio::test]
async fn custom_policy_sees_the_attempt() -> Result<(), BoxError> {
    #[derive(Debug, PartialEq)]
    struct Observed {
        status: u16,
        method: Method,
        current: String,
        next: String,
        hint: Option<String>,
        hops: usize,
        previous: Vec<String>,
    }
    let observed: Arc<Mutex<Vec<Observed>>> = Arc::default();
    let policy = Policy::custom({
        let observed = Arc::clone(&observed);
        move |attempt| {
            lock(&observed).push(Observed {
                status: attempt.status().as_u16(),
                method: attempt.method().clone(),
                current: attempt.current().to_string(),
                next: attempt.next().to_string(),
                hint: attempt
                    .headers()
                    .get("x-hint")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                hops: attempt.hops(),
                previous: strings(attempt.previous()),
            });
            attempt.follow()
        }
    });
    let (service, _) = mock(|seen: &Seen| match seen.uri.path() {
        "/a" => {
            let mut response = redirect(302, "/b");
            response
                .headers_mut()
                .insert("x-hint", HeaderValue::from_static("first"));
            response
        }
        "/b" => redirect(307, "http://other.test/c"),
        _ => ok("done"),
    });
    let response = RedirectLayer::new(policy)
        .layer(service)
        .oneshot(request(Method::POST, "http://h.test/a", "x"))
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        *lock(&observed),
        [
            Observed {
                status: 302,
                method: Method::POST,
                current: "http://h.test/a".into(),
                next: "http://h.test/b".into(),
                hint: Some("first".into()),
                hops: 0,
                previous: vec![],
            },
            Observed {
                status: 307,
                // The 302 turned the POST into a GET.
                method: Method::GET,
                current: "http://h.test/b".into(),
                next: "http://other.test/c".into(),
                hint: None,
                hops: 1,
                previous: vec!["http://h.test/a".into()],
            },
        ]
    );
    Ok(())
}

#[tokio::test]
async fn custom_policy_can_stop() -> Result<(), BoxError> {
    let policy = Policy::custom(|attempt| {
        if attempt.next().host() == Some("h.test") {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    let (service, log) = mock(|seen: &Seen| match seen.uri.path() {
        "/a" => redirect(302, "/b"),
        "/b" => redirect(302, "http://other.test/c"),
        _ => ok("done"),
    });
    let response = RedirectLayer::new(policy)
        .layer(service)
        .oneshot(get("http://h.test/a"))
        .await?;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(effective_uri(&response).as_deref(), Some("http://h.test/b"));
    assert_eq!(history(&response), Some(vec!["http://h.test/a".to_owned()]));
    assert_eq!(seen(&log).len(), 2);
    Ok(())
}

#[derive(Debug, PartialEq)]
struct Refused(&'static str);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused: {}", self.0)
    }
}

impl std::error::Error for Refused {}

#[tokio::test]
async fn custom_policy_error_is_wrapped_with_the_history() -> Result<(), BoxError> {
    let policy = Policy::custom(|attempt| attempt.error(Refused("no thanks")));
    let (service, log) = mock(one_hop(301));
    let err = RedirectLayer::new(policy)
        .layer(service)
        .oneshot(get("http://h.test/a"))
        .await
        .err()
        .ok_or("the policy error must fail the request")?;
    assert_eq!(find_cause::<Refused>(&*err), Some(&Refused("no thanks")));
    let err = redirect_error(&err)?;
    assert_eq!(err.kind(), RedirectErrorKind::Policy);
    assert_eq!(strings(err.history()), ["http://h.test/a"]);
    assert_eq!(
        err.location().map(Uri::to_string).as_deref(),
        Some("http://h.test/b")
    );
    assert!(err.source().is_some());
    assert_eq!(seen(&log).len(), 1);
    Ok(())
}

#[tokio::test]
async fn custom_policy_can_raise_too_many_redirects() -> Result<(), BoxError> {
    let policy = Policy::custom(|attempt| {
        if attempt.hops() >= 1 {
            attempt.too_many_redirects()
        } else {
            attempt.follow()
        }
    });
    let (service, _) = mock(chain(5));
    let err = RedirectLayer::new(policy)
        .layer(service)
        .oneshot(get("http://h.test/0"))
        .await
        .err()
        .ok_or("must fail")?;
    let err = redirect_error(&err)?;
    assert!(err.is_too_many_redirects());
    assert_eq!(err.history().len(), 2);
    Ok(())
}

// ---------------------------------------------------------------------------
// methods and bodies
// ---------------------------------------------------------------------------

fn with_body_headers(mut request: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from_static("7"));
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("identity"));
    headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    headers.insert("x-other", HeaderValue::from_static("kept"));
    request
}

#[tokio::test]
async fn keep_post_keeps_a_post_and_its_body_on_the_statuses_named() -> Result<(), BoxError> {
    let layer = RedirectLayer::default()
        .keep_post(StatusCode::MOVED_PERMANENTLY)
        .keep_post(StatusCode::SEE_OTHER)
        .keep_post(StatusCode::OK);
    // (status, method, expected method, body kept)
    let cases = [
        (301, Method::POST, Method::POST, true),
        (302, Method::POST, Method::GET, false),
        (303, Method::POST, Method::POST, true),
        (303, Method::PUT, Method::GET, false),
        (307, Method::POST, Method::POST, true),
    ];
    for (status, method, expected, kept) in cases {
        let case = format!("{status} {method}");
        let (service, log) = mock(one_hop(status));
        let response = layer
            .clone()
            .layer(service)
            .oneshot(with_body_headers(request(
                method,
                "http://h.test/a",
                "payload",
            )))
            .await?;
        assert_eq!(response.status(), StatusCode::OK, "{case}");
        let hop = &seen(&log)[1];
        assert_eq!(hop.method, expected, "{case}");
        assert_eq!(body_of(hop), if kept { "payload" } else { "" }, "{case}");
        assert_eq!(hop.headers.contains_key(CONTENT_TYPE), kept, "{case}");
    }
    Ok(())
}

#[tokio::test]
async fn method_and_body_follow_rfc_9110() -> Result<(), BoxError> {
    // (status, method, expected method, body kept)
    let cases = [
        (301, Method::POST, Method::GET, false),
        (302, Method::POST, Method::GET, false),
        (301, Method::PUT, Method::PUT, true),
        (302, Method::DELETE, Method::DELETE, true),
        (302, Method::PATCH, Method::PATCH, true),
        (303, Method::POST, Method::GET, false),
        (303, Method::PUT, Method::GET, false),
        (303, Method::DELETE, Method::GET, false),
        (303, Method::GET, Method::GET, false),
        (303, Method::HEAD, Method::HEAD, false),
        (307, Method::POST, Method::POST, true),
        (307, Method::PATCH, Method::PATCH, true),
        (308, Method::PUT, Method::PUT, true),
        (308, Method::POST, Method::POST, true),
    ];
    for (status, method, expected, kept) in cases {
        let case = format!("{status} {method}");
        let (service, log) = mock(one_hop(status));
        let response = RedirectLayer::default()
            .layer(service)
            .oneshot(with_body_headers(request(
                method.clone(),
                "http://h.test/a",
                "payload",
            )))
            .await?;
        assert_eq!(response.status(), StatusCode::OK, "{case}");
        let seen = seen(&log);
        assert_eq!(seen.len(), 2, "{case}");
        assert_eq!(body_of(&seen[0]), "payload", "{case}");
        let hop = &seen[1];
        assert_eq!(hop.method, expected, "{case}");
        assert_eq!(
            hop.headers.get("x-other").map(|v| v.as_bytes()),
            Some(&b"kept"[..])
        );
        let body_headers = [
            CONTENT_TYPE,
            CONTENT_LENGTH,
            CONTENT_ENCODING,
            TRANSFER_ENCODING,
        ];
        if kept {
            assert_eq!(body_of(hop), "payload", "{case}");
            assert!(hop.replay, "{case}: the body is replayed");
            for name in &body_headers {
                assert!(hop.headers.contains_key(name), "{case}: {name} kept");
            }
        } else {
            assert_eq!(body_of(hop), "", "{case}");
            assert!(hop.empty, "{case}: the body is dropped");
            for name in &body_headers {
                assert!(!hop.headers.contains_key(name), "{case}: {name} removed");
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn dropped_body_stays_dropped_on_a_later_307() -> Result<(), BoxError> {
    let (service, log) = mock(|seen: &Seen| match seen.uri.path() {
        "/a" => redirect(303, "/b"),
        "/b" => redirect(307, "/c"),
        _ => ok("done"),
    });
    RedirectLayer::default()
        .layer(service)
        .oneshot(with_body_headers(request(
            Method::POST,
            "http://h.test/a",
            "payload",
        )))
        .await?;
    let seen = seen(&log);
    assert_eq!(seen[2].method, Method::GET);
    assert_eq!(body_of(&seen[2]), "");
    assert!(!seen[2].headers.contains_key(CONTENT_TYPE));
    Ok(())
}

#[tokio::test]
async fn streaming_body_is_replayed_on_307() -> Result<(), BoxError> {
    let (tx, rx) = channel();
    tx.data("stream");
    tx.data("ing");
    drop(tx);
    let mut first = Request::new(rx);
    *first.method_mut() = Method::PUT;
    *first.uri_mut() = "http://h.test/a".parse()?;
    let (service, log) = mock(one_hop(307));
    let response = RedirectLayer::default()
        .layer(service)
        .oneshot(first)
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let seen = seen(&log);
    assert_eq!(body_of(&seen[0]), "streaming");
    assert_eq!(seen[1].method, Method::PUT);
    assert_eq!(body_of(&seen[1]), "streaming");
    Ok(())
}

#[tokio::test]
async fn body_unread_before_an_early_307_is_replayed_in_full() -> Result<(), BoxError> {
    let (tx, rx) = channel();
    tx.data("late ");
    tx.data("body");
    drop(tx);
    let bodies: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    // Answers /a without reading the body, as a server responding early would.
    let service = service_fn({
        let bodies = Arc::clone(&bodies);
        move |request: Request<ResendBody<crate::test_util::ChannelBody>>| {
            let bodies = Arc::clone(&bodies);
            async move {
                if request.uri().path() == "/a" {
                    return Ok::<_, BoxError>(redirect(308, "/b"));
                }
                let body = request.into_body().collect().await?.to_bytes();
                lock(&bodies).push(body);
                Ok(ok("done"))
            }
        }
    });
    let mut first = Request::new(rx);
    *first.method_mut() = Method::POST;
    *first.uri_mut() = "http://h.test/a".parse()?;
    RedirectLayer::default()
        .layer(service)
        .oneshot(first)
        .await?;
    assert_eq!(*lock(&bodies), [Bytes::from("late body")]);
    Ok(())
}

#[tokio::test]
async fn body_over_the_replay_cap_fails_a_307_clearly() -> Result<(), BoxError> {
    for status in [307, 308] {
        let (service, log) = mock(one_hop(status));
        let err = RedirectLayer::default()
            .max_replay_body_bytes(4)
            .layer(service)
            .oneshot(request(Method::POST, "http://h.test/a", "more than four"))
            .await
            .err()
            .ok_or("a body that cannot be replayed must fail the redirect")?;
        assert_eq!(
            find_cause::<ReplayError>(&*err),
            Some(&ReplayError::CapExceeded { cap: 4 })
        );
        let err = redirect_error(&err)?;
        assert_eq!(err.kind(), RedirectErrorKind::BodyNotReplayable);
        assert_eq!(strings(err.history()), ["http://h.test/a"]);
        // The first request went out whole; no second request, and never an empty one.
        let seen = seen(&log);
        assert_eq!(seen.len(), 1);
        assert_eq!(body_of(&seen[0]), "more than four");
        assert!(
            !seen[0].replay,
            "a body known to exceed the cap is not recorded"
        );
    }
    Ok(())
}

#[tokio::test]
async fn streaming_body_that_outgrew_the_cap_fails_a_307() -> Result<(), BoxError> {
    let (tx, rx) = channel();
    tx.data("abc");
    tx.data("defgh");
    drop(tx);
    let mut first = Request::new(rx);
    *first.method_mut() = Method::POST;
    *first.uri_mut() = "http://h.test/a".parse()?;
    let (service, log) = mock(one_hop(307));
    let err = RedirectLayer::default()
        .max_replay_body_bytes(4)
        .layer(service)
        .oneshot(first)
        .await
        .err()
        .ok_or("must fail")?;
    assert_eq!(
        redirect_error(&err)?.kind(),
        RedirectErrorKind::BodyNotReplayable
    );
    assert_eq!(
        find_cause::<ReplayError>(&*err),
        Some(&ReplayError::CapExceeded { cap: 4 })
    );
    assert_eq!(seen(&log).len(), 1);
    Ok(())
}

#[tokio::test]
async fn body_over_the_cap_is_fine_when_the_redirect_drops_it() -> Result<(), BoxError> {
    let (service, log) = mock(one_hop(303));
    let response = RedirectLayer::default()
        .max_replay_body_bytes(4)
        .layer(service)
        .oneshot(request(Method::POST, "http://h.test/a", "more than four"))
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(seen(&log)[1].method, Method::GET);
    Ok(())
}

#[tokio::test]
async fn empty_body_is_not_recorded_and_replays_empty() -> Result<(), BoxError> {
    let (service, log) = mock(one_hop(307));
    let mut first = Request::new(Empty::<Bytes>::new());
    *first.method_mut() = Method::POST;
    *first.uri_mut() = "http://h.test/a".parse()?;
    RedirectLayer::default()
        .layer(service)
        .oneshot(first)
        .await?;
    let seen = seen(&log);
    assert!(!seen[0].replay && !seen[0].empty, "sent as it is");
    assert_eq!(seen[1].method, Method::POST);
    assert!(seen[1].empty);
    Ok(())
}

#[tokio::test]
async fn non_empty_body_is_recorded_for_replay() -> Result<(), BoxError> {
    let (service, log) = mock(|_: &Seen| ok("done"));
    RedirectLayer::default()
        .layer(service)
        .oneshot(request(Method::POST, "http://h.test/a", "x"))
        .await?;
    assert!(seen(&log)[0].replay);
    Ok(())
}

// ---------------------------------------------------------------------------
// Location
// ---------------------------------------------------------------------------

#[test]
fn location_resolution() -> Result<(), BoxError> {
    let current: Uri = "http://h.test/a/b/c?q=1".parse()?;
    let cases = [
        ("d", "http://h.test/a/b/d"),
        ("../x/./y", "http://h.test/a/x/y"),
        ("../../../../up", "http://h.test/up"),
        ("/abs/./p/../q", "http://h.test/abs/q"),
        ("?z=2", "http://h.test/a/b/c?z=2"),
        ("./", "http://h.test/a/b/"),
        ("//other.test/p", "http://other.test/p"),
        ("https://s.test:8443/x?y", "https://s.test:8443/x?y"),
        ("HTTP://UPPER.test/P", "http://upper.test/P"),
        (
            "http://h.test:80/default-port",
            "http://h.test/default-port",
        ),
        ("/with space", "http://h.test/with%20space"),
    ];
    for (location, expected) in cases {
        let resolved = resolve(&current, None, location.as_bytes())
            .ok_or_else(|| format!("{location} must resolve"))?;
        assert_eq!(resolved.uri, expected, "{location}");
        assert_eq!(resolved.fragment, None, "{location}");
    }
    Ok(())
}

#[test]
fn location_fragment_carries_over_unless_replaced() -> Result<(), BoxError> {
    let current: Uri = "http://h.test/a".parse()?;
    let kept = resolve(&current, Some("top"), b"/b").ok_or("resolves")?;
    assert_eq!(kept.uri, "http://h.test/b");
    assert_eq!(kept.fragment.as_deref(), Some("top"));
    let replaced = resolve(&current, Some("top"), b"/c#sec").ok_or("resolves")?;
    assert_eq!(replaced.uri, "http://h.test/c");
    assert_eq!(replaced.fragment.as_deref(), Some("sec"));
    let none = resolve(&current, None, b"/d").ok_or("resolves")?;
    assert_eq!(none.fragment, None);
    Ok(())
}

#[test]
fn location_with_raw_non_ascii_bytes_is_percent_encoded() -> Result<(), BoxError> {
    let current: Uri = "http://h.test/a".parse()?;
    let latin1 = resolve(&current, None, b"/caf\xe9").ok_or("resolves")?;
    assert_eq!(latin1.uri, "http://h.test/caf%E9");
    let utf8 = resolve(&current, None, "/café".as_bytes()).ok_or("resolves")?;
    assert_eq!(utf8.uri, "http://h.test/caf%C3%A9");
    Ok(())
}

#[test]
fn unusable_locations_do_not_resolve() -> Result<(), BoxError> {
    let current: Uri = "http://h.test/a".parse()?;
    for location in ["http://[::1", "http://", "http://exa mple.test/"] {
        assert_eq!(
            resolve(&current, None, location.as_bytes()),
            None,
            "{location}"
        );
    }
    // A relative Location needs an absolute base.
    let origin_form: Uri = "/only-a-path".parse()?;
    assert_eq!(resolve(&origin_form, None, b"next"), None);
    assert!(resolve(&origin_form, None, b"http://h.test/abs").is_some());
    Ok(())
}

#[tokio::test]
async fn relative_location_is_resolved_through_the_layer() -> Result<(), BoxError> {
    let (service, log) = mock(|seen: &Seen| {
        if seen.uri.path() == "/dir/sub/page" {
            redirect(302, "../other/./x?k=v")
        } else {
            ok("done")
        }
    });
    let response = RedirectLayer::default()
        .layer(service)
        .oneshot(get("http://h.test/dir/sub/page?q"))
        .await?;
    assert_eq!(
        effective_uri(&response).as_deref(),
        Some("http://h.test/dir/other/x?k=v")
    );
    assert_eq!(seen(&log)[1].uri, "http://h.test/dir/other/x?k=v");
    Ok(())
}

#[tokio::test]
async fn fragment_is_tracked_across_hops() -> Result<(), BoxError> {
    let (service, _) = mock(|seen: &Seen| match seen.uri.path() {
        "/a" => redirect(302, "/b"),
        "/b" => redirect(302, "/c#sec"),
        "/c" => redirect(302, "/d"),
        _ => ok("done"),
    });
    let layer = RedirectLayer::default();
    let mut first = get("http://h.test/a");
    first.extensions_mut().insert(Fragment("top".into()));

    // /a#top -> /b keeps "top"; stop there with a policy to look.
    let stop_at_b = layer
        .clone()
        .policy(Policy::custom(|attempt| {
            if attempt.current().path() == "/b" {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .layer(service.clone());
    let mut again = get("http://h.test/a");
    again.extensions_mut().insert(Fragment("top".into()));
    let at_b = stop_at_b.oneshot(again).await?;
    assert_eq!(
        at_b.extensions().get::<Fragment>(),
        Some(&Fragment("top".into()))
    );

    // ... /c#sec replaces it, and /d (no fragment) keeps "sec".
    let response = layer.layer(service.clone()).oneshot(first).await?;
    assert_eq!(effective_uri(&response).as_deref(), Some("http://h.test/d"));
    assert_eq!(
        response.extensions().get::<Fragment>(),
        Some(&Fragment("sec".into()))
    );

    // Without a fragment anywhere, there is no Fragment extension.
    let (plain, _) = mock(one_hop(302));
    let response = RedirectLayer::default()
        .layer(plain)
        .oneshot(get("http://h.test/a"))
        .await?;
    assert_eq!(response.extensions().get::<Fragment>(), None);
    Ok(())
}

#[tokio::test]
async fn non_http_location_is_rejected() -> Result<(), BoxError> {
    for location in ["ftp://h.test/file", "myapp://callback?code=1"] {
        let (service, log) = mock(move |_: &Seen| redirect(302, location));
        let err = RedirectLayer::default()
            .layer(service)
            .oneshot(get("http://h.test/a"))
            .await
            .err()
            .ok_or("a non-http Location must fail")?;
        let err = redirect_error(&err)?;
        assert_eq!(
            err.kind(),
            RedirectErrorKind::UnsupportedScheme,
            "{location}"
        );
        let refused = err.location().ok_or("the refused Location is kept")?;
        let expected: Uri = location.parse()?;
        assert_eq!(
            (refused.scheme_str(), refused.host()),
            (expected.scheme_str(), expected.host())
        );
        assert_eq!(seen(&log).len(), 1);
    }
    Ok(())
}

#[tokio::test]
async fn custom_policy_can_stop_at_a_non_http_location() -> Result<(), BoxError> {
    let (service, _) = mock(|_: &Seen| redirect(302, "myapp://callback?code=1"));
    let policy = Policy::custom(|attempt| {
        if attempt.next().scheme_str() == Some("myapp") {
            attempt.stop()
        } else {
            attempt.follow()
        }
    });
    let response = RedirectLayer::new(policy)
        .layer(service)
        .oneshot(get("http://h.test/a"))
        .await?;
    assert_eq!(response.status(), StatusCode::FOUND);
    Ok(())
}

#[tokio::test]
async fn invalid_location_is_an_error() -> Result<(), BoxError> {
    let (service, log) = mock(|_: &Seen| redirect(301, "http://[::1"));
    let err = RedirectLayer::default()
        .layer(service)
        .oneshot(get("http://h.test/a"))
        .await
        .err()
        .ok_or("an invalid Location must fail")?;
    let err = redirect_error(&err)?;
    assert_eq!(err.kind(), RedirectErrorKind::InvalidLocation);
    assert_eq!(err.location(), None);
    assert_eq!(strings(err.history()), ["http://h.test/a"]);
    assert_eq!(seen(&log).len(), 1);
    Ok(())
}

#[tokio::test]
async fn none_policy_ignores_even_an_invalid_location() -> Result<(), BoxError> {
    let (service, _) = mock(|_: &Seen| redirect(301, "http://[::1"));
    let response = RedirectLayer::new(Policy::none())
        .layer(service)
        .oneshot(get("http://h.test/a"))
        .await?;
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    Ok(())
}

// ---------------------------------------------------------------------------
// credentials, https_only, Referer
// ---------------------------------------------------------------------------

fn with_credentials(mut request: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let headers = request.headers_mut();
    headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer secret"));
    headers.insert(COOKIE, HeaderValue::from_static("session=1"));
    headers.insert(
        PROXY_AUTHORIZATION,
        HeaderValue::from_static("Basic cHJveHk="),
    );
    headers.insert(HOST, HeaderValue::from_static("h.test"));
    let mut key = HeaderValue::from_static("k-123");
    key.set_sensitive(true);
    headers.insert("x-api-key", key);
    headers.insert("x-plain", HeaderValue::from_static("public"));
    request
}

const CREDENTIALS: [&str; 5] = [
    "authorization",
    "cookie",
    "proxy-authorization",
    "host",
    "x-api-key",
];

#[tokio::test]
async fn credentials_are_removed_when_the_origin_changes() -> Result<(), BoxError> {
    let cases = [
        ("http://other.test/b", false, "another host"),
        ("http://h.test:8080/b", false, "another port"),
        ("https://h.test/b", false, "another scheme"),
        ("/b", true, "same origin"),
        ("http://H.TEST/b", true, "host case"),
        ("http://h.test:80/b", true, "explicit default port"),
    ];
    for (location, same, case) in cases {
        let (service, log) = mock(move |seen: &Seen| {
            if seen.uri.path() == "/a" {
                redirect(302, location)
            } else {
                ok("done")
            }
        });
        RedirectLayer::default()
            .layer(service)
            .oneshot(with_credentials(get("http://h.test/a")))
            .await?;
        let seen = seen(&log);
        assert_eq!(seen.len(), 2, "{case}");
        for name in CREDENTIALS {
            assert!(seen[0].headers.contains_key(name), "{case}: {name} first");
            assert_eq!(
                seen[1].headers.contains_key(name),
                same,
                "{case}: {name} on the hop"
            );
        }
        assert!(seen[1].headers.contains_key("x-plain"), "{case}");
    }
    Ok(())
}

#[tokio::test]
async fn removed_credentials_stay_removed_back_on_the_first_origin() -> Result<(), BoxError> {
    let (service, log) = mock(|seen: &Seen| match (seen.uri.host(), seen.uri.path()) {
        (Some("h.test"), "/a") => redirect(302, "http://other.test/b"),
        (Some("other.test"), _) => redirect(302, "http://h.test/c"),
        _ => ok("done"),
    });
    RedirectLayer::default()
        .layer(service)
        .oneshot(with_credentials(get("http://h.test/a")))
        .await?;
    let seen = seen(&log);
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].uri, "http://h.test/c");
    for name in CREDENTIALS {
        assert!(!seen[2].headers.contains_key(name), "{name}");
    }
    Ok(())
}

#[tokio::test]
async fn https_only_refuses_an_http_hop() -> Result<(), BoxError> {
    let (service, log) = mock(|seen: &Seen| match seen.uri.path() {
        "/a" => redirect(302, "https://h.test/b"),
        "/b" => redirect(302, "http://h.test/c"),
        _ => ok("done"),
    });
    let err = RedirectLayer::default()
        .https_only(true)
        .layer(service.clone())
        .oneshot(get("https://h.test/a"))
        .await
        .err()
        .ok_or("the http hop must be refused")?;
    let err = redirect_error(&err)?;
    assert_eq!(err.kind(), RedirectErrorKind::InsecureRedirect);
    assert_eq!(
        strings(err.history()),
        ["https://h.test/a", "https://h.test/b"]
    );
    assert_eq!(
        err.location().map(Uri::to_string).as_deref(),
        Some("http://h.test/c")
    );
    assert_eq!(
        seen(&log).len(),
        2,
        "the https hop was followed, the http one not"
    );

    // Off by default.
    let response = RedirectLayer::default()
        .layer(service)
        .oneshot(get("https://h.test/a"))
        .await?;
    assert_eq!(effective_uri(&response).as_deref(), Some("http://h.test/c"));
    Ok(())
}

#[test]
fn referer_values() -> Result<(), BoxError> {
    use super::location::referer;
    let cases = [
        // same origin: full URI without userinfo
        (
            "http://user:pw@h.test/a/b?q=1",
            "http://h.test/c",
            Some("http://h.test/a/b?q=1"),
        ),
        (
            "https://h.test:8443/p",
            "https://h.test:8443/x",
            Some("https://h.test:8443/p"),
        ),
        // cross origin: origin only
        (
            "http://h.test/a?secret=1",
            "http://other.test/",
            Some("http://h.test/"),
        ),
        (
            "http://h.test:8080/a",
            "http://h.test/b",
            Some("http://h.test:8080/"),
        ),
        (
            "http://h.test/a",
            "https://h.test/a",
            Some("http://h.test/"),
        ),
        (
            "https://h.test/a",
            "https://other.test/",
            Some("https://h.test/"),
        ),
        // never https -> http
        ("https://h.test/a", "http://h.test/a", None),
        ("https://h.test/a", "http://other.test/", None),
    ];
    for (from, to, expected) in cases {
        let value = referer(&from.parse()?, &to.parse()?);
        assert_eq!(
            value.as_ref().map(HeaderValue::as_bytes),
            expected.map(str::as_bytes),
            "{from} -> {to}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn referer_is_off_by_default_and_follows_the_policy_when_on() -> Result<(), BoxError> {
    let route = |seen: &Seen| match (seen.uri.host(), seen.uri.path()) {
        (Some("h.test"), "/a") => redirect(302, "/b?x=1"),
        (Some("h.test"), "/b") => redirect(302, "https://other.test/c"),
        (Some("other.test"), "/c") => redirect(302, "http://h.test/d"),
        _ => ok("done"),
    };
    let (service, log) = mock(route);
    RedirectLayer::default()
        .layer(service)
        .oneshot(get("http://h.test/a"))
        .await?;
    assert!(seen(&log).iter().all(|s| !s.headers.contains_key(REFERER)));

    let (service, log) = mock(route);
    let mut first = get("http://h.test/a");
    first
        .headers_mut()
        .insert(REFERER, HeaderValue::from_static("http://caller.test/"));
    RedirectLayer::default()
        .referer(true)
        .layer(service)
        .oneshot(first)
        .await?;
    let referers: Vec<Option<String>> = seen(&log)
        .iter()
        .map(|s| {
            s.headers
                .get(REFERER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        referers,
        [
            Some("http://caller.test/".to_owned()),
            // same origin: full URI
            Some("http://h.test/a".to_owned()),
            // cross origin: origin only
            Some("http://h.test/".to_owned()),
            // https -> http: none, not even the stale one
            None,
        ]
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// draining redirect bodies
// ---------------------------------------------------------------------------

/// A response body of `frames` frames of `size` bytes (endless when `None`), counting what
/// was read.
struct Frames {
    left: Option<usize>,
    size: usize,
    read: Arc<AtomicUsize>,
    exact: Option<u64>,
}

impl Body for Frames {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.left {
            Some(0) => return Poll::Ready(None),
            Some(n) => self.left = Some(n - 1),
            None => {}
        }
        self.read.fetch_add(self.size, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; self.size])))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        self.exact
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

/// `/a` redirects with a `Frames` body; `/b` records how much of it had been read by then.
async fn drain_case(
    frames: Option<usize>,
    size: usize,
    exact: Option<u64>,
) -> Result<(usize, usize), BoxError> {
    let read = Arc::new(AtomicUsize::new(0));
    let read_when_b_arrived = Arc::new(AtomicUsize::new(usize::MAX));
    let (service, _) = mock({
        let read = Arc::clone(&read);
        let at_b = Arc::clone(&read_when_b_arrived);
        move |seen: &Seen| {
            if seen.uri.path() == "/a" {
                let mut response = Response::new(
                    Frames {
                        left: frames,
                        size,
                        read: Arc::clone(&read),
                        exact,
                    }
                    .boxed(),
                );
                *response.status_mut() = StatusCode::FOUND;
                response
                    .headers_mut()
                    .insert(LOCATION, HeaderValue::from_static("/b"));
                response
            } else {
                at_b.store(read.load(Ordering::SeqCst), Ordering::SeqCst);
                ok("done")
            }
        }
    });
    let response = RedirectLayer::default()
        .layer(service)
        .oneshot(get("http://h.test/a"))
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    Ok((
        read_when_b_arrived.load(Ordering::SeqCst),
        read.load(Ordering::SeqCst),
    ))
}

#[tokio::test]
async fn redirect_body_is_drained_before_the_next_hop() -> Result<(), BoxError> {
    let (at_b, total) = drain_case(Some(3), 1024, None).await?;
    assert_eq!(at_b, 3 * 1024);
    assert_eq!(total, 3 * 1024);
    Ok(())
}

#[tokio::test]
async fn drain_stops_at_the_cap() -> Result<(), BoxError> {
    // An endless body: the drain gives up past MAX_DRAIN_BYTES and the hop goes on.
    let (at_b, _) = drain_case(None, 1024, None).await?;
    assert!(at_b > MAX_DRAIN_BYTES, "read {at_b}");
    assert!(at_b <= MAX_DRAIN_BYTES + 1024, "read {at_b}");
    Ok(())
}

#[tokio::test]
async fn body_known_to_exceed_the_drain_cap_is_not_read() -> Result<(), BoxError> {
    let exact = u64::try_from(MAX_DRAIN_BYTES)? + 1;
    let (at_b, total) = drain_case(Some(100), 1024, Some(exact)).await?;
    assert_eq!((at_b, total), (0, 0));
    Ok(())
}

// ---------------------------------------------------------------------------
// service contract
// ---------------------------------------------------------------------------

/// A service that fails a `call` not preceded by a successful `poll_ready` on the same
/// instance (clones start unready), and counts `poll_ready` calls.
struct Strict<S> {
    inner: S,
    ready: bool,
    polls: Arc<AtomicUsize>,
}

impl<S: Clone> Clone for Strict<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            ready: false,
            polls: Arc::clone(&self.polls),
        }
    }
}

impl<S, R> Service<R> for Strict<S>
where
    S: Service<R, Error = BoxError>,
    S::Future: Send + 'static,
    S::Response: 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        let polled = self.inner.poll_ready(cx);
        if matches!(polled, Poll::Ready(Ok(()))) {
            self.ready = true;
        }
        polled
    }

    fn call(&mut self, request: R) -> Self::Future {
        if !std::mem::replace(&mut self.ready, false) {
            return Box::pin(async { Err::<S::Response, BoxError>("called before ready".into()) });
        }
        Box::pin(self.inner.call(request))
    }
}

#[tokio::test]
async fn every_hop_readies_the_service_first() -> Result<(), BoxError> {
    let polls = Arc::new(AtomicUsize::new(0));
    let (inner, log) = mock(chain(2));
    let service = RedirectLayer::default().layer(Strict {
        inner,
        ready: false,
        polls: Arc::clone(&polls),
    });
    let response = service.oneshot(get("http://h.test/0")).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(seen(&log).len(), 3);
    assert_eq!(polls.load(Ordering::SeqCst), 3);
    Ok(())
}

#[tokio::test]
async fn version_and_extensions_carry_over() -> Result<(), BoxError> {
    #[derive(Clone, Debug, PartialEq)]
    struct Marker(u8);
    let (service, log) = mock(one_hop(302));
    let mut first = get("http://h.test/a");
    *first.version_mut() = Version::HTTP_2;
    first.extensions_mut().insert(Marker(7));
    RedirectLayer::default()
        .layer(service)
        .oneshot(first)
        .await?;
    let seen = seen(&log);
    assert_eq!(seen[1].version, Version::HTTP_2);
    assert_eq!(seen[1].extensions.get::<Marker>(), Some(&Marker(7)));
    Ok(())
}

#[derive(Debug, PartialEq)]
struct Broken;

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("broken")
    }
}

impl std::error::Error for Broken {}

#[tokio::test]
async fn inner_errors_pass_through_unchanged() -> Result<(), BoxError> {
    let service = service_fn(|request: Request<ResendBody<Full<Bytes>>>| async move {
        if request.uri().path() == "/a" {
            Ok(redirect(302, "/b"))
        } else {
            Err::<Response<TestBody>, BoxError>(Box::new(Broken))
        }
    });
    let err = RedirectLayer::default()
        .layer(service)
        .oneshot(get("http://h.test/a"))
        .await
        .err()
        .ok_or("the second hop's error must surface")?;
    assert!(err.downcast_ref::<Broken>().is_some(), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn error_display_and_debug_carry_no_uri() -> Result<(), BoxError> {
    let (service, _) = mock(|_: &Seen| redirect(302, "/again?token=secret"));
    let err = RedirectLayer::new(Policy::limited(1))
        .layer(service)
        .oneshot(get("http://user:pw@h.test/a?token=secret"))
        .await
        .err()
        .ok_or("must fail")?;
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("secret"), "{text}");
        assert!(!text.contains("pw"), "{text}");
    }
    assert_eq!(
        err.to_string(),
        "too many redirects (after following 1 redirect)"
    );
    Ok(())
}

#[test]
fn polling_after_completion_is_an_error_not_a_panic() {
    let (service, _) = mock(|_: &Seen| ok("done"));
    let mut service = RedirectLayer::default().layer(service);
    let probe = Probe::new();
    let mut future = Box::pin(service.call(get("http://h.test/a")));
    assert!(matches!(probe.poll(future.as_mut()), Poll::Ready(Ok(_))));
    assert!(matches!(probe.poll(future.as_mut()), Poll::Ready(Err(_))));
}

#[tokio::test]
async fn response_future_is_send() -> Result<(), BoxError> {
    fn assert_send<T: Send>(value: T) -> T {
        value
    }
    let (service, _) = mock(one_hop(302));
    let future = assert_send(
        RedirectLayer::default()
            .layer(service)
            .oneshot(get("http://h.test/a")),
    );
    assert_eq!(future.await?.status(), StatusCode::OK);
    Ok(())
}

/// Each followed hop is reported to the request's `RedirectObserver`, which travels to
/// every hop.
#[tokio::test]
async fn each_followed_hop_is_reported_to_the_requests_observer() -> Result<(), BoxError> {
    let hops = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&hops);
    let mut request = get("http://h.test/0");
    request.extensions_mut().insert(RedirectObserver::new(
        move |from: &Uri, to: &Uri, status| {
            lock(&seen).push((from.to_string(), to.to_string(), status.as_u16()));
        },
    ));
    let (service, _) = mock(chain(2));
    RedirectLayer::default()
        .layer(service)
        .oneshot(request)
        .await?;
    assert_eq!(
        *lock(&hops),
        [
            (
                "http://h.test/0".to_owned(),
                "http://h.test/1".to_owned(),
                302
            ),
            (
                "http://h.test/1".to_owned(),
                "http://h.test/2".to_owned(),
                302
            ),
        ]
    );
    Ok(())
}

/// An observer of responses sees the head of every followed redirect, and not the final
/// response.
#[tokio::test]
async fn each_followed_redirect_response_head_is_reported() -> Result<(), BoxError> {
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&heads);
    let mut request = get("http://h.test/0");
    request.extensions_mut().insert(RedirectObserver::responses(
        move |response: &RedirectResponse<'_>| {
            lock(&seen).push((
                response.uri.to_string(),
                response.location.to_string(),
                response.status.as_u16(),
                response.headers.get(LOCATION).cloned(),
            ));
        },
    ));
    let (service, _) = mock(chain(2));
    let response = RedirectLayer::default()
        .layer(service)
        .oneshot(request)
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        *lock(&heads),
        [
            (
                "http://h.test/0".to_owned(),
                "http://h.test/1".to_owned(),
                302,
                Some(HeaderValue::from_static("/1"))
            ),
            (
                "http://h.test/1".to_owned(),
                "http://h.test/2".to_owned(),
                302,
                Some(HeaderValue::from_static("/2"))
            ),
        ]
    );
    Ok(())
}
