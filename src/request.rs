//! [`RequestBuilder`]: one request's method, URL, headers, body and per-request settings.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Uri, Version};
use towline_layers::decompression::NoDecompression;
use towline_layers::redirect::Fragment;
use towline_layers::retry::{AttemptTimeout, RetryConfig};
use towline_layers::timeout::RequestTimeout;
use towline_services::connect::Protocol;
use towline_services::connect::unix::UnixSocket;
use towline_services::transport::WriteTimeout;

use crate::body::Body;
use crate::client::Client;
use crate::error::{BoxError, Error, Result};
use crate::into_url::request_uri;
use crate::response::Response;

/// Builds one request; finish with [`RequestBuilder::send`] or [`RequestBuilder::build`].
#[must_use]
pub struct RequestBuilder {
    client: Client,
    method: Method,
    /// Absent only when starting the request failed; `error` then says why, and the
    /// methods that edit the URL leave it absent rather than invent one.
    url: Option<url::Url>,
    /// `url` as the request target, while it is known to match `url`.
    uri: Option<Uri>,
    headers: HeaderMap,
    body: Body,
    version: Option<Version>,
    timeout: Option<Duration>,
    extensions: http::Extensions,
    error: Option<Error>,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl RequestBuilder {
    /// A request to `url`, sent as the request target `uri` (parsed from `url`).
    pub(crate) fn new(client: Client, method: Method, url: url::Url, uri: Uri) -> Self {
        Self {
            client,
            method,
            url: Some(url),
            uri: Some(uri),
            headers: HeaderMap::new(),
            body: Body::empty(),
            version: None,
            timeout: None,
            extensions: http::Extensions::new(),
            error: None,
        }
    }

    /// A request that could not be started (its URL did not parse, say): `error` is
    /// reported by [`send`](Self::send) and [`build`](Self::build), before any socket opens,
    /// so a `Client`'s request methods need not return a `Result`.
    pub(crate) fn failed(client: Client, method: Method, error: Error) -> Self {
        Self {
            client,
            method,
            url: None,
            uri: None,
            headers: HeaderMap::new(),
            body: Body::empty(),
            version: None,
            timeout: None,
            extensions: http::Extensions::new(),
            error: Some(error),
        }
    }

    fn fail(mut self, error: Error) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// Adds a header (repeated names are all sent).
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: Into<http::Error>,
        V: TryInto<HeaderValue>,
        V::Error: Into<http::Error>,
    {
        let name = match name.try_into() {
            Ok(name) => name,
            Err(e) => return self.fail(Error::builder(e.into())),
        };
        match value.try_into() {
            Ok(value) => {
                self.headers.append(name, value);
                self
            }
            Err(e) => self.fail(Error::builder(e.into())),
        }
    }

    /// Adds a header from strings.
    pub fn header_str(self, name: &str, value: &str) -> Self {
        self.header(name, value)
    }

    /// Sets these headers, replacing any values already set for the same names.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        let mut last = None;
        for (name, value) in headers {
            match name {
                Some(name) => {
                    self.headers.insert(name.clone(), value);
                    last = Some(name);
                }
                None => {
                    if let Some(name) = &last {
                        self.headers.append(name.clone(), value);
                    }
                }
            }
        }
        self
    }

    /// Appends query parameters (percent-encoded) to the URL's query.
    pub fn query<T: serde::Serialize + ?Sized>(mut self, query: &T) -> Self {
        let encoded = match serde_urlencoded::to_string(query) {
            Ok(encoded) => encoded,
            Err(e) => return self.fail(Error::builder(e)),
        };
        if encoded.is_empty() {
            return self;
        }
        let Some(url) = self.url.as_mut() else {
            return self;
        };
        let merged = match url.query() {
            Some(existing) if !existing.is_empty() => format!("{existing}&{encoded}"),
            _ => encoded,
        };
        url.set_query(Some(&merged));
        self.uri = None;
        self
    }

    /// Sends a URL-encoded form (`application/x-www-form-urlencoded`).
    pub fn form<T: serde::Serialize + ?Sized>(mut self, form: &T) -> Self {
        match serde_urlencoded::to_string(form) {
            Ok(encoded) => {
                self.set_content_type("application/x-www-form-urlencoded");
                self.body = Body::from(encoded);
                self
            }
            Err(e) => self.fail(Error::builder(e)),
        }
    }

    /// Sends JSON (`application/json`).
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(mut self, json: &T) -> Self {
        match serde_json::to_vec(json) {
            Ok(encoded) => {
                self.set_content_type("application/json");
                self.body = Body::from(encoded);
                self
            }
            Err(e) => self.fail(Error::builder(e)),
        }
    }

    /// Sends a `multipart/form-data` form (see [`crate::multipart`]), replacing any
    /// `Content-Type` with the form's. A form of parts in memory is a buffered body; one
    /// with a file or stream part is streamed.
    #[cfg(feature = "multipart")]
    pub fn multipart(mut self, form: crate::multipart::Form) -> Self {
        match HeaderValue::try_from(form.content_type()) {
            Ok(content_type) => {
                self.headers.insert(CONTENT_TYPE, content_type);
                // A streamed form's length is announced here: a stream's size hint does
                // not survive `Body::wrap`.
                if let Some(length) = form.content_length() {
                    self.headers
                        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
                }
                self.body = form.into_request_body(self.client.blocking_pool());
                self
            }
            Err(e) => self.fail(Error::builder(e)),
        }
    }

    fn set_content_type(&mut self, value: &'static str) {
        if !self.headers.contains_key(CONTENT_TYPE) {
            self.headers
                .insert(CONTENT_TYPE, HeaderValue::from_static(value));
        }
    }

    /// Sets the body from bytes or text.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// Streams the body from any `http_body::Body`.
    pub fn body_stream<B>(mut self, body: B) -> Self
    where
        B: http_body::Body + Send + 'static,
        B::Data: Into<Bytes>,
        B::Error: Into<BoxError>,
    {
        self.body = Body::wrap(body);
        self
    }

    /// Sends `Authorization: Bearer <token>`.
    pub fn bearer_auth(self, token: impl fmt::Display) -> Self {
        self.authorization(format!("Bearer {token}"))
    }

    /// Sends `Authorization: Basic` with the user name and optional password.
    pub fn basic_auth(
        self,
        username: impl fmt::Display,
        password: Option<impl fmt::Display>,
    ) -> Self {
        use base64::Engine as _;
        let credentials = match password {
            Some(password) => format!("{username}:{password}"),
            None => format!("{username}:"),
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        self.authorization(format!("Basic {encoded}"))
    }

    /// Answers an HTTP Digest challenge from this request's origin with these
    /// credentials (see [`ClientBuilder::digest_auth`](crate::ClientBuilder::digest_auth)),
    /// in place of the client's. A redirect to another origin does not carry them.
    #[cfg(feature = "digest-auth")]
    pub fn digest_auth(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        use towline_layers::auth::{Credentials, digest::DigestCredentials};
        // Bound to the URL's origin (what later edits of the query or path keep).
        let origin = self
            .url
            .as_ref()
            .and_then(|url| url.origin().ascii_serialization().parse::<Uri>().ok());
        if let Some(origin) = origin {
            let credentials = Credentials::new(username, password);
            self.extensions
                .insert(DigestCredentials::for_uri(credentials, &origin));
        }
        self
    }

    fn authorization(mut self, value: String) -> Self {
        match HeaderValue::try_from(value) {
            Ok(mut value) => {
                value.set_sensitive(true);
                self.headers.insert(AUTHORIZATION, value);
                self
            }
            Err(e) => self.fail(Error::builder(e)),
        }
    }

    /// Total timeout for this request, replacing the client's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The longest each attempt of this request may wait for its response head, replacing
    /// the client's [`attempt_timeout`](crate::ClientBuilder::attempt_timeout).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.extensions.insert(AttemptTimeout(timeout));
        self
    }

    /// The write timeout of this request, replacing the client's
    /// [`write_timeout`](crate::ClientBuilder::write_timeout) on HTTP/1 connections (an
    /// HTTP/2 connection's writes are shared by its streams and keep the client's).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.extensions.insert(WriteTimeout(timeout));
        self
    }

    /// Sends this request over the Unix domain socket at `path`, in place of the network or
    /// the client's [`unix_socket`](crate::ClientBuilder::unix_socket).
    pub fn unix_socket(mut self, path: impl AsRef<std::path::Path>) -> Self {
        self.extensions.insert(UnixSocket::new(path));
        self
    }

    /// The HTTP version: `HTTP_2` insists on HTTP/2 (h2c prior knowledge for `http`),
    /// `HTTP_11` or `HTTP_10` on HTTP/1.
    pub fn version(mut self, version: Version) -> Self {
        self.version = Some(version);
        self
    }

    /// Retries this request as `config` says, in place of the client's
    /// [`retry`](crate::ClientBuilder::retry) configuration (`RetryConfig::disabled()` turns
    /// retries off for it).
    pub fn retry(mut self, config: RetryConfig) -> Self {
        self.extensions.insert(config);
        self
    }

    /// Leaves this response's body as the server encoded it.
    pub fn no_decompression(mut self) -> Self {
        self.extensions.insert(NoDecompression);
        self
    }

    /// Builds the request without sending it, for [`Client::execute`].
    pub fn build(self) -> Result<crate::Request> {
        self.build_split()
            .1
            .map(|(request, url)| crate::Request::from_http(request, url))
    }

    /// A copy of this builder, unless its body is a stream (which can be read only once) or
    /// it holds an error.
    pub fn try_clone(&self) -> Option<Self> {
        if self.error.is_some() {
            return None;
        }
        Some(Self {
            client: self.client.clone(),
            method: self.method.clone(),
            url: self.url.clone(),
            uri: self.uri.clone(),
            headers: self.headers.clone(),
            body: self.body.try_clone()?,
            version: self.version,
            timeout: self.timeout,
            extensions: self.extensions.clone(),
            error: None,
        })
    }

    /// The client, and the request with the URL it was made from (with the fragment, which
    /// also travels in the request's extensions for the redirect layer).
    pub(crate) fn build_split(self) -> (Client, Result<(Request<Body>, url::Url)>) {
        let Self {
            client,
            method,
            url,
            uri,
            headers,
            body,
            version,
            timeout,
            extensions,
            error,
        } = self;
        if let Some(error) = error {
            return (client, Err(error));
        }
        // `failed` is the only way to have no URL, and it always sets `error`.
        let Some(url) = url else {
            return (client, Err(Error::builder("request has no URL")));
        };
        let uri = match uri.map_or_else(|| request_uri(&url), Ok) {
            Ok(uri) => uri,
            Err(e) => return (client, Err(e)),
        };
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        *request.extensions_mut() = extensions;
        if let Some(version) = version {
            *request.version_mut() = version;
            let protocol = match version {
                Version::HTTP_2 => Some(Protocol::Http2),
                #[cfg(feature = "http3")]
                Version::HTTP_3 => Some(Protocol::Http3),
                Version::HTTP_11 | Version::HTTP_10 | Version::HTTP_09 => Some(Protocol::Http1),
                _ => None,
            };
            if let Some(protocol) = protocol {
                request.extensions_mut().insert(protocol);
            }
        }
        if let Some(timeout) = timeout {
            request.extensions_mut().insert(RequestTimeout(timeout));
        }
        if let Some(fragment) = url.fragment() {
            request
                .extensions_mut()
                .insert(Fragment(fragment.to_owned()));
        }
        (client, Ok((request, url)))
    }

    /// Sends the request.
    pub fn send(self) -> impl Future<Output = Result<Response>> + Send + 'static {
        let (client, request) = self.build_split();
        let sent = request.map(|(request, url)| client.send(request, url));
        async move { sent?.await }
    }
}
