//! hickory-dns as the client's resolver, against test-support's name server: plain DNS over
//! UDP and TCP, DNS-over-TLS and DNS-over-HTTPS, the TTL cache, failures as DNS errors naming
//! the host, and the runtimes it refuses.
#![cfg(all(
    feature = "hickory-dns-over-tls",
    feature = "hickory-dns-over-https",
    feature = "smol"
))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use towline::dns::{HickoryConfig, HickoryResolver, NameServer, Resolve};
use towline_test_support::{DnsServer, TestPki, TestServer};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn resolve(resolver: &HickoryResolver, name: &str) -> Vec<SocketAddr> {
    resolver.resolve(name.into()).await.unwrap().collect()
}

/// A GET to `http://<name>:<server's port>/echo` through a client resolving with `resolver`:
/// the name reaches the server only if the resolver answered with the loopback address.
async fn get_by_name(resolver: HickoryResolver, name: &str, server: &TestServer) -> String {
    let client = towline::Client::builder()
        .dns_resolver(resolver)
        .build()
        .unwrap();
    let url = format!("http://{name}:{}/echo", server.addr().port());
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let echo: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair[0] == "host")
        .map(|pair| pair[1].as_str().unwrap().to_owned())
        .unwrap()
}

#[tokio::test]
async fn plain_dns_answers_the_client_and_the_cache_keeps_answers_for_their_ttl() {
    // Both families have an answer: a family without one is a negative answer, which is
    // cached only as long as the zone's SOA says, and this server sends none.
    let v6 = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
    let dns = DnsServer::plain(
        &[("api.towline.test", LOOPBACK), ("api.towline.test", v6)],
        300,
    )
    .await;
    let resolver =
        HickoryResolver::new(HickoryConfig::new([NameServer::udp_and_tcp(dns.addr())])).unwrap();
    let server = TestServer::http1();

    let host = get_by_name(resolver.clone(), "api.towline.test", &server).await;
    assert_eq!(host, format!("api.towline.test:{}", server.addr().port()));
    let asked = dns.questions();
    assert!(asked >= 1);

    // Within the TTL the cache answers: the name server hears nothing more.
    let mut cached = resolve(&resolver, "api.towline.test").await;
    cached.sort();
    assert_eq!(
        cached,
        [SocketAddr::new(LOOPBACK, 0), SocketAddr::new(v6, 0)]
    );
    assert_eq!(dns.questions(), asked);
}

#[tokio::test]
async fn an_answer_past_its_ttl_is_asked_again() {
    let dns = DnsServer::plain(&[("short.towline.test", LOOPBACK)], 1).await;
    let resolver =
        HickoryResolver::new(HickoryConfig::new([NameServer::udp_and_tcp(dns.addr())])).unwrap();
    resolve(&resolver, "short.towline.test").await;
    let asked = dns.questions();
    // Sleeping past the one-second TTL; the wait only has to be long enough, never short.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    resolve(&resolver, "short.towline.test").await;
    assert!(
        dns.questions() > asked,
        "the expired answer was not asked again"
    );
}

#[tokio::test]
async fn a_name_without_addresses_is_a_dns_error_naming_the_host() {
    let dns = DnsServer::plain(&[("api.towline.test", LOOPBACK)], 300).await;
    let resolver =
        HickoryResolver::new(HickoryConfig::new([NameServer::udp_and_tcp(dns.addr())])).unwrap();
    let client = towline::Client::builder()
        .dns_resolver(resolver)
        .build()
        .unwrap();
    let error = client
        .get("http://missing.towline.test/")
        .send()
        .await
        .unwrap_err();
    assert!(error.is_dns(), "{error:?}");
    assert!(error.is_connect(), "{error:?}");
    let chain = format!("{error:?}");
    assert!(chain.contains("missing.towline.test"), "{chain}");
    assert!(dns.questions() >= 1);
}

#[tokio::test]
async fn only_the_families_asked_for_are_queried() {
    let v6 = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
    let dns = DnsServer::plain(
        &[("dual.towline.test", LOOPBACK), ("dual.towline.test", v6)],
        300,
    )
    .await;
    let both =
        HickoryResolver::new(HickoryConfig::new([NameServer::udp_and_tcp(dns.addr())])).unwrap();
    let mut found = resolve(&both, "dual.towline.test").await;
    found.sort();
    assert_eq!(
        found,
        [SocketAddr::new(LOOPBACK, 0), SocketAddr::new(v6, 0)]
    );

    let v4_only = HickoryResolver::new(
        HickoryConfig::new([NameServer::udp_and_tcp(dns.addr())])
            .ip_strategy(towline::dns::IpStrategy::Ipv4Only),
    )
    .unwrap();
    assert_eq!(
        resolve(&v4_only, "dual.towline.test").await,
        [SocketAddr::new(LOOPBACK, 0)]
    );
}

#[tokio::test]
async fn dns_over_tls_is_verified_with_the_given_roots() {
    let pki = TestPki::generate();
    let dns = DnsServer::tls(&pki, &[("secure.towline.test", LOOPBACK)], 300).await;
    let tls = (*pki.client_config(&[], false)).clone();
    let resolver = HickoryResolver::new(
        HickoryConfig::new([NameServer::tls(dns.addr(), "localhost")]).tls_config(tls),
    )
    .unwrap();
    let server = TestServer::http1();
    get_by_name(resolver, "secure.towline.test", &server).await;
    assert!(dns.questions() >= 1);

    // Roots of another authority: the name server is not trusted and nothing resolves.
    let stranger = TestPki::generate();
    let untrusting = HickoryResolver::new(
        HickoryConfig::new([NameServer::tls(dns.addr(), "localhost")])
            .tls_config((*stranger.client_config(&[], false)).clone())
            .attempts(1),
    )
    .unwrap();
    assert!(
        untrusting
            .resolve("secure.towline.test".into())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn dns_over_https_answers_the_client() {
    let pki = TestPki::generate();
    let dns = DnsServer::https(&pki, &[("doh.towline.test", LOOPBACK)], 300).await;
    let tls = (*pki.client_config(&[], false)).clone();
    let resolver = HickoryResolver::new(
        HickoryConfig::new([NameServer::https(dns.addr(), "localhost", None)]).tls_config(tls),
    )
    .unwrap();
    let server = TestServer::http1();
    get_by_name(resolver, "doh.towline.test", &server).await;
    assert!(dns.questions() >= 1);
}

#[test]
fn hickory_dns_on_a_runtime_other_than_tokio_is_a_builder_error() {
    let error = towline::SmolClient::builder()
        .hickory_dns(true)
        .build()
        .unwrap_err();
    assert!(error.is_builder(), "{error:?}");
    assert!(error.to_string().contains("tokio") || format!("{error:?}").contains("tokio"));

    // Given to a smol client by hand, the resolver fails its lookups instead of panicking.
    let resolver = HickoryResolver::new(HickoryConfig::new([NameServer::udp_and_tcp(
        "127.0.0.1:53".parse().unwrap(),
    )]))
    .unwrap();
    let client = towline::SmolClient::builder()
        .dns_resolver(resolver)
        .build()
        .unwrap();
    let error = smol::block_on(client.get("http://api.towline.test/").send()).unwrap_err();
    assert!(error.is_dns(), "{error:?}");
    assert!(
        format!("{error:?}").contains("no tokio runtime"),
        "{error:?}"
    );
}

#[tokio::test]
async fn hickory_dns_with_the_system_configuration_builds_on_tokio() {
    let server = TestServer::http1();
    let client = towline::Client::builder()
        .hickory_dns(true)
        .build()
        .unwrap();
    // An IP literal never reaches the resolver.
    let response = client.get(server.url("/echo")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}
