//! The reqwest-named API of towline, item by item: each test fails without the item.

use bytes::Bytes;
use http::header::LOCATION;
use http::{HeaderValue, StatusCode};
use towline::redirect::Policy;
use towline_test_support::{TestServer, response};

use crate::common::within;

/// `/hop/N` redirects to `/hop/N-1`; `/hop/0` answers 200 with its path.
fn hop_server() -> TestServer {
    TestServer::builder()
        .handler(|request: http::Request<Bytes>| async move {
            let path = request.uri().path().to_owned();
            let n: u32 = path
                .strip_prefix("/hop/")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if n == 0 {
                return response(200, path);
            }
            let mut res = response(302, "");
            res.headers_mut().insert(
                LOCATION,
                HeaderValue::from_str(&format!("/hop/{}", n - 1)).unwrap(),
            );
            res
        })
        .build()
}

#[tokio::test]
async fn redirect_policy_custom_sees_the_next_url_and_the_urls_visited() {
    let server = hop_server();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let client = towline::Client::builder()
        .redirect(Policy::custom(move |attempt| {
            let previous: Vec<String> = attempt
                .previous()
                .iter()
                .map(|url| url.path().to_owned())
                .collect();
            record.lock().unwrap().push((
                attempt.status(),
                attempt.url().path().to_owned(),
                previous,
            ));
            if attempt.url().path() == "/hop/1" {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .build()
        .unwrap();
    let res = within(client.get(server.url("/hop/3")).send())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.url().path(), "/hop/2");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (
                StatusCode::FOUND,
                "/hop/2".to_owned(),
                vec!["/hop/3".to_owned()]
            ),
            (
                StatusCode::FOUND,
                "/hop/1".to_owned(),
                vec!["/hop/3".to_owned(), "/hop/2".to_owned()]
            ),
        ]
    );
}

#[tokio::test]
async fn redirect_policy_custom_error_is_a_redirect_error() {
    let server = hop_server();
    let client = towline::Client::builder()
        .redirect(Policy::custom(|attempt| attempt.error("no hops here")))
        .build()
        .unwrap();
    let error = within(client.get(server.url("/hop/2")).send())
        .await
        .unwrap_err();
    assert!(error.is_redirect(), "{error:?}");
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(&error);
    while let Some(error) = source {
        chain.push(error.to_string());
        source = error.source();
    }
    assert!(chain.iter().any(|e| e == "no hops here"), "{chain:?}");
}

#[tokio::test]
async fn redirect_policy_none_and_limited() {
    let server = hop_server();
    let none = towline::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let res = within(none.get(server.url("/hop/2")).send()).await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);

    let two = towline::Client::builder()
        .redirect(Policy::limited(2))
        .build()
        .unwrap();
    let res = within(two.get(server.url("/hop/2")).send()).await.unwrap();
    assert_eq!(res.url().path(), "/hop/0");
    let error = within(two.get(server.url("/hop/3")).send())
        .await
        .unwrap_err();
    assert!(error.is_redirect(), "{error:?}");
}
