//! Shared plumbing for towline's fuzz targets: a tiny executor, a scripted response body, a
//! byte reader for structured inputs, and the decompression harness the `decompress_*` and
//! `content_encoding` targets share.
//!
//! Every mock in these targets answers at once, so the executor is a poll loop with a no-op
//! waker: a future that stays pending is reported as a stuck future (a finding), never waited
//! on.

use std::{
    collections::VecDeque,
    convert::Infallible,
    future::Future,
    pin::{Pin, pin},
    task::{Context, Poll, Waker},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use tower::{ServiceBuilder, ServiceExt};
use towline_layers::{
    BoxError,
    decompression::{
        DecompressionError, DecompressionErrorKind, DecompressionLayer, Encoding,
        NoDecompression, RATIO_CHECK_AFTER,
    },
    error::find_cause,
};

/// Polls a future that must complete without waiting: every service and body in these
/// targets is ready at once. Panics (a finding) when it stays pending.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
    panic!("future still pending after 1000 polls with nothing to wait for");
}

/// A response body that yields scripted frames, then optional trailers. Never pending.
#[derive(Debug, Default)]
pub struct Frames {
    frames: VecDeque<Bytes>,
    trailers: Option<HeaderMap>,
    /// An announced length (as hyper derives from `Content-Length`), true or not.
    announced: Option<u64>,
}

impl Frames {
    /// `data` split into frames of `chunk` bytes (one frame when `chunk` is 0).
    pub fn split(data: &[u8], chunk: usize, trailers: Option<HeaderMap>) -> Self {
        let frames = if chunk == 0 || data.is_empty() {
            std::iter::once(Bytes::copy_from_slice(data))
                .filter(|frame| !frame.is_empty())
                .collect()
        } else {
            data.chunks(chunk).map(Bytes::copy_from_slice).collect()
        };
        Self {
            frames,
            trailers,
            announced: None,
        }
    }

    /// Makes `size_hint` announce `len` bytes exactly, whatever the frames hold.
    pub fn announcing(mut self, len: Option<u64>) -> Self {
        self.announced = len;
        self
    }
}

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.frames.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(
            self.announced
                .unwrap_or_else(|| self.frames.iter().map(|f| f.len() as u64).sum()),
        )
    }
}

/// Everything a body yielded until its end (or its first error).
#[derive(Debug)]
pub struct Drained {
    pub data: Vec<u8>,
    pub largest_frame: usize,
    pub trailers: Option<HeaderMap>,
    pub error: Option<BoxError>,
    /// Whether the body said `None` (or `is_end_stream`) after its error frame.
    pub ended_after_error: bool,
}

/// Reads a body to its end with the no-op waker; panics if it is ever pending (a body over
/// [`Frames`] has nothing to wait for). `limit` bounds the bytes kept, as a safety net.
pub fn drain<B>(body: B, limit: usize) -> Drained
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut body = pin!(body);
    let mut cx = Context::from_waker(Waker::noop());
    let mut drained = Drained {
        data: Vec::new(),
        largest_frame: 0,
        trailers: None,
        error: None,
        ended_after_error: false,
    };
    loop {
        match body.as_mut().poll_frame(&mut cx) {
            Poll::Pending => panic!("body pending with nothing to wait for"),
            Poll::Ready(None) => return drained,
            Poll::Ready(Some(Err(err))) => {
                drained.error = Some(err.into());
                drained.ended_after_error = body.is_end_stream()
                    || matches!(body.as_mut().poll_frame(&mut cx), Poll::Ready(None));
                return drained;
            }
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    drained.largest_frame = drained.largest_frame.max(data.len());
                    assert!(
                        drained.data.len() + data.len() <= limit,
                        "body yielded more than {limit} bytes"
                    );
                    drained.data.extend_from_slice(&data);
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        assert!(drained.trailers.is_none(), "two trailer frames");
                        drained.trailers = Some(trailers);
                    }
                }
            },
        }
    }
}

/// A reader over fuzz input: small numbers and length-prefixed pieces, defaulting to zero
/// or empty once the input runs out.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&first, rest)) => {
                self.data = rest;
                first
            }
            None => 0,
        }
    }

    pub fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// One of `choices`, picked by the next byte.
    pub fn pick<T: Clone>(&mut self, choices: &[T]) -> T {
        choices[usize::from(self.byte()) % choices.len()].clone()
    }

    /// The bytes up to the next `sep` (not included), or the rest.
    pub fn until(&mut self, sep: u8) -> &'a [u8] {
        match self.data.iter().position(|&b| b == sep) {
            Some(at) => {
                let (piece, rest) = self.data.split_at(at);
                self.data = &rest[1..];
                piece
            }
            None => self.rest(),
        }
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// The most a decoder yields in one frame (documented: "frames of at most 32 KiB").
pub const MAX_FRAME: usize = 32 * 1024;

/// One run of a response through [`DecompressionLayer`] over a `service_fn`.
#[derive(Debug, Clone)]
pub struct DecodeCase<'a> {
    pub content_encoding: Vec<HeaderValue>,
    pub status: StatusCode,
    pub method: Method,
    pub no_decompression_ext: bool,
    pub body: &'a [u8],
    pub chunk: usize,
    pub trailers: bool,
    pub max_size: Option<u64>,
    pub max_ratio: Option<u32>,
    /// gzip, deflate, br, zstd enabled on the layer.
    pub codecs: [bool; 4],
}

/// What a run produced, after the per-run invariants were checked.
#[derive(Debug)]
pub struct DecodeOutcome {
    pub encodings: Vec<Encoding>,
    pub data: Vec<u8>,
    pub error: Option<DecompressionErrorKind>,
}

/// Sends `case` through the layer, drains the body and checks the module's documented
/// invariants:
/// - every frame is at most 32 KiB;
/// - the decoded bytes never exceed `max_size`, nor (past `RATIO_CHECK_AFTER`)
///   `max_ratio` times the encoded bytes;
/// - a decoded response loses `Content-Encoding` and `Content-Length`; a passed-through one
///   keeps its headers and its body byte for byte;
/// - errors are `DecompressionError`s (the inner body never fails), and end the body;
/// - an empty body decodes to an empty body without error;
/// - trailers of the inner body follow the decoded data.
pub fn run_decode(case: &DecodeCase<'_>) -> DecodeOutcome {
    let mut layer = DecompressionLayer::new()
        .gzip(case.codecs[0])
        .deflate(case.codecs[1])
        .br(case.codecs[2])
        .zstd(case.codecs[3])
        .max_size(case.max_size)
        .max_ratio(case.max_ratio);
    if !case.codecs.iter().any(|&on| on) {
        layer = layer.no_decompression();
    }

    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc"));
    let trailers = case.trailers.then_some(trailers);

    let mut response = Response::new(Frames::split(case.body, case.chunk, trailers.clone()));
    *response.status_mut() = case.status;
    for value in &case.content_encoding {
        response
            .headers_mut()
            .append(header::CONTENT_ENCODING, value.clone());
    }
    response.headers_mut().insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(case.body.len() as u64),
    );
    let sent_headers = response.headers().clone();

    let mut response = Some(response);
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(tower::service_fn(move |_request: Request<()>| {
            let response = response.take().expect("the mock answers once");
            async move { Ok::<_, Infallible>(response) }
        }));
    let mut request = Request::new(());
    *request.method_mut() = case.method.clone();
    if case.no_decompression_ext {
        request.extensions_mut().insert(NoDecompression);
    }
    let response = block_on(service.oneshot(request)).expect("the mock never fails");
    let (parts, body) = response.into_parts();
    let encodings = body.encodings().to_vec();

    // Safety net against a runaway body; the real limit is checked below.
    let keep = case
        .max_size
        .map_or(usize::MAX, |max| usize::try_from(max).unwrap_or(usize::MAX))
        .max(case.body.len());
    let drained = drain(body, keep);

    if encodings.is_empty() {
        assert_eq!(parts.headers, sent_headers, "a passed-through response keeps its headers");
        assert!(drained.error.is_none(), "a passed-through body cannot fail");
        assert_eq!(drained.data, case.body, "a passed-through body is untouched");
        assert_eq!(drained.trailers, trailers);
        return DecodeOutcome {
            encodings,
            data: drained.data,
            error: None,
        };
    }

    assert!(!parts.headers.contains_key(header::CONTENT_ENCODING));
    assert!(!parts.headers.contains_key(header::CONTENT_LENGTH));
    assert!(
        drained.largest_frame <= MAX_FRAME,
        "frame of {} bytes",
        drained.largest_frame
    );
    let decoded = drained.data.len() as u64;
    if let Some(max) = case.max_size {
        assert!(decoded <= max, "decoded {decoded} bytes past max_size {max}");
    }
    if let Some(ratio) = case.max_ratio {
        let bound = u64::from(ratio)
            .saturating_mul((case.body.len() as u64).max(1))
            .max(RATIO_CHECK_AFTER);
        assert!(decoded <= bound, "decoded {decoded} bytes past the ratio bound {bound}");
    }
    if case.body.is_empty() {
        assert!(drained.data.is_empty() && drained.error.is_none(), "empty body: {drained:?}");
    }
    let error = drained.error.as_ref().map(|err| {
        let cause = find_cause::<DecompressionError>(&**err)
            .unwrap_or_else(|| panic!("not a DecompressionError: {err:?}"));
        assert!(drained.ended_after_error, "the body went on after its error");
        // Display must not panic either.
        let _ = cause.to_string();
        cause.kind()
    });
    if error.is_none() {
        assert_eq!(drained.trailers, trailers, "trailers follow the decoded data");
    }
    DecodeOutcome {
        encodings,
        data: drained.data,
        error,
    }
}

fn is_limit(kind: Option<DecompressionErrorKind>) -> bool {
    matches!(
        kind,
        Some(DecompressionErrorKind::SizeLimit | DecompressionErrorKind::RatioLimit)
    )
}

/// Decoding must not depend on how the body is cut into frames: compares a run over one
/// frame with a run over `chunk`-byte frames. Without a limit error on either side, both
/// succeed with the same bytes or fail alike; in any case what each yielded is a prefix of
/// the other's (both are prefixes of the one decoded stream).
pub fn check_chunking_independent(whole: &DecodeOutcome, chunked: &DecodeOutcome) {
    assert_eq!(whole.encodings, chunked.encodings);
    let (short, long) = if whole.data.len() <= chunked.data.len() {
        (&whole.data, &chunked.data)
    } else {
        (&chunked.data, &whole.data)
    };
    assert!(
        long.starts_with(short),
        "framing changed the decoded bytes (whole: {} bytes, {:?}; chunked: {} bytes, {:?})",
        whole.data.len(),
        whole.error,
        chunked.data.len(),
        chunked.error
    );
    if !is_limit(whole.error) && !is_limit(chunked.error) {
        assert_eq!(
            whole.error, chunked.error,
            "framing changed the outcome (whole: {} bytes; chunked: {} bytes)",
            whole.data.len(),
            chunked.data.len()
        );
        if whole.error.is_none() {
            assert_eq!(whole.data.len(), chunked.data.len());
        }
    }
}

/// The harness of the `decompress_*` targets: the first byte picks the limits and the
/// framing, the rest is a response body claiming `coding`.
///
/// Byte 0: bits 0-2 `max_size`, bits 3-4 `max_ratio`, bits 5-7 the frame size of the chunked
/// run. Byte 1: bit 0 adds trailers.
pub fn fuzz_decoder(data: &[u8], coding: &'static str) {
    const MAX_SIZE: [u64; 8] = [
        1 << 20,
        0,
        1,
        100,
        4096,
        MAX_FRAME as u64,
        MAX_FRAME as u64 + 1,
        4 << 20,
    ];
    const MAX_RATIO: [Option<u32>; 4] = [Some(1000), None, Some(1), Some(3)];
    const CHUNK: [usize; 8] = [1, 2, 3, 5, 16, 100, 1000, 4096];

    let mut reader = Reader::new(data);
    let config = reader.byte();
    let flags = reader.byte();
    let body = reader.rest();
    let mut case = DecodeCase {
        content_encoding: vec![HeaderValue::from_static(coding)],
        status: StatusCode::OK,
        method: Method::GET,
        no_decompression_ext: false,
        body,
        chunk: 0,
        trailers: flags & 1 == 1,
        max_size: Some(MAX_SIZE[usize::from(config & 7)]),
        max_ratio: MAX_RATIO[usize::from((config >> 3) & 3)],
        codecs: [true; 4],
    };
    let whole = run_decode(&case);
    assert_eq!(whole.encodings.len(), 1, "{coding} is decoded");
    case.chunk = CHUNK[usize::from(config >> 5)];
    let chunked = run_decode(&case);
    check_chunking_independent(&whole, &chunked);
}
