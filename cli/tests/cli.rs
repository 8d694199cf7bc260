//! towline-curl's own output where curl's is not byte for byte comparable: `-v` on stderr,
//! the timing variables of `-w`, and error messages.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::path::{Path, PathBuf};

use support::Outcome;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_towline-curl"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn towline(args: &[String], dir: &Path) -> Outcome {
    support::run(&binary(), args, dir, None, &[]).await
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| (*arg).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_prints_every_hop_with_curl_prefixes_and_redacts_credentials() {
    let servers = support::servers();
    let run = support::next_run();
    let base = format!("{}r{run}", servers.http.url("/"));
    let port = servers.http.addr().port();
    let url = format!("{base}/redirect?to=/echo");
    let outcome = towline(
        &strings(&[
            "-v",
            "-s",
            "-L",
            "-u",
            "user:secret-password",
            "-H",
            "X-Trace: 1",
            &url,
        ]),
        &scratch("verbose"),
    )
    .await;
    assert_eq!(outcome.code, Some(0));
    let stderr = String::from_utf8(outcome.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    for expected in [
        format!("> GET /r{run}/redirect?to=/echo HTTP/1.1"),
        format!("> GET /r{run}/echo HTTP/1.1"),
        format!("> Host: 127.0.0.1:{port}"),
        "> x-trace: 1".to_owned(),
        "> authorization: <redacted>".to_owned(),
        "< HTTP/1.1 302 Found".to_owned(),
        "< HTTP/1.1 200 OK".to_owned(),
        format!("* Connected to 127.0.0.1 (127.0.0.1) port {port}"),
        "> ".to_owned(),
        "< ".to_owned(),
    ] {
        assert!(
            lines.contains(&expected.as_str()),
            "no {expected:?} in\n{stderr}"
        );
    }
    assert!(!stderr.contains("secret-password"), "{stderr}");
    // dXNlcjpzZWNyZXQtcGFzc3dvcmQ= is user:secret-password in Base64.
    assert!(!stderr.contains("dXNlcjpzZWNyZXQtcGFzc3dvcmQ="), "{stderr}");
    let stdout = String::from_utf8(outcome.stdout).unwrap();
    assert_eq!(stdout, format!("GET /echo\n"));
}

/// Parses `-w`'s five timing variables.
fn timings(stdout: &[u8]) -> Vec<f64> {
    let text = String::from_utf8(stdout.to_vec()).unwrap();
    text.split_whitespace()
        .map(|value| {
            let (_, fraction) = value
                .split_once('.')
                .unwrap_or_else(|| panic!("{value:?} has no decimals"));
            assert_eq!(fraction.len(), 6, "{value:?}: curl writes six decimals");
            value.parse().unwrap()
        })
        .collect()
}

const TIMES: &str =
    "%{time_namelookup} %{time_connect} %{time_appconnect} %{time_starttransfer} %{time_total}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timing_variables_are_cumulative_phases() {
    let servers = support::servers();
    let dir = scratch("timings");
    std::fs::write(dir.join("ca.pem"), servers.pki.ca_pem()).unwrap();

    let run = support::next_run();
    let tls_url = format!("{}r{run}/echo", servers.tls.url("/"));
    let tls = towline(
        &strings(&[
            "-s",
            "-o",
            "/dev/null",
            "--cacert",
            "ca.pem",
            "-w",
            TIMES,
            &tls_url,
        ]),
        &dir,
    )
    .await;
    assert_eq!(
        tls.code,
        Some(0),
        "{}",
        String::from_utf8_lossy(&tls.stderr)
    );
    let times = timings(&tls.stdout);
    assert_eq!(times.len(), 5);
    assert!(
        times.windows(2).all(|pair| pair[0] <= pair[1]),
        "not cumulative: {times:?}"
    );
    assert!(
        times[2] > times[1],
        "a TLS handshake took no time: {times:?}"
    );

    let run = support::next_run();
    let plain_url = format!("{}r{run}/echo", servers.http.url("/"));
    let plain = towline(
        &strings(&["-s", "-o", "/dev/null", "-w", TIMES, &plain_url]),
        &dir,
    )
    .await;
    let times = timings(&plain.stdout);
    assert_eq!(times[2], 0.0, "no TLS, no time_appconnect: {times:?}");
    assert!(times[3] <= times[4], "{times:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_code_and_silence_hides_them() {
    let dir = scratch("errors");
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{closed}/");
    let loud = towline(&strings(&[&url]), &dir).await;
    assert_eq!(loud.code, Some(7));
    let stderr = String::from_utf8(loud.stderr).unwrap();
    assert!(stderr.starts_with("towline-curl: (7) "), "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");

    let quiet = towline(&strings(&["-s", &url]), &dir).await;
    assert_eq!(quiet.code, Some(7));
    assert!(quiet.stderr.is_empty());

    // Bad values are refused with curl's exit code 2, and a message, not a panic.
    for args in [
        vec!["--limit-rate", "fast", "http://127.0.0.1/"],
        vec!["--retry", "-3", "http://127.0.0.1/"],
        vec!["--resolve", "nonsense", "http://127.0.0.1/"],
        vec!["--tls-max", "1.1", "https://127.0.0.1/"],
        vec!["-H", "Bad\u{7f}Name: x", "http://127.0.0.1/"],
    ] {
        let outcome = towline(&strings(&args), &dir).await;
        assert_eq!(
            outcome.code,
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&outcome.stderr)
        );
        assert!(!outcome.stderr.is_empty(), "{args:?}");
        assert!(
            !String::from_utf8_lossy(&outcome.stderr).contains("panicked"),
            "{args:?}"
        );
    }
}

/// curl 7.88 has no HTTP/3, so this one is not a golden case: `--http3-only` against the
/// in-process HTTP/3 server, with `-w` saying which version answered.
#[cfg(feature = "http3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http3_only_speaks_http3() {
    let pki = towline_test_support::TestPki::generate();
    let server = towline_test_support::Http3Server::start(&pki);
    let dir = scratch("http3");
    std::fs::write(dir.join("ca.pem"), pki.ca_pem()).unwrap();
    let resolve = format!("localhost:{}:127.0.0.1", server.addr().port());
    for flag in ["--http3-only", "--http3"] {
        let outcome = towline(
            &strings(&[
                flag,
                "-s",
                "--cacert",
                "ca.pem",
                "--resolve",
                &resolve,
                "-w",
                "\\n%{http_version} %{http_code}",
                &server.url("/echo"),
            ]),
            &dir,
        )
        .await;
        assert_eq!(
            outcome.code,
            Some(0),
            "{flag}: {}",
            String::from_utf8_lossy(&outcome.stderr)
        );
        let stdout = String::from_utf8(outcome.stdout).unwrap();
        assert!(stdout.ends_with("\n3 200"), "{flag}: {stdout}");
        assert!(
            stdout.contains("\"version\":\"HTTP/3.0\""),
            "{flag}: {stdout}"
        );
    }
    assert_eq!(server.requests(), 2);
}

/// `--alt-svc FILE`: a first run learns the origin's HTTP/3 alternative over TCP and writes it
/// in curl's format; a second run, reading the file, goes to the alternative over HTTP/3.
#[cfg(feature = "http3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alt_svc_file_carries_http3_to_the_next_run() {
    let pki = towline_test_support::TestPki::generate();
    let origin = towline_test_support::TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
    let h3 = towline_test_support::Http3Server::start(&pki);
    let dir = scratch("alt-svc");
    std::fs::write(dir.join("ca.pem"), pki.ca_pem()).unwrap();
    let (port, h3_port) = (origin.addr().port(), h3.addr().port());
    let resolve = format!("localhost:{port}:127.0.0.1");
    let run = |url: String| {
        let dir = dir.clone();
        let resolve = resolve.clone();
        async move {
            let outcome = towline(
                &strings(&[
                    "-s",
                    "--cacert",
                    "ca.pem",
                    "--resolve",
                    &resolve,
                    "--alt-svc",
                    "alt-svc.txt",
                    "-w",
                    "\\n%{http_version}",
                    &url,
                ]),
                &dir,
            )
            .await;
            assert_eq!(
                outcome.code,
                Some(0),
                "{}",
                String::from_utf8_lossy(&outcome.stderr)
            );
            String::from_utf8(outcome.stdout).unwrap()
        }
    };

    let advertise = origin.url(&format!("/headers?alt-svc=h3%3D%22%3A{h3_port}%22"));
    assert!(run(advertise).await.ends_with("\n2"));
    let saved = std::fs::read_to_string(dir.join("alt-svc.txt")).unwrap();
    assert!(
        saved.contains(&format!("h2 localhost {port} h3 localhost {h3_port} \"")),
        "{saved}"
    );

    let stdout = run(origin.url("/echo")).await;
    assert!(stdout.ends_with("\n3"), "{stdout}");
    assert_eq!(h3.requests(), 1);
    assert_eq!(origin.requests(), 1);
}
