//! The [`HstsStore`] handle, and the known-hosts table and URI rewrite behind it as plain
//! data and functions over an explicit `now`.

use std::{
    collections::HashMap,
    fmt,
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime},
};

use http::{
    HeaderMap, Uri,
    header::STRICT_TRANSPORT_SECURITY,
    uri::{Authority, Scheme},
};

use super::{StsDirectives, parse::MAX_AGE_CAP, parse_sts};
use crate::{
    sync::lock,
    time::{SharedWallClock, SystemClock, saturating_add_wall},
};

/// The longest host name kept (DNS allows 253 characters).
const MAX_HOST_LEN: usize = 253;

/// A host known to be HTTPS-only, as [`HstsStore::entries`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HstsEntry {
    /// The host name, lower-case, without a trailing dot.
    pub host: String,
    /// Whether the policy covers subdomains too.
    pub include_subdomains: bool,
    /// When the policy lapses.
    pub expires: SystemTime,
}

#[derive(Debug, Clone, Copy)]
struct Policy {
    expires: SystemTime,
    include_subdomains: bool,
}

/// The known HSTS hosts.
#[derive(Debug)]
pub(super) struct KnownHosts {
    hosts: HashMap<String, Policy>,
    max_entries: usize,
}

impl KnownHosts {
    pub(super) fn new(max_entries: usize) -> Self {
        Self {
            hosts: HashMap::new(),
            max_entries,
        }
    }

    /// Applies a valid header (or a manual entry) for `host` (already normalised): a zero
    /// `max_age` forgets the host, anything else (re)sets its policy.
    pub(super) fn record(&mut self, host: String, directives: StsDirectives, now: SystemTime) {
        if directives.max_age.is_zero() {
            self.hosts.remove(&host);
            return;
        }
        let policy = Policy {
            expires: saturating_add_wall(now, directives.max_age.min(MAX_AGE_CAP)),
            include_subdomains: directives.include_subdomains,
        };
        if !self.hosts.contains_key(&host) && self.hosts.len() >= self.max_entries {
            self.make_room(now);
            if self.hosts.len() >= self.max_entries {
                return;
            }
        }
        self.hosts.insert(host, policy);
    }

    /// Whether a request to `host` (already normalised) must use HTTPS (RFC 6797 §8.2): a
    /// policy for the host itself, or an `includeSubDomains` policy of a parent domain.
    pub(super) fn is_known(&self, host: &str, now: SystemTime) -> bool {
        let live = |name: &str, subdomain: bool| {
            self.hosts.get(name).is_some_and(|policy| {
                policy.expires > now && (!subdomain || policy.include_subdomains)
            })
        };
        if live(host, false) {
            return true;
        }
        let mut rest = host;
        while let Some((_, parent)) = rest.split_once('.') {
            if parent.is_empty() {
                break;
            }
            if live(parent, true) {
                return true;
            }
            rest = parent;
        }
        false
    }

    /// Drops expired policies, then, while still full, the one that lapses first.
    fn make_room(&mut self, now: SystemTime) {
        self.hosts.retain(|_, policy| policy.expires > now);
        if self.hosts.len() >= self.max_entries
            && let Some(first) = self
                .hosts
                .iter()
                .min_by_key(|(_, policy)| policy.expires)
                .map(|(host, _)| host.clone())
        {
            self.hosts.remove(&first);
        }
    }

    fn set_max_entries(&mut self, max_entries: usize, now: SystemTime) {
        self.max_entries = max_entries;
        while self.hosts.len() > max_entries {
            let before = self.hosts.len();
            self.make_room(now);
            if self.hosts.len() == before {
                break;
            }
        }
    }

    fn entries(&self, now: SystemTime) -> Vec<HstsEntry> {
        let mut entries: Vec<HstsEntry> = self
            .hosts
            .iter()
            .filter(|(_, policy)| policy.expires > now)
            .map(|(host, policy)| HstsEntry {
                host: host.clone(),
                include_subdomains: policy.include_subdomains,
                expires: policy.expires,
            })
            .collect();
        entries.sort_by(|a, b| a.host.cmp(&b.host));
        entries
    }
}

/// A host name as the store keys it: lower-case, without a trailing dot. `None` for IP
/// literals (including IPv4-looking names such as `127.1`, whose last label is numeric), which
/// never get a policy (RFC 6797 §8.1), and for empty or over-long names.
pub(super) fn normalize_host(host: &str) -> Option<String> {
    let unbracketed = host.trim_start_matches('[').trim_end_matches(']');
    if unbracketed.parse::<IpAddr>().is_ok() || host.starts_with('[') {
        return None;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    let last_label = host.rsplit('.').next().unwrap_or(host);
    if host.is_empty()
        || host.len() > MAX_HOST_LEN
        || last_label.is_empty()
        || last_label.bytes().all(|byte| byte.is_ascii_digit())
        || last_label
            .as_bytes()
            .split_at_checked(2)
            .is_some_and(|(prefix, digits)| {
                prefix.eq_ignore_ascii_case(b"0x")
                    && !digits.is_empty()
                    && digits.iter().all(u8::is_ascii_hexdigit)
            })
    {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

/// `uri` with the `https` scheme (RFC 6797 §8.3): an explicit port 80 becomes 443, any other
/// explicit port is kept, userinfo, path and query are kept. `None` when the URI has no
/// authority or cannot be rebuilt.
pub(super) fn upgrade_uri(uri: &Uri) -> Option<Uri> {
    let authority = uri.authority()?;
    let authority = if authority.port_u16() == Some(80) {
        let text = authority.as_str();
        let (without_port, _) = text.rsplit_once(':')?;
        Authority::try_from(format!("{without_port}:443")).ok()?
    } else {
        authority.clone()
    };
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(Scheme::HTTPS);
    parts.authority = Some(authority);
    parts.path_and_query = Some(
        uri.path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
    );
    Uri::from_parts(parts).ok()
}

/// The hosts known to be HTTPS-only, shared by every clone of an
/// [`HstsLayer`](super::HstsLayer) (and every handle cloned from this one).
///
/// The layer fills it from the `Strict-Transport-Security` headers of HTTPS responses; it
/// can also be filled by hand ([`add`](Self::add)), for example with preloaded hosts. Policy
/// lifetimes are measured on a [`WallClock`](crate::time::WallClock), the system clock unless
/// [`with_clock`](Self::with_clock) sets another. The store holds at most
/// [`with_max_entries`](Self::with_max_entries) hosts (10 000 by default); when full, expired
/// policies and then the one that lapses first make room.
#[derive(Clone)]
pub struct HstsStore {
    inner: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// How many hosts the store holds (lapsed ones included), kept after every change: while
    /// it is zero — until the first HSTS response, for most clients — a request is let
    /// through without normalising its host or taking the lock.
    stored: AtomicUsize,
}

struct State {
    hosts: KnownHosts,
    clock: SharedWallClock,
}

impl Default for HstsStore {
    fn default() -> Self {
        Self::new()
    }
}

impl HstsStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Shared {
                state: Mutex::new(State {
                    hosts: KnownHosts::new(10_000),
                    clock: SystemClock::shared(),
                }),
                stored: AtomicUsize::new(0),
            }),
        }
    }

    /// Measures policy lifetimes on `clock` from now on.
    pub fn with_clock(self, clock: SharedWallClock) -> Self {
        lock(&self.inner.state).clock = clock;
        self
    }

    /// Keeps at most `max_entries` hosts, evicting at once what no longer fits.
    pub fn with_max_entries(self, max_entries: usize) -> Self {
        self.change(|state| {
            let now = state.clock.now();
            state.hosts.set_max_entries(max_entries, now);
        });
        self
    }

    /// Marks `host` HTTPS-only for `max_age` (clamped to one year; zero forgets the host),
    /// as a valid header from it would. Returns `false`, storing nothing, for IP addresses and
    /// names that are not host names.
    pub fn add(&self, host: &str, max_age: Duration, include_subdomains: bool) -> bool {
        let Some(host) = normalize_host(host) else {
            return false;
        };
        self.change(|state| {
            let now = state.clock.now();
            state.hosts.record(
                host,
                StsDirectives {
                    max_age,
                    include_subdomains,
                },
                now,
            );
        });
        true
    }

    /// Forgets `host`'s own policy. Returns whether there was one.
    pub fn remove(&self, host: &str) -> bool {
        normalize_host(host)
            .is_some_and(|host| self.change(|state| state.hosts.hosts.remove(&host).is_some()))
    }

    /// Forgets every host.
    pub fn clear(&self) {
        self.change(|state| state.hosts.hosts.clear());
    }

    /// Whether requests to `host` are upgraded to HTTPS now: it, or a parent domain with
    /// `includeSubDomains`, has a policy that has not lapsed.
    pub fn is_known(&self, host: &str) -> bool {
        if self.inner.stored.load(Ordering::Acquire) == 0 {
            return false;
        }
        let Some(host) = normalize_host(host) else {
            return false;
        };
        let state = lock(&self.inner.state);
        let now = state.clock.now();
        state.hosts.is_known(&host, now)
    }

    /// The policies that have not lapsed, by host name.
    pub fn entries(&self) -> Vec<HstsEntry> {
        let state = lock(&self.inner.state);
        let now = state.clock.now();
        state.hosts.entries(now)
    }

    /// How many hosts have a policy that has not lapsed.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether no host has a policy that has not lapsed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `https` form of `uri` when it is an `http` URI for a known host, else `None`.
    pub fn upgrade(&self, uri: &Uri) -> Option<Uri> {
        if uri.scheme() != Some(&Scheme::HTTP) {
            return None;
        }
        if !self.is_known(uri.host()?) {
            return None;
        }
        upgrade_uri(uri)
    }

    /// Applies the first valid `Strict-Transport-Security` header of a response from `host`
    /// received over HTTPS.
    pub(super) fn record_response(&self, host: &str, headers: &HeaderMap) {
        let Some(directives) = headers
            .get_all(STRICT_TRANSPORT_SECURITY)
            .iter()
            .find_map(|value| parse_sts(value.as_bytes()).ok())
        else {
            return;
        };
        let Some(host) = normalize_host(host) else {
            return;
        };
        self.change(|state| {
            let now = state.clock.now();
            state.hosts.record(host, directives, now);
        });
    }

    /// Runs `change` on the locked state, then records how many hosts it left.
    fn change<R>(&self, change: impl FnOnce(&mut State) -> R) -> R {
        let mut state = lock(&self.inner.state);
        let changed = change(&mut state);
        self.inner
            .stored
            .store(state.hosts.hosts.len(), Ordering::Release);
        changed
    }
}

impl fmt::Debug for HstsStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.inner.state);
        f.debug_struct("HstsStore")
            .field("hosts", &state.hosts.hosts.len())
            .field("max_entries", &state.hosts.max_entries)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn directives(secs: u64, include_subdomains: bool) -> StsDirectives {
        StsDirectives {
            max_age: Duration::from_secs(secs),
            include_subdomains,
        }
    }

    #[test]
    fn host_normalisation_refuses_ip_literals() {
        assert_eq!(normalize_host("Example.COM."), Some("example.com".into()));
        assert_eq!(normalize_host("127.0.0.1"), None);
        assert_eq!(normalize_host("127.1"), None);
        assert_eq!(normalize_host("0x7f.1"), None);
        assert_eq!(normalize_host("[::1]"), None);
        assert_eq!(normalize_host("::1"), None);
        assert_eq!(normalize_host("[fe80::1%25eth0]"), None);
        assert_eq!(normalize_host(""), None);
        assert_eq!(normalize_host("."), None);
        assert_eq!(normalize_host(&"a".repeat(254)), None);
        assert_eq!(normalize_host("1.example"), Some("1.example".into()));
        assert_eq!(normalize_host("0x.example"), Some("0x.example".into()));
        // Non-ASCII input (from `HstsStore::add`) is handled byte-wise, never sliced mid-char.
        assert_eq!(normalize_host("aé"), Some("aé".into()));
        assert_eq!(normalize_host("x.aé"), Some("x.aé".into()));
        assert_eq!(normalize_host("ÉXAMPLE.é"), Some("Éxample.é".into()));
    }

    #[test]
    fn subdomains_are_covered_only_with_include_subdomains() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut hosts = KnownHosts::new(10);
        hosts.record("example.com".into(), directives(100, false), now);
        hosts.record("secure.org".into(), directives(100, true), now);
        assert!(hosts.is_known("example.com", now));
        assert!(!hosts.is_known("www.example.com", now));
        assert!(hosts.is_known("secure.org", now));
        assert!(hosts.is_known("a.b.secure.org", now));
        assert!(!hosts.is_known("notsecure.org", now));
        // Lapsed at max-age.
        let later = now + Duration::from_secs(100);
        assert!(!hosts.is_known("example.com", later));
        // max-age=0 forgets.
        hosts.record("secure.org".into(), directives(0, true), now);
        assert!(!hosts.is_known("secure.org", now));
    }

    #[test]
    fn a_full_table_drops_expired_then_soonest() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut hosts = KnownHosts::new(2);
        hosts.record("a.test".into(), directives(10, false), now);
        hosts.record("b.test".into(), directives(1000, false), now);
        hosts.record("c.test".into(), directives(500, false), now);
        assert!(!hosts.is_known("a.test", now));
        assert!(hosts.is_known("b.test", now));
        assert!(hosts.is_known("c.test", now));
        assert_eq!(hosts.hosts.len(), 2);
    }

    #[test]
    fn huge_max_age_near_the_end_of_time_does_not_overflow() {
        let mut hosts = KnownHosts::new(2);
        // The latest time this platform represents to the second.
        let mut far = UNIX_EPOCH;
        let mut step = Duration::from_secs(u64::MAX);
        while !step.is_zero() {
            if let Some(later) = far.checked_add(step) {
                far = later;
            } else {
                step /= 2;
            }
        }
        hosts.record("a.test".into(), directives(u64::MAX, true), far);
        assert_eq!(hosts.hosts.len(), 1);
        assert!(hosts.hosts["a.test"].expires >= far);
    }

    #[test]
    fn upgrade_rewrites_scheme_and_port_80_only() {
        let cases = [
            ("http://example.com/a?b=c", "https://example.com/a?b=c"),
            ("http://example.com:80/", "https://example.com:443/"),
            ("http://example.com:8080/x", "https://example.com:8080/x"),
            (
                "http://user:pw@example.com:80/",
                "https://user:pw@example.com:443/",
            ),
            ("http://example.com", "https://example.com/"),
        ];
        for (from, to) in cases {
            let upgraded = upgrade_uri(&from.parse().unwrap()).unwrap();
            assert_eq!(upgraded.to_string(), to, "{from}");
        }
        assert!(upgrade_uri(&"/relative".parse().unwrap()).is_none());
    }
}
