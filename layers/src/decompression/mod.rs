//! Response decompression: asks for `gzip`, `deflate`, `br` and `zstd` and decodes what comes
//! back, incrementally and within decompression-bomb limits.
//!
//! [`DecompressionLayer`] adds an `Accept-Encoding` header listing the enabled codings to each
//! request that has none (and no `Range`), and wraps each response body in a
//! [`DecompressionBody`] that undoes the response's `Content-Encoding`.
//!
//! # Why not tower-http's decompression
//!
//! tower-http's `DecompressionLayer` was the first candidate, and it composes with this one
//! (both are plain tower middleware). It cannot meet towline's requirements, though, and its
//! internals are not extensible:
//!
//! - no limit on the decoded size or ratio: a few kilobytes can expand into gigabytes;
//! - `Content-Encoding` is compared byte for byte with `gzip`, `deflate`, `br` and `zstd`:
//!   `GZIP`, `x-gzip` and stacked codings (`gzip, br`) pass through undecoded;
//! - `deflate` must be zlib-wrapped: raw deflate, which some servers send, fails;
//! - no per-request opt-out;
//! - it decodes through async-compression over tokio-util's `StreamReader`, tying the layer to
//!   tokio's IO traits, while towline's layers never name a runtime.
//!
//! So this module is its own body wrapper over well-kept codecs, each behind its own cargo
//! feature (all in the default features): flate2 with its pure-Rust backend for `gzip` and
//! `deflate` (`decompression-gzip`, `decompression-deflate`), brotli-decompressor for `br`
//! (`decompression-br`) and the zstd crate, the reference C library, for `zstd`
//! (`decompression-zstd`). The `decompression` feature, implied by each, holds the module.
//! The codecs are driven as push decoders (input slice in, bounded output slice out), so the
//! layer needs no IO traits at all. gzip's framing (header and trailer) is parsed here rather
//! than by flate2, whose gzip decoders buffer the header's file name and comment without
//! bound.
//!
//! # What is decoded
//!
//! | coding | names (any ASCII case) | after the end of the stream |
//! |---|---|---|
//! | gzip (RFC 1952) | `gzip`, `x-gzip` | concatenated members are decoded; other bytes are ignored, as gzip(1) and browsers do |
//! | deflate | `deflate` | ignored; a stream is zlib (RFC 1950) when its first two bytes are a valid zlib header, raw deflate (RFC 1951) otherwise |
//! | Brotli (RFC 7932) | `br` | an error, as for the reference decoder |
//! | Zstandard (RFC 8878) | `zstd` | concatenated frames are decoded; other bytes are an error, as for the reference decoder |
//!
//! **Stacked codings** are undone in the reverse of the order `Content-Encoding` lists them
//! (RFC 9110 §8.4: `gzip, br` means gzip was applied first, so the body is un-Brotli'd, then
//! gunzipped), up to [`MAX_CODINGS`] deep. Several `Content-Encoding` field lines form one
//! list; `identity` and empty elements are skipped.
//!
//! A body is decoded completely or not at all. It **passes through untouched**, headers
//! included, when:
//! - the request carried the [`NoDecompression`] extension, or the layer was built with
//!   [`no_decompression`](DecompressionLayer::no_decompression);
//! - the request was `HEAD`, or the status is 1xx, 204 or 304 (no body), or 206 (a range of
//!   the encoded representation, which rarely decodes on its own);
//! - any listed coding is unknown, disabled, or more than [`MAX_CODINGS`] are stacked.
//!
//! Otherwise `Content-Encoding` and `Content-Length` are removed (they described the encoded
//! body) and the body is decoded as it is read. An empty body decodes to an empty body, even
//! when it claims a coding. Trailers of the inner body are passed on after the decoded data.
//!
//! The layer adds `Accept-Encoding: gzip, deflate, br, zstd` (the enabled codings) to requests
//! that carry none; a request's own `Accept-Encoding` is left alone, and requests with a
//! `Range` header get none, as in reqwest and browsers. Responses are decoded by what they say,
//! whatever was asked for.
//!
//! # Limits and memory
//!
//! Decoding is incremental: every step writes at most 32 KiB, which the body yields as one
//! frame before decoding more, and each decoding stage holds at most one input chunk. So the
//! layer's memory stays bounded however much a body expands: a few hundred kilobytes of
//! buffers plus the codec's window (32 KiB for gzip and deflate; up to 16 MiB for Brotli, whose
//! large-window extension is refused; up to 8 MiB for zstd, per RFC 9659).
//!
//! Two decompression-bomb limits, both on by default, guard whoever collects the body:
//! - [`max_size`](DecompressionLayer::max_size): the most bytes a body may decode to
//!   ([`DEFAULT_MAX_SIZE`], 256 MiB). A step never writes more than one byte past the limit,
//!   so the check fires before memory is spent;
//! - [`max_ratio`](DecompressionLayer::max_ratio): the most decoded bytes per byte of response
//!   body read so far ([`DEFAULT_MAX_RATIO`], 1000 — above anything but degenerate input,
//!   and about deflate's own ceiling), checked once a body has decoded more than
//!   [`RATIO_CHECK_AFTER`] (1 MiB), so small repetitive bodies never trip it.
//!
//! With stacked codings, every stage's output is held to both limits.
//!
//! # Errors
//!
//! A body that cannot be decoded ends with a [`DecompressionError`] frame (boxed as a
//! [`BoxError`](crate::BoxError)) whose [`kind`](DecompressionError::kind) says why:
//! [`Corrupt`](DecompressionErrorKind::Corrupt), [`Truncated`](DecompressionErrorKind::Truncated),
//! [`SizeLimit`](DecompressionErrorKind::SizeLimit) or
//! [`RatioLimit`](DecompressionErrorKind::RatioLimit). Find it with
//! [`find_cause`](crate::error::find_cause)`::<DecompressionError>`. Errors of the inner
//! service and body pass through unchanged.
//!
//! Because the layer wraps the response body, `option_layer` cannot switch it off; build it
//! with [`no_decompression`](DecompressionLayer::no_decompression) instead, which passes
//! everything through at the cost of one branch per frame.
//!
//! # Example
#![cfg_attr(
    feature = "decompression-gzip",
    doc = r##"
```
use std::io::Write;

use bytes::Bytes;
use flate2::{Compression, write::GzEncoder};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use towline_layers::{
    BoxError,
    decompression::{DecompressionError, DecompressionErrorKind, DecompressionLayer},
    error::find_cause,
};

# #[tokio::main(flavor = "current_thread")]
# async fn main() -> Result<(), BoxError> {
// A server that answers with 64 KiB of gzip-compressed text.
let server = tower::service_fn(|request: http::Request<Full<Bytes>>| async move {
    let accepted = request.headers()["accept-encoding"].to_str()?.to_owned();
    assert!(accepted.contains("gzip"), "the layer asks for compression");
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    gzip.write_all(&b"hello, world! ".repeat(4681))?;
    let response = http::Response::builder()
        .header("content-encoding", "gzip")
        .body(Full::new(Bytes::from(gzip.finish()?)))?;
    Ok::<_, BoxError>(response)
});

let client = ServiceBuilder::new()
    .layer(DecompressionLayer::new())
    .service(server.clone());
let response = client.oneshot(http::Request::new(Full::default())).await?;
assert!(response.headers().get("content-encoding").is_none());
let body = response.into_body().collect().await?.to_bytes();
assert!(body.starts_with(b"hello, world! hello"));
assert_eq!(body.len(), 14 * 4681);

// The same response through a client that accepts at most 1 KiB of decoded body.
let strict = ServiceBuilder::new()
    .layer(DecompressionLayer::new().max_size(Some(1024)))
    .service(server);
let response = strict.oneshot(http::Request::new(Full::default())).await?;
let err = response.into_body().collect().await.err().ok_or("the limit must be enforced")?;
let cause = find_cause::<DecompressionError>(&*err).ok_or("a decompression error")?;
assert_eq!(cause.kind(), DecompressionErrorKind::SizeLimit);
# Ok(())
# }
```
"##
)]
#![cfg_attr(
    not(feature = "decompression-gzip"),
    doc = "(This example needs the `decompression-gzip` feature.)"
)]

mod body;
mod codec;
mod encoding;
mod error;
mod future;
mod layer;
mod limit;
mod service;
#[cfg(test)]
mod tests;

pub use self::{
    body::DecompressionBody,
    encoding::{Encoding, MAX_CODINGS},
    error::{DecompressionError, DecompressionErrorKind},
    future::ResponseFuture,
    layer::DecompressionLayer,
    limit::{DEFAULT_MAX_RATIO, DEFAULT_MAX_SIZE, RATIO_CHECK_AFTER},
    service::Decompression,
};

/// A request extension that turns decompression off for that one request: no
/// `Accept-Encoding` is added and the response passes through untouched, still encoded.
///
/// ```
/// use towline_layers::decompression::NoDecompression;
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(NoDecompression);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NoDecompression;
