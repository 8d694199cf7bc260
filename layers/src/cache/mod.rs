//! A private HTTP cache (RFC 9111) as a layer: fresh responses are answered from the store,
//! stale ones are revalidated, and responses are stored as their bodies stream.
//!
//! [`CacheLayer`] wraps any `Service<http::Request<B>>` in a [`Cache`] service over an
//! [`HttpCache`] shared by its clones.
//!
//! # What decides
//!
//! Freshness, storability and revalidation come from
//! [`http-cache-semantics`](https://docs.rs/http-cache-semantics) configured as a *private*
//! cache (`shared: false`): `Cache-Control` request and response directives (`max-age`,
//! `no-cache`, `no-store`, `must-revalidate`, `private` allowed, `s-maxage` ignored,
//! `immutable`, `max-stale`, `min-fresh`), `Expires`, `Age` and `Date`, heuristic freshness
//! from `Last-Modified`, `Vary`, and the conditional request (`If-None-Match` /
//! `If-Modified-Since`) and 304 merge of a revalidation. The layer adds only what the crate
//! leaves out, each the smallest rule that is correct:
//!
//! - **Corrected initial age** (RFC 9111 §4.2.3). The crate ages a response by its `Age`
//!   field plus resident time, ignoring the apparent age (`response_time - Date`) and the
//!   response delay; the layer stores the corrected value as `Age` before the crate sees it.
//!   Resident time runs on the layer's monotonic timer, dates on its [`WallClock`]. Of a
//!   received `Age`, the first list member counts (RFC 9111 §5.1), read up to its first
//!   non-digit (`7200.0` is 7200: the older, safer reading).
//! - **Input the crate can parse.** It compares directive names exactly, reads only
//!   IMF-fixdate dates and the first line of a field; the layer hands it a copy with
//!   `Cache-Control` lower-cased, RFC 850 and asctime dates rewritten, and fields sent on
//!   several lines joined into one list (so `Vary` matches `a, b` and `a` + `b` alike). A
//!   request's `Pragma` is dropped when it has `Cache-Control` (RFC 9111 §5.4).
//! - **Statuses.** Any final status with explicit freshness may be stored (RFC 9111 §3); the
//!   crate knows RFC 7234's list only, so such a response is shown to it as a 200 — unless
//!   it says `must-understand`. 206 (ranges) is not cached: `Range` requests pass through.
//!   Nor are upgrades: a request with `Upgrade` (a WebSocket handshake) or a `CONNECT` goes
//!   to the server untouched, and its `101` or tunnel to the caller.
//! - **304 merge** (RFC 9111 §3.2, §4.3.4). A 304 answers the validators the layer sent, so
//!   it refreshes the stored response even without validators of its own — unless the
//!   caller sent `If-None-Match` too and the 304 names another `ETag`: then it is about the
//!   caller's representation and goes to the caller as it is. Every field of the 304
//!   replaces or joins the stored ones, except those describing the stored body (`ETag`,
//!   `Content-Length`, `Content-Encoding`, `Content-Range`, `Content-MD5`).
//! - **The caller's own conditionals.** A request with `If-None-Match` (or
//!   `If-Modified-Since`) answered from the store gets a 304 when the stored response
//!   matches it (RFC 9111 §4.3.2).
//! - **`stale-while-revalidate`** (RFC 5861 §3). Inside the window, the stale response is
//!   served at once and a conditional GET is spawned on the [`SharedExecutor`] through a
//!   clone of the inner service; its answer refreshes the store. One refresh per URL at a
//!   time.
//! - **`stale-if-error`** (RFC 5861 §4), in the response or the request. When revalidation
//!   fails with a 5xx or an error from the inner service, the stale response is served if
//!   it is inside the window.
//! - **`only-if-cached`**: with nothing usable stored, the layer answers `504 Gateway
//!   Timeout` itself and never contacts the origin.
//! - **Invalidation** (RFC 9111 §4.4): a 2xx or 3xx answer to an unsafe method (POST, PUT,
//!   DELETE, PATCH, …) removes the target URI and the same-origin `Location` and
//!   `Content-Location` targets.
//!
//! None of these windows applies when `no-cache` or `must-revalidate` forbids stale
//! responses. The few directives the layer reads itself come from [`parse_directives`], a
//! plain, bounded function over header values.
//!
//! # Keys and storage
//!
//! Only GET responses are stored. The primary key is the normalised effective URI (scheme,
//! authority, path and query); `Vary` adds a secondary key, so several variants of one URL
//! are kept and the request's headers select among them. A HEAD request may be answered
//! from a stored GET response (without body). Requests with `Range` pass through.
//!
//! Bodies are stored as received — in the default stack the cache sits under decompression,
//! so it keeps the encoded bytes. [`CacheBody`] tees data frames into a buffer while the body
//! streams to the caller; the response is stored when the body ends cleanly. A body larger
//! than [`CacheConfig::max_entry_size`] (known from `Content-Length` up front, or discovered
//! while streaming) streams through uncached, and its buffer is dropped the moment it passes
//! the cap. A body that fails or is dropped early is not stored. Hits are served from the
//! stored `Bytes` without copying, with an `Age` field.
//!
//! The store is any [`CacheStore`]; [`MemoryStore`] (the default) is bounded by a number of
//! responses (256) and a total size, and evicts the least recently used URL first.
//!
//! # Requirements
//!
//! The request body type passes through unchanged. The background revalidation needs a
//! request of its own, so the body type must be `Default` (an empty body), and the inner
//! service must be `Clone + Send + 'static`.
//!
//! # Example
//!
//! ```
//! use std::sync::{
//!     Arc,
//!     atomic::{AtomicUsize, Ordering},
//! };
//!
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//! use towline_layers::{
//!     BoxError,
//!     cache::{CacheLayer, HttpCache},
//!     exec::{BoxFuture, SharedExecutor},
//!     time::ManualTimer,
//! };
//!
//! struct Spawn;
//! impl hyper::rt::Executor<BoxFuture> for Spawn {
//!     fn execute(&self, future: BoxFuture) {
//!         tokio::spawn(future);
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let origin_hits = Arc::new(AtomicUsize::new(0));
//! let counter = Arc::clone(&origin_hits);
//! let cache = HttpCache::new();
//! let timer = ManualTimer::new();
//! let executor: SharedExecutor = Arc::new(Spawn);
//! let mut service = ServiceBuilder::new()
//!     .layer(CacheLayer::new(cache.clone(), timer.shared(), executor))
//!     .service_fn(move |_request: http::Request<Full<Bytes>>| {
//!         counter.fetch_add(1, Ordering::SeqCst);
//!         async {
//!             let response = http::Response::builder()
//!                 .header("cache-control", "max-age=60")
//!                 .body(Full::new(Bytes::from("hello")))?;
//!             Ok::<_, BoxError>(response)
//!         }
//!     });
//!
//! for _ in 0..2 {
//!     let request = http::Request::get("http://example.test/").body(Full::default())?;
//!     let response = service.ready().await?.call(request).await?;
//!     assert_eq!(response.into_body().collect().await?.to_bytes(), "hello");
//! }
//! // The second answer came from the cache.
//! assert_eq!(origin_hits.load(Ordering::SeqCst), 1);
//! assert_eq!(cache.len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! [`WallClock`]: crate::time::WallClock
//! [`SharedExecutor`]: crate::exec::SharedExecutor

mod body;
mod directives;
mod future;
mod layer;
mod policy;
mod service;
mod store;
#[cfg(test)]
mod tests;

/// How the cache answered a request, in the response's extensions (the facts RFC 9211's
/// `Cache-Status` field reports, for callers and logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheStatus {
    /// Served from the store without asking the origin.
    Hit,
    /// A stale stored response was served: while it is revalidated in the background
    /// (`stale-while-revalidate`) or in place of an error (`stale-if-error`).
    Stale,
    /// The origin confirmed the stored response (a 304 to the cache's conditional request)
    /// and it was served from the store.
    Revalidated,
    /// The response came from the origin (and was stored if it may be), or the cache
    /// generated it because nothing usable was stored (`only-if-cached`'s 504).
    Miss,
}

fn with_status<B>(mut response: http::Response<B>, status: CacheStatus) -> http::Response<B> {
    response.extensions_mut().insert(status);
    response
}

pub use self::{
    body::CacheBody,
    directives::{Directives, MAX_HEADER_LEN, parse_directives},
    future::ResponseFuture,
    layer::{CacheConfig, CacheLayer, DEFAULT_MAX_ENTRY_SIZE, HttpCache},
    service::Cache,
    store::{CacheStore, CachedResponse, DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, MemoryStore},
};
