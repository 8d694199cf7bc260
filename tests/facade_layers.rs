#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Redirects, cookies, HSTS and decompression end to end, against the in-process servers of
//! `towline-test-support`, through two stacks that must behave alike:
//!
//! - [`Facade`]: `towline::TokioClient` configured with the builder methods
//!   (`max_redirects`, `redirect_policy`, `cookie_store`, `cookie_jar`, `hsts`,
//!   `no_decompression`, …), answers read with `Response::url()`, errors classified with
//!   `Error::is_redirect()` and `Error::is_decode()`;
//! - [`Composed`]: the bare transport (`Transport` over `TlsConnector` over `HttpConnector`)
//!   under `DecompressionLayer`, tower-http's `SetRequestHeaderLayer`, `RedirectLayer`,
//!   `HstsLayer` and `CookieLayer`, assembled by hand with `ServiceBuilder` and
//!   `ServiceBuilderExt`, errors classified with `find_cause`.
//!
//! Every scenario is written once, generic over [`Stack`], and runs against both (test names
//! `facade::…` and `composed::…`). Tests that only make sense for one of them follow: the
//! facade's error URL, decode errors from `text()` and `chunk()`, and timings; a tower-http
//! layer under the composed redirect layer seeing every hop; and both stacks sending the same
//! `Cookie` and `Accept-Encoding` headers.
//!
//! The encoded bodies come from the codec crates (flate2, brotli, zstd). These tests check the
//! wiring (`Accept-Encoding`, headers, opt-outs, errors); stacked codings and the size and
//! ratio limits are tested on the layer itself in `layers/tests/decompression.rs`.

mod common;

use std::error::Error as StdError;
use std::future::Future;
use std::io::Write;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use http::header::{
    ACCEPT_ENCODING, CONTENT_ENCODING, COOKIE, HeaderName, HeaderValue, LOCATION, SET_COOKIE,
};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::set_header::SetRequestHeaderLayer;
use towline::towline_layers::cookie::{CookieJar, CookieLayer};
use towline::towline_layers::decompression::{
    DecompressionBody, DecompressionError, DecompressionLayer, NoDecompression,
};
use towline::towline_layers::error::find_cause;
use towline::towline_layers::hsts::{HstsLayer, HstsStore};
use towline::towline_layers::redirect::{Policy, RedirectError, RedirectHistory};
use towline::towline_layers::resend::ResendBody;
use towline::towline_layers::{BoxError, EffectiveUri, ServiceBuilderExt};
use towline::towline_services::connect::tls::{Certificate, TlsConfig, TlsConnector};
use towline::towline_services::connect::{HttpConnector, TcpConfig};
use towline::towline_services::rt::tokio::TokioRuntime;
use towline::towline_services::transport::{ResponseBody, Transport, TransportConfig};
use towline::{Error, TokioClient};
use towline_test_support::{BoxBody, TestPki, TestServer, response};

use common::within;

// ---------------------------------------------------------------------------
// the server
// ---------------------------------------------------------------------------

/// The decoded text every `/encoded/…` route carries.
fn text() -> String {
    "towline decodes this: ünïcödé text, repeated. ".repeat(80)
}

/// The routes every scenario uses:
///
/// | path | response |
/// | --- | --- |
/// | `/hop/N` | 302 to `/hop/N+1` while N < 3; `/hop/3` is 200 `arrived` |
/// | `/redirect?status=S&to=URL&set=C…` | status S (default 302), `Location: URL`, a `Set-Cookie: C` per `set` |
/// | `/set?c=C…` | 200 with a `Set-Cookie: C` per `c` |
/// | `/sts` | 200 with `Strict-Transport-Security: max-age=600; includeSubDomains` |
/// | `/empty-encoded/S` | status S, an empty body, `Content-Encoding: gzip` |
/// | `/echo…` | 200 JSON: `method`, `path`, `query`, `body`, `headers` (`[[name, value], …]`), `sni` (the TLS server name, or null) |
/// | `/encoded/C` | [`text`] encoded with C (`gzip`, `x-gzip`, `deflate`, `br`, `zstd`; `corrupt` is garbage labelled gzip), `Content-Encoding: C`; header `x-seen-accept-encoding` repeats the request's `Accept-Encoding` (`-` when there was none) |
fn app_server(tls: Option<&TestPki>) -> TestServer {
    let builder = TestServer::builder();
    let builder = match tls {
        Some(pki) => builder.tls(pki, &[b"h2", b"http/1.1"]),
        None => builder,
    };
    builder
        .handler(|request: Request<Bytes>| async move { app(&request) })
        .build()
}

fn app(request: &Request<Bytes>) -> http::Response<BoxBody> {
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let all = |name: &str| {
        query
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .collect::<Vec<_>>()
    };
    let path = request.uri().path();
    if let Some(n) = path.strip_prefix("/hop/") {
        let n: usize = n.parse().unwrap();
        if n < 3 {
            let mut reply = response(302, "moving on");
            reply
                .headers_mut()
                .insert(LOCATION, header_value(&format!("/hop/{}", n + 1)));
            return reply;
        }
        return response(200, "arrived");
    }
    if let Some(coding) = path.strip_prefix("/encoded/") {
        let (label, body) = match coding {
            "corrupt" => (
                "gzip",
                b"\x1f\x8b\x08\0this is not deflate data at all".to_vec(),
            ),
            coding => (coding, encode(coding, text().as_bytes())),
        };
        let mut reply = response(200, body);
        reply
            .headers_mut()
            .insert(CONTENT_ENCODING, header_value(label));
        let seen = request
            .headers()
            .get(ACCEPT_ENCODING)
            .cloned()
            .unwrap_or(HeaderValue::from_static("-"));
        reply.headers_mut().insert("x-seen-accept-encoding", seen);
        return reply;
    }
    if let Some(status) = path.strip_prefix("/empty-encoded/") {
        let mut reply = response(status.parse().unwrap(), "");
        reply
            .headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        return reply;
    }
    if path.starts_with("/echo") {
        let headers: Vec<[String; 2]> = request
            .headers()
            .iter()
            .map(|(name, value)| [name.as_str().to_owned(), value.to_str().unwrap().to_owned()])
            .collect();
        let report = json!({
            "method": request.method().as_str(),
            "path": path,
            "query": request.uri().query(),
            "body": String::from_utf8_lossy(request.body()),
            "headers": headers,
            "sni": request
                .extensions()
                .get::<towline_test_support::ConnectionInfo>()
                .and_then(|info| info.sni.as_deref()),
        });
        return response(200, report.to_string());
    }
    let mut reply = match path {
        "/redirect" => {
            let status = all("status").first().map_or(302, |s| s.parse().unwrap());
            let mut reply = response(status, "");
            reply
                .headers_mut()
                .insert(LOCATION, header_value(&all("to")[0]));
            for cookie in all("set") {
                reply
                    .headers_mut()
                    .append(SET_COOKIE, header_value(&cookie));
            }
            return reply;
        }
        "/set" => response(200, "set"),
        "/sts" => {
            let mut reply = response(200, "sts");
            reply.headers_mut().insert(
                "strict-transport-security",
                HeaderValue::from_static("max-age=600; includeSubDomains"),
            );
            reply
        }
        _ => return response(404, format!("no route for {path}")),
    };
    for cookie in all("c") {
        reply
            .headers_mut()
            .append(SET_COOKIE, header_value(&cookie));
    }
    reply
}

fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap()
}

/// Percent-encodes a query parameter value.
fn q(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Every value `/echo` saw for header `name`.
fn header_values(echo: &Value, name: &str) -> Vec<String> {
    echo["headers"]
        .as_array()
        .expect("headers is an array")
        .iter()
        .filter(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------
// encodings
// ---------------------------------------------------------------------------

/// `data` encoded with `coding` by the codec crates. Every encoder is deterministic, so
/// [`assert_untouched`] can compare a passed-through body with a second encoding.
fn encode(coding: &str, data: &[u8]) -> Vec<u8> {
    match coding {
        "gzip" | "x-gzip" => {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        }
        "deflate" => {
            let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        }
        "br" => {
            let mut encoder = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
            encoder.write_all(data).unwrap();
            encoder.into_inner()
        }
        "zstd" => zstd::encode_all(data, 3).unwrap(),
        other => panic!("no encoder for {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// the two stacks
// ---------------------------------------------------------------------------

#[derive(Clone, Default)]
enum Redirects {
    /// The default policy: up to 10.
    #[default]
    Follow,
    Limited(usize),
    Off,
}

#[derive(Clone, Default)]
enum Cookies {
    #[default]
    Off,
    /// A jar of the stack's own.
    Own,
    Jar(CookieJar),
}

#[derive(Clone, Default)]
enum Hsts {
    #[default]
    Off,
    /// A store of the stack's own.
    Own,
    Store(HstsStore),
}

#[derive(Clone, Default)]
struct Config {
    redirects: Redirects,
    cookies: Cookies,
    hsts: Hsts,
    no_decompression: bool,
    /// A CA (PEM) to trust instead of the built-in roots.
    ca: Option<String>,
}

impl Config {
    fn redirects(redirects: Redirects) -> Self {
        Self {
            redirects,
            ..Self::default()
        }
    }

    fn cookies(cookies: Cookies) -> Self {
        Self {
            cookies,
            ..Self::default()
        }
    }
}

/// One request, as a scenario describes it.
struct Req {
    method: Method,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: &'static str,
    no_decompression: bool,
}

impl Req {
    fn get(url: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            url: url.into(),
            headers: Vec::new(),
            body: "",
            no_decompression: false,
        }
    }

    fn post(url: impl Into<String>, body: &'static str) -> Self {
        Self {
            method: Method::POST,
            body,
            ..Self::get(url)
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn no_decompression(mut self) -> Self {
        self.no_decompression = true;
        self
    }
}

/// What a scenario checks of a response.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    /// The URL the response came from (after redirects).
    url: String,
    /// The URLs that answered with the redirects followed.
    history: Vec<String>,
    body: Result<Bytes, Failure>,
}

impl Reply {
    fn text(&self) -> String {
        let body = self.body.as_ref().expect("the body reads");
        String::from_utf8(body.to_vec()).unwrap()
    }

    fn echo(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "echo status: {self:?}");
        serde_json::from_str(&self.text()).unwrap()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }
}

/// How a request or a body failed, as each stack classifies it.
#[derive(Debug)]
enum Failure {
    /// A redirect error (too many redirects, …), with the URLs that had redirected.
    Redirect {
        history: Vec<String>,
    },
    /// The body could not be decoded.
    Decode(#[allow(dead_code, reason = "shown by Debug in assertion messages")] String),
    Other(#[allow(dead_code, reason = "shown by Debug in assertion messages")] String),
}

fn redirect_history(error: &(dyn StdError + 'static)) -> Vec<String> {
    find_cause::<RedirectError>(error)
        .map(|redirect| redirect.history().iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

fn history_of(extensions: &http::Extensions) -> Vec<String> {
    // No history: no redirect was followed.
    extensions
        .get::<RedirectHistory>()
        .map(|history| history.uris().iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

/// A client stack the scenarios run against.
trait Stack: Sized {
    fn build(config: Config) -> Self;

    fn send(&self, request: Req) -> impl Future<Output = Result<Reply, Failure>>;
}

/// `towline::TokioClient`, configured through its builder.
struct Facade(TokioClient);

impl Facade {
    fn failure(error: &Error) -> Failure {
        if error.is_redirect() {
            Failure::Redirect {
                history: redirect_history(error),
            }
        } else if error.is_decode() {
            Failure::Decode(format!("{error:?}"))
        } else {
            Failure::Other(format!("{error:?}"))
        }
    }
}

impl Stack for Facade {
    fn build(config: Config) -> Self {
        let mut builder = TokioClient::builder();
        builder = match config.redirects {
            Redirects::Follow => builder,
            Redirects::Limited(max) => builder.max_redirects(max),
            Redirects::Off => builder.redirect_policy(Policy::none()),
        };
        builder = match config.cookies {
            Cookies::Off => builder,
            Cookies::Own => builder.cookie_store(true),
            Cookies::Jar(jar) => builder.cookie_jar(jar),
        };
        builder = match config.hsts {
            Hsts::Off => builder,
            Hsts::Own => builder.hsts(true),
            Hsts::Store(store) => builder.hsts_store(store),
        };
        if config.no_decompression {
            builder = builder.no_decompression();
        }
        if let Some(pem) = config.ca {
            builder = builder
                .tls_built_in_root_certs(false)
                .add_root_certificate(towline::Certificate::from_pem(pem.as_bytes()).unwrap());
        }
        Self(builder.build().unwrap())
    }

    async fn send(&self, request: Req) -> Result<Reply, Failure> {
        let mut builder = self.0.request(request.method, request.url.as_str());
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        if !request.body.is_empty() {
            builder = builder.body(request.body);
        }
        if request.no_decompression {
            builder = builder.no_decompression();
        }
        let response = within(builder.send())
            .await
            .map_err(|e| Self::failure(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let url = response.url().to_string();
        let history = history_of(response.extensions());
        let body = within(response.bytes())
            .await
            .map_err(|e| Self::failure(&e));
        Ok(Reply {
            status,
            headers,
            url,
            history,
            body,
        })
    }
}

type ComposedResponse = http::Response<DecompressionBody<ResponseBody<ResendBody<Full<Bytes>>>>>;

/// The bare transport under the layers, assembled by hand.
struct Composed(BoxCloneService<Request<Full<Bytes>>, ComposedResponse, BoxError>);

impl Composed {
    fn failure(error: &(dyn StdError + 'static)) -> Failure {
        if find_cause::<RedirectError>(error).is_some() {
            Failure::Redirect {
                history: redirect_history(error),
            }
        } else if find_cause::<DecompressionError>(error).is_some_and(|e| !e.is_limit()) {
            Failure::Decode(format!("{error:?}"))
        } else {
            Failure::Other(format!("{error:?}"))
        }
    }
}

impl Stack for Composed {
    fn build(config: Config) -> Self {
        // Trust the test CA alone when there is one, the built-in roots otherwise.
        let tls = match &config.ca {
            Some(pem) => TlsConfig {
                webpki_roots: false,
                native_roots: false,
                extra_roots: vec![Certificate::from_pem(pem.as_bytes()).unwrap()],
                ..TlsConfig::default()
            },
            None => TlsConfig::default(),
        };
        let connector = TlsConnector::new(
            HttpConnector::new(TokioRuntime, TcpConfig::default()),
            tls.build().unwrap(),
        );
        // The redirect layer hands the layers below it `ResendBody<B>`.
        let transport: Transport<_, ResendBody<Full<Bytes>>, _> =
            Transport::new(connector, TokioRuntime, TransportConfig::default());
        let policy = match config.redirects {
            Redirects::Follow => Policy::default(),
            Redirects::Limited(max) => Policy::limited(max),
            Redirects::Off => Policy::none(),
        };
        let jar = match config.cookies {
            Cookies::Off => None,
            Cookies::Own => Some(CookieJar::new()),
            Cookies::Jar(jar) => Some(jar),
        };
        let store = match config.hsts {
            Hsts::Off => None,
            Hsts::Own => Some(HstsStore::new()),
            Hsts::Store(store) => Some(store),
        };
        // A body-wrapping layer cannot be optional; switched off, it passes bodies through.
        let top = if config.no_decompression {
            ServiceBuilder::new().layer(DecompressionLayer::new().no_decompression())
        } else {
            ServiceBuilder::new().decompress_responses()
        };
        // The facade's order: decompression above redirect (redirect bodies are drained
        // undecoded), HSTS and cookies below it (every hop is upgraded, sends and stores).
        let service = top
            .layer(SetRequestHeaderLayer::overriding(
                HeaderName::from_static("x-stack"),
                HeaderValue::from_static("composed"),
            ))
            .redirects(policy)
            .option_layer(store.map(HstsLayer::new))
            .option_layer(jar.map(CookieLayer::new))
            .service(transport);
        Self(BoxCloneService::new(service))
    }

    async fn send(&self, request: Req) -> Result<Reply, Failure> {
        let mut builder = Request::builder()
            .method(request.method)
            .uri(request.url.as_str());
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        let mut http_request = builder
            .body(Full::new(Bytes::from_static(request.body.as_bytes())))
            .unwrap();
        if request.no_decompression {
            http_request.extensions_mut().insert(NoDecompression);
        }
        let sent_to = http_request.uri().to_string();
        let response = within(self.0.clone().oneshot(http_request))
            .await
            .map_err(|e| Self::failure(&*e))?;
        // A response that was not redirected (nor upgraded) came from where it was sent.
        let url = response
            .extensions()
            .get::<EffectiveUri>()
            .map_or(sent_to, |effective| effective.0.to_string());
        let history = history_of(response.extensions());
        let (parts, body) = response.into_parts();
        let body = within(body.collect())
            .await
            .map(|collected| collected.to_bytes())
            .map_err(|e| Self::failure(&*e));
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            url,
            history,
            body,
        })
    }
}

// ---------------------------------------------------------------------------
// redirect scenarios
// ---------------------------------------------------------------------------

async fn redirect_chain_of_three_is_followed<S: Stack>() {
    let server = app_server(None);
    let stack = S::build(Config::default());
    let reply = stack.send(Req::get(server.url("/hop/0"))).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.url, server.url("/hop/3"));
    assert_eq!(
        reply.history,
        [
            server.url("/hop/0"),
            server.url("/hop/1"),
            server.url("/hop/2")
        ]
    );
    assert_eq!(reply.text(), "arrived");
    assert_eq!(server.requests(), 4);

    // No redirect: the URL asked for, an empty history.
    let reply = stack.send(Req::get(server.url("/hop/3"))).await.unwrap();
    assert_eq!(reply.url, server.url("/hop/3"));
    assert!(reply.history.is_empty(), "{reply:?}");
}

async fn redirect_limit_below_the_chain_is_a_redirect_error<S: Stack>() {
    let server = app_server(None);
    let error = S::build(Config::redirects(Redirects::Limited(2)))
        .send(Req::get(server.url("/hop/0")))
        .await
        .unwrap_err();
    let Failure::Redirect { history } = error else {
        panic!("expected a redirect error, got {error:?}");
    };
    assert_eq!(
        history,
        [
            server.url("/hop/0"),
            server.url("/hop/1"),
            server.url("/hop/2")
        ]
    );
    // The hop past the limit was never sent.
    assert_eq!(server.requests(), 3);

    // A limit equal to the chain's length is enough.
    let reply = S::build(Config::redirects(Redirects::Limited(3)))
        .send(Req::get(server.url("/hop/0")))
        .await
        .unwrap();
    assert_eq!(reply.url, server.url("/hop/3"));
}

async fn redirects_off_returns_the_302<S: Stack>() {
    let server = app_server(None);
    let reply = S::build(Config::redirects(Redirects::Off))
        .send(Req::get(server.url("/hop/0")))
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::FOUND);
    assert_eq!(reply.header("location"), Some("/hop/1"));
    assert_eq!(reply.url, server.url("/hop/0"));
    assert!(reply.history.is_empty(), "{reply:?}");
    assert_eq!(reply.text(), "moving on");
    assert_eq!(server.requests(), 1);
}

async fn redirect_methods_follow_rfc_9110<S: Stack>() {
    let server = app_server(None);
    let stack = S::build(Config::default());
    for status in [301, 302, 303, 307, 308] {
        let url = server.url(&format!("/redirect?status={status}&to=/echo"));
        let reply = stack
            .send(Req::post(url, "the payload").header("content-type", "text/plain"))
            .await
            .unwrap();
        assert_eq!(reply.url, server.url("/echo"), "{status}");
        let echo = reply.echo();
        if status == 307 || status == 308 {
            assert_eq!(echo["method"], "POST", "{status}: {echo}");
            assert_eq!(echo["body"], "the payload", "{status}: {echo}");
            assert_eq!(header_values(&echo, "content-type"), ["text/plain"]);
        } else {
            assert_eq!(echo["method"], "GET", "{status}: {echo}");
            assert_eq!(echo["body"], "", "{status}: {echo}");
            assert!(
                header_values(&echo, "content-type").is_empty(),
                "{status}: {echo}"
            );
            assert!(
                header_values(&echo, "content-length").is_empty(),
                "{status}: {echo}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// cookie scenarios
// ---------------------------------------------------------------------------

/// GETs `/redirect` → `/echo` with `Set-Cookie: sid=1` on the 302; returns the `Cookie`
/// values the `/echo` hop saw.
async fn cookie_through_redirect<S: Stack>(stack: &S, server: &TestServer) -> Vec<String> {
    let url = server.url(&format!("/redirect?to=/echo&set={}", q("sid=1; Path=/")));
    let reply = stack.send(Req::get(url)).await.unwrap();
    assert_eq!(reply.url, server.url("/echo"));
    header_values(&reply.echo(), "cookie")
}

async fn later_cookie<S: Stack>(stack: &S, server: &TestServer) -> Vec<String> {
    let reply = stack
        .send(Req::get(server.url("/echo?later")))
        .await
        .unwrap();
    header_values(&reply.echo(), "cookie")
}

async fn cookie_store_sends_a_redirect_hops_cookie_next_hop_and_later<S: Stack>() {
    let server = app_server(None);
    let stack = S::build(Config::cookies(Cookies::Own));
    assert_eq!(cookie_through_redirect(&stack, &server).await, ["sid=1"]);
    assert_eq!(later_cookie(&stack, &server).await, ["sid=1"]);
    // A caller's Cookie header is merged with the jar's.
    let reply = stack
        .send(Req::get(server.url("/echo")).header("cookie", "mine=2"))
        .await
        .unwrap();
    assert_eq!(header_values(&reply.echo(), "cookie"), ["mine=2; sid=1"]);
    // A Set-Cookie on a plain 200 is stored as well.
    stack
        .send(Req::get(server.url(&format!("/set?c={}", q("two=2")))))
        .await
        .unwrap();
    assert_eq!(later_cookie(&stack, &server).await, ["sid=1; two=2"]);
}

async fn without_a_cookie_store_nothing_is_stored<S: Stack>() {
    let server = app_server(None);
    let stack = S::build(Config::default());
    assert!(cookie_through_redirect(&stack, &server).await.is_empty());
    assert!(later_cookie(&stack, &server).await.is_empty());
    // The caller's own Cookie header goes out untouched.
    let reply = stack
        .send(Req::get(server.url("/echo")).header("cookie", "mine=2"))
        .await
        .unwrap();
    assert_eq!(header_values(&reply.echo(), "cookie"), ["mine=2"]);
}

async fn cookie_jar_handle_can_be_inspected<S: Stack>() {
    let server = app_server(None);
    let jar = CookieJar::new();
    let stack = S::build(Config::cookies(Cookies::Jar(jar.clone())));
    assert_eq!(cookie_through_redirect(&stack, &server).await, ["sid=1"]);

    let cookies = jar.cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let sid = &cookies[0];
    assert_eq!((sid.name.as_str(), sid.value.as_str()), ("sid", "1"));
    assert_eq!(sid.domain, "127.0.0.1");
    assert!(sid.host_only);
    assert_eq!(sid.path, "/");
    assert!(
        !sid.secure && !sid.http_only && sid.expiry.is_none(),
        "{sid:?}"
    );

    // The handle is the stack's jar: what the caller changes, the stack sends.
    jar.set_cookie(&server.url("/").parse().unwrap(), "added=by-hand")
        .unwrap();
    assert_eq!(
        later_cookie(&stack, &server).await,
        ["sid=1; added=by-hand"]
    );
    jar.clear();
    assert!(later_cookie(&stack, &server).await.is_empty());

    // A redirect hop can delete a cookie too.
    cookie_through_redirect(&stack, &server).await;
    assert_eq!(jar.len(), 1);
    let url = server.url(&format!("/redirect?to=/echo&set={}", q("sid=; Max-Age=0")));
    let reply = stack.send(Req::get(url)).await.unwrap();
    assert!(header_values(&reply.echo(), "cookie").is_empty());
    assert!(jar.is_empty(), "{:?}", jar.cookies());
}

// ---------------------------------------------------------------------------
// decompression scenarios
// ---------------------------------------------------------------------------

const CODINGS: [&str; 5] = ["gzip", "x-gzip", "deflate", "br", "zstd"];

async fn every_coding_is_decoded_by_default<S: Stack>() {
    let server = app_server(None);
    let stack = S::build(Config::default());
    for coding in CODINGS {
        let reply = stack
            .send(Req::get(server.url(&format!("/encoded/{coding}"))))
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{coding}");
        assert_eq!(reply.text(), text(), "{coding}");
        assert_eq!(reply.header("content-encoding"), None, "{coding}");
        assert_eq!(reply.header("content-length"), None, "{coding}");
        assert_eq!(
            reply.header("x-seen-accept-encoding"),
            Some("gzip, deflate, br, zstd"),
            "{coding}"
        );
    }
    // The caller's own Accept-Encoding is left alone.
    let reply = stack
        .send(Req::get(server.url("/encoded/br")).header("accept-encoding", "br"))
        .await
        .unwrap();
    assert_eq!(reply.header("x-seen-accept-encoding"), Some("br"));
    assert_eq!(reply.text(), text());
}

async fn decoded_after_a_redirect<S: Stack>() {
    let server = app_server(None);
    let reply = S::build(Config::default())
        .send(Req::get(server.url("/redirect?to=/encoded/gzip")))
        .await
        .unwrap();
    assert_eq!(reply.url, server.url("/encoded/gzip"));
    assert_eq!(reply.history, [server.url("/redirect?to=/encoded/gzip")]);
    assert_eq!(reply.text(), text());
}

/// Checks that `reply` is `/encoded/{coding}` as the server sent it, and that no
/// `Accept-Encoding` was sent.
fn assert_untouched(reply: &Reply, coding: &str) {
    let body = reply.body.as_ref().expect("the body reads");
    assert_eq!(
        body.as_ref(),
        encode(coding, text().as_bytes()).as_slice(),
        "{coding}"
    );
    assert_eq!(reply.header("content-encoding"), Some(coding));
    assert_eq!(
        reply.header("content-length"),
        Some(body.len().to_string().as_str()),
        "{coding}"
    );
    assert_eq!(
        reply.header("x-seen-accept-encoding"),
        Some("-"),
        "{coding}"
    );
}

async fn no_decompression_leaves_bodies_encoded_and_asks_for_nothing<S: Stack>() {
    let server = app_server(None);
    let stack = S::build(Config {
        no_decompression: true,
        ..Config::default()
    });
    for coding in CODINGS {
        let reply = stack
            .send(Req::get(server.url(&format!("/encoded/{coding}"))))
            .await
            .unwrap();
        assert_untouched(&reply, coding);
    }
}

async fn one_request_can_opt_out_of_decompression<S: Stack>() {
    let server = app_server(None);
    let stack = S::build(Config::default());
    for coding in CODINGS {
        let url = server.url(&format!("/encoded/{coding}"));
        let reply = stack
            .send(Req::get(url.as_str()).no_decompression())
            .await
            .unwrap();
        assert_untouched(&reply, coding);
        // The next request decodes again.
        let reply = stack.send(Req::get(url)).await.unwrap();
        assert_eq!(reply.text(), text(), "{coding}");
    }
}

async fn corrupt_gzip_is_a_decode_error<S: Stack>() {
    let server = app_server(None);
    let stack = S::build(Config::default());
    let reply = stack
        .send(Req::get(server.url("/encoded/corrupt")))
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    match &reply.body {
        Err(Failure::Decode(_)) => {}
        other => panic!("expected a decode error, got {other:?}"),
    }
    // The client keeps working.
    let reply = stack
        .send(Req::get(server.url("/encoded/gzip")))
        .await
        .unwrap();
    assert_eq!(reply.text(), text());
}

async fn bodiless_responses_that_claim_a_coding_are_fine<S: Stack>() {
    let server = app_server(None);
    let stack = S::build(Config::default());
    // HEAD: the head of the gzip response, no body, passed through untouched.
    let head = Req {
        method: Method::HEAD,
        ..Req::get(server.url("/encoded/gzip"))
    };
    let reply = stack.send(head).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    assert_eq!(reply.text(), "");
    for status in [200u16, 204, 304] {
        let reply = stack
            .send(Req::get(server.url(&format!("/empty-encoded/{status}"))))
            .await
            .unwrap();
        assert_eq!(reply.status.as_u16(), status);
        assert_eq!(reply.text(), "", "{status}");
    }
}

// ---------------------------------------------------------------------------
// HSTS scenario
// ---------------------------------------------------------------------------

async fn hsts_learned_over_https_upgrades_http<S: Stack>() {
    let pki = TestPki::generate();
    let server = app_server(Some(&pki));
    let port = server.addr().port();
    let config = Config {
        ca: Some(pki.ca_pem()),
        ..Config::default()
    };
    let plain = format!("http://localhost:{port}/echo?x=1");

    // Without HSTS, http:// to the TLS port reaches it in plain text and fails.
    let without = S::build(config.clone());
    let error = without.send(Req::get(plain.as_str())).await.unwrap_err();
    assert!(matches!(error, Failure::Other(_)), "{error:?}");

    let stack = S::build(Config {
        hsts: Hsts::Own,
        ..config
    });
    // Not learned yet: the same failure.
    let error = stack.send(Req::get(plain.as_str())).await.unwrap_err();
    assert!(matches!(error, Failure::Other(_)), "{error:?}");

    let learn = stack.send(Req::get(server.url("/sts"))).await.unwrap();
    assert_eq!(learn.status, StatusCode::OK);
    assert!(learn.header("strict-transport-security").is_some());

    // The same http:// URL now goes out over TLS, to the same explicit port.
    let reply = stack.send(Req::get(plain.as_str())).await.unwrap();
    let echo = reply.echo();
    assert_eq!(
        (&echo["query"], &echo["sni"]),
        (&json!("x=1"), &json!("localhost"))
    );

    // A redirect to http:// on that host is upgraded too (HSTS sits under redirect).
    let hop = format!("http://localhost:{port}/echo?via=redirect");
    let redirect = server.url(&format!("/redirect?to={}", q(&hop)));
    let via = stack.send(Req::get(redirect.as_str())).await.unwrap();
    let echo = via.echo();
    assert_eq!(
        (&echo["query"], &echo["sni"]),
        (&json!("via=redirect"), &json!("localhost"))
    );

    // The response URL is the one the response came from: https.
    assert_eq!(reply.url, format!("https://localhost:{port}/echo?x=1"));
    assert_eq!(
        via.url,
        format!("https://localhost:{port}/echo?via=redirect")
    );
    assert_eq!(via.history, [redirect]);

    // The client without HSTS still fails.
    let error = without.send(Req::get(plain.as_str())).await.unwrap_err();
    assert!(matches!(error, Failure::Other(_)), "{error:?}");
}

async fn hsts_store_handle_is_shared<S: Stack>() {
    let pki = TestPki::generate();
    let server = app_server(Some(&pki));
    let port = server.addr().port();
    let store = HstsStore::new();
    let config = Config {
        hsts: Hsts::Store(store.clone()),
        ca: Some(pki.ca_pem()),
        ..Config::default()
    };
    let first = S::build(config.clone());
    let learn = first.send(Req::get(server.url("/sts"))).await.unwrap();
    assert_eq!(learn.status, StatusCode::OK);
    assert!(store.is_known("localhost"));
    assert!(store.is_known("sub.localhost"));

    // Another stack on the same store upgrades at once.
    let second = S::build(config);
    let reply = second
        .send(Req::get(format!("http://localhost:{port}/echo")))
        .await
        .unwrap();
    assert_eq!(reply.echo()["sni"], "localhost");
    assert_eq!(reply.url, format!("https://localhost:{port}/echo"));

    // Forgotten by the caller, the host is plain HTTP again (and fails on the TLS port).
    store.clear();
    let error = second
        .send(Req::get(format!("http://localhost:{port}/echo")))
        .await
        .unwrap_err();
    assert!(matches!(error, Failure::Other(_)), "{error:?}");
}

// ---------------------------------------------------------------------------
// every scenario against both stacks
// ---------------------------------------------------------------------------

macro_rules! scenarios {
    ($($scenario:ident),* $(,)?) => {
        /// The scenarios through `towline::TokioClient`.
        mod facade {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario::<super::Facade>().await;
                }
            )*
        }

        /// The scenarios through the hand-assembled stack.
        mod composed {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario::<super::Composed>().await;
                }
            )*
        }
    };
}

scenarios!(
    redirect_chain_of_three_is_followed,
    redirect_limit_below_the_chain_is_a_redirect_error,
    redirects_off_returns_the_302,
    redirect_methods_follow_rfc_9110,
    cookie_store_sends_a_redirect_hops_cookie_next_hop_and_later,
    without_a_cookie_store_nothing_is_stored,
    cookie_jar_handle_can_be_inspected,
    every_coding_is_decoded_by_default,
    decoded_after_a_redirect,
    no_decompression_leaves_bodies_encoded_and_asks_for_nothing,
    one_request_can_opt_out_of_decompression,
    corrupt_gzip_is_a_decode_error,
    bodiless_responses_that_claim_a_coding_are_fine,
    hsts_learned_over_https_upgrades_http,
    hsts_store_handle_is_shared,
);

// ---------------------------------------------------------------------------
// facade only
// ---------------------------------------------------------------------------

#[tokio::test]
async fn facade_redirect_error_carries_the_request_url() {
    let server = app_server(None);
    let client = TokioClient::builder().max_redirects(2).build().unwrap();
    let error = within(client.get(server.url("/hop/0")).send())
        .await
        .unwrap_err();
    assert!(error.is_redirect(), "{error:?}");
    assert!(!error.is_decode() && !error.is_connect(), "{error:?}");
    assert_eq!(
        error.url().map(ToString::to_string),
        Some(server.url("/hop/0"))
    );
    let redirect = find_cause::<RedirectError>(&error).expect("a RedirectError in the chain");
    assert!(redirect.is_too_many_redirects());
    assert_eq!(
        redirect.location().map(ToString::to_string),
        Some(server.url("/hop/3"))
    );
}

#[tokio::test]
async fn facade_redirect_keep_post_sends_the_post_again() {
    let server = app_server(None);
    let client = TokioClient::builder()
        .redirect_keep_post(StatusCode::FOUND)
        .build()
        .unwrap();
    for (status, method, body) in [(302, "POST", "payload"), (303, "GET", "")] {
        let url = server.url(&format!("/redirect?status={status}&to=/echo"));
        let response = within(client.post(url.as_str()).body("payload").send())
            .await
            .unwrap();
        let echo: Value = serde_json::from_str(&within(response.text()).await.unwrap()).unwrap();
        assert_eq!(echo["method"], method, "{status}");
        assert_eq!(echo["body"], body, "{status}");
    }
}

#[tokio::test]
async fn facade_corrupt_gzip_fails_text_and_chunk_as_decode_errors() {
    let server = app_server(None);
    let client = TokioClient::new();
    let url = server.url("/encoded/corrupt");
    let response = within(client.get(url.as_str()).send()).await.unwrap();
    let error = within(response.text()).await.unwrap_err();
    assert!(error.is_decode() && !error.is_body(), "{error:?}");
    assert!(
        find_cause::<DecompressionError>(&error).is_some(),
        "{error:?}"
    );

    let mut response = within(client.get(url.as_str()).send()).await.unwrap();
    let error = loop {
        match within(response.chunk()).await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("a corrupt body must not end cleanly"),
            Err(error) => break error,
        }
    };
    assert!(error.is_decode(), "{error:?}");
}

#[tokio::test]
async fn facade_timings_are_recorded_when_enabled() {
    let server = app_server(None);
    let client = TokioClient::builder().timings(true).build().unwrap();
    let url = server.url("/hop/0");
    let mut response = within(client.get(url.as_str()).send()).await.unwrap();
    assert_eq!(response.url().to_string(), server.url("/hop/3"));
    let timings = response.timings().cloned().expect("timings recorded");
    assert!(timings.time_to_first_byte.is_some(), "{timings:?}");
    assert_eq!(timings.body_complete(), None);
    while within(response.chunk()).await.unwrap().is_some() {}
    assert!(timings.body_complete().is_some(), "{timings:?}");

    // With decompression in between, the decoded body still completes the timings.
    let response = within(client.get(server.url("/encoded/gzip")).send())
        .await
        .unwrap();
    let timings = response.timings().cloned().expect("timings recorded");
    assert_eq!(within(response.text()).await.unwrap(), text());
    assert!(timings.body_complete().is_some(), "{timings:?}");

    let untimed = TokioClient::new();
    let response = within(untimed.get(url.as_str()).send()).await.unwrap();
    assert!(response.timings().is_none());
}

// ---------------------------------------------------------------------------
// composed only
// ---------------------------------------------------------------------------

#[tokio::test]
async fn composed_tower_http_layer_reaches_every_hop() {
    let server = app_server(None);
    let stack = Composed::build(Config::default());
    let reply = stack
        .send(Req::post(
            server.url("/redirect?status=307&to=/echo"),
            "kept",
        ))
        .await
        .unwrap();
    let echo = reply.echo();
    assert_eq!(header_values(&echo, "x-stack"), ["composed"]);
    assert_eq!(echo["body"], "kept");
    // A bare stack sends no default headers, only what its layers add.
    assert!(header_values(&echo, "user-agent").is_empty());
    assert_eq!(
        header_values(&echo, "accept-encoding"),
        ["gzip, deflate, br, zstd"]
    );
}

#[tokio::test]
async fn composed_and_facade_send_the_same_cookie_and_accept_encoding() {
    // The same requests through both stacks reach the server with the same
    // cookie and Accept-Encoding headers.
    let server = app_server(None);
    let facade = Facade::build(Config::cookies(Cookies::Own));
    let composed = Composed::build(Config::cookies(Cookies::Own));
    for url in [
        server.url(&format!("/redirect?to=/echo&set={}", q("k=v"))),
        server.url("/echo"),
    ] {
        let a = facade.send(Req::get(url.as_str())).await.unwrap().echo();
        let b = composed.send(Req::get(url.as_str())).await.unwrap().echo();
        for name in [COOKIE.as_str(), ACCEPT_ENCODING.as_str()] {
            assert_eq!(header_values(&a, name), header_values(&b, name), "{name}");
        }
        assert_eq!(a["path"], b["path"]);
    }
}
