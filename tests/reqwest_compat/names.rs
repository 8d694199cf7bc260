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

/// The messages of `error` and of its sources, outermost first.
fn chain(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut chain = Vec::new();
    let mut source = Some(error);
    while let Some(error) = source {
        chain.push(error.to_string());
        source = error.source();
    }
    chain
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
    let chain = chain(&error);
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

/// A cookie store of the caller's: always offers `fixed=1`, and records what it is given.
#[derive(Default)]
struct Recording {
    stored: std::sync::Mutex<Vec<(String, String)>>,
}

impl towline::cookie::CookieStore for Recording {
    fn set_cookies(
        &self,
        cookie_headers: &mut dyn Iterator<Item = &HeaderValue>,
        url: &towline::Url,
    ) {
        let mut stored = self.stored.lock().unwrap();
        for value in cookie_headers {
            stored.push((value.to_str().unwrap().to_owned(), url.path().to_owned()));
        }
    }

    fn cookies(&self, _url: &towline::Url) -> Option<HeaderValue> {
        Some(HeaderValue::from_static("fixed=1"))
    }
}

#[tokio::test]
async fn cookie_provider_takes_a_store_of_the_callers() {
    let server = TestServer::http1();
    let store = std::sync::Arc::new(Recording::default());
    let client = towline::Client::builder()
        .cookie_provider(store.clone())
        .build()
        .unwrap();
    let echo = crate::common::echo_of(
        within(client.get(server.url("/echo")).send())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(crate::common::header_values(&echo, "cookie"), ["fixed=1"]);
    // The caller's own `Cookie` header comes first and keeps its names.
    let res = within(
        client
            .get(server.url("/echo"))
            .header("cookie", "mine=2; fixed=0")
            .send(),
    )
    .await
    .unwrap();
    let echo = crate::common::echo_of(res).await;
    assert_eq!(
        crate::common::header_values(&echo, "cookie"),
        ["mine=2; fixed=0"]
    );

    within(client.get(server.url("/headers?set-cookie=a%3Db")).send())
        .await
        .unwrap();
    assert_eq!(
        *store.stored.lock().unwrap(),
        [("a=b".to_owned(), "/headers".to_owned())]
    );
}

#[tokio::test]
async fn cookie_jar_add_cookie_str_is_sent_and_responses_fill_it() {
    use towline::cookie::{CookieStore, Jar};
    let server = TestServer::http1();
    let url: towline::Url = server.url("/").parse().unwrap();
    let jar = std::sync::Arc::new(Jar::default());
    jar.add_cookie_str("preset=1; Path=/", &url);
    let client = towline::Client::builder()
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    within(client.get(server.url("/headers?set-cookie=got%3D2")).send())
        .await
        .unwrap();
    let echo = crate::common::echo_of(
        within(client.get(server.url("/echo")).send())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        crate::common::header_values(&echo, "cookie"),
        ["preset=1; got=2"]
    );
    assert_eq!(jar.cookies(&url).unwrap(), "preset=1; got=2");
    assert_eq!(jar.cookie_jar().len(), 2);
}

/// The `Accept-Encoding` a client sends.
async fn accept_encoding(client: &towline::Client, server: &TestServer) -> Vec<String> {
    let res = within(client.get(server.url("/echo")).send())
        .await
        .unwrap();
    crate::common::header_values(&crate::common::echo_of(res).await, "accept-encoding")
}

#[tokio::test]
async fn codec_switches_change_accept_encoding() {
    let server = TestServer::http1();
    let all = towline::Client::new();
    assert_eq!(
        accept_encoding(&all, &server).await,
        ["gzip, deflate, br, zstd"]
    );
    let some = towline::Client::builder()
        .no_gzip()
        .brotli(false)
        .build()
        .unwrap();
    assert_eq!(accept_encoding(&some, &server).await, ["deflate, zstd"]);
    let none = towline::Client::builder()
        .no_deflate()
        .no_zstd()
        .no_brotli()
        .gzip(false)
        .build()
        .unwrap();
    assert!(accept_encoding(&none, &server).await.is_empty());
    let back = towline::Client::builder()
        .no_decompression()
        .zstd(true)
        .build()
        .unwrap();
    assert_eq!(accept_encoding(&back, &server).await, ["zstd"]);
}

/// Loads a root and an identity as a reqwest program does, with `?` into `towline::Error`.
fn load_tls(
    root: &[u8],
    identity: &[u8],
) -> towline::Result<(towline::tls::Certificate, towline::tls::Identity)> {
    let root = towline::tls::Certificate::from_pem(root)?;
    let identity = towline::tls::Identity::from_pem(identity)?;
    Ok((root, identity))
}

#[tokio::test]
async fn tls_certificate_and_identity_errors_are_builder_errors() {
    let pki = towline_test_support::TestPki::generate();
    let identity = pki.client_identity_pem();
    let (root, identity) = load_tls(pki.ca_pem().as_bytes(), identity.as_bytes()).unwrap();
    let server = TestServer::builder()
        .tls_config(pki.server_config(&[b"http/1.1"], true))
        .build();
    let client = towline::Client::builder()
        .add_root_certificate(root)
        .identity(identity)
        .build()
        .unwrap();
    let res = within(client.get(server.url("/echo")).send())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // The chain and the key apart, as native-tls users hold them.
    let whole = pki.client_identity_pem();
    let at = whole.find("-----BEGIN PRIVATE KEY-----").unwrap();
    let (chain, key) = whole.split_at(at);
    let split = towline::tls::Identity::from_pkcs8_pem(chain.as_bytes(), key.as_bytes()).unwrap();
    let client = towline::Client::builder()
        .add_root_certificate(towline::Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap())
        .identity(split)
        .build()
        .unwrap();
    let res = within(client.get(server.url("/echo")).send())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let error = towline::tls::Identity::from_pkcs8_pem(chain.as_bytes(), b"").unwrap_err();
    assert!(error.is_builder(), "{error:?}");

    let error = load_tls(b"not pem", b"").unwrap_err();
    assert!(error.is_builder(), "{error:?}");
    let error = load_tls(pki.ca_pem().as_bytes(), pki.ca_pem().as_bytes()).unwrap_err();
    assert!(error.is_builder(), "{error:?}");
}

#[tokio::test]
async fn max_tls_version_caps_what_the_client_offers() {
    use towline::tls::{Certificate, Version};
    let pki = towline_test_support::TestPki::generate();
    let tls13 = TestServer::builder()
        .tls_config(pki.server_config_with_versions(&[b"http/1.1"], &[&rustls::version::TLS13]))
        .build();
    let root = || Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap();
    let tls12 = towline::Client::builder()
        .add_root_certificate(root())
        .max_tls_version(Version::TLS_1_2)
        .build()
        .unwrap();
    let error = within(tls12.get(tls13.url("/echo")).send())
        .await
        .unwrap_err();
    assert!(error.is_connect() && error.is_tls(), "{error:?}");
    assert_eq!(tls13.requests(), 0);

    let capped_at_13 = towline::Client::builder()
        .add_root_certificate(root())
        .min_tls_version(Version::TLS_1_2)
        .max_tls_version(Version::TLS_1_3)
        .build()
        .unwrap();
    let res = within(capped_at_13.get(tls13.url("/echo")).send())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let error = towline::Client::builder()
        .min_tls_version(Version::TLS_1_3)
        .max_tls_version(Version::TLS_1_2)
        .build()
        .unwrap_err();
    assert!(error.is_builder(), "{error:?}");

    // The versions rustls does not speak: a minimum below 1.2 allows 1.2 and 1.3, a maximum
    // below 1.2 leaves nothing.
    let old_minimum = towline::Client::builder()
        .add_root_certificate(root())
        .min_tls_version(Version::TLS_1_0)
        .build()
        .unwrap();
    let res = within(old_minimum.get(tls13.url("/echo")).send())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let error = towline::Client::builder()
        .max_tls_version(Version::TLS_1_1)
        .build()
        .unwrap_err();
    assert!(error.is_builder(), "{error:?}");
}

/// Collects the `message` of every `tracing` event, with its target and level.
#[derive(Clone, Default)]
struct Events(std::sync::Arc<std::sync::Mutex<Vec<(String, tracing::Level, String)>>>);

impl tracing::Subscriber for Events {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let metadata = event.metadata();
        self.0
            .lock()
            .unwrap()
            .push((metadata.target().to_owned(), *metadata.level(), message.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn connection_verbose_logs_heads_at_trace_level_without_credentials() {
    let events = Events::default();
    let _guard = tracing::subscriber::set_default(events.clone());
    let server = TestServer::http1();
    let quiet = towline::Client::new();
    within(quiet.get(server.url("/echo")).send()).await.unwrap();
    assert!(events.0.lock().unwrap().is_empty());

    let verbose = towline::Client::builder()
        .connection_verbose(true)
        .build()
        .unwrap();
    within(
        verbose
            .get(server.url("/headers?x-answer=42"))
            .bearer_auth("hunter2")
            .header("x-asked", "yes")
            .send(),
    )
    .await
    .unwrap();
    let events = events.0.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    for (target, level, _) in &events {
        assert_eq!(
            (target.as_str(), *level),
            ("towline::connection", tracing::Level::TRACE)
        );
    }
    let (request, response) = (&events[0].2, &events[1].2);
    assert!(request.starts_with("> GET http://127.0.0.1:"), "{request}");
    assert!(
        request.contains("/headers?x-answer=42 HTTP/1.1"),
        "{request}"
    );
    assert!(request.contains("> x-asked: yes"), "{request}");
    assert!(request.contains("> authorization: <redacted>"), "{request}");
    assert!(!request.contains("hunter2"), "{request}");
    assert!(response.starts_with("< HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("< x-answer: 42"), "{response}");
}

#[tokio::test]
async fn response_cookies_parse_every_set_cookie() {
    let server = TestServer::http1();
    let set = [
        "a=1; Path=/x; Domain=.example.com; Max-Age=60; Secure; HttpOnly; SameSite=Lax",
        "b=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT; SameSite=Strict",
        "=",
    ];
    let query: Vec<(&str, &str)> = set.iter().map(|value| ("set-cookie", *value)).collect();
    let res = within(
        towline::Client::new()
            .get(server.url("/headers"))
            .query(&query)
            .send(),
    )
    .await
    .unwrap();
    let cookies: Vec<_> = res.cookies().collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    let (a, b) = (&cookies[0], &cookies[1]);
    assert_eq!((a.name(), a.value()), ("a", "1"));
    assert_eq!((a.path(), a.domain()), (Some("/x"), Some("example.com")));
    assert_eq!(a.max_age(), Some(std::time::Duration::from_secs(60)));
    assert!(a.secure() && a.http_only() && a.same_site_lax() && !a.same_site_strict());
    assert_eq!((b.name(), b.value()), ("b", "2"));
    assert_eq!(
        b.expires(),
        Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_445_412_480))
    );
    assert!(!b.secure() && !b.http_only() && b.same_site_strict());
    assert_eq!((b.path(), b.max_age()), (None, None));
}

#[tokio::test]
async fn response_bytes_stream_yields_the_body_in_chunks() {
    use futures_core::Stream;
    let server = TestServer::http1();
    let res = within(
        towline::Client::new()
            .get(server.url("/chunks?n=3&size=5"))
            .send(),
    )
    .await
    .unwrap();
    let mut stream = res.bytes_stream();
    let mut body = Vec::new();
    while let Some(chunk) = within(std::future::poll_fn(|cx| {
        std::pin::Pin::new(&mut stream).poll_next(cx)
    }))
    .await
    {
        body.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(body, crate::common::pattern(0, 15));
}

/// A `Stream` over the items of an iterator.
pub(crate) struct Iter<I>(pub(crate) I);

impl<I: Iterator + Unpin> futures_core::Stream for Iter<I> {
    type Item = I::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<I::Item>> {
        std::task::Poll::Ready(self.0.next())
    }
}

#[tokio::test]
async fn body_wrap_stream_sends_every_chunk_and_fails_on_a_stream_error() {
    let server = TestServer::http1();
    let client = towline::Client::new();
    let chunks: Vec<Result<&'static str, std::io::Error>> =
        vec![Ok("hello, "), Ok("streaming "), Ok("world")];
    let body = towline::Body::wrap_stream(Iter(chunks.into_iter()));
    assert!(body.try_clone().is_none());
    let res = within(client.post(server.url("/echo")).body(body).send())
        .await
        .unwrap();
    let echo = crate::common::echo_of(res).await;
    assert_eq!(echo["body"], "hello, streaming world");

    let failing: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(b"partial".to_vec()),
        Err(std::io::Error::other("the source broke")),
    ];
    let error = within(
        client
            .post(server.url("/echo"))
            .body(towline::Body::wrap_stream(Iter(failing.into_iter())))
            .send(),
    )
    .await
    .unwrap_err();
    assert!(error.is_request(), "{error:?}");
    let chain = chain(&error);
    assert!(chain.iter().any(|e| e == "the source broke"), "{chain:?}");
}

#[tokio::test]
async fn request_builder_try_clone_copies_all_but_streams() {
    let server = TestServer::http1();
    let client = towline::Client::new();
    let builder = client
        .post(server.url("/echo"))
        .header("x-copied", "1")
        .body("same body");
    let copy = builder.try_clone().expect("an in-memory body clones");
    for builder in [builder, copy] {
        let echo = crate::common::echo_of(within(builder.send()).await.unwrap()).await;
        assert_eq!(echo["body"], "same body");
        assert_eq!(crate::common::header_values(&echo, "x-copied"), ["1"]);
    }
    let streaming = client
        .post(server.url("/echo"))
        .body(towline::Body::wrap_stream(Iter(
            vec![Ok::<_, std::io::Error>("x")].into_iter(),
        )));
    assert!(streaming.try_clone().is_none());
    assert!(client.get("not a url").try_clone().is_none());
}

#[tokio::test]
async fn request_is_built_changed_and_executed() {
    use std::time::Duration;
    use towline::{Method, Request};
    let server = TestServer::http1();
    let client = towline::Client::new();

    let mut request = client
        .get(server.url("/echo?from=builder"))
        .header("x-a", "1")
        .timeout(Duration::from_secs(7))
        .build()
        .unwrap();
    assert_eq!(request.method(), Method::GET);
    assert_eq!(request.timeout(), Some(&Duration::from_secs(7)));
    assert_eq!(request.url().query(), Some("from=builder"));
    *request.method_mut() = Method::POST;
    request.url_mut().set_query(Some("changed=1"));
    request
        .headers_mut()
        .insert("x-b", HeaderValue::from_static("2"));
    *request.body_mut() = Some(towline::Body::from("new body"));
    let copy = request.try_clone().expect("an in-memory body clones");
    for request in [request, copy] {
        let res = within(client.execute(request)).await.unwrap();
        assert_eq!(res.url().query(), Some("changed=1"));
        let echo = crate::common::echo_of(res).await;
        assert_eq!(
            (echo["method"].as_str(), echo["query"].as_str()),
            (Some("POST"), Some("changed=1"))
        );
        assert_eq!(echo["body"], "new body");
        assert_eq!(crate::common::header_values(&echo, "x-a"), ["1"]);
        assert_eq!(crate::common::header_values(&echo, "x-b"), ["2"]);
        assert_eq!(
            crate::common::header_values(&echo, "user-agent"),
            [towline::DEFAULT_USER_AGENT]
        );
    }

    // Request::new, with credentials in the URL (sent as Basic auth, not in the target).
    let mut url: towline::Url = server.url("/echo#part").parse().unwrap();
    url.set_username("user").unwrap();
    url.set_password(Some("pa ss")).unwrap();
    let request = Request::new(Method::GET, url);
    assert!(request.body().is_none() && request.timeout().is_none());
    let res = within(client.execute(request)).await.unwrap();
    assert_eq!(res.url().fragment(), Some("part"));
    let echo = crate::common::echo_of(res).await;
    assert_eq!(
        crate::common::header_values(&echo, "authorization"),
        ["Basic dXNlcjpwYSBzcw=="]
    );
    assert!(!echo["uri"].as_str().unwrap().contains("user"), "{echo}");
}

#[tokio::test]
async fn request_converts_to_and_from_http_request() {
    use std::time::Duration;
    use towline::{Body, Request, Version};
    let h2c = TestServer::h2c();
    let client = towline::Client::new();

    let mut request = Request::try_from(
        http::Request::put(h2c.url("/echo"))
            .header("x-a", "1")
            .body("from http")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(request.url().path(), "/echo");
    *request.timeout_mut() = Some(Duration::from_secs(3));
    *request.version_mut() = Version::HTTP_2;
    // HTTP/2 asked for on a plain `http` URL: prior knowledge, which the h2c server needs.
    let res = within(client.execute(request.try_clone().unwrap()))
        .await
        .unwrap();
    assert_eq!(res.version(), Version::HTTP_2);
    let echo = crate::common::echo_of(res).await;
    assert_eq!(
        (echo["method"].as_str(), echo["body"].as_str()),
        (Some("PUT"), Some("from http"))
    );

    let back = http::Request::<Body>::try_from(request).unwrap();
    assert_eq!(back.uri().to_string(), h2c.url("/echo"));
    assert_eq!(
        back.extensions()
            .get::<towline::towline_layers::timeout::RequestTimeout>(),
        Some(&towline::towline_layers::timeout::RequestTimeout(
            Duration::from_secs(3)
        ))
    );
    assert_eq!(back.headers()["x-a"], "1");
    // The default version negotiates: against an h2c-only server it speaks HTTP/1.1 and fails.
    let plain = Request::new(towline::Method::GET, h2c.url("/echo").parse().unwrap());
    assert!(within(client.execute(plain)).await.is_err());
}

#[tokio::test]
async fn option_setters_take_a_value_or_none() {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;
    let server = TestServer::http1();
    // An address no interface holds: binding to it fails the connection.
    let foreign = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let bound = towline::Client::builder()
        .local_address(foreign)
        .build()
        .unwrap();
    let error = within(bound.get(server.url("/echo")).send())
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    let unbound = towline::Client::builder()
        .local_address(foreign)
        .local_address(None)
        .tcp_keepalive(Duration::from_secs(30))
        .tcp_keepalive(None)
        .pool_idle_timeout(Duration::from_secs(5))
        .pool_idle_timeout(None)
        .build()
        .unwrap();
    let res = within(unbound.get(server.url("/echo")).send())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[test]
fn reqwest_feature_names_are_declared() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let features = manifest
        .split("[features]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap();
    let declared: Vec<&str> = features
        .lines()
        .filter_map(|line| line.split_once(" = "))
        .map(|(name, _)| name.trim())
        .collect();
    for name in [
        "default-tls",
        "rustls-tls",
        "rustls-tls-webpki-roots",
        "rustls-tls-native-roots",
        "rustls-tls-manual-roots",
        "native-roots",
        "stream",
        "http2",
        "json",
        "cookies",
        "gzip",
        "brotli",
        "zstd",
        "deflate",
        "charset",
    ] {
        assert!(
            declared.contains(&name),
            "feature {name} is missing: {declared:?}"
        );
    }
}

#[tokio::test]
async fn http2_setters_reach_the_connection() {
    let server = TestServer::h2c();
    let big = "x".repeat(4096);
    let url = format!("{}?x-big={big}", server.url("/headers"));
    let roomy = towline::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let res = within(roomy.get(&url).send()).await.unwrap();
    assert_eq!(res.headers()["x-big"].len(), 4096);
    let tight = towline::Client::builder()
        .http2_prior_knowledge()
        .http2_max_header_list_size(1024)
        .build()
        .unwrap();
    let error = within(tight.get(&url).send()).await.unwrap_err();
    assert!(error.is_request(), "{error:?}");
}

#[tokio::test]
async fn http1_obsolete_multiline_headers_are_refused_unless_allowed() {
    let server = towline_test_support::RawServer::fixed(
        "HTTP/1.1 200 OK\r\nx-folded: first\r\n second\r\ncontent-length: 0\r\n\r\n",
    );
    let strict = towline::Client::new();
    let error = within(strict.get(server.url("/")).send())
        .await
        .unwrap_err();
    assert!(error.is_request(), "{error:?}");
    let lenient = towline::Client::builder()
        .http1_allow_obsolete_multiline_headers_in_responses(true)
        .build()
        .unwrap();
    let res = within(lenient.get(server.url("/")).send()).await.unwrap();
    assert_eq!(res.headers()["x-folded"], "first second");
}
