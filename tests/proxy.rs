#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Proxies through the client: absolute-form requests to an HTTP proxy, `CONNECT` tunnels
//! (with TLS and h2 inside), HTTPS proxies, Basic credentials that reach the proxy only,
//! `407`/`401` answers, the connect timeout, pool separation and `NO_PROXY` across a redirect.

mod common;

use http::{StatusCode, Version};
use serde_json::Value;
use towline::towline_services::connect::proxy::{ProxyError, ProxyErrorKind};
use towline::towline_services::connect::socks::{SocksTarget, SocksVersion};
use towline::{NoProxy, Proxy, TokioClient};
use towline_test_support::{
    DigestServer, HttpProxy, Malformed, RawServer, SocksServer, TestPki, TestServer, basic,
};

use common::{MS, ca, echo_of, header_values, within};

fn proxied(proxy: Proxy) -> TokioClient {
    TokioClient::builder().proxy(proxy).build().unwrap()
}

fn proxy_error(error: &towline::Error) -> &ProxyError {
    let mut cause = std::error::Error::source(error);
    while let Some(error) = cause {
        if let Some(proxy) = error.downcast_ref::<ProxyError>() {
            return proxy;
        }
        cause = error.source();
    }
    panic!("not a proxy error: {error:?}")
}

async fn echo(client: &TokioClient, url: &str) -> Value {
    echo_of(within(client.get(url).send()).await.unwrap()).await
}

#[tokio::test]
async fn plain_http_goes_to_the_proxy_in_absolute_form_on_one_shared_connection() {
    let proxy = HttpProxy::spawn();
    let first = TestServer::http1();
    let second = TestServer::http1();
    let client = proxied(Proxy::http(proxy.url()).unwrap());

    let seen = echo(&client, &first.url("/echo?a=1")).await;
    assert_eq!(seen["uri"], "/echo?a=1", "the origin gets origin form");
    echo(&client, &second.url("/echo")).await;

    let log = proxy.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].target, first.url("/echo?a=1"), "absolute form");
    assert_eq!(
        log[0].host.as_deref(),
        Some(first.addr().to_string().as_str())
    );
    assert_eq!(log[1].target, second.url("/echo"));
    assert_eq!(
        proxy.connections(),
        1,
        "every origin shares the proxy connection"
    );
    assert_eq!((first.connections(), second.connections()), (1, 1));
}

#[tokio::test]
async fn https_goes_through_a_connect_tunnel_where_alpn_picks_h2() {
    let pki = TestPki::generate();
    let origin = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
    let proxy = HttpProxy::builder().basic_auth("alice", "s3cret").build();
    let client = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .proxy(
            Proxy::https(proxy.url())
                .unwrap()
                .basic_auth("alice", "s3cret"),
        )
        .timings(true)
        .build()
        .unwrap();
    let url = origin.url("/echo");
    let response = within(client.get(&url).send()).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    let timings = response.timings().expect("timings are on");
    assert!(
        timings.proxy.is_some() && timings.tls.is_some(),
        "the proxy handshake is a phase of its own: {timings:?}"
    );
    let seen = echo_of(response).await;
    assert!(
        header_values(&seen, "proxy-authorization").is_empty(),
        "credentials never enter the tunnel"
    );
    let log = proxy.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].method, "CONNECT");
    let authority = url.trim_start_matches("https://").trim_end_matches("/echo");
    assert_eq!(log[0].target, authority);
    assert_eq!(
        log[0].proxy_authorization.as_deref(),
        Some(basic("alice", "s3cret").as_str())
    );
}

#[tokio::test]
async fn credentials_in_the_proxy_url_reach_the_proxy_and_not_the_origin() {
    let proxy = HttpProxy::builder().basic_auth("bob", "p@ss word").build();
    let origin = TestServer::http1();
    let url = proxy.url().replace("http://", "http://bob:p%40ss%20word@");
    let client = proxied(Proxy::http(url).unwrap());
    let seen = echo(&client, &origin.url("/echo")).await;
    assert!(header_values(&seen, "proxy-authorization").is_empty());
    assert_eq!(
        proxy.requests()[0].proxy_authorization.as_deref(),
        Some(basic("bob", "p@ss word").as_str())
    );
}

#[tokio::test]
async fn an_https_proxy_speaks_tls_to_the_proxy_itself() {
    let pki = TestPki::generate();
    let proxy = HttpProxy::builder()
        .tls(pki.server_config(&[b"http/1.1"], false))
        .build();
    let plain = TestServer::http1();
    let secure = TestServer::tls(&pki, &[b"http/1.1"]);
    let client = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .resolve("localhost", proxy.addr())
        .proxy(Proxy::all(proxy.url()).unwrap())
        .build()
        .unwrap();
    echo(&client, &plain.url("/echo")).await;
    echo(&client, &secure.url("/echo")).await;
    let log = proxy.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].method.as_str(), log[1].method.as_str()),
        ("GET", "CONNECT")
    );
}

#[tokio::test]
async fn an_https_proxy_is_verified_with_its_own_roots_and_servers_with_the_clients() {
    // The proxy's certificate comes from one authority, the origin's from another; the client
    // trusts only the origin's.
    let proxy_pki = TestPki::generate();
    let origin_pki = TestPki::generate();
    let proxy = HttpProxy::builder()
        .tls(proxy_pki.server_config(&[b"http/1.1"], false))
        .build();
    let secure = TestServer::tls(&origin_pki, &[b"http/1.1"]);
    let client_for = |proxy_setting: Proxy| {
        TokioClient::builder()
            .add_root_certificate(ca(&origin_pki))
            .resolve("localhost", proxy.addr())
            .proxy(proxy_setting)
            .build()
            .unwrap()
    };

    // With the client's roots alone, the proxy's certificate is refused.
    let error = within(
        client_for(Proxy::all(proxy.url()).unwrap())
            .get(secure.url("/echo"))
            .send(),
    )
    .await
    .unwrap_err();
    assert!(error.is_proxy() && error.is_connect(), "{error:?}");
    assert_eq!(proxy.connections(), 1);
    assert!(
        proxy.requests().is_empty(),
        "no request before TLS to the proxy"
    );

    // With the proxy's own roots, the tunnel is made; the origin is still verified with the
    // client's.
    let own = Proxy::all(proxy.url())
        .unwrap()
        .tls_config(proxy_pki.client_config(&[b"http/1.1"], false));
    echo(&client_for(own.clone()), &secure.url("/echo")).await;
    assert_eq!(proxy.requests().len(), 1);
    assert_eq!(proxy.requests()[0].method.as_str(), "CONNECT");

    // An origin whose certificate comes from the proxy's authority is not trusted for that.
    let impostor = TestServer::tls(&proxy_pki, &[b"http/1.1"]);
    let error = within(client_for(own).get(impostor.url("/echo")).send())
        .await
        .unwrap_err();
    assert!(error.is_connect() && !error.is_proxy(), "{error:?}");
}

#[tokio::test]
async fn a_connect_refused_with_a_digest_challenge_is_answered_once_on_the_same_connection() {
    let pki = TestPki::generate();
    let origin = TestServer::tls(&pki, &[b"http/1.1"]);
    // Like squid with a Digest-only user: Basic and Digest offered, only Digest accepted.
    let digest = DigestServer::new("dora", "s3cret", "proxy-realm")
        .proxy()
        .basic_first();
    let proxy = HttpProxy::builder().digest_auth(digest.clone()).build();
    let client_with = |password: &str| {
        TokioClient::builder()
            .add_root_certificate(ca(&pki))
            .proxy(
                Proxy::all(proxy.url())
                    .unwrap()
                    .basic_auth("dora", password),
            )
            .build()
            .unwrap()
    };
    echo(&client_with("s3cret"), &origin.url("/echo")).await;
    let log = proxy.requests();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log.iter()
            .all(|request| request.method == http::Method::CONNECT)
    );
    assert_eq!(
        log[0].connection, log[1].connection,
        "asked again on the same connection"
    );
    assert!(
        log[0]
            .proxy_authorization
            .as_deref()
            .unwrap_or_default()
            .starts_with("Basic ")
    );
    let answer = log[1].proxy_authorization.clone().unwrap_or_default();
    assert!(answer.starts_with("Digest "), "{answer}");
    // The Basic answer was the only one refused.
    assert_eq!(digest.failures(), ["not a Digest answer"]);

    // A wrong password: refused twice, then a proxy error; never a third CONNECT.
    let error = within(client_with("wrong").get(origin.url("/echo")).send())
        .await
        .unwrap_err();
    assert!(error.is_proxy() && error.is_connect(), "{error:?}");
    assert_eq!(
        error.status(),
        Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED)
    );
    assert_eq!(proxy.requests().len(), 4);
}

#[tokio::test]
async fn a_407_without_credentials_is_returned_for_absolute_form_and_an_error_for_connect() {
    let proxy = HttpProxy::builder().basic_auth("alice", "right").build();
    let origin = TestServer::http1();
    let client = proxied(Proxy::all(proxy.url()).unwrap());
    let response = within(client.get(origin.url("/echo")).send())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PROXY_AUTHENTICATION_REQUIRED);

    let tunnelled = proxied(Proxy::all(proxy.url()).unwrap().connect_for_http(true));
    let error = within(tunnelled.get(origin.url("/echo")).send())
        .await
        .unwrap_err();
    assert!(error.is_proxy() && error.is_connect(), "{error:?}");
    assert_eq!(
        error.status(),
        Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED)
    );
    let proxy_error = proxy_error(&error);
    assert_eq!(proxy_error.kind(), ProxyErrorKind::AuthRequired);
    assert!(proxy_error.challenge().is_some());
}

#[tokio::test]
async fn refused_credentials_end_in_an_error_after_one_attempt() {
    let proxy = HttpProxy::builder().basic_auth("alice", "right").build();
    let origin = TestServer::http1();
    let client = proxied(
        Proxy::all(proxy.url())
            .unwrap()
            .connect_for_http(true)
            .basic_auth("alice", "wrong"),
    );
    let error = within(client.get(origin.url("/echo")).send())
        .await
        .unwrap_err();
    assert_eq!(proxy_error(&error).kind(), ProxyErrorKind::AuthRejected);
    assert!(!error.to_string().contains("wrong"), "{error}");
    assert_eq!(
        proxy.requests().len(),
        1,
        "no second try with the same credentials"
    );
    assert_eq!(origin.requests(), 0);
}

#[tokio::test]
async fn a_401_to_connect_is_a_proxy_error_not_the_origins_challenge() {
    let proxy = HttpProxy::builder()
        .basic_auth("alice", "right")
        .challenge_status(StatusCode::UNAUTHORIZED)
        .build();
    let origin = TestServer::http1();
    let client = proxied(Proxy::all(proxy.url()).unwrap().connect_for_http(true));
    let error = within(client.get(origin.url("/echo")).send())
        .await
        .unwrap_err();
    assert!(error.is_proxy(), "{error:?}");
    assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn a_digest_challenge_on_a_connection_that_cannot_carry_another_connect_is_an_error() {
    let challenge = "Proxy-Authenticate: Digest realm=\"r\", nonce=\"n\", qop=\"auth\"\r\n";
    for refusal in [
        // The proxy closes after its refusal.
        format!("HTTP/1.1 407 Auth\r\n{challenge}Connection: close\r\nContent-Length: 0\r\n\r\n"),
        // A refusal body too long to skip.
        format!("HTTP/1.1 407 Auth\r\n{challenge}Content-Length: 1048576\r\n\r\n"),
        // A body of unknown length.
        format!("HTTP/1.1 407 Auth\r\n{challenge}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ] {
        let proxy = RawServer::fixed(refusal.as_bytes());
        let client = TokioClient::builder()
            .proxy(
                Proxy::all(format!("http://{}", proxy.addr()))
                    .unwrap()
                    .basic_auth("u", "p"),
            )
            .build()
            .unwrap();
        let error = within(client.get("https://origin.invalid/").send())
            .await
            .unwrap_err();
        assert!(error.is_proxy(), "{error:?}");
        assert_eq!(
            error.status(),
            Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED)
        );
        assert_eq!(proxy.requests(), 1, "not asked again: {refusal}");
    }
}

#[tokio::test]
async fn the_connect_timeout_covers_a_proxy_that_never_answers() {
    let silent = RawServer::spawn(|mut conn| async move {
        if conn.read_request_head().await.is_some() {
            tokio::time::sleep(common::NO_HANG * 6).await;
        }
    });
    let client = TokioClient::builder()
        .proxy(Proxy::all(format!("http://{}", silent.addr())).unwrap())
        .connect_timeout(200 * MS)
        .build()
        .unwrap();
    let error = within(client.get("https://origin.invalid/").send())
        .await
        .unwrap_err();
    assert!(error.is_connect() && error.is_timeout(), "{error:?}");
}

#[tokio::test]
async fn proxied_and_direct_connections_never_mix() {
    let proxy = HttpProxy::spawn();
    let origin = TestServer::http1();
    let client = TokioClient::builder()
        .proxy(
            Proxy::all(proxy.url())
                .unwrap()
                .connect_for_http(true)
                .no_proxy(NoProxy::parse(&format!(
                    "127.0.0.1:{}",
                    origin.addr().port() + 1
                ))),
        )
        .build()
        .unwrap();
    let direct = TokioClient::builder().no_proxy().build().unwrap();
    for _ in 0..2 {
        echo(&client, &origin.url("/echo")).await;
        echo(&direct, &origin.url("/echo")).await;
    }
    assert_eq!(proxy.requests().len(), 1, "one tunnel, reused");
    assert_eq!(
        origin.connections(),
        2,
        "one through the tunnel, one direct"
    );
}

#[tokio::test]
async fn a_redirect_to_a_no_proxy_host_goes_direct_without_the_proxy_credentials() {
    let proxy = HttpProxy::builder().basic_auth("alice", "s3cret").build();
    let proxied_origin = TestServer::http1();
    let direct_origin = TestServer::http1();
    let no_proxy = NoProxy::parse(&format!("127.0.0.1:{}", direct_origin.addr().port()));
    let client = proxied(
        Proxy::http(proxy.url())
            .unwrap()
            .basic_auth("alice", "s3cret")
            .no_proxy(no_proxy),
    );
    let target = direct_origin.url("/echo");
    let seen = echo(
        &client,
        &proxied_origin.url(&format!("/redirect?to={target}")),
    )
    .await;
    assert!(header_values(&seen, "proxy-authorization").is_empty());
    let log = proxy.requests();
    assert_eq!(
        log.len(),
        1,
        "only the first hop went through the proxy: {log:?}"
    );
    assert_eq!(direct_origin.connections(), 1);
}

#[tokio::test]
async fn a_bad_proxy_url_is_a_builder_error_naming_it_without_the_password() {
    fn configure(url: &str) -> towline::Result<TokioClient> {
        TokioClient::builder().proxy(Proxy::all(url)?).build()
    }
    let error = configure("gopher://alice:hunter2@proxy.test").unwrap_err();
    assert!(error.is_builder(), "{error:?}");
    let shown = error.to_string();
    assert!(
        shown.contains("gopher") && !shown.contains("hunter2"),
        "{shown}"
    );
    assert!(!format!("{error:?}").contains("hunter2"));
    assert!(configure("socks5h://127.0.0.1:1080").is_ok());
}

#[tokio::test]
async fn a_chain_dials_each_hop_through_the_one_before_it() {
    let pki = TestPki::generate();
    let first = HttpProxy::builder()
        .tls(pki.server_config(&[b"http/1.1"], false))
        .basic_auth("one", "1")
        .build();
    let second = HttpProxy::builder().basic_auth("two", "2").build();
    let origin = TestServer::http1();
    let hops = [
        towline::ProxyUrl::parse(&first.url())
            .unwrap()
            .basic_auth("one", "1"),
        towline::ProxyUrl::parse(&second.url())
            .unwrap()
            .basic_auth("two", "2"),
    ];
    let client = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .resolve("localhost", first.addr())
        .proxy(Proxy::chain(hops).unwrap())
        .build()
        .unwrap();
    // Plain http: a tunnel to the second hop, which gets the request in absolute form.
    let seen = echo(&client, &origin.url("/echo")).await;
    assert!(header_values(&seen, "proxy-authorization").is_empty());
    let (first_log, second_log) = (first.requests(), second.requests());
    assert_eq!(first_log.len(), 1);
    assert_eq!(first_log[0].method, "CONNECT");
    assert_eq!(first_log[0].target, second.addr().to_string());
    assert_eq!(
        first_log[0].proxy_authorization.as_deref(),
        Some(basic("one", "1").as_str())
    );
    assert_eq!(second_log.len(), 1);
    assert_eq!(second_log[0].method, "GET");
    assert_eq!(second_log[0].target, origin.url("/echo"));
    assert_eq!(
        second_log[0].proxy_authorization.as_deref(),
        Some(basic("two", "2").as_str())
    );
}

// ---------------------------------------------------------------------------
// SOCKS
// ---------------------------------------------------------------------------

/// Resolves every name to 127.0.0.1 and counts the lookups.
#[derive(Clone, Default)]
struct CountingResolver(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl towline::dns::Resolve for CountingResolver {
    fn resolve(&self, _name: towline::dns::Name) -> towline::dns::Resolving {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async {
            let addrs: towline::dns::Addrs = Box::new(std::iter::once(std::net::SocketAddr::from(
                ([127, 0, 0, 1], 0),
            )));
            Ok(addrs)
        })
    }
}

fn through_socks(proxy: &str, resolver: &CountingResolver) -> TokioClient {
    TokioClient::builder()
        .proxy(Proxy::all(proxy).unwrap())
        .dns_resolver(resolver.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn socks5h_sends_the_name_and_resolves_nothing_locally() {
    let socks = SocksServer::spawn();
    let origin = TestServer::http1();
    let resolver = CountingResolver::default();
    let client = through_socks(&socks.url("socks5h"), &resolver);
    let url = format!("http://localhost:{}/echo", origin.addr().port());
    echo(&client, &url).await;
    let log = socks.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].version, SocksVersion::V5);
    assert_eq!(
        log[0].target,
        SocksTarget::Domain("localhost".into(), origin.addr().port())
    );
    assert_eq!(
        resolver.0.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no local DNS lookup"
    );
}

#[tokio::test]
async fn socks5_and_socks4_resolve_locally_and_socks4a_sends_the_name() {
    let origin = TestServer::http1();
    let port = origin.addr().port();
    let url = format!("http://origin.test:{port}/echo");
    for (scheme, version, by_name) in [
        ("socks5", SocksVersion::V5, false),
        ("socks4", SocksVersion::V4, false),
        ("socks4a", SocksVersion::V4a, true),
    ] {
        let socks = SocksServer::spawn();
        let resolver = CountingResolver::default();
        let client = through_socks(&socks.url(scheme), &resolver);
        if by_name {
            // The SOCKS server resolves the name itself: give it one it can resolve.
            echo(&client, &format!("http://localhost:{port}/echo")).await;
        } else {
            echo(&client, &url).await;
        }
        let log = socks.requests();
        assert_eq!(log[0].version, version, "{scheme}");
        let expected = if by_name {
            SocksTarget::Domain("localhost".into(), port)
        } else {
            SocksTarget::Addr(origin.addr())
        };
        assert_eq!(log[0].target, expected, "{scheme}");
        let lookups = resolver.0.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(lookups, usize::from(!by_name), "{scheme}: local lookups");
    }
}

#[tokio::test]
async fn socks5_credentials_and_https_through_the_tunnel() {
    let pki = TestPki::generate();
    let origin = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
    let socks = SocksServer::builder().auth("sam", "pw").spawn();
    let url = socks
        .url("socks5h")
        .replace("socks5h://", "socks5h://sam:pw@");
    let client = TokioClient::builder()
        .add_root_certificate(ca(&pki))
        .proxy(Proxy::all(url).unwrap())
        .build()
        .unwrap();
    let response = within(client.get(origin.url("/echo")).send())
        .await
        .unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(socks.requests()[0].username.as_deref(), Some("sam"));

    let wrong = proxied(
        Proxy::all(socks.url("socks5h"))
            .unwrap()
            .basic_auth("sam", "nope"),
    );
    let error = within(wrong.get(origin.url("/echo")).send())
        .await
        .unwrap_err();
    assert!(error.is_proxy() && error.is_connect(), "{error:?}");
    assert_eq!(proxy_error(&error).kind(), ProxyErrorKind::Socks);
}

#[tokio::test]
async fn every_socks5_failure_code_is_a_proxy_error() {
    let origin = TestServer::http1();
    for code in 1..=8u8 {
        let socks = SocksServer::builder().reply_code(code).spawn();
        let client = proxied(Proxy::all(socks.url("socks5h")).unwrap());
        let error = within(client.get(origin.url("/echo")).send())
            .await
            .unwrap_err();
        assert!(
            error.is_proxy() && error.is_connect(),
            "code {code}: {error:?}"
        );
        let socks_error = std::error::Error::source(proxy_error(&error))
            .and_then(|e| e.downcast_ref::<towline::towline_services::connect::socks::SocksError>())
            .unwrap_or_else(|| panic!("code {code}: no SOCKS error under {error:?}"));
        assert!(
            socks_error.kind().is_refusal(),
            "code {code}: {socks_error}"
        );
    }
}

#[tokio::test]
async fn malformed_socks_replies_are_errors_never_hangs() {
    let origin = TestServer::http1();
    for malformed in [
        Malformed::WrongVersion,
        Malformed::NonZeroReserved,
        Malformed::Truncated,
        Malformed::UnknownAddressType,
        Malformed::OversizedDomain,
    ] {
        let socks = SocksServer::builder().malformed(malformed).spawn();
        let client = proxied(Proxy::all(socks.url("socks5h")).unwrap());
        let error = within(client.get(origin.url("/echo")).send())
            .await
            .unwrap_err();
        assert!(error.is_proxy(), "{malformed:?}: {error:?}");
    }
}

#[tokio::test]
async fn a_chain_of_an_http_proxy_then_socks5() {
    let http = HttpProxy::spawn();
    let socks = SocksServer::spawn();
    let origin = TestServer::http1();
    let hops = [
        towline::ProxyUrl::parse(&http.url()).unwrap(),
        towline::ProxyUrl::parse(&socks.url("socks5")).unwrap(),
    ];
    let client = proxied(Proxy::chain(hops).unwrap());
    echo(&client, &origin.url("/echo")).await;
    let log = http.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].method, "CONNECT");
    assert_eq!(
        log[0].target,
        socks.addr().to_string(),
        "the first hop tunnels to the second"
    );
    assert_eq!(socks.requests()[0].target, SocksTarget::Addr(origin.addr()));
}

#[tokio::test]
async fn socks5_answers_overridden_names_from_the_map() {
    let socks = SocksServer::spawn();
    let origin = TestServer::http1();
    let resolver = CountingResolver::default();
    let client = TokioClient::builder()
        .proxy(Proxy::all(socks.url("socks5")).unwrap())
        .dns_resolver(resolver.clone())
        .resolve("mapped.test", origin.addr())
        .build()
        .unwrap();
    echo(
        &client,
        &format!("http://mapped.test:{}/echo", origin.addr().port()),
    )
    .await;
    assert_eq!(socks.requests()[0].target, SocksTarget::Addr(origin.addr()));
    assert_eq!(resolver.0.load(std::sync::atomic::Ordering::SeqCst), 0);
}
