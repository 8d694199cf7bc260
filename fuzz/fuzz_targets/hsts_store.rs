//! `HstsLayer` and `HstsStore` on fuzzed hosts and `Strict-Transport-Security` headers: an
//! https response from a `service_fn` teaches the store, then an http request to the same
//! authority is (or is not) upgraded; `HstsStore::add` takes an arbitrary host name.
//!
//! Input: byte 0 the port (none, 80, 443, 8080), byte 1 the number of STS header lines
//! (0-3), then the host up to `\n`, the header lines up to `\n`, the path and query up to
//! `\n`, and a host name for `add` (the rest).
//!
//! Invariants, from the `hsts` module documentation: no panic; the store learns only from
//! the first valid header (`parse_sts`), never with `max-age=0` and never for an IP literal;
//! a learned entry expires within `MAX_AGE_CAP` and has the header's `includeSubDomains`;
//! an http request to a known host goes out as https with port 80 turned into 443, any other
//! port, the host, path and query kept, and its response carries that URI as `EffectiveUri`;
//! a request to an unknown host goes out unchanged; `add` refuses IP addresses and, when it
//! accepts a name with a positive max-age, that name is then known.
#![no_main]

use std::{
    convert::Infallible,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, UNIX_EPOCH},
};

use http::{
    HeaderValue, Request, Response, Uri,
    header::STRICT_TRANSPORT_SECURITY,
    uri::{Authority, PathAndQuery},
};
use libfuzzer_sys::fuzz_target;
use tower::{ServiceBuilder, ServiceExt};
use towline_fuzz::{Reader, block_on};
use towline_layers::{
    EffectiveUri,
    hsts::{HstsLayer, HstsStore, MAX_AGE_CAP, parse_sts},
    time::SharedWallClock,
};

const NOW_SECS: u64 = 1_767_225_600;

fn is_ip_literal(host: &str) -> bool {
    host.starts_with('[') || host.parse::<IpAddr>().is_ok()
}

fuzz_target!(|data: &[u8]| {
    let now = UNIX_EPOCH + Duration::from_secs(NOW_SECS);
    let clock: SharedWallClock = Arc::new(move || now);
    let store = HstsStore::new().with_clock(clock);

    let mut reader = Reader::new(data);
    let port = reader.pick(&["", ":80", ":443", ":8080"]);
    let lines = usize::from(reader.byte() % 4);
    let host = reader.until(b'\n');
    let sts: Vec<HeaderValue> = (0..lines)
        .filter_map(|_| HeaderValue::from_bytes(reader.until(b'\n')).ok())
        .collect();
    let path = reader.until(b'\n');
    let add_host = String::from_utf8_lossy(reader.rest()).into_owned();

    // `add` on an arbitrary name.
    let accepted = store.add(&add_host, Duration::from_secs(60), false);
    if is_ip_literal(&add_host) {
        assert!(!accepted, "add accepted the IP address {add_host:?}");
    }
    if accepted {
        assert!(store.is_known(&add_host), "added {add_host:?} is not known");
    }
    store.clear();
    assert!(store.is_empty());

    let mut authority_text = host.to_vec();
    authority_text.extend_from_slice(port.as_bytes());
    let Ok(authority) = Authority::try_from(authority_text.as_slice()) else {
        return;
    };
    let path = PathAndQuery::try_from(path).unwrap_or_else(|_| PathAndQuery::from_static("/"));
    let uri = |scheme: &str| {
        Uri::builder()
            .scheme(scheme)
            .authority(authority.clone())
            .path_and_query(path.clone())
            .build()
            .ok()
    };
    let (Some(https_uri), Some(http_uri)) = (uri("https"), uri("http")) else {
        return;
    };
    let host = https_uri.host().unwrap_or_default().to_owned();

    let seen = Arc::new(Mutex::new(Vec::<Uri>::new()));
    let service = ServiceBuilder::new()
        .layer(HstsLayer::new(store.clone()))
        .service(tower::service_fn({
            let seen = Arc::clone(&seen);
            let sts = sts.clone();
            move |request: Request<()>| {
                seen.lock().unwrap().push(request.uri().clone());
                let mut response = Response::new(());
                for value in &sts {
                    response
                        .headers_mut()
                        .append(STRICT_TRANSPORT_SECURITY, value.clone());
                }
                async move { Ok::<_, Infallible>(response) }
            }
        }));

    // Learn over https.
    let mut request = Request::new(());
    *request.uri_mut() = https_uri.clone();
    block_on(service.clone().oneshot(request)).unwrap();
    assert_eq!(seen.lock().unwrap()[0], https_uri, "an https request is never rewritten");

    let first_valid = sts.iter().find_map(|value| parse_sts(value.as_bytes()).ok());
    let known = store.is_known(&host);
    let entries = store.entries();
    match first_valid {
        Some(directives) if !directives.max_age.is_zero() && !is_ip_literal(&host) => {
            assert!(entries.len() <= 1);
            if let Some(entry) = entries.first() {
                assert!(known);
                assert_eq!(entry.include_subdomains, directives.include_subdomains);
                assert!(entry.expires > now);
                assert!(entry.expires <= now + MAX_AGE_CAP);
            }
        }
        _ => {
            assert!(entries.is_empty(), "learned {entries:?} from {sts:?} for {host:?}");
            assert!(!known);
        }
    }

    // An http request to the same authority.
    let mut request = Request::new(());
    *request.uri_mut() = http_uri.clone();
    let response = block_on(service.oneshot(request)).unwrap();
    let sent = seen.lock().unwrap()[1].clone();
    if known {
        assert_eq!(sent.scheme_str(), Some("https"), "{http_uri} was not upgraded");
        assert_eq!(sent.host(), http_uri.host());
        let expected_port = match http_uri.port_u16() {
            Some(80) => Some(443),
            other => other,
        };
        assert_eq!(sent.port_u16(), expected_port);
        assert_eq!(sent.path_and_query(), http_uri.path_and_query());
        let EffectiveUri(effective) = response.extensions().get::<EffectiveUri>().unwrap();
        assert_eq!(effective, &sent);
    } else {
        assert_eq!(sent, http_uri, "an unknown host was rewritten");
        assert!(response.extensions().get::<EffectiveUri>().is_none());
    }
});
