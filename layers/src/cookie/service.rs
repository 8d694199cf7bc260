//! The [`Cookie`] service.

use std::task::{Context, Poll};

use http::{HeaderMap, HeaderValue, Request, Response, Uri, header::COOKIE};
use tower_service::Service;
use url::Url;

use super::{CookieJar, CookieStore, ResponseFuture, jar::uri_to_url};
use crate::BoxError;

/// Middleware that sends and stores cookies; built by [`CookieLayer`](super::CookieLayer).
#[derive(Debug, Clone)]
pub struct Cookie<S, J = CookieJar> {
    inner: S,
    jar: J,
}

impl<S, J> Cookie<S, J> {
    /// Wraps `inner`, sending and storing cookies in `jar`.
    pub fn new(inner: S, jar: J) -> Self {
        Self { inner, jar }
    }

    /// The jar this service uses.
    pub fn jar(&self) -> &J {
        &self.jar
    }

    /// Returns a reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Returns a mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the middleware, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, J, ReqB, ResB> Service<Request<ReqB>> for Cookie<S, J>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    J: CookieStore + Clone,
{
    type Response = Response<ResB>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, J>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let target = if self.jar.may_have_cookies() {
            // Parse the URL once: to pick the cookies now, and to store the response's.
            let url = Target::of(&request).into_url();
            if let Some(url) = &url
                && let Some(cookies) = self.jar.cookies(url)
            {
                add_cookies(request.headers_mut(), cookies);
            }
            url.map(Target::Url)
        } else {
            // Nothing to send: parse the URL only if the response sets a cookie.
            Some(Target::of(&request))
        };
        ResponseFuture::new(self.inner.call(request), self.jar.clone(), target)
    }
}

/// Where a request went, for matching and storing its cookies.
#[derive(Debug)]
pub(super) enum Target {
    Url(Url),
    /// Not parsed yet: the request URI and, for a URI without authority, the `Host` header.
    Uri(Uri, Option<HeaderValue>),
}

impl Target {
    fn of<B>(request: &Request<B>) -> Self {
        let uri = request.uri();
        let host = if uri.authority().is_none() {
            request.headers().get(http::header::HOST).cloned()
        } else {
            None
        };
        Self::Uri(uri.clone(), host)
    }

    /// The request's URL. A request in origin form (`/path`, no scheme or authority) is
    /// taken as plain `http` to its `Host` header; without one it has no URL.
    pub(super) fn into_url(self) -> Option<Url> {
        match self {
            Self::Url(url) => Some(url),
            Self::Uri(uri, host) => uri_to_url(&uri).or_else(|| {
                let host = host?;
                let host = host.to_str().ok()?;
                let path = uri.path_and_query().map_or("/", |path| path.as_str());
                Url::parse(&format!("http://{host}{path}")).ok()
            }),
        }
    }
}

/// Adds the jar's cookies (`jar`, a `Cookie` header value) to the request's `Cookie` header.
///
/// Cookies the caller set are kept, first, and win over jar cookies of the same name; the
/// result is one `Cookie` header (RFC 6265 §5.4 allows no more).
fn add_cookies(headers: &mut HeaderMap, jar: HeaderValue) {
    if !headers.contains_key(COOKIE) {
        headers.insert(COOKIE, jar);
        return;
    }
    let mut merged: Vec<u8> = Vec::new();
    let mut user_names: Vec<&[u8]> = Vec::new();
    for value in headers.get_all(COOKIE) {
        for pair in pairs(value.as_bytes()) {
            user_names.push(name_of(pair));
            if !merged.is_empty() {
                merged.extend_from_slice(b"; ");
            }
            merged.extend_from_slice(pair);
        }
    }
    for pair in pairs(jar.as_bytes()) {
        if user_names.contains(&name_of(pair)) {
            continue;
        }
        if !merged.is_empty() {
            merged.extend_from_slice(b"; ");
        }
        merged.extend_from_slice(pair);
    }
    if let Ok(value) = HeaderValue::from_bytes(&merged) {
        headers.insert(COOKIE, value);
    }
}

/// The non-empty `name=value` pairs of a `Cookie` header value, trimmed. A cookie value
/// cannot hold `;` (RFC 6265 §4.1.1), so splitting there is exact.
fn pairs(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&byte| byte == b';')
        .map(<[u8]>::trim_ascii)
        .filter(|pair| !pair.is_empty())
}

/// The name of a `name=value` pair; empty for a nameless cookie (a value alone).
fn name_of(pair: &[u8]) -> &[u8] {
    pair.iter()
        .position(|&byte| byte == b'=')
        .map_or(&pair[..0], |eq| pair[..eq].trim_ascii())
}
