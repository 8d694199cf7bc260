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
