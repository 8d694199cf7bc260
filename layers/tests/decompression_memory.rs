//! Peak memory of `DecompressionLayer` while it decodes bombs, measured by a counting global
//! allocator. One test function only, so no other test allocates while it measures (nextest
//! also runs each test in its own process).
//!
//! The zstd decoder allocates through C's `malloc`, which this allocator does not see; its
//! window is bounded by configuration (8 MiB) instead. Everything the layer itself buffers
//! goes through Rust's allocator and is counted.

#![cfg(all(
    feature = "decompression-gzip",
    feature = "decompression-deflate",
    feature = "decompression-br",
    feature = "decompression-zstd"
))]
// A `GlobalAlloc` implementation is unsafe by definition; it only forwards to `System`.
#![allow(unsafe_code)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    convert::Infallible,
    io::Write,
    sync::atomic::{AtomicUsize, Ordering},
};

use bytes::Bytes;
use flate2::{
    Compression,
    write::{GzEncoder, ZlibEncoder},
};
use http::{Request, Response, header};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};
use towline_layers::{
    BoxError,
    decompression::{DecompressionError, DecompressionErrorKind, DecompressionLayer},
    error::find_cause,
};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: usize = 1024 * 1024;

/// Runs `run` and returns its result and the most memory it held at once beyond what was
/// allocated before.
fn peak_during<T>(run: impl FnOnce() -> T) -> (T, usize) {
    let baseline = CURRENT.load(Ordering::SeqCst);
    PEAK.store(baseline, Ordering::SeqCst);
    let result = run();
    (result, PEAK.load(Ordering::SeqCst).saturating_sub(baseline))
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(data)?;
    encoder.finish()
}

fn zlib(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(data)?;
    encoder.finish()
}

fn brotli(data: &[u8]) -> std::io::Result<Vec<u8>> {
    // A 1 MiB window (lgwin 20): the decoder's ring buffer grows to at most that.
    let mut encoder = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 20);
    encoder.write_all(data)?;
    Ok(encoder.into_inner())
}

fn zstd(data: &[u8]) -> std::io::Result<Vec<u8>> {
    zstd::encode_all(data, 3)
}

/// Decodes `encoded` through `layer`, dropping each frame once counted (or keeping them all
/// when `collect`); returns the decoded length or the body's error.
async fn decode(
    layer: DecompressionLayer,
    content_encoding: &'static str,
    encoded: Bytes,
    collect: bool,
) -> Result<usize, BoxError> {
    let service = ServiceBuilder::new()
        .layer(layer)
        .service_fn(move |_request: Request<()>| {
            let encoded = encoded.clone();
            async move {
                let mut response = Response::new(Full::new(encoded));
                response.headers_mut().insert(
                    header::CONTENT_ENCODING,
                    header::HeaderValue::from_static(content_encoding),
                );
                Ok::<_, Infallible>(response)
            }
        });
    let mut body = service.oneshot(Request::new(())).await?.into_body();
    if collect {
        return Ok(body.collect().await?.to_bytes().len());
    }
    let mut decoded = 0;
    while let Some(frame) = body.frame().await {
        decoded += frame?.into_data().map_or(0, |data| data.len());
    }
    Ok(decoded)
}

#[test]
fn peak_memory_stays_bounded_while_decoding_bombs() -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let zeros = vec![0u8; 64 * MIB];
    let bombs = [
        // The inflater's 32 KiB window and state, one 32 KiB output chunk, the input frame.
        ("gzip", Bytes::from(gzip(&zeros)?), 256 * 1024),
        ("deflate", Bytes::from(zlib(&zeros)?), 256 * 1024),
        // Plus the ring buffer of a 1 MiB window.
        ("br", Bytes::from(brotli(&zeros)?), 2 * MIB),
        ("zstd", Bytes::from(zstd(&zeros)?), 256 * 1024),
    ];
    drop(zeros);

    for (name, encoded, bound) in &bombs {
        // 64 MiB decoded with no limits, read frame by frame: the layer's buffers stay small.
        let unlimited = DecompressionLayer::new().max_size(None).max_ratio(None);
        let (decoded, peak) =
            peak_during(|| runtime.block_on(decode(unlimited, name, encoded.clone(), false)));
        assert_eq!(decoded?, 64 * MIB, "{name}");
        assert!(
            peak < *bound,
            "{name}: peak {peak} bytes while streaming 64 MiB"
        );
        let streaming_peak = peak;

        // Collected into memory against a 1 MiB limit: memory stays near the limit.
        let limited = DecompressionLayer::new().max_size(Some(MIB as u64));
        let (result, peak) =
            peak_during(|| runtime.block_on(decode(limited, name, encoded.clone(), true)));
        let err = result.err().ok_or("the limit must stop the bomb")?;
        let cause = find_cause::<DecompressionError>(&*err).ok_or("a decompression error")?;
        assert_eq!(cause.kind(), DecompressionErrorKind::SizeLimit, "{name}");
        assert!(
            peak < MIB + *bound,
            "{name}: peak {peak} bytes collecting against a 1 MiB limit"
        );
        println!(
            "{name}: {} compressed bytes; peak {streaming_peak} bytes streaming 64 MiB, \
             {peak} bytes collecting against a 1 MiB limit",
            encoded.len()
        );
    }
    Ok(())
}
