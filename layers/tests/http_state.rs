#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Conformance: the http-state cookie parser cases (Adam Barth's IETF test suite, also in
//! web-platform-tests), run through `CookieLayer` over a mock service.
//!
//! The data file (the suite's `parser.json`) is not part of the repository, so the test is
//! `#[ignore]`d; `TOWLINE_HTTP_STATE` names the file, and `.ci/run` finds it and runs the test
//! with `--run-ignored only`. Run without the variable, or with a file that cannot be read,
//! the test fails. Cases named `DISABLED_*` are not run. Every case runs with the
//! jar's clock frozen in 2012, the suite's era, so its fixed `Expires` years mean what they
//! meant; the date-dependent cases are also run on today's clock and reported apart. The test
//! fails below 95 % of the cases it runs.
#![cfg(feature = "cookies")]

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use http::{
    HeaderValue, Request, Response,
    header::{COOKIE, SET_COOKIE},
};
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt};
use towline_layers::{
    cookie::{CookieJar, CookieLayer},
    time::{SharedWallClock, SystemClock},
};
use url::Url;

const ORIGIN: &str = "http://home.example.org:8888/cookie-parser?";
const RESULT: &str = "http://home.example.org:8888/cookie-parser-result?";
/// Cases whose `Expires` dates are fixed years (the data file's README).
const DATE_DEPENDENT: &[&str] = &["0002", "0003", "CHROMIUM0016", "CHROMIUM0017"];

struct Case {
    name: String,
    received: Vec<String>,
    expected: String,
    sent_to: Url,
}

fn cases(path: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("TOWLINE_HTTP_STATE={path}: cannot read the file: {err}"));
    let data: Vec<Value> = serde_json::from_str(&text).expect("parser.json is a JSON array");
    data.iter()
        .map(|case| {
            let name = case["test"].as_str().expect("test name").to_owned();
            let received = case["received"]
                .as_array()
                .expect("received")
                .iter()
                .map(|value| value.as_str().expect("received value").to_owned())
                .collect();
            let expected = case["sent"]
                .as_array()
                .expect("sent")
                .iter()
                .map(|pair| {
                    let name = pair["name"].as_str().expect("name");
                    let value = pair["value"].as_str().expect("value");
                    if name.is_empty() {
                        value.to_owned()
                    } else {
                        format!("{name}={value}")
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            let base = Url::parse(&format!("{RESULT}{}", name.to_lowercase())).expect("base URL");
            let sent_to = match case.get("sent-to").and_then(Value::as_str) {
                Some(to) => base.join(to).expect("sent-to resolves"),
                None => base,
            };
            Case {
                name,
                received,
                expected,
                sent_to,
            }
        })
        .collect()
}

/// Runs one case on a jar with `clock`; returns the `Cookie` header sent (empty for none).
async fn run(case: &Case, clock: SharedWallClock) -> String {
    let jar = CookieJar::new().with_clock(clock);
    let received = case.received.clone();
    let setter = ServiceBuilder::new()
        .layer(CookieLayer::new(jar.clone()))
        .service_fn(move |_request: Request<()>| {
            let mut response = Response::new(());
            for value in &received {
                // A value that cannot be a header (control bytes) never reaches a client.
                if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
                    response.headers_mut().append(SET_COOKIE, value);
                }
            }
            std::future::ready(Ok::<_, Infallible>(response))
        });
    let first = format!("{ORIGIN}{}", case.name.to_lowercase());
    setter
        .oneshot(Request::get(first).body(()).expect("request"))
        .await
        .expect("the mock never fails");

    let seen = Arc::new(Mutex::new(String::new()));
    let recorder = ServiceBuilder::new()
        .layer(CookieLayer::new(jar))
        .service_fn({
            let seen = Arc::clone(&seen);
            move |request: Request<()>| {
                if let Some(cookie) = request.headers().get(COOKIE) {
                    *seen.lock().expect("lock") =
                        String::from_utf8_lossy(cookie.as_bytes()).into_owned();
                }
                std::future::ready(Ok::<_, Infallible>(Response::new(())))
            }
        });
    recorder
        .oneshot(
            Request::get(case.sent_to.as_str())
                .body(())
                .expect("request"),
        )
        .await
        .expect("the mock never fails");
    seen.lock().expect("lock").clone()
}

#[tokio::test]
#[ignore = "needs the http-state data: set TOWLINE_HTTP_STATE to its parser.json"]
async fn http_state_parser_cases() {
    let path = std::env::var("TOWLINE_HTTP_STATE")
        .expect("TOWLINE_HTTP_STATE names the http-state suite's parser.json");
    let cases: Vec<Case> = cases(&path)
        .into_iter()
        .filter(|case| !case.name.starts_with("DISABLED_"))
        .collect();
    assert!(!cases.is_empty(), "{path} holds no enabled case");

    // 2012-06-18, when the suite was current.
    let frozen = UNIX_EPOCH + Duration::from_secs(1_340_000_000);
    let frozen: SharedWallClock = Arc::new(move || -> SystemTime { frozen });
    let mut passed = 0usize;
    let mut failures = Vec::new();
    for case in &cases {
        let sent = run(case, Arc::clone(&frozen)).await;
        if sent == case.expected {
            passed += 1;
        } else {
            failures.push(format!(
                "  {}: received {:?}\n    expected {:?}\n    sent     {:?}",
                case.name, case.received, case.expected, sent
            ));
        }
    }
    let total = cases.len();
    println!("http-state: {passed}/{total} (clock frozen at 2012-06-18)");
    for failure in &failures {
        println!("{failure}");
    }

    // Reported apart: the date-dependent cases on today's clock.
    for case in cases
        .iter()
        .filter(|case| DATE_DEPENDENT.contains(&case.name.as_str()))
    {
        let sent = run(case, SystemClock::shared()).await;
        let verdict = if sent == case.expected {
            "pass"
        } else {
            "differs (its dates are fixed years)"
        };
        println!("http-state, today's clock: {}: {verdict}", case.name);
    }

    assert!(
        passed * 100 >= total * 95,
        "http-state: {passed}/{total} is below 95 %"
    );
}
