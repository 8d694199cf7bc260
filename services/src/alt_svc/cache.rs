//! [`AltSvcCache`]: the HTTP/3 alternatives learned from `Alt-Svc` response fields, per origin,
//! bounded, expiring on a [`Timer`](hyper::rt::Timer), with broken alternatives backed off.
//!
//! The transport (feature `http3`, [`Http3Config::alt_svc`](crate::transport::Http3Config))
//! feeds it every response from an `https` origin it reached directly, and asks it, before a
//! request that did not choose its HTTP version, whether the origin named an HTTP/3
//! alternative. Only `h3` alternatives are kept: they are the only ones the transport can use.
//!
//! - **Learning** (RFC 7838 §3): a response's `Alt-Svc` fields replace everything known about
//!   its origin; `clear` forgets the origin; a value that does not parse changes nothing; a
//!   response without the field changes nothing. An alternative expires `ma` seconds after it
//!   was received (24 hours when absent).
//! - **Bounds**: at most [`with_capacity`](AltSvcCache::with_capacity) origins (256 by
//!   default; when full, the origin whose alternatives expire first makes room), at most
//!   [`MAX_ALTERNATIVES`](super::MAX_ALTERNATIVES) alternatives each, and as many broken marks
//!   as origins.
//! - **Broken alternatives**: an alternative whose QUIC handshake failed, or did not finish
//!   within the transport's budget, is skipped for a back-off that doubles with every failure
//!   in a row (5 minutes, then 10, 20, … up to 512 × the base, about 43 hours), as browsers
//!   do; one handshake that succeeds clears the mark.
//! - **`persist`**: alternatives without `persist=1` belong to the network they were learned
//!   on (RFC 7838 §2.2); [`network_changed`](AltSvcCache::network_changed) drops them. The
//!   cache cannot see the network change itself: an application that can calls it.
//!
//! Clones share one cache, so clients built with the same cache learn together.
//!
//! ```
//! use http::{HeaderMap, HeaderValue};
//! use towline_services::alt_svc::{AltEndpoint, AltSvcCache};
//! use towline_services::rt::tokio::TokioRuntime;
//! use towline_services::rt::Runtime;
//!
//! let cache = AltSvcCache::new(TokioRuntime.timer());
//! let mut headers = HeaderMap::new();
//! headers.insert("alt-svc", HeaderValue::from_static(r#"h3=":8443"; ma=3600, h2=":443""#));
//! cache.learn("example.com", 443, &headers);
//! assert_eq!(cache.lookup("example.com", 443), Some(AltEndpoint::new(None, 8443)));
//!
//! headers.insert("alt-svc", HeaderValue::from_static("clear"));
//! cache.learn("example.com", 443, &headers);
//! assert_eq!(cache.lookup("example.com", 443), None);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::HeaderMap;
use http::header::ALT_SVC;

use super::{AltSvc, parse_alt_svc};
use crate::rt::SharedTimer;

/// Origins kept by default.
const DEFAULT_CAPACITY: usize = 256;
/// The first back-off of a broken alternative.
const DEFAULT_BROKEN_BACKOFF: Duration = Duration::from_secs(5 * 60);
/// The back-off stops doubling after this many failures in a row (512 × the base).
const MAX_BACKOFF_DOUBLINGS: u32 = 9;

/// Where an HTTP/3 alternative is: a host (`None`: the origin's own) and a UDP port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AltEndpoint {
    host: Option<Arc<str>>,
    port: u16,
}

impl AltEndpoint {
    /// An endpoint on `host` (`None`: the origin's host) and UDP `port`.
    pub fn new(host: Option<&str>, port: u16) -> Self {
        Self {
            host: host.map(|host| Arc::from(host.to_ascii_lowercase())),
            port,
        }
    }

    /// The alternative's host; `None` means the origin's own.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The alternative's UDP port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for AltEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host.as_deref().unwrap_or(""), self.port)
    }
}

/// One alternative the cache holds, as [`AltSvcCache::entries`] lists it (to save the cache,
/// e.g. in curl's `--alt-svc` file).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AltSvcEntry {
    /// The origin's host (lowercase).
    pub host: String,
    /// The origin's port.
    pub port: u16,
    /// Where the alternative is.
    pub endpoint: AltEndpoint,
    /// How long it may still be used.
    pub expires_in: Duration,
    /// `persist=1`.
    pub persist: bool,
}

/// A cache of HTTP/3 alternatives per origin (see the module docs); clones share it.
#[derive(Clone)]
pub struct AltSvcCache {
    state: Arc<Mutex<State>>,
    timer: SharedTimer,
}

impl fmt::Debug for AltSvcCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("AltSvcCache")
            .field("origins", &state.origins.len())
            .field("broken", &state.broken.len())
            .field("capacity", &state.capacity)
            .finish()
    }
}

struct State {
    capacity: usize,
    broken_backoff: Duration,
    origins: HashMap<Origin, Vec<Cached>>,
    broken: HashMap<Origin, Broken>,
}

/// A host (lowercase) and port: an origin, or where an alternative is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Origin {
    host: Box<str>,
    port: u16,
}

impl Origin {
    fn new(host: &str, port: u16) -> Self {
        Self {
            host: host.to_ascii_lowercase().into(),
            port,
        }
    }

    /// Where `endpoint` of this origin is.
    fn of(&self, endpoint: &AltEndpoint) -> Self {
        Self {
            host: endpoint.host().unwrap_or(&self.host).into(),
            port: endpoint.port,
        }
    }
}

struct Cached {
    endpoint: AltEndpoint,
    expires: Instant,
    persist: bool,
}

struct Broken {
    until: Instant,
    failures: u32,
}

impl AltSvcCache {
    /// An empty cache of 256 origins, telling time with `timer`.
    pub fn new(timer: SharedTimer) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                capacity: DEFAULT_CAPACITY,
                broken_backoff: DEFAULT_BROKEN_BACKOFF,
                origins: HashMap::new(),
                broken: HashMap::new(),
            })),
            timer,
        }
    }

    /// Keeps at most `origins` origins (at least one).
    pub fn with_capacity(self, origins: usize) -> Self {
        self.lock().capacity = origins.max(1);
        self
    }

    /// The first back-off of a broken alternative (5 minutes by default); it doubles with
    /// each failure in a row.
    pub fn with_broken_backoff(self, backoff: Duration) -> Self {
        self.lock().broken_backoff = backoff;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is a whole insert or remove: nothing is left half-done by a panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes in the `Alt-Svc` fields of a response from the origin `host`:`port`.
    pub fn learn(&self, host: &str, port: u16, headers: &HeaderMap) {
        let mut values = headers.get_all(ALT_SVC).iter().peekable();
        if values.peek().is_none() {
            return;
        }
        let now = self.timer.now();
        let mut learned = Vec::new();
        for value in values {
            match parse_alt_svc(value.as_bytes()) {
                Ok(AltSvc::Clear) => {
                    self.lock().origins.remove(&Origin::new(host, port));
                    return;
                }
                Ok(AltSvc::Alternatives(alternatives)) => {
                    let h3 = alternatives
                        .into_iter()
                        .filter(|alternative| alternative.protocol() == b"h3")
                        .filter(|alternative| !alternative.max_age().is_zero());
                    for alternative in h3 {
                        if learned.len() == super::MAX_ALTERNATIVES {
                            break;
                        }
                        learned.push(Cached {
                            endpoint: AltEndpoint::new(alternative.host(), alternative.port()),
                            expires: now
                                .checked_add(alternative.max_age())
                                .unwrap_or(now + super::DEFAULT_MAX_AGE),
                            persist: alternative.persist(),
                        });
                    }
                }
                // A value we do not understand must not take away what we knew.
                Err(_) => return,
            }
        }
        let origin = Origin::new(host, port);
        let mut state = self.lock();
        if learned.is_empty() {
            state.origins.remove(&origin);
            return;
        }
        if !state.origins.contains_key(&origin) && state.origins.len() >= state.capacity {
            let soonest = state
                .origins
                .iter()
                .min_by_key(|(_, cached)| cached.iter().map(|c| c.expires).max())
                .map(|(origin, _)| origin.clone());
            if let Some(soonest) = soonest {
                state.origins.remove(&soonest);
            }
        }
        state.origins.insert(origin, learned);
    }

    /// The first alternative of the origin `host`:`port` that has neither expired nor been
    /// marked broken.
    pub fn lookup(&self, host: &str, port: u16) -> Option<AltEndpoint> {
        let mut state = self.lock();
        // Every request of a client with a cache asks: most find it empty.
        if state.origins.is_empty() {
            return None;
        }
        let origin = Origin::new(host, port);
        let now = self.timer.now();
        let State {
            origins, broken, ..
        } = &mut *state;
        let cached = origins.get_mut(&origin)?;
        cached.retain(|c| c.expires > now);
        if cached.is_empty() {
            origins.remove(&origin);
            return None;
        }
        cached
            .iter()
            .find(|c| {
                broken
                    .get(&origin.of(&c.endpoint))
                    .is_none_or(|b| b.until <= now)
            })
            .map(|c| c.endpoint.clone())
    }

    /// Marks `endpoint` of the origin `host`:`port` broken: skipped for a back-off that
    /// doubles with each failure in a row.
    pub fn mark_broken(&self, host: &str, port: u16, endpoint: &AltEndpoint) {
        let key = Origin::new(host, port).of(endpoint);
        let now = self.timer.now();
        let mut state = self.lock();
        let base = state.broken_backoff;
        let failures = state.broken.get(&key).map_or(0, |b| b.failures) + 1;
        let factor = 1u32 << (failures - 1).min(MAX_BACKOFF_DOUBLINGS);
        let backoff = base.checked_mul(factor).unwrap_or(Duration::MAX);
        let until = now.checked_add(backoff).unwrap_or(now + base);
        if !state.broken.contains_key(&key) && state.broken.len() >= state.capacity {
            let earliest = state
                .broken
                .iter()
                .min_by_key(|(_, b)| b.until)
                .map(|(key, _)| key.clone());
            if let Some(earliest) = earliest {
                state.broken.remove(&earliest);
            }
        }
        state.broken.insert(key, Broken { until, failures });
    }

    /// A handshake with `endpoint` of the origin `host`:`port` succeeded: it is no longer
    /// broken, and its back-off starts over.
    pub fn mark_working(&self, host: &str, port: u16, endpoint: &AltEndpoint) {
        let key = Origin::new(host, port).of(endpoint);
        let mut state = self.lock();
        if !state.broken.is_empty() {
            state.broken.remove(&key);
        }
    }

    /// Whether `endpoint` of the origin `host`:`port` is marked broken now.
    pub fn is_broken(&self, host: &str, port: u16, endpoint: &AltEndpoint) -> bool {
        let key = Origin::new(host, port).of(endpoint);
        let now = self.timer.now();
        self.lock().broken.get(&key).is_some_and(|b| b.until > now)
    }

    /// Forgets the alternatives learned without `persist=1`, as RFC 7838 §2.2 asks when the
    /// client's network changes, and every broken mark.
    pub fn network_changed(&self) {
        let mut state = self.lock();
        state.origins.retain(|_, cached| {
            cached.retain(|c| c.persist);
            !cached.is_empty()
        });
        state.broken.clear();
    }

    /// Forgets everything.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.origins.clear();
        state.broken.clear();
    }

    /// Adds an alternative of the origin `host`:`port` that may be used for `max_age` (one
    /// read back from a saved cache, say), after those the origin has; within the cache's
    /// bounds, as [`learn`](Self::learn) keeps them.
    pub fn insert(
        &self,
        host: &str,
        port: u16,
        endpoint: AltEndpoint,
        max_age: Duration,
        persist: bool,
    ) {
        let now = self.timer.now();
        let Some(expires) = now.checked_add(max_age).filter(|_| !max_age.is_zero()) else {
            return;
        };
        let origin = Origin::new(host, port);
        let mut state = self.lock();
        if !state.origins.contains_key(&origin) && state.origins.len() >= state.capacity {
            return;
        }
        let cached = state.origins.entry(origin).or_default();
        cached.retain(|c| c.endpoint != endpoint);
        if cached.len() < super::MAX_ALTERNATIVES {
            cached.push(Cached {
                endpoint,
                expires,
                persist,
            });
        }
    }

    /// The alternatives that have not expired, origin by origin in no particular order, each
    /// origin's in its server's order.
    pub fn entries(&self) -> Vec<AltSvcEntry> {
        let now = self.timer.now();
        let state = self.lock();
        state
            .origins
            .iter()
            .flat_map(|(origin, cached)| {
                cached
                    .iter()
                    .filter(|c| c.expires > now)
                    .map(|c| AltSvcEntry {
                        host: origin.host.to_string(),
                        port: origin.port,
                        endpoint: c.endpoint.clone(),
                        expires_in: c.expires.saturating_duration_since(now),
                        persist: c.persist,
                    })
            })
            .collect()
    }

    /// The number of origins with alternatives (expired ones included until looked up).
    pub fn len(&self) -> usize {
        self.lock().origins.len()
    }

    /// Whether no origin has alternatives.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A clock that moves only when told; its sleeps never end (the cache does not sleep).
    #[derive(Default)]
    struct Clock {
        start: Option<Instant>,
        elapsed_ms: AtomicU64,
    }

    struct Never;

    impl std::future::Future for Never {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
            std::task::Poll::Pending
        }
    }

    impl hyper::rt::Sleep for Never {}

    impl hyper::rt::Timer for Clock {
        fn sleep(&self, _: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
            Box::pin(Never)
        }
        fn sleep_until(&self, _: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
            Box::pin(Never)
        }
        fn now(&self) -> Instant {
            self.start.unwrap_or_else(Instant::now)
                + Duration::from_millis(self.elapsed_ms.load(Ordering::Relaxed))
        }
    }

    fn cache() -> (AltSvcCache, Arc<Clock>) {
        let clock = Arc::new(Clock {
            start: Some(Instant::now()),
            elapsed_ms: AtomicU64::new(0),
        });
        (AltSvcCache::new(clock.clone()), clock)
    }

    fn advance(clock: &Clock, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap();
        clock.elapsed_ms.fetch_add(ms, Ordering::Relaxed);
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(ALT_SVC, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn endpoint(host: Option<&str>, port: u16) -> Option<AltEndpoint> {
        Some(AltEndpoint::new(host, port))
    }

    #[test]
    fn only_h3_alternatives_are_kept_in_the_servers_order() {
        let (cache, _) = cache();
        cache.learn(
            "Example.COM",
            443,
            &headers(&[
                r#"h2=":444", h3-29=":445", h3="alt.example:8443""#,
                r#"h3=":446""#,
            ]),
        );
        assert_eq!(
            cache.lookup("example.com", 443),
            endpoint(Some("alt.example"), 8443)
        );
        assert_eq!(cache.lookup("example.com", 444), None);
    }

    #[test]
    fn a_new_value_replaces_the_old_and_clear_forgets() {
        let (cache, _) = cache();
        cache.learn("a.test", 443, &headers(&[r#"h3=":1001""#]));
        cache.learn("a.test", 443, &headers(&[r#"h3=":1002""#]));
        assert_eq!(cache.lookup("a.test", 443), endpoint(None, 1002));
        // Alternatives that are all unusable replace the usable ones too.
        cache.learn("a.test", 443, &headers(&[r#"h2=":443""#]));
        assert_eq!(cache.lookup("a.test", 443), None);
        cache.learn("a.test", 443, &headers(&[r#"h3=":1003""#]));
        cache.learn("a.test", 443, &headers(&["clear"]));
        assert_eq!(cache.lookup("a.test", 443), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn absent_or_invalid_values_keep_what_was_known() {
        let (cache, _) = cache();
        cache.learn("a.test", 443, &headers(&[r#"h3=":1001""#]));
        cache.learn("a.test", 443, &HeaderMap::new());
        cache.learn("a.test", 443, &headers(&[r#"h3=":1002"; ma=abc"#]));
        cache.learn("a.test", 443, &headers(&[r#"h3=":1003""#, "h3=nonsense"]));
        assert_eq!(cache.lookup("a.test", 443), endpoint(None, 1001));
    }

    #[test]
    fn alternatives_expire_after_max_age() {
        let (cache, clock) = cache();
        cache.learn(
            "a.test",
            443,
            &headers(&[r#"h3=":1001"; ma=60, h3=":1002"; ma=120"#]),
        );
        advance(&clock, Duration::from_secs(59));
        assert_eq!(cache.lookup("a.test", 443), endpoint(None, 1001));
        advance(&clock, Duration::from_secs(1));
        assert_eq!(cache.lookup("a.test", 443), endpoint(None, 1002));
        advance(&clock, Duration::from_secs(60));
        assert_eq!(cache.lookup("a.test", 443), None);
        assert!(cache.is_empty());
        // ma=0 is already expired.
        cache.learn("a.test", 443, &headers(&[r#"h3=":1003"; ma=0"#]));
        assert_eq!(cache.lookup("a.test", 443), None);
    }

    #[test]
    fn a_full_cache_drops_the_origin_expiring_first() {
        let (cache, _) = cache();
        let cache = cache.with_capacity(2);
        cache.learn("a.test", 443, &headers(&[r#"h3=":1"; ma=100"#]));
        cache.learn("b.test", 443, &headers(&[r#"h3=":2"; ma=10"#]));
        cache.learn("c.test", 443, &headers(&[r#"h3=":3"; ma=50"#]));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.lookup("b.test", 443), None);
        assert_eq!(cache.lookup("a.test", 443), endpoint(None, 1));
        assert_eq!(cache.lookup("c.test", 443), endpoint(None, 3));
        // Replacing a known origin makes no room.
        cache.learn("c.test", 443, &headers(&[r#"h3=":4"; ma=1"#]));
        assert_eq!(cache.lookup("a.test", 443), endpoint(None, 1));
    }

    #[test]
    fn broken_alternatives_back_off_exponentially_and_recover() {
        let (cache, clock) = cache();
        let cache = cache.with_broken_backoff(Duration::from_secs(10));
        cache.learn("a.test", 443, &headers(&[r#"h3=":1001", h3=":1002""#]));
        let first = AltEndpoint::new(None, 1001);
        cache.mark_broken("a.test", 443, &first);
        assert!(cache.is_broken("a.test", 443, &first));
        assert_eq!(cache.lookup("a.test", 443), endpoint(None, 1002));
        advance(&clock, Duration::from_secs(10));
        assert_eq!(cache.lookup("a.test", 443), endpoint(None, 1001));
        // Broken again: twice as long.
        cache.mark_broken("a.test", 443, &first);
        advance(&clock, Duration::from_secs(19));
        assert!(cache.is_broken("a.test", 443, &first));
        advance(&clock, Duration::from_secs(1));
        assert!(!cache.is_broken("a.test", 443, &first));
        // A success starts the back-off over.
        cache.mark_working("a.test", 443, &first);
        cache.mark_broken("a.test", 443, &first);
        advance(&clock, Duration::from_secs(10));
        assert!(!cache.is_broken("a.test", 443, &first));
    }

    #[test]
    fn the_back_off_stops_doubling() {
        let (cache, clock) = cache();
        let cache = cache.with_broken_backoff(Duration::from_secs(1));
        let alt = AltEndpoint::new(None, 1);
        for _ in 0..40 {
            cache.mark_broken("a.test", 443, &alt);
        }
        advance(&clock, Duration::from_secs(511));
        assert!(cache.is_broken("a.test", 443, &alt));
        advance(&clock, Duration::from_secs(1));
        assert!(!cache.is_broken("a.test", 443, &alt));
    }

    #[test]
    fn broken_marks_are_bounded() {
        let (cache, _) = cache();
        let cache = cache.with_capacity(3);
        for port in 1..=10 {
            cache.mark_broken("a.test", 443, &AltEndpoint::new(None, port));
        }
        assert_eq!(cache.state.lock().unwrap().broken.len(), 3);
    }

    #[test]
    fn a_network_change_keeps_only_persistent_alternatives() {
        let (cache, _) = cache();
        cache.learn("a.test", 443, &headers(&[r#"h3=":1"; persist=1, h3=":2""#]));
        cache.learn("b.test", 443, &headers(&[r#"h3=":3""#]));
        cache.mark_broken("a.test", 443, &AltEndpoint::new(None, 1));
        cache.network_changed();
        assert_eq!(cache.lookup("a.test", 443), endpoint(None, 1));
        assert_eq!(cache.lookup("b.test", 443), None);
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn entries_round_trip_through_insert() {
        let (cache, clock) = cache();
        cache.learn(
            "a.test",
            443,
            &headers(&[r#"h3="b.test:8443"; ma=100; persist=1, h3=":443"; ma=50"#]),
        );
        advance(&clock, Duration::from_secs(10));
        let mut entries = cache.entries();
        entries.sort_by_key(|e| e.endpoint.port());
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].endpoint, AltEndpoint::new(None, 443));
        assert_eq!(entries[0].expires_in, Duration::from_secs(40));
        assert!(!entries[0].persist);
        assert_eq!(entries[1].endpoint, AltEndpoint::new(Some("b.test"), 8443));
        assert_eq!(entries[1].expires_in, Duration::from_secs(90));
        assert!(entries[1].persist);

        let (copy, _) = super::tests::cache();
        for entry in &entries {
            copy.insert(
                &entry.host,
                entry.port,
                entry.endpoint.clone(),
                entry.expires_in,
                entry.persist,
            );
        }
        let mut copied = copy.entries();
        copied.sort_by_key(|e| e.endpoint.port());
        assert_eq!(copied, entries);
        // Expired or zero-length entries are not taken; the same endpoint twice is once.
        copy.insert(
            "c.test",
            443,
            AltEndpoint::new(None, 1),
            Duration::ZERO,
            false,
        );
        copy.insert(
            "a.test",
            443,
            AltEndpoint::new(None, 443),
            Duration::from_secs(5),
            false,
        );
        assert_eq!(copy.entries().len(), 2);
        assert_eq!(copy.lookup("c.test", 443), None);
    }

    #[test]
    fn an_alternative_on_another_host_is_broken_apart_from_the_origins_own() {
        let (cache, _) = cache();
        cache.learn("a.test", 443, &headers(&[r#"h3="b.test:443", h3=":443""#]));
        cache.mark_broken("a.test", 443, &AltEndpoint::new(Some("B.test"), 443));
        assert_eq!(cache.lookup("a.test", 443), endpoint(None, 443));
    }
}
