//! The [`CookieStore`] trait: where a [`Cookie`](super::Cookie) service keeps its cookies.

use std::sync::Arc;

use http::HeaderValue;
use url::Url;

/// A store of cookies the layer reads for each request and writes from each response.
///
/// The shape is reqwest's `cookie::CookieStore`, so a store written for reqwest works here
/// unchanged. [`CookieJar`](super::CookieJar) is the store the layer is made for (RFC 6265
/// matching, the public suffix list, limits, saving and loading); implement this trait to
/// keep cookies elsewhere, such as in a database shared between processes.
///
/// Both methods take `&self`: a store is shared by every clone of the service, so it keeps
/// its state behind a lock or in something that is already shared.
pub trait CookieStore: Send + Sync {
    /// Stores the `Set-Cookie` header values of a response to a request for `url`.
    fn set_cookies(&self, cookie_headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url);

    /// The `Cookie` header value for a request to `url`, or `None` when no cookie matches.
    fn cookies(&self, url: &Url) -> Option<HeaderValue>;

    /// Whether [`cookies`](Self::cookies) may return anything at all. When it says no, the
    /// layer skips parsing the request URL for the request and does it only if the response
    /// sets a cookie. The default, `true`, is always correct; a store that knows it is empty
    /// answers `false` to make requests cheaper.
    fn may_have_cookies(&self) -> bool {
        true
    }
}

impl<T: CookieStore + ?Sized> CookieStore for Arc<T> {
    fn set_cookies(&self, cookie_headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url) {
        (**self).set_cookies(cookie_headers, url);
    }

    fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        (**self).cookies(url)
    }

    fn may_have_cookies(&self) -> bool {
        (**self).may_have_cookies()
    }
}
