//! The `Set-Cookie` path of `CookieJar`: `set_cookie(&Uri, &str)` for a few responses, then
//! `cookie_header(&Uri)` for a request, and a JSON save/load round trip.
//!
//! Input: byte 0 the number of `Set-Cookie` values (0-7); then, for each, a URI selector
//! byte (below 0xf0 picks from a table, above it reads a URI up to `\n`) and the value up to
//! `\n`; then a selector (and URI) for the final request.
//!
//! Invariants, from the `cookie` module documentation: no panic; values over 8 KiB are
//! refused; the jar's limits hold after every step; a stored cookie has name and value
//! within 4096 bytes, an expiry no later than the end of year 9999 and in the future, a path
//! starting with `/`, keeps its `__Secure-` / `__Host-` prefix rules, has no public-suffix
//! `Domain`, is host-only for an IP host, and is `Secure` only if it came over https; the
//! `Cookie` header holds exactly the matching cookies (domain, path, `Secure`) longest path
//! first, then oldest first; saving and loading keeps every cookie.
#![no_main]

use std::{
    net::IpAddr,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use http::Uri;
use libfuzzer_sys::fuzz_target;
use towline_fuzz::Reader;
use towline_layers::{
    cookie::{CookieJar, CookieLimits, RejectReason, StoredCookie},
    time::SharedWallClock,
};
use url::Url;

const URIS: &[&str] = &[
    "http://example.com/",
    "https://example.com/a/b",
    "http://www.example.com/a/b/c?q=1",
    "https://sub.www.example.com/",
    "http://example.co.uk/x/",
    "https://www.example.co.uk/x/y",
    "http://127.0.0.1:8080/",
    "https://[::1]/path",
    "http://com/",
    "https://localhost/",
    "http://EXAMPLE.com./dir/page",
    "https://xn--bcher-kva.example/",
    "http://a.github.io/",
    "ftp://example.com/",
    "/origin-form",
    "http://example.com",
];

/// 2026-01-01T00:00:00Z: a fixed "now", so expiry is deterministic.
const NOW_SECS: u64 = 1_767_225_600;
/// 9999-12-31T23:59:59Z, the latest expiry the jar stores.
const MAX_EXPIRY_SECS: u64 = 253_402_300_799;
const LIMITS: CookieLimits = CookieLimits {
    per_domain: 3,
    total: 6,
};

fn read_uri(reader: &mut Reader<'_>) -> Option<Uri> {
    let selector = reader.byte();
    if selector >= 0xf0 {
        Uri::try_from(reader.until(b'\n')).ok()
    } else {
        URIS[usize::from(selector) % URIS.len()].parse().ok()
    }
}

fn has_prefix(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len() && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

fn is_public_suffix(domain: &str) -> bool {
    let domain = domain.to_ascii_lowercase();
    psl::suffix(domain.as_bytes())
        .is_some_and(|suffix| suffix.is_known() && suffix == domain.as_bytes())
}

fn is_ip(host: &str) -> bool {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok()
}

fn check_jar(jar: &CookieJar, now: SystemTime, any_https: bool) {
    let cookies = jar.cookies();
    assert!(cookies.len() <= LIMITS.total, "{} cookies", cookies.len());
    assert_eq!(jar.len(), cookies.len());
    for cookie in &cookies {
        let same_domain = cookies.iter().filter(|c| c.domain == cookie.domain).count();
        assert!(same_domain <= LIMITS.per_domain, "{same_domain} cookies for {}", cookie.domain);
        assert!(!cookie.name.is_empty());
        // RFC 6265bis §5.6: a name or value with a control character (CTL but HTAB) is
        // ignored (a stored one once made the whole `Cookie` header of every request it
        // matched be dropped).
        {
            let ctl = |s: &str| s.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f);
            assert!(
                !ctl(&cookie.name) && !ctl(&cookie.value),
                "a cookie with a control character was stored: {cookie:?}"
            );
        }
        assert!(cookie.name.len() + cookie.value.len() <= 4096);
        assert!(cookie.path.starts_with('/'), "path {:?}", cookie.path);
        if let Some(expiry) = cookie.expiry {
            assert!(expiry > now, "an expired cookie is listed: {cookie:?}");
            assert!(expiry <= UNIX_EPOCH + Duration::from_secs(MAX_EXPIRY_SECS));
        }
        if cookie.secure {
            assert!(any_https, "a Secure cookie stored with no https response: {cookie:?}");
        }
        if has_prefix(&cookie.name, "__Secure-") {
            assert!(cookie.secure, "{cookie:?}");
        }
        if has_prefix(&cookie.name, "__Host-") {
            assert!(cookie.secure && cookie.host_only && cookie.path == "/", "{cookie:?}");
        }
        if !cookie.host_only {
            assert!(!is_public_suffix(&cookie.domain), "public suffix domain: {cookie:?}");
            assert!(!is_ip(&cookie.domain), "domain cookie for an IP: {cookie:?}");
        }
    }
}

/// RFC 6265 §5.1.4.
fn path_matches(cookie_path: &str, request_path: &str) -> bool {
    cookie_path == request_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

/// RFC 6265 §5.1.3.
fn domain_matches(cookie: &StoredCookie, host: &str) -> bool {
    if cookie.host_only {
        return host == cookie.domain;
    }
    host == cookie.domain
        || (host.len() > cookie.domain.len()
            && host.ends_with(&cookie.domain)
            && host.as_bytes()[host.len() - cookie.domain.len() - 1] == b'.'
            && !is_ip(host))
}

/// The `Cookie` header the documented rules give for a request to `uri`.
fn model_header(cookies: &[StoredCookie], uri: &Uri) -> Option<Vec<u8>> {
    uri.scheme()?;
    uri.authority()?;
    let url = Url::parse(&uri.to_string()).ok()?;
    let secure = match url.scheme() {
        "https" | "wss" => true,
        "http" | "ws" => false,
        _ => return None,
    };
    let host = url.host_str()?;
    let mut matching: Vec<&StoredCookie> = cookies
        .iter()
        .filter(|c| domain_matches(c, host) && path_matches(&c.path, url.path()))
        .filter(|c| !c.secure || secure)
        .collect();
    // `cookies` is oldest first; a stable sort keeps that order within a path length.
    matching.sort_by(|a, b| b.path.len().cmp(&a.path.len()));
    let header = matching
        .iter()
        .map(|c| format!("{}={}", c.name, c.value))
        .collect::<Vec<_>>()
        .join("; ");
    // The jar sends no `Cookie` header when the pairs do not make a valid header value.
    (!header.is_empty() && http::HeaderValue::from_str(&header).is_ok())
        .then(|| header.into_bytes())
}

fn clock() -> SharedWallClock {
    let now = UNIX_EPOCH + Duration::from_secs(NOW_SECS);
    Arc::new(move || now)
}

fuzz_target!(|data: &[u8]| {
    let now = UNIX_EPOCH + Duration::from_secs(NOW_SECS);
    let jar = CookieJar::new().with_clock(clock()).with_limits(LIMITS);
    let mut reader = Reader::new(data);
    let count = reader.byte() % 8;
    let mut any_https = false;
    for _ in 0..count {
        let uri = read_uri(&mut reader);
        let value = String::from_utf8_lossy(reader.until(b'\n')).into_owned();
        let Some(uri) = uri else { continue };
        let result = jar.set_cookie(&uri, &value);
        if value.len() > 8 * 1024 {
            assert_eq!(result, Err(RejectReason::TooLarge));
        }
        if result.is_ok() && uri.scheme_str().is_some_and(|s| s.eq_ignore_ascii_case("https")) {
            any_https = true;
        }
        check_jar(&jar, now, any_https);
    }

    if let Some(uri) = read_uri(&mut reader) {
        let cookies = jar.cookies();
        let expected = model_header(&cookies, &uri);
        let header = jar.cookie_header(&uri).map(|v| v.as_bytes().to_vec());
        assert_eq!(
            header.as_deref().map(String::from_utf8_lossy),
            expected.as_deref().map(String::from_utf8_lossy),
            "Cookie header for {uri} from {cookies:#?}"
        );
    }

    // Save with session cookies, load into a fresh jar: the same cookies.
    let mut saved = Vec::new();
    jar.save_json_with_session(&mut saved).expect("saving to a Vec");
    let restored = CookieJar::new().with_clock(clock());
    let added = restored.load_json(saved.as_slice()).expect("loading what was saved");
    let key = |c: &StoredCookie| (c.domain.clone(), c.path.clone(), c.name.clone());
    let mut before = jar.cookies();
    let mut after = restored.cookies();
    before.sort_by_key(key);
    after.sort_by_key(key);
    assert_eq!(added, before.len());
    assert_eq!(before, after, "a JSON round trip changed the jar");
});
