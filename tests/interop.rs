//! Interop suite: `towline::TokioClient` against real servers that others wrote —
//! httpbin under gunicorn (HTTP/1.1 keep-alive), nginx (TLS with ALPN h2 and
//! http/1.1, TLS with http/1.1 only, h2c with prior knowledge, gzip and br, HSTS) and
//! Caddy (`encode zstd gzip`), the proxies squid, tinyproxy, dante, microsocks and
//! `ssh -D` in front of nginx, and the WebSocket servers websocketd and python `websockets` —
//! including the facade's layers: redirects, cookies, decompression, HSTS, and Digest and
//! netrc authentication (origin and proxy).
//!
//! `.ci/peers.sh` installs, configures and starts the servers; `.ci/run` runs this file with
//! `cargo nextest run --run-ignored only -E 'binary(interop)'` and `TOWLINE_PEERS` set to the
//! peers' scratch directory (CA certificate, served files). Every test is `#[ignore]`d so a
//! plain `cargo test` stays self-contained; when run, a test without its peers panics with a
//! clear message instead of skipping.
//!
//! Run by hand:
//! ```text
//! export TOWLINE_PEERS=$(mktemp -d)
//! .ci/peers.sh install && .ci/peers.sh setup && .ci/peers.sh start
//! cargo nextest run --run-ignored only -E 'binary(interop)'
//! .ci/peers.sh stop
//! ```

// A test reports failure by panicking.
#![allow(clippy::panic)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use http::{Method, Version};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use towline::towline_layers::cookie::CookieJar;
use towline::towline_layers::redirect::RedirectHistory;
use towline::{Certificate, Error, TokioClient};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// httpbin under gunicorn (gthread worker), HTTP/1.1.
const HTTPBIN: &str = "http://127.0.0.1:8081";
/// nginx, plain HTTP/1.1.
const NGINX_H1: &str = "http://127.0.0.1:9080";
/// nginx, TLS, ALPN offers h2 and http/1.1. The leaf certificate names `localhost`.
const NGINX_TLS: &str = "https://localhost:9443";
/// nginx, TLS, ALPN offers http/1.1 only.
const NGINX_TLS_H1: &str = "https://localhost:9444";
/// nginx, h2c with prior knowledge only.
const NGINX_H2C: &str = "http://127.0.0.1:9082";

/// Caddy, plain HTTP, `encode zstd gzip` over the same www/ as nginx.
const CADDY: &str = "http://127.0.0.1:7080";

const TEN_MIB: usize = 10 * 1024 * 1024;
/// The size of the served `text.txt` (compressible text; gzip and br from nginx, zstd and gzip
/// from Caddy).
const TEXT_BYTES: usize = 819_200;

/// The peers' scratch directory, written by `.ci/peers.sh setup`.
struct Peers {
    dir: PathBuf,
}

/// Finds the running peers. Panics (never skips) when they are not there.
fn peers() -> Peers {
    let dir = match std::env::var_os("TOWLINE_PEERS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => panic!(
            "TOWLINE_PEERS is not set. The interop tests need the servers that .ci/run starts: \
             run .ci/run, or `export TOWLINE_PEERS=$(mktemp -d)` and \
             `.ci/peers.sh install && .ci/peers.sh setup && .ci/peers.sh start`"
        ),
    };
    let ca = dir.join("pki/ca.pem");
    if !ca.is_file() {
        panic!(
            "TOWLINE_PEERS={} has no pki/ca.pem: run `.ci/peers.sh setup` and \
             `.ci/peers.sh start` with this TOWLINE_PEERS",
            dir.display()
        );
    }
    Peers { dir }
}

impl Peers {
    fn read(&self, rel: &str) -> Vec<u8> {
        let path = self.dir.join(rel);
        match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) => panic!("cannot read {}: {err}", path.display()),
        }
    }

    /// The test CA that signed nginx's leaf certificate.
    fn ca(&self) -> TestResult<Certificate> {
        let pem = self.read("pki/ca.pem");
        Ok(Certificate::from_pem(pem.as_slice())?)
    }

    /// A client that trusts the test CA, with default protocol settings.
    fn tls_client(&self) -> TestResult<TokioClient> {
        Ok(TokioClient::builder()
            .add_root_certificate(self.ca()?)
            .build()?)
    }

    /// The served `data.json`, parsed.
    fn data_json(&self) -> TestResult<Value> {
        Ok(serde_json::from_slice(&self.read("www/data.json"))?)
    }

    /// The hex SHA-256 of a served file (`www/<name>.sha256`, as written by setup).
    fn sha256_of(&self, name: &str) -> String {
        let sum = String::from_utf8_lossy(&self.read(&format!("www/{name}.sha256")))
            .trim()
            .to_owned();
        assert_eq!(
            sum.len(),
            64,
            "www/{name}.sha256 is not a hex SHA-256: {sum:?}"
        );
        sum
    }

    /// The hex SHA-256 of the served `10M.bin`, as written by setup.
    fn ten_mib_sha256(&self) -> String {
        self.sha256_of("10M.bin")
    }

    /// The hex SHA-256 of the served (uncompressed) `text.txt`, as written by setup.
    fn text_sha256(&self) -> String {
        self.sha256_of("text.txt")
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn expect_err<T>(result: Result<T, Error>, what: &str) -> Error {
    match result {
        Ok(_) => panic!("{what}: expected an error, got success"),
        Err(err) => err,
    }
}

/// GET `{base}/data.json`; returns the negotiated version and the parsed body.
async fn get_data_json(client: &TokioClient, base: &str) -> TestResult<(Version, Value)> {
    let url = format!("{base}/data.json");
    let resp = client.get(url.as_str()).send().await?;
    assert_eq!(resp.status().as_u16(), 200, "GET {url}");
    let version = resp.version();
    let body: Value = resp.json().await?;
    Ok((version, body))
}

/// Checks for a 200 and returns httpbin's JSON echo of the request.
async fn echo(resp: towline::Response) -> TestResult<Value> {
    assert_eq!(resp.status().as_u16(), 200, "httpbin status");
    Ok(resp.json::<Value>().await?)
}

// ---------------------------------------------------------------------------------------------
// httpbin: methods, headers, query, bodies

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_get_echoes_headers_and_query() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    // A query already in the URL (percent-encoded UTF-8 and space) plus one added by .query().
    let url = format!("{HTTPBIN}/get?pre=caf%C3%A9%20x");
    let resp = client
        .get(url.as_str())
        .header("x-towline-test", "interop-1")
        .header("x-towline-other", "a, b")
        .query(&[
            ("q", "a b"),
            ("amp", "x&y=z"),
            ("utf8", "ü/€?#"),
            ("multi", "1"),
            ("multi", "2"),
        ])
        .send()
        .await?;
    let echo = echo(resp).await?;

    let args = &echo["args"];
    assert_eq!(
        args["pre"], "café x",
        "existing query lost or re-encoded: {echo}"
    );
    assert_eq!(args["q"], "a b", "{echo}");
    assert_eq!(args["amp"], "x&y=z", "{echo}");
    assert_eq!(args["utf8"], "ü/€?#", "{echo}");
    assert_eq!(
        args["multi"],
        json!(["1", "2"]),
        "repeated keys keep order: {echo}"
    );

    let headers = &echo["headers"];
    assert_eq!(headers["X-Towline-Test"], "interop-1", "{echo}");
    assert_eq!(headers["X-Towline-Other"], "a, b", "{echo}");
    assert_eq!(headers["Host"], "127.0.0.1:8081", "{echo}");
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_anything_echoes_each_method() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ] {
        let url = format!("{HTTPBIN}/anything/method-check");
        let resp = client
            .request(method.clone(), url.as_str())
            .header("x-method", method.as_str())
            .send()
            .await?;
        let echo = echo(resp).await?;
        assert_eq!(echo["method"], method.as_str(), "{echo}");
        assert_eq!(echo["headers"]["X-Method"], method.as_str(), "{echo}");
        assert_eq!(
            echo["url"], "http://127.0.0.1:8081/anything/method-check",
            "{echo}"
        );
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_post_json_round_trip() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    let sent = json!({
        "name": "towline",
        "n": 42,
        "float": 1.5,
        "list": [1, "two", null, true],
        "nested": {"unicode": "日本語 ✓", "quote": "\"q\""},
    });
    let url = format!("{HTTPBIN}/post");
    let resp = client
        .post(url.as_str())
        .query(&[("via", "json")])
        .json(&sent)
        .send()
        .await?;
    let echo = echo(resp).await?;
    assert_eq!(echo["json"], sent, "JSON body did not round-trip: {echo}");
    assert_eq!(echo["args"]["via"], "json", "{echo}");
    let content_type = echo["headers"]["Content-Type"].as_str().unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "Content-Type: {content_type:?}"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_put_text_body() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    let text = "line one\nline two: ünïcödé\n".repeat(100);
    let url = format!("{HTTPBIN}/put");
    let resp = client
        .put(url.as_str())
        .header("content-type", "text/plain; charset=utf-8")
        .body(text.clone())
        .send()
        .await?;
    let echo = echo(resp).await?;
    assert_eq!(echo["data"], text.as_str(), "body did not round-trip");
    assert_eq!(
        echo["headers"]["Content-Length"],
        text.len().to_string(),
        "{echo}"
    );
    assert_eq!(
        echo["headers"]["Content-Type"], "text/plain; charset=utf-8",
        "{echo}"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_put_and_patch_bytes_body() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    // /anything reports the method; the body is printable so httpbin echoes it as text.
    let body: Vec<u8> = (0..2000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let expected = String::from_utf8(body.clone())?;
    let url = format!("{HTTPBIN}/anything");
    for method in [Method::PUT, Method::PATCH] {
        let resp = client
            .request(method.clone(), url.as_str())
            .body(body.clone())
            .send()
            .await?;
        let echo = echo(resp).await?;
        assert_eq!(echo["method"], method.as_str(), "{echo}");
        assert_eq!(
            echo["data"],
            expected.as_str(),
            "{method} body did not round-trip"
        );
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_delete_with_query_and_header() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    let url = format!("{HTTPBIN}/delete");
    let resp = client
        .delete(url.as_str())
        .query(&[("id", "7"), ("reason", "100% done")])
        .header("x-towline-test", "delete")
        .send()
        .await?;
    let echo = echo(resp).await?;
    assert_eq!(echo["args"]["id"], "7", "{echo}");
    assert_eq!(echo["args"]["reason"], "100% done", "{echo}");
    assert_eq!(echo["headers"]["X-Towline-Test"], "delete", "{echo}");
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_head_has_no_body() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    let url = format!("{HTTPBIN}/get");
    // httpbin answers HEAD with the GET's Content-Length but no body: the client must not wait
    // for (or read) one, and the connection must stay usable.
    let resp = client.head(url.as_str()).send().await?;
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.bytes().await?;
    assert!(body.is_empty(), "HEAD returned {} body bytes", body.len());

    let resp = client.get(url.as_str()).send().await?;
    let echo = echo(resp).await?;
    assert_eq!(echo["url"], url.as_str(), "{echo}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// httpbin: status codes, streaming, sized bodies

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_error_status_is_status_error() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    for code in [418u16, 503] {
        let url = format!("{HTTPBIN}/status/{code}");
        let resp = client.get(url.as_str()).send().await?;
        assert_eq!(
            resp.status().as_u16(),
            code,
            "a status is not a send() error"
        );
        let err = expect_err(
            resp.error_for_status(),
            &format!("error_for_status on {code}"),
        );
        assert!(err.is_status(), "{code}: expected is_status(), got {err:?}");
        assert!(!err.is_timeout() && !err.is_connect(), "{code}: {err:?}");
    }
    // A success passes through error_for_status untouched.
    let url = format!("{HTTPBIN}/status/200");
    let resp = client.get(url.as_str()).send().await?.error_for_status()?;
    assert_eq!(resp.status().as_u16(), 200);
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_stream_20_lines_by_chunk() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    let url = format!("{HTTPBIN}/stream/20");
    let mut resp = client.get(url.as_str()).send().await?;
    assert_eq!(resp.status().as_u16(), 200);
    // Chunked transfer encoding: the length is not known up front.
    assert_eq!(
        resp.content_length(),
        None,
        "chunked response reported a length"
    );

    let mut body = Vec::new();
    let mut chunks = 0usize;
    while let Some(chunk) = resp.chunk().await? {
        chunks += 1;
        body.extend_from_slice(&chunk);
    }
    assert!(chunks >= 1);

    let lines: Vec<&[u8]> = body
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        20,
        "expected 20 NDJSON lines ({chunks} chunks)"
    );
    for (i, line) in lines.iter().enumerate() {
        let value: Value = serde_json::from_slice(line)?;
        assert_eq!(value["id"], i, "line {i}: {value}");
        assert_eq!(value["url"], url.as_str(), "line {i}: {value}");
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_bytes_4096_seeded() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    let url = format!("{HTTPBIN}/bytes/4096?seed=1");
    let resp = client.get(url.as_str()).send().await?;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.content_length(), Some(4096));
    let first = resp.bytes().await?;
    assert_eq!(first.len(), 4096);

    // The same seed gives the same bytes: a corrupted or mis-framed body would differ.
    let second = client.get(url.as_str()).send().await?.bytes().await?;
    assert_eq!(first, second, "same seed, different bytes");
    let other = format!("{HTTPBIN}/bytes/4096?seed=2");
    let third = client.get(other.as_str()).send().await?.bytes().await?;
    assert_eq!(third.len(), 4096);
    assert_ne!(first, third, "different seeds, same bytes");
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_concurrent_gets_all_succeed() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50usize {
        let client = client.clone();
        tasks.spawn(async move {
            let url = format!("{HTTPBIN}/get?i={i}");
            let resp = client
                .get(url.as_str())
                .send()
                .await
                .map_err(|e| format!("request {i}: {e}"))?;
            let status = resp.status().as_u16();
            let echo: Value = resp
                .json()
                .await
                .map_err(|e| format!("request {i} body: {e}"))?;
            Ok::<_, String>((i, status, echo))
        });
    }
    let mut seen = BTreeSet::new();
    while let Some(joined) = tasks.join_next().await {
        let (i, status, echo) = joined??;
        assert_eq!(status, 200, "request {i}");
        assert_eq!(
            echo["args"]["i"],
            i.to_string(),
            "request {i} got another's answer"
        );
        seen.insert(i);
    }
    assert_eq!(seen.len(), 50);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Timeouts

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_delay_exceeds_client_timeout() -> TestResult {
    let _peers = peers();
    let client = TokioClient::builder()
        .timeout(Duration::from_secs(1))
        .build()?;
    let url = format!("{HTTPBIN}/delay/3");
    let started = Instant::now();
    let err = expect_err(
        client.get(url.as_str()).send().await,
        "GET /delay/3 with 1 s timeout",
    );
    let elapsed = started.elapsed();
    assert!(err.is_timeout(), "expected is_timeout(), got {err:?}");
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(2500),
        "timed out after {elapsed:?}, expected about 1 s"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_delay_exceeds_request_timeout() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    let url = format!("{HTTPBIN}/delay/3");
    let started = Instant::now();
    let result = client
        .get(url.as_str())
        .timeout(Duration::from_secs(1))
        .send()
        .await;
    let err = expect_err(result, "GET /delay/3 with a 1 s per-request timeout");
    let elapsed = started.elapsed();
    assert!(err.is_timeout(), "expected is_timeout(), got {err:?}");
    assert!(
        elapsed < Duration::from_millis(2500),
        "timed out after {elapsed:?}, expected about 1 s"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_slow_body_counts_against_total_timeout() -> TestResult {
    let _peers = peers();
    let client = TokioClient::builder()
        .timeout(Duration::from_secs(1))
        .build()?;
    // Headers and the first byte arrive at once; the other 3 bytes trickle in over 3 s.
    let url = format!("{HTTPBIN}/drip?duration=4&numbytes=4&delay=0&code=200");
    let started = Instant::now();
    let result = match client.get(url.as_str()).send().await {
        Ok(resp) => resp.bytes().await.map(|_| ()),
        Err(err) => Err(err),
    };
    let err = expect_err(result, "slow body with a 1 s total timeout");
    let elapsed = started.elapsed();
    assert!(err.is_timeout(), "expected is_timeout(), got {err:?}");
    assert!(
        elapsed < Duration::from_millis(2500),
        "body read stopped after {elapsed:?}, expected about 1 s"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// nginx: TLS, ALPN, h2c

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_tls_alpn_negotiates_h2() -> TestResult {
    let peers = peers();
    let client = peers.tls_client()?;
    let (version, body) = get_data_json(&client, NGINX_TLS).await?;
    assert_eq!(version, Version::HTTP_2, "ALPN offers h2, nginx accepts it");
    assert_eq!(body, peers.data_json()?);
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_tls_http1_only_negotiates_http11() -> TestResult {
    let peers = peers();
    let client = TokioClient::builder()
        .add_root_certificate(peers.ca()?)
        .http1_only()
        .build()?;
    let (version, body) = get_data_json(&client, NGINX_TLS).await?;
    assert_eq!(version, Version::HTTP_11, "http1_only must not offer h2");
    assert_eq!(body, peers.data_json()?);
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_tls_without_h2_falls_back_to_http11() -> TestResult {
    let peers = peers();
    let client = peers.tls_client()?;
    let (version, body) = get_data_json(&client, NGINX_TLS_H1).await?;
    assert_eq!(version, Version::HTTP_11, "server's ALPN has only http/1.1");
    assert_eq!(body, peers.data_json()?);
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_plain_http_is_http11() -> TestResult {
    let peers = peers();
    let client = TokioClient::new();
    let (version, body) = get_data_json(&client, NGINX_H1).await?;
    assert_eq!(version, Version::HTTP_11);
    assert_eq!(body, peers.data_json()?);
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_h2c_prior_knowledge() -> TestResult {
    let peers = peers();
    let client = TokioClient::builder().http2_prior_knowledge().build()?;
    let (version, body) = get_data_json(&client, NGINX_H2C).await?;
    assert_eq!(version, Version::HTTP_2, "h2c with prior knowledge");
    assert_eq!(body, peers.data_json()?);
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_untrusted_certificate_is_tls_error() -> TestResult {
    let _peers = peers();
    // Default roots do not include the test CA: the handshake must fail, as a TLS error.
    let client = TokioClient::new();
    let url = format!("{NGINX_TLS}/data.json");
    let err = expect_err(
        client.get(url.as_str()).send().await,
        "untrusted certificate",
    );
    assert!(err.is_tls(), "expected is_tls(), got {err:?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// nginx: 10 MiB bodies, checked against the SHA-256 written at setup

/// Streams `{base}/10M.bin` with chunk(); returns the version and the hex SHA-256.
async fn ten_mib_by_chunk(client: &TokioClient, base: &str) -> TestResult<(Version, String)> {
    let url = format!("{base}/10M.bin");
    let mut resp = client.get(url.as_str()).send().await?;
    assert_eq!(resp.status().as_u16(), 200, "GET {url}");
    assert_eq!(resp.content_length(), Some(TEN_MIB as u64));
    let version = resp.version();
    let mut hasher = Sha256::new();
    let mut len = 0usize;
    while let Some(chunk) = resp.chunk().await? {
        len += chunk.len();
        hasher.update(&chunk);
    }
    assert_eq!(len, TEN_MIB, "GET {url}: body length");
    Ok((version, hex(&hasher.finalize())))
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_10mib_over_h2_matches_sha256() -> TestResult {
    let peers = peers();
    let client = peers.tls_client()?;
    let url = format!("{NGINX_TLS}/10M.bin");
    let resp = client.get(url.as_str()).send().await?;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.version(), Version::HTTP_2);
    assert_eq!(resp.content_length(), Some(TEN_MIB as u64));
    let body = resp.bytes().await?;
    assert_eq!(body.len(), TEN_MIB);
    assert_eq!(hex(&Sha256::digest(&body)), peers.ten_mib_sha256());
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_10mib_over_h1_tls_matches_sha256() -> TestResult {
    let peers = peers();
    let client = peers.tls_client()?;
    let (version, sum) = ten_mib_by_chunk(&client, NGINX_TLS_H1).await?;
    assert_eq!(version, Version::HTTP_11);
    assert_eq!(sum, peers.ten_mib_sha256());
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_10mib_over_h2c_matches_sha256() -> TestResult {
    let peers = peers();
    let client = TokioClient::builder().http2_prior_knowledge().build()?;
    let (version, sum) = ten_mib_by_chunk(&client, NGINX_H2C).await?;
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(sum, peers.ten_mib_sha256());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Layers: redirects (httpbin)

/// The URLs a response was redirected through (the `RedirectHistory` extension).
fn redirect_history(resp: &towline::Response) -> Vec<String> {
    resp.extensions()
        .get::<RedirectHistory>()
        .map(|history| history.uris().iter().map(ToString::to_string).collect())
        .unwrap_or_else(|| panic!("{} has no RedirectHistory", resp.url()))
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_redirect_chains_end_at_get() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    let get = format!("{HTTPBIN}/get");
    for kind in ["redirect", "relative-redirect", "absolute-redirect"] {
        let url = format!("{HTTPBIN}/{kind}/3");
        let resp = client.get(url.as_str()).send().await?;
        assert_eq!(resp.status().as_u16(), 200, "{url}");
        assert_eq!(resp.url().to_string(), get, "{url}: final URL");
        let history = redirect_history(&resp);
        assert_eq!(history.len(), 3, "{url}: {history:?}");
        assert_eq!(history[0], url, "{url}: {history:?}");
        let echo = echo(resp).await?;
        assert_eq!(echo["url"], get.as_str(), "{url}: {echo}");
    }

    // One hop too few allowed: a redirect error; none allowed: the first 302 itself.
    let url = format!("{HTTPBIN}/redirect/3");
    let limited = TokioClient::builder().max_redirects(2).build()?;
    let err = expect_err(limited.get(url.as_str()).send().await, "3 hops, 2 allowed");
    assert!(err.is_redirect(), "expected is_redirect(), got {err:?}");
    let none = TokioClient::builder().max_redirects(0).build()?;
    let resp = none.get(url.as_str()).send().await?;
    assert_eq!(resp.status().as_u16(), 302);
    assert_eq!(resp.url().to_string(), url);
    assert!(resp.headers().contains_key("location"));
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_redirect_to_status_decides_method_and_body() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    let anything = format!("{HTTPBIN}/anything");
    for status in [301u16, 302, 303, 307, 308] {
        let url = format!("{HTTPBIN}/redirect-to?url=/anything&status_code={status}");
        let resp = client
            .post(url.as_str())
            .header("content-type", "text/plain")
            .body("the towline payload")
            .send()
            .await?;
        assert_eq!(resp.url().to_string(), anything, "{status}");
        assert_eq!(redirect_history(&resp), [url.as_str()], "{status}");
        let echo = echo(resp).await?;
        let headers = &echo["headers"];
        if status >= 307 {
            assert_eq!(echo["method"], "POST", "{status}: {echo}");
            assert_eq!(echo["data"], "the towline payload", "{status}: {echo}");
            assert_eq!(headers["Content-Type"], "text/plain", "{status}: {echo}");
        } else {
            assert_eq!(echo["method"], "GET", "{status}: {echo}");
            assert_eq!(echo["data"], "", "{status}: {echo}");
            assert!(
                headers.get("Content-Type").is_none() && headers.get("Content-Length").is_none(),
                "{status}: the body's headers went with it: {echo}"
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Layers: cookies (httpbin)

/// GETs `url` (which redirects to `/cookies`) and returns httpbin's `cookies` object.
async fn httpbin_cookies(client: &TokioClient, url: &str) -> TestResult<Value> {
    let resp = client.get(url).send().await?;
    assert_eq!(
        resp.url().to_string(),
        format!("{HTTPBIN}/cookies"),
        "{url}"
    );
    Ok(echo(resp).await?["cookies"].clone())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_cookies_set_across_the_redirect_then_deleted() -> TestResult {
    let _peers = peers();
    let jar = CookieJar::new();
    let client = TokioClient::builder().cookie_jar(jar.clone()).build()?;

    // /cookies/set answers 302 to /cookies with the Set-Cookies: the next hop sends them.
    let set = format!("{HTTPBIN}/cookies/set?a=1&b=2");
    let cookies = httpbin_cookies(&client, &set).await?;
    assert_eq!(cookies, json!({"a": "1", "b": "2"}));
    let mut stored: Vec<(String, String, String)> = jar
        .cookies()
        .into_iter()
        .map(|cookie| (cookie.name, cookie.value, cookie.domain))
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        [
            ("a".into(), "1".into(), "127.0.0.1".into()),
            ("b".into(), "2".into(), "127.0.0.1".into())
        ]
    );

    // A later request sends them too.
    let cookies = httpbin_cookies(&client, &format!("{HTTPBIN}/redirect-to?url=/cookies")).await?;
    assert_eq!(cookies, json!({"a": "1", "b": "2"}));

    // /cookies/delete expires `a` on its 302; the next hop sends only `b`.
    let cookies = httpbin_cookies(&client, &format!("{HTTPBIN}/cookies/delete?a")).await?;
    assert_eq!(cookies, json!({"b": "2"}));
    assert_eq!(jar.len(), 1);

    // Without a cookie store nothing is kept, not even across the redirect.
    let plain = TokioClient::new();
    let cookies = httpbin_cookies(&plain, &set).await?;
    assert_eq!(cookies, json!({}));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Layers: decompression (httpbin, nginx, Caddy)

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_gzip_deflate_brotli_are_decoded() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    let raw = TokioClient::builder().no_decompression().build()?;
    for (path, coding, flag) in [
        ("gzip", "gzip", "gzipped"),
        ("deflate", "deflate", "deflated"),
        ("brotli", "br", "brotli"),
    ] {
        let url = format!("{HTTPBIN}/{path}");
        let resp = client.get(url.as_str()).send().await?;
        assert_eq!(resp.status().as_u16(), 200, "{url}");
        assert!(
            resp.headers().get("content-encoding").is_none(),
            "{url}: Content-Encoding left after decoding"
        );
        let echo = echo(resp).await?;
        assert_eq!(echo[flag], true, "{url}: {echo}");
        assert_eq!(
            echo["headers"]["Accept-Encoding"], "gzip, deflate, br, zstd",
            "{url}: {echo}"
        );

        // The same URL undecoded: httpbin really encoded it.
        let resp = raw.get(url.as_str()).send().await?;
        let header = resp.headers().get("content-encoding").cloned();
        assert_eq!(
            header.as_ref().map(|value| value.as_bytes()),
            Some(coding.as_bytes()),
            "{url}"
        );
        let body = resp.bytes().await?;
        assert!(
            serde_json::from_slice::<Value>(&body).is_err(),
            "{url}: an encoded body parsed as JSON"
        );
    }
    Ok(())
}

/// GETs `url` asking for `coding` only; checks that a client without decompression gets it
/// `coding`-encoded, and returns the hex SHA-256 of what `client` decodes.
async fn text_with_coding(
    peers: &Peers,
    client: &TokioClient,
    url: &str,
    coding: &str,
) -> TestResult<String> {
    let raw = TokioClient::builder()
        .add_root_certificate(peers.ca()?)
        .no_decompression()
        .build()?;
    let resp = raw
        .get(url)
        .header("accept-encoding", coding)
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 200, "{url} ({coding})");
    let header = resp.headers().get("content-encoding").cloned();
    assert_eq!(
        header.as_ref().map(|value| value.as_bytes()),
        Some(coding.as_bytes()),
        "{url}: the server did not answer with {coding}"
    );
    let encoded = resp.bytes().await?;
    assert!(
        encoded.len() < TEXT_BYTES / 2,
        "{url} ({coding}): {} encoded bytes",
        encoded.len()
    );

    let resp = client
        .get(url)
        .header("accept-encoding", coding)
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 200, "{url} ({coding})");
    assert!(
        resp.headers().get("content-encoding").is_none(),
        "{url} ({coding}): Content-Encoding left after decoding"
    );
    let body = resp.bytes().await?;
    assert_eq!(body.len(), TEXT_BYTES, "{url} ({coding}): decoded length");
    Ok(hex(&Sha256::digest(&body)))
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_gzip_and_br_text_decodes_to_its_sha256() -> TestResult {
    let peers = peers();
    let client = peers.tls_client()?;
    for base in [NGINX_H1, NGINX_TLS] {
        for coding in ["gzip", "br"] {
            let url = format!("{base}/text.txt");
            let sum = text_with_coding(&peers, &client, &url, coding).await?;
            assert_eq!(sum, peers.text_sha256(), "{url} ({coding})");
        }
    }
    // With the default Accept-Encoding nginx picks a coding; whichever it is decodes.
    let resp = client.get(format!("{NGINX_H1}/text.txt")).send().await?;
    let body = resp.bytes().await?;
    assert_eq!(hex(&Sha256::digest(&body)), peers.text_sha256());
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn caddy_zstd_and_gzip_text_decodes_to_its_sha256() -> TestResult {
    let peers = peers();
    let client = TokioClient::new();
    let url = format!("{CADDY}/text.txt");
    for coding in ["zstd", "gzip"] {
        let sum = text_with_coding(&peers, &client, &url, coding).await?;
        assert_eq!(sum, peers.text_sha256(), "{url} ({coding})");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Layers: HSTS (nginx)

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_hsts_learned_over_https_upgrades_http() -> TestResult {
    let peers = peers();
    let plain_to_tls = "http://localhost:9443/data.json";

    // Without HSTS, plain HTTP reaches the TLS port and nginx refuses it.
    let without = peers.tls_client()?;
    let resp = without.get(plain_to_tls).send().await?;
    assert_eq!(
        resp.status().as_u16(),
        400,
        "plain HTTP to nginx's TLS port"
    );

    let client = TokioClient::builder()
        .add_root_certificate(peers.ca()?)
        .hsts(true)
        .build()?;
    // Not learned yet: the same 400.
    let resp = client.get(plain_to_tls).send().await?;
    assert_eq!(resp.status().as_u16(), 400, "HSTS not learned yet");

    let resp = client.get(format!("{NGINX_TLS}/hsts")).send().await?;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("strict-transport-security")
            .map(|value| value.as_bytes()),
        Some(&b"max-age=60; includeSubDomains"[..])
    );

    // Now http://localhost:9443 goes out as https://localhost:9443 (the port is kept): h2 over
    // TLS and the file, not nginx's 400.
    let resp = client.get(plain_to_tls).send().await?;
    assert_eq!(resp.status().as_u16(), 200, "upgraded request");
    assert_eq!(
        resp.version(),
        Version::HTTP_2,
        "ALPN h2: the request went over TLS"
    );
    assert_eq!(resp.json::<Value>().await?, peers.data_json()?);
    // The policy is per host, whatever the port: the http/1.1-only TLS port is upgraded too.
    let resp = client.get("http://localhost:9444/data.json").send().await?;
    assert_eq!(resp.status().as_u16(), 200, "upgraded request to :9444");
    assert_eq!(resp.version(), Version::HTTP_11);

    // The client without HSTS still gets the 400.
    let resp = without.get(plain_to_tls).send().await?;
    assert_eq!(resp.status().as_u16(), 400);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Layers II: retry (nginx, httpbin)

fn retry_count(resp: &towline::Response) -> Option<u32> {
    resp.extensions()
        .get::<towline::RetryCount>()
        .map(|towline::RetryCount(n)| *n)
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_503_with_retry_after_then_success() -> TestResult {
    let _peers = peers();
    // /retry-once answers 503 + Retry-After: 1 + a cookie, then 200 once the cookie comes
    // back: the retried attempt goes through the cookie layer again.
    let client = TokioClient::builder()
        .cookie_store(true)
        .retry(towline::RetryConfig::new().max_retries(2))
        .build()?;
    let resp = client.get(format!("{NGINX_H1}/retry-once")).send().await?;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(retry_count(&resp), Some(1));
    assert_eq!(resp.text().await?, "ok\n");
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_retry_gives_up_after_max_retries_with_the_last_response() -> TestResult {
    let _peers = peers();
    let client = TokioClient::builder()
        .retry(towline::RetryConfig::new().max_retries(1))
        .build()?;
    let resp = client.get(format!("{NGINX_H1}/retry")).send().await?;
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(retry_count(&resp), Some(1));
    assert_eq!(resp.text().await?, "busy\n");
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_status_500_is_retried_up_to_the_limit() -> TestResult {
    let _peers = peers();
    let config = towline::RetryConfig::new()
        .max_retries(3)
        .initial_backoff(Duration::from_millis(10));
    let client = TokioClient::builder().retry(config).build()?;
    let resp = client.get(format!("{HTTPBIN}/status/500")).send().await?;
    assert_eq!(resp.status().as_u16(), 500);
    assert_eq!(retry_count(&resp), Some(3));
    // A POST is not retried unless opted in.
    let resp = client.post(format!("{HTTPBIN}/status/500")).send().await?;
    assert_eq!((resp.status().as_u16(), retry_count(&resp)), (500, Some(0)));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Layers II: cache (httpbin)

fn cache_status(resp: &towline::Response) -> Option<towline::CacheStatus> {
    resp.extensions().get::<towline::CacheStatus>().copied()
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_cache_n_is_served_from_the_cache() -> TestResult {
    use towline::CacheStatus::{Hit, Miss};
    let _peers = peers();
    let cache = towline::HttpCache::new();
    let client = TokioClient::builder().cache(cache.clone()).build()?;
    let url = format!("{HTTPBIN}/cache/60");
    let first = client.get(&url).send().await?;
    assert_eq!(
        (first.status().as_u16(), cache_status(&first)),
        (200, Some(Miss))
    );
    let first = echo(first).await?;
    let second = client.get(&url).send().await?;
    assert_eq!(
        (second.status().as_u16(), cache_status(&second)),
        (200, Some(Hit))
    );
    assert!(second.headers().contains_key("age"), "a hit carries Age");
    assert_eq!(echo(second).await?, first, "the stored body, byte for byte");
    assert_eq!(cache.len(), 1);
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_cache_and_etag_are_revalidated_with_304s() -> TestResult {
    use towline::CacheStatus::{Miss, Revalidated};
    let _peers = peers();
    let client = TokioClient::builder()
        .cache(towline::HttpCache::new())
        .build()?;
    // /cache: Last-Modified of now and an ETag, no freshness: every later request is
    // conditional, and httpbin answers any conditional with 304.
    // /etag/X: ETag X only.
    for path in ["/cache", "/etag/towline"] {
        let url = format!("{HTTPBIN}{path}");
        let first = client.get(&url).send().await?;
        assert_eq!(
            (first.status().as_u16(), cache_status(&first)),
            (200, Some(Miss)),
            "{path}"
        );
        let first = first.bytes().await?;
        let second = client.get(&url).send().await?;
        assert_eq!(
            (second.status().as_u16(), cache_status(&second)),
            (200, Some(Revalidated)),
            "{path}"
        );
        assert_eq!(second.bytes().await?, first, "{path}: the stored body");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Proxies: squid, tinyproxy, dante, microsocks and ssh -D in front of nginx. Each carries a
// plain-http request and an https one through a tunnel (h2 inside where ALPN offers it), the
// 10 MiB body checked by its SHA-256.

/// A client trusting the test CA that sends everything through `proxy`.
fn proxied(peers: &Peers, proxy: towline::Proxy) -> TestResult<TokioClient> {
    Ok(TokioClient::builder()
        .add_root_certificate(peers.ca()?)
        .proxy(proxy)
        .build()?)
}

/// GETs nginx's 10 MiB file over plain http and over https (by `https_base`, a name or an
/// address the proxy or the client resolves) through `proxy`, checking both bodies.
async fn both_through(peers: &Peers, proxy: towline::Proxy, https_base: &str) -> TestResult {
    let client = proxied(peers, proxy)?;
    let (_, sum) = ten_mib_by_chunk(&client, NGINX_H1).await?;
    assert_eq!(sum, peers.ten_mib_sha256(), "plain http through the proxy");
    let (version, sum) = ten_mib_by_chunk(&client, https_base).await?;
    assert_eq!(version, Version::HTTP_2, "ALPN picks h2 inside the tunnel");
    assert_eq!(sum, peers.ten_mib_sha256(), "https through the proxy");
    Ok(())
}

fn proxy_kind(error: &Error) -> towline::towline_services::connect::proxy::ProxyErrorKind {
    let mut cause = std::error::Error::source(error);
    while let Some(error) = cause {
        if let Some(proxy) =
            error.downcast_ref::<towline::towline_services::connect::proxy::ProxyError>()
        {
            return proxy.kind();
        }
        cause = error.source();
    }
    panic!("not a proxy error: {error:?}")
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn squid_forwards_http_and_tunnels_https() -> TestResult {
    let peers = peers();
    both_through(
        &peers,
        towline::Proxy::all("http://127.0.0.1:3128")?,
        NGINX_TLS,
    )
    .await
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn squid_with_basic_auth() -> TestResult {
    use towline::towline_services::connect::proxy::ProxyErrorKind;
    let peers = peers();
    both_through(
        &peers,
        towline::Proxy::all("http://puser:ppass@127.0.0.1:3129")?,
        NGINX_TLS,
    )
    .await?;
    let anonymous = proxied(&peers, towline::Proxy::all("http://127.0.0.1:3129")?)?;
    let resp = anonymous
        .get(format!("{NGINX_H1}/data.json"))
        .send()
        .await?;
    assert_eq!(
        resp.status().as_u16(),
        407,
        "absolute form: the 407 is the answer"
    );
    let err = expect_err(
        anonymous.get(format!("{NGINX_TLS}/data.json")).send().await,
        "CONNECT without credentials",
    );
    assert!(err.is_proxy(), "{err:?}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(407));
    assert_eq!(proxy_kind(&err), ProxyErrorKind::AuthRequired);
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn squid_with_digest_auth() -> TestResult {
    let peers = peers();
    // duser is known to squid's Digest helper only: the transport's Basic answer is refused,
    // and the digest layer answers squid's 407 (which offers Basic and Digest).
    let client = proxied(
        &peers,
        towline::Proxy::all("http://127.0.0.1:3129")?.basic_auth("duser", "dpass"),
    )?;
    for _ in 0..2 {
        let resp = client.get(format!("{NGINX_H1}/data.json")).send().await?;
        assert_eq!(resp.status().as_u16(), 200);
        let body: Value = resp.json().await?;
        assert_eq!(body, peers.data_json()?);
    }
    let wrong = proxied(
        &peers,
        towline::Proxy::all("http://127.0.0.1:3129")?.basic_auth("duser", "wrong"),
    )?;
    let resp = wrong.get(format!("{NGINX_H1}/data.json")).send().await?;
    assert_eq!(resp.status().as_u16(), 407);

    // A tunnel (https): the connector's Basic CONNECT is refused, and the digest answer is
    // sent on the same connection.
    for _ in 0..2 {
        let resp = client.get(format!("{NGINX_TLS}/data.json")).send().await?;
        assert_eq!(resp.status().as_u16(), 200);
        let body: Value = resp.json().await?;
        assert_eq!(body, peers.data_json()?);
    }
    let err = expect_err(
        wrong.get(format!("{NGINX_TLS}/data.json")).send().await,
        "CONNECT with a wrong Digest password",
    );
    assert!(err.is_proxy(), "{err:?}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(407));
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn tinyproxy_open_and_with_auth_and_its_401_quirk() -> TestResult {
    use towline::towline_services::connect::proxy::ProxyErrorKind;
    let peers = peers();
    both_through(
        &peers,
        towline::Proxy::all("http://127.0.0.1:8889")?,
        NGINX_TLS,
    )
    .await?;
    both_through(
        &peers,
        towline::Proxy::all("http://127.0.0.1:8888")?.basic_auth("tuser", "tpass"),
        NGINX_TLS,
    )
    .await?;
    let wrong = proxied(
        &peers,
        towline::Proxy::all("http://127.0.0.1:8888")?.basic_auth("tuser", "nope"),
    )?;
    let err = expect_err(
        wrong.get(format!("{NGINX_TLS}/data.json")).send().await,
        "CONNECT with wrong credentials",
    );
    assert!(err.is_proxy(), "{err:?}");
    assert_eq!(proxy_kind(&err), ProxyErrorKind::AuthRejected);
    assert!(!err.to_string().contains("nope"), "{err}");
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn dante_socks5_socks4_and_socks5_auth() -> TestResult {
    let peers = peers();
    // SOCKS5 and SOCKS4 resolve locally: dante allows only 127.0.0.0/8, so the https URL
    // names the address (the certificate covers 127.0.0.1 too).
    let tls_by_address = "https://127.0.0.1:9443";
    both_through(
        &peers,
        towline::Proxy::all("socks5://127.0.0.1:1080")?,
        tls_by_address,
    )
    .await?;
    both_through(
        &peers,
        towline::Proxy::all("socks4://127.0.0.1:1080")?,
        tls_by_address,
    )
    .await?;
    both_through(
        &peers,
        towline::Proxy::all("socks5://sockstest:sockspass@127.0.0.1:1081")?,
        tls_by_address,
    )
    .await?;
    let wrong = proxied(
        &peers,
        towline::Proxy::all("socks5://sockstest:wrong@127.0.0.1:1081")?,
    )?;
    let err = expect_err(
        wrong.get(format!("{NGINX_H1}/data.json")).send().await,
        "SOCKS5 with a wrong password",
    );
    assert!(err.is_proxy() && err.is_connect(), "{err:?}");
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn microsocks_socks5h_open_and_with_auth() -> TestResult {
    let peers = peers();
    both_through(
        &peers,
        towline::Proxy::all("socks5h://127.0.0.1:1082")?,
        NGINX_TLS,
    )
    .await?;
    both_through(
        &peers,
        towline::Proxy::all("socks5h://127.0.0.1:1083")?.basic_auth("muser", "mpass"),
        NGINX_TLS,
    )
    .await
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn ssh_dynamic_forwarding_speaks_socks4a() -> TestResult {
    let peers = peers();
    both_through(
        &peers,
        towline::Proxy::all("socks4a://127.0.0.1:1086")?,
        NGINX_TLS,
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// httpbin: Digest authentication and netrc

/// A client answering Digest challenges as `u`/`p`, with the cookie store httpbin's
/// stale-nonce path needs. (Its `?require-cookie=1` answers 500 to curl too, so it is not
/// used.)
fn digest_client() -> TestResult<TokioClient> {
    Ok(TokioClient::builder()
        .digest_auth("u", "p")
        .cookie_store(true)
        .build()?)
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_digest_auth_md5_sha256_and_auth_int() -> TestResult {
    let _peers = peers();
    let client = digest_client()?;
    for path in [
        "/digest-auth/auth/u/p/MD5",
        "/digest-auth/auth/u/p/SHA-256",
        "/digest-auth/auth-int/u/p/MD5",
        "/digest-auth/auth-int/u/p/SHA-256",
    ] {
        let resp = client.get(format!("{HTTPBIN}{path}")).send().await?;
        assert_eq!(resp.status(), 200, "{path}");
        let body: Value = resp.json().await?;
        assert_eq!(body, json!({"authenticated": true, "user": "u"}), "{path}");
    }
    // Wrong credentials: one answer, then httpbin's second 401 comes back.
    let wrong = TokioClient::builder().digest_auth("u", "wrong").build()?;
    let resp = wrong
        .get(format!("{HTTPBIN}/digest-auth/auth/u/p/MD5"))
        .send()
        .await?;
    assert_eq!(resp.status(), 401);
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_digest_sha512_is_not_answered_with_another_algorithm() -> TestResult {
    let _peers = peers();
    // httpbin's "SHA-512" is plain SHA-512, which RFC 7616 does not define (its SHA-512-256
    // is another function): the 401 comes back as it is, never answered with MD5.
    let resp = digest_client()?
        .get(format!("{HTTPBIN}/digest-auth/auth/u/p/SHA-512"))
        .send()
        .await?;
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"].to_str()?.to_owned();
    assert!(challenge.contains("algorithm=SHA-512"), "{challenge}");
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_digest_stale_nonce() -> TestResult {
    let _peers = peers();
    let client = digest_client()?;
    // The nonce is good for one request: the second request's preemptive answer is stale,
    // and the new nonce is answered.
    for _ in 0..3 {
        let resp = client
            .get(format!("{HTTPBIN}/digest-auth/auth/u/p/MD5/1"))
            .send()
            .await?;
        assert_eq!(resp.status(), 200);
    }
    // Every answer is stale: one more attempt after the first stale=true, then the 401.
    let client = digest_client()?;
    let resp = client
        .get(format!("{HTTPBIN}/digest-auth/auth/u/p/MD5/0"))
        .send()
        .await?;
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()?
        .to_ascii_lowercase();
    assert!(challenge.contains("stale=true"), "{challenge}");
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_auth_basic_from_netrc() -> TestResult {
    let peers = peers();
    let expected = peers.read("www/data.json");
    let dir = std::env::temp_dir().join(format!(
        "towline-interop-nginx-netrc-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    let netrc = |name: &str, text: &str| -> TestResult<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        Ok(path)
    };

    // Without credentials nginx challenges; the 401 comes back as it is.
    let resp = TokioClient::builder()
        .netrc(false)
        .build()?
        .get(format!("{NGINX_H1}/auth/data.json"))
        .send()
        .await?;
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"].to_str()?.to_owned();
    assert!(challenge.starts_with("Basic"), "{challenge}");

    // A machine entry: sent at once over https and to loopback.
    let machine = netrc(
        "machine",
        "machine localhost login nuser password npass\nmachine 127.0.0.1 login nuser password npass\n",
    )?;
    let client = TokioClient::builder()
        .add_root_certificate(peers.ca()?)
        .netrc_path(&machine)
        .build()?;
    for url in [
        format!("{NGINX_TLS}/auth/data.json"),
        format!("{NGINX_H1}/auth/data.json"),
    ] {
        let resp = client.get(&url).send().await?;
        assert_eq!(resp.status(), 200, "{url}");
        assert_eq!(resp.bytes().await?, expected, "{url}");
    }

    // `default`: only in answer to nginx's 401, then accepted.
    let default = netrc("default", "default login nuser password npass\n")?;
    let client = TokioClient::builder()
        .add_root_certificate(peers.ca()?)
        .netrc_path(&default)
        .build()?;
    let resp = client
        .get(format!("{NGINX_TLS}/auth/data.json"))
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await?, expected);

    // A wrong password: nginx's second 401 is returned, not answered again.
    let wrong = netrc("wrong", "default login nuser password nope\n")?;
    let resp = TokioClient::builder()
        .netrc_path(&wrong)
        .build()?
        .get(format!("{NGINX_H1}/auth/data.json"))
        .send()
        .await?;
    assert_eq!(resp.status(), 401);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_basic_auth_from_netrc() -> TestResult {
    let _peers = peers();
    let dir = std::env::temp_dir().join(format!("towline-interop-netrc-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for (name, text) in [
        ("machine", "machine 127.0.0.1 login u password p\n"),
        ("default", "default login u password p\n"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        let client = TokioClient::builder().netrc_path(&path).build()?;
        let resp = client
            .get(format!("{HTTPBIN}/basic-auth/u/p"))
            .send()
            .await?;
        assert_eq!(resp.status(), 200, "{name}");
        let body: Value = resp.json().await?;
        assert_eq!(body, json!({"authenticated": true, "user": "u"}), "{name}");
        // And Digest with the same entry.
        let resp = client
            .get(format!("{HTTPBIN}/digest-auth/auth/u/p/SHA-256"))
            .send()
            .await?;
        assert_eq!(resp.status(), 200, "{name}");
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// WebSocket: websocketd (`cat` behind it, one message per line) and the `websockets` library's
// echo server (.ci/ws_echo.py), which accepts permessage-deflate when offered

/// websocketd 0.4.1 running `cat`.
const WEBSOCKETD: &str = "ws://127.0.0.1:8765/";
/// Python `websockets` echo server.
const PY_WEBSOCKETS: &str = "ws://127.0.0.1:8766/";

/// Sends each text message over `io`, expects it back, then closes the WebSocket cleanly.
async fn websocket_round_trip(io: towline::Upgraded, messages: &[&str]) -> TestResult {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let mut socket = tokio_tungstenite::WebSocketStream::from_raw_socket(
        io,
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await;
    for message in messages {
        socket.send(Message::text(*message)).await?;
        match socket.next().await {
            Some(Ok(Message::Text(echoed))) => assert_eq!(echoed.as_str(), *message),
            other => panic!("expected the echo of {message:?}, got {other:?}"),
        }
    }
    socket.close(None).await?;
    // The server answers the close; the stream then ends.
    while let Some(frame) = socket.next().await {
        if frame.is_err() {
            break;
        }
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn websocketd_echoes_over_the_upgraded_connection() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    let handshake = client.websocket(WEBSOCKETD).send().await?;
    assert_eq!(handshake.status(), 101);
    assert_eq!(handshake.protocol(), None);
    websocket_round_trip(handshake.into_io(), &["hello websocketd", "ünïcödé ✓"]).await?;
    // websocketd accepts no extension: offering permessage-deflate agrees to none.
    let handshake = client
        .websocket(WEBSOCKETD)
        .extensions("permessage-deflate; client_max_window_bits")
        .send()
        .await?;
    assert_eq!(handshake.extensions(), None);
    websocket_round_trip(handshake.into_io(), &["still plain frames"]).await
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn python_websockets_echoes_over_the_upgraded_connection() -> TestResult {
    let _peers = peers();
    let handshake = TokioClient::new().websocket(PY_WEBSOCKETS).send().await?;
    assert_eq!(handshake.status(), 101);
    assert_eq!(
        handshake.extensions(),
        None,
        "nothing offered, nothing agreed"
    );
    websocket_round_trip(handshake.into_io(), &["hello websockets", "twice"]).await
}

/// No released tungstenite (0.30 is the latest) speaks permessage-deflate, so the frames
/// themselves stay uncompressed here: this checks that the offer goes out as written, that the
/// server's answer (with its parameters) passes the handshake's extension check and reaches the
/// caller, and that the connection then closes cleanly (control frames are never compressed).
#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn python_websockets_negotiates_permessage_deflate() -> TestResult {
    let _peers = peers();
    let handshake = TokioClient::new()
        .websocket(PY_WEBSOCKETS)
        .extensions("permessage-deflate; client_max_window_bits")
        .send()
        .await?;
    let agreed = handshake.extensions().unwrap_or_default().to_owned();
    assert!(agreed.starts_with("permessage-deflate"), "{agreed:?}");
    assert!(agreed.contains("client_max_window_bits=12"), "{agreed:?}");
    websocket_round_trip(handshake.into_io(), &[]).await
}

// ---------------------------------------------------------------------------------------------
// Multipart forms (httpbin) and range downloads (nginx, httpbin)

/// A file of `len` bytes of ASCII text (so httpbin echoes it as text) under the temporary
/// directory, and its hex SHA-256.
#[cfg(feature = "multipart")]
fn ascii_file(name: &str, len: usize) -> TestResult<(PathBuf, String)> {
    let path = std::env::temp_dir().join(format!("towline-interop-{}-{name}", std::process::id()));
    let contents: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&path, &contents)?;
    Ok((path, hex(&Sha256::digest(&contents))))
}

#[cfg(feature = "multipart")]
#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_post_multipart_echoes_fields_and_files() -> TestResult {
    use towline::multipart::{Form, Part};
    let (path, sum) = ascii_file("notes.txt", 200_000)?;
    let form = Form::new()
        .text("title", "héllo")
        .part(
            "data",
            Part::bytes(&b"raw bytes"[..])
                .file_name("data.bin")
                .mime_str("text/plain")?,
        )
        .file("upload", &path)
        .await?;
    let client = TokioClient::new();
    let body = echo(
        client
            .post(format!("{HTTPBIN}/post"))
            .multipart(form)
            .send()
            .await?,
    )
    .await?;
    std::fs::remove_file(&path)?;
    assert_eq!(body["form"]["title"], "héllo", "{body}");
    assert_eq!(body["files"]["data"], "raw bytes", "{body}");
    let upload = body["files"]["upload"].as_str().unwrap_or_default();
    assert_eq!(hex(&Sha256::digest(upload.as_bytes())), sum);
    let content_type = body["headers"]["Content-Type"].as_str().unwrap_or_default();
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    Ok(())
}

#[cfg(feature = "multipart")]
#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_post_multipart_streams_a_10_mib_file_in_bounded_chunks() -> TestResult {
    use http_body_util::BodyExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use towline::multipart::Form;
    let (path, sum) = ascii_file("ten-mib.txt", TEN_MIB)?;
    let form = Form::new()
        .text("kind", "big")
        .file("upload", &path)
        .await?;
    let content_type = form.content_type();
    let length = form.content_length().ok_or("a file form has a length")?;
    // Every frame the form's body hands the connection: none may exceed its 64 KiB read,
    // so the 10 MiB are never held at once.
    let largest = Arc::new(AtomicUsize::new(0));
    let frames = Arc::new(AtomicUsize::new(0));
    let body = form.into_body().map_frame({
        let (largest, frames) = (largest.clone(), frames.clone());
        move |frame| {
            if let Some(data) = frame.data_ref() {
                largest.fetch_max(data.len(), Ordering::Relaxed);
                frames.fetch_add(1, Ordering::Relaxed);
            }
            frame
        }
    });
    let echoed = echo(
        TokioClient::new()
            .post(format!("{HTTPBIN}/post"))
            .header("content-type", content_type)
            .header("content-length", length)
            .body_stream(body)
            .send()
            .await?,
    )
    .await?;
    std::fs::remove_file(&path)?;
    let upload = echoed["files"]["upload"].as_str().unwrap_or_default();
    assert_eq!(upload.len(), TEN_MIB);
    assert_eq!(hex(&Sha256::digest(upload.as_bytes())), sum);
    assert_eq!(echoed["form"]["kind"], "big");
    assert!(largest.load(Ordering::Relaxed) <= 64 * 1024);
    assert!(frames.load(Ordering::Relaxed) >= TEN_MIB / (64 * 1024));
    Ok(())
}

/// A path under the temporary directory for a download, without its file or sidecar.
#[cfg(feature = "download")]
fn download_target(name: &str) -> TestResult<PathBuf> {
    let path = std::env::temp_dir().join(format!("towline-interop-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(format!("{}.towline-state", path.display()));
    Ok(path)
}

#[cfg(feature = "download")]
#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_download_in_four_ranges_with_if_range_matches_the_sha256() -> TestResult {
    let peers = peers();
    let path = download_target("nginx-10M.bin")?;
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let done = TokioClient::new()
        .download(format!("{NGINX_H1}/10M.bin"))
        .connections(4)
        .to_file(&path)
        .progress({
            let progress = progress.clone();
            move |p| progress.store(p.transferred, std::sync::atomic::Ordering::Relaxed)
        })
        .send()
        .await?;
    assert_eq!(done.segments, 4);
    assert_eq!(done.length, TEN_MIB as u64);
    assert_eq!(
        progress.load(std::sync::atomic::Ordering::Relaxed),
        TEN_MIB as u64
    );
    let bytes = std::fs::read(&path)?;
    std::fs::remove_file(&path)?;
    assert_eq!(hex(&Sha256::digest(&bytes)), peers.ten_mib_sha256());
    Ok(())
}

#[cfg(feature = "download")]
#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_with_ranges_off_is_downloaded_as_one_stream() -> TestResult {
    let peers = peers();
    let path = download_target("nginx-noranges-10M.bin")?;
    // nginx ignores the probe's Range and answers 200 without Accept-Ranges: one stream.
    let done = TokioClient::new()
        .download(format!("{NGINX_H1}/noranges/10M.bin"))
        .connections(4)
        .to_file(&path)
        .send()
        .await?;
    assert_eq!(done.segments, 0, "no ranged requests");
    assert_eq!(done.length, TEN_MIB as u64);
    let bytes = std::fs::read(&path)?;
    std::fs::remove_file(&path)?;
    assert_eq!(hex(&Sha256::digest(&bytes)), peers.ten_mib_sha256());
    Ok(())
}

#[cfg(feature = "download")]
#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn nginx_answers_a_stale_if_range_with_the_whole_file_and_resume_refuses_it() -> TestResult {
    let _peers = peers();
    let client = TokioClient::new();
    // nginx's If-Range behaviour the downloader relies on: a matching ETag gives the range, a
    // stale one the whole file.
    let head = client.get(format!("{NGINX_H1}/10M.bin")).send().await?;
    let etag = head
        .headers()
        .get("etag")
        .ok_or("nginx sends an ETag")?
        .to_str()?
        .to_owned();
    drop(head);
    for (if_range, status) in [(etag.as_str(), 206), ("\"stale\"", 200)] {
        let response = client
            .get(format!("{NGINX_H1}/10M.bin"))
            .header("range", "bytes=0-9")
            .header("if-range", if_range)
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), status, "If-Range {if_range}");
    }
    // A sidecar from an interrupted download of another version: resuming is refused.
    let path = download_target("nginx-stale.bin")?;
    let half = TEN_MIB as u64 / 2;
    std::fs::write(
        format!("{}.towline-state", path.display()),
        format!(
            "towline-download 1\nlength {TEN_MIB}\netag \"stale\"\nsegment 0 {half} 100\n\
             segment {half} {TEN_MIB} {half}\n"
        ),
    )?;
    let error = expect_err(
        client
            .download(format!("{NGINX_H1}/10M.bin"))
            .to_file(&path)
            .resume(true)
            .send()
            .await,
        "resume of another version",
    );
    let reason = std::error::Error::source(&error)
        .and_then(|e| e.downcast_ref::<towline::download::DownloadError>())
        .cloned();
    assert_eq!(reason, Some(towline::download::DownloadError::Changed));
    let _ = std::fs::remove_file(format!("{}.towline-state", path.display()));
    let _ = std::fs::remove_file(&path);
    Ok(())
}

#[cfg(feature = "download")]
#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_range_downloads_in_segments() -> TestResult {
    let path = download_target("httpbin-range.bin")?;
    let done = TokioClient::new()
        .download(format!("{HTTPBIN}/range/102400"))
        .connections(4)
        .min_segment_size(16 * 1024)
        .to_file(&path)
        .send()
        .await?;
    assert_eq!(done.segments, 4);
    let bytes = std::fs::read(&path)?;
    std::fs::remove_file(&path)?;
    let expected: Vec<u8> = (0..102_400).map(|i| b'a' + (i % 26) as u8).collect();
    assert_eq!(bytes.len(), expected.len());
    assert!(bytes == expected, "httpbin's /range/N bytes, reassembled");
    Ok(())
}

// The smol runtime against the same real servers: httpbin (JSON, gzip), nginx over TLS with
// HTTP/2 (a 10 MiB file by SHA-256) and h2c.

#[cfg(feature = "smol")]
#[test]
#[ignore = "needs the interop peers started by .ci/run"]
fn a_smol_client_talks_to_httpbin_and_nginx() -> TestResult {
    let peers = peers();
    let ca = peers.ca()?;
    let ten_mib_sha256 = peers.ten_mib_sha256();
    smol::block_on(async {
        let client = towline::SmolClient::builder()
            .add_root_certificate(ca)
            .timeout(Duration::from_secs(60))
            .build()?;

        let echo: Value = client
            .get(format!("{HTTPBIN}/get?runtime=smol"))
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(echo["args"]["runtime"], "smol");

        let gzipped: Value = client
            .get(format!("{HTTPBIN}/gzip"))
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(gzipped["gzipped"], true);

        let response = client.get(format!("{NGINX_TLS}/10M.bin")).send().await?;
        assert_eq!(response.version(), Version::HTTP_2);
        let body = response.bytes().await?;
        assert_eq!(body.len(), TEN_MIB);
        assert_eq!(hex(&Sha256::digest(&body)), ten_mib_sha256);

        let h2c = towline::SmolClient::builder()
            .http2_prior_knowledge()
            .build()?;
        let response = h2c.get(format!("{NGINX_H2C}/data.json")).send().await?;
        assert_eq!(response.version(), Version::HTTP_2);
        let served: Value = response.json().await?;
        assert_eq!(served, peers.data_json()?);
        Ok(())
    })
}

// HTTP/3 against real servers: Caddy's files on 7443 and httpbin behind Caddy on 7444, both
// over QUIC on UDP.

/// Caddy serving `www/` over TLS and HTTP/3.
#[cfg(feature = "http3")]
const CADDY_H3: &str = "https://localhost:7443";
/// httpbin behind Caddy, over TLS and HTTP/3 (quic-go).
#[cfg(feature = "http3")]
const HTTPBIN_CADDY_H3: &str = "https://localhost:7444";
/// httpbin under hypercorn, over TLS and HTTP/3 (aioquic).
#[cfg(feature = "http3")]
const HTTPBIN_HYPERCORN_H3: &str = "https://localhost:8443";

#[cfg(feature = "http3")]
fn h3_client(peers: &Peers) -> TestResult<TokioClient> {
    Ok(TokioClient::builder()
        .add_root_certificate(peers.ca()?)
        .http3_prior_knowledge()
        .hsts(true)
        .build()?)
}

#[cfg(feature = "http3")]
#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn caddy_serves_files_over_http3() -> TestResult {
    let peers = peers();
    let client = h3_client(&peers)?;

    // Caddy's `encode` compresses even this file, so it comes without a length: hashed as it
    // streams, decoded.
    let mut file = client.get(format!("{CADDY_H3}/10M.bin")).send().await?;
    assert_eq!(file.version(), Version::HTTP_3);
    let mut hasher = Sha256::new();
    let mut len = 0;
    while let Some(chunk) = file.chunk().await? {
        len += chunk.len();
        hasher.update(&chunk);
    }
    assert_eq!(len, TEN_MIB);
    assert_eq!(hex(&hasher.finalize()), peers.ten_mib_sha256());
    let one_mib = client.get(format!("{CADDY_H3}/1M.bin")).send().await?;
    assert_eq!(one_mib.version(), Version::HTTP_3);
    let one_mib = one_mib.bytes().await?;
    assert_eq!(one_mib.len(), 1024 * 1024);
    assert_eq!(hex(&Sha256::digest(&one_mib)), peers.sha256_of("1M.bin"));

    // Caddy encodes text with zstd (or gzip); the decompression layer decodes it over h3 too.
    let raw = TokioClient::builder()
        .add_root_certificate(peers.ca()?)
        .http3_prior_knowledge()
        .no_decompression()
        .build()?
        .get(format!("{CADDY_H3}/text.txt"))
        .header("accept-encoding", "zstd")
        .send()
        .await?;
    assert_eq!(raw.version(), Version::HTTP_3);
    assert_eq!(raw.headers()["content-encoding"], "zstd");
    let text = client.get(format!("{CADDY_H3}/text.txt")).send().await?;
    assert_eq!(text.version(), Version::HTTP_3);
    let body = text.bytes().await?;
    assert_eq!(body.len(), TEXT_BYTES);
    assert_eq!(hex(&Sha256::digest(&body)), peers.text_sha256());

    // HSTS learned over h3 upgrades a later http:// request, which then goes over h3 as well.
    let hsts = client.get(format!("{CADDY_H3}/hsts")).send().await?;
    assert_eq!(hsts.version(), Version::HTTP_3);
    assert_eq!(hsts.headers()["strict-transport-security"], "max-age=60");
    let upgraded = client.get("http://localhost:7443/data.json").send().await?;
    assert_eq!(upgraded.url().scheme(), "https");
    assert_eq!(upgraded.version(), Version::HTTP_3);
    assert_eq!(upgraded.json::<Value>().await?, peers.data_json()?);
    Ok(())
}

#[cfg(feature = "http3")]
#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn caddy_advertises_http3_and_the_next_request_takes_it() -> TestResult {
    let peers = peers();
    let client = TokioClient::builder()
        .add_root_certificate(peers.ca()?)
        .alt_svc(true)
        .build()?;
    let first = client.get(format!("{CADDY_H3}/data.json")).send().await?;
    assert_eq!(first.version(), Version::HTTP_2);
    let advertised = first.headers()["alt-svc"].to_str()?.to_owned();
    assert!(advertised.contains(r#"h3=":7443""#), "{advertised}");
    assert_eq!(first.json::<Value>().await?, peers.data_json()?);

    let second = client.get(format!("{CADDY_H3}/data.json")).send().await?;
    assert_eq!(second.version(), Version::HTTP_3);
    assert_eq!(second.json::<Value>().await?, peers.data_json()?);
    Ok(())
}

#[cfg(feature = "http3")]
#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_behind_caddy_answers_over_http3() -> TestResult {
    httpbin_over_http3(HTTPBIN_CADDY_H3).await
}

#[cfg(feature = "http3")]
#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn httpbin_under_hypercorn_answers_over_http3() -> TestResult {
    httpbin_over_http3(HTTPBIN_HYPERCORN_H3).await?;
    // httpbin's drip: ten bytes sent one at a time, each its own DATA frame.
    let peers = peers();
    let drip = h3_client(&peers)?
        .get(format!(
            "{HTTPBIN_HYPERCORN_H3}/drip?numbytes=10&duration=0&delay=0"
        ))
        .send()
        .await?;
    assert_eq!(drip.version(), Version::HTTP_3);
    assert_eq!(drip.bytes().await?.as_ref(), b"**********");
    Ok(())
}

/// httpbin at `base` over HTTP/3: GET, a JSON POST echo, bytes, a redirect, a stream of JSON
/// lines, and the Digest challenge.
#[cfg(feature = "http3")]
async fn httpbin_over_http3(base: &str) -> TestResult {
    let peers = peers();
    let client = h3_client(&peers)?;

    let get = client.get(format!("{base}/get?over=h3")).send().await?;
    assert_eq!(get.version(), Version::HTTP_3);
    assert_eq!(echo(get).await?["args"]["over"], "h3");

    let posted = client
        .post(format!("{base}/post"))
        .json(&json!({ "streamed": "both ways" }))
        .send()
        .await?;
    assert_eq!(posted.version(), Version::HTTP_3);
    assert_eq!(echo(posted).await?["json"]["streamed"], "both ways");

    let bytes = client.get(format!("{base}/bytes/50000")).send().await?;
    assert_eq!(bytes.bytes().await?.len(), 50_000);

    // A redirect followed over h3, and httpbin's line-per-object stream read to its end.
    let redirected = client.get(format!("{base}/redirect/2")).send().await?;
    assert_eq!(redirected.url().path(), "/get");
    assert_eq!(redirected.version(), Version::HTTP_3);
    let stream = client.get(format!("{base}/stream/5")).send().await?;
    let text = stream.text().await?;
    assert_eq!(text.lines().count(), 5);

    // The Digest challenge answered over h3.
    let digest = TokioClient::builder()
        .add_root_certificate(peers.ca()?)
        .http3_prior_knowledge()
        .digest_auth("user", "passwd")
        .build()?
        .get(format!("{base}/digest-auth/auth/user/passwd"))
        .send()
        .await?;
    assert_eq!(digest.version(), Version::HTTP_3);
    assert_eq!(digest.status().as_u16(), 200);
    Ok(())
}
