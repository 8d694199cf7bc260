//! Unit tests of the layer over hand-made services and bodies.

#![cfg(all(
    feature = "decompression-gzip",
    feature = "decompression-deflate",
    feature = "decompression-br",
    feature = "decompression-zstd"
))]

use std::{
    collections::VecDeque,
    convert::Infallible,
    io::Write,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
};

use bytes::Bytes;
use flate2::{
    Compression,
    write::{DeflateEncoder, GzEncoder, ZlibEncoder},
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, Full};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;

use super::{
    codec::gzip::MAX_HEADER,
    encoding::{Codecs, decoding_plan},
    limit::Limits,
    *,
};
use crate::{
    BoxError,
    error::find_cause,
    sync::lock,
    test_util::{Probe, TestBodyError},
};

// ---------------------------------------------------------------------------------------------
// encoders and data
// ---------------------------------------------------------------------------------------------

fn gzip(data: &[u8]) -> Result<Vec<u8>, BoxError> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}

fn zlib(data: &[u8]) -> Result<Vec<u8>, BoxError> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}

fn raw_deflate(data: &[u8]) -> Result<Vec<u8>, BoxError> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}

fn brotli(data: &[u8]) -> Result<Vec<u8>, BoxError> {
    let mut encoder = ::brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
    encoder.write_all(data)?;
    Ok(encoder.into_inner())
}

fn zstd(data: &[u8]) -> Result<Vec<u8>, BoxError> {
    Ok(::zstd::encode_all(data, 3)?)
}

fn encode(encoding: Encoding, data: &[u8]) -> Result<Vec<u8>, BoxError> {
    match encoding {
        Encoding::Gzip => gzip(data),
        Encoding::Deflate => zlib(data),
        Encoding::Br => brotli(data),
        Encoding::Zstd => zstd(data),
    }
}

/// Every coding, with the `Content-Encoding` name used for it and an encoder.
type Encoder = fn(&[u8]) -> Result<Vec<u8>, BoxError>;

const CODINGS: [(Encoding, &str, Encoder); 6] = [
    (Encoding::Gzip, "gzip", gzip),
    (Encoding::Gzip, "x-gzip", gzip),
    (Encoding::Deflate, "deflate", zlib),
    (Encoding::Deflate, "deflate", raw_deflate),
    (Encoding::Br, "br", brotli),
    (Encoding::Zstd, "zstd", zstd),
];

/// Text that compresses like prose (a few times, not a thousand): words picked by xorshift.
fn text(len: usize) -> Vec<u8> {
    const WORDS: [&str; 12] = [
        "tower ", "layer ", "body ", "frame ", "gzip ", "stream ", "bytes ", "window ", "deflate ",
        "brotli ", "zstd ", "header\n",
    ];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(WORDS[(state % 12) as usize].as_bytes());
        out.extend_from_slice(format!("{} ", state % 1000).as_bytes());
    }
    out.truncate(len);
    out
}

/// Deterministic noise for hostile inputs.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// services and bodies
// ---------------------------------------------------------------------------------------------

/// A body that yields `data` in frames of `frame` bytes, then optional trailers, and counts
/// the bytes it handed out.
#[derive(Clone)]
struct Dribble {
    data: Bytes,
    frame: usize,
    trailers: Option<HeaderMap>,
    sent: Arc<AtomicUsize>,
}

impl Dribble {
    fn new(data: impl Into<Bytes>, frame: usize) -> Self {
        Self {
            data: data.into(),
            frame: frame.max(1),
            trailers: None,
            sent: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Body for Dribble {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.data.is_empty() {
            return Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))));
        }
        let len = self.frame.min(self.data.len());
        let chunk = self.data.split_to(len);
        self.sent.fetch_add(len, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }
}

#[derive(Default)]
struct FeedState {
    queue: VecDeque<Result<Frame<Bytes>, TestBodyError>>,
    closed: bool,
    waker: Option<Waker>,
}

/// The test's end of a [`FeedBody`]: frames pushed here come out of the body in order.
#[derive(Clone, Default)]
struct Feed(Arc<Mutex<FeedState>>);

impl Feed {
    fn push(&self, item: Result<Frame<Bytes>, TestBodyError>) {
        let waker = {
            let mut state = lock(&self.0);
            state.queue.push_back(item);
            state.waker.take()
        };
        waker.into_iter().for_each(Waker::wake);
    }

    fn data(&self, data: impl Into<Bytes>) {
        self.push(Ok(Frame::data(data.into())));
    }

    fn trailers(&self, trailers: HeaderMap) {
        self.push(Ok(Frame::trailers(trailers)));
    }

    fn error(&self, message: &'static str) {
        self.push(Err(TestBodyError(message)));
    }

    fn close(&self) {
        let waker = {
            let mut state = lock(&self.0);
            state.closed = true;
            state.waker.take()
        };
        waker.into_iter().for_each(Waker::wake);
    }

    fn queued(&self) -> usize {
        lock(&self.0).queue.len()
    }

    fn body(&self) -> FeedBody {
        FeedBody(self.clone())
    }
}

/// A streaming body fed by hand through a [`Feed`].
struct FeedBody(Feed);

impl Body for FeedBody {
    type Data = Bytes;
    type Error = TestBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TestBodyError>>> {
        let mut state = lock(&self.0.0);
        if let Some(item) = state.queue.pop_front() {
            Poll::Ready(Some(item))
        } else if state.closed {
            Poll::Ready(None)
        } else {
            state.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// A body decoding `inner` as `content_encoding` says, as the layer would build it.
fn decoding<B>(
    inner: B,
    content_encoding: &str,
    limits: Limits,
) -> Result<DecompressionBody<B>, BoxError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_str(content_encoding)?,
    );
    let plan = decoding_plan(&headers, Codecs::compiled()).ok_or("a decodable coding")?;
    Ok(DecompressionBody::decoding(inner, &plan, limits))
}

/// What polling a body until it is pending or over gave.
#[derive(Debug, Default)]
struct Polled {
    data: Vec<u8>,
    frames: usize,
    trailers: Option<HeaderMap>,
    error: Option<String>,
    ended: bool,
}

fn poll_until_pending<B>(probe: &Probe, body: &mut B) -> Polled
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    let mut polled = Polled::default();
    loop {
        match probe.poll_frame(body) {
            Poll::Pending => return polled,
            Poll::Ready(None) => {
                polled.ended = true;
                return polled;
            }
            Poll::Ready(Some(Err(err))) => {
                polled.error = Some(err.to_string());
                return polled;
            }
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    polled.frames += 1;
                    polled.data.extend_from_slice(&data);
                }
                Err(frame) => polled.trailers = frame.into_trailers().ok(),
            },
        }
    }
}

/// A canned response: status, headers and a body.
#[derive(Clone)]
struct Reply<B> {
    status: StatusCode,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    body: B,
}

fn reply(content_encoding: &str, body: impl Into<Bytes>) -> Reply<Full<Bytes>> {
    let body: Bytes = body.into();
    Reply {
        status: StatusCode::OK,
        headers: vec![
            (
                header::CONTENT_ENCODING,
                HeaderValue::from_str(content_encoding).unwrap_or(HeaderValue::from_static("x")),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(body.len())),
            (header::ETAG, HeaderValue::from_static("\"v1\"")),
        ],
        body: Full::new(body),
    }
}

/// The request headers the mock service saw.
type Seen = Arc<Mutex<Vec<HeaderMap>>>;

/// Calls `layer` over a service that records the request's headers and answers `reply`.
async fn exchange<B>(
    layer: &DecompressionLayer,
    request: Request<()>,
    reply: Reply<B>,
) -> Result<(HeaderMap, Response<DecompressionBody<B>>), BoxError>
where
    B: Body + Clone + Send + 'static,
    B::Error: Into<BoxError>,
{
    let seen: Seen = Arc::default();
    let service = layer.layer(service_fn({
        let seen = seen.clone();
        move |request: Request<()>| {
            lock(&seen).push(request.headers().clone());
            let reply = reply.clone();
            async move {
                let mut response = Response::new(reply.body);
                *response.status_mut() = reply.status;
                for (name, value) in reply.headers {
                    response.headers_mut().append(name, value);
                }
                Ok::<_, Infallible>(response)
            }
        }
    }));
    let response = service.oneshot(request).await?;
    let headers = lock(&seen).pop().ok_or("the service was not called")?;
    Ok((headers, response))
}

/// Collects a body: its data frames, and its trailers.
async fn frames<B>(body: B) -> Result<(Vec<Bytes>, Option<HeaderMap>), BoxError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let mut body = body;
    let mut data = Vec::new();
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(Into::into)?;
        match frame.into_data() {
            Ok(chunk) => data.push(chunk),
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
    }
    Ok((data, trailers))
}

fn concat(chunks: &[Bytes]) -> Vec<u8> {
    chunks
        .iter()
        .flat_map(|chunk| chunk.iter().copied())
        .collect()
}

/// Decodes `encoded` labelled `content_encoding` through `layer`, fed in frames of `frame`.
async fn decode_with(
    layer: &DecompressionLayer,
    content_encoding: &str,
    encoded: &[u8],
    frame: usize,
) -> Result<Vec<u8>, BoxError> {
    let mut reply = reply(content_encoding, Bytes::new());
    let reply = Reply {
        status: reply.status,
        headers: std::mem::take(&mut reply.headers),
        body: Dribble::new(encoded.to_vec(), frame),
    };
    let (_, response) = exchange(layer, Request::new(()), reply).await?;
    let (chunks, _) = frames(response.into_body()).await?;
    Ok(concat(&chunks))
}

async fn decode(content_encoding: &str, encoded: &[u8]) -> Result<Vec<u8>, BoxError> {
    decode_with(
        &DecompressionLayer::new(),
        content_encoding,
        encoded,
        16 * 1024,
    )
    .await
}

fn cause(err: &BoxError) -> Option<&DecompressionError> {
    find_cause::<DecompressionError>(&**err)
}

/// The kind and coding of the decompression error `result` failed with.
fn failure<T>(result: &Result<T, BoxError>) -> Option<(DecompressionErrorKind, Encoding)> {
    let err = result.as_ref().err()?;
    cause(err).map(|err| (err.kind(), err.encoding()))
}

// ---------------------------------------------------------------------------------------------
// decoding
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_coding_round_trips_and_headers_describe_the_decoded_body() -> Result<(), BoxError> {
    let data = text(200_000);
    for (_, name, encoder) in CODINGS {
        let encoded = encoder(&data)?;
        let (_, response) = exchange(
            &DecompressionLayer::new(),
            Request::new(()),
            reply(name, encoded),
        )
        .await?;
        let headers = response.headers();
        assert!(headers.get(header::CONTENT_ENCODING).is_none(), "{name}");
        assert!(headers.get(header::CONTENT_LENGTH).is_none(), "{name}");
        assert_eq!(headers[header::ETAG], "\"v1\"", "other headers stay");
        assert_eq!(response.body().encodings().len(), 1);
        let (chunks, trailers) = frames(response.into_body()).await?;
        assert!(trailers.is_none());
        assert!(
            chunks
                .iter()
                .all(|chunk| !chunk.is_empty() && chunk.len() <= 32 * 1024)
        );
        assert!(concat(&chunks) == data, "{name} round trip");
    }
    Ok(())
}

#[tokio::test]
async fn coding_names_ignore_case() -> Result<(), BoxError> {
    let data = text(5_000);
    for (name, encoding) in [
        ("GZIP", Encoding::Gzip),
        ("X-Gzip", Encoding::Gzip),
        ("Deflate", Encoding::Deflate),
        ("BR", Encoding::Br),
        ("ZStd", Encoding::Zstd),
    ] {
        let encoded = encode(encoding, &data)?;
        assert!(decode(name, &encoded).await? == data, "{name}");
    }
    Ok(())
}

#[tokio::test]
async fn decodes_incrementally_from_one_byte_frames() -> Result<(), BoxError> {
    let data = text(40_000);
    for (_, name, encoder) in CODINGS {
        let encoded = encoder(&data)?;
        let decoded = decode_with(&DecompressionLayer::new(), name, &encoded, 1).await?;
        assert!(decoded == data, "{name} fed byte by byte");
        let decoded = decode_with(&DecompressionLayer::new(), name, &encoded, 7).await?;
        assert!(decoded == data, "{name} fed 7 bytes at a time");
    }
    Ok(())
}

#[test]
fn yields_output_before_the_body_has_arrived() -> Result<(), BoxError> {
    // 1 MiB of text: its first half must decode before the second half arrives.
    let data = text(1 << 20);
    for (_, name, encoder) in CODINGS {
        let encoded = encoder(&data)?;
        let feed = Feed::default();
        let mut body = decoding(feed.body(), name, Limits::default())?;
        let probe = Probe::new();
        let half = encoded.len() / 2;
        feed.data(encoded[..half].to_vec());
        let first = poll_until_pending(&probe, &mut body);
        assert_eq!(first.error, None, "{name}");
        assert!(
            first.data.len() > data.len() / 4 && first.data.len() < data.len(),
            "{name}: {} bytes decoded from half the input",
            first.data.len()
        );
        assert_eq!(feed.queued(), 0);
        assert!(!body.is_end_stream());

        let wakes = probe.wakes();
        feed.data(encoded[half..].to_vec());
        feed.close();
        assert!(probe.wakes() > wakes, "{name}: new input wakes the body");
        let rest = poll_until_pending(&probe, &mut body);
        assert_eq!(rest.error, None, "{name}");
        assert!(rest.ended, "{name}");
        assert!([first.data, rest.data].concat() == data, "{name}");
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
    }
    Ok(())
}

#[tokio::test]
async fn stacked_codings_are_undone_in_reverse_order() -> Result<(), BoxError> {
    let data = text(50_000);
    // `gzip, br`: gzip applied first, then Brotli.
    let encoded = brotli(&gzip(&data)?)?;
    let (_, response) = exchange(
        &DecompressionLayer::new(),
        Request::new(()),
        reply("gzip, br", encoded),
    )
    .await?;
    assert_eq!(
        response.body().encodings(),
        [Encoding::Gzip, Encoding::Br],
        "in the order they were applied"
    );
    assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    let (chunks, _) = frames(response.into_body()).await?;
    assert!(concat(&chunks) == data);

    // Four codings, over two field lines, mixed case, fed a byte at a time.
    let encoded = zstd(&raw_deflate(&brotli(&gzip(&data)?)?)?)?;
    let mut reply = reply("X-GZIP, br", Bytes::new());
    reply.headers.push((
        header::CONTENT_ENCODING,
        HeaderValue::from_static("Deflate ,ZSTD"),
    ));
    let reply = Reply {
        status: reply.status,
        headers: reply.headers,
        body: Dribble::new(encoded, 1),
    };
    let (_, response) = exchange(&DecompressionLayer::new(), Request::new(()), reply).await?;
    let (chunks, _) = frames(response.into_body()).await?;
    assert!(concat(&chunks) == data);

    // Listed in the wrong order: the outer coding (br, listed last) is tried first and fails.
    let wrong = gzip(&brotli(&data)?)?;
    let result = decode("gzip, br", &wrong).await;
    assert_eq!(
        failure(&result),
        Some((DecompressionErrorKind::Corrupt, Encoding::Br))
    );
    Ok(())
}

#[tokio::test]
async fn bodies_that_cannot_be_fully_decoded_pass_through_untouched() -> Result<(), BoxError> {
    let gzipped = gzip(b"hello")?;
    for content_encoding in [
        "compress",
        "gzip, compress",
        "compress, gzip",
        "gzip, gzip, gzip, gzip, gzip",
        "identity",
    ] {
        let (_, response) = exchange(
            &DecompressionLayer::new(),
            Request::new(()),
            reply(content_encoding, gzipped.clone()),
        )
        .await?;
        assert_eq!(
            response.headers()[header::CONTENT_ENCODING],
            content_encoding,
            "headers untouched"
        );
        assert_eq!(
            response.headers()[header::CONTENT_LENGTH],
            gzipped.len().to_string().as_str()
        );
        assert!(response.body().encodings().is_empty());
        let (chunks, _) = frames(response.into_body()).await?;
        assert!(
            concat(&chunks) == gzipped,
            "{content_encoding}: body untouched"
        );
    }
    // Exactly MAX_CODINGS is decoded.
    let mut encoded = b"deep".to_vec();
    for _ in 0..MAX_CODINGS {
        encoded = gzip(&encoded)?;
    }
    assert_eq!(decode("gzip, gzip, gzip, gzip", &encoded).await?, b"deep");
    Ok(())
}

#[tokio::test]
async fn accept_encoding_lists_enabled_codings_unless_the_request_has_one() -> Result<(), BoxError>
{
    let layer = DecompressionLayer::new();
    let (seen, _) = exchange(&layer, Request::new(()), reply("identity", "")).await?;
    assert_eq!(seen[header::ACCEPT_ENCODING], "gzip, deflate, br, zstd");

    // The request's own value wins.
    let request = Request::builder()
        .header(header::ACCEPT_ENCODING, "identity")
        .body(())?;
    let (seen, _) = exchange(&layer, request, reply("identity", "")).await?;
    assert_eq!(seen.get_all(header::ACCEPT_ENCODING).iter().count(), 1);
    assert_eq!(seen[header::ACCEPT_ENCODING], "identity");

    // Range requests ask for the unencoded representation.
    let request = Request::builder()
        .header(header::RANGE, "bytes=0-9")
        .body(())?;
    let (seen, _) = exchange(&layer, request, reply("identity", "")).await?;
    assert!(seen.get(header::ACCEPT_ENCODING).is_none());

    // Disabled codings are neither asked for nor decoded.
    let layer = DecompressionLayer::new().br(false).deflate(false);
    let encoded = brotli(b"brotli")?;
    let (seen, response) = exchange(&layer, Request::new(()), reply("br", encoded.clone())).await?;
    assert_eq!(seen[header::ACCEPT_ENCODING], "gzip, zstd");
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "br");
    let (chunks, _) = frames(response.into_body()).await?;
    assert!(concat(&chunks) == encoded);
    // And turned back on.
    let layer = layer.br(true);
    let (seen, response) = exchange(&layer, Request::new(()), reply("br", encoded)).await?;
    assert_eq!(seen[header::ACCEPT_ENCODING], "gzip, br, zstd");
    let (chunks, _) = frames(response.into_body()).await?;
    assert_eq!(concat(&chunks), b"brotli");
    Ok(())
}

#[tokio::test]
async fn a_request_can_opt_out() -> Result<(), BoxError> {
    let encoded = gzip(b"keep me compressed")?;
    let mut request = Request::new(());
    request.extensions_mut().insert(NoDecompression);
    let (seen, response) = exchange(
        &DecompressionLayer::new(),
        request,
        reply("gzip", encoded.clone()),
    )
    .await?;
    assert!(seen.get(header::ACCEPT_ENCODING).is_none(), "nothing added");
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(
        response.headers()[header::CONTENT_LENGTH],
        encoded.len().to_string().as_str()
    );
    let (chunks, _) = frames(response.into_body()).await?;
    assert!(concat(&chunks) == encoded);
    Ok(())
}

#[tokio::test]
async fn no_decompression_turns_the_layer_into_a_pass_through() -> Result<(), BoxError> {
    let encoded = zstd(b"raw")?;
    let layer = DecompressionLayer::new().no_decompression();
    let (seen, response) =
        exchange(&layer, Request::new(()), reply("zstd", encoded.clone())).await?;
    assert!(seen.get(header::ACCEPT_ENCODING).is_none());
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "zstd");
    let body = response.into_body();
    assert_eq!(
        body.size_hint().exact(),
        Some(encoded.len() as u64),
        "inner size hint kept"
    );
    let (chunks, _) = frames(body).await?;
    assert!(concat(&chunks) == encoded);

    // Enabling one coding afterwards turns just that one on.
    let layer = DecompressionLayer::new().no_decompression().zstd(true);
    let (seen, response) = exchange(&layer, Request::new(()), reply("zstd", encoded)).await?;
    assert_eq!(seen[header::ACCEPT_ENCODING], "zstd");
    let (chunks, _) = frames(response.into_body()).await?;
    assert_eq!(concat(&chunks), b"raw");
    Ok(())
}

#[tokio::test]
async fn bodiless_and_partial_responses_pass_through() -> Result<(), BoxError> {
    let layer = DecompressionLayer::new();
    // HEAD: the headers describe the representation; there is no body to decode.
    let request = Request::builder().method(Method::HEAD).body(())?;
    let mut head = reply("gzip", Bytes::new());
    head.headers
        .retain(|(name, _)| name != header::CONTENT_LENGTH);
    head.headers
        .push((header::CONTENT_LENGTH, HeaderValue::from_static("1234")));
    let (seen, response) = exchange(&layer, request, head).await?;
    assert_eq!(seen[header::ACCEPT_ENCODING], "gzip, deflate, br, zstd");
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(response.headers()[header::CONTENT_LENGTH], "1234");
    assert!(frames(response.into_body()).await?.0.is_empty());

    for status in [204, 304] {
        let mut bodiless = reply("br", Bytes::new());
        bodiless.status = StatusCode::from_u16(status)?;
        let (_, response) = exchange(&layer, Request::new(()), bodiless).await?;
        assert_eq!(
            response.headers()[header::CONTENT_ENCODING],
            "br",
            "{status}"
        );
        assert!(response.body().encodings().is_empty());
        assert!(frames(response.into_body()).await?.0.is_empty());
    }

    // 206: a range of the encoded representation is handed over as it is.
    let encoded = gzip(&text(10_000))?;
    let mut partial = reply("gzip", encoded[..100].to_vec());
    partial.status = StatusCode::PARTIAL_CONTENT;
    let (_, response) = exchange(&layer, Request::new(()), partial).await?;
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(
        concat(&frames(response.into_body()).await?.0),
        &encoded[..100]
    );
    Ok(())
}

#[tokio::test]
async fn empty_bodies_decode_to_empty_bodies() -> Result<(), BoxError> {
    for (_, name, _) in CODINGS {
        let (_, response) = exchange(
            &DecompressionLayer::new(),
            Request::new(()),
            reply(name, ""),
        )
        .await?;
        assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
        let (chunks, trailers) = frames(response.into_body()).await?;
        assert!(chunks.is_empty() && trailers.is_none(), "{name}");

        // An empty body whose frames are all empty is empty too.
        let mut reply = reply(name, "");
        let reply = Reply {
            status: reply.status,
            headers: std::mem::take(&mut reply.headers),
            body: Empty::<Bytes>::new(),
        };
        let (_, response) = exchange(&DecompressionLayer::new(), Request::new(()), reply).await?;
        assert!(frames(response.into_body()).await?.0.is_empty(), "{name}");
    }
    // Data compressed from nothing is fine as well.
    for (_, name, encoder) in CODINGS {
        assert!(decode(name, &encoder(b"")?).await?.is_empty(), "{name}");
    }
    Ok(())
}

#[test]
fn trailers_follow_the_decoded_data() -> Result<(), BoxError> {
    let data = text(100_000);
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc"));
    for (_, name, encoder) in CODINGS {
        let encoded = encoder(&data)?;
        let feed = Feed::default();
        let mut body = decoding(feed.body(), name, Limits::default())?;
        let (head, tail) = encoded.split_at(encoded.len() / 3);
        feed.data(head.to_vec());
        feed.data(tail.to_vec());
        feed.trailers(trailers.clone());
        let polled = poll_until_pending(&Probe::new(), &mut body);
        assert_eq!(polled.error, None, "{name}");
        assert!(polled.data == data, "{name}");
        assert_eq!(polled.trailers.as_ref(), Some(&trailers), "{name}");
        assert!(polled.ended, "{name}: the body ends after its trailers");

        // Trailers in the middle of the compressed stream: the stream was cut short.
        let feed = Feed::default();
        let mut body = decoding(feed.body(), name, Limits::default())?;
        feed.data(head.to_vec());
        feed.trailers(trailers.clone());
        let polled = poll_until_pending(&Probe::new(), &mut body);
        assert!(polled.trailers.is_none(), "{name}");
        let error = polled.error.ok_or("a truncated stream is an error")?;
        assert!(error.contains("ended before the end"), "{name}: {error}");
    }
    Ok(())
}

#[test]
fn inner_body_errors_pass_through() -> Result<(), BoxError> {
    let feed = Feed::default();
    let mut body = decoding(feed.body(), "gzip", Limits::default())?;
    let encoded = gzip(&text(10_000))?;
    feed.data(encoded[..20].to_vec());
    feed.error("connection reset");
    let probe = Probe::new();
    let mut error = None;
    loop {
        match probe.poll_frame(&mut body) {
            Poll::Ready(Some(Ok(_))) => {}
            Poll::Ready(Some(Err(err))) => {
                error = Some(err);
                break;
            }
            _ => break,
        }
    }
    let error = error.ok_or("the inner error must surface")?;
    assert_eq!(
        find_cause::<TestBodyError>(&*error),
        Some(&TestBodyError("connection reset"))
    );
    assert!(cause(&error).is_none());
    assert!(matches!(probe.poll_frame(&mut body), Poll::Ready(None)));
    assert!(body.is_end_stream());
    Ok(())
}

#[tokio::test]
async fn inner_service_errors_pass_through() -> Result<(), BoxError> {
    let service = DecompressionLayer::new().layer(service_fn(|_request: Request<()>| async {
        Err::<Response<Full<Bytes>>, _>(TestBodyError("refused"))
    }));
    let err = service
        .oneshot(Request::new(()))
        .await
        .err()
        .ok_or("the error must surface")?;
    assert_eq!(
        find_cause::<TestBodyError>(&*err),
        Some(&TestBodyError("refused"))
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// hostile input
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn garbage_is_a_corrupt_body_error() -> Result<(), BoxError> {
    for encoding in Encoding::ALL {
        // Garbage that cannot pass for the start of a stream of any coding.
        let garbage = b"\xff\xff\xff\xff this is not compressed at all \xff\xff";
        let result = decode(encoding.as_str(), garbage).await;
        assert_eq!(
            failure(&result),
            Some((DecompressionErrorKind::Corrupt, encoding)),
            "{encoding}"
        );
        let message = result.err().map(|err| err.to_string()).unwrap_or_default();
        assert!(
            message.starts_with(&format!("invalid {encoding} response body")),
            "{message}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn damaged_checksums_and_headers_are_corrupt() -> Result<(), BoxError> {
    let data = text(20_000);
    let gzipped = gzip(&data)?;
    let len = gzipped.len();
    let corrupt = |bytes: &[u8], at: usize, value: u8| {
        let mut bytes = bytes.to_vec();
        bytes[at] = value;
        bytes
    };
    for (damaged, what) in [
        (corrupt(&gzipped, len - 8, gzipped[len - 8] ^ 1), "CRC-32"),
        (corrupt(&gzipped, len - 4, gzipped[len - 4] ^ 1), "length"),
        (corrupt(&gzipped, 2, 7), "compression method"),
        (corrupt(&gzipped, 3, 0x20), "reserved flags"),
    ] {
        let result = decode("gzip", &damaged).await;
        assert_eq!(
            failure(&result),
            Some((DecompressionErrorKind::Corrupt, Encoding::Gzip)),
            "{what}"
        );
    }
    let zlibbed = zlib(&data)?;
    let last = zlibbed.len() - 1;
    let result = decode("deflate", &corrupt(&zlibbed, last, zlibbed[last] ^ 1)).await;
    assert_eq!(
        failure(&result),
        Some((DecompressionErrorKind::Corrupt, Encoding::Deflate)),
        "Adler-32"
    );
    // A zlib header asking for a preset dictionary.
    let result = decode("deflate", &[0x78, 0xbb, 0, 0, 0, 1, 1, 2, 3]).await;
    assert_eq!(
        failure(&result),
        Some((DecompressionErrorKind::Corrupt, Encoding::Deflate))
    );
    Ok(())
}

/// A gzip member with every optional header field, its header checksum and raw deflate data.
fn gzip_with_all_header_fields(data: &[u8], name_len: usize) -> Result<Vec<u8>, BoxError> {
    let mut header = vec![0x1f, 0x8b, 8, 0x02 | 0x04 | 0x08 | 0x10, 0, 0, 0, 0, 0, 255];
    header.extend_from_slice(&5u16.to_le_bytes());
    header.extend_from_slice(b"extra");
    header.extend(std::iter::repeat_n(b'n', name_len));
    header.push(0);
    header.extend_from_slice(b"a comment\0");
    let mut crc = flate2::Crc::new();
    crc.update(&header);
    header.extend_from_slice(&((crc.sum() & 0xffff) as u16).to_le_bytes());
    let mut body = raw_deflate(data)?;
    let mut crc = flate2::Crc::new();
    crc.update(data);
    header.append(&mut body);
    header.extend_from_slice(&crc.sum().to_le_bytes());
    header.extend_from_slice(&(data.len() as u32).to_le_bytes());
    Ok(header)
}

#[tokio::test]
async fn gzip_headers_with_every_field_are_skipped_and_checked() -> Result<(), BoxError> {
    let data = text(30_000);
    let member = gzip_with_all_header_fields(&data, 100)?;
    for frame in [1, 3, 4096] {
        let decoded = decode_with(&DecompressionLayer::new(), "gzip", &member, frame).await?;
        assert!(decoded == data, "frames of {frame}");
    }
    // A wrong header checksum.
    let mut damaged = member.clone();
    damaged[10] ^= 1; // in XLEN's field data: the checksum no longer matches
    let result = decode("gzip", &damaged).await;
    assert_eq!(
        failure(&result),
        Some((DecompressionErrorKind::Corrupt, Encoding::Gzip))
    );

    // A file name that never ends is refused once the header passes its cap, without
    // buffering it.
    let endless = gzip_with_all_header_fields(&data, MAX_HEADER + 10)?;
    let result = decode("gzip", &endless).await;
    let err = result.as_ref().err().and_then(cause).ok_or("corrupt")?;
    assert_eq!(err.kind(), DecompressionErrorKind::Corrupt);
    assert!(err.to_string().contains("header longer than"), "{err}");
    // Just under the cap is fine.
    let long = gzip_with_all_header_fields(&data, MAX_HEADER - 100)?;
    assert!(decode("gzip", &long).await? == data);
    Ok(())
}

#[tokio::test]
async fn every_truncation_is_a_truncated_error() -> Result<(), BoxError> {
    let data = text(3_000);
    for (encoding, name, encoder) in CODINGS {
        let encoded = encoder(&data)?;
        for cut in 1..encoded.len() {
            let result = decode(name, &encoded[..cut]).await;
            assert_eq!(
                failure(&result),
                Some((DecompressionErrorKind::Truncated, encoding)),
                "{name} cut at {cut} of {}",
                encoded.len()
            );
        }
    }
    let result = decode("zstd", &zstd(&data)?[..10]).await;
    let message = result.err().map(|err| err.to_string()).unwrap_or_default();
    assert_eq!(
        message,
        "zstd response body ended before the end of its compressed stream"
    );
    Ok(())
}

#[tokio::test]
async fn data_after_the_end_of_the_stream() -> Result<(), BoxError> {
    let one = text(10_000);
    let two = text(7_000);
    let garbage = b"\x00\x01garbage after the stream";

    // gzip: concatenated members are all decoded; other trailing bytes are ignored.
    let members = [gzip(&one)?, gzip(&two)?].concat();
    for frame in [1, 5, 100_000] {
        let decoded = decode_with(&DecompressionLayer::new(), "gzip", &members, frame).await?;
        assert!(
            decoded == [one.clone(), two.clone()].concat(),
            "frames of {frame}"
        );
    }
    assert!(decode("gzip", &[gzip(&one)?, garbage.to_vec()].concat()).await? == one);
    assert!(decode("gzip", &[gzip(&one)?, vec![0x1f]].concat()).await? == one);
    // The start of a second member that stops short is a truncation, not garbage.
    let result = decode("gzip", &[gzip(&one)?, vec![0x1f, 0x8b, 8]].concat()).await;
    assert_eq!(
        failure(&result),
        Some((DecompressionErrorKind::Truncated, Encoding::Gzip))
    );
    let result = decode(
        "gzip",
        &[gzip(&one)?, vec![0x1f, 0x8b, 9, 0, 0, 0, 0, 0, 0, 0]].concat(),
    )
    .await;
    assert_eq!(
        failure(&result),
        Some((DecompressionErrorKind::Corrupt, Encoding::Gzip))
    );

    // deflate: ignored, zlib or raw.
    for encoded in [zlib(&one)?, raw_deflate(&one)?] {
        let decoded = decode("deflate", &[encoded, garbage.to_vec()].concat()).await?;
        assert!(decoded == one);
    }

    // br: an error, as for the reference decoder.
    let result = decode("br", &[brotli(&one)?, garbage.to_vec()].concat()).await;
    assert_eq!(
        failure(&result),
        Some((DecompressionErrorKind::Corrupt, Encoding::Br))
    );

    // zstd: concatenated frames (and skippable frames) are decoded, anything else is an error.
    let skippable = [
        &0x184d_2a50u32.to_le_bytes()[..],
        &3u32.to_le_bytes(),
        b"abc",
    ]
    .concat();
    let frames_ = [zstd(&one)?, skippable, zstd(&two)?].concat();
    assert!(decode("zstd", &frames_).await? == [one.clone(), two.clone()].concat());
    let result = decode("zstd", &[zstd(&one)?, garbage.to_vec()].concat()).await;
    assert_eq!(
        failure(&result),
        Some((DecompressionErrorKind::Corrupt, Encoding::Zstd))
    );
    Ok(())
}

#[tokio::test]
async fn hostile_bytes_never_panic_or_hang() -> Result<(), BoxError> {
    // Noise, and valid streams with bytes flipped or cut, through every coding in odd
    // frame sizes: each ends in data or an error, never a panic or an endless loop.
    let data = text(4_000);
    let mut cases = Vec::new();
    for seed in 1..40u64 {
        cases.push(noise(seed, (seed as usize * 37) % 700 + 1));
    }
    for (_, _, encoder) in CODINGS {
        let valid = encoder(&data)?;
        for seed in 1..40u64 {
            let mut damaged = valid.clone();
            let flips = noise(seed, 6);
            for pair in flips.chunks(2) {
                let at = usize::from(pair[0]) * valid.len() / 256;
                damaged[at] ^= pair[1] | 1;
            }
            cases.push(damaged);
        }
    }
    for (index, case) in cases.iter().enumerate() {
        for name in ["gzip", "deflate", "br", "zstd", "gzip, br"] {
            let frame = index % 13 + 1;
            match decode_with(&DecompressionLayer::new(), name, case, frame).await {
                Ok(decoded) => assert!(decoded.len() <= DEFAULT_MAX_SIZE as usize),
                Err(err) => assert!(cause(&err).is_some(), "{name}: {err}"),
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// decompression bombs
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn size_limit_stops_a_bomb_early_in_every_coding() -> Result<(), BoxError> {
    const MIB: usize = 1024 * 1024;
    let zeros = vec![0u8; 10 * MIB];
    let layer = DecompressionLayer::new().max_size(Some(MIB as u64));
    for (encoding, name, encoder) in CODINGS {
        let encoded = encoder(&zeros)?;
        let mut reply = reply(name, Bytes::new());
        let dribble = Dribble::new(encoded.clone(), 256);
        let sent = dribble.sent.clone();
        let reply = Reply {
            status: reply.status,
            headers: std::mem::take(&mut reply.headers),
            body: dribble,
        };
        let (_, response) = exchange(&layer, Request::new(()), reply).await?;
        let mut body = response.into_body();
        let mut decoded = 0;
        let mut largest = 0;
        let err = loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    let len = frame.into_data().map_or(0, |data| data.len());
                    decoded += len;
                    largest = largest.max(len);
                }
                Some(Err(err)) => break err,
                None => return Err(format!("{name}: the bomb went off").into()),
            }
        };
        let cause = cause(&err).ok_or("a decompression error")?;
        assert_eq!(cause.kind(), DecompressionErrorKind::SizeLimit, "{name}");
        assert_eq!(cause.encoding(), encoding);
        assert!(cause.is_limit());
        assert_eq!(
            err.to_string(),
            format!("decompressed response body ({encoding}) exceeds the limit of 1048576 bytes")
        );
        // Everything handed out fit the limit, in frames of at most 32 KiB, and decoding
        // stopped long before the compressed body was read.
        assert!(decoded <= MIB, "{name}: {decoded}");
        assert!(decoded > MIB - 32 * 1024, "{name}: {decoded}");
        assert!(largest <= 32 * 1024, "{name}: {largest}");
        let read = sent.load(Ordering::SeqCst);
        assert!(
            read < encoded.len() / 4 + 1024,
            "{name}: read {read} of {} compressed bytes",
            encoded.len()
        );
        // The body is over.
        assert!(body.frame().await.is_none());
    }
    Ok(())
}

#[tokio::test]
async fn the_default_size_limit_applies() -> Result<(), BoxError> {
    // 300 zstd frames of 1 MiB of zeros each: 300 MiB from a few kilobytes, stopped at
    // 256 MiB. The decoded bytes are counted, not kept.
    let frame = zstd(&vec![0u8; 1024 * 1024])?;
    let encoded = frame.repeat(300);
    let layer = DecompressionLayer::new().max_ratio(None);
    let mut reply = reply("zstd", Bytes::new());
    let reply = Reply {
        status: reply.status,
        headers: std::mem::take(&mut reply.headers),
        body: Dribble::new(encoded, 4096),
    };
    let (_, response) = exchange(&layer, Request::new(()), reply).await?;
    let mut body = response.into_body();
    let mut decoded = 0u64;
    let err = loop {
        match body.frame().await {
            Some(Ok(frame)) => decoded += frame.into_data().map_or(0, |data| data.len() as u64),
            Some(Err(err)) => break err,
            None => return Err("the default limit must stop the body".into()),
        }
    };
    assert_eq!(decoded, DEFAULT_MAX_SIZE);
    let cause = cause(&err).ok_or("a decompression error")?;
    assert_eq!(cause.kind(), DecompressionErrorKind::SizeLimit);
    assert!(err.to_string().contains("268435456 bytes"), "{err}");
    Ok(())
}

#[tokio::test]
async fn ratio_limit_stops_extreme_expansion() -> Result<(), BoxError> {
    // Brotli and zstd expand zeros far beyond deflate's ceiling of about 1032.
    let zeros = vec![0u8; 8 * 1024 * 1024];
    for encoding in [Encoding::Br, Encoding::Zstd] {
        let encoded = encode(encoding, &zeros)?;
        let layer = DecompressionLayer::new().max_size(None);
        let result = decode_with(&layer, encoding.as_str(), &encoded, 1024).await;
        assert_eq!(
            failure(&result),
            Some((DecompressionErrorKind::RatioLimit, encoding)),
            "{encoding}: {} compressed bytes",
            encoded.len()
        );
        let message = result.err().map(|err| err.to_string()).unwrap_or_default();
        assert!(message.contains("more than 1000 times larger"), "{message}");

        // Without limits, it decodes.
        let layer = DecompressionLayer::new().max_size(None).max_ratio(None);
        let decoded = decode_with(&layer, encoding.as_str(), &encoded, 1024).await?;
        assert_eq!(decoded.len(), zeros.len());
        assert!(decoded.iter().all(|&byte| byte == 0));
    }
    // Below RATIO_CHECK_AFTER, any ratio is fine.
    let small = vec![0u8; (RATIO_CHECK_AFTER - 1) as usize];
    assert_eq!(decode("br", &brotli(&small)?).await?.len(), small.len());
    // Text compresses a few times: far from the limit.
    let prose = text(3 * 1024 * 1024);
    assert!(decode("zstd", &zstd(&prose)?).await? == prose);
    // A tighter ratio is configurable.
    let layer = DecompressionLayer::new().max_ratio(Some(2));
    let result = decode_with(&layer, "gzip", &gzip(&prose)?, 16 * 1024).await;
    assert_eq!(
        failure(&result),
        Some((DecompressionErrorKind::RatioLimit, Encoding::Gzip))
    );
    Ok(())
}

#[tokio::test]
async fn stacked_bombs_are_held_to_the_limits_at_every_stage() -> Result<(), BoxError> {
    let zeros = vec![0u8; 20 * 1024 * 1024];
    let layer = DecompressionLayer::new().max_size(Some(1024 * 1024));
    // gzip over gzip: the outer stage produces little, the inner one explodes.
    let encoded = gzip(&gzip(&zeros)?)?;
    assert!(encoded.len() < 1024, "{} bytes", encoded.len());
    let result = decode_with(&layer, "gzip, gzip", &encoded, 64).await;
    assert_eq!(
        failure(&result),
        Some((DecompressionErrorKind::SizeLimit, Encoding::Gzip))
    );

    // An intermediate stage whose output is discarded as trailing garbage still counts.
    let padding = brotli(&[gzip(b"tiny")?, vec![0u8; 20 * 1024 * 1024]].concat())?;
    let result = decode_with(&layer, "gzip, br", &padding, 64).await;
    assert_eq!(
        failure(&result),
        Some((DecompressionErrorKind::SizeLimit, Encoding::Br))
    );
    Ok(())
}

#[test]
fn limits_are_checked_on_every_frame_of_a_stream() -> Result<(), BoxError> {
    // A body fed while it is read: the limit is hit as soon as it is passed.
    let zeros = vec![0u8; 4 * 1024 * 1024];
    let encoded = zstd(&zeros)?;
    let feed = Feed::default();
    let limits = Limits {
        max_size: Some(100_000),
        max_ratio: None,
    };
    let mut body = decoding(feed.body(), "zstd", limits)?;
    feed.data(encoded);
    let polled = poll_until_pending(&Probe::new(), &mut body);
    assert!(polled.data.len() <= 100_000);
    assert!(polled.data.iter().all(|&byte| byte == 0));
    assert!(polled.frames <= 100_000 / (32 * 1024) + 1);
    let error = polled.error.ok_or("limit")?;
    assert!(
        error.contains("exceeds the limit of 100000 bytes"),
        "{error}"
    );
    assert!(body.is_end_stream());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// types
// ---------------------------------------------------------------------------------------------

#[test]
fn types_are_send_sync_and_debug() {
    fn assert_send_sync<T: Send + Sync + std::fmt::Debug>() {}
    assert_send_sync::<DecompressionLayer>();
    assert_send_sync::<Decompression<()>>();
    assert_send_sync::<DecompressionBody<Full<Bytes>>>();
    assert_send_sync::<DecompressionError>();
    fn assert_send<T: Send>() {}
    assert_send::<ResponseFuture<std::future::Ready<Result<Response<Full<Bytes>>, BoxError>>>>();

    let layer = DecompressionLayer::new().max_size(Some(10));
    let debug = format!("{layer:?}");
    assert!(debug.contains("gzip, deflate, br, zstd") && debug.contains("max_size: Some(10)"));
}
