#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Facade behaviour of `towline::Client` against the in-process servers of
//! `towline-test-support`: methods, URLs, headers, bodies, errors, protocols and
//! concurrency, plus the pieces used without the facade (`Client` as a
//! `tower::Service`, tower-http layers, a bare `Transport` stack).

mod common;

use std::convert::Infallible;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Version};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use serde_json::{Value, json};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::set_header::SetRequestHeaderLayer;
use towline::TokioClient;
use towline_test_support::{TestServer, body_channel, response};

use common::{closed_addr, echo_of, get, header_values, pattern, within};

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/// Sends a GET to `url` and returns the echo report.
async fn get_echo(client: &TokioClient, url: &str) -> Value {
    echo_of(get(client, url).await.unwrap()).await
}

/// A server that answers every request with the method it saw, in the body and
/// in an `x-method` header (the header survives HEAD).
fn method_server() -> TestServer {
    TestServer::builder()
        .handler(|req: http::Request<Bytes>| async move {
            let method = req.method().to_string();
            let mut res = response(200, method.clone());
            res.headers_mut()
                .insert("x-method", HeaderValue::from_str(&method).unwrap());
            res
        })
        .build()
}

/// A `Stream` over a fixed list of frames, for `StreamBody`.
struct FrameStream(std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>);

impl Stream for FrameStream {
    type Item = Result<Frame<Bytes>, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.next())
    }
}

// ---------------------------------------------------------------------------
// methods
// ---------------------------------------------------------------------------

#[tokio::test]
async fn every_method_reaches_the_server() {
    let server = method_server();
    let client = TokioClient::new();
    let url = server.url("/m");

    let shortcuts = [
        (Method::GET, client.get(&url)),
        (Method::POST, client.post(&url)),
        (Method::PUT, client.put(&url)),
        (Method::PATCH, client.patch(&url)),
        (Method::DELETE, client.delete(&url)),
    ];
    for (method, builder) in shortcuts {
        let resp = builder.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["x-method"], method.as_str());
        assert_eq!(resp.text().await.unwrap(), method.as_str());
    }

    let purge = Method::from_bytes(b"PURGE").unwrap();
    for method in [Method::OPTIONS, purge, Method::GET] {
        let resp = client.request(method.clone(), &url).send().await.unwrap();
        assert_eq!(resp.headers()["x-method"], method.as_str());
        assert_eq!(resp.text().await.unwrap(), method.as_str());
    }
    assert_eq!(server.requests(), 8);
}

#[tokio::test]
async fn head_reaches_the_server_and_returns_no_body() {
    let server = method_server();
    let client = TokioClient::new();
    let resp = client.head(server.url("/m")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-method"], "HEAD");
    // The server announces the length the GET body would have ("HEAD" = 4 bytes)...
    assert_eq!(resp.headers()[http::header::CONTENT_LENGTH], "4");
    // ...but a response to HEAD has no body.
    assert_eq!(resp.content_length(), Some(0));
    assert_eq!(resp.bytes().await.unwrap(), Bytes::new());

    // The connection stays usable: the next request on it gets its own body.
    let resp = get(&client, &server.url("/m")).await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "GET");
    assert_eq!(server.connections(), 1);
}

// ---------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------

#[tokio::test]
async fn host_header_and_path_reach_the_server_byte_exact() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let port = server.addr().port();

    let echo = get_echo(
        &client,
        &server.url("/echo/a%20b/%E2%9C%93/x%2Fy?x=1%2B2&y=%26&z=a%3Db"),
    )
    .await;
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/echo/a%20b/%E2%9C%93/x%2Fy");
    assert_eq!(echo["query"], "x=1%2B2&y=%26&z=a%3Db");
    assert_eq!(header_values(&echo, "host"), [format!("127.0.0.1:{port}")]);
    assert_eq!(echo["version"], "HTTP/1.1");

    // Characters that must be encoded are encoded once, as UTF-8.
    let echo = get_echo(&client, &server.url("/echo/ü dir?q=ü x")).await;
    assert_eq!(echo["path"], "/echo/%C3%BC%20dir");
    assert_eq!(echo["query"], "q=%C3%BC%20x");

    // A fragment never reaches the server.
    let echo = get_echo(&client, &server.url("/echo?k=v#frag")).await;
    assert_eq!(echo["path"], "/echo");
    assert_eq!(echo["query"], "k=v");
    assert_eq!(echo["uri"], "/echo?k=v");

    // No query at all: none is invented.
    let echo = get_echo(&client, &server.url("/echo")).await;
    assert_eq!(echo["query"], Value::Null);
}

#[tokio::test]
async fn query_params_merge_with_the_existing_query() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let resp = client
        .get(server.url("/echo?a=1"))
        .query(&[("b", "x y"), ("c", "&="), ("d", "é")])
        .query(&[("e", "+%")])
        .send()
        .await
        .unwrap();
    let echo = echo_of(resp).await;
    assert_eq!(echo["query"], "a=1&b=x+y&c=%26%3D&d=%C3%A9&e=%2B%25");

    // Without an existing query, the encoded params become the query.
    let resp = client
        .get(server.url("/echo"))
        .query(&[("only", "1 2")])
        .send()
        .await
        .unwrap();
    assert_eq!(echo_of(resp).await["query"], "only=1+2");

    // An empty parameter list leaves the URL alone.
    let empty: [(&str, &str); 0] = [];
    let resp = client
        .get(server.url("/echo?keep=me"))
        .query(&empty)
        .send()
        .await
        .unwrap();
    assert_eq!(echo_of(resp).await["query"], "keep=me");
}

#[tokio::test]
async fn bad_urls_fail_at_send_and_build_without_connecting() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let port = server.addr().port();

    let bad = [
        "not a url".to_owned(),
        "ftp://x/".to_owned(),
        "http://".to_owned(),
        "http:///path".to_owned(),
        format!("ftp://127.0.0.1:{port}/echo"),
        format!("file:///127.0.0.1:{port}/echo"),
        format!("http:///127.0.0.1:{port}/echo"),
    ];
    // Collected rather than panicking at the first, so one run shows every URL
    // that slips through.
    let mut accepted = Vec::new();
    for url in &bad {
        match client.get(url.as_str()).build() {
            Ok(request) => accepted.push(format!("build: {url:?} -> {}", request.url())),
            Err(error) => assert!(error.is_builder(), "{url:?}: {error:?}"),
        }
        let url_error = match client.get(url.as_str()).send().await {
            Ok(response) => {
                accepted.push(format!("send: {url:?} -> {}", response.status()));
                continue;
            }
            Err(error) => error,
        };
        assert!(url_error.is_builder(), "{url:?}: {url_error:?}");

        // The rest of the builder is harmless on a failed start, and the URL's error,
        // the first one found, is the one reported.
        let error = client
            .request(Method::POST, url.as_str())
            .query(&[("a", "b")])
            .header("x-bad", "line\nbreak")
            .header_str("x-ok", "1")
            .headers(HeaderMap::new())
            .form(&[("c", "d")])
            .json(&json!({"e": 1}))
            .body("body")
            .bearer_auth("token")
            .basic_auth("user", Some("password"))
            .timeout(std::time::Duration::from_secs(1))
            .version(Version::HTTP_11)
            .retry(towline::RetryConfig::disabled())
            .no_decompression()
            .send()
            .await
            .unwrap_err();
        assert!(error.is_builder(), "{url:?}: {error:?}");
        assert_eq!(error.to_string(), url_error.to_string(), "{url:?}");
    }

    // A request built elsewhere with an unsupported scheme is refused before connecting.
    let request = http::Request::get(format!("ftp://127.0.0.1:{port}/echo"))
        .body(towline::Body::empty())
        .unwrap();
    let error = client
        .execute(towline::Request::try_from(request).unwrap())
        .await
        .unwrap_err();
    assert!(error.is_builder(), "{error:?}");

    // A relative URI cannot become a request.
    let request = http::Request::get("/echo")
        .body(towline::Body::empty())
        .unwrap();
    let error = towline::Request::try_from(request).unwrap_err();
    assert!(error.is_builder(), "{error:?}");

    assert_eq!(server.connections(), 0);
    assert!(
        accepted.is_empty(),
        "URLs accepted by client.get: {accepted:#?}"
    );
}

#[tokio::test]
async fn the_get_shortcut_sends_one_get_on_a_default_client() {
    let server = TestServer::http1();

    let response = within(towline::get(server.url("/echo?one=shot")))
        .await
        .unwrap();
    let echo = echo_of(response).await;
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["query"], "one=shot");
    assert_eq!(
        header_values(&echo, "user-agent"),
        [towline::DEFAULT_USER_AGENT]
    );
    assert_eq!(server.requests(), 1);

    let error = within(towline::get("not a url")).await.unwrap_err();
    assert!(error.is_builder(), "{error:?}");
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn invalid_header_fails_at_send_as_builder_error() {
    let server = TestServer::http1();
    let client = TokioClient::new();

    let error = client
        .get(server.url("/echo"))
        .header("x-bad", "line\nbreak")
        .send()
        .await
        .unwrap_err();
    assert!(error.is_builder(), "{error:?}");

    let error = client
        .get(server.url("/echo"))
        .header("bad name", "v")
        .send()
        .await
        .unwrap_err();
    assert!(error.is_builder(), "{error:?}");

    let error = client
        .get(server.url("/echo"))
        .header_str("x-ok", "fine")
        .header_str("x-bad", "nul\0byte")
        .build()
        .unwrap_err();
    assert!(error.is_builder(), "{error:?}");

    assert_eq!(server.connections(), 0);

    // A bad default User-Agent makes the client fail to build.
    let error = TokioClient::builder()
        .user_agent("bad\r\nagent")
        .build()
        .unwrap_err();
    assert!(error.is_builder(), "{error:?}");
}

// ---------------------------------------------------------------------------
// bodies sent
// ---------------------------------------------------------------------------

#[tokio::test]
async fn form_body_and_content_type() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let resp = client
        .post(server.url("/echo"))
        .form(&[("name", "a b"), ("sym", "&=+"), ("u", "é")])
        .send()
        .await
        .unwrap();
    let echo = echo_of(resp).await;
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], "name=a+b&sym=%26%3D%2B&u=%C3%A9");
    assert_eq!(
        header_values(&echo, "content-type"),
        ["application/x-www-form-urlencoded"]
    );
    assert_eq!(header_values(&echo, "content-length"), ["31"]);
}

#[tokio::test]
async fn explicit_content_type_wins_over_form_and_json() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let resp = client
        .post(server.url("/echo"))
        .header("content-type", "application/vnd.custom+json")
        .json(&json!({"k": 1}))
        .send()
        .await
        .unwrap();
    let echo = echo_of(resp).await;
    assert_eq!(
        header_values(&echo, "content-type"),
        ["application/vnd.custom+json"]
    );
    assert_eq!(echo["body"], r#"{"k":1}"#);
}

#[tokio::test]
async fn json_round_trip() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let sent = json!({"a": [1, 2, 3], "b": "ünïcode", "c": {"nested": null, "t": true}});

    let resp = client
        .post(server.url("/json"))
        .json(&sent)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[http::header::CONTENT_TYPE],
        "application/json"
    );
    let back: Value = resp.json().await.unwrap();
    assert_eq!(back, sent);

    // The request carried the JSON content type.
    let resp = client
        .post(server.url("/echo"))
        .json(&sent)
        .send()
        .await
        .unwrap();
    let echo = echo_of(resp).await;
    assert_eq!(header_values(&echo, "content-type"), ["application/json"]);
    let body: Value = serde_json::from_str(echo["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, sent);

    // A body that is not JSON fails to decode as a decode error.
    let resp = get(&client, &server.url("/text")).await.unwrap();
    let error = resp.json::<Value>().await.unwrap_err();
    assert!(error.is_decode(), "{error:?}");
}

#[tokio::test]
async fn streaming_request_body_is_sent_chunked() {
    let server = TestServer::http1();
    let client = TokioClient::new();

    // A channel body fed while the request is in flight.
    let (tx, body) = body_channel();
    let feeder = tokio::spawn(async move {
        for part in ["part1-", "part2-", "part3"] {
            assert!(tx.send_data(part).await);
        }
    });
    let resp = client
        .put(server.url("/echo"))
        .body_stream(body)
        .send()
        .await
        .unwrap();
    feeder.await.unwrap();
    let echo = echo_of(resp).await;
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["body"], "part1-part2-part3");
    assert_eq!(header_values(&echo, "transfer-encoding"), ["chunked"]);
    assert!(header_values(&echo, "content-length").is_empty());

    // A StreamBody over a stream of frames.
    let frames = FrameStream(
        vec![
            Ok(Frame::data(Bytes::from_static(b"alpha "))),
            Ok(Frame::data(Bytes::from_static(b"beta "))),
            Ok(Frame::data(Bytes::from_static(b"gamma"))),
        ]
        .into_iter(),
    );
    let resp = client
        .post(server.url("/echo"))
        .body_stream(StreamBody::new(frames))
        .send()
        .await
        .unwrap();
    let echo = echo_of(resp).await;
    assert_eq!(echo["body"], "alpha beta gamma");
    assert_eq!(header_values(&echo, "transfer-encoding"), ["chunked"]);
}

#[tokio::test]
async fn in_memory_body_is_sent_with_content_length() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let resp = client
        .post(server.url("/echo"))
        .body("hello body")
        .send()
        .await
        .unwrap();
    let echo = echo_of(resp).await;
    assert_eq!(echo["body"], "hello body");
    assert_eq!(header_values(&echo, "content-length"), ["10"]);
    assert!(header_values(&echo, "transfer-encoding").is_empty());
}

// ---------------------------------------------------------------------------
// headers
// ---------------------------------------------------------------------------

#[tokio::test]
async fn default_headers_user_agent_and_accept() {
    let server = TestServer::http1();
    let url = server.url("/echo");

    let echo = get_echo(&TokioClient::new(), &url).await;
    let expected_ua = format!("towline/{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(header_values(&echo, "user-agent"), [expected_ua.as_str()]);
    assert_eq!(towline::DEFAULT_USER_AGENT, expected_ua);
    assert_eq!(header_values(&echo, "accept"), ["*/*"]);

    // Overridden per request: only the request's value is sent.
    let client = TokioClient::new();
    let resp = client
        .get(&url)
        .header("user-agent", "mine/1.0")
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap();
    let echo = echo_of(resp).await;
    assert_eq!(header_values(&echo, "user-agent"), ["mine/1.0"]);
    assert_eq!(header_values(&echo, "accept"), ["text/plain"]);

    // The builder's user_agent replaces the default one.
    let client = TokioClient::builder()
        .user_agent("agent/2")
        .build()
        .unwrap();
    let echo = get_echo(&client, &url).await;
    assert_eq!(header_values(&echo, "user-agent"), ["agent/2"]);
    assert_eq!(header_values(&echo, "accept"), ["*/*"]);
}

#[tokio::test]
async fn default_headers_map_merges_into_the_defaults() {
    let server = TestServer::http1();
    let url = server.url("/echo");
    let mut defaults = HeaderMap::new();
    defaults.insert("x-default", HeaderValue::from_static("d1"));
    defaults.append("x-multi", HeaderValue::from_static("m1"));
    defaults.append("x-multi", HeaderValue::from_static("m2"));
    let client = TokioClient::builder()
        .default_headers(defaults.clone())
        .build()
        .unwrap();

    let echo = get_echo(&client, &url).await;
    assert_eq!(header_values(&echo, "x-default"), ["d1"]);
    assert_eq!(header_values(&echo, "x-multi"), ["m1", "m2"]);
    assert_eq!(
        header_values(&echo, "user-agent"),
        [towline::DEFAULT_USER_AGENT]
    );
    assert_eq!(header_values(&echo, "accept"), ["*/*"]);

    // A default given again replaces the earlier one; the others stay.
    let mut again = HeaderMap::new();
    again.insert("user-agent", HeaderValue::from_static("mine/1"));
    again.append("x-multi", HeaderValue::from_static("m3"));
    let merged = TokioClient::builder()
        .default_headers(defaults)
        .default_headers(again)
        .build()
        .unwrap();
    let echo = get_echo(&merged, &url).await;
    assert_eq!(header_values(&echo, "user-agent"), ["mine/1"]);
    assert_eq!(header_values(&echo, "x-multi"), ["m3"]);
    assert_eq!(header_values(&echo, "x-default"), ["d1"]);
    assert_eq!(header_values(&echo, "accept"), ["*/*"]);

    // A request header of the same name replaces all default values of it.
    let resp = client
        .get(&url)
        .header("x-multi", "mine")
        .send()
        .await
        .unwrap();
    let echo = echo_of(resp).await;
    assert_eq!(header_values(&echo, "x-multi"), ["mine"]);
    assert_eq!(header_values(&echo, "x-default"), ["d1"]);
}

#[tokio::test]
async fn no_default_headers_sends_none() {
    let server = TestServer::http1();
    let header_names = |echo: &Value| -> Vec<String> {
        echo["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| pair[0].as_str().unwrap().to_owned())
            .collect()
    };
    // Decompression asks for the codings it can decode; it is a layer, not a default header.
    let client = TokioClient::builder().no_default_headers().build().unwrap();
    let echo = get_echo(&client, &server.url("/echo")).await;
    assert_eq!(header_names(&echo), ["accept-encoding", "host"], "{echo}");

    let client = TokioClient::builder()
        .no_default_headers()
        .no_decompression()
        .build()
        .unwrap();
    let echo = get_echo(&client, &server.url("/echo")).await;
    assert_eq!(header_names(&echo), ["host"], "{echo}");
}

#[tokio::test]
async fn repeated_headers_arrive_in_order_and_headers_map_replaces() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let url = server.url("/echo");

    let resp = client
        .get(&url)
        .header("x-a", "1")
        .header("x-b", "only")
        .header("x-a", "2")
        .header("x-a", "3")
        .send()
        .await
        .unwrap();
    let echo = echo_of(resp).await;
    assert_eq!(header_values(&echo, "x-a"), ["1", "2", "3"]);
    assert_eq!(header_values(&echo, "x-b"), ["only"]);

    let mut replacement = HeaderMap::new();
    replacement.insert("x-a", HeaderValue::from_static("replaced"));
    replacement.append("x-c", HeaderValue::from_static("c1"));
    replacement.append("x-c", HeaderValue::from_static("c2"));
    replacement.insert("user-agent", HeaderValue::from_static("from-map"));
    let resp = client
        .get(&url)
        .header("x-a", "1")
        .header("x-a", "2")
        .header("x-b", "kept")
        .headers(replacement)
        .send()
        .await
        .unwrap();
    let echo = echo_of(resp).await;
    assert_eq!(header_values(&echo, "x-a"), ["replaced"]);
    assert_eq!(header_values(&echo, "x-b"), ["kept"]);
    assert_eq!(header_values(&echo, "x-c"), ["c1", "c2"]);
    assert_eq!(header_values(&echo, "user-agent"), ["from-map"]);
}

#[tokio::test]
async fn basic_and_bearer_auth() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let url = server.url("/echo");

    let resp = client
        .get(&url)
        .basic_auth("alice", Some("open sesame"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        header_values(&echo_of(resp).await, "authorization"),
        ["Basic YWxpY2U6b3BlbiBzZXNhbWU="]
    );

    let resp = client
        .get(&url)
        .basic_auth("bob", None::<&str>)
        .send()
        .await
        .unwrap();
    assert_eq!(
        header_values(&echo_of(resp).await, "authorization"),
        ["Basic Ym9iOg=="]
    );

    // bearer_auth replaces an earlier Authorization rather than adding a second one.
    let resp = client
        .get(&url)
        .basic_auth("bob", Some("x"))
        .bearer_auth("tok.123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header_values(&echo_of(resp).await, "authorization"),
        ["Bearer tok.123"]
    );
}

// ---------------------------------------------------------------------------
// status errors and error classification
// ---------------------------------------------------------------------------

#[tokio::test]
async fn error_for_status() {
    let server = TestServer::http1();
    let client = TokioClient::new();

    for code in [404_u16, 503] {
        let url = server.url(&format!("/status/{code}"));
        let resp = get(&client, &url).await.unwrap();
        assert_eq!(resp.status().as_u16(), code);

        let error = resp.error_for_status_ref().unwrap_err();
        assert!(error.is_status(), "{error:?}");
        assert_eq!(error.status(), Some(StatusCode::from_u16(code).unwrap()));
        assert_eq!(error.url().unwrap().to_string(), url);

        let error = resp.error_for_status().unwrap_err();
        assert!(error.is_status());
        assert!(!error.is_builder() && !error.is_connect() && !error.is_request());
        assert_eq!(error.status().unwrap().as_u16(), code);
        assert_eq!(error.url().unwrap().to_string(), url);
        let shown = error.to_string();
        assert!(shown.contains(&code.to_string()), "{shown}");
        assert!(shown.contains(&url), "{shown}");
    }

    // 2xx passes through, body intact.
    let resp = get(&client, &server.url("/bytes/10")).await.unwrap();
    let resp = resp.error_for_status_ref().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = get(&client, &server.url("/bytes/10"))
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    assert_eq!(resp.bytes().await.unwrap(), pattern(0, 10));

    // 3xx and 204 are not errors either.
    let resp = get(&client, &server.url("/not-modified")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert!(resp.error_for_status_ref().is_ok());
    let resp = get(&client, &server.url("/no-content")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(resp.error_for_status().unwrap().bytes().await.unwrap(), "");
}

#[tokio::test]
async fn error_display_redacts_userinfo() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let port = server.addr().port();

    let url = format!("http://alice:s3cr3t@127.0.0.1:{port}/status/404");
    let resp = get(&client, &url).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let error = resp.error_for_status().unwrap_err();
    let shown = error.to_string();
    assert!(!shown.contains("alice"), "{shown}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(
        shown.contains(&format!("127.0.0.1:{port}/status/404")),
        "{shown}"
    );
    let debugged = format!("{error:?}");
    assert!(
        !debugged.contains("alice") && !debugged.contains("s3cr3t"),
        "{debugged}"
    );

    // A connect error shows the URL redacted too.
    let dead = closed_addr();
    let url = format!("http://alice:s3cr3t@{dead}/path");
    let error = client.get(&url).send().await.unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    let shown = error.to_string();
    assert!(!shown.contains("alice"), "{shown}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(shown.contains(&format!("{dead}/path")), "{shown}");
}

#[tokio::test]
async fn connect_refused_is_a_connect_error_and_the_client_recovers() {
    let dead = closed_addr();
    let client = TokioClient::new();
    let url = format!("http://{dead}/echo");
    let error = client.get(&url).send().await.unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    assert!(!error.is_builder(), "{error:?}");
    assert!(!error.is_request(), "{error:?}");
    assert!(!error.is_timeout(), "{error:?}");
    assert!(!error.is_tls(), "{error:?}");
    assert!(!error.is_status() && error.status().is_none());
    assert_eq!(error.url().unwrap().to_string(), url);

    // The same client keeps working against a real server.
    let server = TestServer::http1();
    let echo = get_echo(&client, &server.url("/echo?after=refused")).await;
    assert_eq!(echo["query"], "after=refused");

    // And fails the same way again for the dead address.
    let error = client.get(&url).send().await.unwrap_err();
    assert!(error.is_connect(), "{error:?}");
}

// ---------------------------------------------------------------------------
// bodies received
// ---------------------------------------------------------------------------

#[tokio::test]
async fn text_decodes_the_declared_charset() {
    let server = TestServer::http1();
    let client = TokioClient::new();

    let resp = get(&client, &server.url("/text?charset=iso-8859-1"))
        .await
        .unwrap();
    assert_eq!(
        resp.headers()[http::header::CONTENT_TYPE],
        "text/plain; charset=iso-8859-1"
    );
    assert_eq!(resp.text().await.unwrap(), "héllo wörld");

    // The same bytes are not valid UTF-8: read raw they are latin1.
    let raw = get(&client, &server.url("/text?charset=iso-8859-1"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(raw.as_ref(), b"h\xe9llo w\xf6rld");

    let resp = get(&client, &server.url("/text?charset=utf-8"))
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "héllo wörld");

    // text_with_charset's default does not override a declared charset.
    let resp = get(&client, &server.url("/text?charset=utf-8"))
        .await
        .unwrap();
    assert_eq!(
        resp.text_with_charset("iso-8859-1").await.unwrap(),
        "héllo wörld"
    );
}

#[tokio::test]
async fn bytes_and_content_length() {
    let server = TestServer::http1();
    let client = TokioClient::new();

    let resp = get(&client, &server.url("/bytes/100000")).await.unwrap();
    assert_eq!(resp.content_length(), Some(100_000));
    let body = resp.bytes().await.unwrap();
    assert_eq!(body.len(), 100_000);
    assert!(body.as_ref() == pattern(0, 100_000).as_slice());

    let resp = get(&client, &server.url("/bytes/1234")).await.unwrap();
    assert_eq!(resp.content_length(), Some(1234));

    // A chunked body has no known length.
    let resp = get(&client, &server.url("/chunks?n=2&size=10"))
        .await
        .unwrap();
    assert_eq!(resp.content_length(), None);
    assert_eq!(resp.bytes().await.unwrap(), pattern(0, 20));

    let resp = get(&client, &server.url("/bytes/0")).await.unwrap();
    assert_eq!(resp.content_length(), Some(0));
    assert_eq!(resp.bytes().await.unwrap(), Bytes::new());
}

#[tokio::test]
async fn chunk_loop_reads_the_whole_body() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let mut resp = get(&client, &server.url("/chunks?n=5&size=1000"))
        .await
        .unwrap();
    let mut body = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        assert!(!chunk.is_empty());
        chunks += 1;
        body.extend_from_slice(&chunk);
    }
    assert_eq!(body.len(), 5000);
    assert!(body == pattern(0, 5000));
    assert!(chunks >= 1);
    // Reading past the end keeps returning None.
    assert_eq!(resp.chunk().await.unwrap(), None);
}

#[tokio::test]
async fn into_bytes_stream_yields_the_body() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let resp = get(&client, &server.url("/chunks?n=4&size=500&delay_ms=5"))
        .await
        .unwrap();
    let mut stream = resp.into_bytes_stream();
    let mut body = Vec::new();
    while let Some(item) = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
        let chunk = item.unwrap();
        assert!(!chunk.is_empty());
        body.extend_from_slice(&chunk);
    }
    assert_eq!(body.len(), 2000);
    assert!(body == pattern(0, 2000));
}

#[tokio::test]
async fn trailers_over_h2c() {
    let server = TestServer::h2c();
    let client = TokioClient::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let mut resp = get(&client, &server.url("/trailers")).await.unwrap();
    assert_eq!(resp.version(), Version::HTTP_2);
    assert!(
        resp.trailers().is_none(),
        "no trailers before the body is read"
    );
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    assert_eq!(body, b"hello");
    let trailers = resp.trailers().expect("trailers after the end of the body");
    assert_eq!(trailers["x-checksum"], "abc");
}

#[tokio::test]
async fn trailers_over_http1_with_te_trailers() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let mut resp = client
        .get(server.url("/trailers"))
        .header("te", "trailers")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), Version::HTTP_11);
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    assert_eq!(body, b"hello");
    let trailers = resp.trailers().expect("trailers after the end of the body");
    assert_eq!(trailers["x-checksum"], "abc");
}

#[tokio::test]
async fn max_body_size_limits_bodies() {
    let server = TestServer::http1();
    let client = TokioClient::builder().max_body_size(1000).build().unwrap();

    // With Content-Length over the limit.
    let resp = get(&client, &server.url("/bytes/5000")).await.unwrap();
    let url = server.url("/bytes/5000");
    let error = resp.bytes().await.unwrap_err();
    assert!(error.is_body(), "{error:?}");
    assert_eq!(error.url().unwrap().to_string(), url);

    // A chunked body over the limit (no Content-Length to check up front).
    let resp = get(&client, &server.url("/chunks?n=5&size=400"))
        .await
        .unwrap();
    let error = resp.bytes().await.unwrap_err();
    assert!(error.is_body(), "{error:?}");

    let resp = get(&client, &server.url("/chunks?n=3&size=400"))
        .await
        .unwrap();
    let error = resp.text().await.unwrap_err();
    assert!(error.is_body(), "{error:?}");

    // chunk() stops at the limit too.
    let mut resp = get(&client, &server.url("/chunks?n=5&size=300"))
        .await
        .unwrap();
    let mut read = 0;
    let error = loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) => panic!("read {read} bytes past a limit of 1000"),
            Err(error) => break error,
        }
    };
    assert!(error.is_body(), "{error:?}");
    assert!(read <= 1000, "{read}");

    // Exactly at the limit is fine, both sized and chunked.
    let body = get(&client, &server.url("/bytes/1000"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, pattern(0, 1000));
    let body = get(&client, &server.url("/chunks?n=4&size=250"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, pattern(0, 1000));
}

#[tokio::test]
async fn remote_addr_and_url() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let url = server.url("/echo?x=1");
    let resp = get(&client, &url).await.unwrap();
    assert_eq!(resp.remote_addr(), Some(server.addr()));
    assert_eq!(resp.url().to_string(), url);
    assert!(resp.extensions().get::<towline::ConnectionInfo>().is_some());

    // The fragment is never sent, but the response's URL keeps it.
    let resp = get(&client, &server.url("/echo#frag")).await.unwrap();
    assert_eq!(resp.url().to_string(), server.url("/echo#frag"));
    assert_eq!(echo_of(resp).await["path"], "/echo");

    // Query params added by the builder are in the response URL.
    let resp = client
        .get(server.url("/echo"))
        .query(&[("a", "b c")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.url().to_string(), server.url("/echo?a=b+c"));
}

#[tokio::test]
async fn the_fragment_follows_redirects_unless_a_location_brings_its_own() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    // A Location without a fragment: the request's carries over (RFC 9110 §10.2.2).
    let start = format!("{}#frag", server.url("/redirect?to=/echo&status=302"));
    let resp = client.get(start).send().await.unwrap();
    assert_eq!(resp.url().to_string(), server.url("/echo#frag"));
    assert_eq!(resp.url().fragment(), Some("frag"));
    assert_eq!(echo_of(resp).await["path"], "/echo");
    // A Location with its own fragment replaces it.
    let jump = format!(
        "{}#frag",
        server.url("/redirect?to=/echo%23other&status=302")
    );
    let resp = client.get(jump).send().await.unwrap();
    assert_eq!(resp.url().to_string(), server.url("/echo#other"));
    // Without a fragment anywhere, none appears.
    let plain = server.url("/redirect?to=/echo&status=302");
    let resp = client.get(plain).send().await.unwrap();
    assert_eq!(resp.url().to_string(), server.url("/echo"));
    assert_eq!(server.requests(), 6);
}

#[tokio::test]
async fn errors_carry_the_url_and_can_drop_or_change_it() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let url = server.url("/status/404#here");
    let error = client
        .get(url.as_str())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap_err();
    assert_eq!(error.url().map(towline::Url::as_str), Some(url.as_str()));
    let mut error = error;
    if let Some(url) = error.url_mut() {
        url.set_query(Some("token=REDACTED"));
    }
    assert_eq!(
        error.url().and_then(towline::Url::query),
        Some("token=REDACTED")
    );
    assert!(error.to_string().contains("token=REDACTED"), "{error}");
    let error = error.without_url();
    assert_eq!(error.url(), None);
    assert!(!error.to_string().contains("/status/404"), "{error}");
    let error = error.with_url(towline::Url::parse("http://example.com/").unwrap());
    assert_eq!(
        error.url().map(towline::Url::as_str),
        Some("http://example.com/")
    );
}

#[tokio::test]
async fn relative_urls_resolve_against_the_base_url() {
    let server = TestServer::http1();
    let other = TestServer::http1();
    let client = TokioClient::builder()
        .base_url(server.url("/echo/api/"))
        .build()
        .unwrap();
    // Under a base that ends with `/`, a relative path is appended; the query is kept.
    let echo = echo_of(client.get("users?id=7").send().await.unwrap()).await;
    assert_eq!(
        (echo["path"].as_str(), echo["query"].as_str()),
        (Some("/echo/api/users"), Some("id=7"))
    );
    // A reference starting with `/` replaces the whole path.
    let echo = echo_of(client.get("/echo").send().await.unwrap()).await;
    assert_eq!(echo["path"], "/echo");
    // An absolute URL overrides the base.
    let resp = client.get(other.url("/echo")).send().await.unwrap();
    assert_eq!(resp.url().to_string(), other.url("/echo"));
    assert_eq!((server.requests(), other.requests()), (2, 1));

    // Without the trailing slash the base's last segment is replaced (RFC 3986).
    let client = TokioClient::builder()
        .base_url(server.url("/echo/api"))
        .build()
        .unwrap();
    let echo = echo_of(client.get("users").send().await.unwrap()).await;
    assert_eq!(echo["path"], "/echo/users");
}

#[tokio::test]
async fn a_base_url_client_refuses_other_schemes_before_connecting() {
    let server = TestServer::http1();
    let client = TokioClient::builder()
        .base_url(server.url("/"))
        .build()
        .unwrap();
    for url in [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "mailto:someone@example.com",
    ] {
        let error = client.get(url).send().await.unwrap_err();
        assert!(error.is_builder(), "{url}: {error:?}");
    }
    assert_eq!(server.connections(), 0);
    // A base that is not an http(s) URL with a host is a builder error.
    for base in ["ftp://example.com/", "not a url"] {
        let error = TokioClient::builder().base_url(base).build().unwrap_err();
        assert!(error.is_builder(), "{base}: {error:?}");
    }
    // Without a base, a relative URL is still an error.
    let error = TokioClient::new().get("users").send().await.unwrap_err();
    assert!(error.is_builder(), "{error:?}");
}

#[tokio::test]
async fn into_http_keeps_head_and_body() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let resp = get(&client, &server.url("/headers?x-one=1&x-one=2"))
        .await
        .unwrap();
    let values: Vec<_> = resp.headers().get_all("x-one").iter().collect();
    assert_eq!(values, ["1", "2"]);
    let resp = get(&client, &server.url("/bytes/300"))
        .await
        .unwrap()
        .into_http();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, pattern(0, 300));
}

// ---------------------------------------------------------------------------
// tower
// ---------------------------------------------------------------------------

#[tokio::test]
async fn client_is_a_tower_service() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let request = http::Request::post(server.url("/echo?svc=1"))
        .header("x-svc", "yes")
        .body(Full::new(Bytes::from_static(b"via tower")))
        .unwrap();
    let resp = client.clone().oneshot(request).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let echo: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["query"], "svc=1");
    assert_eq!(echo["body"], "via tower");
    assert_eq!(header_values(&echo, "x-svc"), ["yes"]);
    // Default headers apply through the Service interface too.
    assert_eq!(
        header_values(&echo, "user-agent"),
        [towline::DEFAULT_USER_AGENT]
    );

    // Errors come back as towline::Error.
    let dead = closed_addr();
    let request = http::Request::get(format!("http://{dead}/"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let error = client.oneshot(request).await.unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    // ... and name the request's URL.
    let expected = format!("http://{dead}/");
    assert_eq!(
        error.url().map(towline::Url::as_str),
        Some(expected.as_str())
    );
}

#[tokio::test]
async fn client_builder_layer_adds_tower_http_layer() {
    let server = TestServer::http1();
    let client = TokioClient::builder()
        .layer(SetRequestHeaderLayer::overriding(
            HeaderName::from_static("x-layer"),
            HeaderValue::from_static("from-layer"),
        ))
        .layer(SetRequestHeaderLayer::if_not_present(
            HeaderName::from_static("x-maybe"),
            HeaderValue::from_static("default"),
        ))
        .build()
        .unwrap();

    let echo = get_echo(&client, &server.url("/echo")).await;
    assert_eq!(header_values(&echo, "x-layer"), ["from-layer"]);
    assert_eq!(header_values(&echo, "x-maybe"), ["default"]);

    let resp = client
        .get(server.url("/echo"))
        .header("x-layer", "from-request")
        .header("x-maybe", "mine")
        .send()
        .await
        .unwrap();
    let echo = echo_of(resp).await;
    assert_eq!(header_values(&echo, "x-layer"), ["from-layer"]);
    assert_eq!(header_values(&echo, "x-maybe"), ["mine"]);
}

#[tokio::test]
async fn bare_transport_under_tower_http_layer() {
    use towline::towline_services::connect::{HttpConnector, TcpConfig};
    use towline::towline_services::rt::tokio::TokioRuntime;
    use towline::towline_services::transport::{Transport, TransportConfig};

    let server = TestServer::http1();
    let connector = HttpConnector::new(TokioRuntime, TcpConfig::default());
    let transport: Transport<_, Full<Bytes>, _> =
        Transport::new(connector, TokioRuntime, TransportConfig::default());
    let service = ServiceBuilder::new()
        .layer(SetRequestHeaderLayer::overriding(
            HeaderName::from_static("x-stack"),
            HeaderValue::from_static("tower-http"),
        ))
        .service(transport);

    for round in 0..2 {
        let request = http::Request::post(server.url(&format!("/echo?round={round}")))
            .body(Full::new(Bytes::from_static(b"bare")))
            .unwrap();
        let resp = service.clone().oneshot(request).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.version(), Version::HTTP_11);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let echo: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(header_values(&echo, "x-stack"), ["tower-http"]);
        assert_eq!(echo["query"], format!("round={round}"));
        assert_eq!(echo["body"], "bare");
        assert_eq!(
            header_values(&echo, "host"),
            [format!("127.0.0.1:{}", server.addr().port())]
        );
        // No facade, no default headers.
        assert!(header_values(&echo, "user-agent").is_empty());
    }
    // The transport pools: both rounds used one connection.
    assert_eq!(server.connections(), 1);
}

// ---------------------------------------------------------------------------
// protocols
// ---------------------------------------------------------------------------

#[tokio::test]
async fn per_request_http2_version_uses_h2c() {
    let h2 = TestServer::h2c();
    let h1 = TestServer::http1();
    let client = TokioClient::new();

    let resp = client
        .get(h2.url("/echo"))
        .version(Version::HTTP_2)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), Version::HTTP_2);
    let echo = echo_of(resp).await;
    assert_eq!(echo["version"], "HTTP/2.0");

    let resp = get(&client, &h1.url("/echo")).await.unwrap();
    assert_eq!(resp.version(), Version::HTTP_11);
    assert_eq!(echo_of(resp).await["version"], "HTTP/1.1");
    assert_eq!(h1.connections(), 1);
    assert_eq!(h2.connections(), 1);

    // The HTTP/2 connection is pooled: a second HTTP/2 request reuses it.
    let resp = client
        .get(h2.url("/echo"))
        .version(Version::HTTP_2)
        .send()
        .await
        .unwrap();
    assert_eq!(echo_of(resp).await["connection_id"], 1);
    assert_eq!(h2.connections(), 1);
}

#[tokio::test]
async fn explicit_http11_version_reuses_the_plain_http_connection() {
    // Over plain http, the default protocol *is* HTTP/1.1, so a request that asks
    // for HTTP/1.1 explicitly can use the same pooled connection.
    let h1 = TestServer::http1();
    let client = TokioClient::new();
    let resp = get(&client, &h1.url("/echo")).await.unwrap();
    assert_eq!(echo_of(resp).await["connection_id"], 1);
    let resp = client
        .get(h1.url("/echo"))
        .version(Version::HTTP_11)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), Version::HTTP_11);
    let echo = echo_of(resp).await;
    assert_eq!(echo["version"], "HTTP/1.1");
    assert_eq!(echo["connection_id"], 1, "a second connection was opened");
    assert_eq!(h1.connections(), 1);
}

// ---------------------------------------------------------------------------
// many requests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn hundred_sequential_requests_reuse_one_connection() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    for i in 0..100 {
        let echo = get_echo(&client, &server.url(&format!("/echo?i={i}"))).await;
        assert_eq!(echo["query"], format!("i={i}"));
        assert_eq!(echo["connection_id"], 1);
    }
    assert_eq!(server.requests(), 100);
    assert_eq!(server.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_http1_requests() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let client = client.clone();
            let url = server.url(&format!("/echo?i={i}"));
            tokio::spawn(async move {
                let resp = get(&client, &url).await.unwrap();
                (i, echo_of(resp).await)
            })
        })
        .collect();
    for task in tasks {
        let (i, echo) = task.await.unwrap();
        assert_eq!(echo["query"], format!("i={i}"));
        assert_eq!(echo["version"], "HTTP/1.1");
    }
    assert_eq!(server.requests(), 50);
    assert!(server.connections() <= 50, "{}", server.connections());

    // The pool is healthy afterwards.
    let echo = get_echo(&client, &server.url("/echo?after=1")).await;
    assert_eq!(echo["query"], "after=1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_h2c_requests_share_one_connection() {
    let server = TestServer::h2c();
    let client = TokioClient::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let client = client.clone();
            let url = server.url(&format!("/echo?i={i}"));
            tokio::spawn(async move {
                let resp = get(&client, &url).await.unwrap();
                assert_eq!(resp.version(), Version::HTTP_2);
                (i, echo_of(resp).await)
            })
        })
        .collect();
    for task in tasks {
        let (i, echo) = task.await.unwrap();
        assert_eq!(echo["query"], format!("i={i}"));
        assert_eq!(echo["version"], "HTTP/2.0");
        assert_eq!(echo["connection_id"], 1);
    }
    assert_eq!(server.requests(), 100);
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn credentials_in_the_url_become_basic_auth_and_leave_the_url() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let url = format!("http://alice:open%20sesame@{}/echo", server.addr());
    let resp = get(&client, &url).await.unwrap();
    assert_eq!(resp.url().to_string(), server.url("/echo"));
    let echo = echo_of(resp).await;
    assert_eq!(
        header_values(&echo, "authorization"),
        ["Basic YWxpY2U6b3BlbiBzZXNhbWU="]
    );
    assert_eq!(header_values(&echo, "host"), [server.addr().to_string()]);
}

#[tokio::test]
async fn upload_and_download_progress_are_reported() {
    use std::sync::{Arc, Mutex};
    use towline::progress::Progress;
    let server = TestServer::http1();
    let client = TokioClient::new();

    let uploaded: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let body = towline::Body::from(vec![7u8; 100_000]).with_progress({
        let uploaded = uploaded.clone();
        move |progress| uploaded.lock().unwrap().push(progress)
    });
    let response = within(client.put(server.url("/echo")).body(body).send())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let last = *uploaded.lock().unwrap().last().unwrap();
    assert_eq!(
        last,
        Progress {
            transferred: 100_000,
            total: Some(100_000)
        }
    );

    let response = within(client.get(server.url("/bytes/50000")).send())
        .await
        .unwrap();
    let (response, handle) = response.with_progress_handle();
    assert_eq!(handle.get().total, Some(50_000));
    assert_eq!(handle.get().transferred, 0);
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), 50_000);
    assert_eq!(
        handle.get(),
        Progress {
            transferred: 50_000,
            total: Some(50_000)
        }
    );
}
