#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! `CookieLayer` end to end: the bare transport (`Transport` + `HttpConnector`) with the
//! cookie layer on top, against an in-process server. Host names resolve to the server through
//! the connector's overrides, so domain cookies and public suffixes are exercised on real
//! names.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use towline::towline_layers::cookie::{CookieJar, CookieLayer};
use towline::towline_services::connect::{HttpConnector, ResolveOverrides, TcpConfig};
use towline::towline_services::rt::tokio::TokioRuntime;
use towline::towline_services::transport::{Transport, TransportConfig};
use towline_test_support::{TestServer, response};

/// A server that answers with the status of `x-status` (default 200), a `Set-Cookie` for each
/// `x-set-cookie` request header, and the request's `Cookie` header as the body.
fn cookie_server() -> TestServer {
    TestServer::builder()
        .handler(|request: Request<Bytes>| async move {
            let status = request
                .headers()
                .get("x-status")
                .and_then(|value| value.to_str().ok()?.parse().ok())
                .unwrap_or(200);
            let cookie = request
                .headers()
                .get(COOKIE)
                .map(|value| value.as_bytes().to_vec())
                .unwrap_or_default();
            let mut reply = response(status, cookie);
            for value in request.headers().get_all("x-set-cookie") {
                reply.headers_mut().append(SET_COOKIE, value.clone());
            }
            reply
        })
        .build()
}

type Stack = tower::util::BoxCloneService<
    Request<Full<Bytes>>,
    http::Response<towline::towline_services::transport::ResponseBody<Full<Bytes>>>,
    towline::BoxError,
>;

/// The bare transport, resolving every `hosts` name to `addr`, under a `CookieLayer`.
fn stack(jar: &CookieJar, addr: SocketAddr, hosts: &[&str]) -> Stack {
    let tcp = TcpConfig::default().with_overrides(ResolveOverrides::new(
        hosts.iter().map(|host| (*host, vec![addr])),
    ));
    let connector = HttpConnector::new(TokioRuntime, tcp);
    let transport: Transport<_, Full<Bytes>, _> =
        Transport::new(connector, TokioRuntime, TransportConfig::default());
    let service = ServiceBuilder::new()
        .layer(CookieLayer::new(jar.clone()))
        .service(transport);
    tower::util::BoxCloneService::new(service)
}

/// GET `url` with `set` as the cookies the server must set; returns the status and the
/// `Cookie` header the server received.
async fn call(
    stack: &Stack,
    url: &str,
    status: u16,
    set: &[&str],
    cookie: Option<&str>,
) -> (StatusCode, String) {
    let mut request = Request::get(url);
    request = request.header("x-status", status.to_string());
    for value in set {
        request = request.header("x-set-cookie", *value);
    }
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let request = request.body(Full::default()).unwrap();
    let response = stack.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn cookies_are_stored_and_sent_by_domain_and_path() {
    let server = cookie_server();
    let port = server.addr().port();
    let jar = CookieJar::new();
    let stack = stack(
        &jar,
        server.addr(),
        &["www.shop.test", "shop.test", "api.shop.test"],
    );

    call(
        &stack,
        &format!("http://www.shop.test:{port}/login"),
        200,
        &[
            "sid=1; Path=/",
            "site=2; Domain=shop.test; Path=/",
            "cart=3; Path=/cart",
        ],
        None,
    )
    .await;
    assert_eq!(jar.len(), 3);

    let www = format!("http://www.shop.test:{port}");
    assert_eq!(
        call(&stack, &format!("{www}/"), 200, &[], None).await.1,
        "sid=1; site=2"
    );
    assert_eq!(
        call(&stack, &format!("{www}/cart/items"), 200, &[], None)
            .await
            .1,
        "cart=3; sid=1; site=2"
    );
    assert_eq!(
        call(&stack, &format!("{www}/cartoon"), 200, &[], None)
            .await
            .1,
        "sid=1; site=2"
    );
    // The domain cookie reaches the parent and sibling hosts; the host-only ones do not.
    assert_eq!(
        call(
            &stack,
            &format!("http://api.shop.test:{port}/"),
            200,
            &[],
            None
        )
        .await
        .1,
        "site=2"
    );
    assert_eq!(
        call(&stack, &format!("http://shop.test:{port}/"), 200, &[], None)
            .await
            .1,
        "site=2"
    );
    // The server's IP address is another host.
    assert_eq!(call(&stack, &server.url("/"), 200, &[], None).await.1, "");
}

#[tokio::test]
async fn cookies_of_redirects_and_not_modified_responses_are_stored() {
    let server = cookie_server();
    let jar = CookieJar::new();
    let stack = stack(&jar, server.addr(), &[]);
    for (status, cookie) in [(302, "moved=1"), (303, "other=1"), (304, "cached=1")] {
        let (got, _) = call(&stack, &server.url("/"), status, &[cookie], None).await;
        assert_eq!(got.as_u16(), status);
    }
    assert_eq!(
        call(&stack, &server.url("/"), 200, &[], None).await.1,
        "moved=1; other=1; cached=1"
    );
    // Deleting through a redirect works too.
    call(&stack, &server.url("/"), 301, &["moved=; Max-Age=0"], None).await;
    assert_eq!(
        call(&stack, &server.url("/"), 200, &[], None).await.1,
        "other=1; cached=1"
    );
}

#[tokio::test]
async fn the_callers_cookie_header_is_merged() {
    let server = cookie_server();
    let jar = CookieJar::new();
    let stack = stack(&jar, server.addr(), &[]);
    call(&stack, &server.url("/"), 200, &["jar=1", "both=jar"], None).await;
    assert_eq!(
        call(
            &stack,
            &server.url("/"),
            200,
            &[],
            Some("mine=1; both=mine")
        )
        .await
        .1,
        "mine=1; both=mine; jar=1"
    );
}

#[tokio::test]
async fn public_suffix_and_foreign_domain_cookies_are_refused() {
    let server = cookie_server();
    let port = server.addr().port();
    let jar = CookieJar::new();
    let stack = stack(
        &jar,
        server.addr(),
        &["shop.co.uk", "rival.co.uk", "me.github.io"],
    );
    call(
        &stack,
        &format!("http://shop.co.uk:{port}/"),
        200,
        &[
            "a=1; Domain=co.uk",
            "b=1; Domain=rival.co.uk",
            "c=1; Domain=shop.co.uk",
        ],
        None,
    )
    .await;
    call(
        &stack,
        &format!("http://me.github.io:{port}/"),
        200,
        &["d=1; Domain=github.io"],
        None,
    )
    .await;
    let names: Vec<String> = jar
        .cookies()
        .into_iter()
        .map(|cookie| cookie.name)
        .collect();
    assert_eq!(names, ["c"]);
    assert_eq!(
        call(
            &stack,
            &format!("http://rival.co.uk:{port}/"),
            200,
            &[],
            None
        )
        .await
        .1,
        ""
    );
}

#[tokio::test]
async fn a_saved_jar_serves_a_new_stack() {
    let server = cookie_server();
    let jar = CookieJar::new();
    let first = stack(&jar, server.addr(), &[]);
    call(
        &first,
        &server.url("/"),
        200,
        &["keep=1; Max-Age=3600", "session=1"],
        None,
    )
    .await;
    let mut saved = Vec::new();
    jar.save_json(&mut saved).unwrap();

    let restored = CookieJar::new();
    assert_eq!(restored.load_json(saved.as_slice()).unwrap(), 1);
    let second = stack(&restored, server.addr(), &[]);
    assert_eq!(
        call(&second, &server.url("/"), 200, &[], None).await.1,
        "keep=1"
    );
    restored.clear();
    assert_eq!(call(&second, &server.url("/"), 200, &[], None).await.1, "");
}

#[tokio::test]
async fn hostile_set_cookie_headers_leave_the_client_working() {
    let server = cookie_server();
    let jar = CookieJar::new();
    let stack = stack(&jar, server.addr(), &[]);
    let hostile = [
        "a=1; Max-Age=99999999999999999999999999999999",
        "b=1; Expires=Fri, 31 Dec 99999 23:59:59 GMT",
        "c=1; Expires=Thu, 01 Jan 1601 00:00:00 GMT",
        "=; Domain=..; Path",
        ";;;;",
    ];
    let (status, _) = call(&stack, &server.url("/"), 200, &hostile, None).await;
    assert_eq!(status, StatusCode::OK);
    let big = format!("big={}", "x".repeat(5000));
    call(&stack, &server.url("/"), 200, &[big.as_str()], None).await;
    assert_eq!(
        call(&stack, &server.url("/"), 200, &[], None).await.1,
        "a=1; b=1"
    );
    let header: &HeaderValue = &jar
        .cookie_header(&server.url("/").parse().unwrap())
        .unwrap();
    assert_eq!(header, "a=1; b=1");
}
