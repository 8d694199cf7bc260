//! Unit tests of the HSTS layer, over a mock service.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::{Duration, UNIX_EPOCH},
};

use http::{HeaderValue, Request, Response, Uri, header::STRICT_TRANSPORT_SECURITY};
use tower::{ServiceBuilder, ServiceExt};

use super::*;
use crate::{
    BoxError, EffectiveUri,
    time::{ManualTimer, TimerClock},
};

const START: u64 = 1_600_000_000;

fn frozen_store() -> (HstsStore, ManualTimer) {
    let timer = ManualTimer::new();
    let clock = TimerClock::starting_at(timer.shared(), UNIX_EPOCH + Duration::from_secs(START));
    (HstsStore::new().with_clock(clock.shared()), timer)
}

/// Sends a GET for `uri` through an `HstsLayer` over `store`, answering with `sts` headers.
/// Returns the URI the inner service was asked for and the response's `EffectiveUri`.
async fn exchange(store: &HstsStore, uri: &str, sts: &[&[u8]]) -> (Uri, Option<Uri>) {
    let seen = Arc::new(Mutex::new(None));
    let headers: Vec<HeaderValue> = sts
        .iter()
        .map(|value| HeaderValue::from_bytes(value).unwrap())
        .collect();
    let service = ServiceBuilder::new()
        .layer(HstsLayer::new(store.clone()))
        .service_fn({
            let seen = Arc::clone(&seen);
            move |request: Request<()>| {
                *seen.lock().unwrap() = Some(request.uri().clone());
                let mut response = Response::new(());
                for value in &headers {
                    response
                        .headers_mut()
                        .append(STRICT_TRANSPORT_SECURITY, value.clone());
                }
                std::future::ready(Ok::<_, Infallible>(response))
            }
        });
    let response = service
        .oneshot(Request::get(uri).body(()).unwrap())
        .await
        .unwrap();
    let effective = response
        .extensions()
        .get::<EffectiveUri>()
        .map(|EffectiveUri(uri)| uri.clone());
    let requested = seen.lock().unwrap().take().unwrap();
    (requested, effective)
}

async fn requested(store: &HstsStore, uri: &str) -> String {
    exchange(store, uri, &[]).await.0.to_string()
}

#[tokio::test]
async fn learns_from_https_and_upgrades_http() {
    let store = HstsStore::new();
    assert_eq!(
        requested(&store, "http://example.com/a").await,
        "http://example.com/a"
    );
    exchange(&store, "https://example.com/", &[b"max-age=3600"]).await;
    assert!(store.is_known("example.com"));

    let (uri, effective) = exchange(&store, "http://example.com/a?b=c", &[]).await;
    assert_eq!(uri.to_string(), "https://example.com/a?b=c");
    assert_eq!(effective, Some(uri));
    // Case and a trailing dot do not matter.
    assert_eq!(
        requested(&store, "http://EXAMPLE.com./x").await,
        "https://EXAMPLE.com./x"
    );
    // Without includeSubDomains, subdomains and other hosts stay as they are.
    assert_eq!(
        requested(&store, "http://www.example.com/").await,
        "http://www.example.com/"
    );
    assert_eq!(
        requested(&store, "http://example.org/").await,
        "http://example.org/"
    );
    // HTTPS requests are left alone and get no EffectiveUri.
    let (uri, effective) = exchange(&store, "https://example.com/s", &[]).await;
    assert_eq!(
        (uri.to_string(), effective),
        ("https://example.com/s".into(), None)
    );
}

#[tokio::test]
async fn port_80_becomes_443_and_other_ports_stay() {
    let store = HstsStore::new();
    store.add("example.com", Duration::from_secs(60), false);
    assert_eq!(
        requested(&store, "http://example.com:80/p").await,
        "https://example.com:443/p"
    );
    assert_eq!(
        requested(&store, "http://example.com:8080/p").await,
        "https://example.com:8080/p"
    );
    assert_eq!(
        requested(&store, "http://example.com:443/p").await,
        "https://example.com:443/p"
    );
    assert_eq!(
        requested(&store, "http://example.com/p").await,
        "https://example.com/p"
    );
}

#[tokio::test]
async fn plain_http_responses_never_set_a_policy() {
    let store = HstsStore::new();
    exchange(
        &store,
        "http://example.com/",
        &[b"max-age=3600; includeSubDomains"],
    )
    .await;
    assert!(store.is_empty());
    assert_eq!(
        requested(&store, "http://example.com/").await,
        "http://example.com/"
    );
}

#[tokio::test]
async fn ip_literals_never_get_a_policy() {
    let store = HstsStore::new();
    for uri in [
        "https://127.0.0.1/",
        "https://[::1]:8443/",
        "https://127.1/",
    ] {
        exchange(&store, uri, &[b"max-age=3600; includeSubDomains"]).await;
    }
    assert!(store.is_empty());
    assert!(!store.add("10.0.0.1", Duration::from_secs(60), true));
    assert!(!store.add("[::1]", Duration::from_secs(60), true));
    assert_eq!(
        requested(&store, "http://127.0.0.1/").await,
        "http://127.0.0.1/"
    );
}

#[tokio::test]
async fn include_subdomains_covers_every_subdomain() {
    let store = HstsStore::new();
    exchange(
        &store,
        "https://example.com/",
        &[b"max-age=3600; includeSubDomains"],
    )
    .await;
    assert_eq!(
        requested(&store, "http://a.b.example.com/").await,
        "https://a.b.example.com/"
    );
    assert_eq!(
        requested(&store, "http://notexample.com/").await,
        "http://notexample.com/"
    );
    let entries = store.entries();
    assert_eq!(entries.len(), 1);
    assert!(entries[0].include_subdomains);
    // A later header without it narrows the policy again.
    exchange(&store, "https://example.com/", &[b"max-age=3600"]).await;
    assert_eq!(
        requested(&store, "http://a.example.com/").await,
        "http://a.example.com/"
    );
}

#[tokio::test]
async fn max_age_zero_forgets_the_host() {
    let store = HstsStore::new();
    exchange(&store, "https://example.com/", &[b"max-age=3600"]).await;
    assert!(store.is_known("example.com"));
    exchange(&store, "https://example.com/", &[b"max-age=0"]).await;
    assert!(!store.is_known("example.com"));
    assert_eq!(
        requested(&store, "http://example.com/").await,
        "http://example.com/"
    );
}

#[tokio::test]
async fn policies_lapse_on_the_store_clock() {
    let (store, timer) = frozen_store();
    exchange(&store, "https://example.com/", &[b"max-age=100"]).await;
    assert_eq!(
        store.entries()[0].expires,
        UNIX_EPOCH + Duration::from_secs(START + 100)
    );
    timer.advance(Duration::from_secs(99));
    assert_eq!(
        requested(&store, "http://example.com/").await,
        "https://example.com/"
    );
    timer.advance(Duration::from_secs(1));
    assert_eq!(
        requested(&store, "http://example.com/").await,
        "http://example.com/"
    );
    assert!(store.is_empty());
}

#[tokio::test]
async fn huge_max_age_is_clamped() {
    let (store, _timer) = frozen_store();
    exchange(
        &store,
        "https://example.com/",
        &[b"max-age=999999999999999999999999999999999999999"],
    )
    .await;
    assert_eq!(
        store.entries()[0].expires,
        UNIX_EPOCH + Duration::from_secs(START) + MAX_AGE_CAP
    );
    store.add("manual.test", Duration::MAX, false);
    assert!(
        store.entries().iter().all(|entry| {
            entry.expires == UNIX_EPOCH + Duration::from_secs(START) + MAX_AGE_CAP
        })
    );
}

#[tokio::test]
async fn first_valid_header_wins() {
    let (store, _timer) = frozen_store();
    exchange(
        &store,
        "https://example.com/",
        &[
            b"includeSubDomains",
            b"max-age=abc",
            b"max-age=1; max-age=2",
            b"max-age=60; includeSubDomains",
            b"max-age=7200",
        ],
    )
    .await;
    let entries = store.entries();
    assert_eq!(entries.len(), 1);
    assert!(entries[0].include_subdomains);
    assert_eq!(
        entries[0].expires,
        UNIX_EPOCH + Duration::from_secs(START + 60)
    );

    // Only invalid headers: nothing happens.
    exchange(&store, "https://other.com/", &[b"max-age=", b"\xff\xfe"]).await;
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn hostile_headers_never_panic() {
    let store = HstsStore::new();
    let long = vec![b'9'; MAX_HEADER_LEN * 4];
    let headers: [&[u8]; 8] = [
        b"max-age=18446744073709551616",
        b"max-age=\"\\",
        b";;;;;;;;;;;;;;;;;;;;;",
        b"max-age=1; \"",
        b"\xff\xff\xff",
        b"max-age=-0",
        b"MAX-AGE=00000000000000000000000000000000000000000000000000000000000000000000000000",
        &long,
    ];
    for header in headers {
        exchange(&store, "https://hostile.test/", &[header]).await;
    }
    // The first header is valid (clamped); the all-zero max-age later is valid too and forgets
    // the host again.
    assert!(store.is_empty());
}

#[tokio::test]
async fn the_store_is_bounded() {
    let (store, _timer) = frozen_store();
    let store = store.with_max_entries(3);
    for (host, secs) in [
        ("a.test", 10),
        ("b.test", 1000),
        ("c.test", 500),
        ("d.test", 800),
    ] {
        assert!(store.add(host, Duration::from_secs(secs), false));
    }
    let hosts: Vec<String> = store
        .entries()
        .into_iter()
        .map(|entry| entry.host)
        .collect();
    assert_eq!(hosts, ["b.test", "c.test", "d.test"]);
    let store = store.with_max_entries(1);
    assert_eq!(store.entries()[0].host, "b.test");
}

#[tokio::test]
async fn remove_and_clear() {
    let store = HstsStore::new();
    store.add("a.test", Duration::from_secs(60), false);
    store.add("b.test", Duration::from_secs(60), true);
    assert!(store.remove("A.test"));
    assert!(!store.remove("a.test"));
    assert!(store.is_known("x.b.test"));
    store.clear();
    assert!(!store.is_known("b.test"));
}

#[tokio::test]
async fn inner_errors_pass_through() {
    let service = ServiceBuilder::new()
        .layer(HstsLayer::default())
        .service_fn(|_request: Request<()>| async {
            Err::<Response<()>, BoxError>("connection refused".into())
        });
    let err = service
        .oneshot(Request::get("https://example.com/").body(()).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "connection refused");
}
