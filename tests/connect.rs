#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! How connections are made and what the client reports about them: the local address,
//! the connect timeout over the TLS handshake, connect timings, DER roots, the minimum TLS
//! version, SNI, HTTP/1 header case, the idle-pool reaper, and `build` + `execute`.
//!
//! Happy Eyeballs (falling back past refused and blackholed addresses, over plain TCP and
//! TLS) is covered in `tests/tls.rs`; the family interleaving itself by the unit test in
//! `services/src/connect/tcp.rs`.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use http::{StatusCode, Version};
use serde_json::Value;
use towline::towline_services::connect::ConnectTimings;
use towline::{Certificate, Response, TlsVersion, TokioClient};
use towline_test_support::{Counter, OK_KEEP_ALIVE, RawServer, TestPki, TestServer};

use common::{MS, ca, echo_of, get, header_values, info, trusting, wait_until, within};

/// The client address the `/echo` route saw.
fn peer_addr(echo: &Value) -> SocketAddr {
    echo["peer_addr"]
        .as_str()
        .expect("echo reports the peer address")
        .parse()
        .unwrap()
}

// ---------------------------------------------------------------------------
// local address
// ---------------------------------------------------------------------------

#[tokio::test]
async fn local_address_binds_the_client_side_of_the_connection() {
    // Linux routes all of 127.0.0.0/8 to loopback, so 127.0.0.2 is a usable source.
    let local: IpAddr = "127.0.0.2".parse().unwrap();
    let server = TestServer::http1();
    let client = TokioClient::builder().local_address(local).build().unwrap();
    let resp = get(&client, &server.url("/echo")).await.unwrap();
    let connection = info(&resp);
    assert_eq!(connection.remote_addr(), Some(server.addr()));
    let local_addr = connection.local_addr().expect("the local address is known");
    assert_eq!(local_addr.ip(), local);
    let echo = echo_of(resp).await;
    assert_eq!(
        peer_addr(&echo),
        local_addr,
        "the server saw the bound address"
    );

    // By default the kernel picks 127.0.0.1 for a loopback destination.
    let resp = get(&TokioClient::new(), &server.url("/echo"))
        .await
        .unwrap();
    let local_addr = info(&resp).local_addr().unwrap();
    assert_eq!(local_addr.ip(), IpAddr::from([127, 0, 0, 1]));
    assert_eq!(peer_addr(&echo_of(resp).await), local_addr);
}

// ---------------------------------------------------------------------------
// connect timeout
// ---------------------------------------------------------------------------

#[tokio::test]
async fn connect_timeout_covers_the_tls_handshake() {
    // Accepts TCP, then reads (the ClientHello and anything else) until the client closes,
    // never answering: the TLS handshake hangs.
    let silent =
        RawServer::spawn(|mut conn| async move { while conn.read_body(1).await.is_some() {} });
    let client = TokioClient::builder()
        .connect_timeout(200 * MS)
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{}/", silent.addr().port());
    let error = get(&client, &url)
        .await
        .expect_err("the server never answers the ClientHello");
    assert!(error.is_connect(), "{error:?}");
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(silent.connections(), 1, "the TCP connect itself succeeded");
    assert_eq!(silent.requests(), 0);
}

// ---------------------------------------------------------------------------
// connect timings
// ---------------------------------------------------------------------------

fn timings(response: &Response) -> ConnectTimings {
    info(response).connect_timings()
}

#[tokio::test]
async fn connect_timings_report_dns_only_for_names_and_tls_only_for_https() {
    let server = TestServer::http1();
    let port = server.addr().port();
    let client = TokioClient::new();

    // Plain http to an IP literal: neither DNS nor TLS.
    let first = get(&client, &format!("http://127.0.0.1:{port}/echo"))
        .await
        .unwrap();
    assert!(!info(&first).is_reused());
    let first_timings = timings(&first);
    assert_eq!(first_timings.dns, None, "{first_timings:?}");
    assert_eq!(first_timings.tls, None, "{first_timings:?}");
    assert_eq!(echo_of(first).await["connection_id"], 1);

    // The next request reuses that connection and reports how it was made.
    let second = get(&client, &format!("http://127.0.0.1:{port}/echo"))
        .await
        .unwrap();
    assert!(info(&second).is_reused());
    assert_eq!(timings(&second), first_timings);
    assert_eq!(echo_of(second).await["connection_id"], 1);

    // A name goes through the system resolver.
    let named = get(&client, &format!("http://localhost:{port}/echo"))
        .await
        .unwrap();
    assert!(
        !info(&named).is_reused(),
        "another target, another connection"
    );
    let named_timings = timings(&named);
    assert!(named_timings.dns.is_some(), "{named_timings:?}");
    assert_eq!(named_timings.tls, None, "{named_timings:?}");
    assert_eq!(echo_of(named).await["connection_id"], 2);

    // A name answered by the override map: a DNS phase of zero length, not an absent one.
    let overridden = TokioClient::builder()
        .resolve("overridden.test", server.addr())
        .build()
        .unwrap();
    let resp = get(&overridden, &format!("http://overridden.test:{port}/echo"))
        .await
        .unwrap();
    let overridden_timings = timings(&resp);
    assert_eq!(
        overridden_timings.dns,
        Some(std::time::Duration::ZERO),
        "{overridden_timings:?}"
    );
    echo_of(resp).await;
}

#[tokio::test]
async fn connect_timings_report_the_tls_handshake_for_https() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"http/1.1"]);
    let client = trusting(&pki);

    // `https://localhost:PORT`: resolved, then TLS.
    let url = server.url("/echo");
    assert!(url.starts_with("https://localhost:"), "{url}");
    let resp = get(&client, &url).await.unwrap();
    assert!(!info(&resp).is_reused());
    let named = timings(&resp);
    assert!(named.dns.is_some(), "{named:?}");
    assert!(named.tls.is_some(), "{named:?}");
    echo_of(resp).await;

    let resp = get(&client, &url).await.unwrap();
    assert!(info(&resp).is_reused());
    assert_eq!(timings(&resp), named);
    echo_of(resp).await;

    // An IP literal skips DNS but not TLS.
    let url = format!("https://127.0.0.1:{}/echo", server.addr().port());
    let resp = get(&client, &url).await.unwrap();
    let literal = timings(&resp);
    assert_eq!(literal.dns, None, "{literal:?}");
    assert!(literal.tls.is_some(), "{literal:?}");
    echo_of(resp).await;
}

// ---------------------------------------------------------------------------
// trust and TLS versions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn der_root_certificate_is_trusted() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
    let client = TokioClient::builder()
        .add_root_certificate(Certificate::from_der(&pki.ca_der()).unwrap())
        .build()
        .unwrap();
    let resp = get(&client, &server.url("/echo")).await.unwrap();
    assert_eq!(echo_of(resp).await["path"], "/echo");
    assert_eq!(server.requests(), 1);

    // `from_der` does not parse; a bad certificate is refused when the client is built.
    let error = TokioClient::builder()
        .add_root_certificate(Certificate::from_der(b"not a certificate").unwrap())
        .build()
        .unwrap_err();
    assert!(error.is_builder(), "{error:?}");
}

#[tokio::test]
async fn min_tls_version_13_refuses_a_tls12_only_server() {
    let pki = TestPki::generate();
    let tls12 = TestServer::builder()
        .tls_config(pki.tls12_only_server_config(&[b"h2", b"http/1.1"]))
        .build();
    let modern = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
    let tls13_only = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .min_tls_version(TlsVersion::Tls13)
        .build()
        .unwrap();

    let error = get(&tls13_only, &tls12.url("/echo")).await.unwrap_err();
    assert!(error.is_tls(), "{error:?}");
    assert!(error.is_connect(), "{error:?}");
    assert_eq!(tls12.requests(), 0);

    // The same client talks to a server that speaks TLS 1.3...
    let resp = get(&tls13_only, &modern.url("/echo")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // ...and the default minimum (TLS 1.2) accepts the TLS 1.2 server.
    let resp = get(&trusting(&pki), &tls12.url("/echo")).await.unwrap();
    assert_eq!(resp.version(), Version::HTTP_2);
    assert_eq!(echo_of(resp).await["path"], "/echo");
    assert_eq!(tls12.requests(), 1);
}

#[tokio::test]
async fn sni_is_sent_unless_disabled() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
    let url = server.url("/echo");
    assert!(url.starts_with("https://localhost:"), "{url}");

    let resp = get(&trusting(&pki), &url).await.unwrap();
    assert_eq!(echo_of(resp).await["sni"], "localhost");

    let no_sni = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .tls_sni(false)
        .build()
        .unwrap();
    let resp = get(&no_sni, &url).await.unwrap();
    let echo = echo_of(resp).await;
    assert!(echo["sni"].is_null(), "{echo}");
    assert_eq!(server.connections(), 2);
}

// ---------------------------------------------------------------------------
// HTTP/1 header case
// ---------------------------------------------------------------------------

/// A server answering every request with `OK_KEEP_ALIVE` and keeping each request head.
fn capturing() -> (RawServer, Arc<Mutex<Vec<String>>>) {
    let heads = Arc::new(Mutex::new(Vec::new()));
    let server = RawServer::spawn({
        let heads = heads.clone();
        move |mut conn| {
            let heads = heads.clone();
            async move {
                while let Some(request) = conn.read_request().await {
                    heads.lock().unwrap().push(request.head);
                    if conn.write_all(OK_KEEP_ALIVE).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    (server, heads)
}

/// Sends a GET with an `x-custom` header, reads the body and returns the raw head the
/// server received.
async fn raw_head(client: &TokioClient, server: &RawServer, heads: &Mutex<Vec<String>>) -> String {
    let resp = within(
        client
            .get(server.url("/"))
            .header_str("x-custom", "1")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.bytes().await.unwrap(), "ok");
    heads.lock().unwrap().pop().expect("the head was captured")
}

#[tokio::test]
async fn http1_header_names_are_lowercase_unless_title_case_is_asked() {
    let (server, heads) = capturing();

    let head = raw_head(&TokioClient::new(), &server, &heads).await;
    for line in ["\r\nuser-agent: ", "\r\nhost: ", "\r\nx-custom: 1\r\n"] {
        assert!(head.contains(line), "{line:?} in {head:?}");
    }
    assert!(!head.contains("User-Agent"), "{head:?}");

    let title_case = TokioClient::builder()
        .http1_title_case_headers()
        .build()
        .unwrap();
    let head = raw_head(&title_case, &server, &heads).await;
    for line in ["\r\nUser-Agent: ", "\r\nHost: ", "\r\nX-Custom: 1\r\n"] {
        assert!(head.contains(line), "{line:?} in {head:?}");
    }
    assert!(!head.contains("user-agent"), "{head:?}");
}

// ---------------------------------------------------------------------------
// idle pool reaper
// ---------------------------------------------------------------------------

/// A keep-alive server that counts the connections the client closed.
fn counting_closes() -> (RawServer, Counter) {
    let closed = Counter::new();
    let server = RawServer::spawn({
        let closed = closed.clone();
        move |mut conn| {
            let closed = closed.clone();
            async move {
                while conn.read_request_head().await.is_some() {
                    if conn.write_all(OK_KEEP_ALIVE).await.is_err() {
                        return;
                    }
                }
                closed.incr();
            }
        }
    });
    (server, closed)
}

async fn get_ok(client: &TokioClient, server: &RawServer) {
    let resp = get(client, &server.url("/")).await.unwrap();
    assert_eq!(resp.bytes().await.unwrap(), "ok");
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout_without_new_requests() {
    let (server, closed) = counting_closes();
    let client = TokioClient::builder()
        .pool_idle_timeout(Some(100 * MS))
        .build()
        .unwrap();
    get_ok(&client, &server).await;
    assert_eq!(server.connections(), 1);

    // No request follows: only the reaper can close the idle connection.
    wait_until("the idle connection to be closed", || closed.get() == 1).await;
    assert_eq!(server.connections(), 1);
    drop(client);
}

#[tokio::test]
async fn idle_connections_stay_open_within_the_default_idle_timeout() {
    let (server, closed) = counting_closes();
    let client = TokioClient::new();
    get_ok(&client, &server).await;
    // A clock for the wait: a client whose idle timeout is 100 ms, idle since after the
    // first. Once its reaper has closed its connection, the default one (90 s) must not have.
    let (short_server, short_closed) = counting_closes();
    let short = TokioClient::builder()
        .pool_idle_timeout(Some(100 * MS))
        .build()
        .unwrap();
    get_ok(&short, &short_server).await;
    wait_until("the 100 ms idle connection to be closed", || {
        short_closed.get() == 1
    })
    .await;
    assert_eq!(closed.get(), 0, "the default idle timeout is far longer");

    // The connection was idle in the pool, not lost: it is reused...
    get_ok(&client, &server).await;
    assert_eq!(server.connections(), 1);
    // ...and a close is observed once the client (and its pool) goes away.
    drop(client);
    wait_until("the dropped client's connection to close", || {
        closed.get() == 1
    })
    .await;
}

// ---------------------------------------------------------------------------
// build + execute
// ---------------------------------------------------------------------------

#[tokio::test]
async fn built_request_is_executed_with_its_headers() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let request = client
        .get(server.url("/echo?built=1"))
        .header_str("x-a", "b")
        .build()
        .unwrap();
    assert_eq!(request.headers()["x-a"], "b");
    assert_eq!(server.connections(), 0, "build does not send");

    let resp = within(client.execute(request)).await.unwrap();
    let echo = echo_of(resp).await;
    assert_eq!(echo["query"], "built=1");
    assert_eq!(header_values(&echo, "x-a"), ["b"]);
    // execute adds the client's default headers, as send does.
    assert_eq!(
        header_values(&echo, "user-agent"),
        [towline::DEFAULT_USER_AGENT]
    );
}

#[tokio::test]
async fn build_reports_an_invalid_header_as_a_builder_error() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    let error = client
        .get(server.url("/echo"))
        .header_str("bad header", "b")
        .build()
        .unwrap_err();
    assert!(error.is_builder(), "{error:?}");
    let error = client
        .get(server.url("/echo"))
        .header_str("x-a", "line\nbreak")
        .build()
        .unwrap_err();
    assert!(error.is_builder(), "{error:?}");
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn facade_timings_report_connection_phases_only_for_new_connections() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
    let client = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .timings(true)
        .build()
        .unwrap();
    let url = server.url("/bytes/1000");

    let mut first = get(&client, &url).await.unwrap();
    let timings = first.timings().cloned().expect("timings recorded");
    assert!(timings.dns.is_some() && timings.tcp.is_some() && timings.tls.is_some());
    let first_byte = timings.time_to_first_byte.expect("time to first byte");
    assert!(timings.headers >= first_byte);
    assert_eq!(timings.body_complete(), None);
    while first.chunk().await.unwrap().is_some() {}
    assert!(timings.body_complete().expect("body complete") >= timings.headers);

    let pooled = get(&client, &url).await.unwrap();
    let timings = pooled.timings().expect("timings recorded");
    assert_eq!((timings.dns, timings.tcp, timings.tls), (None, None, None));
    assert!(timings.time_to_first_byte.is_some());

    let untimed = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .build()
        .unwrap();
    assert!(get(&untimed, &url).await.unwrap().timings().is_none());
}

// ---------------------------------------------------------------------------
// resolvers and address families
// ---------------------------------------------------------------------------

/// Resolves every name to 127.0.0.1 and counts the names it was asked.
#[derive(Clone, Default)]
struct CountingResolver {
    asked: Arc<Mutex<Vec<String>>>,
}

impl towline::dns::Resolve for CountingResolver {
    fn resolve(&self, name: towline::dns::Name) -> towline::dns::Resolving {
        self.asked.lock().unwrap().push(name.as_str().to_owned());
        Box::pin(async {
            let addrs: towline::dns::Addrs =
                Box::new(std::iter::once(SocketAddr::from(([127, 0, 0, 1], 0))));
            Ok(addrs)
        })
    }
}

#[tokio::test]
async fn a_custom_resolver_answers_names_but_never_literals_or_overrides() {
    let server = TestServer::http1();
    let port = server.addr().port();
    let resolver = CountingResolver::default();
    let client = TokioClient::builder()
        .dns_resolver(Arc::new(resolver.clone()))
        .resolve("overridden.test", server.addr())
        .build()
        .unwrap();
    for url in [
        format!("http://custom.test:{port}/echo"),
        format!("http://127.0.0.1:{port}/echo"),
        format!("http://overridden.test:{port}/echo"),
    ] {
        let response = within(client.get(&url).send()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
    }
    assert_eq!(*resolver.asked.lock().unwrap(), ["custom.test"]);
}

#[tokio::test]
async fn a_failing_resolver_is_a_dns_connect_error() {
    struct Failing;
    impl towline::dns::Resolve for Failing {
        fn resolve(&self, _name: towline::dns::Name) -> towline::dns::Resolving {
            Box::pin(async { Err("no such zone".into()) })
        }
    }
    let client = TokioClient::builder()
        .dns_resolver(Failing)
        .build()
        .unwrap();
    let error = within(client.get("http://nowhere.test/").send())
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    assert!(error.is_dns(), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("dns"), "{text}");
    // The failure names the host the resolver was asked for, and keeps its reason.
    assert!(
        text.contains("dns resolution failed: nowhere.test"),
        "{text}"
    );
    assert!(format!("{error:?}").contains("no such zone"), "{error:?}");
}

#[tokio::test]
async fn ip_strategy_keeps_only_the_allowed_family() {
    let server = TestServer::http1();
    let port = server.addr().port();
    // The name has an IPv6 address where nothing listens, and the server's IPv4 one.
    let both = [
        SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], port)),
        server.addr(),
    ];
    let url = format!("http://dual.test:{port}/");

    let v4 = TokioClient::builder()
        .resolve_to_addrs("dual.test", &both)
        .ip_strategy(towline::dns::IpStrategy::Ipv4Only)
        .build()
        .unwrap();
    let response = within(v4.get(&url).send()).await.unwrap();
    assert_eq!(info(&response).remote_addr(), Some(server.addr()));

    let v6 = TokioClient::builder()
        .resolve_to_addrs("dual.test", &both)
        .ip_strategy(towline::dns::IpStrategy::Ipv6Only)
        .build()
        .unwrap();
    let error = within(v6.get(&url).send()).await.unwrap_err();
    // Only [::1] is tried, where nothing listens: a TCP failure, not the IPv4 server.
    assert!(error.is_connect(), "{error:?}");
    assert_eq!(server.connections(), 1);

    let only_v4 = TokioClient::builder()
        .resolve("v4only.test", server.addr())
        .ip_strategy(towline::dns::IpStrategy::Ipv6Only)
        .build()
        .unwrap();
    let error = within(only_v4.get(format!("http://v4only.test:{port}/")).send())
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("no IPv6 address found for v4only.test"),
        "{error}"
    );
}
