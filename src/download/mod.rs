//! Parallel, resumable range downloads: [`Client::download`] fetches one URL over several
//! connections, each a byte range, written at its offset in the target file.
//!
//! ```no_run
//! # #[tokio::main]
//! # async fn main() -> Result<(), towline::Error> {
//! let client = towline::TokioClient::new();
//! let done = client
//!     .download("https://example.com/big.iso")
//!     .connections(4)
//!     .to_file("big.iso")
//!     .resume(true)
//!     .progress(|p| eprintln!("{} of {:?} bytes", p.transferred, p.total))
//!     .send()
//!     .await?;
//! println!("{} bytes in {} segments", done.length, done.segments);
//! # Ok(())
//! # }
//! ```
//!
//! How it goes:
//!
//! - **Probe.** The first request is a `GET` with `Range: bytes=0-` (and
//!   `Accept-Encoding: identity`, so that byte positions are the file's). A `206` gives the
//!   length and a validator — a strong `ETag`, else `Last-Modified`; its body becomes the
//!   first segment's. A `200` means the server ignores ranges: the body is written as one
//!   stream — unless it says `Accept-Ranges: bytes` and has a `Content-Length`, as servers
//!   that answer a range covering the whole file with the whole file do: then its body is
//!   still the first segment's, and the other segments must be `206`s. A `416` with
//!   `bytes */0` is an empty file.
//! - **Segments.** The file is cut into at most [`connections`](DownloadBuilder::connections)
//!   ranges of at least [`min_segment_size`](DownloadBuilder::min_segment_size) bytes, each
//!   fetched with `Range` and `If-Range` (the validator). Every `206` is checked: its
//!   `Content-Range` ([`ContentRange`]) must be exactly the range asked for, of the length
//!   probed, and its body exactly that long. A `200` to a segment's request (the file changed:
//!   `If-Range` failed, or the server stopped honouring ranges) fails the download: a file is
//!   never silently assembled from two versions.
//! - **Writes** go to their offsets (positioned writes on the runtime's blocking threads),
//!   one chunk in flight per segment, so memory is bounded by the number of segments times
//!   a body chunk, whatever the file's size. Nothing is allocated from the announced length.
//! - **Retries.** A request the client's retry layer does not recover, or a body cut short,
//!   is sent again from the segment's last written byte, up to
//!   [`segment_retries`](DownloadBuilder::segment_retries) times in a row without progress.
//!   Without a validator (no strong `ETag`, no `Last-Modified`) segments carry no `If-Range`,
//!   and only the `Content-Range` checks guard against a change, and no sidecar is kept.
//! - **Resume.** While a segmented download to a file runs, a small sidecar
//!   (`<file>.towline-state`: length, validator, each segment's progress) is kept beside it,
//!   after the data it describes was synced to disk. With
//!   [`resume(true)`](DownloadBuilder::resume), an interrupted download continues from there;
//!   when the server's validator or length differ from the sidecar's, it is refused with
//!   [`DownloadError::Changed`]. A finished download removes the sidecar.
//! - **Cancellation.** Every segment runs inside the future [`DownloadBuilder::send`]
//!   returns: dropping it stops them all and closes their connections.
//! - **The end.** The target's length is checked against the probed length.

mod content_range;
mod state;

use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;

use bytes::Bytes;
use http::header::{
    ACCEPT_ENCODING, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, ETAG, IF_RANGE, LAST_MODIFIED,
    RANGE,
};
use http::{HeaderMap, StatusCode};

pub use self::content_range::{ContentRange, ContentRangeError};
use self::state::{Segment, State, Validator};
use crate::blocking_pool::BlockingPool;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::into_url::IntoUrl;
use crate::progress::Progress;
use crate::response::Response;

/// How many bytes a segment writes between two saves of the sidecar state.
const SAVE_EVERY: u64 = 4 * 1024 * 1024;

type Report = Arc<dyn Fn(Progress) + Send + Sync>;

impl Client {
    /// Starts a download of `url` (see [`crate::download`]); finish with
    /// [`DownloadBuilder::send`].
    pub fn download(&self, url: impl IntoUrl) -> DownloadBuilder {
        DownloadBuilder {
            client: self.clone(),
            url: url
                .into_url_and_uri_on(self.inner.base_url.as_ref())
                .map(|(url, _)| url),
            connections: 4,
            min_segment_size: 1024 * 1024,
            target: None,
            resume: false,
            progress: None,
            segment_retries: 3,
            preallocate: false,
            reserve_space: false,
        }
    }
}

/// Configures a download; see the [module docs](self).
#[must_use]
pub struct DownloadBuilder {
    client: Client,
    url: Result<url::Url>,
    connections: usize,
    min_segment_size: u64,
    target: Option<Target>,
    resume: bool,
    progress: Option<Report>,
    segment_retries: u32,
    preallocate: bool,
    reserve_space: bool,
}

enum Target {
    File(PathBuf),
    Writer(Box<dyn Write + Send>),
}

impl fmt::Debug for DownloadBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownloadBuilder")
            .field("url", &self.url.as_ref().map(url::Url::as_str))
            .field("connections", &self.connections)
            .field("min_segment_size", &self.min_segment_size)
            .field("resume", &self.resume)
            .field("preallocate", &self.preallocate)
            .field("reserve_space", &self.reserve_space)
            .finish_non_exhaustive()
    }
}

impl DownloadBuilder {
    /// The most ranges fetched at once, each on its own request (4 by default; 1 to 1024).
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections;
        self
    }

    /// The smallest segment worth a connection of its own (1 MiB by default): a 3 MiB file
    /// is fetched in at most 3 segments.
    pub fn min_segment_size(mut self, bytes: u64) -> Self {
        self.min_segment_size = bytes;
        self
    }

    /// Writes the download to the file at `path`, created or replaced (or continued, with
    /// [`resume`](Self::resume)).
    pub fn to_file(mut self, path: impl AsRef<Path>) -> Self {
        self.target = Some(Target::File(path.as_ref().to_owned()));
        self
    }

    /// Writes the download to `writer`, in order: a writer has no offsets, so the download
    /// is one segment (with retries from the last written byte) and cannot be resumed.
    pub fn to_writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.target = Some(Target::Writer(Box::new(writer)));
        self
    }

    /// Continues an interrupted download to the same file from its sidecar state, when the
    /// server still has the same version of it (off by default: the file is replaced).
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Gives the file its full length as soon as the server has told it, before any range is
    /// written (off by default: the file grows as ranges land). This is `File::set_len`: on
    /// most file systems a sparse file, so it reserves no space; it is for tools that look
    /// for the final size. Only a fresh download to a file that the server sends in ranges
    /// is given its length; a resumed one has it already. A file of full length is never
    /// taken as complete: on [`resume`](Self::resume), only the sidecar says what was
    /// written.
    pub fn preallocate(mut self, enabled: bool) -> Self {
        self.preallocate = enabled;
        self
    }

    /// With [`preallocate`](Self::preallocate), also reserves the file's blocks on disk, so
    /// a full disk fails the download at its start rather than in its middle (off by
    /// default). On Linux this is `fallocate(2)`; where the file system or the platform has
    /// no such call, the file gets its length only, as with `preallocate` alone.
    pub fn reserve_space(mut self, enabled: bool) -> Self {
        self.reserve_space = enabled;
        self
    }

    /// Reports the bytes written so far, of the total, after each chunk.
    pub fn progress(mut self, report: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(report));
        self
    }

    /// How many times in a row a segment is requested again, from its last written byte,
    /// after a failure that brought no new bytes (3 by default; any progress starts the count
    /// again). A wrong answer (a `200`, a wrong `Content-Range`, a body too long) is not
    /// retried.
    pub fn segment_retries(mut self, retries: u32) -> Self {
        self.segment_retries = retries;
        self
    }

    /// Runs the download.
    ///
    /// # Errors
    ///
    /// A builder error for a bad URL or configuration (no target, zero or over 1024
    /// connections, a zero segment size, `resume` with a writer); the client's errors for
    /// the requests; a status error for an answer that is neither `200` nor `206` (nor a
    /// `416` for an empty file); a decode error with a [`DownloadError`] source when the
    /// server's answers do not fit together; a body error for the target's IO.
    pub async fn send(self) -> Result<Downloaded> {
        let url = self.url?;
        if !(1..=state::MAX_SEGMENTS).contains(&self.connections) {
            return Err(Error::builder(
                "download connections must be from 1 to 1024",
            ));
        }
        if self.min_segment_size == 0 {
            return Err(Error::builder("download min_segment_size must not be zero"));
        }
        let Some(target) = self.target else {
            return Err(Error::builder(
                "download has no target: call to_file or to_writer",
            ));
        };
        if self.resume && matches!(target, Target::Writer(_)) {
            return Err(Error::builder("a download to a writer cannot be resumed"));
        }
        // The target is opened once the server answered, so a failed probe leaves no file.
        let probe = range_request(&self.client, &url, 0, None, None).await?;
        if !matches!(
            probe.status(),
            StatusCode::OK | StatusCode::PARTIAL_CONTENT | StatusCode::RANGE_NOT_SATISFIABLE
        ) {
            return Err(Error::from_status(probe.status(), url));
        }
        let blocking = self.client.blocking_pool().clone();
        let (output, path) = match target {
            Target::File(path) => {
                let opened = path.clone();
                let file = blocking
                    .run(move || {
                        std::fs::OpenOptions::new()
                            .create(true)
                            .truncate(false)
                            .write(true)
                            .open(opened)
                    })
                    .await
                    .and_then(|opened| opened)
                    .map_err(Error::body)?;
                (Output::File(Arc::new(file)), Some(path))
            }
            Target::Writer(writer) => (Output::Writer(Arc::new(Mutex::new(writer))), None),
        };
        let saved = match (&path, self.resume) {
            (Some(path), true) => {
                let path = path.clone();
                blocking
                    .run(move || state::load(&path))
                    .await
                    .and_then(|loaded| loaded)
                    .map_err(Error::body)?
            }
            _ => None,
        };
        let job = Job {
            client: self.client,
            url,
            blocking,
            output,
            path,
            report: self.progress,
            transferred: AtomicU64::new(0),
            segment_retries: self.segment_retries,
        };
        let total = match probe.status() {
            StatusCode::PARTIAL_CONTENT => match content_range(probe.headers())? {
                ContentRange::Bytes {
                    first: 0,
                    last,
                    complete: Some(complete),
                } if last.checked_add(1) == Some(complete) => complete,
                got => {
                    return Err(Error::decode(DownloadError::WrongRange {
                        asked: (0, None),
                        got,
                    }));
                }
            },
            // Some servers answer a range that covers the whole file with the whole file
            // (httpbin does), and still serve smaller ranges: their `Accept-Ranges: bytes`
            // and a known length are worth segments, each of which must then be a 206.
            StatusCode::OK => match probe.content_length() {
                Some(length) if length > 0 && accepts_byte_ranges(probe.headers()) => length,
                _ => return job.single_stream(probe).await,
            },
            _ => {
                let range = content_range(probe.headers());
                return job.empty(range).await;
            }
        };
        let validator = validator(probe.headers());
        let segments = match saved {
            Some(saved) => {
                if validator.as_ref() != Some(&saved.validator) || saved.length != total {
                    return Err(Error::decode(DownloadError::Changed));
                }
                saved.segments
            }
            None => {
                job.output.truncate(&job.blocking).await?;
                if self.preallocate {
                    job.output
                        .allocate(&job.blocking, total, self.reserve_space)
                        .await?;
                }
                plan(total, self.connections, self.min_segment_size, &job.output)
            }
        };
        job.segmented(probe, total, validator, segments).await
    }
}

/// What a finished download did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Downloaded {
    /// The file's length.
    pub length: u64,
    /// How many ranges it was fetched in; 0 when the server ignored ranges and sent it whole.
    pub segments: usize,
    /// The bytes already there from an interrupted download.
    pub resumed: u64,
}

/// Why a download's answers do not fit together: the source of a decode error
/// ([`Error::is_decode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownloadError {
    /// A `Content-Range` that does not parse, or is missing from a `206`.
    ContentRange(ContentRangeError),
    /// A `206` for another range than the one asked for (`(first, last)`; `last` open for
    /// the probe), or of another total length.
    WrongRange {
        /// The range asked for.
        asked: (u64, Option<u64>),
        /// The range answered.
        got: ContentRange,
    },
    /// A `200` (the whole file) to a segment's range request: the file changed since the
    /// probe, or the server stopped honouring ranges.
    WholeFileForRange,
    /// A body longer or shorter than its range or `Content-Length`, or a target whose final
    /// length is not the file's.
    Length {
        /// The length expected.
        expected: u64,
        /// The length found.
        found: u64,
    },
    /// The server's validator or length differ from the interrupted download's: resuming
    /// would mix two versions of the file. Remove the file (or resume off) to start over.
    Changed,
}

impl fmt::Display for DownloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ContentRange(error) => error.fmt(f),
            Self::WrongRange { asked, got } => write!(
                f,
                "asked for bytes {}-{} and got {got:?}",
                asked.0,
                asked.1.map(|last| last.to_string()).unwrap_or_default()
            ),
            Self::WholeFileForRange => {
                f.write_str("the server answered a range request with the whole file")
            }
            Self::Length { expected, found } => {
                write!(f, "expected {expected} bytes, found {found}")
            }
            Self::Changed => f.write_str(
                "the file changed on the server since the interrupted download: not resuming",
            ),
        }
    }
}

impl std::error::Error for DownloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ContentRange(error) => Some(error),
            _ => None,
        }
    }
}

fn content_range(headers: &HeaderMap) -> Result<ContentRange> {
    let value = headers
        .get(CONTENT_RANGE)
        .ok_or_else(|| Error::decode(DownloadError::ContentRange(ContentRangeError::missing())))?;
    ContentRange::parse(value.as_bytes())
        .map_err(|error| Error::decode(DownloadError::ContentRange(error)))
}

fn accepts_byte_ranges(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_RANGES)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|unit| unit.trim().eq_ignore_ascii_case("bytes"))
}

/// A `GET` for bytes `first-last` (`first-` when `last` is `None`), with `If-Range` when
/// there is a validator, asking for the bytes as stored (`identity`), so that positions are
/// the file's.
async fn range_request(
    client: &Client,
    url: &url::Url,
    first: u64,
    last: Option<u64>,
    validator: Option<&Validator>,
) -> Result<Response> {
    let range = match last {
        Some(last) => format!("bytes={first}-{last}"),
        None => format!("bytes={first}-"),
    };
    let mut request = client
        .get(url.clone())
        .header(RANGE, range)
        .header(ACCEPT_ENCODING, "identity")
        .no_decompression();
    if let Some(validator) = validator {
        request = request.header(IF_RANGE, validator.value());
    }
    request.send().await
}

/// A strong `ETag`, else `Last-Modified`: what `If-Range` may carry.
fn validator(headers: &HeaderMap) -> Option<Validator> {
    let text = |name| headers.get(name)?.to_str().ok().map(str::to_owned);
    match text(ETAG) {
        Some(tag) if !tag.starts_with("W/") && !tag.is_empty() => Some(Validator::ETag(tag)),
        _ => text(LAST_MODIFIED)
            .filter(|date| !date.is_empty())
            .map(Validator::LastModified),
    }
}

/// Cuts `0..total` into equal segments: as many as `connections`, none under
/// `min_segment_size` (one for a writer).
fn plan(total: u64, connections: usize, min_segment_size: u64, output: &Output) -> Vec<Segment> {
    let worth = total.div_ceil(min_segment_size).max(1);
    let count = match output {
        Output::Writer(_) => 1,
        Output::File(_) => worth.min(connections as u64),
    };
    (0..count)
        .map(|i| {
            let at = |i: u64| (u128::from(total) * u128::from(i) / u128::from(count)) as u64;
            Segment {
                start: at(i),
                end: at(i + 1),
                next: at(i),
            }
        })
        .collect()
}

/// Reserves `length` bytes of blocks for `file` (which also gives it that length); whether
/// the platform and the file system could.
#[cfg(target_os = "linux")]
fn reserve_blocks(file: &File, length: u64) -> std::io::Result<bool> {
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, length) {
        Ok(()) => Ok(true),
        // The file system has no fallocate: the length alone will do.
        Err(rustix::io::Errno::OPNOTSUPP) => Ok(false),
        Err(errno) => Err(errno.into()),
    }
}

/// Reserves `length` bytes of blocks for `file`; whether the platform could (it cannot here).
#[cfg(not(target_os = "linux"))]
fn reserve_blocks(_file: &File, _length: u64) -> std::io::Result<bool> {
    Ok(false)
}

enum Output {
    File(Arc<File>),
    Writer(Arc<Mutex<Box<dyn Write + Send>>>),
}

impl Output {
    async fn write_at(&self, blocking: &BlockingPool, offset: u64, data: Bytes) -> Result<()> {
        let written = match self {
            Output::File(file) => {
                let file = file.clone();
                blocking
                    .run(move || write_all_at(&file, &data, offset))
                    .await
            }
            // One segment, so `offset` is always where the writer is.
            Output::Writer(writer) => {
                let writer = writer.clone();
                blocking
                    .run(move || {
                        writer
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .write_all(&data)
                    })
                    .await
            }
        };
        written.and_then(|written| written).map_err(Error::body)
    }

    async fn truncate(&self, blocking: &BlockingPool) -> Result<()> {
        self.set_len(blocking, 0).await
    }

    /// Gives a file target its length, its blocks reserved on disk too when `reserve` (see
    /// [`DownloadBuilder::reserve_space`]); a writer has no length.
    async fn allocate(&self, blocking: &BlockingPool, length: u64, reserve: bool) -> Result<()> {
        if let Output::File(file) = self {
            let file = file.clone();
            blocking
                .run(move || {
                    if reserve && reserve_blocks(&file, length)? {
                        return Ok(());
                    }
                    file.set_len(length)
                })
                .await
                .and_then(|done| done)
                .map_err(Error::body)?;
        }
        Ok(())
    }

    /// Sets a file target's length (a writer has none).
    async fn set_len(&self, blocking: &BlockingPool, length: u64) -> Result<()> {
        if let Output::File(file) = self {
            let file = file.clone();
            blocking
                .run(move || file.set_len(length))
                .await
                .and_then(|done| done)
                .map_err(Error::body)?;
        }
        Ok(())
    }

    /// Flushes the target and checks its length (a file's; a writer's is what was written).
    async fn finish(&self, blocking: &BlockingPool, expected: u64, written: u64) -> Result<()> {
        let found = match self {
            Output::File(file) => {
                let file = file.clone();
                blocking
                    .run(move || {
                        file.sync_all()?;
                        Ok(file.metadata()?.len())
                    })
                    .await
                    .and_then(|length: io::Result<u64>| length)
                    .map_err(Error::body)?
            }
            Output::Writer(writer) => {
                let writer = writer.clone();
                blocking
                    .run(move || {
                        writer
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .flush()
                    })
                    .await
                    .and_then(|flushed| flushed)
                    .map_err(Error::body)?;
                written
            }
        };
        if found == expected {
            Ok(())
        } else {
            Err(Error::decode(DownloadError::Length { expected, found }))
        }
    }
}

#[cfg(unix)]
fn write_all_at(file: &File, data: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, data, offset)
}

#[cfg(windows)]
fn write_all_at(file: &File, mut data: &[u8], mut offset: u64) -> io::Result<()> {
    while !data.is_empty() {
        let written = std::os::windows::fs::FileExt::seek_write(file, data, offset)?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[written..];
        offset += written as u64;
    }
    Ok(())
}

/// One download's shared parts.
struct Job {
    client: Client,
    url: url::Url,
    blocking: BlockingPool,
    output: Output,
    path: Option<PathBuf>,
    report: Option<Report>,
    transferred: AtomicU64,
    segment_retries: u32,
}

/// A segment as it runs: where it ends and how far it got, which the sidecar state saves.
struct Running {
    start: u64,
    end: u64,
    next: AtomicU64,
}

impl Job {
    async fn request(
        &self,
        first: u64,
        last: Option<u64>,
        validator: Option<&Validator>,
    ) -> Result<Response> {
        range_request(&self.client, &self.url, first, last, validator).await
    }

    fn advance(&self, bytes: u64, total: Option<u64>) {
        let transferred = self.transferred.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(report) = &self.report {
            report(Progress { transferred, total });
        }
    }

    /// The server ignored the range: the body, whole, in order, from the start.
    async fn single_stream(self, mut response: Response) -> Result<Downloaded> {
        self.output.truncate(&self.blocking).await?;
        if let Some(path) = self.path.clone() {
            self.blocking
                .run(move || state::remove(&path))
                .await
                .and_then(|removed| removed)
                .map_err(Error::body)?;
        }
        let announced = response.content_length();
        let mut written = 0u64;
        while let Some(data) = response.chunk().await? {
            let length = data.len() as u64;
            self.output.write_at(&self.blocking, written, data).await?;
            written += length;
            self.advance(length, announced);
        }
        self.output
            .finish(&self.blocking, announced.unwrap_or(written), written)
            .await?;
        Ok(Downloaded {
            length: written,
            segments: 0,
            resumed: 0,
        })
    }

    /// A `416` to `bytes=0-` with this `Content-Range`: fine for an empty file only.
    async fn empty(self, range: Result<ContentRange>) -> Result<Downloaded> {
        match range {
            Ok(ContentRange::Unsatisfied { complete: 0 }) => {
                self.output.truncate(&self.blocking).await?;
                self.output.finish(&self.blocking, 0, 0).await?;
                Ok(Downloaded {
                    length: 0,
                    segments: 0,
                    resumed: 0,
                })
            }
            _ => Err(Error::from_status(
                StatusCode::RANGE_NOT_SATISFIABLE,
                self.url,
            )),
        }
    }

    async fn segmented(
        self,
        probe: Response,
        total: u64,
        validator: Option<Validator>,
        segments: Vec<Segment>,
    ) -> Result<Downloaded> {
        let resumed: u64 = segments.iter().map(|s| s.next - s.start).sum();
        self.transferred.store(resumed, Ordering::Relaxed);
        let running: Arc<Vec<Running>> = Arc::new(
            segments
                .iter()
                .map(|s| Running {
                    start: s.start,
                    end: s.end,
                    next: AtomicU64::new(s.next),
                })
                .collect(),
        );
        // A sidecar only when there is a file to resume and a validator to resume it with.
        let saver = match (&self.path, &validator, &self.output) {
            (Some(path), Some(validator), Output::File(file)) => Some(Arc::new(Saver {
                path: path.clone(),
                file: file.clone(),
                length: total,
                validator: validator.clone(),
                segments: running.clone(),
                lock: Mutex::new(()),
            })),
            _ => None,
        };
        let job = Arc::new(self);
        let validator = validator.map(Arc::new);
        let mut probe = Some(probe);
        let mut tasks: Vec<Pin<Box<dyn Future<Output = Result<()>> + Send>>> = Vec::new();
        for index in 0..running.len() {
            let segment = SegmentJob {
                job: job.clone(),
                running: running.clone(),
                index,
                saver: saver.clone(),
                validator: validator.clone(),
                total,
            };
            let first = match running[index].next.load(Ordering::Relaxed) {
                0 => probe.take(),
                _ => None,
            };
            tasks.push(Box::pin(segment.fetch(first)));
        }
        drop(probe);
        let outcome = all(tasks).await;
        if let Some(saver) = &saver {
            saver.save(&job.blocking).await?;
        }
        outcome?;
        job.output
            .finish(
                &job.blocking,
                total,
                job.transferred.load(Ordering::Relaxed),
            )
            .await?;
        if let Some(path) = job.path.clone() {
            job.blocking
                .run(move || state::remove(&path))
                .await
                .and_then(|removed| removed)
                .map_err(Error::body)?;
        }
        Ok(Downloaded {
            length: total,
            segments: running.len(),
            resumed,
        })
    }
}

/// Writes the sidecar state.
struct Saver {
    path: PathBuf,
    file: Arc<File>,
    length: u64,
    validator: Validator,
    segments: Arc<Vec<Running>>,
    /// One save at a time, so the newest positions are the last written.
    lock: Mutex<()>,
}

impl Saver {
    /// Syncs the data written so far, then records the positions.
    async fn save(self: &Arc<Self>, blocking: &BlockingPool) -> Result<()> {
        let saver = self.clone();
        blocking
            .run(move || {
                let _one_at_a_time = saver.lock.lock().unwrap_or_else(PoisonError::into_inner);
                let state = State {
                    length: saver.length,
                    validator: saver.validator.clone(),
                    segments: saver
                        .segments
                        .iter()
                        .map(|s| Segment {
                            start: s.start,
                            end: s.end,
                            next: s.next.load(Ordering::Relaxed),
                        })
                        .collect(),
                };
                saver.file.sync_data()?;
                state::save(&saver.path, &state)
            })
            .await
            .and_then(|saved| saved)
            .map_err(Error::body)
    }
}

/// One segment's part of a download.
struct SegmentJob {
    job: Arc<Job>,
    running: Arc<Vec<Running>>,
    index: usize,
    saver: Option<Arc<Saver>>,
    validator: Option<Arc<Validator>>,
    total: u64,
}

/// How an attempt at a segment failed.
enum Failure {
    /// A network accident: worth another request from the last written byte.
    Retry(Error),
    /// A wrong answer or a failed write: another request would not help.
    Fatal(Error),
}

impl SegmentJob {
    /// Fetches the segment from its position to its end, requesting it again (from the last
    /// byte written) after a failure: up to `segment_retries` times in a row without
    /// progress. `first` is the probe's answer, for the segment at 0.
    async fn fetch(self, mut first: Option<Response>) -> Result<()> {
        let segment = &self.running[self.index];
        let mut failures = 0u32;
        loop {
            let before = segment.next.load(Ordering::Relaxed);
            if before >= segment.end {
                return Ok(());
            }
            let error = match self.attempt(first.take()).await {
                Ok(()) if segment.next.load(Ordering::Relaxed) >= segment.end => return Ok(()),
                // The body ended early without an error: a short answer.
                Ok(()) => Error::decode(DownloadError::Length {
                    expected: segment.end - before,
                    found: segment.next.load(Ordering::Relaxed) - before,
                }),
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::Retry(error)) => error,
            };
            if segment.next.load(Ordering::Relaxed) > before {
                failures = 0;
            }
            failures += 1;
            if failures > self.job.segment_retries {
                return Err(error);
            }
        }
    }

    /// One request for the rest of the segment (or the probe's answer), written until its
    /// body ends or the segment is complete.
    async fn attempt(&self, probe: Option<Response>) -> std::result::Result<(), Failure> {
        let segment = &self.running[self.index];
        let (next, end) = (segment.next.load(Ordering::Relaxed), segment.end);
        // The probe asked for `0-`: its body runs past this segment, and is dropped there.
        let open_ended = probe.is_some();
        let mut response = match probe {
            Some(probe) => probe,
            None => {
                let response = self
                    .job
                    .request(next, Some(end - 1), self.validator.as_deref())
                    .await
                    .map_err(Failure::Retry)?;
                check_segment(response, next, end, self.total, &self.job.url)
                    .map_err(Failure::Fatal)?
            }
        };
        let mut unsaved = 0u64;
        while let Some(mut data) = response.chunk().await.map_err(Failure::Retry)? {
            let at = segment.next.load(Ordering::Relaxed);
            let room = end - at;
            if data.len() as u64 > room {
                if !open_ended {
                    return Err(Failure::Fatal(Error::decode(DownloadError::Length {
                        expected: end - next,
                        found: at - next + data.len() as u64,
                    })));
                }
                data.truncate(room as usize);
            }
            let length = data.len() as u64;
            let job = &self.job;
            job.output
                .write_at(&job.blocking, at, data)
                .await
                .map_err(Failure::Fatal)?;
            segment.next.store(at + length, Ordering::Relaxed);
            job.advance(length, Some(self.total));
            unsaved += length;
            if let Some(saver) = &self.saver
                && unsaved >= SAVE_EVERY
            {
                unsaved = 0;
                saver.save(&job.blocking).await.map_err(Failure::Fatal)?;
            }
            // A segment's own answer is read to its end, so that a body longer than its
            // range is caught; the probe's is dropped where the segment ends.
            if open_ended && at + length == end {
                break;
            }
        }
        Ok(())
    }
}

/// Checks a segment's answer: a `206` for exactly `next..end` of `total` bytes.
fn check_segment(
    response: Response,
    next: u64,
    end: u64,
    total: u64,
    url: &url::Url,
) -> Result<Response> {
    match response.status() {
        StatusCode::PARTIAL_CONTENT => {}
        StatusCode::OK => return Err(Error::decode(DownloadError::WholeFileForRange)),
        status => return Err(Error::from_status(status, url.clone())),
    }
    let got = content_range(response.headers())?;
    let expected = ContentRange::Bytes {
        first: next,
        last: end - 1,
        complete: Some(total),
    };
    if got != expected {
        return Err(Error::decode(DownloadError::WrongRange {
            asked: (next, Some(end - 1)),
            got,
        }));
    }
    if let Some(length) = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        && length != end - next
    {
        return Err(Error::decode(DownloadError::Length {
            expected: end - next,
            found: length,
        }));
    }
    Ok(response)
}

/// Runs `tasks` together until all succeed or one fails; the first error drops the others.
async fn all(mut tasks: Vec<Pin<Box<dyn Future<Output = Result<()>> + Send>>>) -> Result<()> {
    std::future::poll_fn(|cx| {
        let mut index = 0;
        while index < tasks.len() {
            match tasks[index].as_mut().poll(cx) {
                Poll::Ready(Ok(())) => {
                    drop(tasks.swap_remove(index));
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => index += 1,
            }
        }
        if tasks.is_empty() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await
}
