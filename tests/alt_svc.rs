#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! `Alt-Svc` through the facade: an `https` origin on TCP names an HTTP/3 alternative (an
//! in-process `Http3Server`), later requests go there; expiry on a virtual clock, `clear`,
//! an alternative on another host, and the fallback to TCP when the alternative is dead or
//! untrusted, which marks it broken.
#![cfg(feature = "http3")]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use http::Version;
use towline::towline_layers::time::ManualTimer;
use towline::towline_services::rt::{Runtime, tokio::TokioRuntime};
use towline::{AltEndpoint, AltSvcCache, ClientBuilder, Http3Config, TokioClient};
use towline_test_support::{Http3Server, TestPki, TestServer};

use common::{ca, echo_of, get, within};

/// A client trusting `pki` that learns `Alt-Svc` into `cache`; `localhost` and `alt.test`
/// are 127.0.0.1 on whatever port the URL (or the alternative) names.
fn client_with(pki: &TestPki, cache: &AltSvcCache) -> ClientBuilder {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    TokioClient::builder()
        .add_root_certificate(ca(pki))
        .resolve("localhost", loopback)
        .resolve("alt.test", loopback)
        .alt_svc_cache(cache.clone())
}

/// A URL on `origin` whose response carries `Alt-Svc: value`.
fn advertising(origin: &TestServer, value: &str) -> String {
    let query: String = towline::url::form_urlencoded::Serializer::new(String::new())
        .append_pair("alt-svc", value)
        .finish();
    origin.url(&format!("/headers?{query}"))
}

fn tls_origin(pki: &TestPki) -> TestServer {
    TestServer::tls(pki, &[b"h2", b"http/1.1"])
}

#[tokio::test]
async fn an_advertised_alternative_carries_the_next_requests() {
    let pki = TestPki::generate();
    let origin = tls_origin(&pki);
    let h3 = Http3Server::start(&pki);
    let client = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], 0)))
        .alt_svc(true)
        .build()
        .unwrap();

    let value = format!(r#"h3=":{}"; ma=3600"#, h3.addr().port());
    let first = get(&client, &advertising(&origin, &value)).await.unwrap();
    assert_eq!(first.version(), Version::HTTP_2);
    first.bytes().await.unwrap();

    for _ in 0..3 {
        let response = get(&client, &origin.url("/echo")).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_3);
        assert_eq!(response.remote_addr(), Some(h3.addr()));
        let echo = echo_of(response).await;
        // The alternative is authenticated as the origin.
        assert_eq!(echo["sni"], "localhost");
    }
    assert_eq!(h3.connections(), 1);
    assert_eq!(h3.requests(), 3);
    assert_eq!(origin.requests(), 1);
}

#[tokio::test]
async fn without_alt_svc_the_field_is_ignored() {
    let pki = TestPki::generate();
    let origin = tls_origin(&pki);
    let h3 = Http3Server::start(&pki);
    let client = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], 0)))
        .build()
        .unwrap();
    let value = format!(r#"h3=":{}""#, h3.addr().port());
    get(&client, &advertising(&origin, &value)).await.unwrap();
    let response = get(&client, &origin.url("/echo")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(h3.connections(), 0);
}

#[tokio::test]
async fn a_request_that_chose_its_version_keeps_it() {
    let pki = TestPki::generate();
    let origin = tls_origin(&pki);
    let h3 = Http3Server::start(&pki);
    let cache = AltSvcCache::new(TokioRuntime.timer());
    let client = client_with(&pki, &cache).build().unwrap();
    let value = format!(r#"h3=":{}""#, h3.addr().port());
    get(&client, &advertising(&origin, &value)).await.unwrap();
    let response = within(
        client
            .get(origin.url("/echo"))
            .version(Version::HTTP_2)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(h3.connections(), 0);
}

#[tokio::test]
async fn alternatives_expire_after_max_age_on_the_caches_clock() {
    let pki = TestPki::generate();
    let origin = tls_origin(&pki);
    let h3 = Http3Server::start(&pki);
    let clock = ManualTimer::new();
    let cache = AltSvcCache::new(clock.shared());
    let client = client_with(&pki, &cache).build().unwrap();

    let value = format!(r#"h3=":{}"; ma=60"#, h3.addr().port());
    get(&client, &advertising(&origin, &value)).await.unwrap();
    clock.advance(Duration::from_secs(59));
    let response = get(&client, &origin.url("/echo")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_3);

    clock.advance(Duration::from_secs(1));
    let response = get(&client, &origin.url("/echo")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert!(cache.is_empty());
}

#[tokio::test]
async fn clear_over_http3_sends_requests_back_to_tcp() {
    let pki = TestPki::generate();
    let origin = tls_origin(&pki);
    let h3 = Http3Server::start(&pki);
    let cache = AltSvcCache::new(TokioRuntime.timer());
    let client = client_with(&pki, &cache).build().unwrap();
    let value = format!(r#"h3=":{}""#, h3.addr().port());
    get(&client, &advertising(&origin, &value)).await.unwrap();

    // Served over HTTP/3 by the alternative, which withdraws itself.
    let response = get(&client, &advertising(&origin, "clear")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_3);
    response.bytes().await.unwrap();
    let response = get(&client, &origin.url("/echo")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert!(cache.is_empty());
}

#[tokio::test]
async fn an_alternative_on_another_host_must_present_the_origins_certificate() {
    let pki = TestPki::generate();
    let origin = tls_origin(&pki);
    let h3 = Http3Server::start(&pki);
    let cache = AltSvcCache::new(TokioRuntime.timer());
    let client = client_with(&pki, &cache).build().unwrap();
    let value = format!(r#"h3="alt.test:{}""#, h3.addr().port());
    get(&client, &advertising(&origin, &value)).await.unwrap();
    let response = get(&client, &origin.url("/echo")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_3);
    assert_eq!(echo_of(response).await["sni"], "localhost");
}

#[tokio::test]
async fn an_untrusted_alternative_falls_back_to_tcp_and_is_marked_broken() {
    let pki = TestPki::generate();
    let origin = tls_origin(&pki);
    let stranger = Http3Server::with_tls(
        TestPki::generate().server_config_with_versions(&[b"h3"], &[&rustls::version::TLS13]),
    );
    let cache = AltSvcCache::new(TokioRuntime.timer());
    // A budget no handshake could miss: the fallback comes from the failure itself.
    let client = client_with(&pki, &cache)
        .http3_config(Http3Config::default().with_alt_svc_budget(Duration::from_secs(3600)))
        .build()
        .unwrap();
    let port = stranger.addr().port();
    get(&client, &advertising(&origin, &format!(r#"h3=":{port}""#)))
        .await
        .unwrap();

    let response = get(&client, &origin.url("/echo")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    let alternative = AltEndpoint::new(None, port);
    assert!(cache.is_broken("localhost", origin.addr().port(), &alternative));
    assert_eq!(cache.lookup("localhost", origin.addr().port()), None);
}

#[tokio::test]
async fn a_silent_alternative_loses_to_tcp_after_the_budget_and_is_marked_broken() {
    let pki = TestPki::generate();
    let origin = tls_origin(&pki);
    // A UDP port that takes datagrams and never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let cache = AltSvcCache::new(TokioRuntime.timer());
    let client = client_with(&pki, &cache)
        .http3_config(Http3Config::default().with_alt_svc_budget(Duration::from_millis(50)))
        .build()
        .unwrap();
    get(&client, &advertising(&origin, &format!(r#"h3=":{port}""#)))
        .await
        .unwrap();

    let response = get(&client, &origin.url("/echo")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert!(cache.is_broken(
        "localhost",
        origin.addr().port(),
        &AltEndpoint::new(None, port)
    ));
    // The handshake reached the port (it goes on in the background).
    silent.set_nonblocking(true).unwrap();
    let mut datagram = [0; 2048];
    assert!(silent.recv(&mut datagram).is_ok());
}

#[tokio::test]
async fn a_broken_mark_ends_when_a_handshake_succeeds() {
    let pki = TestPki::generate();
    let origin = tls_origin(&pki);
    let h3 = Http3Server::start(&pki);
    let clock = ManualTimer::new();
    let cache = AltSvcCache::new(clock.shared()).with_broken_backoff(Duration::from_secs(60));
    let client = client_with(&pki, &cache).build().unwrap();
    let value = format!(r#"h3=":{}""#, h3.addr().port());
    get(&client, &advertising(&origin, &value)).await.unwrap();
    let alternative = AltEndpoint::new(None, h3.addr().port());
    cache.mark_broken("localhost", origin.addr().port(), &alternative);

    let response = get(&client, &origin.url("/echo")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    clock.advance(Duration::from_secs(60));
    let response = get(&client, &origin.url("/echo")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_3);
    assert!(!cache.is_broken("localhost", origin.addr().port(), &alternative));
}

#[tokio::test]
async fn hostile_alt_svc_values_change_nothing() {
    let pki = TestPki::generate();
    let origin = tls_origin(&pki);
    let h3 = Http3Server::start(&pki);
    let cache = AltSvcCache::new(TokioRuntime.timer());
    let client = client_with(&pki, &cache).build().unwrap();
    let value = format!(r#"h3=":{}""#, h3.addr().port());
    get(&client, &advertising(&origin, &value)).await.unwrap();
    let long = format!(r#"h3=":1"; x="{}""#, "a".repeat(9000));
    for hostile in [
        r#"h3=":0""#,
        r#"h3=":99999""#,
        r#"h3="[::1:443""#,
        r#"h3=":443"; ma=-1"#,
        "clear, h3=\":443\"",
        long.as_str(),
    ] {
        let response = get(&client, &advertising(&origin, hostile)).await.unwrap();
        response.bytes().await.unwrap();
    }
    let response = get(&client, &origin.url("/echo")).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_3);
}
