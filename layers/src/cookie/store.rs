//! The jar's storage and the RFC 6265 rules, as plain data and functions over an explicit
//! `now`: no locks, no clock, no IO, so every rule is testable on its own.
//!
//! Parsing, domain and path semantics come from `cookie_store` (and the `cookie` crate under
//! it); this file adds what `cookie_store::CookieStore` does not do: expiry measured on a
//! caller-supplied clock, the RFC 6265 §5.4 sending order, `Secure` and prefix rules, the
//! public suffix check against a compiled-in list, and size limits.

use std::collections::HashMap;

use cookie_store::{Cookie as StoreCookie, CookieDomain, CookieExpiration, RawCookie};
use psl::Psl;
use time::OffsetDateTime;
use url::{Host, Url};

use super::{CookieLimits, RejectReason};

/// Longest `Set-Cookie` value considered; longer ones are refused unparsed.
pub(super) const MAX_SET_COOKIE_LEN: usize = 8 * 1024;
/// Longest name plus value of a cookie (RFC 6265bis §5.6: 4096 octets).
pub(super) const MAX_NAME_VALUE_LEN: usize = 4096;

/// The latest expiry stored: 9999-12-31T23:59:59Z, the last instant RFC 3339 (the JSON
/// format) can write. Later dates are clamped to it.
pub(super) fn max_expiry() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(253_402_300_799).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// One stored cookie with the bookkeeping RFC 6265 needs.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    pub(super) cookie: StoreCookie<'static>,
    /// Creation order; kept when a cookie is replaced (RFC 6265 §5.3 step 11.3).
    pub(super) created: u64,
    /// Last time the cookie was set or sent, for eviction.
    last_access: u64,
}

impl Entry {
    pub(super) fn expiry(&self) -> Option<OffsetDateTime> {
        match self.cookie.expires {
            CookieExpiration::AtUtc(at) => Some(at),
            CookieExpiration::SessionEnd => None,
        }
    }

    pub(super) fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.cookie.expires_by(&now)
    }
}

/// What an accepted `Set-Cookie` did to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// A new cookie was stored.
    Inserted,
    /// A cookie with the same name, domain and path was replaced.
    Replaced,
    /// The cookie was already expired: any cookie it names was removed.
    Expired,
}

/// Every cookie of the jar, by domain (the host of host-only cookies).
#[derive(Debug)]
pub(super) struct Store {
    domains: HashMap<String, Vec<Entry>>,
    len: usize,
    tick: u64,
    limits: CookieLimits,
}

impl Store {
    pub(super) fn new(limits: CookieLimits) -> Self {
        Self {
            domains: HashMap::new(),
            len: 0,
            tick: 0,
            limits,
        }
    }

    /// Cookies held, expired ones not yet purged included.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn limits(&self) -> CookieLimits {
        self.limits
    }

    pub(super) fn set_limits(&mut self, limits: CookieLimits, now: OffsetDateTime) {
        self.limits = limits;
        let domains: Vec<String> = self.domains.keys().cloned().collect();
        for domain in domains {
            self.enforce_domain_limit(&domain, now);
        }
        self.enforce_total_limit(now);
    }

    pub(super) fn clear(&mut self) {
        self.domains.clear();
        self.len = 0;
    }

    fn next_tick(&mut self) -> u64 {
        self.tick = self.tick.saturating_add(1);
        self.tick
    }

    /// Applies one `Set-Cookie` value received in a response to a request for `url`
    /// (RFC 6265 §5.2 and §5.3, with the RFC 6265bis `Secure` and prefix rules).
    pub(super) fn set_cookie(
        &mut self,
        set_cookie: &str,
        url: &Url,
        now: OffsetDateTime,
    ) -> Result<Outcome, RejectReason> {
        if set_cookie.len() > MAX_SET_COOKIE_LEN {
            return Err(RejectReason::TooLarge);
        }
        if !is_http(url) {
            return Err(RejectReason::NotHttp);
        }
        let host = url.host_str().ok_or(RejectReason::NoHost)?;
        let host_is_ip = !matches!(url.host(), Some(Host::Domain(_)));
        let raw = RawCookie::parse(set_cookie).map_err(|_| RejectReason::Malformed)?;
        let (name, value) = raw.name_value();
        if name.len().saturating_add(value.len()) > MAX_NAME_VALUE_LEN {
            return Err(RejectReason::TooLarge);
        }
        // RFC 6265bis §5.6 step 2: a control character anywhere in the name or value makes
        // the cookie ignored (otherwise it would poison the whole Cookie header).
        if name
            .bytes()
            .chain(value.bytes())
            .any(|b| b.is_ascii_control() && b != b'\t')
        {
            return Err(RejectReason::Malformed);
        }
        // `SameSite=None` and `Partitioned` require `Secure` (RFC 6265bis §5.6.7, CHIPS),
        // as browsers enforce; storing them without it would also change meaning on a JSON
        // round trip, where the `cookie` crate writes them with `Secure`.
        if raw.secure() != Some(true)
            && (raw.same_site() == Some(::cookie::SameSite::None)
                || raw.partitioned() == Some(true))
        {
            return Err(RejectReason::Malformed);
        }

        // `cookie_store` trims the Domain value; whitespace left after its leading dot
        // (`Domain=.  example.org`) makes a domain that matches no host (RFC 6265 §5.2.3).
        if raw
            .domain()
            .is_some_and(|domain| domain.bytes().any(|byte| byte == b' ' || byte == b'\t'))
        {
            return Err(RejectReason::DomainMismatch);
        }
        let mut cookie = StoreCookie::try_from_raw_cookie(&raw, url)
            .map_err(|err| match err {
                cookie_store::CookieError::DomainMismatch => RejectReason::DomainMismatch,
                cookie_store::CookieError::NonHttpScheme => RejectReason::NotHttp,
                _ => RejectReason::Malformed,
            })?
            .into_owned();

        if let CookieDomain::Suffix(domain) = &cookie.domain {
            if host_is_ip {
                // An IP address only ever matches itself.
                if domain != host {
                    return Err(RejectReason::DomainMismatch);
                }
                cookie.domain = CookieDomain::HostOnly(host.to_owned());
            } else if is_public_suffix(domain) {
                // RFC 6265 §5.3 step 5: a public suffix is only acceptable as the request
                // host itself, and then the cookie is host-only.
                if domain != host {
                    return Err(RejectReason::PublicSuffix);
                }
                cookie.domain = CookieDomain::HostOnly(host.to_owned());
            }
        }

        let secure_origin = is_secure(url);
        let secure = cookie.secure() == Some(true);
        if secure && !secure_origin {
            return Err(RejectReason::InsecureOrigin);
        }
        check_prefix(&cookie, secure_origin)?;

        // Expiry on our clock: Max-Age wins over Expires (RFC 6265 §5.3 step 3).
        let expiry = if let Some(max_age) = cookie.max_age() {
            if max_age.is_positive() {
                Some(
                    now.checked_add(max_age)
                        .map_or_else(max_expiry, |at| at.min(max_expiry())),
                )
            } else {
                Some(OffsetDateTime::UNIX_EPOCH.min(now))
            }
        } else {
            cookie.expires_datetime().map(|at| at.min(max_expiry()))
        };
        cookie.expires = match expiry {
            Some(at) => CookieExpiration::AtUtc(at),
            None => CookieExpiration::SessionEnd,
        };
        let expired = expiry.is_some_and(|at| at <= now);

        let domain_key = String::from(&cookie.domain);
        if !secure_origin && self.shadows_secure_cookie(&cookie, &domain_key) {
            return Err(RejectReason::InsecureOrigin);
        }

        let tick = self.next_tick();
        let path = cookie.path.as_ref().to_owned();
        let name = cookie.name().to_owned();
        let existing = self.domains.get(&domain_key).and_then(|bucket| {
            bucket
                .iter()
                .position(|entry| *entry.cookie.path == *path && entry.cookie.name() == name)
        });
        let outcome = match (existing, expired) {
            (Some(index), true) => {
                self.remove_at(&domain_key, index);
                Outcome::Expired
            }
            (None, true) => Outcome::Expired,
            (Some(index), false) => {
                if let Some(entry) = self
                    .domains
                    .get_mut(&domain_key)
                    .and_then(|bucket| bucket.get_mut(index))
                {
                    entry.cookie = cookie;
                    entry.last_access = tick;
                }
                Outcome::Replaced
            }
            (None, false) => {
                self.domains
                    .entry(domain_key.clone())
                    .or_default()
                    .push(Entry {
                        cookie,
                        created: tick,
                        last_access: tick,
                    });
                self.len = self.len.saturating_add(1);
                Outcome::Inserted
            }
        };
        if outcome == Outcome::Inserted {
            self.enforce_domain_limit(&domain_key, now);
            self.enforce_total_limit(now);
        }
        Ok(outcome)
    }

    /// Adds a cookie read back from a saved jar, re-checking what a file could get wrong.
    /// Returns whether it was stored.
    pub(super) fn insert_loaded(
        &mut self,
        cookie: StoreCookie<'static>,
        now: OffsetDateTime,
    ) -> bool {
        let domain = match &cookie.domain {
            CookieDomain::HostOnly(domain) => domain.clone(),
            CookieDomain::Suffix(domain) if !is_public_suffix(domain) => domain.clone(),
            _ => return false,
        };
        let (name, value) = cookie.name_value();
        if domain.is_empty()
            || name.is_empty()
            || name.len().saturating_add(value.len()) > MAX_NAME_VALUE_LEN
            || cookie.expires_by(&now)
        {
            return false;
        }
        let tick = self.next_tick();
        let bucket = self.domains.entry(domain.clone()).or_default();
        let path: &str = &cookie.path;
        if let Some(entry) = bucket
            .iter_mut()
            .find(|entry| *entry.cookie.path == *path && entry.cookie.name() == cookie.name())
        {
            entry.cookie = cookie;
            entry.last_access = tick;
        } else {
            bucket.push(Entry {
                cookie,
                created: tick,
                last_access: tick,
            });
            self.len = self.len.saturating_add(1);
            self.enforce_domain_limit(&domain, now);
            self.enforce_total_limit(now);
        }
        true
    }

    /// The `name=value` pairs a request to `url` carries, in RFC 6265 §5.4 order: longer
    /// paths first, then earlier created first. Marks them as used.
    pub(super) fn matching(&mut self, url: &Url, now: OffsetDateTime) -> Vec<(String, String)> {
        if !is_http(url) {
            return Vec::new();
        }
        let Some(host) = url.host_str() else {
            return Vec::new();
        };
        let host_is_ip = !matches!(url.host(), Some(Host::Domain(_)));
        let secure = is_secure(url);
        let request_path = url.path();
        let tick = self.next_tick();
        let mut found: Vec<(usize, u64, String, String)> = Vec::new();
        for domain in candidate_domains(host, host_is_ip) {
            let Some(bucket) = self.domains.get_mut(domain) else {
                continue;
            };
            for entry in bucket.iter_mut() {
                let cookie = &entry.cookie;
                if cookie.expires_by(&now)
                    || !cookie.domain.matches(url)
                    || !path_matches(&cookie.path, request_path)
                    || (cookie.secure() == Some(true) && !secure)
                {
                    continue;
                }
                entry.last_access = tick;
                found.push((
                    cookie.path.len(),
                    entry.created,
                    cookie.name().to_owned(),
                    cookie.value().to_owned(),
                ));
            }
        }
        found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        found
            .into_iter()
            .map(|(_, _, name, value)| (name, value))
            .collect()
    }

    /// Unexpired cookies, oldest first.
    pub(super) fn live(&self, now: OffsetDateTime) -> Vec<&Entry> {
        let mut live: Vec<&Entry> = self
            .domains
            .values()
            .flatten()
            .filter(|entry| !entry.is_expired(now))
            .collect();
        live.sort_by_key(|entry| entry.created);
        live
    }

    /// Drops every expired cookie.
    pub(super) fn purge_expired(&mut self, now: OffsetDateTime) {
        let mut removed = 0usize;
        self.domains.retain(|_, bucket| {
            let before = bucket.len();
            bucket.retain(|entry| !entry.is_expired(now));
            removed = removed.saturating_add(before - bucket.len());
            !bucket.is_empty()
        });
        self.len = self.len.saturating_sub(removed);
    }

    /// RFC 6265bis §5.7 step 16 ("leave secure cookies alone"): a cookie set over an
    /// insecure channel must not replace or shadow a `Secure` cookie of the same name.
    fn shadows_secure_cookie(&self, cookie: &StoreCookie<'_>, domain: &str) -> bool {
        self.domains.iter().any(|(existing_domain, bucket)| {
            (domain_matches(existing_domain, domain) || domain_matches(domain, existing_domain))
                && bucket.iter().any(|entry| {
                    entry.cookie.secure() == Some(true)
                        && entry.cookie.name() == cookie.name()
                        && path_matches(&entry.cookie.path, &cookie.path)
                })
        })
    }

    fn remove_at(&mut self, domain: &str, index: usize) {
        if let Some(bucket) = self.domains.get_mut(domain)
            && index < bucket.len()
        {
            bucket.remove(index);
            self.len = self.len.saturating_sub(1);
            if bucket.is_empty() {
                self.domains.remove(domain);
            }
        }
    }

    fn enforce_domain_limit(&mut self, domain: &str, now: OffsetDateTime) {
        let max = self.limits.per_domain;
        let Some(bucket) = self.domains.get_mut(domain) else {
            return;
        };
        if bucket.len() <= max {
            return;
        }
        let before = bucket.len();
        bucket.retain(|entry| !entry.is_expired(now));
        while bucket.len() > max {
            let Some(oldest) = least_recently_used(bucket.iter().enumerate()) else {
                break;
            };
            bucket.remove(oldest);
        }
        let removed = before - bucket.len();
        if bucket.is_empty() {
            self.domains.remove(domain);
        }
        self.len = self.len.saturating_sub(removed);
    }

    fn enforce_total_limit(&mut self, now: OffsetDateTime) {
        if self.len <= self.limits.total {
            return;
        }
        self.purge_expired(now);
        while self.len > self.limits.total {
            let oldest = self
                .domains
                .iter()
                .flat_map(|(domain, bucket)| {
                    bucket.iter().enumerate().map(move |(index, entry)| {
                        (entry.last_access, entry.created, domain, index)
                    })
                })
                .min_by_key(|(last_access, created, _, _)| (*last_access, *created))
                .map(|(_, _, domain, index)| (domain.clone(), index));
            let Some((domain, index)) = oldest else {
                break;
            };
            self.remove_at(&domain, index);
        }
    }
}

fn least_recently_used<'a>(entries: impl Iterator<Item = (usize, &'a Entry)>) -> Option<usize> {
    entries
        .min_by_key(|(_, entry)| (entry.last_access, entry.created))
        .map(|(index, _)| index)
}

/// The domains whose cookies may match `host`: the host itself and, for host names, each
/// parent domain.
fn candidate_domains(host: &str, host_is_ip: bool) -> impl Iterator<Item = &str> {
    let mut next = Some(host);
    std::iter::from_fn(move || {
        let current = next?;
        next = if host_is_ip {
            None
        } else {
            current
                .split_once('.')
                .map(|(_, parent)| parent)
                .filter(|parent| !parent.is_empty())
        };
        Some(current)
    })
}

/// Whether `domain` is a public suffix known to the public suffix list.
///
/// Like `cookie_store`, only suffixes the list names count, not the list's implicit `*`
/// rule, so a private TLD (`.test`, `.internal`) still takes domain cookies.
pub(super) fn is_public_suffix(domain: &str) -> bool {
    let domain = domain.to_ascii_lowercase();
    psl::List
        .suffix(domain.as_bytes())
        .is_some_and(|suffix| suffix.is_known() && suffix == domain.as_bytes())
}

/// RFC 6265 §5.1.3 domain-match of `host` against `domain` (both canonical).
fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes().get(host.len() - domain.len() - 1) == Some(&b'.')
            && host.parse::<std::net::IpAddr>().is_err())
}

/// RFC 6265 §5.1.4 path-match: equal, or a prefix ending at a `/` boundary.
pub(super) fn path_matches(cookie_path: &str, request_path: &str) -> bool {
    cookie_path == request_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

fn is_http(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https" | "ws" | "wss")
}

/// A secure channel: only `https` (and `wss`). Unlike browsers, loopback hosts are not
/// treated as secure.
fn is_secure(url: &Url) -> bool {
    matches!(url.scheme(), "https" | "wss")
}

/// RFC 6265bis §4.1.3 cookie name prefixes, matched case-insensitively.
fn check_prefix(cookie: &StoreCookie<'_>, secure_origin: bool) -> Result<(), RejectReason> {
    let name = cookie.name().as_bytes();
    let has_prefix = |prefix: &[u8]| {
        name.len() >= prefix.len() && name[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    let secure = cookie.secure() == Some(true) && secure_origin;
    if has_prefix(b"__Secure-") && !secure {
        return Err(RejectReason::Prefix);
    }
    if has_prefix(b"__Host-")
        && !(secure
            && cookie.domain().is_none()
            && matches!(cookie.domain, CookieDomain::HostOnly(_))
            && cookie.path() == Some("/"))
    {
        return Err(RejectReason::Prefix);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn candidate_domains_walk_up_host_names_only() {
        let names: Vec<&str> = candidate_domains("a.b.example.org", false).collect();
        assert_eq!(
            names,
            ["a.b.example.org", "b.example.org", "example.org", "org"]
        );
        let ip: Vec<&str> = candidate_domains("127.0.0.1", true).collect();
        assert_eq!(ip, ["127.0.0.1"]);
        let dotted: Vec<&str> = candidate_domains("example.org.", false).collect();
        assert_eq!(dotted, ["example.org.", "org."]);
    }

    #[test]
    fn path_match_needs_a_slash_boundary() {
        assert!(path_matches("/", "/anything"));
        assert!(path_matches("/foo", "/foo"));
        assert!(path_matches("/foo", "/foo/bar"));
        assert!(path_matches("/foo/", "/foo/bar"));
        assert!(!path_matches("/foo", "/foobar"));
        assert!(!path_matches("/foo/bar", "/foo"));
    }

    #[test]
    fn domain_match_rejects_ip_suffixes() {
        assert!(domain_matches("a.example.org", "example.org"));
        assert!(!domain_matches("aexample.org", "example.org"));
        assert!(!domain_matches("1.2.3.4", "2.3.4"));
        assert!(domain_matches("1.2.3.4", "1.2.3.4"));
    }

    #[test]
    fn public_suffixes_come_from_the_list() {
        assert!(is_public_suffix("com"));
        assert!(is_public_suffix("co.uk"));
        assert!(is_public_suffix("github.io"));
        assert!(!is_public_suffix("example.com"));
        // Unlisted TLDs are not treated as public suffixes.
        assert!(!is_public_suffix("test"));
    }

    #[test]
    fn expiry_is_clamped_and_measured_on_the_given_clock() {
        let now = OffsetDateTime::from_unix_timestamp(1_340_000_000).unwrap();
        let mut store = Store::new(CookieLimits::default());
        let url = url("http://example.org/");
        let set = store.set_cookie("a=1; Max-Age=9223372036854775807", &url, now);
        assert_eq!(set, Ok(Outcome::Inserted));
        assert_eq!(store.live(now)[0].expiry(), Some(max_expiry()));
        // An Expires date before now (2012), later than the real date, is already expired.
        let set = store.set_cookie("b=1; Expires=Fri, 07 Aug 2007 08:04:19 GMT", &url, now);
        assert_eq!(set, Ok(Outcome::Expired));
        let set = store.set_cookie("c=1; Expires=Fri, 07 Aug 2019 08:04:19 GMT", &url, now);
        assert_eq!(set, Ok(Outcome::Inserted));
        assert_eq!(store.matching(&url, now).len(), 2);
    }
}
