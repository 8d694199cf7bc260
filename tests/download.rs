//! Parallel range downloads against an in-process origin that serves a file with ranges and
//! an ETag, and can lie: ignore ranges, answer a segment with the whole file, send the wrong
//! `Content-Range`, too many bytes, cut bodies, a 1 TiB length, or stream forever.
#![cfg(feature = "download")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{ACCEPT_RANGES, CONTENT_RANGE, ETAG, IF_RANGE, RANGE};
use http::{HeaderValue, Request, Response};
use towline::TokioClient;
use towline::download::{ContentRange, DownloadError};
use towline::progress::Progress;
use towline_test_support::{BoxBody, TestServer, body_channel, full, response};

use common::{pattern, wait_until, within};

const TIB: u64 = 1 << 40;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Lie {
    None,
    /// 200 with the whole file to every request.
    IgnoreRanges,
    /// 200 with the whole file and `Accept-Ranges: bytes` to the probe (`bytes=0-`), 206s to
    /// the segments, as httpbin does.
    WholeProbe,
    /// 206 to the probe, the whole file (200) to the segments.
    WholeAfterProbe,
    /// A new version (ETag "v2") right after the probe was answered.
    ChangeAfterProbe,
    /// The segments' Content-Range starts one byte late.
    ShiftedRange,
    /// The segments' Content-Range names another total length.
    WrongTotal,
    /// The segments' Content-Range does not parse.
    MalformedRange,
    /// The segments are 206 `multipart/byteranges` answers, which have no Content-Range of
    /// their own (what a server sends for several ranges).
    Byteranges,
    /// The segments carry five bytes more than their range (chunked).
    ExtraBytes,
    /// The first answer for each segment stops halfway with an error.
    CutOnce,
    /// The segment starting at `cut_start` (1 MiB long) is cut halfway with an error, and
    /// every later request for its rest fails before a byte.
    CutAlways,
    /// A Content-Range of 1 TiB, with 10 bytes of body.
    Huge,
    /// Bodies trickle forever, one byte every few milliseconds.
    Endless,
}

struct Origin {
    content: Bytes,
    etag: Mutex<String>,
    lie: Mutex<Lie>,
    /// `range|if-range` per request.
    log: Mutex<Vec<String>>,
    cut: Mutex<HashSet<u64>>,
    cut_start: Mutex<u64>,
    open_streams: AtomicUsize,
    closed_streams: AtomicUsize,
}

impl Origin {
    fn new(len: usize) -> Arc<Self> {
        Arc::new(Self {
            content: Bytes::from(pattern(0, len)),
            etag: Mutex::new("\"v1\"".into()),
            lie: Mutex::new(Lie::None),
            log: Mutex::new(Vec::new()),
            cut: Mutex::new(HashSet::new()),
            cut_start: Mutex::new(0),
            open_streams: AtomicUsize::new(0),
            closed_streams: AtomicUsize::new(0),
        })
    }

    fn lie(&self, lie: Lie) {
        *self.lie.lock().unwrap() = lie;
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn serve(self: Arc<Self>) -> TestServer {
        TestServer::builder()
            .handler(move |request| self.clone().answer(request))
            .build()
    }

    async fn answer(self: Arc<Self>, request: Request<Bytes>) -> Response<BoxBody> {
        let header = |name| {
            request
                .headers()
                .get(name)
                .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
        };
        let range = header(RANGE);
        let if_range = header(IF_RANGE);
        self.log.lock().unwrap().push(format!(
            "{}|{}",
            range.clone().unwrap_or_default(),
            if_range.clone().unwrap_or_default()
        ));
        let lie = *self.lie.lock().unwrap();
        let etag = self.etag.lock().unwrap().clone();
        let len = self.content.len() as u64;
        let whole = || {
            let mut answer = Response::new(full(self.content.clone()));
            answer
                .headers_mut()
                .insert(ETAG, HeaderValue::from_str(&etag).unwrap());
            answer
        };
        let Some(range) = range.as_deref().and_then(|r| r.strip_prefix("bytes=")) else {
            return whole();
        };
        let (first, last) = range.split_once('-').unwrap();
        let probe = last.is_empty();
        let first: u64 = first.parse().unwrap();
        let total = if lie == Lie::Huge { TIB } else { len };
        let last: u64 = if probe {
            total - 1
        } else {
            last.parse().unwrap()
        };
        let stale = if_range.is_some_and(|tag| tag != etag);
        if lie == Lie::IgnoreRanges || stale || (lie == Lie::WholeAfterProbe && !probe) {
            return whole();
        }
        if lie == Lie::WholeProbe && probe {
            let mut answer = whole();
            answer
                .headers_mut()
                .insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return answer;
        }
        if probe && lie == Lie::ChangeAfterProbe {
            *self.etag.lock().unwrap() = "\"v2\"".into();
        }
        let mut content_range = format!("bytes {first}-{last}/{total}");
        if !probe {
            match lie {
                Lie::ShiftedRange => content_range = format!("bytes {}-{last}/{total}", first + 1),
                Lie::WrongTotal => content_range = format!("bytes {first}-{last}/{}", total + 1),
                Lie::MalformedRange => content_range = format!("bytes {first}-{last}"),
                Lie::Byteranges => content_range.clear(),
                _ => {}
            }
        }
        let slice = || self.content.slice(first as usize..=last as usize);
        let body = match lie {
            Lie::Huge => full(vec![7u8; 10]),
            Lie::ExtraBytes if !probe => {
                let (sender, body) = body_channel();
                let data = slice();
                tokio::spawn(async move {
                    sender.send_data(data).await;
                    sender.send_data("extra").await;
                });
                body
            }
            Lie::CutOnce | Lie::CutAlways if !probe => {
                let cut_start = *self.cut_start.lock().unwrap();
                // Whether to cut the answer, and whether half of it goes out first.
                let (cut, half) = match lie {
                    Lie::CutOnce => (self.cut.lock().unwrap().insert(first), true),
                    _ if first == cut_start => (true, true),
                    _ => (first > cut_start && first < cut_start + MIB as u64, false),
                };
                if cut {
                    let (sender, body) = body_channel();
                    let data = slice();
                    tokio::spawn(async move {
                        if half {
                            sender.send_data(data.slice(..data.len() / 2)).await;
                        }
                        sender.abort().await;
                    });
                    body
                } else {
                    full(slice())
                }
            }
            Lie::Endless => {
                let (sender, body) = body_channel();
                let origin = self.clone();
                origin.open_streams.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    while sender.send_data(vec![1u8]).await {
                        tokio::time::sleep(common::MS * 5).await;
                    }
                    origin.closed_streams.fetch_add(1, Ordering::SeqCst);
                });
                body
            }
            _ => full(slice()),
        };
        let mut answer = Response::new(body);
        *answer.status_mut() = http::StatusCode::PARTIAL_CONTENT;
        let headers = answer.headers_mut();
        if content_range.is_empty() {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("multipart/byteranges; boundary=b"),
            );
        } else {
            headers.insert(
                CONTENT_RANGE,
                HeaderValue::from_str(&content_range).unwrap(),
            );
        }
        headers.insert(ETAG, HeaderValue::from_str(&etag).unwrap());
        headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        answer
    }
}

/// A path under the temporary directory for `name`, removed (with its sidecar) on drop.
struct Target(PathBuf);

impl Target {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("towline-download-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(sidecar(&path));
        Self(path)
    }

    fn read(&self) -> Vec<u8> {
        std::fs::read(&self.0).unwrap()
    }
}

fn sidecar(path: &std::path::Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".towline-state");
    PathBuf::from(name)
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(sidecar(&self.0));
    }
}

fn download_error(error: &towline::Error) -> DownloadError {
    std::error::Error::source(error)
        .and_then(|e| e.downcast_ref::<DownloadError>())
        .unwrap_or_else(|| panic!("not a download error: {error:?}"))
        .clone()
}

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn segments_are_fetched_with_if_range_and_assembled_at_their_offsets() {
    let origin = Origin::new(3 * MIB + 7);
    let server = origin.clone().serve();
    let target = Target::new("assembled.bin");
    let seen = Arc::new(Mutex::new(Vec::<Progress>::new()));
    let done = within(
        TokioClient::new()
            .download(server.url("/file"))
            .connections(4)
            .min_segment_size(512 * 1024)
            .to_file(&target.0)
            .progress({
                let seen = seen.clone();
                move |p| seen.lock().unwrap().push(p)
            })
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(done.length, origin.content.len() as u64);
    assert_eq!(done.segments, 4);
    assert_eq!(target.read(), origin.content);
    let mut log = origin.log();
    log.sort();
    // The probe, then segments 2 to 4 with If-Range; segment 1 is the probe's body.
    let quarter = |i: u64| origin.content.len() as u64 * i / 4;
    let mut expected = vec!["bytes=0-|".to_owned()];
    for i in 1..4 {
        expected.push(format!(
            "bytes={}-{}|\"v1\"",
            quarter(i),
            quarter(i + 1) - 1
        ));
    }
    expected.sort();
    assert_eq!(log, expected);
    let last = *seen.lock().unwrap().last().unwrap();
    assert_eq!(
        last,
        Progress {
            transferred: done.length,
            total: Some(done.length)
        }
    );
    assert!(
        !sidecar(&target.0).exists(),
        "a finished download leaves no state"
    );
}

#[tokio::test]
async fn preallocate_gives_the_file_its_length_before_the_first_write() {
    for preallocate in [false, true] {
        let origin = Origin::new(2 * MIB);
        let server = origin.clone().serve();
        let target = Target::new(&format!("preallocated-{preallocate}.bin"));
        // The file's length when the first chunk has been written.
        let first_seen = Arc::new(Mutex::new(None::<u64>));
        let done = within(
            TokioClient::new()
                .download(server.url("/file"))
                .connections(1)
                .preallocate(preallocate)
                .to_file(&target.0)
                .progress({
                    let (first_seen, path) = (first_seen.clone(), target.0.clone());
                    move |_| {
                        let mut first = first_seen.lock().unwrap();
                        if first.is_none() {
                            *first = Some(std::fs::metadata(&path).unwrap().len());
                        }
                    }
                })
                .send(),
        )
        .await
        .unwrap();
        assert_eq!(target.read(), origin.content);
        let first = first_seen.lock().unwrap().unwrap();
        if preallocate {
            assert_eq!(first, done.length, "full length from the start");
        } else {
            assert!(first < done.length, "grows as it is written: {first}");
        }
    }
}

/// Blocks reserved (`st_blocks`, 512-byte units) against the length, when the first chunk
/// lands: a sparse file has almost none, a reserved one all of them.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn reserve_space_reserves_the_files_blocks_before_the_first_write() {
    use std::os::unix::fs::MetadataExt;
    for reserve in [false, true] {
        let origin = Origin::new(2 * MIB);
        let server = origin.clone().serve();
        let target = Target::new(&format!("reserved-{reserve}.bin"));
        let first_seen = Arc::new(Mutex::new(None::<u64>));
        within(
            TokioClient::new()
                .download(server.url("/file"))
                .connections(1)
                .preallocate(true)
                .reserve_space(reserve)
                .to_file(&target.0)
                .progress({
                    let (first_seen, path) = (first_seen.clone(), target.0.clone());
                    move |_| {
                        let mut first = first_seen.lock().unwrap();
                        if first.is_none() {
                            *first = Some(std::fs::metadata(&path).unwrap().blocks() * 512);
                        }
                    }
                })
                .send(),
        )
        .await
        .unwrap();
        assert_eq!(target.read(), origin.content);
        let reserved = first_seen.lock().unwrap().unwrap();
        if reserve {
            assert!(reserved >= 2 * MIB as u64, "reserved {reserved}");
        } else {
            assert!(reserved < MIB as u64, "sparse, yet {reserved} reserved");
        }
    }
}

#[tokio::test]
async fn a_server_that_ignores_ranges_is_downloaded_as_one_stream() {
    let origin = Origin::new(MIB + 3);
    origin.lie(Lie::IgnoreRanges);
    let server = origin.clone().serve();
    let target = Target::new("one-stream.bin");
    std::fs::write(&target.0, vec![9u8; 3 * MIB]).unwrap();
    let done = within(
        TokioClient::new()
            .download(server.url("/file"))
            .to_file(&target.0)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(done.segments, 0);
    assert_eq!(origin.log().len(), 1);
    // The longer file that was there is replaced, not overwritten in part.
    assert_eq!(target.read(), origin.content);
}

#[tokio::test]
async fn a_whole_file_probe_that_accepts_ranges_still_gets_segments() {
    let origin = Origin::new(2 * MIB + 1);
    origin.lie(Lie::WholeProbe);
    let server = origin.clone().serve();
    let target = Target::new("whole-probe.bin");
    let done = within(
        TokioClient::new()
            .download(server.url("/file"))
            .connections(2)
            .to_file(&target.0)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(done.segments, 2);
    assert_eq!(target.read(), origin.content);
    let log = origin.log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[1], format!("bytes={}-{}|\"v1\"", MIB, 2 * MIB));
}

#[tokio::test]
async fn a_whole_file_answer_to_a_segment_fails_the_download() {
    let origin = Origin::new(2 * MIB);
    origin.lie(Lie::WholeAfterProbe);
    let server = origin.clone().serve();
    let target = Target::new("whole-after-probe.bin");
    let error = within(
        TokioClient::new()
            .download(server.url("/file"))
            .to_file(&target.0)
            .send(),
    )
    .await
    .unwrap_err();
    assert!(error.is_decode(), "{error:?}");
    assert_eq!(download_error(&error), DownloadError::WholeFileForRange);
}

#[tokio::test]
async fn a_changed_etag_makes_if_range_fail_and_the_download_with_it() {
    let origin = Origin::new(2 * MIB);
    let server = origin.clone().serve();
    let target = Target::new("etag-changed.bin");
    origin.lie(Lie::ChangeAfterProbe);
    // Every segment after the probe carries If-Range "v1"; the origin now has "v2".
    let error = within(
        TokioClient::new()
            .download(server.url("/file"))
            .to_file(&target.0)
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(download_error(&error), DownloadError::WholeFileForRange);
}

#[tokio::test]
async fn a_wrong_or_malformed_content_range_fails_the_download() {
    for lie in [
        Lie::ShiftedRange,
        Lie::WrongTotal,
        Lie::MalformedRange,
        Lie::Byteranges,
    ] {
        let origin = Origin::new(2 * MIB);
        origin.lie(lie);
        let server = origin.clone().serve();
        let target = Target::new(&format!("{lie:?}.bin"));
        let error = within(
            TokioClient::new()
                .download(server.url("/file"))
                .to_file(&target.0)
                .send(),
        )
        .await
        .unwrap_err();
        assert!(error.is_decode(), "{lie:?}: {error:?}");
        match (lie, download_error(&error)) {
            (Lie::ShiftedRange | Lie::WrongTotal, DownloadError::WrongRange { got, .. }) => {
                assert!(matches!(got, ContentRange::Bytes { .. }));
            }
            (Lie::MalformedRange | Lie::Byteranges, DownloadError::ContentRange(_)) => {}
            (lie, other) => panic!("{lie:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_segment_longer_than_its_range_fails_the_download() {
    let origin = Origin::new(2 * MIB);
    origin.lie(Lie::ExtraBytes);
    let server = origin.clone().serve();
    let target = Target::new("extra.bin");
    let error = within(
        TokioClient::new()
            .download(server.url("/file"))
            .to_file(&target.0)
            .send(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(download_error(&error), DownloadError::Length { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_cut_segment_is_requested_again_from_its_last_written_byte() {
    let origin = Origin::new(2 * MIB);
    origin.lie(Lie::CutOnce);
    let server = origin.clone().serve();
    let target = Target::new("cut-once.bin");
    let done = within(
        TokioClient::new()
            .download(server.url("/file"))
            .connections(2)
            .to_file(&target.0)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(done.segments, 2);
    assert_eq!(target.read(), origin.content);
    let log = origin.log();
    let half = MIB as u64;
    // The second segment was cut halfway (512 KiB in), then asked for from there.
    assert!(
        log.contains(&format!("bytes={half}-{}|\"v1\"", 2 * half - 1)),
        "{log:?}"
    );
    let resumed_at = half + half / 2;
    assert!(
        log.iter()
            .any(|l| l.starts_with(&format!("bytes={resumed_at}-"))),
        "{log:?}"
    );
}

#[tokio::test]
async fn an_interrupted_download_resumes_from_its_sidecar_state() {
    let origin = Origin::new(4 * MIB);
    let server = origin.clone().serve();
    let target = Target::new("resumed.bin");
    let third = 2 * MIB as u64;
    *origin.cut_start.lock().unwrap() = third;
    origin.lie(Lie::CutAlways);
    let client = TokioClient::new();
    let start = || {
        client
            .download(server.url("/file"))
            .connections(4)
            .to_file(&target.0)
            .segment_retries(1)
    };
    let error = within(start().send()).await.unwrap_err();
    assert!(error.is_body() || error.is_decode(), "{error:?}");
    assert!(
        sidecar(&target.0).exists(),
        "the interrupted download left its state"
    );

    origin.lie(Lie::None);
    origin.log.lock().unwrap().clear();
    let done = within(start().resume(true).send()).await.unwrap();
    assert!(done.resumed >= MIB as u64 / 2, "{done:?}");
    assert_eq!(target.read(), origin.content);
    let log = origin.log();
    // The cut segment went on from where its data had reached the disk.
    let resumed_at = third + MIB as u64 / 2;
    assert!(
        log.iter()
            .any(|l| l.starts_with(&format!("bytes={resumed_at}-"))),
        "{log:?}"
    );
    assert!(
        !log.iter()
            .any(|l| l.starts_with(&format!("bytes={third}-")))
    );
    assert!(!sidecar(&target.0).exists());
}

#[tokio::test]
async fn resuming_is_refused_when_the_validator_changed() {
    let origin = Origin::new(4 * MIB);
    let server = origin.clone().serve();
    let target = Target::new("refused.bin");
    *origin.cut_start.lock().unwrap() = 2 * MIB as u64;
    origin.lie(Lie::CutAlways);
    let client = TokioClient::new();
    let start = || {
        client
            .download(server.url("/file"))
            .to_file(&target.0)
            .segment_retries(0)
    };
    within(start().send()).await.unwrap_err();
    origin.lie(Lie::None);
    *origin.etag.lock().unwrap() = "\"v2\"".into();
    let error = within(start().resume(true).send()).await.unwrap_err();
    assert_eq!(download_error(&error), DownloadError::Changed);
    // Without resume, the new version is downloaded from scratch.
    within(start().send()).await.unwrap();
    assert_eq!(target.read(), origin.content);
}

#[tokio::test]
async fn a_one_tib_content_range_allocates_nothing_and_fails_on_the_short_body() {
    let origin = Origin::new(16);
    origin.lie(Lie::Huge);
    let server = origin.clone().serve();
    let target = Target::new("huge.bin");
    let error = within(
        TokioClient::new()
            .download(server.url("/file"))
            .connections(1)
            .segment_retries(1)
            .to_file(&target.0)
            .send(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(download_error(&error), DownloadError::Length { .. }),
        "{error:?}"
    );
    // Ten bytes from the probe; the retry, asked from where they ended, announced ten
    // bytes for a range of a TiB and was refused unread.
    assert_eq!(std::fs::metadata(&target.0).unwrap().len(), 10);
    assert_eq!(origin.log()[1], format!("bytes=10-{}|\"v1\"", TIB - 1));
}

#[tokio::test]
async fn dropping_the_download_stops_every_segment() {
    let origin = Origin::new(4 * MIB);
    origin.lie(Lie::Endless);
    let server = origin.clone().serve();
    let target = Target::new("dropped.bin");
    let client = TokioClient::new();
    let download = client
        .download(server.url("/file"))
        .connections(4)
        .to_file(&target.0)
        .send();
    let task = tokio::spawn(download);
    wait_until("four segments streaming", || {
        origin.open_streams.load(Ordering::SeqCst) == 4
    })
    .await;
    task.abort();
    wait_until("every segment's stream closed", || {
        origin.closed_streams.load(Ordering::SeqCst) == 4
    })
    .await;
}

#[tokio::test]
async fn a_writer_gets_the_bytes_in_order_over_one_segment() {
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let origin = Origin::new(3 * MIB);
    let server = origin.clone().serve();
    let sink = Shared::default();
    let done = within(
        TokioClient::new()
            .download(server.url("/file"))
            .connections(4)
            .to_writer(sink.clone())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(done.segments, 1);
    assert_eq!(*sink.0.lock().unwrap(), origin.content);
}

#[tokio::test]
async fn an_empty_file_is_a_416_with_a_zero_length() {
    let server = TestServer::builder()
        .handler(|_request: Request<Bytes>| async move {
            let mut answer = response(416, "");
            answer
                .headers_mut()
                .insert(CONTENT_RANGE, HeaderValue::from_static("bytes */0"));
            answer
        })
        .build();
    let target = Target::new("empty.bin");
    std::fs::write(&target.0, b"old").unwrap();
    let done = within(
        TokioClient::new()
            .download(server.url("/empty"))
            .to_file(&target.0)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(done.length, 0);
    assert!(target.read().is_empty());
}

#[tokio::test]
async fn a_bad_configuration_is_a_builder_error() {
    let client = TokioClient::new();
    let target = Target::new("never.bin");
    let url = "http://127.0.0.1:9/file";
    for download in [
        client.download(url).connections(0).to_file(&target.0),
        client.download(url).connections(1025).to_file(&target.0),
        client.download(url).min_segment_size(0).to_file(&target.0),
        client.download(url),
        client.download(url).to_writer(Vec::new()).resume(true),
        client.download("ftp://example.com/").to_file(&target.0),
    ] {
        let error = within(download.send()).await.unwrap_err();
        assert!(error.is_builder(), "{error:?}");
    }
}

#[tokio::test]
async fn a_target_shorter_than_the_file_at_the_end_fails_the_download() {
    let origin = Origin::new(4 * MIB);
    let server = origin.clone().serve();
    let target = Target::new("truncated.bin");
    // A sidecar that says the last three segments were written, beside a file that lost
    // them: only the first segment is fetched, and the final length check catches the rest.
    let (mib, total) = (MIB as u64, 4 * MIB as u64);
    std::fs::write(&target.0, b"").unwrap();
    std::fs::write(
        sidecar(&target.0),
        format!(
            "towline-download 1\nlength {total}\netag \"v1\"\nsegment 0 {mib} 0\n\
             segment {mib} {} {}\nsegment {} {total} {total}\n",
            2 * mib,
            2 * mib,
            2 * mib
        ),
    )
    .unwrap();
    let error = within(
        TokioClient::new()
            .download(server.url("/file"))
            .to_file(&target.0)
            .resume(true)
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        download_error(&error),
        DownloadError::Length {
            expected: total,
            found: mib
        }
    );
    assert_eq!(origin.log(), ["bytes=0-|"]);
}

#[tokio::test]
async fn an_error_status_fails_the_download_and_leaves_no_file() {
    let server = TestServer::http1();
    let target = Target::new("missing.bin");
    let error = within(
        TokioClient::new()
            .download(server.url("/status/404"))
            .to_file(&target.0)
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.status(), Some(http::StatusCode::NOT_FOUND));
    assert!(!target.0.exists());
}
