#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Digest and netrc authentication through the `Client` facade, against in-process servers
//! that check Digest answers with their own implementation of RFC 7616.
#![cfg(all(feature = "digest-auth", feature = "netrc"))]

use std::path::PathBuf;

use bytes::Bytes;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Request, StatusCode};
use http_body_util::StreamBody;
use towline::{RetryConfig, TokioClient};
use towline_test_support::{DigestServer, TestServer, response};

fn serve(digest: &DigestServer) -> TestServer {
    let digest = digest.clone();
    TestServer::builder()
        .handler(move |request: Request<Bytes>| {
            let digest = digest.clone();
            async move { digest.respond(&request) }
        })
        .build()
}

fn zoo() -> DigestServer {
    DigestServer::new("Mufasa", "Circle of Life", "zoo")
}

#[tokio::test]
async fn client_credentials_answer_and_later_requests_go_preemptively() {
    let digest = zoo().algorithms(&["SHA-256"]).opaque("o");
    let server = serve(&digest);
    let client = TokioClient::builder()
        .digest_auth("Mufasa", "Circle of Life")
        .build()
        .unwrap();
    for path in ["/a", "/b?c=d"] {
        let response = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{:?}", digest.failures());
        assert_eq!(response.text().await.unwrap(), "ok");
    }
    assert_eq!(digest.requests(), 3);
    assert!(digest.authorizations()[1].contains("nc=00000002"));
}

#[tokio::test]
async fn a_cookie_set_with_the_challenge_goes_back_with_the_answer() {
    let digest = zoo().session_cookie();
    let server = serve(&digest);
    let client = TokioClient::builder()
        .digest_auth("Mufasa", "Circle of Life")
        .cookie_store(true)
        .build()
        .unwrap();
    let response = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{:?}", digest.failures());
    assert_eq!(digest.requests(), 2);
}

#[tokio::test]
async fn bodies_are_replayed_and_hashed_for_auth_int() {
    let digest = zoo().qop(Some("auth-int"));
    let server = serve(&digest);
    let client = TokioClient::builder()
        .digest_auth("Mufasa", "Circle of Life")
        .build()
        .unwrap();
    let response = client
        .post(server.url("/upload"))
        .body("the body")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{:?}", digest.failures());
    assert!(digest.authorizations()[0].contains("qop=auth-int"));

    // The same under a retry layer, which records the body itself.
    let client = TokioClient::builder()
        .digest_auth("Mufasa", "Circle of Life")
        .retry(RetryConfig::new().max_retries(2).retry_non_idempotent(true))
        .build()
        .unwrap();
    let response = client
        .post(server.url("/upload"))
        .body("again")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{:?}", digest.failures());
}

#[tokio::test]
async fn a_stream_too_long_to_replay_gets_the_401() {
    let digest = zoo();
    let server = serve(&digest);
    let client = TokioClient::builder()
        .digest_auth("Mufasa", "Circle of Life")
        .build()
        .unwrap();
    let chunks = (0..40)
        .map(|_| Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(vec![b'x'; 4096]))));
    let body = StreamBody::new(futures_util::stream::iter(chunks));
    let response = client
        .post(server.url("/big"))
        .body_stream(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(digest.requests(), 1);
}

#[tokio::test]
async fn request_credentials_win_and_do_not_follow_a_redirect_to_another_origin() {
    let digest = DigestServer::new("Simba", "Hakuna", "zoo");
    let protected = serve(&digest);
    let client = TokioClient::builder()
        .digest_auth("Mufasa", "wrong")
        .build()
        .unwrap();
    let response = client
        .get(protected.url("/"))
        .query(&[("q", "before")])
        .digest_auth("Simba", "Hakuna")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let elsewhere = DigestServer::new("Simba", "Hakuna", "zoo");
    let target = serve(&elsewhere);
    let redirector = TestServer::http1();
    let client = TokioClient::new();
    let response = client
        .get(redirector.url(&format!("/redirect?to={}", target.url("/"))))
        .digest_auth("Simba", "Hakuna")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(elsewhere.requests(), 1);
    assert!(elsewhere.authorizations().is_empty());
}

#[tokio::test]
async fn client_credentials_do_not_follow_a_redirect_to_another_origin() {
    let digest = zoo();
    let target = serve(&digest);
    let redirector = TestServer::http1();
    let client = TokioClient::builder()
        .digest_auth("Mufasa", "Circle of Life")
        .build()
        .unwrap();
    let response = client
        .get(redirector.url(&format!("/redirect?to={}", target.url("/"))))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(digest.requests(), 1);
    // Addressed directly, the same origin is answered.
    let response = client.get(target.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_explicit_authorization_header_wins() {
    let digest = zoo();
    let server = serve(&digest);
    let client = TokioClient::builder()
        .digest_auth("Mufasa", "Circle of Life")
        .build()
        .unwrap();
    let response = client
        .get(server.url("/"))
        .basic_auth("Mufasa", Some("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(digest.requests(), 1);
}

fn netrc_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("towline-auth-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("netrc");
    std::fs::write(&path, text).unwrap();
    path
}

/// A server wanting Basic `u:p`, echoing the `Authorization` it got.
fn basic_server() -> TestServer {
    TestServer::builder()
        .handler(|request: Request<Bytes>| async move {
            let auth = request.headers().get(AUTHORIZATION).cloned();
            if auth.as_ref().is_some_and(|a| a == "Basic dTpw") {
                return response(200, "ok");
            }
            let mut reply = response(401, "who?");
            reply
                .headers_mut()
                .insert(WWW_AUTHENTICATE, "Basic realm=\"r\"".parse().unwrap());
            reply
        })
        .build()
}

#[tokio::test]
async fn netrc_basic_goes_at_once_to_loopback_and_after_a_401_to_other_hosts() {
    let server = basic_server();
    let path = netrc_file("basic", "machine 127.0.0.1 login u password p\n");
    let client = TokioClient::builder().netrc_path(&path).build().unwrap();
    let response = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.requests(), 1);

    // `default` only in answer to the 401, even to loopback.
    let server = basic_server();
    let path = netrc_file("default", "default login u password p\n");
    let client = TokioClient::builder().netrc_path(&path).build().unwrap();
    let response = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.requests(), 2);

    // Credentials in the URL win over netrc.
    let server = basic_server();
    let url = server.url("/").replace("http://", "http://x:y@");
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn netrc_credentials_answer_digest() {
    let digest = DigestServer::new("u", "p", "zoo").algorithms(&["SHA-512-256"]);
    let server = serve(&digest);
    let path = netrc_file("digest", "machine 127.0.0.1 login u password p\n");
    let client = TokioClient::builder().netrc_path(&path).build().unwrap();
    let response = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{:?}", digest.failures());
    // The preemptive Basic header (loopback), then the Digest answer.
    assert_eq!(digest.requests(), 2);
}

#[tokio::test]
async fn a_malformed_or_missing_netrc_is_a_builder_error() {
    let path = netrc_file("bad", "machine h login u\nbogus\n");
    let err = TokioClient::builder()
        .netrc_path(&path)
        .build()
        .unwrap_err();
    assert!(err.is_builder());
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(cause, "netrc line 2: unexpected token `bogus`");
    let missing = path.with_file_name("missing");
    assert!(
        TokioClient::builder()
            .netrc_path(missing)
            .build()
            .unwrap_err()
            .is_builder()
    );
}

#[tokio::test]
async fn an_http_proxys_digest_challenge_is_answered_with_its_credentials() {
    // The in-process server plays the proxy: it gets the request in absolute form.
    let digest = DigestServer::new("puser", "ppass", "proxy").proxy();
    let proxy = serve(&digest);
    let client = TokioClient::builder()
        .proxy(
            towline::Proxy::http(proxy.url("/"))
                .unwrap()
                .basic_auth("puser", "ppass"),
        )
        .build()
        .unwrap();
    let response = client.get("http://origin.test/x").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{:?}", digest.failures());
    // The transport's Basic answer first, then the Digest answer to the 407.
    let sent = digest.authorizations();
    assert_eq!(sent.len(), 2);
    assert!(sent[0].starts_with("Basic "));
    assert!(sent[1].starts_with("Digest username=\"puser\""));

    // Without proxy credentials the 407 comes back.
    let client = TokioClient::builder()
        .proxy(towline::Proxy::http(proxy.url("/")).unwrap())
        .build()
        .unwrap();
    let response = client.get("http://origin.test/x").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PROXY_AUTHENTICATION_REQUIRED);
}
