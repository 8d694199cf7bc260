//! Cookies with reqwest's names: the [`CookieStore`] trait, the [`Jar`] store, set with
//! [`ClientBuilder::cookie_provider`](crate::ClientBuilder::cookie_provider).
//!
//! [`Jar`] is towline's [`CookieJar`] (RFC 6265 rules, the public suffix list, limits) with
//! reqwest's surface. It is a type of its own rather than another name for `CookieJar`
//! because `CookieJar::cookies()` lists the jar's cookies, and that inherent method would
//! shadow [`CookieStore::cookies`] for a reqwest program that calls `jar.cookies(&url)`.
//! Use `CookieJar` with [`ClientBuilder::cookie_jar`](crate::ClientBuilder::cookie_jar) to
//! list, save and load cookies; [`Jar::cookie_jar`] reaches it from a `Jar`.
//!
//! [`Cookie`] is one `Set-Cookie` of a response as [`Response::cookies`](crate::Response::cookies)
//! parses it (with the `cookie` crate), attributes and all; it is what the server sent, not
//! what a jar would keep.
//!
//! ```
//! use std::sync::Arc;
//! use towline::cookie::{CookieStore, Jar};
//!
//! let url = "https://example.com/".parse::<towline::Url>().unwrap();
//! let jar = Arc::new(Jar::default());
//! jar.add_cookie_str("session=abc; Path=/", &url);
//! assert_eq!(jar.cookies(&url).unwrap(), "session=abc");
//! let client = towline::Client::builder().cookie_provider(jar.clone()).build()?;
//! # let _ = client;
//! # Ok::<(), towline::Error>(())
//! ```

use std::fmt;
use std::time::{Duration, SystemTime};

use http::HeaderValue;
use url::Url;

pub use towline_layers::cookie::{CookieJar, CookieStore};

/// A cookie store with RFC 6265's rules, shaped as reqwest's `cookie::Jar`.
#[derive(Clone, Debug, Default)]
pub struct Jar {
    jar: CookieJar,
}

impl Jar {
    /// Applies a `Set-Cookie` header value as if a response from `url` carried it; a cookie
    /// the rules refuse (a foreign `Domain`, a public suffix, …) is ignored, as in a response.
    pub fn add_cookie_str(&self, cookie: &str, url: &Url) {
        self.jar.add_cookie_str(cookie, url);
    }

    /// The [`CookieJar`] behind this jar (shared, not copied): to list, save or load cookies.
    pub fn cookie_jar(&self) -> &CookieJar {
        &self.jar
    }
}

impl From<CookieJar> for Jar {
    fn from(jar: CookieJar) -> Self {
        Self { jar }
    }
}

impl CookieStore for Jar {
    fn set_cookies(&self, cookie_headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url) {
        self.jar.set_cookies(cookie_headers, url);
    }

    fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        CookieStore::cookies(&self.jar, url)
    }

    fn may_have_cookies(&self) -> bool {
        self.jar.may_have_cookies()
    }
}

/// A cookie a response sets, parsed from one `Set-Cookie` header.
pub struct Cookie<'a> {
    inner: cookie::Cookie<'a>,
}

impl<'a> Cookie<'a> {
    /// Parses a `Set-Cookie` value; `None` when it is not UTF-8 or not a cookie.
    pub(crate) fn parse(value: &'a HeaderValue) -> Option<Self> {
        let value = value.to_str().ok()?;
        cookie::Cookie::parse(value)
            .ok()
            .map(|inner| Self { inner })
    }

    /// The name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The value.
    pub fn value(&self) -> &str {
        self.inner.value()
    }

    /// Whether `HttpOnly` is set.
    pub fn http_only(&self) -> bool {
        self.inner.http_only().unwrap_or(false)
    }

    /// Whether `Secure` is set.
    pub fn secure(&self) -> bool {
        self.inner.secure().unwrap_or(false)
    }

    /// Whether `SameSite=Lax` is set.
    pub fn same_site_lax(&self) -> bool {
        self.inner.same_site() == Some(cookie::SameSite::Lax)
    }

    /// Whether `SameSite=Strict` is set.
    pub fn same_site_strict(&self) -> bool {
        self.inner.same_site() == Some(cookie::SameSite::Strict)
    }

    /// The `Path` attribute.
    pub fn path(&self) -> Option<&str> {
        self.inner.path()
    }

    /// The `Domain` attribute (without a leading dot).
    pub fn domain(&self) -> Option<&str> {
        self.inner.domain()
    }

    /// The `Max-Age` attribute; `None` when absent or negative.
    pub fn max_age(&self) -> Option<Duration> {
        self.inner.max_age().and_then(|age| age.try_into().ok())
    }

    /// The `Expires` attribute, as a point in time.
    pub fn expires(&self) -> Option<SystemTime> {
        self.inner.expires_datetime().map(SystemTime::from)
    }
}

impl fmt::Debug for Cookie<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The value may be a session secret: only its name and attributes are shown.
        f.debug_struct("Cookie")
            .field("name", &self.name())
            .field("path", &self.path())
            .field("domain", &self.domain())
            .field("secure", &self.secure())
            .field("http_only", &self.http_only())
            .finish_non_exhaustive()
    }
}
