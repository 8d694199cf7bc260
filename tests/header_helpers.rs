//! The header helpers on responses from a real connection: `Link` pagination and Problem
//! Details.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bytes::Bytes;
use http::Request;
use towline::Client;
use towline_test_support::{TestServer, response};

fn server() -> TestServer {
    TestServer::builder()
        .handler(|request: Request<Bytes>| async move {
            match request.uri().path() {
                "/items" => {
                    let mut answer = response(200, "[]");
                    let headers = answer.headers_mut();
                    headers.append(
                        "link",
                        r#"</items?page=3>; rel="next", <https://other.example/items?page=1>; rel="first prev""#
                            .parse()
                            .unwrap(),
                    );
                    headers.append("link", "<?page=9>; rel=last".parse().unwrap());
                    answer
                }
                "/broken-links" => {
                    let mut answer = response(200, "");
                    answer
                        .headers_mut()
                        .insert("link", "<unclosed; rel=next".parse().unwrap());
                    answer
                }
                "/problem" => {
                    let mut answer = response(
                        403,
                        r#"{"type":"https://example.com/probs/out-of-credit","title":"You do not have enough credit.","status":403,"detail":"Your current balance is 30, but that costs 50.","instance":"/account/12345/msgs/abc","balance":30,"accounts":["/account/12345","/account/67890"]}"#,
                    );
                    answer.headers_mut().insert(
                        "content-type",
                        "application/problem+json; charset=utf-8".parse().unwrap(),
                    );
                    answer
                }
                "/huge-problem" => {
                    let mut answer = response(
                        500,
                        format!("{{\"detail\": \"{}\"}}", "x".repeat(100_000)),
                    );
                    answer
                        .headers_mut()
                        .insert("content-type", "application/problem+json".parse().unwrap());
                    answer
                }
                _ => response(404, "plain not found"),
            }
        })
        .build()
}

#[tokio::test]
async fn link_fields_give_the_pages_resolved_against_the_response_url() {
    let server = server();
    let client = Client::new();
    let page = client
        .get(server.url("/items?page=2"))
        .send()
        .await
        .unwrap();
    let links = page.links().unwrap();
    assert_eq!(links.len(), 3, "{links:?}");
    let next = page.next_page_url().unwrap();
    assert_eq!(next.as_str(), server.url("/items?page=3"));
    assert_eq!(
        page.link_url("PREV").unwrap().as_str(),
        "https://other.example/items?page=1"
    );
    assert_eq!(
        page.link_url("last").unwrap().as_str(),
        server.url("/items?page=9")
    );
    assert_eq!(page.link_url("up"), None);

    let broken = client
        .get(server.url("/broken-links"))
        .send()
        .await
        .unwrap();
    assert!(broken.links().unwrap_err().is_decode());
    assert_eq!(broken.next_page_url(), None);
}

#[tokio::test]
async fn problem_details_are_read_with_their_extension_members() {
    let server = server();
    let client = Client::new();
    let answer = client.get(server.url("/problem")).send().await.unwrap();
    assert_eq!(answer.status(), 403);
    let problem = answer.problem().await.unwrap();
    assert_eq!(
        problem.problem_type,
        "https://example.com/probs/out-of-credit"
    );
    assert_eq!(problem.status, Some(403));
    assert_eq!(
        problem.title.as_deref(),
        Some("You do not have enough credit.")
    );
    assert_eq!(problem.instance.as_deref(), Some("/account/12345/msgs/abc"));
    assert_eq!(problem.extensions["balance"], 30);
    assert_eq!(problem.extensions["accounts"][1], "/account/67890");

    let plain = client.get(server.url("/nothing")).send().await.unwrap();
    let error = plain.problem().await.unwrap_err();
    assert!(error.is_decode(), "{error:?}");
    assert!(
        error.to_string().contains("not a problem document"),
        "{error}"
    );

    let huge = client
        .get(server.url("/huge-problem"))
        .send()
        .await
        .unwrap();
    let error = huge.problem().await.unwrap_err();
    assert!(error.is_decode(), "{error:?}");
    assert!(error.to_string().contains("longer than"), "{error}");
}
