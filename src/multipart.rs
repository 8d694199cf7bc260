//! `multipart/form-data` request bodies (RFC 7578), in reqwest's shape: a [`Form`] of named
//! [`Part`]s, sent with [`RequestBuilder::multipart`](crate::RequestBuilder::multipart).
//!
//! - **Parts**: text ([`Form::text`], [`Part::text`]), bytes ([`Part::bytes`]), files streamed
//!   from disk ([`Form::file`], [`Part::file`]: read a chunk at a time on the runtime's
//!   blocking threads, never whole into memory) and any streaming [`Body`]
//!   ([`Part::stream`], [`Part::stream_with_length`]); each with an optional file name, MIME
//!   type and headers of its own.
//! - **Names cannot inject anything**: field names and file names are written the way the
//!   WHATWG HTML standard encodes `multipart/form-data`, with CR, LF and `"` percent-encoded
//!   as `%0D`, `%0A` and `%22`, so a name can never end its header line, add a header or
//!   start a part. Per-part headers are `HeaderValue`s, which cannot hold CR or LF.
//! - **The boundary** is 48 hex digits from the operating system's CSPRNG (`getrandom`), so
//!   content cannot guess it.
//! - **Length**: when every part's length is known (text, bytes, files, and streams with a
//!   known length), the body's exact size is known and the request carries a
//!   `Content-Length`; otherwise it is sent chunked (HTTP/1.1). A file or stream that yields
//!   more or fewer bytes than it announced fails the request rather than corrupt the form.
//! - **Sending again**: a form whose parts are all in memory is one buffered body, which
//!   307/308 redirects, retries and Digest authentication send again whenever they must. A
//!   form with a file or stream part is a stream: those layers replay it up to their replay
//!   cap, and past it the request fails with an error that says the body cannot be replayed
//!   — it is never re-sent empty or truncated.
//!
//! ```
//! use http_body_util::BodyExt;
//! use towline::multipart::{Form, Part};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let form = Form::new()
//!     .text("title", "Notes")
//!     .part(
//!         "upload",
//!         Part::bytes(&b"hello"[..]).file_name("a\"b.txt").mime_str("text/plain")?,
//!     );
//! let boundary = form.boundary().to_owned();
//! assert_eq!(form.content_type(), format!("multipart/form-data; boundary={boundary}"));
//! let length = form.content_length();
//!
//! let bytes = form.into_body().collect().await?.to_bytes();
//! assert_eq!(length, Some(bytes.len() as u64));
//! let text = String::from_utf8(bytes.to_vec())?;
//! // The quote in the file name is percent-encoded: it cannot close the parameter.
//! assert!(text.contains(r#"name="upload"; filename="a%22b.txt""#));
//! assert!(text.ends_with(&format!("--{boundary}--\r\n")));
//! # Ok(())
//! # }
//! ```
//!
//! To send a form with a client or stack of your own, set the header from
//! [`Form::content_type`] and send [`Form::into_body`], an `http_body::Body`.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use mime::Mime;

use crate::blocking::Blocking;
use crate::body::Body;
use crate::error::{BoxError, Error, Result};

/// How much of a file part is read (and held) at a time.
const FILE_CHUNK: u64 = 64 * 1024;

/// A `multipart/form-data` form: named parts, sent in the order they were added.
pub struct Form {
    boundary: String,
    parts: Vec<(Cow<'static, str>, Part)>,
}

/// One part of a [`Form`]: its value, and optionally a file name, a MIME type and headers.
pub struct Part {
    value: Value,
    mime: Option<Mime>,
    file_name: Option<Cow<'static, str>>,
    headers: HeaderMap,
}

enum Value {
    Bytes(Bytes),
    Stream { body: Body, length: Option<u64> },
    File { file: File, length: u64 },
}

impl Value {
    fn length(&self) -> Option<u64> {
        match self {
            Self::Bytes(bytes) => Some(bytes.len() as u64),
            Self::Stream { length, .. } => *length,
            Self::File { length, .. } => Some(*length),
        }
    }
}

impl Default for Form {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Form")
            .field("boundary", &self.boundary)
            .field("parts", &self.parts)
            .finish()
    }
}

impl Form {
    /// An empty form with a fresh random boundary.
    pub fn new() -> Self {
        Self {
            boundary: random_boundary(),
            parts: Vec::new(),
        }
    }

    /// The boundary between the parts.
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// The `Content-Type` to send the form with: `multipart/form-data; boundary=…`.
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// Adds a text field.
    pub fn text<T, U>(self, name: T, value: U) -> Self
    where
        T: Into<Cow<'static, str>>,
        U: Into<Cow<'static, str>>,
    {
        self.part(name, Part::text(value))
    }

    /// Adds a part.
    pub fn part<T>(mut self, name: T, part: Part) -> Self
    where
        T: Into<Cow<'static, str>>,
    {
        self.parts.push((name.into(), part));
        self
    }

    /// Adds the file at `path` as a part (see [`Part::file`]).
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or is not a regular file.
    pub async fn file<T, U>(self, name: T, path: U) -> io::Result<Self>
    where
        T: Into<Cow<'static, str>>,
        U: AsRef<Path>,
    {
        Ok(self.part(name, Part::file(path).await?))
    }

    /// The size of the encoded form in bytes, when every part's length is known.
    pub fn content_length(&self) -> Option<u64> {
        let mut total = closing(&self.boundary).len() as u64;
        for (name, part) in &self.parts {
            let head = part_head(&self.boundary, name, part).len() as u64;
            total = total
                .checked_add(head)?
                .checked_add(part.value.length()?)?
                .checked_add(2)?;
        }
        Some(total)
    }

    /// The encoded form as an `http_body::Body`, whose size hint is exact when
    /// [`content_length`](Self::content_length) is known. File parts are read on the default
    /// runtime's blocking threads as the body is polled.
    pub fn into_body(self) -> MultipartBody {
        self.into_stream(Blocking::default_runtime())
    }

    /// The form as a request body, with file parts read on `blocking`: one buffered body when
    /// every part is in memory (so that it can be sent again), a stream otherwise.
    pub(crate) fn into_request_body(self, blocking: &Blocking) -> Body {
        if !self
            .parts
            .iter()
            .all(|(_, part)| matches!(part.value, Value::Bytes(_)))
        {
            return Body::wrap(self.into_stream(blocking.clone()));
        }
        let mut buffer = BytesMut::new();
        if let Some(length) = self.content_length().and_then(|n| usize::try_from(n).ok()) {
            buffer.reserve(length);
        }
        for (name, part) in &self.parts {
            buffer.extend_from_slice(&part_head(&self.boundary, name, part));
            if let Value::Bytes(bytes) = &part.value {
                buffer.extend_from_slice(bytes);
            }
            buffer.extend_from_slice(b"\r\n");
        }
        buffer.extend_from_slice(&closing(&self.boundary));
        Body::from(buffer.freeze())
    }

    fn into_stream(self, blocking: Blocking) -> MultipartBody {
        let remaining = self.content_length();
        let mut pieces = VecDeque::with_capacity(self.parts.len() * 3 + 1);
        for (name, part) in self.parts {
            pieces.push_back(Piece::Bytes(part_head(&self.boundary, &name, &part)));
            pieces.push_back(match part.value {
                Value::Bytes(bytes) => Piece::Bytes(bytes),
                Value::Stream { body, length } => Piece::Stream {
                    name: name.clone(),
                    body,
                    expected: length,
                    seen: 0,
                },
                Value::File { file, length } => Piece::File {
                    name: name.clone(),
                    file: Some(file),
                    left: length,
                },
            });
            pieces.push_back(Piece::Bytes(Bytes::from_static(b"\r\n")));
        }
        pieces.push_back(Piece::Bytes(closing(&self.boundary)));
        MultipartBody {
            pieces,
            remaining,
            blocking,
            reading: None,
        }
    }
}

impl fmt::Debug for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = match &self.value {
            Value::Bytes(_) => "bytes",
            Value::Stream { .. } => "stream",
            Value::File { .. } => "file",
        };
        f.debug_struct("Part")
            .field("value", &value)
            .field("length", &self.value.length())
            .field("mime", &self.mime)
            .field("file_name", &self.file_name)
            .field("headers", &self.headers)
            .finish()
    }
}

impl Part {
    fn new(value: Value) -> Self {
        Self {
            value,
            mime: None,
            file_name: None,
            headers: HeaderMap::new(),
        }
    }

    /// A text part.
    pub fn text<T: Into<Cow<'static, str>>>(value: T) -> Self {
        Self::new(Value::Bytes(match value.into() {
            Cow::Borrowed(text) => Bytes::from_static(text.as_bytes()),
            Cow::Owned(text) => Bytes::from(text),
        }))
    }

    /// A part of bytes.
    pub fn bytes<T: Into<Cow<'static, [u8]>>>(value: T) -> Self {
        Self::new(Value::Bytes(match value.into() {
            Cow::Borrowed(bytes) => Bytes::from_static(bytes),
            Cow::Owned(bytes) => Bytes::from(bytes),
        }))
    }

    /// A part streamed from `value`. Its length is known when the body's size hint is exact;
    /// a body held in memory counts as buffered.
    pub fn stream<T: Into<Body>>(value: T) -> Self {
        let body = value.into();
        if let Some(bytes) = body.as_bytes() {
            return Self::new(Value::Bytes(Bytes::copy_from_slice(bytes)));
        }
        let length = http_body::Body::size_hint(&body).exact();
        Self::new(Value::Stream { body, length })
    }

    /// A part streamed from `value`, announced as `length` bytes long (so the form can have a
    /// `Content-Length`). A stream that yields another number of bytes fails the request.
    pub fn stream_with_length<T: Into<Body>>(value: T, length: u64) -> Self {
        Self::new(Value::Stream {
            body: value.into(),
            length: Some(length),
        })
    }

    /// The file at `path`, streamed from disk as the form is sent. The file is opened and its
    /// length read now; its file name is the path's last component and its MIME type is
    /// guessed from the extension (`application/octet-stream` when unknown).
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or is not a regular file.
    pub async fn file<T: AsRef<Path>>(path: T) -> io::Result<Self> {
        let path = path.as_ref();
        let file = File::open(path)?;
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", path.display()),
            ));
        }
        let mut part = Self::new(Value::File {
            file,
            length: metadata.len(),
        });
        part.mime = Some(mime_guess::from_path(path).first_or_octet_stream());
        part.file_name = path
            .file_name()
            .map(|name| Cow::Owned(name.to_string_lossy().into_owned()));
        Ok(part)
    }

    /// Sets the part's MIME type (its `Content-Type`).
    ///
    /// # Errors
    ///
    /// A builder error ([`Error::is_builder`]) when `mime` is not a MIME type.
    pub fn mime_str(mut self, mime: &str) -> Result<Self> {
        self.mime = Some(mime.parse::<Mime>().map_err(Error::builder)?);
        Ok(self)
    }

    /// Sets the part's file name (the `filename` parameter of its `Content-Disposition`).
    pub fn file_name<T: Into<Cow<'static, str>>>(mut self, file_name: T) -> Self {
        self.file_name = Some(file_name.into());
        self
    }

    /// Sets headers of the part's own, sent after its `Content-Disposition` and
    /// `Content-Type`.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }
}

/// The `multipart/form-data` body of a [`Form`] (see [`Form::into_body`]).
pub struct MultipartBody {
    pieces: VecDeque<Piece>,
    /// Bytes still to come, when every part's length is known.
    remaining: Option<u64>,
    blocking: Blocking,
    reading: Option<FileRead>,
}

/// A read of a file part's next chunk on a blocking thread: the file back, and the chunk.
type FileRead = Pin<Box<dyn Future<Output = io::Result<(File, io::Result<Bytes>)>> + Send>>;

impl fmt::Debug for MultipartBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultipartBody")
            .field("pieces", &self.pieces.len())
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

enum Piece {
    Bytes(Bytes),
    Stream {
        name: Cow<'static, str>,
        body: Body,
        expected: Option<u64>,
        seen: u64,
    },
    File {
        name: Cow<'static, str>,
        file: Option<File>,
        left: u64,
    },
}

impl MultipartBody {
    fn data(&mut self, bytes: Bytes) -> Poll<Option<std::result::Result<Frame<Bytes>, BoxError>>> {
        if let Some(remaining) = &mut self.remaining {
            *remaining = remaining.saturating_sub(bytes.len() as u64);
        }
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }
}

impl http_body::Body for MultipartBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            let Some(piece) = this.pieces.front_mut() else {
                return Poll::Ready(None);
            };
            match piece {
                Piece::Bytes(bytes) => {
                    let bytes = std::mem::take(bytes);
                    this.pieces.pop_front();
                    if !bytes.is_empty() {
                        return this.data(bytes);
                    }
                }
                Piece::Stream {
                    name,
                    body,
                    expected,
                    seen,
                } => match ready!(Pin::new(body).poll_frame(cx)) {
                    Some(Ok(frame)) => {
                        let Ok(data) = frame.into_data() else {
                            continue; // a part has no trailers of its own
                        };
                        *seen = seen.saturating_add(data.len() as u64);
                        if expected.is_some_and(|expected| *seen > expected) {
                            return Poll::Ready(Some(Err(wrong_length(name, *expected, *seen))));
                        }
                        if !data.is_empty() {
                            return this.data(data);
                        }
                    }
                    Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                    None => {
                        if expected.is_some_and(|expected| *seen != expected) {
                            return Poll::Ready(Some(Err(wrong_length(name, *expected, *seen))));
                        }
                        this.pieces.pop_front();
                    }
                },
                Piece::File { name, file, left } => {
                    if *left == 0 {
                        this.pieces.pop_front();
                        continue;
                    }
                    if this.reading.is_none() {
                        let Some(mut file) = file.take() else {
                            return Poll::Ready(Some(Err(BoxError::from(format!(
                                "reading multipart file part {name:?} failed before"
                            )))));
                        };
                        let want = (*left).min(FILE_CHUNK);
                        this.reading = Some(Box::pin(this.blocking.run(move || {
                            let mut chunk = Vec::with_capacity(want as usize);
                            let read = (&mut file).take(want).read_to_end(&mut chunk);
                            (file, read.map(|_| Bytes::from(chunk)))
                        })));
                    }
                    let Some(reading) = this.reading.as_mut() else {
                        continue;
                    };
                    let outcome = ready!(reading.as_mut().poll(cx));
                    this.reading = None;
                    let (read_file, chunk) = match outcome {
                        Ok(outcome) => outcome,
                        Err(error) => return Poll::Ready(Some(Err(error.into()))),
                    };
                    let chunk = match chunk {
                        Ok(chunk) => chunk,
                        Err(error) => return Poll::Ready(Some(Err(error.into()))),
                    };
                    if chunk.is_empty() {
                        return Poll::Ready(Some(Err(BoxError::from(format!(
                            "multipart file part {name:?} ended {left} bytes before the length \
                             it had when it was added"
                        )))));
                    }
                    *left -= chunk.len() as u64;
                    *file = Some(read_file);
                    return this.data(chunk);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pieces.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        self.remaining
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

fn wrong_length(name: &str, expected: Option<u64>, seen: u64) -> BoxError {
    let expected = expected.unwrap_or_default();
    format!("multipart part {name:?} was announced as {expected} bytes and yielded {seen} or more")
        .into()
}

/// The part's boundary line and headers, up to the blank line before its value.
fn part_head(boundary: &str, name: &str, part: &Part) -> Bytes {
    let mut head = Vec::with_capacity(boundary.len() + name.len() + 96);
    head.extend_from_slice(b"--");
    head.extend_from_slice(boundary.as_bytes());
    head.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
    escape_into(&mut head, name);
    head.push(b'"');
    if let Some(file_name) = &part.file_name {
        head.extend_from_slice(b"; filename=\"");
        escape_into(&mut head, file_name);
        head.push(b'"');
    }
    head.extend_from_slice(b"\r\n");
    if let Some(mime) = &part.mime {
        head.extend_from_slice(b"Content-Type: ");
        head.extend_from_slice(mime.as_ref().as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    for (name, value) in &part.headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    Bytes::from(head)
}

/// The line that ends the form.
fn closing(boundary: &str) -> Bytes {
    Bytes::from(format!("--{boundary}--\r\n"))
}

/// Writes `value` with CR, LF and `"` percent-encoded, as the WHATWG HTML standard encodes
/// names and file names in `multipart/form-data`.
fn escape_into(out: &mut Vec<u8>, value: &str) {
    for byte in value.bytes() {
        match byte {
            b'\r' => out.extend_from_slice(b"%0D"),
            b'\n' => out.extend_from_slice(b"%0A"),
            b'"' => out.extend_from_slice(b"%22"),
            other => out.push(other),
        }
    }
}

/// 48 hex digits from the operating system's CSPRNG. Should it fail (no entropy source at
/// all), std's randomly keyed hasher over a per-process counter stands in, so a form can
/// still be built; its keys come from the same OS source when it works.
fn random_boundary() -> String {
    let mut random = [0u8; 24];
    if getrandom::getrandom(&mut random).is_err() {
        use std::hash::BuildHasher;
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let state = std::collections::hash_map::RandomState::new();
        for chunk in random.chunks_mut(8) {
            let word = state.hash_one(COUNTER.fetch_add(1, Ordering::Relaxed));
            chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
        }
    }
    random
        .iter()
        .fold(String::with_capacity(48), |mut hex, byte| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_inject_headers_or_parts() {
        let part = Part::text("x").file_name("f\r\nX-Injected: 1\"\r\n\r\n--b");
        let head = part_head("b", "n\"; filename=\"evil\r\n", &part);
        let head = std::str::from_utf8(&head).unwrap_or_default();
        assert_eq!(
            head,
            "--b\r\nContent-Disposition: form-data; name=\"n%22; filename=%22evil%0D%0A\"; \
             filename=\"f%0D%0AX-Injected: 1%22%0D%0A%0D%0A--b\"\r\n\r\n"
        );
    }

    #[test]
    fn boundaries_are_random_hex() {
        let (a, b) = (random_boundary(), random_boundary());
        assert_eq!(a.len(), 48);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn a_bad_mime_type_is_a_builder_error() {
        let error = Part::text("x").mime_str("not a mime").err();
        assert!(error.is_some_and(|e| e.is_builder()));
    }
}
