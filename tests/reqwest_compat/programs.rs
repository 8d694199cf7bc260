//! Programs written against reqwest's public API, as a reqwest user writes them. The only
//! line that names towline is the `use` below; each program is then run against the
//! in-process servers, and its result checked against what reqwest returns.
//!
//! Programs that needed an edit to compile are listed in MIGRATING.md with the reason.

use towline as reqwest;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------
// the programs
// ---------------------------------------------------------------------------

/// GET a page as text with the one-shot shortcut.
async fn get_text(url: &str) -> reqwest::Result<(reqwest::StatusCode, String)> {
    let res = reqwest::get(url).await?;
    let status = res.status();
    let body = res.text().await?;
    Ok((status, body))
}

#[derive(Debug, Deserialize)]
struct Echo {
    method: String,
    path: String,
    query: Option<String>,
    body: String,
}

/// GET JSON into a typed struct.
async fn get_json_typed(client: &reqwest::Client, url: &str) -> reqwest::Result<Echo> {
    client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .json::<Echo>()
        .await
}

#[derive(Debug, Serialize)]
struct NewPost<'a> {
    title: &'a str,
    tags: Vec<&'a str>,
}

/// POST a struct as JSON and read the answer as a dynamic `serde_json::Value`.
async fn post_json_dynamic(url: &str) -> Result<serde_json::Value, reqwest::Error> {
    let client = reqwest::Client::new();
    let post = NewPost {
        title: "hello",
        tags: vec!["a", "b"],
    };
    let value: serde_json::Value = client.post(url).json(&post).send().await?.json().await?;
    Ok(value)
}

/// POST a URL-encoded form from a map.
async fn post_form(client: &reqwest::Client, url: &str) -> reqwest::Result<serde_json::Value> {
    let mut params = HashMap::new();
    params.insert("lang", "rust");
    let res = client.post(url).form(&params).send().await?;
    res.json().await
}

/// Query parameters from pairs and from a struct.
async fn get_with_query(client: &reqwest::Client, url: &str) -> reqwest::Result<Echo> {
    #[derive(Serialize)]
    struct Page {
        page: u32,
    }
    client
        .get(url)
        .query(&[("q", "tower layers"), ("lang", "en")])
        .query(&Page { page: 2 })
        .send()
        .await?
        .json()
        .await
}

/// Default headers on the client, and headers, bearer and basic auth per request.
async fn custom_headers(url: &str) -> reqwest::Result<serde_json::Value> {
    let mut headers = HeaderMap::new();
    headers.insert("x-api-version", HeaderValue::from_static("2"));
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .user_agent("compat-test/1.0")
        .build()?;
    let first = client
        .get(url)
        .header("x-request-id", "42")
        .bearer_auth("token")
        .send()
        .await?
        .json::<serde_json::Value>()
        .await?;
    let second = client
        .get(url)
        .basic_auth("user", Some("secret"))
        .send()
        .await?
        .json::<serde_json::Value>()
        .await?;
    Ok(serde_json::json!({ "first": first, "second": second }))
}

/// Redirects: none (the 3xx comes back), limited (too many is an error), custom.
async fn redirect_policies(
    redirect_to_echo: &str,
    loop_url: &str,
) -> reqwest::Result<(
    reqwest::StatusCode,
    reqwest::Error,
    String,
    reqwest::StatusCode,
)> {
    let none = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let not_followed = none.get(redirect_to_echo).send().await?.status();

    let limited = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()?;
    let too_many = match limited.get(loop_url).send().await {
        Ok(res) => panic!("a redirect loop ended with {}", res.status()),
        Err(error) => error,
    };

    let custom = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() > 5 {
                attempt.error("too many redirects")
            } else if attempt.url().path() == "/echo" {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }))
        .build()?;
    let followed = custom
        .get(redirect_to_echo)
        .send()
        .await?
        .url()
        .path()
        .to_owned();
    let stopped = custom.get(loop_url).send().await?.status();
    Ok((not_followed, too_many, followed, stopped))
}

/// A cookie store: the client's own, and a shared `Jar`.
async fn cookie_store(set_url: &str, echo_url: &str) -> reqwest::Result<(String, String)> {
    let client = reqwest::Client::builder().cookie_store(true).build()?;
    client.get(set_url).send().await?;
    let echo: serde_json::Value = client.get(echo_url).send().await?.json().await?;
    let sent = cookie_header(&echo);

    let jar = Arc::new(reqwest::cookie::Jar::default());
    let url = echo_url.parse::<reqwest::Url>().expect("a valid URL");
    jar.add_cookie_str("preset=yes; Path=/", &url);
    let client = reqwest::Client::builder()
        .cookie_provider(Arc::clone(&jar))
        .build()?;
    let echo: serde_json::Value = client.get(echo_url).send().await?.json().await?;
    Ok((sent, cookie_header(&echo)))
}

fn cookie_header(echo: &serde_json::Value) -> String {
    echo["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|pair| pair[0] == "cookie")
        .filter_map(|pair| pair[1].as_str())
        .collect::<Vec<_>>()
        .join("|")
}

/// A private root CA, and a client certificate for mutual TLS, loaded from PEM.
async fn custom_root_and_mtls(
    ca_pem: &[u8],
    identity_pem: &[u8],
    url: &str,
) -> reqwest::Result<reqwest::StatusCode> {
    let ca = reqwest::Certificate::from_pem(ca_pem)?;
    let identity = reqwest::Identity::from_pem(identity_pem)?;
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .identity(identity)
        .min_tls_version(reqwest::tls::Version::TLS_1_2)
        .https_only(true)
        .build()?;
    Ok(client.get(url).send().await?.status())
}

/// Timeouts, and telling errors apart.
async fn timeouts_and_errors(
    slow_url: &str,
    closed_url: &str,
    missing_url: &str,
) -> reqwest::Result<Vec<(&'static str, bool)>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .connect_timeout(Duration::from_secs(2))
        .no_proxy()
        .build()?;
    let mut kinds = Vec::new();
    match client.get(slow_url).send().await {
        Ok(_) => kinds.push(("slow answered", false)),
        Err(e) => kinds.push(("slow is_timeout", e.is_timeout())),
    }
    match client.get(closed_url).send().await {
        Ok(_) => kinds.push(("closed answered", false)),
        Err(e) => kinds.push(("closed is_connect", e.is_connect())),
    }
    let res = client.get(missing_url).send().await?;
    match res.error_for_status() {
        Ok(_) => kinds.push(("404 passed", false)),
        Err(e) => {
            kinds.push(("404 is_status", e.is_status()));
            kinds.push((
                "404 status",
                e.status() == Some(reqwest::StatusCode::NOT_FOUND),
            ));
            kinds.push((
                "404 url",
                e.url().is_some_and(|u| u.path() == "/status/404"),
            ));
        }
    }
    match client.get("not a url").send().await {
        Ok(_) => kinds.push(("bad url sent", false)),
        Err(e) => kinds.push(("bad url is_builder", e.is_builder())),
    }
    Ok(kinds)
}

/// Download in pieces: `chunk()` and `bytes_stream()`.
async fn streaming_download(url: &str) -> reqwest::Result<(Vec<u8>, Vec<u8>)> {
    let client = reqwest::Client::new();
    let mut res = client.get(url).send().await?;
    let mut by_chunk = Vec::new();
    while let Some(chunk) = res.chunk().await? {
        by_chunk.extend_from_slice(&chunk);
    }
    let mut stream = client.get(url).send().await?.bytes_stream();
    let mut by_stream = Vec::new();
    while let Some(item) = stream.next().await {
        by_stream.extend_from_slice(&item?);
    }
    Ok((by_chunk, by_stream))
}

/// Upload a body produced by a stream.
async fn streaming_upload(url: &str) -> reqwest::Result<serde_json::Value> {
    let chunks: Vec<Result<&'static str, std::io::Error>> =
        vec![Ok("one,"), Ok("two,"), Ok("three")];
    let stream = futures_util::stream::iter(chunks);
    let body = reqwest::Body::wrap_stream(stream);
    reqwest::Client::new()
        .put(url)
        .body(body)
        .send()
        .await?
        .json()
        .await
}

/// Build a request, look at it, change it, and execute it; and one made with `Request::new`.
async fn execute_request(url: &str) -> reqwest::Result<(Echo, Echo)> {
    let client = reqwest::Client::new();
    let mut request = client
        .post(url)
        .body("built")
        .timeout(Duration::from_secs(5))
        .build()?;
    assert_eq!(request.method(), reqwest::Method::POST);
    request
        .headers_mut()
        .insert("x-changed", HeaderValue::from_static("yes"));
    let built = client.execute(request).await?.json().await?;

    let url = reqwest::Url::parse(url).expect("a valid URL");
    let mut request = reqwest::Request::new(reqwest::Method::DELETE, url);
    *request.body_mut() = Some("made".into());
    let made = client.execute(request).await?.json().await?;
    Ok((built, made))
}

/// A struct that keeps a client and its base URL, as API wrappers do.
struct ApiClient {
    http: reqwest::Client,
    base: reqwest::Url,
}

impl ApiClient {
    fn new(base: &str) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4)
            .tcp_keepalive(Duration::from_secs(60))
            .gzip(true)
            .build()?;
        let base = reqwest::Url::parse(base).expect("a valid base URL");
        Ok(Self { http, base })
    }

    async fn fetch(&self, path: &str) -> reqwest::Result<Echo> {
        let url = self.base.join(path).expect("a valid path");
        self.http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }
}

/// What a response says about itself.
async fn response_facts(url: &str) -> reqwest::Result<Vec<String>> {
    let res = reqwest::Client::new().get(url).send().await?;
    let mut facts = vec![
        res.status().as_u16().to_string(),
        format!("{:?}", res.version()),
        res.url().path().to_owned(),
        res.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        res.remote_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
    ];
    facts.push(res.bytes().await?.len().to_string());
    Ok(facts)
}

/// HTTP/2 with prior knowledge and reqwest's HTTP/2 tuning setters.
async fn http2_tuned(url: &str) -> reqwest::Result<reqwest::Version> {
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .http2_initial_stream_window_size(1 << 20)
        .http2_initial_connection_window_size(None)
        .http2_adaptive_window(false)
        .http2_max_frame_size(1 << 15)
        .http2_max_header_list_size(64 * 1024)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .http2_keep_alive_timeout(Duration::from_secs(5))
        .http2_keep_alive_while_idle(true)
        .build()?;
    Ok(client.get(url).send().await?.version())
}

/// The blocking client, as reqwest's `blocking` examples use it: the one-shot `get`, a
/// configured client, a header, the body read through `Read` and copied with `copy_to`.
#[cfg(feature = "blocking")]
fn blocking_program(
    url: &str,
) -> Result<(String, serde_json::Value, u64), Box<dyn std::error::Error>> {
    use std::io::Read;
    let mut res = reqwest::blocking::get(url)?;
    let mut text = String::new();
    res.read_to_string(&mut text)?;

    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let echo: serde_json::Value = client
        .post(url)
        .header("x-from", "blocking")
        .json(&serde_json::json!({"n": 1}))
        .send()?
        .error_for_status()?
        .json()?;
    let mut sink = Vec::new();
    let copied = client.get(url).send()?.copy_to(&mut sink)?;
    Ok((text, echo, copied))
}

// ---------------------------------------------------------------------------
// running them
// ---------------------------------------------------------------------------

mod run {
    use towline_test_support::{TestPki, TestServer, response};

    #[cfg(feature = "blocking")]
    #[test]
    fn blocking() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = {
            let _entered = runtime.enter();
            TestServer::http1()
        };
        let (text, echo, copied) = super::blocking_program(&server.url("/echo")).unwrap();
        assert!(text.contains("\"GET\""), "{text}");
        assert_eq!(echo["method"], "POST");
        assert_eq!(echo["body"], "{\"n\":1}");
        assert!(copied > 0);
    }

    use crate::common::{closed_addr, pattern, within};

    #[tokio::test]
    async fn get_text() {
        let server = TestServer::http1();
        let (status, body) = within(super::get_text(&server.url("/text"))).await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, "héllo wörld");
    }

    #[tokio::test]
    async fn json_typed_and_dynamic() {
        let server = TestServer::http1();
        let client = towline::Client::new();
        let echo = within(super::get_json_typed(&client, &server.url("/echo/typed")))
            .await
            .unwrap();
        assert_eq!(
            (echo.method.as_str(), echo.path.as_str()),
            ("GET", "/echo/typed")
        );
        let value = within(super::post_json_dynamic(&server.url("/json")))
            .await
            .unwrap();
        assert_eq!(
            value,
            serde_json::json!({ "title": "hello", "tags": ["a", "b"] })
        );
    }

    #[tokio::test]
    async fn form() {
        let server = TestServer::http1();
        let echo = within(super::post_form(
            &towline::Client::new(),
            &server.url("/echo"),
        ))
        .await
        .unwrap();
        assert_eq!(echo["body"], "lang=rust");
        assert_eq!(
            crate::common::header_values(&echo, "content-type"),
            ["application/x-www-form-urlencoded"]
        );
    }

    #[tokio::test]
    async fn query() {
        let server = TestServer::http1();
        let echo = within(super::get_with_query(
            &towline::Client::new(),
            &server.url("/echo"),
        ))
        .await
        .unwrap();
        assert_eq!(echo.query.as_deref(), Some("q=tower+layers&lang=en&page=2"));
        assert!(echo.body.is_empty());
    }

    #[tokio::test]
    async fn custom_headers() {
        let server = TestServer::http1();
        let both = within(super::custom_headers(&server.url("/echo")))
            .await
            .unwrap();
        let values = |which: &str, name: &str| crate::common::header_values(&both[which], name);
        assert_eq!(values("first", "x-api-version"), ["2"]);
        assert_eq!(values("first", "accept"), ["application/json"]);
        assert_eq!(values("first", "user-agent"), ["compat-test/1.0"]);
        assert_eq!(values("first", "x-request-id"), ["42"]);
        assert_eq!(values("first", "authorization"), ["Bearer token"]);
        assert_eq!(
            values("second", "authorization"),
            ["Basic dXNlcjpzZWNyZXQ="]
        );
        assert!(values("second", "x-request-id").is_empty());
    }

    #[tokio::test]
    async fn redirect_policies() {
        // `/to-echo` redirects (302) to `/echo`; `/loop` redirects (301) to itself.
        let server = TestServer::builder()
            .handler(|request: http::Request<bytes::Bytes>| async move {
                let (status, location) = match request.uri().path() {
                    "/to-echo" => (302, "/echo"),
                    "/loop" => (301, "/loop"),
                    _ => return response(200, "end"),
                };
                let mut res = response(status, "");
                res.headers_mut()
                    .insert("location", http::HeaderValue::from_static(location));
                res
            })
            .build();
        let to_echo = server.url("/to-echo");
        let looping = server.url("/loop");
        let (not_followed, too_many, followed, stopped) =
            within(super::redirect_policies(&to_echo, &looping))
                .await
                .unwrap();
        assert_eq!(not_followed, 302);
        assert!(too_many.is_redirect(), "{too_many:?}");
        assert_eq!(followed, "/echo");
        assert_eq!(stopped, 301);
    }

    #[tokio::test]
    async fn cookie_store() {
        let server = TestServer::http1();
        let (own, jar) = within(super::cookie_store(
            &server.url("/headers?set-cookie=session%3Dabc%3B%20Path%3D%2F"),
            &server.url("/echo"),
        ))
        .await
        .unwrap();
        assert_eq!(own, "session=abc");
        assert_eq!(jar, "preset=yes");
    }

    #[tokio::test]
    async fn custom_root_and_mtls() {
        let pki = TestPki::generate();
        let server = TestServer::builder()
            .tls_config(pki.server_config(&[b"h2", b"http/1.1"], true))
            .build();
        let identity = pki.client_identity_pem();
        let status = within(super::custom_root_and_mtls(
            pki.ca_pem().as_bytes(),
            identity.as_bytes(),
            &server.url("/echo"),
        ))
        .await
        .unwrap();
        assert_eq!(status, 200);
        // A CA that does not parse fails through `?`, as a builder error.
        let error = within(super::custom_root_and_mtls(
            b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
            identity.as_bytes(),
            &server.url("/echo"),
        ))
        .await
        .unwrap_err();
        assert!(error.is_builder(), "{error:?}");
    }

    #[tokio::test]
    async fn timeouts_and_errors() {
        let server = TestServer::http1();
        let kinds = within(super::timeouts_and_errors(
            &server.url("/slow-headers?ms=2000"),
            &format!("http://{}/", closed_addr()),
            &server.url("/status/404"),
        ))
        .await
        .unwrap();
        assert_eq!(
            kinds,
            [
                ("slow is_timeout", true),
                ("closed is_connect", true),
                ("404 is_status", true),
                ("404 status", true),
                ("404 url", true),
                ("bad url is_builder", true),
            ]
        );
    }

    #[tokio::test]
    async fn streaming_download() {
        let server = TestServer::http1();
        let (by_chunk, by_stream) = within(super::streaming_download(
            &server.url("/chunks?n=4&size=1000"),
        ))
        .await
        .unwrap();
        assert_eq!(by_chunk, pattern(0, 4000));
        assert_eq!(by_stream, pattern(0, 4000));
    }

    #[tokio::test]
    async fn streaming_upload() {
        let server = TestServer::http1();
        let echo = within(super::streaming_upload(&server.url("/echo")))
            .await
            .unwrap();
        assert_eq!(echo["method"], "PUT");
        assert_eq!(echo["body"], "one,two,three");
    }

    #[tokio::test]
    async fn execute_request() {
        let server = TestServer::http1();
        let (built, made) = within(super::execute_request(&server.url("/echo")))
            .await
            .unwrap();
        assert_eq!(
            (built.method.as_str(), built.body.as_str()),
            ("POST", "built")
        );
        assert_eq!(
            (made.method.as_str(), made.body.as_str()),
            ("DELETE", "made")
        );
    }

    #[tokio::test]
    async fn struct_holding_a_client() {
        let server = TestServer::http1();
        let api = super::ApiClient::new(&server.url("/api/")).unwrap();
        let echo = within(api.fetch("echo?id=7")).await;
        // `/api/echo` is not a route of the test server: a 404, turned into an error.
        let error = echo.unwrap_err();
        assert_eq!(error.status(), Some(towline::StatusCode::NOT_FOUND));
        let echo = within(api.fetch("/echo?id=7")).await.unwrap();
        assert_eq!(
            (echo.path.as_str(), echo.query.as_deref()),
            ("/echo", Some("id=7"))
        );
    }

    #[tokio::test]
    async fn http2_tuned() {
        let server = TestServer::h2c();
        let version = within(super::http2_tuned(&server.url("/echo")))
            .await
            .unwrap();
        assert_eq!(version, towline::Version::HTTP_2);
    }

    #[tokio::test]
    async fn response_facts() {
        let server = TestServer::http1();
        let facts = within(super::response_facts(&server.url("/bytes/300")))
            .await
            .unwrap();
        assert_eq!(
            facts,
            ["200", "HTTP/1.1", "/bytes/300", "", "127.0.0.1", "300"]
        );
    }
}
