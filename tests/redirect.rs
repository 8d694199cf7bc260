#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! `RedirectLayer` over the bare transport (`Transport` + `HttpConnector`, no facade),
//! against the in-process servers of `towline-test-support`.

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HeaderValue, LOCATION, REFERER,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt};
use towline::towline_layers::error::find_cause;
use towline::towline_layers::redirect::{
    Fragment, Policy, RedirectError, RedirectErrorKind, RedirectHistory, RedirectLayer,
};
use towline::towline_layers::replay::ReplayError;
use towline::towline_layers::resend::ResendBody;
use towline::towline_layers::{BoxError, EffectiveUri};
use towline::towline_services::connect::{HttpConnector, TcpConfig};
use towline::towline_services::rt::tokio::TokioRuntime;
use towline::towline_services::transport::{ResponseBody, Transport, TransportConfig};
use towline_test_support::{TestServer, response};

type Body = Full<Bytes>;
type Resp = Response<ResponseBody<ResendBody<Body>>>;

/// The bare transport with `layer` on top.
fn stack(
    layer: RedirectLayer,
) -> impl tower::Service<Request<Body>, Response = Resp, Error = BoxError> + Clone {
    let connector = HttpConnector::new(TokioRuntime, TcpConfig::default());
    let transport: Transport<_, ResendBody<Body>, _> =
        Transport::new(connector, TokioRuntime, TransportConfig::default());
    ServiceBuilder::new().layer(layer).service(transport)
}

fn request(method: Method, url: &str, body: &'static str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

fn get(url: &str) -> Request<Body> {
    request(Method::GET, url, "")
}

/// `/redirect?to=TO&status=STATUS` on `server`.
fn redirect_url(server: &TestServer, to: &str, status: u16) -> String {
    let to: String = form_encode(to);
    server.url(&format!("/redirect?to={to}&status={status}"))
}

fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn echo(resp: Resp) -> Value {
    assert_eq!(resp.status(), StatusCode::OK, "echo status");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

/// Every value the echo saw for header `name`.
fn header_values(echo: &Value, name: &str) -> Vec<String> {
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().unwrap().to_owned())
        .collect()
}

fn effective_uri(resp: &Resp) -> String {
    resp.extensions()
        .get::<EffectiveUri>()
        .unwrap()
        .0
        .to_string()
}

/// The redirects followed; a response that was not redirected carries no history.
fn history(resp: &Resp) -> Vec<String> {
    resp.extensions()
        .get::<RedirectHistory>()
        .map_or(&[][..], RedirectHistory::uris)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// `/hop/N` answers 302 to `/hop/N+1` with a body of `body_len` bytes while N < `last`;
/// `/hop/last` answers 200 "arrived". Every other path is 404.
fn hop_server(last: usize, body_len: usize) -> TestServer {
    TestServer::builder()
        .handler(move |req: Request<Bytes>| async move {
            let n: Option<usize> = req
                .uri()
                .path()
                .strip_prefix("/hop/")
                .and_then(|n| n.parse().ok());
            match n {
                Some(n) if n < last => {
                    let mut res = response(302, vec![b'm'; body_len]);
                    res.headers_mut().insert(
                        LOCATION,
                        HeaderValue::from_str(&format!("/hop/{}", n + 1)).unwrap(),
                    );
                    res
                }
                Some(_) => response(200, "arrived"),
                None => response(404, "no such hop"),
            }
        })
        .build()
}

#[tokio::test]
async fn follows_a_chain_and_reuses_the_connection() {
    let server = hop_server(3, 2048);
    let resp = stack(RedirectLayer::default())
        .oneshot(get(&server.url("/hop/0")))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(effective_uri(&resp), server.url("/hop/3"));
    assert_eq!(
        history(&resp),
        [
            server.url("/hop/0"),
            server.url("/hop/1"),
            server.url("/hop/2")
        ]
    );
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "arrived");
    assert_eq!(server.requests(), 4);
    // Each redirect body was drained, so its connection went back to the pool.
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn redirect_body_past_the_drain_cap_is_dropped() {
    // 100 KiB with Content-Length: not worth reading, so the connection closes.
    let server = hop_server(1, 100 * 1024);
    let resp = stack(RedirectLayer::default())
        .oneshot(get(&server.url("/hop/0")))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(server.requests(), 2);
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn temporary_and_permanent_redirects_replay_method_and_body() {
    let server = TestServer::http1();
    for status in [307, 308] {
        let mut req = request(
            Method::POST,
            &redirect_url(&server, "/echo?after=1", status),
            "the payload",
        );
        req.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let resp = stack(RedirectLayer::default()).oneshot(req).await.unwrap();
        let echo = echo(resp).await;
        assert_eq!(echo["method"], "POST", "{status}");
        assert_eq!(echo["body"], "the payload", "{status}");
        assert_eq!(echo["query"], "after=1", "{status}");
        assert_eq!(header_values(&echo, "content-type"), ["text/plain"]);
    }
}

#[tokio::test]
async fn see_other_and_post_301_302_become_get_without_body() {
    let server = TestServer::http1();
    for status in [301, 302, 303] {
        let mut req = request(
            Method::POST,
            &redirect_url(&server, "/echo", status),
            "form=1",
        );
        req.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        req.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from_static("6"));
        let resp = stack(RedirectLayer::default()).oneshot(req).await.unwrap();
        let echo = echo(resp).await;
        assert_eq!(echo["method"], "GET", "{status}");
        assert_eq!(echo["body_len"], 0, "{status}");
        assert!(header_values(&echo, "content-type").is_empty(), "{status}");
        assert!(
            header_values(&echo, "content-length").is_empty(),
            "{status}"
        );
    }
    // 303 keeps HEAD; 301 keeps PUT and its body.
    let resp = stack(RedirectLayer::default())
        .oneshot(request(
            Method::HEAD,
            &redirect_url(&server, "/echo", 303),
            "",
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(effective_uri(&resp), server.url("/echo"));
    let resp = stack(RedirectLayer::default())
        .oneshot(request(
            Method::PUT,
            &redirect_url(&server, "/echo", 301),
            "kept",
        ))
        .await
        .unwrap();
    let echo = echo(resp).await;
    assert_eq!(
        (echo["method"].as_str(), echo["body"].as_str()),
        (Some("PUT"), Some("kept"))
    );
}

#[tokio::test]
async fn body_that_cannot_be_replayed_fails_the_307() {
    let server = TestServer::http1();
    let layer = RedirectLayer::default().max_replay_body_bytes(16);
    let err = stack(layer)
        .oneshot(request(
            Method::POST,
            &redirect_url(&server, "/echo", 307),
            "a body longer than sixteen bytes",
        ))
        .await
        .unwrap_err();
    let redirect = find_cause::<RedirectError>(&*err).expect("a RedirectError");
    assert_eq!(redirect.kind(), RedirectErrorKind::BodyNotReplayable);
    assert_eq!(
        find_cause::<ReplayError>(&*err),
        Some(&ReplayError::CapExceeded { cap: 16 })
    );
    // The 307 was answered; nothing was sent after it.
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn relative_location_with_dot_segments_and_fragment() {
    let server = TestServer::http1();
    let resp = stack(RedirectLayer::default())
        .oneshot(get(&server.url(&format!(
            "/redirect?to={}",
            form_encode("./a/../echo?x=1#part")
        ))))
        .await
        .unwrap();
    assert_eq!(effective_uri(&resp), server.url("/echo?x=1"));
    assert_eq!(
        resp.extensions().get::<Fragment>(),
        Some(&Fragment("part".into()))
    );
    let echo = echo(resp).await;
    assert_eq!(echo["path"], "/echo");
    assert_eq!(echo["query"], "x=1");
}

fn with_credentials(mut req: Request<Body>) -> Request<Body> {
    req.headers_mut()
        .insert(AUTHORIZATION, HeaderValue::from_static("Bearer secret"));
    req.headers_mut()
        .insert(COOKIE, HeaderValue::from_static("session=1"));
    let mut key = HeaderValue::from_static("k-123");
    key.set_sensitive(true);
    req.headers_mut().insert("x-api-key", key);
    req
}

#[tokio::test]
async fn credentials_stay_within_the_origin() {
    let a = TestServer::http1();
    let b = TestServer::http1();

    let resp = stack(RedirectLayer::default())
        .oneshot(with_credentials(get(&redirect_url(&a, "/echo", 302))))
        .await
        .unwrap();
    let same = echo(resp).await;
    assert_eq!(header_values(&same, "authorization"), ["Bearer secret"]);
    assert_eq!(header_values(&same, "cookie"), ["session=1"]);
    assert_eq!(header_values(&same, "x-api-key"), ["k-123"]);

    // Another port is another origin.
    let resp = stack(RedirectLayer::default())
        .oneshot(with_credentials(get(&redirect_url(
            &a,
            &b.url("/echo"),
            302,
        ))))
        .await
        .unwrap();
    assert_eq!(effective_uri(&resp), b.url("/echo"));
    let cross = echo(resp).await;
    assert!(header_values(&cross, "authorization").is_empty());
    assert!(header_values(&cross, "cookie").is_empty());
    assert!(header_values(&cross, "x-api-key").is_empty());
    // The Host header names the new server.
    assert_eq!(
        header_values(&cross, "host"),
        [format!("127.0.0.1:{}", b.addr().port())]
    );
}

#[tokio::test]
async fn referer_when_enabled() {
    let a = TestServer::http1();
    let b = TestServer::http1();
    let resp = stack(RedirectLayer::default().referer(true))
        .oneshot(get(&redirect_url(&a, &b.url("/echo"), 302)))
        .await
        .unwrap();
    let echo_b = echo(resp).await;
    assert_eq!(
        header_values(&echo_b, REFERER.as_str()),
        [format!("http://127.0.0.1:{}/", a.addr().port())]
    );

    let resp = stack(RedirectLayer::default().referer(true))
        .oneshot(get(&redirect_url(&a, "/echo", 302)))
        .await
        .unwrap();
    let echo_a = echo(resp).await;
    assert_eq!(
        header_values(&echo_a, REFERER.as_str()),
        [redirect_url(&a, "/echo", 302)]
    );

    let resp = stack(RedirectLayer::default())
        .oneshot(get(&redirect_url(&a, "/echo", 302)))
        .await
        .unwrap();
    assert!(header_values(&echo(resp).await, REFERER.as_str()).is_empty());
}

#[tokio::test]
async fn redirect_loop_fails_with_the_history() {
    let server = TestServer::builder()
        .handler(|_req: Request<Bytes>| async move {
            let mut res = response(302, "");
            res.headers_mut()
                .insert(LOCATION, HeaderValue::from_static("/loop"));
            res
        })
        .build();
    let err = stack(RedirectLayer::new(Policy::limited(3)))
        .oneshot(get(&server.url("/start")))
        .await
        .unwrap_err();
    let redirect = find_cause::<RedirectError>(&*err).expect("a RedirectError");
    assert!(redirect.is_too_many_redirects());
    assert_eq!(redirect.history().len(), 4);
    assert_eq!(redirect.history()[0].to_string(), server.url("/start"));
    assert_eq!(
        redirect.location().map(ToString::to_string),
        Some(server.url("/loop"))
    );
    assert_eq!(server.requests(), 4);
}

#[tokio::test]
async fn only_redirects_with_a_location_are_followed() {
    // `/N` answers status N with `Location: /echo`; `/bare` answers 302 without one.
    let server = TestServer::builder()
        .handler(|req: Request<Bytes>| async move {
            match req.uri().path() {
                "/echo" => response(200, "followed"),
                "/bare" => response(302, ""),
                path => {
                    let status = path.trim_start_matches('/').parse().unwrap_or(500);
                    let mut res = response(status, "");
                    res.headers_mut()
                        .insert(LOCATION, HeaderValue::from_static("/echo"));
                    res
                }
            }
        })
        .build();
    let stack = stack(RedirectLayer::default());
    for (path, expected) in [
        ("/bare", StatusCode::FOUND),
        ("/304", StatusCode::NOT_MODIFIED),
        ("/300", StatusCode::MULTIPLE_CHOICES),
        ("/201", StatusCode::CREATED),
    ] {
        let resp = stack.clone().oneshot(get(&server.url(path))).await.unwrap();
        assert_eq!(resp.status(), expected, "{path}");
        assert_eq!(history(&resp), Vec::<String>::new(), "{path}");
    }
    assert_eq!(server.requests(), 4);
    // The same server does redirect with a 302 and a Location.
    let resp = stack.oneshot(get(&server.url("/302"))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(server.requests(), 6);
}

#[tokio::test]
async fn https_only_refuses_a_redirect_to_http() {
    let server = TestServer::http1();
    let err = stack(RedirectLayer::default().https_only(true))
        .oneshot(get(&redirect_url(&server, "/echo", 302)))
        .await
        .unwrap_err();
    let redirect = find_cause::<RedirectError>(&*err).expect("a RedirectError");
    assert_eq!(redirect.kind(), RedirectErrorKind::InsecureRedirect);
    assert_eq!(server.requests(), 1);
}
