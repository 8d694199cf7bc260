//! Where responses are kept: the [`CacheStore`] trait, the stored [`CachedResponse`] and the
//! bounded, least-recently-used [`MemoryStore`].

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use bytes::Bytes;
use http::{HeaderMap, StatusCode, Version};
use http_cache_semantics::CachePolicy;

use super::directives::Directives;
use crate::sync::lock;

/// One stored response: its head, its body and the policy that says when it may be reused.
///
/// The layer builds them; stores only keep them, keyed by the primary key (the effective
/// request URI) and told apart by [`variant`](Self::variant) (the request header values its
/// `Vary` header nominates).
pub struct CachedResponse {
    pub(super) status: StatusCode,
    pub(super) version: Version,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    pub(super) policy: CachePolicy,
    /// The directives the layer reads itself (the RFC 5861 windows and friends).
    pub(super) directives: Directives,
    pub(super) variant: String,
    /// The freshness lifetime, measured when the response was received.
    pub(super) lifetime: Duration,
    /// When the response was received, on the layer's timer (for resident time).
    pub(super) received_at: Instant,
    /// When the response was received, on the wall clock (for the policy's date arithmetic).
    pub(super) response_time: SystemTime,
    pub(super) size: usize,
}

/// The bytes a response with these parts accounts for: body, header fields and variant key.
pub(super) fn entry_size(headers: &HeaderMap, body: &Bytes, variant: &str) -> usize {
    let headers: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    body.len() + headers + variant.len()
}

impl CachedResponse {
    /// The stored status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stored header fields (hop-by-hop fields removed).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The stored body, exactly as received (still content-encoded).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The secondary key: the request header values nominated by the response's `Vary`.
    /// Two responses for one URL with the same variant replace each other.
    pub fn variant(&self) -> &str {
        &self.variant
    }

    /// The bytes this response accounts for in a store: body, header fields and keys.
    pub fn size(&self) -> usize {
        self.size
    }
}

impl fmt::Debug for CachedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedResponse")
            .field("status", &self.status)
            .field("variant", &self.variant)
            .field("body_len", &self.body.len())
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// Storage for an [`HttpCache`](super::HttpCache): responses grouped by primary key (the
/// effective request URI), several variants per key.
///
/// Object-safe, so a cache can hold any store as `Arc<dyn CacheStore>`. Implementations use
/// interior mutability; every method may be called from several threads at once.
pub trait CacheStore: Send + Sync {
    /// Every stored variant for `key`, most recently stored first. A store that tracks use
    /// counts this as a use of the key.
    fn get(&self, key: &str) -> Vec<Arc<CachedResponse>>;

    /// Stores `response` under `key`, replacing the stored response with the same
    /// [`variant`](CachedResponse::variant). A store may refuse (for example, a response
    /// larger than its whole budget).
    fn put(&self, key: &str, response: Arc<CachedResponse>);

    /// Removes every variant stored for `key`; returns whether there was one.
    fn remove(&self, key: &str) -> bool;

    /// Removes everything.
    fn clear(&self);

    /// The number of stored responses (each variant counts).
    fn len(&self) -> usize;

    /// Whether nothing is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The default number of responses a [`MemoryStore`] keeps.
pub const DEFAULT_MAX_ENTRIES: usize = 256;
/// The default total size a [`MemoryStore`] keeps, in bytes (64 MiB).
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

/// An in-memory [`CacheStore`] bounded by a number of responses and a total size, evicting
/// the least recently used URL (with all its variants) first.
///
/// The recency order is a `BTreeMap` from a use counter to the key, which gives
/// O(log n) updates without a linked list; it is a few lines, so it is written here rather
/// than pulled in as a dependency that would not know about variants and byte sizes.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Lru>>,
}

struct Slot {
    variants: Vec<Arc<CachedResponse>>,
    bytes: usize,
    last_used: u64,
}

struct Lru {
    slots: HashMap<String, Slot>,
    order: BTreeMap<u64, String>,
    tick: u64,
    entries: usize,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl Lru {
    fn touch(&mut self, key: &str) {
        self.tick = self.tick.wrapping_add(1);
        let tick = self.tick;
        if let Some(slot) = self.slots.get_mut(key) {
            self.order.remove(&slot.last_used);
            slot.last_used = tick;
            self.order.insert(tick, key.to_owned());
        }
    }

    fn remove(&mut self, key: &str) -> bool {
        match self.slots.remove(key) {
            Some(slot) => {
                self.order.remove(&slot.last_used);
                self.entries -= slot.variants.len();
                self.bytes -= slot.bytes;
                true
            }
            None => false,
        }
    }

    fn evict_for(&mut self, keep: &str) {
        while self.entries > self.max_entries || self.bytes > self.max_bytes {
            let oldest = self
                .order
                .values()
                .find(|key| key.as_str() != keep)
                .cloned();
            match oldest {
                Some(key) => {
                    self.remove(&key);
                }
                None => break,
            }
        }
        // Only `keep` is left: drop its oldest variants until the bounds hold again.
        while self.entries > self.max_entries || self.bytes > self.max_bytes {
            let Some(slot) = self.slots.get_mut(keep) else {
                break;
            };
            if slot.variants.len() <= 1 {
                break;
            }
            if let Some(old) = slot.variants.pop() {
                let size = old.size();
                slot.bytes -= size;
                self.bytes -= size;
                self.entries -= 1;
            }
        }
    }
}

impl MemoryStore {
    /// A store of at most [`DEFAULT_MAX_ENTRIES`] responses and [`DEFAULT_MAX_BYTES`] bytes.
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_MAX_ENTRIES, DEFAULT_MAX_BYTES)
    }

    /// A store of at most `max_entries` responses and `max_bytes` bytes in total
    /// (as [`CachedResponse::size`] counts them).
    pub fn with_limits(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Lru {
                slots: HashMap::new(),
                order: BTreeMap::new(),
                tick: 0,
                entries: 0,
                bytes: 0,
                max_entries,
                max_bytes,
            })),
        }
    }

    /// The total size of the stored responses, in bytes.
    pub fn bytes(&self) -> usize {
        lock(&self.inner).bytes
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl CacheStore for MemoryStore {
    fn get(&self, key: &str) -> Vec<Arc<CachedResponse>> {
        let mut lru = lock(&self.inner);
        lru.touch(key);
        lru.slots
            .get(key)
            .map(|slot| slot.variants.clone())
            .unwrap_or_default()
    }

    fn put(&self, key: &str, response: Arc<CachedResponse>) {
        let size = response.size();
        let mut guard = lock(&self.inner);
        let lru = &mut *guard;
        if size > lru.max_bytes || lru.max_entries == 0 {
            return;
        }
        let slot = lru.slots.entry(key.to_owned()).or_insert(Slot {
            variants: Vec::new(),
            bytes: 0,
            last_used: 0,
        });
        if let Some(at) = slot
            .variants
            .iter()
            .position(|stored| stored.variant == response.variant)
        {
            let old = slot.variants.remove(at).size();
            slot.bytes -= old;
            lru.bytes -= old;
            lru.entries -= 1;
        }
        slot.variants.insert(0, response);
        slot.bytes += size;
        lru.bytes += size;
        lru.entries += 1;
        lru.touch(key);
        lru.evict_for(key);
    }

    fn remove(&self, key: &str) -> bool {
        lock(&self.inner).remove(key)
    }

    fn clear(&self) {
        let mut lru = lock(&self.inner);
        lru.slots.clear();
        lru.order.clear();
        lru.entries = 0;
        lru.bytes = 0;
    }

    fn len(&self) -> usize {
        lock(&self.inner).entries
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lru = lock(&self.inner);
        f.debug_struct("MemoryStore")
            .field("entries", &lru.entries)
            .field("bytes", &lru.bytes)
            .field("max_entries", &lru.max_entries)
            .field("max_bytes", &lru.max_bytes)
            .finish()
    }
}
