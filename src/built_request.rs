//! [`Request`]: a request built and not yet sent, as reqwest has it.

use std::fmt;
use std::time::Duration;

use http::header::{AUTHORIZATION, HeaderValue};
use http::{Extensions, HeaderMap, Method, Uri, Version};
use towline_layers::redirect::Fragment;
use towline_layers::timeout::RequestTimeout;
use towline_services::connect::Protocol;
use url::Url;

use crate::body::Body;
use crate::error::{Error, Result};
use crate::into_url::request_uri;

/// A request built and not yet sent, as reqwest has it: made by
/// [`RequestBuilder::build`](crate::RequestBuilder::build) or [`Request::new`], changed through
/// its accessors, sent with [`Client::execute`](crate::Client::execute).
///
/// It converts to and from `http::Request<Body>` (the tower `Service` path, and stacks built
/// by hand). A `Request` holds a [`Url`] (with its fragment, which is never sent); the request
/// target is made from it when the request is sent, or reused from the builder when the URL
/// was not changed since. Credentials in the URL are sent as `Authorization: Basic`, never in
/// the request line.
///
/// The version: [`Version::HTTP_11`] (the default) lets TLS negotiate HTTP/2 as reqwest does;
/// `HTTP_2` insists on HTTP/2 (h2c prior knowledge over plain `http`), `HTTP_10` on HTTP/1. A
/// request built from a [`RequestBuilder`](crate::RequestBuilder) whose
/// [`version`](crate::RequestBuilder::version) was `HTTP_11` keeps insisting on HTTP/1.1 until
/// its version is changed.
pub struct Request {
    method: Method,
    url: Url,
    /// The request target made from `url`, while it is known to match it.
    uri: Option<Uri>,
    headers: HeaderMap,
    body: Option<Body>,
    timeout: Option<Duration>,
    version: Version,
    extensions: Extensions,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field(
                "url",
                &format_args!("{}", crate::error::Redacted(&self.url)),
            )
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, url: Url) -> Self {
        Self {
            method,
            url,
            uri: None,
            headers: HeaderMap::new(),
            body: None,
            timeout: None,
            version: Version::HTTP_11,
            extensions: Extensions::new(),
        }
    }

    /// The request `request`, made from `url` (whose fragment it cannot hold): a
    /// [`RequestTimeout`] in its extensions becomes the timeout, and its URI is kept as the
    /// request target.
    pub(crate) fn from_http(request: http::Request<Body>, url: Url) -> Self {
        let (mut parts, body) = request.into_parts();
        parts.extensions.remove::<Fragment>();
        let timeout = parts
            .extensions
            .remove::<RequestTimeout>()
            .map(|RequestTimeout(timeout)| timeout);
        Self {
            method: parts.method,
            url,
            uri: Some(parts.uri),
            headers: parts.headers,
            body: Some(body),
            timeout,
            version: parts.version,
            extensions: parts.extensions,
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The method, mutably.
    pub fn method_mut(&mut self) -> &mut Method {
        &mut self.method
    }

    /// The URL, with its fragment.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL, mutably. Only `http` and `https` URLs with a host can be sent.
    pub fn url_mut(&mut self) -> &mut Url {
        self.uri = None;
        &mut self.url
    }

    /// The headers (the client's default headers are added when it is sent).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The headers, mutably.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The body, if any.
    pub fn body(&self) -> Option<&Body> {
        self.body.as_ref()
    }

    /// The body, mutably.
    pub fn body_mut(&mut self) -> &mut Option<Body> {
        &mut self.body
    }

    /// The total timeout of this request, in place of the client's.
    pub fn timeout(&self) -> Option<&Duration> {
        self.timeout.as_ref()
    }

    /// The total timeout, mutably.
    pub fn timeout_mut(&mut self) -> &mut Option<Duration> {
        &mut self.timeout
    }

    /// The HTTP version (see [`Request`] for what each one asks for).
    pub fn version(&self) -> Version {
        self.version
    }

    /// The HTTP version, mutably.
    pub fn version_mut(&mut self) -> &mut Version {
        &mut self.version
    }

    /// The extensions: per-request settings such as a
    /// [`RetryConfig`](crate::RetryConfig), read by the layers.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The extensions, mutably.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// A copy of the request, unless its body is a stream (which can be read only once).
    pub fn try_clone(&self) -> Option<Self> {
        let body = match &self.body {
            Some(body) => Some(body.try_clone()?),
            None => None,
        };
        Some(Self {
            method: self.method.clone(),
            url: self.url.clone(),
            uri: self.uri.clone(),
            headers: self.headers.clone(),
            body,
            timeout: self.timeout,
            version: self.version,
            extensions: self.extensions.clone(),
        })
    }

    /// The `http::Request` to send and the URL it was made from.
    pub(crate) fn into_http(self) -> Result<(http::Request<Body>, Url)> {
        let Self {
            method,
            url,
            uri,
            headers,
            body,
            timeout,
            version,
            mut extensions,
        } = self;
        let mut headers = headers;
        let uri = match uri {
            Some(uri) if uri.authority().is_none_or(|a| !a.as_str().contains('@')) => uri,
            _ => target(&url, &mut headers).map_err(|e| e.with_url(url.clone()))?,
        };
        match version {
            Version::HTTP_2 => {
                extensions.insert(Protocol::Http2);
            }
            Version::HTTP_10 | Version::HTTP_09 => {
                extensions.insert(Protocol::Http1);
            }
            #[cfg(feature = "http3")]
            Version::HTTP_3 => {
                extensions.insert(Protocol::Http3);
            }
            // HTTP/1.1 negotiates, unless the builder asked for HTTP/1.1 alone.
            _ => {
                if extensions.get::<Protocol>() == Some(&Protocol::Http2) {
                    extensions.remove::<Protocol>();
                }
            }
        }
        if let Some(timeout) = timeout {
            extensions.insert(RequestTimeout(timeout));
        }
        match url.fragment() {
            Some(fragment) => {
                extensions.insert(Fragment(fragment.to_owned()));
            }
            None => {
                extensions.remove::<Fragment>();
            }
        }
        let mut request = http::Request::new(body.unwrap_or_default());
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.version_mut() = version;
        *request.headers_mut() = headers;
        *request.extensions_mut() = extensions;
        Ok((request, url))
    }
}

/// The request target for `url`. Credentials in the URL become `Authorization: Basic` (unless
/// the request has an `Authorization` already), as with the builder, and never reach the
/// request line.
fn target(url: &Url, headers: &mut HeaderMap) -> Result<Uri> {
    if url.username().is_empty() && url.password().is_none() {
        return request_uri(url);
    }
    if !headers.contains_key(AUTHORIZATION) {
        use base64::Engine as _;
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8_lossy()
                .into_owned()
        };
        let credentials = format!(
            "{}:{}",
            decode(url.username()),
            url.password().map(decode).unwrap_or_default()
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        let mut value =
            HeaderValue::try_from(format!("Basic {encoded}")).map_err(Error::builder)?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    let mut bare = url.clone();
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    request_uri(&bare)
}

impl<T: Into<Body>> TryFrom<http::Request<T>> for Request {
    type Error = Error;

    /// Takes an `http::Request` whose URI is absolute. A [`RequestTimeout`] and a [`Fragment`]
    /// in its extensions become the timeout and the URL's fragment.
    fn try_from(request: http::Request<T>) -> Result<Self> {
        let mut url = Url::parse(&request.uri().to_string())
            .map_err(|e| Error::builder(format!("request URI is not a URL: {e}")))?;
        if let Some(Fragment(fragment)) = request.extensions().get::<Fragment>() {
            url.set_fragment(Some(fragment));
        }
        Ok(Self::from_http(request.map(Into::into), url))
    }
}

impl TryFrom<Request> for http::Request<Body> {
    type Error = Error;

    /// The request as the client's stack sees it: the timeout, the fragment and the version
    /// choice travel in its extensions.
    fn try_from(request: Request) -> Result<Self> {
        request.into_http().map(|(request, _)| request)
    }
}
