//! The [`CookieJar`] handle and what it shows of its cookies.

use std::{
    error::Error,
    fmt,
    io::{self, BufRead, Read, Write},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use cookie_store::{Cookie as StoreCookie, CookieDomain};
use http::{HeaderValue, Uri};
use time::OffsetDateTime;
use url::Url;

use super::{
    CookieStore, netscape,
    store::{Entry, Store},
};
use crate::{
    sync::lock,
    time::{SharedWallClock, SystemClock},
};

/// How many cookies a [`CookieJar`] keeps.
///
/// When a domain (the host of a host-only cookie, or a cookie's `Domain`) holds more than
/// `per_domain` cookies, or the jar more than `total`, expired cookies go first, then the
/// least recently used ones. The defaults, 180 per domain and 3000 in all, are those of
/// current browsers (RFC 6265 §6.1 asks for at least 50 and 3000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CookieLimits {
    /// Most cookies kept for one domain.
    pub per_domain: usize,
    /// Most cookies kept in the jar.
    pub total: usize,
}

impl Default for CookieLimits {
    fn default() -> Self {
        Self {
            per_domain: 180,
            total: 3000,
        }
    }
}

/// Why a `Set-Cookie` was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// Not a cookie: no `name=value` pair, an empty name, or an unusable `Domain`.
    Malformed,
    /// The header is longer than 8 KiB, or name and value longer than 4096 bytes.
    TooLarge,
    /// The `Domain` attribute does not cover the request host (for an IP address: is not that
    /// address).
    DomainMismatch,
    /// The `Domain` attribute is a public suffix (`com`, `co.uk`, `github.io`) other than the
    /// request host itself.
    PublicSuffix,
    /// A `Secure` cookie set over plain HTTP, or a plain-HTTP cookie that would shadow a
    /// `Secure` one (RFC 6265bis).
    InsecureOrigin,
    /// A `__Secure-` or `__Host-` cookie that breaks its prefix's rules.
    Prefix,
    /// The request was not an HTTP(S) request.
    NotHttp,
    /// The request URI has no host.
    NoHost,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "malformed Set-Cookie",
            Self::TooLarge => "cookie too large",
            Self::DomainMismatch => "Domain attribute does not match the request host",
            Self::PublicSuffix => "Domain attribute is a public suffix",
            Self::InsecureOrigin => "Secure cookie over an insecure channel",
            Self::Prefix => "cookie breaks the rules of its name prefix",
            Self::NotHttp => "not an HTTP request",
            Self::NoHost => "request URI has no host",
        })
    }
}

impl Error for RejectReason {}

/// A cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=None`.
    None,
}

/// A cookie held by a [`CookieJar`], as [`CookieJar::cookies`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredCookie {
    /// The cookie's name.
    pub name: String,
    /// The cookie's value, as received (quotes included).
    pub value: String,
    /// The host (for a host-only cookie) or the domain the cookie is sent to.
    pub domain: String,
    /// Whether the cookie goes to `domain` only, not to its subdomains (no `Domain`
    /// attribute was given).
    pub host_only: bool,
    /// The path the cookie is sent under.
    pub path: String,
    /// Sent over HTTPS only.
    pub secure: bool,
    /// The `HttpOnly` attribute.
    pub http_only: bool,
    /// The `SameSite` attribute, when given with a known value.
    pub same_site: Option<SameSite>,
    /// When the cookie expires; `None` for a session cookie.
    pub expiry: Option<SystemTime>,
}

impl StoredCookie {
    fn from_entry(entry: &Entry) -> Self {
        let cookie = &entry.cookie;
        Self {
            name: cookie.name().to_owned(),
            value: cookie.value().to_owned(),
            domain: String::from(&cookie.domain),
            host_only: matches!(cookie.domain, CookieDomain::HostOnly(_)),
            path: String::from(&cookie.path),
            secure: cookie.secure() == Some(true),
            http_only: cookie.http_only() == Some(true),
            same_site: cookie.same_site().map(|same_site| match same_site {
                ::cookie::SameSite::Strict => SameSite::Strict,
                ::cookie::SameSite::Lax => SameSite::Lax,
                ::cookie::SameSite::None => SameSite::None,
            }),
            expiry: entry.expiry().map(to_system_time),
        }
    }
}

/// Saving or loading a [`CookieJar`] failed.
#[derive(Debug)]
pub struct CookieJarError {
    inner: serde_json::Error,
}

impl fmt::Display for CookieJarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cookie jar JSON: {}", self.inner)
    }
}

impl Error for CookieJarError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.inner)
    }
}

/// The cookie store of a [`CookieLayer`](super::CookieLayer): a handle shared by clones.
///
/// Cookies are parsed and matched by [`cookie_store`]'s model (domain, host-only flag, path,
/// `Secure`, `HttpOnly`); the jar adds RFC 6265's sending order, the public suffix check
/// (through the compiled-in list of the [`psl`] crate), the `Secure` and `__Host-` /
/// `__Secure-` rules of RFC 6265bis, [limits](CookieLimits), and expiry measured on a
/// [`WallClock`](crate::time::WallClock) — the system clock unless
/// [`with_clock`](Self::with_clock) sets another, so tests can freeze the date.
///
/// Every clone refers to the same cookies; settings changed through one handle apply to all.
#[derive(Clone)]
pub struct CookieJar {
    inner: Arc<Mutex<JarState>>,
}

struct JarState {
    store: Store,
    clock: SharedWallClock,
}

impl JarState {
    fn now(&self) -> OffsetDateTime {
        to_datetime(self.clock.now())
    }
}

impl Default for CookieJar {
    fn default() -> Self {
        Self::new()
    }
}

impl CookieJar {
    /// An empty jar on the system clock with the default [`CookieLimits`].
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(JarState {
                store: Store::new(CookieLimits::default()),
                clock: SystemClock::shared(),
            })),
        }
    }

    /// Measures cookie expiry on `clock` from now on.
    pub fn with_clock(self, clock: SharedWallClock) -> Self {
        lock(&self.inner).clock = clock;
        self
    }

    /// Sets how many cookies the jar keeps, evicting at once what no longer fits.
    pub fn with_limits(self, limits: CookieLimits) -> Self {
        {
            let mut state = lock(&self.inner);
            let now = state.now();
            state.store.set_limits(limits, now);
        }
        self
    }

    /// The jar's limits.
    pub fn limits(&self) -> CookieLimits {
        lock(&self.inner).store.limits()
    }

    /// Every unexpired cookie, oldest first.
    pub fn cookies(&self) -> Vec<StoredCookie> {
        let state = lock(&self.inner);
        let now = state.now();
        state
            .store
            .live(now)
            .into_iter()
            .map(StoredCookie::from_entry)
            .collect()
    }

    /// How many unexpired cookies the jar holds.
    pub fn len(&self) -> usize {
        let state = lock(&self.inner);
        let now = state.now();
        state.store.live(now).len()
    }

    /// Whether the jar holds no unexpired cookie.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every cookie.
    pub fn clear(&self) {
        lock(&self.inner).store.clear();
    }

    /// Drops the cookies that have expired (they are never sent either way).
    pub fn remove_expired(&self) {
        let mut state = lock(&self.inner);
        let now = state.now();
        state.store.purge_expired(now);
    }

    /// Applies a `Set-Cookie` header value as if a response to a request for `uri` carried
    /// it, as the layer does for every response.
    ///
    /// `Ok` also covers an already-expired cookie, which deletes the cookie it names.
    ///
    /// # Errors
    ///
    /// The reason the cookie was ignored; the jar is unchanged then.
    pub fn set_cookie(&self, uri: &Uri, set_cookie: &str) -> Result<(), RejectReason> {
        let url = uri_to_url(uri).ok_or(RejectReason::NoHost)?;
        self.set_cookie_url(&url, set_cookie)
    }

    /// The `Cookie` header a request to `uri` would carry, or `None` when no cookie
    /// matches. Like a real request, this counts as a use of the cookies for eviction.
    pub fn cookie_header(&self, uri: &Uri) -> Option<HeaderValue> {
        let url = uri_to_url(uri)?;
        CookieStore::cookies(self, &url)
    }

    /// Writes the persistent (not session), unexpired cookies as JSON, in the format of
    /// `cookie_store::serde::json`.
    ///
    /// # Errors
    ///
    /// When writing fails.
    pub fn save_json<W: Write>(&self, writer: W) -> Result<(), CookieJarError> {
        self.save(writer, false)
    }

    /// Like [`save_json`](Self::save_json), including session cookies.
    ///
    /// # Errors
    ///
    /// When writing fails.
    pub fn save_json_with_session<W: Write>(&self, writer: W) -> Result<(), CookieJarError> {
        self.save(writer, true)
    }

    fn save<W: Write>(&self, mut writer: W, with_session: bool) -> Result<(), CookieJarError> {
        let cookies: Vec<StoreCookie<'static>> = {
            let state = lock(&self.inner);
            let now = state.now();
            state
                .store
                .live(now)
                .into_iter()
                .filter(|entry| with_session || entry.expiry().is_some())
                .map(|entry| entry.cookie.clone())
                .collect()
        };
        serde_json::to_writer_pretty(&mut writer, &cookies)
            .map_err(|inner| CookieJarError { inner })?;
        writer.write_all(b"\n").map_err(|err| CookieJarError {
            inner: serde_json::Error::io(err),
        })
    }

    /// Adds the cookies of a JSON jar written by [`save_json`](Self::save_json) (or by
    /// `cookie_store`), replacing cookies with the same name, domain and path. Expired cookies
    /// and cookies for a public suffix are skipped. Returns how many cookies were added.
    ///
    /// # Errors
    ///
    /// When reading fails or the input is not such a JSON array; the jar is unchanged then.
    pub fn load_json<R: Read>(&self, reader: R) -> Result<usize, CookieJarError> {
        let cookies: Vec<StoreCookie<'static>> =
            serde_json::from_reader(reader).map_err(|inner| CookieJarError { inner })?;
        let mut state = lock(&self.inner);
        let now = state.now();
        let mut added = 0;
        for cookie in cookies {
            if state.store.insert_loaded(cookie, now) {
                added += 1;
            }
        }
        Ok(added)
    }

    /// Writes every unexpired cookie, session cookies included, in the Netscape cookie file
    /// format that curl's `--cookie-jar` writes (and `--cookie` reads): one cookie a line,
    /// oldest first, after a `# Netscape HTTP Cookie File` comment. See
    /// [`load_netscape`](Self::load_netscape) for the fields.
    ///
    /// # Errors
    ///
    /// When writing fails.
    pub fn save_netscape<W: Write>(&self, mut writer: W) -> io::Result<()> {
        writer.write_all(netscape::HEADER.as_bytes())?;
        for cookie in self.cookies() {
            writer.write_all(netscape::write_line(&cookie).as_bytes())?;
        }
        writer.flush()
    }

    /// Adds the cookies of a Netscape cookie file (as curl, wget and browser exports write
    /// it), replacing cookies with the same name, domain and path. Returns how many were
    /// added.
    ///
    /// Each line holds seven tab-separated fields: the domain (a leading `.` marks a cookie
    /// for the domain and its subdomains), `TRUE` when subdomains match, the path, `TRUE` for
    /// a `Secure` cookie, the expiry in seconds since the epoch (`0` for a session cookie),
    /// the name and the value (a line of six fields has an empty value). A `#HttpOnly_`
    /// prefix marks an `HttpOnly` cookie; other `#` lines and blank lines are comments. Lines
    /// that are not cookies, lines over 8 KiB, expired cookies and cookies for a public
    /// suffix are skipped.
    ///
    /// ```
    /// use towline_layers::cookie::CookieJar;
    ///
    /// let file = "# Netscape HTTP Cookie File\n\
    ///             example.com\tFALSE\t/\tFALSE\t0\tsid\tabc\n";
    /// let jar = CookieJar::new();
    /// assert_eq!(jar.load_netscape(file.as_bytes()).unwrap(), 1);
    /// let uri = "http://example.com/".parse().unwrap();
    /// assert_eq!(jar.cookie_header(&uri).unwrap(), "sid=abc");
    /// ```
    ///
    /// # Errors
    ///
    /// When reading fails (the cookies of the lines read before stay in the jar) or the input
    /// is not UTF-8.
    pub fn load_netscape<R: BufRead>(&self, reader: R) -> io::Result<usize> {
        let mut added = 0;
        for line in reader.lines() {
            let Some(cookie) = netscape::parse_line(&line?) else {
                continue;
            };
            let mut state = lock(&self.inner);
            let now = state.now();
            if state.store.insert_loaded(cookie, now) {
                added += 1;
            }
        }
        Ok(added)
    }

    pub(super) fn set_cookie_url(&self, url: &Url, set_cookie: &str) -> Result<(), RejectReason> {
        let mut state = lock(&self.inner);
        let now = state.now();
        state.store.set_cookie(set_cookie, url, now).map(|_| ())
    }

    fn request_pairs(&self, url: &Url) -> Vec<(String, String)> {
        let mut state = lock(&self.inner);
        let now = state.now();
        state.store.matching(url, now)
    }

    /// Applies a `Set-Cookie` header value as if a response to a request for `url` carried
    /// it; a cookie the rules refuse is ignored. This is reqwest's `Jar::add_cookie_str`; use
    /// [`set_cookie`](Self::set_cookie) to learn why a cookie was refused.
    pub fn add_cookie_str(&self, cookie: &str, url: &Url) {
        let _refused = self.set_cookie_url(url, cookie);
    }
}

impl CookieStore for CookieJar {
    fn set_cookies(&self, cookie_headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url) {
        let mut values = cookie_headers.peekable();
        if values.peek().is_none() {
            return;
        }
        let mut state = lock(&self.inner);
        let now = state.now();
        for value in values {
            // Values that are not UTF-8 cannot be cookies `cookie_store` represents.
            if let Ok(value) = std::str::from_utf8(value.as_bytes()) {
                // A refused cookie is ignored, as RFC 6265 asks.
                let _refused = state.store.set_cookie(value, url, now);
            }
        }
    }

    fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        let pairs = self.request_pairs(url);
        header_from_pairs(
            pairs
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        )
    }

    /// Cheap, and false for a jar never used.
    fn may_have_cookies(&self) -> bool {
        lock(&self.inner).store.len() > 0
    }
}

impl fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.inner);
        f.debug_struct("CookieJar")
            .field("cookies", &state.store.len())
            .field("limits", &state.store.limits())
            .finish_non_exhaustive()
    }
}

/// `name=value` pairs joined by `"; "` (a nameless cookie is just its value).
pub(super) fn header_from_pairs<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> Option<HeaderValue> {
    let mut header = String::new();
    for (name, value) in pairs {
        if !header.is_empty() {
            header.push_str("; ");
        }
        if !name.is_empty() {
            header.push_str(name);
            header.push('=');
        }
        header.push_str(value);
    }
    if header.is_empty() {
        return None;
    }
    HeaderValue::from_bytes(header.as_bytes()).ok()
}

/// The URL of an absolute request URI.
pub(super) fn uri_to_url(uri: &Uri) -> Option<Url> {
    uri.scheme()?;
    uri.authority()?;
    Url::parse(&uri.to_string()).ok()
}

/// `SystemTime` to `OffsetDateTime`, clamped to what the jar stores.
pub(super) fn to_datetime(time: SystemTime) -> OffsetDateTime {
    let seconds = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    };
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or_else(|_| {
        if seconds < 0 {
            OffsetDateTime::UNIX_EPOCH
        } else {
            super::store::max_expiry()
        }
    })
}

/// `OffsetDateTime` to `SystemTime`, saturating at the epoch for dates the platform cannot
/// hold.
fn to_system_time(at: OffsetDateTime) -> SystemTime {
    let seconds = at.unix_timestamp();
    let time = if seconds >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(seconds.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(seconds.unsigned_abs()))
    };
    time.unwrap_or(UNIX_EPOCH)
}
