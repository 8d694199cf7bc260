//! The servers and the runner of the golden tests (and of tests/cli.rs): in-process servers
//! on loopback that log what each run sent, and a runner that starts a tool in a directory
//! of its own.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use tokio::io::AsyncWriteExt;
use towline_test_support::{BoxBody, DigestServer, TestPki, TestServer, full};

/// curl, the reference; `TOWLINE_CURL` names another binary.
pub fn curl_binary() -> PathBuf {
    let path = std::env::var_os("TOWLINE_CURL")
        .map_or_else(|| PathBuf::from("/usr/bin/curl"), PathBuf::from);
    assert!(
        path.is_file(),
        "the golden tests compare towline-curl with curl, and {} is missing: install Debian's \
         curl (apt-get install curl) or set TOWLINE_CURL to a curl binary",
        path.display()
    );
    path
}

/// A request as the server saw it, with the run's path prefix taken off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The requests each run made, by run number.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<HashMap<u64, Vec<Seen>>>>);

impl Log {
    fn push(&self, run: u64, seen: Seen) -> usize {
        let mut map = self.0.lock().unwrap();
        let list = map.entry(run).or_default();
        list.push(seen);
        list.len()
    }

    pub fn take(&self, run: u64) -> Vec<Seen> {
        self.0.lock().unwrap().remove(&run).unwrap_or_default()
    }

    fn count(&self, run: u64, target: &str) -> usize {
        self.0.lock().unwrap().get(&run).map_or(0, |list| {
            list.iter().filter(|seen| seen.target == target).count()
        })
    }
}

/// The servers every case may use.
pub struct Servers {
    pub log: Log,
    pub http: TestServer,
    pub h2c: TestServer,
    pub tls: TestServer,
    pub pki: TestPki,
}

/// Starts the servers on the current runtime.
pub fn servers() -> Servers {
    let log = Log::default();
    let pki = TestPki::generate();
    let digest = DigestServer::new("user", "pass", "towline");
    let handler = {
        let log = log.clone();
        move |request: Request<Bytes>| {
            let log = log.clone();
            let digest = digest.clone();
            async move { route(&log, &digest, request).await }
        }
    };
    let http = TestServer::builder()
        .http1()
        .handler(handler.clone())
        .build();
    let h2c = TestServer::builder().h2c().handler(handler.clone()).build();
    let tls = TestServer::builder()
        .tls(&pki, &[b"h2", b"http/1.1"])
        .handler(handler)
        .build();
    Servers {
        log,
        http,
        h2c,
        tls,
        pki,
    }
}

/// `/rN/rest` as `(N, /rest)`.
fn split_run(path_and_query: &str) -> Option<(u64, String)> {
    let rest = path_and_query.strip_prefix("/r")?;
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    let run = rest[..end].parse().ok()?;
    Some((run, rest[end..].to_owned()))
}

fn query_value(target: &str, name: &str) -> Option<String> {
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| percent_decode(value))
    })
}

fn query_values(target: &str, name: &str) -> Vec<String> {
    let Some((_, query)) = target.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == name).then(|| percent_decode(value))
        })
        .collect()
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&value[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn respond(status: u16, headers: &[(&str, String)], body: impl Into<Bytes>) -> Response<BoxBody> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    builder.body(full(body.into())).unwrap()
}

async fn route(log: &Log, digest: &DigestServer, request: Request<Bytes>) -> Response<BoxBody> {
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let Some((run, target)) = split_run(&path_and_query) else {
        return respond(404, &[], "no run prefix\n");
    };
    let prefix = format!("/r{run}");
    let seen = Seen {
        method: request.method().to_string(),
        target: target.clone(),
        version: format!("{:?}", request.version()),
        headers: request
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: request.body().to_vec(),
    };
    let earlier = log.count(run, &target);
    log.push(run, seen);
    let path = target.split('?').next().unwrap_or_default().to_owned();
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    match path.as_str() {
        "/echo" | "/json" => {
            let mut body = format!("{} {}\n", request.method(), target).into_bytes();
            body.extend_from_slice(request.body());
            respond(200, &[("content-type", "text/plain".into())], body)
        }
        "/cookies" => respond(
            200,
            &[],
            format!("cookie: {}\n", header("cookie").unwrap_or_default()),
        ),
        "/set-cookie" => {
            let mut headers: Vec<(&str, String)> = query_values(&target, "c")
                .into_iter()
                .map(|value| ("set-cookie", value))
                .collect();
            match query_value(&target, "to") {
                Some(to) => {
                    headers.push(("location", format!("{prefix}{to}")));
                    respond(302, &headers, "cookies set, moving on\n")
                }
                None => respond(200, &headers, "cookies set\n"),
            }
        }
        "/redirect" => {
            let code: u16 = query_value(&target, "code")
                .and_then(|c| c.parse().ok())
                .unwrap_or(302);
            let to = query_value(&target, "to").unwrap_or_else(|| "/echo".into());
            let location = if to.starts_with('/') {
                format!("{prefix}{to}")
            } else {
                to
            };
            respond(code, &[("location", location)], "redirecting\n")
        }
        "/hops" => {
            let left: u32 = query_value(&target, "n")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if left == 0 {
                respond(200, &[], "arrived\n")
            } else {
                respond(
                    302,
                    &[("location", format!("{prefix}/hops?n={}", left - 1))],
                    "hop\n",
                )
            }
        }
        "/basic" => {
            // user:pass
            if header("authorization").as_deref() == Some("Basic dXNlcjpwYXNz") {
                respond(200, &[], "welcome\n")
            } else {
                respond(
                    401,
                    &[("www-authenticate", "Basic realm=\"towline\"".into())],
                    "who are you\n",
                )
            }
        }
        "/bearer" => {
            if header("authorization").as_deref() == Some("Bearer t0ken") {
                respond(200, &[], "token ok\n")
            } else {
                respond(401, &[("www-authenticate", "Bearer".into())], "no token\n")
            }
        }
        "/digest" => {
            let response = digest.respond(&request);
            let status = response.status().as_u16();
            if status == 200 {
                respond(200, &[], "digest ok\n")
            } else {
                response
            }
        }
        "/gzip" => {
            use std::io::Write;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(b"compressed hello\n").unwrap();
            let gzipped = encoder.finish().unwrap();
            if header("accept-encoding").is_some_and(|value| value.contains("gzip")) {
                respond(
                    200,
                    &[
                        ("content-encoding", "gzip".into()),
                        ("content-type", "text/plain".into()),
                    ],
                    gzipped,
                )
            } else {
                respond(
                    200,
                    &[("content-type", "text/plain".into())],
                    "plain hello\n",
                )
            }
        }
        "/bad-gzip" => respond(
            200,
            &[("content-encoding", "gzip".into())],
            "this is not gzip at all",
        ),
        "/bytes" => {
            let n: usize = query_value(&target, "n")
                .and_then(|n| n.parse().ok())
                .unwrap_or(16);
            let body: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            respond(
                200,
                &[("content-type", "application/octet-stream".into())],
                body,
            )
        }
        "/file.txt" => respond(
            200,
            &[("content-type", "text/plain".into())],
            "file contents\n",
        ),
        "/disposition" => respond(
            200,
            &[(
                "content-disposition",
                "attachment; filename=\"../report.txt\"".into(),
            )],
            "report body\n",
        ),
        "/status" => {
            let code: u16 = query_value(&target, "code")
                .and_then(|c| c.parse().ok())
                .unwrap_or(200);
            respond(
                code,
                &[("content-type", "text/plain".into())],
                format!("status {code}\n"),
            )
        }
        "/flaky" => {
            // 503 the first time in a run, then 200.
            if earlier == 0 {
                respond(503, &[], "try again\n")
            } else {
                respond(200, &[], "stable now\n")
            }
        }
        "/slow" => {
            let ms: u64 = query_value(&target, "ms")
                .and_then(|n| n.parse().ok())
                .unwrap_or(5000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            respond(200, &[], "slow\n")
        }
        "/hsts" => respond(
            200,
            &[(
                "strict-transport-security",
                "max-age=31536000; includeSubDomains".into(),
            )],
            "secure\n",
        ),
        "/headers" => {
            let owned: Vec<(String, String)> = query_values(&target, "h")
                .into_iter()
                .filter_map(|pair| {
                    let (name, value) = pair.split_once(':')?;
                    Some((name.trim().to_owned(), value.trim().to_owned()))
                })
                .collect();
            let headers: Vec<(&str, String)> = owned
                .iter()
                .map(|(name, value)| (name.as_str(), value.clone()))
                .collect();
            respond(200, &headers, "with headers\n")
        }
        _ => respond(404, &[], format!("no route for {path}\n")),
    }
}

static NEXT_RUN: AtomicU64 = AtomicU64::new(1);

/// A new run number.
pub fn next_run() -> u64 {
    NEXT_RUN.fetch_add(1, Ordering::Relaxed)
}

/// What one run of one tool produced.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub dir: PathBuf,
}

/// Runs `binary` with `args` in `dir` (its `HOME` too), with `stdin`, and no proxy from the
/// environment unless `env` sets one.
pub async fn run(
    binary: &Path,
    args: &[String],
    dir: &Path,
    stdin: Option<&[u8]>,
    env: &[(String, String)],
) -> Outcome {
    let mut command = tokio::process::Command::new(binary);
    command
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for name in [
        "http_proxy",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
        "CURL_HOME",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "CURL_CA_BUNDLE",
    ] {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", binary.display()));
    let mut input = child.stdin.take().unwrap();
    let data = stdin.map(<[u8]>::to_vec);
    tokio::spawn(async move {
        if let Some(data) = data {
            let _ = input.write_all(&data).await;
        }
        drop(input);
    });
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} ran over a minute", binary.display()))
        .unwrap();
    Outcome {
        code: output.status.code(),
        stdout: output.stdout,
        stderr: output.stderr,
        dir: dir.to_owned(),
    }
}
