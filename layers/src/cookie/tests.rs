//! Unit tests of the cookie layer, over a mock service.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use http::{
    HeaderValue, Request, Response, StatusCode,
    header::{COOKIE, HOST, SET_COOKIE},
};
use tower::{ServiceBuilder, ServiceExt};

use super::*;
use crate::{
    BoxError,
    time::{ManualTimer, TimerClock},
};

/// 2020-09-13T12:26:40Z.
const START: u64 = 1_600_000_000;

fn frozen_jar() -> (CookieJar, ManualTimer) {
    let timer = ManualTimer::new();
    let clock = TimerClock::starting_at(timer.shared(), UNIX_EPOCH + Duration::from_secs(START));
    (CookieJar::new().with_clock(clock.shared()), timer)
}

/// One exchange through a `CookieLayer` over `jar`: sends `request`, answers with `status`
/// and `set_cookies`; returns the `Cookie` header the server saw.
async fn exchange_request(
    jar: &CookieJar,
    request: Request<()>,
    status: u16,
    set_cookies: &[&str],
) -> Option<String> {
    let seen = Arc::new(Mutex::new(None));
    let set: Vec<HeaderValue> = set_cookies
        .iter()
        .map(|value| HeaderValue::from_str(value).unwrap())
        .collect();
    let service = ServiceBuilder::new()
        .layer(CookieLayer::new(jar.clone()))
        .service_fn({
            let seen = Arc::clone(&seen);
            move |request: Request<()>| {
                let cookies: Vec<String> = request
                    .headers()
                    .get_all(COOKIE)
                    .iter()
                    .map(|value| value.to_str().unwrap().to_owned())
                    .collect();
                assert!(cookies.len() <= 1, "one Cookie header at most: {cookies:?}");
                *seen.lock().unwrap() = cookies.into_iter().next();
                let mut response = Response::new(());
                *response.status_mut() = StatusCode::from_u16(status).unwrap();
                for value in &set {
                    response.headers_mut().append(SET_COOKIE, value.clone());
                }
                std::future::ready(Ok::<_, Infallible>(response))
            }
        });
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status().as_u16(), status);
    seen.lock().unwrap().take()
}

async fn exchange(jar: &CookieJar, uri: &str, status: u16, set_cookies: &[&str]) -> Option<String> {
    exchange_request(
        jar,
        Request::get(uri).body(()).unwrap(),
        status,
        set_cookies,
    )
    .await
}

/// What a GET to `uri` sends.
async fn sent(jar: &CookieJar, uri: &str) -> Option<String> {
    exchange(jar, uri, 200, &[]).await
}

async fn set(jar: &CookieJar, uri: &str, set_cookies: &[&str]) {
    exchange(jar, uri, 200, set_cookies).await;
}

fn names(jar: &CookieJar) -> Vec<String> {
    jar.cookies()
        .into_iter()
        .map(|cookie| cookie.name)
        .collect()
}

#[tokio::test]
async fn stores_and_sends_host_only_and_domain_cookies() {
    let jar = CookieJar::new();
    set(
        &jar,
        "http://www.example.com/",
        &[
            "host=1",
            "dom=2; Domain=example.com",
            "dotted=3; Domain=.EXAMPLE.com",
        ],
    )
    .await;
    assert_eq!(
        sent(&jar, "http://www.example.com/").await.as_deref(),
        Some("host=1; dom=2; dotted=3")
    );
    // Host-only cookies stay on their host; domain cookies reach the domain and its subdomains.
    assert_eq!(
        sent(&jar, "http://example.com/").await.as_deref(),
        Some("dom=2; dotted=3")
    );
    assert_eq!(
        sent(&jar, "http://a.b.example.com/").await.as_deref(),
        Some("dom=2; dotted=3")
    );
    assert_eq!(sent(&jar, "http://notexample.com/").await, None);
    assert_eq!(sent(&jar, "http://example.org/").await, None);
}

#[tokio::test]
async fn foreign_domains_are_refused() {
    let jar = CookieJar::new();
    set(
        &jar,
        "http://www.example.com/",
        &[
            "a=1; Domain=other.com",
            "b=1; Domain=sub.www.example.com",
            "c=1; Domain=ample.com",
        ],
    )
    .await;
    assert!(jar.is_empty());
    assert_eq!(
        jar.set_cookie(
            &"http://www.example.com/".parse().unwrap(),
            "a=1; Domain=other.com"
        ),
        Err(RejectReason::DomainMismatch)
    );
}

#[tokio::test]
async fn path_matches_on_slash_boundaries() {
    let jar = CookieJar::new();
    set(&jar, "http://example.com/", &["a=1; Path=/foo"]).await;
    assert_eq!(
        sent(&jar, "http://example.com/foo").await.as_deref(),
        Some("a=1")
    );
    assert_eq!(
        sent(&jar, "http://example.com/foo/").await.as_deref(),
        Some("a=1")
    );
    assert_eq!(
        sent(&jar, "http://example.com/foo/bar?q").await.as_deref(),
        Some("a=1")
    );
    assert_eq!(sent(&jar, "http://example.com/foobar").await, None);
    assert_eq!(sent(&jar, "http://example.com/").await, None);
    assert_eq!(sent(&jar, "http://example.com/fo").await, None);
}

#[tokio::test]
async fn default_path_is_the_directory_of_the_request() {
    let jar = CookieJar::new();
    set(
        &jar,
        "http://example.com/dir/page?x=1",
        &["a=1", "b=2; Path=relative"],
    )
    .await;
    let paths: Vec<String> = jar
        .cookies()
        .into_iter()
        .map(|cookie| cookie.path)
        .collect();
    assert_eq!(paths, ["/dir", "/dir"]);
    assert_eq!(
        sent(&jar, "http://example.com/dir/other").await.as_deref(),
        Some("a=1; b=2")
    );
    assert_eq!(sent(&jar, "http://example.com/").await, None);
}

#[tokio::test]
async fn cookies_are_sent_longest_path_first_then_oldest_first() {
    let (jar, timer) = frozen_jar();
    set(
        &jar,
        "http://example.com/",
        &["root=1; Path=/", "deep=1; Path=/a/b"],
    )
    .await;
    timer.advance(Duration::from_secs(1));
    set(
        &jar,
        "http://example.com/",
        &["mid=1; Path=/a", "root2=1; Path=/"],
    )
    .await;
    assert_eq!(
        sent(&jar, "http://example.com/a/b/c").await.as_deref(),
        Some("deep=1; mid=1; root=1; root2=1")
    );
    // Replacing a cookie keeps its place.
    set(&jar, "http://example.com/", &["root=2; Path=/"]).await;
    assert_eq!(
        sent(&jar, "http://example.com/x").await.as_deref(),
        Some("root=2; root2=1")
    );
}

#[tokio::test]
async fn secure_cookies_only_travel_over_https() {
    let jar = CookieJar::new();
    set(&jar, "https://example.com/", &["s=1; Secure", "p=1"]).await;
    assert_eq!(
        sent(&jar, "https://example.com/").await.as_deref(),
        Some("s=1; p=1")
    );
    assert_eq!(
        sent(&jar, "http://example.com/").await.as_deref(),
        Some("p=1")
    );
    // Loopback over plain HTTP is not an exception.
    set(&jar, "https://localhost/", &["s=1; Secure"]).await;
    assert_eq!(sent(&jar, "http://localhost/").await, None);
}

#[tokio::test]
async fn secure_cookies_cannot_be_set_or_shadowed_over_http() {
    let jar = CookieJar::new();
    let http = "http://example.com/".parse().unwrap();
    assert_eq!(
        jar.set_cookie(&http, "s=1; Secure"),
        Err(RejectReason::InsecureOrigin)
    );
    set(&jar, "https://example.com/", &["s=secure; Secure"]).await;
    // Plain HTTP may not overwrite it, nor shadow it from a parent domain or a sub-path.
    assert_eq!(
        jar.set_cookie(&http, "s=plain"),
        Err(RejectReason::InsecureOrigin)
    );
    assert_eq!(
        jar.set_cookie(
            &"http://www.example.com/a".parse().unwrap(),
            "s=plain; Domain=example.com; Path=/a"
        ),
        Err(RejectReason::InsecureOrigin)
    );
    assert_eq!(
        sent(&jar, "https://example.com/").await.as_deref(),
        Some("s=secure")
    );
    // Another name is fine.
    assert_eq!(jar.set_cookie(&http, "t=plain"), Ok(()));
}

#[tokio::test]
async fn name_prefixes_are_enforced() {
    let jar = CookieJar::new();
    let https = "https://example.com/".parse().unwrap();
    let http = "http://example.com/".parse().unwrap();
    let cases = [
        (&https, "__Secure-a=1; Secure", Ok(())),
        (&https, "__Secure-b=1", Err(RejectReason::Prefix)),
        (&http, "__Secure-c=1", Err(RejectReason::Prefix)),
        (&https, "__Host-d=1; Secure; Path=/", Ok(())),
        (&https, "__host-e=1; Secure; Path=/", Ok(())),
        (&https, "__Host-f=1; Secure", Err(RejectReason::Prefix)),
        (
            &https,
            "__Host-g=1; Secure; Path=/a",
            Err(RejectReason::Prefix),
        ),
        (&https, "__Host-h=1; Path=/", Err(RejectReason::Prefix)),
        (
            &https,
            "__Host-i=1; Secure; Path=/; Domain=example.com",
            Err(RejectReason::Prefix),
        ),
        (&https, "__HOST-j=1; Path=/", Err(RejectReason::Prefix)),
    ];
    for (uri, header, expected) in cases {
        assert_eq!(jar.set_cookie(uri, header), expected, "{header}");
    }
    assert_eq!(names(&jar), ["__Secure-a", "__Host-d", "__host-e"]);
}

#[tokio::test]
async fn user_cookie_header_is_merged_not_overwritten() {
    let jar = CookieJar::new();
    set(&jar, "http://example.com/", &["session=jar", "theme=jar"]).await;

    let request = Request::get("http://example.com/")
        .header(COOKIE, "theme=user")
        .body(())
        .unwrap();
    assert_eq!(
        exchange_request(&jar, request, 200, &[]).await.as_deref(),
        Some("theme=user; session=jar")
    );

    // Several Cookie headers of the caller become one, then the jar's are added.
    let request = Request::get("http://example.com/")
        .header(COOKIE, "a=1; b=2;")
        .header(COOKIE, "c=3")
        .body(())
        .unwrap();
    assert_eq!(
        exchange_request(&jar, request, 200, &[]).await.as_deref(),
        Some("a=1; b=2; c=3; session=jar; theme=jar")
    );

    // With nothing to add, the caller's header is left as it was.
    let request = Request::get("http://other.com/")
        .header(COOKIE, "x=1;y=2")
        .body(())
        .unwrap();
    assert_eq!(
        exchange_request(&jar, request, 200, &[]).await.as_deref(),
        Some("x=1;y=2")
    );
}

#[tokio::test]
async fn cookies_are_stored_from_every_status() {
    let jar = CookieJar::new();
    for (status, name) in [
        (301, "moved"),
        (302, "found"),
        (304, "unmodified"),
        (404, "missing"),
        (500, "error"),
    ] {
        exchange(&jar, "http://example.com/", status, &[&format!("{name}=1")]).await;
    }
    assert_eq!(
        names(&jar),
        ["moved", "found", "unmodified", "missing", "error"]
    );
}

#[tokio::test]
async fn public_suffix_domains_are_refused() {
    let jar = CookieJar::new();
    let uri = "http://www.example.co.uk/".parse().unwrap();
    assert_eq!(
        jar.set_cookie(&uri, "a=1; Domain=co.uk"),
        Err(RejectReason::PublicSuffix)
    );
    assert_eq!(
        jar.set_cookie(&uri, "a=1; Domain=uk"),
        Err(RejectReason::PublicSuffix)
    );
    assert_eq!(jar.set_cookie(&uri, "a=1; Domain=example.co.uk"), Ok(()));
    let pages = "http://me.github.io/".parse().unwrap();
    assert_eq!(
        jar.set_cookie(&pages, "b=1; Domain=github.io"),
        Err(RejectReason::PublicSuffix)
    );
    // A fully qualified host name (trailing dot) is no way around the list.
    let fqdn = "http://www.example.com./".parse().unwrap();
    assert_eq!(
        jar.set_cookie(&fqdn, "a=1; Domain=com."),
        Err(RejectReason::PublicSuffix)
    );
    assert_eq!(sent(&jar, "http://other.co.uk/").await, None);
    assert_eq!(sent(&jar, "http://you.github.io/").await, None);

    // A public suffix that is the host itself gives a host-only cookie.
    let suffix_host = "http://github.io/".parse().unwrap();
    assert_eq!(
        jar.set_cookie(&suffix_host, "c=1; Domain=github.io"),
        Ok(())
    );
    let stored = jar
        .cookies()
        .into_iter()
        .find(|cookie| cookie.name == "c")
        .unwrap();
    assert!(stored.host_only);
    assert_eq!(
        sent(&jar, "http://github.io/").await.as_deref(),
        Some("c=1")
    );
    assert_eq!(sent(&jar, "http://me.github.io/").await, None);
}

#[tokio::test]
async fn ip_hosts_only_match_exactly() {
    let jar = CookieJar::new();
    let ip = "http://127.0.0.1:8080/".parse().unwrap();
    assert_eq!(
        jar.set_cookie(&ip, "a=1; Domain=0.0.1"),
        Err(RejectReason::DomainMismatch)
    );
    assert_eq!(
        jar.set_cookie(&ip, "b=1; Domain=1"),
        Err(RejectReason::DomainMismatch)
    );
    assert_eq!(jar.set_cookie(&ip, "c=1; Domain=127.0.0.1"), Ok(()));
    assert_eq!(jar.set_cookie(&ip, "d=1"), Ok(()));
    assert_eq!(
        sent(&jar, "http://127.0.0.1:9090/").await.as_deref(),
        Some("c=1; d=1")
    );
    assert_eq!(sent(&jar, "http://1.127.0.0.1.example/").await, None);
    assert_eq!(sent(&jar, "http://127.0.0.2/").await, None);

    let v6 = "http://[::1]:8080/".parse().unwrap();
    assert_eq!(jar.set_cookie(&v6, "e=1"), Ok(()));
    assert!(jar.set_cookie(&v6, "f=1; Domain=::1").is_err());
    // The address itself is the one Domain an IP host may name.
    assert_eq!(jar.set_cookie(&v6, "g=1; Domain=[::1]"), Ok(()));
    assert_eq!(
        sent(&jar, "http://[::1]/").await.as_deref(),
        Some("e=1; g=1")
    );
    assert_eq!(sent(&jar, "http://[::2]/").await, None);
}

#[tokio::test]
async fn max_age_and_expires_run_on_the_jar_clock() {
    let (jar, timer) = frozen_jar();
    set(
        &jar,
        "http://example.com/",
        &[
            "short=1; Max-Age=10",
            // Max-Age wins over Expires.
            "both=1; Max-Age=100; Expires=Thu, 01 Jan 1970 00:00:01 GMT",
            // Expires a minute after START.
            "dated=1; Expires=Sun, 13 Sep 2020 12:27:40 GMT",
            "session=1",
        ],
    )
    .await;
    assert_eq!(
        sent(&jar, "http://example.com/").await.as_deref(),
        Some("short=1; both=1; dated=1; session=1")
    );
    timer.advance(Duration::from_secs(10));
    assert_eq!(
        sent(&jar, "http://example.com/").await.as_deref(),
        Some("both=1; dated=1; session=1")
    );
    timer.advance(Duration::from_secs(50));
    assert_eq!(
        sent(&jar, "http://example.com/").await.as_deref(),
        Some("both=1; session=1")
    );
    timer.advance(Duration::from_secs(40));
    assert_eq!(
        sent(&jar, "http://example.com/").await.as_deref(),
        Some("session=1")
    );
    let expiry = jar.cookies()[0].expiry;
    assert_eq!(expiry, None);
}

#[tokio::test]
async fn expired_cookies_delete_stored_ones() {
    let (jar, _timer) = frozen_jar();
    set(&jar, "http://example.com/", &["a=1", "b=1", "c=1", "d=1"]).await;
    set(
        &jar,
        "http://example.com/",
        &[
            "a=; Max-Age=0",
            "b=; Max-Age=-1",
            "c=; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            "d=; Expires=Mon, 01 Jan 1601 00:00:00 GMT",
        ],
    )
    .await;
    assert!(jar.is_empty());
    assert_eq!(sent(&jar, "http://example.com/").await, None);
}

#[tokio::test]
async fn huge_and_far_future_lifetimes_are_clamped() {
    let (jar, timer) = frozen_jar();
    set(
        &jar,
        "http://example.com/",
        &[
            "a=1; Max-Age=9223372036854775807",
            "b=1; Max-Age=99999999999999999999999999999",
            "c=1; Expires=Fri, 31 Dec 9999 23:59:59 GMT",
            // Beyond what dates can hold: the attribute is ignored, a session cookie remains.
            "d=1; Expires=Sat, 01 Jan 99999 00:00:00 GMT",
        ],
    )
    .await;
    let end_of_9999 = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    let expiries: Vec<Option<SystemTime>> = jar
        .cookies()
        .into_iter()
        .map(|cookie| cookie.expiry)
        .collect();
    assert_eq!(
        expiries,
        [
            Some(end_of_9999),
            Some(end_of_9999),
            Some(end_of_9999),
            None
        ]
    );
    timer.advance(Duration::MAX);
    assert_eq!(
        jar.len(),
        1,
        "only the session cookie outlives the year 9999"
    );
}

#[tokio::test]
async fn inspection_shows_every_attribute() {
    let (jar, _timer) = frozen_jar();
    set(
        &jar,
        "https://www.example.com/app/page",
        &[
            "id=\"v 1\"; Domain=example.com; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=60",
            "lax=1; SameSite=lax",
            "none=1; SameSite=None; Secure",
            "odd=1; SameSite=whatever",
        ],
    )
    .await;
    let cookies = jar.cookies();
    let id = &cookies[0];
    assert_eq!(id.name, "id");
    assert_eq!(id.value, "\"v 1\"");
    assert_eq!(id.domain, "example.com");
    assert!(!id.host_only);
    assert_eq!(id.path, "/");
    assert!(id.secure && id.http_only);
    assert_eq!(id.same_site, Some(SameSite::Strict));
    assert_eq!(
        id.expiry,
        Some(UNIX_EPOCH + Duration::from_secs(START + 60))
    );

    let lax = &cookies[1];
    assert_eq!(
        (lax.domain.as_str(), lax.host_only),
        ("www.example.com", true)
    );
    assert_eq!(lax.path, "/app");
    assert!(!lax.secure && !lax.http_only);
    assert_eq!(lax.same_site, Some(SameSite::Lax));
    assert_eq!(cookies[2].same_site, Some(SameSite::None));
    assert_eq!(cookies[3].same_site, None);
}

#[tokio::test]
async fn clear_empties_every_handle() {
    let jar = CookieJar::new();
    let layer = CookieLayer::new(jar.clone());
    set(layer.jar(), "http://example.com/", &["a=1"]).await;
    assert_eq!(jar.len(), 1);
    layer.jar().clear();
    assert!(jar.is_empty());
    assert_eq!(sent(&jar, "http://example.com/").await, None);
}

#[tokio::test]
async fn clones_of_the_service_share_the_jar() {
    let jar = CookieJar::new();
    let service = ServiceBuilder::new()
        .layer(CookieLayer::new(jar.clone()))
        .service_fn(|request: Request<()>| async move {
            let mut response = Response::new(request.headers().get(COOKIE).cloned());
            if request.uri().path() == "/login" {
                response
                    .headers_mut()
                    .insert(SET_COOKIE, HeaderValue::from_static("id=7"));
            }
            Ok::<_, Infallible>(response)
        });
    let login = Request::get("http://example.com/login").body(()).unwrap();
    service.clone().oneshot(login).await.unwrap();
    let other = Request::get("http://example.com/me").body(()).unwrap();
    let response = service.clone().oneshot(other).await.unwrap();
    assert_eq!(
        response.body().as_ref().map(|value| value.as_bytes()),
        Some(&b"id=7"[..])
    );
}

#[tokio::test]
async fn origin_form_requests_use_the_host_header_as_http() {
    let jar = CookieJar::new();
    let request = Request::get("/a/b")
        .header(HOST, "example.com")
        .body(())
        .unwrap();
    exchange_request(&jar, request, 200, &["a=1; Path=/"]).await;
    assert_eq!(jar.cookies()[0].domain, "example.com");
    let request = Request::get("/x")
        .header(HOST, "example.com")
        .body(())
        .unwrap();
    assert_eq!(
        exchange_request(&jar, request, 200, &[]).await.as_deref(),
        Some("a=1")
    );
    // Without a Host header there is nowhere to match: nothing stored or sent.
    let request = Request::get("/x").body(()).unwrap();
    assert_eq!(exchange_request(&jar, request, 200, &["b=1"]).await, None);
    assert_eq!(jar.len(), 1);
}

#[tokio::test]
async fn per_domain_limit_evicts_the_least_recently_used() {
    let jar = CookieJar::new().with_limits(CookieLimits {
        per_domain: 3,
        total: 100,
    });
    set(
        &jar,
        "http://example.com/",
        &["a=1; Path=/a", "b=1; Path=/b", "c=1; Path=/c"],
    )
    .await;
    // Sending `a` makes `b` the least recently used.
    assert_eq!(
        sent(&jar, "http://example.com/a").await.as_deref(),
        Some("a=1")
    );
    let uri = "http://example.com/".parse().unwrap();
    assert_eq!(jar.set_cookie(&uri, "d=1"), Ok(()));
    assert_eq!(names(&jar), ["a", "c", "d"]);
    // Another domain has its own allowance.
    set(&jar, "http://other.com/", &["x=1", "y=1"]).await;
    assert_eq!(jar.len(), 5);
}

#[tokio::test]
async fn total_limit_caps_the_jar() {
    let (jar, timer) = frozen_jar();
    let jar = jar.with_limits(CookieLimits {
        per_domain: 10,
        total: 4,
    });
    set(&jar, "http://a.com/", &["old=1; Max-Age=5", "a=1"]).await;
    set(&jar, "http://b.com/", &["b=1", "c=1"]).await;
    timer.advance(Duration::from_secs(5));
    // The expired cookie makes room first...
    set(&jar, "http://c.com/", &["d=1"]).await;
    assert_eq!(names(&jar), ["a", "b", "c", "d"]);
    // ...then the least recently used one.
    set(&jar, "http://c.com/", &["e=1"]).await;
    assert_eq!(names(&jar), ["b", "c", "d", "e"]);
    // Lowering the limit evicts at once.
    let jar = jar.with_limits(CookieLimits {
        per_domain: 10,
        total: 1,
    });
    assert_eq!(names(&jar), ["e"]);
}

#[tokio::test]
async fn save_and_load_json_round_trip() {
    let (jar, timer) = frozen_jar();
    set(
        &jar,
        "https://example.com/",
        &[
            "persistent=1; Max-Age=3600; Secure",
            "session=1",
            "scoped=1; Domain=example.com; Path=/p; Max-Age=60",
        ],
    )
    .await;
    let mut persistent = Vec::new();
    jar.save_json(&mut persistent).unwrap();
    let mut everything = Vec::new();
    jar.save_json_with_session(&mut everything).unwrap();

    let clock =
        TimerClock::starting_at(timer.shared(), UNIX_EPOCH + Duration::from_secs(START)).shared();
    let restored = CookieJar::new().with_clock(Arc::clone(&clock));
    assert_eq!(restored.load_json(persistent.as_slice()).unwrap(), 2);
    assert_eq!(names(&restored), ["persistent", "scoped"]);
    let original: Vec<StoredCookie> = jar
        .cookies()
        .into_iter()
        .filter(|cookie| cookie.expiry.is_some())
        .collect();
    assert_eq!(restored.cookies(), original);
    assert_eq!(
        sent(&restored, "https://www.example.com/p/q")
            .await
            .as_deref(),
        Some("scoped=1")
    );

    let with_session = CookieJar::new().with_clock(Arc::clone(&clock));
    assert_eq!(with_session.load_json(everything.as_slice()).unwrap(), 3);

    // Loading later skips what expired meanwhile.
    timer.advance(Duration::from_secs(61));
    let later = CookieJar::new().with_clock(clock);
    assert_eq!(later.load_json(persistent.as_slice()).unwrap(), 1);
}

#[tokio::test]
async fn save_and_load_netscape_round_trip() {
    let (jar, timer) = frozen_jar();
    set(
        &jar,
        "https://example.com/",
        &[
            "persistent=1; Max-Age=3600; Secure; HttpOnly",
            "session=1",
            "scoped=1; Domain=example.com; Path=/p; Max-Age=60",
        ],
    )
    .await;
    let mut file = Vec::new();
    jar.save_netscape(&mut file).unwrap();
    let text = String::from_utf8(file.clone()).unwrap();
    let expiry = START + 3600;
    assert!(text.starts_with("# Netscape HTTP Cookie File\n"), "{text}");
    assert!(
        text.contains(&format!(
            "#HttpOnly_example.com\tFALSE\t/\tTRUE\t{expiry}\tpersistent\t1\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("example.com\tFALSE\t/\tFALSE\t0\tsession\t1\n"),
        "{text}"
    );
    assert!(text.contains(".example.com\tTRUE\t/p\tFALSE\t"), "{text}");

    let clock =
        TimerClock::starting_at(timer.shared(), UNIX_EPOCH + Duration::from_secs(START)).shared();
    let restored = CookieJar::new().with_clock(Arc::clone(&clock));
    assert_eq!(restored.load_netscape(file.as_slice()).unwrap(), 3);
    assert_eq!(restored.cookies(), jar.cookies());
    assert_eq!(
        sent(&restored, "https://www.example.com/p/q")
            .await
            .as_deref(),
        Some("scoped=1")
    );

    // Loading later skips what expired meanwhile; session cookies stay.
    timer.advance(Duration::from_secs(61));
    let later = CookieJar::new().with_clock(clock);
    assert_eq!(later.load_netscape(file.as_slice()).unwrap(), 2);
    assert_eq!(names(&later), ["persistent", "session"]);
}

#[test]
fn load_netscape_skips_public_suffixes_and_fails_on_bad_utf8() {
    let jar = CookieJar::new();
    let file = ".com\tTRUE\t/\tFALSE\t0\tall\t1\nexample.com\tFALSE\t/\tFALSE\t0\tok\t1\n";
    assert_eq!(jar.load_netscape(file.as_bytes()).unwrap(), 1);
    assert_eq!(names(&jar), ["ok"]);
    assert!(jar.load_netscape(&b"\xff\xfe\n"[..]).is_err());
}

#[tokio::test]
async fn load_json_refuses_garbage_and_public_suffixes() {
    let jar = CookieJar::new();
    assert!(jar.load_json(&b"not json"[..]).is_err());
    assert!(jar.load_json(&b"{\"a\": 1}"[..]).is_err());
    assert!(jar.load_json(&b"[{\"raw_cookie\": 5}]"[..]).is_err());
    assert_eq!(jar.load_json(&b"[]"[..]).unwrap(), 0);
    let suffix = br#"[{"raw_cookie":"a=1","path":["/",true],"domain":{"Suffix":"com"},"expires":"SessionEnd"},
        {"raw_cookie":"b=1","path":["/",true],"domain":{"Suffix":"example.com"},"expires":"SessionEnd"}]"#;
    assert_eq!(jar.load_json(&suffix[..]).unwrap(), 1);
    assert_eq!(names(&jar), ["b"]);
}

#[tokio::test]
async fn inner_errors_pass_through() {
    let service = ServiceBuilder::new()
        .layer(CookieLayer::default())
        .service_fn(|_request: Request<()>| async {
            Err::<Response<()>, BoxError>("connection refused".into())
        });
    let err = service
        .oneshot(Request::get("http://example.com/").body(()).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "connection refused");
}

#[tokio::test]
async fn oversized_and_non_utf8_set_cookies_are_ignored() {
    let jar = CookieJar::new();
    let uri = "http://example.com/".parse().unwrap();
    let big_value = "v".repeat(4096);
    assert_eq!(
        jar.set_cookie(&uri, &format!("n={big_value}")),
        Err(RejectReason::TooLarge)
    );
    let big_header = format!("n=1; {}", "x".repeat(9000));
    assert_eq!(
        jar.set_cookie(&uri, &big_header),
        Err(RejectReason::TooLarge)
    );
    assert_eq!(
        jar.set_cookie(&uri, &format!("n={}", "v".repeat(4094))),
        Ok(())
    );

    let service = ServiceBuilder::new()
        .layer(CookieLayer::new(jar.clone()))
        .service_fn(|_request: Request<()>| async {
            let mut response = Response::new(());
            let latin1 = HeaderValue::from_bytes(b"caf\xe9=1").unwrap();
            response.headers_mut().append(SET_COOKIE, latin1);
            response
                .headers_mut()
                .append(SET_COOKIE, HeaderValue::from_static("ok=1"));
            Ok::<_, Infallible>(response)
        });
    service
        .oneshot(Request::get("http://example.com/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(names(&jar), ["n", "ok"]);
}

/// Malformed and extreme Set-Cookie values: each is stored or refused, never a panic.
#[tokio::test]
async fn hostile_set_cookie_values_never_panic() {
    let (jar, timer) = frozen_jar();
    let uri: http::Uri = "https://sub.example.com/a/b".parse().unwrap();
    let hostile = [
        "",
        ";",
        "=",
        "=;=;=",
        "a",
        "a=1; Max-Age=",
        "a=1; Max-Age=-",
        "a=1; Max-Age=-99999999999999999999999999",
        "a=1; Max-Age=18446744073709551616",
        "a=1; Max-Age=1e9",
        "a=1; Expires=",
        "a=1; Expires=Fri, 31 Dec 9999 23:59:60 GMT",
        "a=1; Expires=Tue, 31 Feb 2021 00:00:00 GMT",
        "a=1; Expires=Mon, 01 Jan -0001 00:00:00 GMT",
        "a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=10",
        "a=1; Expires=Wed, 01 Jan 0000 00:00:00 GMT",
        "a=1; Expires=Sun, 06 Nov 1994 08:49:37 GMT",
        "a=1; Expires=Sunday, 06-Nov-94 08:49:37 GMT",
        "a=1; Expires=Sun Nov  6 08:49:37 1994",
        "a=1; Expires=99999999999999999999",
        "a=1; Domain=",
        "a=1; Domain=.",
        "a=1; Domain=..",
        "a=1; Domain=..example.com",
        "a=1; Domain=example.com.",
        "a=1; Domain=[::1]",
        "a=1; Domain=xn--",
        "a=1; Domain=exa\u{e9}mple.com",
        "a=1; Path=",
        "a=1; Path=no-slash",
        "a=1; Path=/\u{e9}",
        "a=1; SameSite=",
        "a=1; Secure=false; HttpOnly=no",
        "\u{e9}=\u{1f36a}",
        "a=\"unterminated",
    ];
    for value in hostile {
        // Whatever the outcome, it is a value, and the jar stays usable.
        let _outcome = jar.set_cookie(&uri, value);
        jar.cookie_header(&uri);
    }
    let long_name = format!("{}=1", "n".repeat(5000));
    assert!(jar.set_cookie(&uri, &long_name).is_err());
    let many_attributes = format!("a=1{}", "; Path=/".repeat(1000));
    assert!(jar.set_cookie(&uri, &many_attributes).is_ok());

    // Pseudo-random splices of the pieces above.
    let pieces = [
        "a",
        "=",
        ";",
        " ",
        "\"",
        "Max-Age",
        "Expires",
        "Domain",
        "Path",
        "Secure",
        "-",
        "9999999999999999999999",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        ".",
        "example.com",
        "com",
        "/",
        "\u{e9}",
        "__Host-",
        "__Secure-",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..5000 {
        let mut value = String::new();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        for step in 0..(state % 16) {
            value.push_str(pieces[((state >> (step * 4)) % pieces.len() as u64) as usize]);
        }
        let _outcome = jar.set_cookie(&uri, &value);
    }
    timer.advance(Duration::MAX);
    jar.cookie_header(&uri);
    jar.remove_expired();
    assert!(jar.cookies().iter().all(|cookie| cookie.expiry.is_none()));
}

#[tokio::test]
async fn set_cookie_without_authority_is_refused() {
    let jar = CookieJar::new();
    assert_eq!(
        jar.set_cookie(&"/relative".parse().unwrap(), "a=1"),
        Err(RejectReason::NoHost)
    );
    assert_eq!(jar.cookie_header(&"/relative".parse().unwrap()), None);
}

#[test]
fn a_cookie_with_a_control_character_is_ignored_and_does_not_block_others() {
    let jar = CookieJar::new();
    let url = "http://example.com/".parse().unwrap();
    assert_eq!(jar.set_cookie(&url, "ok=1"), Ok(()));
    assert_eq!(
        jar.set_cookie(&url, "bad\u{1}name=v"),
        Err(RejectReason::Malformed)
    );
    assert_eq!(
        jar.set_cookie(&url, "name=bad\u{7f}value"),
        Err(RejectReason::Malformed)
    );
    assert_eq!(
        jar.cookie_header(&url)
            .as_ref()
            .map(|v| v.to_str().unwrap()),
        Some("ok=1")
    );
}

#[test]
fn same_site_none_and_partitioned_need_secure_and_survive_a_json_round_trip() {
    let jar = CookieJar::new();
    let http = "http://example.com/".parse().unwrap();
    let https = "https://example.com/".parse().unwrap();
    assert_eq!(
        jar.set_cookie(&http, "a=b; SameSite=None"),
        Err(RejectReason::Malformed)
    );
    assert_eq!(
        jar.set_cookie(&http, "a=b; Partitioned"),
        Err(RejectReason::Malformed)
    );
    assert_eq!(jar.set_cookie(&https, "a=b; SameSite=None; Secure"), Ok(()));
    assert_eq!(jar.set_cookie(&http, "plain=1"), Ok(()));

    let mut saved = Vec::new();
    jar.save_json_with_session(&mut saved).unwrap();
    let reloaded = CookieJar::new();
    reloaded.load_json(saved.as_slice()).unwrap();
    let describe = |jar: &CookieJar| {
        let mut cookies: Vec<(String, bool)> = jar
            .cookies()
            .into_iter()
            .map(|c| (c.name, c.secure))
            .collect();
        cookies.sort();
        cookies
    };
    assert_eq!(describe(&reloaded), describe(&jar));
}

/// A store of the caller's: offers one fixed cookie and records the URLs and values it is
/// given, to show the layer drives any [`CookieStore`].
#[derive(Default)]
struct FixedStore {
    stored: Mutex<Vec<(String, String)>>,
}

impl CookieStore for FixedStore {
    fn set_cookies(&self, cookie_headers: &mut dyn Iterator<Item = &HeaderValue>, url: &url::Url) {
        let mut stored = self.stored.lock().unwrap();
        for value in cookie_headers {
            stored.push((url.to_string(), value.to_str().unwrap().to_owned()));
        }
    }

    fn cookies(&self, _url: &url::Url) -> Option<HeaderValue> {
        Some(HeaderValue::from_static("fixed=1; other=2"))
    }
}

#[tokio::test]
async fn the_layer_drives_a_store_of_the_callers() {
    let store = Arc::new(FixedStore::default());
    let service = ServiceBuilder::new()
        .layer(CookieLayer::new(Arc::clone(&store)))
        .service_fn(|request: Request<()>| async move {
            let sent = request.headers().get(COOKIE).cloned();
            let mut response = Response::new(sent);
            response
                .headers_mut()
                .append(SET_COOKIE, HeaderValue::from_static("a=1"));
            response
                .headers_mut()
                .append(SET_COOKIE, HeaderValue::from_static("b=2; Path=/"));
            Ok::<_, Infallible>(response)
        });
    let request = Request::get("http://example.com/x")
        .header(COOKIE, "other=mine")
        .body(())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    // The caller's cookie comes first and keeps its name; the store's others follow.
    assert_eq!(response.body().as_ref().unwrap(), "other=mine; fixed=1");
    assert_eq!(
        *store.stored.lock().unwrap(),
        [
            ("http://example.com/x".to_owned(), "a=1".to_owned()),
            ("http://example.com/x".to_owned(), "b=2; Path=/".to_owned()),
        ]
    );
}
