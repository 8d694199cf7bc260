//! The client facade: [`Client`], the handle requests are sent through.
//!
//! A client is one pointer to what [`ClientBuilder::build`] assembled: the erased stack
//! (see [`stack`]), the default headers and the checks made before a request enters the
//! stack. The runtime is chosen on the builder; a built client no longer names it.
//!
//! Modules by concern: [`builder`] (configuration), [`stack`] (the layers in their order),
//! `crate::request` (the request builder) and `crate::into_url` (URL parsing).

pub(crate) mod builder;
pub(crate) mod stack;
#[cfg(feature = "tracing")]
mod verbose;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use tower::Service;
use towline_services::connect::unix::UnixSocket;

use crate::body::{Body, ResponseBody};
use crate::error::{BoxError, Error, Result};
use crate::into_url::{IntoUrl, request_uri};
use crate::request::RequestBuilder;
use crate::response::Response;
use builder::ClientBuilder;

/// Headers the layers may add to a request (Accept-Encoding, Cookie, Authorization, …),
/// reserved up front in its header map.
const LAYER_HEADERS: usize = 4;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub(crate) type SendFn = Arc<
    dyn Fn(Request<Body>) -> BoxFuture<std::result::Result<http::Response<ResponseBody>, BoxError>>
        + Send
        + Sync,
>;
/// An HTTP client. Cheap to clone; clones share the connection pool and the layers' state.
///
/// [`Client::new`] and [`Client::builder`] use the default runtime ([`DefaultRuntime`](crate::DefaultRuntime): tokio, or smol without tokio); a builder for
/// another runtime comes from [`ClientBuilder::with_runtime`].
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientRef>,
}

pub(crate) struct ClientRef {
    pub(crate) send: SendFn,
    pub(crate) default_headers: HeaderMap,
    pub(crate) https_only: bool,
    pub(crate) max_body_size: Option<u64>,
    pub(crate) unix_socket: Option<UnixSocket>,
    pub(crate) base_url: Option<url::Url>,
    /// The runtime's timer, for waits the facade itself makes (event-stream reconnection,
    /// forwarded tunnels' idle timeouts).
    pub(crate) timer: towline_services::rt::SharedTimer,
    /// Spawns on the client's runtime, for tasks the facade itself starts (forwarded tunnels).
    pub(crate) spawner: Arc<dyn Fn(towline_services::rt::BoxFuture<'static, ()>) + Send + Sync>,
    /// The runtime's blocking threads, for file IO (multipart file parts, downloads).
    #[cfg(any(feature = "multipart", feature = "download"))]
    pub(crate) blocking_pool: crate::blocking_pool::BlockingPool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("default_headers", &self.inner.default_headers)
            .field("https_only", &self.inner.https_only)
            .finish_non_exhaustive()
    }
}

#[cfg(any(feature = "tokio", feature = "smol"))]
impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(any(feature = "tokio", feature = "smol"))]
impl Client {
    /// A client with the default configuration.
    ///
    /// # Panics
    ///
    /// When the default configuration cannot be built, which happens only when TLS is
    /// enabled with no root certificate source (neither `webpki-roots` nor
    /// `rustls-native-roots`); use [`Client::builder`] to handle that as an error.
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("the default client configuration is valid")
    }

    /// A builder to configure a client on the default runtime.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }
}

impl Client {
    /// Starts a GET request.
    pub fn get(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// Starts a HEAD request.
    pub fn head(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// Starts a POST request.
    pub fn post(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// Starts a PUT request.
    pub fn put(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// Starts a PATCH request.
    pub fn patch(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    /// Starts a DELETE request.
    pub fn delete(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// Starts a request with any method.
    ///
    /// The URL is checked here; a bad one is kept in the builder and reported by
    /// [`RequestBuilder::send`] or [`RequestBuilder::build`] as a builder error
    /// ([`Error::is_builder`]), before any socket opens.
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        match start(url, self.inner.base_url.as_ref()) {
            Ok((url, uri, credentials)) => {
                let builder = RequestBuilder::new(self.clone(), method, url, uri);
                match credentials {
                    Some((username, password)) => builder.basic_auth(username, password),
                    None => builder,
                }
            }
            Err(error) => RequestBuilder::failed(self.clone(), method, error),
        }
    }

    /// Sends a request built elsewhere: with [`RequestBuilder::build`], [`crate::Request::new`],
    /// or from an `http::Request` (`Request::try_from`). The client's default headers are
    /// added as for [`RequestBuilder::send`]; the URL's fragment is kept for
    /// [`Response::url`] (and followed across redirects).
    pub fn execute(
        &self,
        request: crate::Request,
    ) -> impl Future<Output = Result<Response>> + Send + 'static + use<> {
        let sent = request
            .into_http()
            .map(|(request, url)| self.send(request, url));
        async move { sent?.await }
    }

    /// Runs `task` in the background on the client's runtime.
    pub(crate) fn spawn(&self, task: towline_services::rt::BoxFuture<'static, ()>) {
        (self.inner.spawner)(task);
    }

    /// The runtime's timer.
    pub(crate) fn timer(&self) -> &towline_services::rt::SharedTimer {
        &self.inner.timer
    }

    /// The runtime's blocking threads.
    #[cfg(any(feature = "multipart", feature = "download"))]
    pub(crate) fn blocking_pool(&self) -> &crate::blocking_pool::BlockingPool {
        &self.inner.blocking_pool
    }

    /// Sends `request`, a request for `url`: the URL the response reports (with its
    /// fragment), which the request target was made from.
    pub(crate) fn send(
        &self,
        request: Request<Body>,
        url: url::Url,
    ) -> impl Future<Output = Result<Response>> + Send + 'static + use<> {
        let inner = self.inner.clone();
        async move {
            let request = match inner.prepare(request) {
                Ok(request) => request,
                Err(error) => return Err(error.with_url(url)),
            };
            match (inner.send)(request).await {
                Ok(response) => Ok(Response::new(response, url, inner.max_body_size)),
                Err(error) => Err(Error::from_service(error).with_url(url)),
            }
        }
    }
}

/// A user name and optional password taken out of a request URL.
type Credentials = (String, Option<String>);

/// The URL to send, its request target and the credentials taken out of it.
fn start(
    url: impl IntoUrl,
    base: Option<&url::Url>,
) -> Result<(url::Url, http::Uri, Option<Credentials>)> {
    // The request target drops the fragment by itself (it is never sent); the URL keeps it
    // for the redirect layer and `Response::url`. The target changes only when credentials
    // are taken out of the URL below.
    let (mut url, mut uri) = url.into_url_and_uri_on(base)?;
    let credentials = (!url.username().is_empty()).then(|| {
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8_lossy()
                .into_owned()
        };
        (decode(url.username()), url.password().map(decode))
    });
    // Credentials in the URL become Basic auth, as curl and browsers do; they are
    // removed from the URL so they never reach logs or the request line.
    if credentials.is_some() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
        uri = request_uri(&url)?;
    }
    Ok((url, uri, credentials))
}

impl ClientRef {
    fn prepare(&self, mut request: Request<Body>) -> Result<Request<Body>> {
        match request.uri().scheme_str() {
            Some("https") => {}
            Some("http") if self.https_only => {
                return Err(Error::builder("https_only is set and the URL is http"));
            }
            Some("http") => {}
            Some(other) => {
                return Err(Error::builder(format!(
                    "URL scheme {other:?} is not http or https"
                )));
            }
            None => return Err(Error::builder("request URI is not absolute")),
        }
        #[cfg(not(feature = "rustls"))]
        if request.uri().scheme_str() == Some("https") {
            return Err(Error::builder("https needs the `rustls` feature"));
        }
        if request.uri().host().is_none_or(str::is_empty) {
            return Err(Error::builder("URL has no host"));
        }
        if let Some(socket) = &self.unix_socket
            && request.extensions().get::<UnixSocket>().is_none()
        {
            request.extensions_mut().insert(socket.clone());
        }
        if request.headers().is_empty() {
            // The usual case. Room for the headers layers add (Accept-Encoding, Cookie, …)
            // is reserved here: a copy of the defaults would be full, and the first header a
            // layer inserts would reallocate the map.
            let mut headers = HeaderMap::with_capacity(self.default_headers.len() + LAYER_HEADERS);
            for (name, value) in &self.default_headers {
                headers.append(name.clone(), value.clone());
            }
            *request.headers_mut() = headers;
            return Ok(request);
        }
        let mut last = None;
        for (name, value) in &self.default_headers {
            if last.as_ref() == Some(name) || !request.headers().contains_key(name) {
                request.headers_mut().append(name.clone(), value.clone());
                last = Some(name.clone());
            }
        }
        Ok(request)
    }
}

impl<B> Service<Request<B>> for Client
where
    B: http_body::Body + Send + 'static,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<ResponseBody>;
    type Error = Error;
    type Future = BoxFuture<Result<Self::Response>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        let request = request.map(Body::wrap);
        // The caller gets an `http::Response`, which has no URL: unlike `execute`, the request's
        // URI becomes a `Url` only to describe an error, never on the way to a response.
        let uri = request.uri().clone();
        Box::pin(async move {
            let request = match inner.prepare(request) {
                Ok(request) => request,
                Err(error) => return Err(with_request_url(error, &uri)),
            };
            (inner.send)(request)
                .await
                .map_err(|error| with_request_url(Error::from_service(error), &uri))
        })
    }
}

/// `error`, about a request to `uri` (when that parses as a URL).
fn with_request_url(error: Error, uri: &http::Uri) -> Error {
    match url::Url::parse(&uri.to_string()) {
        Ok(url) => error.with_url(url),
        Err(_) => error,
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    #[test]
    fn client_is_clone_send_sync_and_one_pointer_wide() {
        fn assert_traits<T: Clone + Send + Sync + 'static>() {}
        assert_traits::<super::Client>();
        assert_eq!(
            std::mem::size_of::<super::Client>(),
            std::mem::size_of::<usize>()
        );
    }
}
