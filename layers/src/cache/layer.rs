//! The [`HttpCache`] handle, its [`CacheConfig`], and the [`CacheLayer`].

use std::{
    collections::HashSet,
    fmt,
    sync::{Arc, Mutex},
};

use tower_layer::Layer;

use super::{Cache, CacheStore, MemoryStore};
use crate::{
    exec::SharedExecutor,
    sync::lock,
    time::{SharedTimer, SharedWallClock, SystemClock},
};

/// The default largest response body stored: 8 MiB.
pub const DEFAULT_MAX_ENTRY_SIZE: usize = 8 * 1024 * 1024;

/// Settings of an [`HttpCache`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CacheConfig {
    max_entry_size: usize,
    heuristic_fraction: f32,
}

impl CacheConfig {
    /// The defaults: bodies up to [`DEFAULT_MAX_ENTRY_SIZE`], heuristic freshness of 10% of
    /// the time since `Last-Modified` (RFC 9111 §4.2.2).
    pub fn new() -> Self {
        Self {
            max_entry_size: DEFAULT_MAX_ENTRY_SIZE,
            heuristic_fraction: 0.1,
        }
    }

    /// The largest response body stored, in bytes. Larger responses stream through uncached:
    /// known from `Content-Length` up front, or discovered while streaming.
    pub fn max_entry_size(mut self, bytes: usize) -> Self {
        self.max_entry_size = bytes;
        self
    }

    /// The fraction of the time since `Last-Modified` a response without explicit freshness
    /// stays fresh; `0.0` turns heuristic freshness off.
    pub fn heuristic_fraction(mut self, fraction: f32) -> Self {
        self.heuristic_fraction = if fraction.is_finite() {
            fraction.max(0.0)
        } else {
            0.0
        };
        self
    }

    pub(super) fn entry_cap(&self) -> usize {
        self.max_entry_size
    }

    pub(super) fn heuristic(&self) -> f32 {
        self.heuristic_fraction
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// A private HTTP cache: a [`CacheStore`] and its settings, shared by every clone.
///
/// Configure it before cloning it or handing it to a [`CacheLayer`]: `with_store` and
/// `with_config` build a new handle.
#[derive(Clone)]
pub struct HttpCache {
    pub(super) inner: Arc<CacheInner>,
}

pub(super) struct CacheInner {
    pub(super) store: Arc<dyn CacheStore>,
    pub(super) config: CacheConfig,
    /// Keys with a background revalidation in flight, so a burst of stale hits sends one.
    revalidating: Mutex<HashSet<String>>,
}

impl HttpCache {
    /// A cache over a [`MemoryStore`] with its default bounds and the default [`CacheConfig`].
    pub fn new() -> Self {
        Self::from_parts(Arc::new(MemoryStore::new()), CacheConfig::new())
    }

    /// This cache's settings over `store` instead.
    pub fn with_store(self, store: impl CacheStore + 'static) -> Self {
        Self::from_parts(Arc::new(store), self.inner.config)
    }

    /// This cache's store with `config` instead.
    pub fn with_config(self, config: CacheConfig) -> Self {
        Self::from_parts(Arc::clone(&self.inner.store), config)
    }

    fn from_parts(store: Arc<dyn CacheStore>, config: CacheConfig) -> Self {
        Self {
            inner: Arc::new(CacheInner {
                store,
                config,
                revalidating: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
    }

    /// The store.
    pub fn store(&self) -> &dyn CacheStore {
        &*self.inner.store
    }

    /// Removes every stored response.
    pub fn clear(&self) {
        self.inner.store.clear();
    }

    /// The number of stored responses (each `Vary` variant counts).
    pub fn len(&self) -> usize {
        self.inner.store.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.inner.store.is_empty()
    }

    /// Marks `key` as being revalidated in the background; `false` when it already is.
    pub(super) fn begin_revalidation(&self, key: &str) -> bool {
        lock(&self.inner.revalidating).insert(key.to_owned())
    }

    pub(super) fn end_revalidation(&self, key: &str) {
        lock(&self.inner.revalidating).remove(key);
    }
}

impl Default for HttpCache {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HttpCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCache")
            .field("len", &self.len())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Everything the services of one layer share: one `Arc` clone per request.
pub(super) struct Shared {
    pub(super) cache: HttpCache,
    pub(super) timer: SharedTimer,
    pub(super) wall: SharedWallClock,
    pub(super) executor: SharedExecutor,
}

/// Answers requests from an [`HttpCache`] and stores responses in it (RFC 9111, private).
///
/// See the [module documentation](super) for what it does.
#[derive(Clone)]
pub struct CacheLayer {
    shared: Arc<Shared>,
}

impl CacheLayer {
    /// A layer over `cache` that measures resident time with `timer`, runs
    /// `stale-while-revalidate` refreshes on `executor`, and reads dates from the
    /// [`SystemClock`].
    pub fn new(cache: HttpCache, timer: SharedTimer, executor: SharedExecutor) -> Self {
        Self {
            shared: Arc::new(Shared {
                cache,
                timer,
                wall: SystemClock::shared(),
                executor,
            }),
        }
    }

    /// Reads the time of day (for `Date`, `Expires` and `Last-Modified` arithmetic) from
    /// `wall` instead of the system clock.
    pub fn wall_clock(self, wall: SharedWallClock) -> Self {
        Self {
            shared: Arc::new(Shared {
                cache: self.shared.cache.clone(),
                timer: Arc::clone(&self.shared.timer),
                wall,
                executor: Arc::clone(&self.shared.executor),
            }),
        }
    }

    /// The layer's cache.
    pub fn cache(&self) -> &HttpCache {
        &self.shared.cache
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = Cache<S>;

    fn layer(&self, inner: S) -> Cache<S> {
        Cache::new(inner, Arc::clone(&self.shared))
    }
}

impl fmt::Debug for CacheLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheLayer")
            .field("cache", &self.shared.cache)
            .finish_non_exhaustive()
    }
}
