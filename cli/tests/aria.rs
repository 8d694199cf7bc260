//! towline-aria against an in-process origin that serves a file with ranges and an `ETag`,
//! and can misbehave: ignore ranges, cut every segment, change the file, or offer a hostile
//! file name.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{ACCEPT_RANGES, CONTENT_DISPOSITION, CONTENT_RANGE, ETAG, IF_RANGE, RANGE};
use http::{HeaderValue, Request, Response, StatusCode};
use towline_test_support::{BoxBody, TestServer, body_channel, full};

const LEN: usize = 100 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Normal,
    /// 200 with the whole file to every request.
    IgnoreRanges,
    /// Every segment but the probe's stops halfway.
    CutSegments,
    /// Segments send half, then nothing more until the client goes away.
    Stall,
}

struct Origin {
    content: Bytes,
    etag: Mutex<&'static str>,
    mode: Mutex<Mode>,
    disposition: Option<&'static str>,
    /// The `Range` of every GET.
    ranges: Mutex<Vec<String>>,
    /// The headers of every request.
    heads: Mutex<Vec<http::HeaderMap>>,
}

impl Origin {
    fn start(disposition: Option<&'static str>) -> (Arc<Self>, TestServer) {
        Self::sized(LEN, disposition)
    }

    fn sized(len: usize, disposition: Option<&'static str>) -> (Arc<Self>, TestServer) {
        let origin = Arc::new(Self {
            content: (0..len)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<u8>>()
                .into(),
            etag: Mutex::new("\"v1\""),
            mode: Mutex::new(Mode::Normal),
            disposition,
            ranges: Mutex::new(Vec::new()),
            heads: Mutex::new(Vec::new()),
        });
        let handler = Arc::clone(&origin);
        let server = TestServer::builder()
            .handler(move |request| Arc::clone(&handler).answer(request))
            .build();
        (origin, server)
    }

    fn set(&self, mode: Mode, etag: &'static str) {
        *self.mode.lock().unwrap() = mode;
        *self.etag.lock().unwrap() = etag;
    }

    async fn answer(self: Arc<Self>, request: Request<Bytes>) -> Response<BoxBody> {
        if request.uri().path() == "/missing" {
            return Response::builder().status(404).body(full("no")).unwrap();
        }
        self.heads.lock().unwrap().push(request.headers().clone());
        let etag = *self.etag.lock().unwrap();
        let mode = *self.mode.lock().unwrap();
        let header = |name| {
            request
                .headers()
                .get(name)
                .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
        };
        let range = header(RANGE);
        if request.method() == http::Method::GET {
            self.ranges
                .lock()
                .unwrap()
                .push(range.clone().unwrap_or_default());
        }
        let stale = header(IF_RANGE).is_some_and(|tag| tag != etag);
        let parsed = range
            .as_deref()
            .and_then(|range| range.strip_prefix("bytes="))
            .and_then(|range| range.split_once('-'))
            .map(|(first, last)| {
                let first: usize = first.parse().unwrap();
                let last: usize = if last.is_empty() {
                    self.content.len() - 1
                } else {
                    last.parse().unwrap()
                };
                (first, last)
            });
        let mut builder = Response::builder().header(ETAG, etag);
        if mode != Mode::IgnoreRanges {
            builder = builder.header(ACCEPT_RANGES, "bytes");
        }
        if let Some(disposition) = self.disposition {
            builder = builder.header(CONTENT_DISPOSITION, disposition);
        }
        let Some((first, last)) = parsed.filter(|_| mode != Mode::IgnoreRanges && !stale) else {
            return builder.body(full(self.content.clone())).unwrap();
        };
        let slice = self.content.slice(first..=last);
        let probe = range.as_deref().is_some_and(|range| range.ends_with('-'));
        let body = if mode == Mode::Stall && !probe {
            let (sender, body) = body_channel();
            tokio::spawn(async move {
                sender.send_data(slice.slice(..slice.len() / 2)).await;
                // Held open, sending nothing, until the client hangs up.
                while sender.send_data(Bytes::new()).await {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            });
            body
        } else if mode == Mode::CutSegments && !probe {
            let (sender, body) = body_channel();
            tokio::spawn(async move {
                sender.send_data(slice.slice(..slice.len() / 2)).await;
                sender.abort().await;
            });
            body
        } else {
            full(slice)
        };
        builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(
                CONTENT_RANGE,
                format!("bytes {first}-{last}/{}", self.content.len()),
            )
            .body(body)
            .unwrap()
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("aria")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn aria(dir: &Path, args: &[&str]) -> Run {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_towline-aria"))
        .args(args)
        .current_dir(dir)
        .env_remove("http_proxy")
        .env_remove("all_proxy")
        .output()
        .await
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_are_assembled_under_a_sanitized_server_name() {
    let (origin, server) = Origin::start(Some(
        "attachment; filename=\"../../fallback.txt\"; filename*=UTF-8''..%2F..%2Fescape%E2%82%AC.bin",
    ));
    let dir = scratch("segments");
    let run = aria(
        &dir,
        &[
            "-d",
            "out",
            "-s",
            "4",
            "-x",
            "4",
            "-k",
            "16K",
            &server.url("/file"),
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // Nothing outside -d: the name lost its directories.
    assert_eq!(names(&dir), ["out"]);
    assert_eq!(names(&dir.join("out")), ["escape€.bin"]);
    assert_eq!(
        std::fs::read(dir.join("out/escape€.bin")).unwrap(),
        origin.content
    );
    let ranges = origin.ranges.lock().unwrap().clone();
    assert_eq!(ranges.len(), 4, "{ranges:?}");
    assert_eq!(ranges[0], "bytes=0-");
    assert!(run.stdout.contains("Download Results:"), "{}", run.stdout);
    assert!(run.stdout.contains("|OK  |"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_ranges_still_gives_the_whole_file() {
    let (origin, server) = Origin::start(None);
    origin.set(Mode::IgnoreRanges, "\"v1\"");
    let dir = scratch("ignore-ranges");
    let run = aria(
        &dir,
        &[
            "-q",
            "-s",
            "4",
            "-x",
            "4",
            "-k",
            "16K",
            &server.url("/data.bin"),
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(std::fs::read(dir.join("data.bin")).unwrap(), origin.content);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksums_are_verified_and_a_mismatch_keeps_the_part_file() {
    let (_origin, server) = Origin::start(None);
    let url = server.url("/file.bin");
    let content: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let right = {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(&content);
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };

    let dir = scratch("checksum-ok");
    let run = aria(&dir, &["-q", &format!("--checksum=sha-256={right}"), &url]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(names(&dir), ["file.bin"]);

    let dir = scratch("checksum-bad");
    let wrong = "0".repeat(64);
    let run = aria(&dir, &[&format!("--checksum=sha-256={wrong}"), &url]).await;
    assert_eq!(run.code, Some(32), "{}", run.stderr);
    assert!(
        run.stderr.contains(&right),
        "the digest found is named: {}",
        run.stderr
    );
    assert_eq!(names(&dir), ["file.bin.part"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_download_continues_only_while_the_file_is_unchanged() {
    let (origin, server) = Origin::start(None);
    let url = server.url("/big.bin");
    let dir = scratch("resume");
    let args = ["-s", "4", "-x", "4", "-k", "16K", "--max-tries", "1"];

    origin.set(Mode::CutSegments, "\"v1\"");
    let cut = aria(&dir, &[&args[..], &[url.as_str()]].concat()).await;
    assert_ne!(cut.code, Some(0), "{}", cut.stderr);
    assert_eq!(names(&dir), ["big.bin.part", "big.bin.part.towline-state"]);

    // A new version on the server: continuing would mix the two.
    origin.set(Mode::Normal, "\"v2\"");
    let changed = aria(&dir, &[&args[..], &["-c", url.as_str()]].concat()).await;
    assert_eq!(changed.code, Some(1));
    assert!(changed.stderr.contains("changed"), "{}", changed.stderr);

    origin.set(Mode::Normal, "\"v1\"");
    let resumed = aria(&dir, &[&args[..], &["-c", url.as_str()]].concat()).await;
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    assert_eq!(names(&dir), ["big.bin"]);
    assert_eq!(std::fs::read(dir.join("big.bin")).unwrap(), origin.content);
    // What the interrupted run wrote was kept, not fetched again.
    assert!(
        resumed.stdout.contains("(continued after "),
        "{}",
        resumed.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_files_are_renamed_around_or_refused() {
    let (_origin, server) = Origin::start(None);
    let url = server.url("/report.txt");
    let dir = scratch("existing");
    std::fs::write(dir.join("report.txt"), "mine").unwrap();

    let renamed = aria(&dir, &["-q", &url]).await;
    assert_eq!(renamed.code, Some(0), "{}", renamed.stderr);
    assert_eq!(names(&dir), ["report.1.txt", "report.txt"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("report.txt")).unwrap(),
        "mine"
    );

    let refused = aria(&dir, &["-q", "--auto-file-renaming=false", &url]).await;
    assert_eq!(refused.code, Some(13));

    let overwritten = aria(&dir, &["-q", "--allow-overwrite", &url]).await;
    assert_eq!(overwritten.code, Some(0), "{}", overwritten.stderr);
    assert_eq!(
        std::fs::metadata(dir.join("report.txt")).unwrap().len(),
        LEN as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_downloads_nothing_and_reports_a_missing_file() {
    let (origin, server) = Origin::start(None);
    let dir = scratch("dry-run");
    let there = aria(&dir, &["--dry-run", &server.url("/file.bin")]).await;
    assert_eq!(there.code, Some(0), "{}", there.stderr);
    assert!(names(&dir).is_empty());
    assert!(origin.ranges.lock().unwrap().is_empty(), "no GET");

    let missing = aria(&dir, &["--dry-run", &server.url("/missing")]).await;
    assert_eq!(missing.code, Some(3), "{}", missing.stderr);

    let bad = aria(&dir, &["-o", "a", &server.url("/a"), &server.url("/b")]).await;
    assert_eq!(bad.code, Some(28));
    let empty = aria(&dir, &["-o", "", &server.url("/a")]).await;
    assert_eq!(empty.code, Some(28));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_size_part_file_without_state_is_downloaded_again() {
    let (origin, server) = Origin::start(None);
    let dir = scratch("no-state");
    // As a preallocating downloader would leave it: full length, nothing in it.
    std::fs::write(dir.join("file.bin.part"), vec![0u8; LEN]).unwrap();
    let run = aria(
        &dir,
        &[
            "-c",
            "-s",
            "2",
            "-x",
            "2",
            "-k",
            "16K",
            &server.url("/file.bin"),
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stdout.contains("continued after"), "{}", run.stdout);
    assert_eq!(std::fs::read(dir.join("file.bin")).unwrap(), origin.content);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_and_leaves_a_download_that_continues() {
    // The state file is saved every 4 MiB a segment writes: two segments of 12 MiB that
    // stall after 6 MiB each have saved theirs when the interrupt comes.
    let (origin, server) = Origin::sized(24 << 20, None);
    origin.set(Mode::Stall, "\"v1\"");
    let dir = scratch("interrupt");
    let url = server.url("/stalled.bin");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_towline-aria"))
        .args(["-s", "2", "-x", "2", "-k", "1M", &url])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the segments are underway, then interrupt as Ctrl-C does.
    let state = dir.join("stalled.bin.part.towline-state");
    for _ in 0..200 {
        if origin.ranges.lock().unwrap().len() >= 2 && state.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let pid = child.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait())
        .await
        .expect("towline-aria stops on SIGINT")
        .unwrap();
    assert_eq!(status.code(), Some(7));
    assert!(state.exists(), "the state file stays for -c");

    origin.set(Mode::Normal, "\"v1\"");
    let resumed = aria(&dir, &["-c", "-s", "4", "-x", "4", "-k", "16K", &url]).await;
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    assert!(
        resumed.stdout.contains("(continued after "),
        "{}",
        resumed.stdout
    );
    assert_eq!(
        std::fs::read(dir.join("stalled.bin")).unwrap(),
        origin.content
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_file_and_request_options_reach_the_server() {
    let (origin, server) = Origin::start(None);
    let dir = scratch("input-file");
    std::fs::write(
        dir.join("uris.txt"),
        format!(
            "# two files\n{}\n\n{}\n",
            server.url("/one.bin"),
            server.url("/two.bin")
        ),
    )
    .unwrap();
    let run = aria(
        &dir,
        &[
            "-q",
            "-i",
            "uris.txt",
            "-j",
            "2",
            "-d",
            "got",
            "--header",
            "X-Token: abc",
            "--referer",
            "http://ref.test/",
            "-U",
            "agent/9",
            "--http-user",
            "user",
            "--http-passwd",
            "pass",
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(names(&dir.join("got")), ["one.bin", "two.bin"]);
    let heads = origin.heads.lock().unwrap().clone();
    assert!(!heads.is_empty());
    for head in heads {
        assert_eq!(head["x-token"], "abc");
        assert_eq!(head["referer"], "http://ref.test/");
        assert_eq!(head["user-agent"], "agent/9");
        assert_eq!(head["authorization"], "Basic dXNlcjpwYXNz");
        assert!(!head.contains_key("accept-encoding") || head["accept-encoding"] == "identity");
    }
}

/// The `.part` file's length while the download is stalled halfway, with `allocation`.
async fn stalled_length(allocation: &str) -> (u64, u64) {
    let (origin, server) = Origin::start(None);
    origin.set(Mode::Stall, "\"v1\"");
    let dir = scratch(&format!("allocation-{allocation}"));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_towline-aria"))
        .args(["-q", "-s", "2", "-x", "2", "-k", "16K"])
        .arg(format!("--file-allocation={allocation}"))
        .arg(server.url("/file.bin"))
        .current_dir(&dir)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let part = dir.join("file.bin.part");
    // Both ranges asked for, and the stalled one has sent its half.
    let mut length = 0;
    for _ in 0..400 {
        length = std::fs::metadata(&part).map_or(0, |meta| meta.len());
        if origin.ranges.lock().unwrap().len() >= 2 && length > LEN as u64 / 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    child.kill().await.unwrap();
    (length, LEN as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_allocation_gives_the_part_file_its_length_at_once() {
    let (length, total) = stalled_length("prealloc").await;
    assert_eq!(length, total);
    let (length, total) = stalled_length("none").await;
    assert!(length < total, "{length} of {total}");
}
