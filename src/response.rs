//! The response of the facade.

use std::fmt;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http::{Extensions, HeaderMap, StatusCode, Version};
use http_body::Body as _;
use http_body_util::BodyExt;
use towline_layers::redirect::Fragment;
use towline_services::transport::ConnectionInfo;
use url::Url;

use crate::body::ResponseBody;
use crate::error::{Error, Result};

/// Largest buffer pre-allocated from a `Content-Length` header when no maximum body size
/// is set; a larger body still arrives, growing the buffer as it does, so a hostile length
/// cannot make us allocate memory the peer never sends.
const PRESIZE_LIMIT: u64 = 8 * 1024 * 1024;

/// A response: status and headers at hand, the body read on demand.
pub struct Response {
    head: http::response::Parts,
    body: ResponseBody,
    url: Url,
    max_body_size: Option<u64>,
    trailers: Option<HeaderMap>,
    received: u64,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field(
                "url",
                &format_args!("{}", crate::error::Redacted(&self.url)),
            )
            .field("status", &self.head.status)
            .field("version", &self.head.version)
            .field("headers", &self.head.headers)
            .finish_non_exhaustive()
    }
}

impl Response {
    /// The response to a request for `url` (with its fragment, which was never sent).
    pub(crate) fn new(
        response: http::Response<ResponseBody>,
        mut url: Url,
        max_body_size: Option<u64>,
    ) -> Self {
        let (head, body) = response.into_parts();
        // Only a response that came from elsewhere (redirected, or upgraded to https) says
        // where; its URL is parsed then, and only then.
        if let Some(effective) = head.extensions.get::<towline_layers::EffectiveUri>()
            && let Ok(effective) = Url::parse(&effective.0.to_string())
        {
            url = effective;
        }
        // The fragment in effect after the redirects: a `Location` with its own replaces it.
        if let Some(Fragment(fragment)) = head.extensions.get::<Fragment>() {
            url.set_fragment(Some(fragment));
        }
        Self {
            head,
            body,
            url,
            max_body_size,
            trailers: None,
            received: 0,
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.head.status
    }

    /// The HTTP version the response came in.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// The headers, mutably.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.head.headers
    }

    /// The length of the body not yet read, when known (from `Content-Length`; 0 for
    /// responses that cannot have a body, such as those to HEAD).
    pub fn content_length(&self) -> Option<u64> {
        self.body.size_hint().exact()
    }

    /// The final URL: the request's, or where the redirects led, with the fragment in
    /// effect (the request's, unless a `Location` brought its own, as RFC 9110 §10.2.2 says).
    /// The fragment is never sent; it is kept here as a browser keeps it.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The address of the server the response came from.
    pub fn remote_addr(&self) -> Option<std::net::SocketAddr> {
        self.head
            .extensions
            .get::<ConnectionInfo>()
            .and_then(ConnectionInfo::remote_addr)
    }

    /// How long the phases of this exchange took, when the client records timings
    /// ([`ClientBuilder::timings`](crate::ClientBuilder::timings)).
    pub fn timings(&self) -> Option<&towline_layers::timings::RequestTimings> {
        self.head.extensions.get()
    }

    /// The response extensions (connection facts, timings, layer annotations).
    pub fn extensions(&self) -> &Extensions {
        &self.head.extensions
    }

    /// The response extensions, mutably.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.head.extensions
    }

    /// Limits how many body bytes `bytes`, `text`, `json` and `chunk` accept.
    pub fn set_max_body_size(&mut self, max: Option<u64>) {
        self.max_body_size = max;
    }

    /// Trailers, once the body has been read to its end and if the server sent any.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_ref()
    }

    /// Turns a 4xx or 5xx status into an error.
    pub fn error_for_status(self) -> Result<Self> {
        match self.status_error() {
            Some(error) => Err(error),
            None => Ok(self),
        }
    }

    /// Like [`Response::error_for_status`], by reference.
    pub fn error_for_status_ref(&self) -> Result<&Self> {
        match self.status_error() {
            Some(error) => Err(error),
            None => Ok(self),
        }
    }

    fn status_error(&self) -> Option<Error> {
        let status = self.status();
        (status.is_client_error() || status.is_server_error())
            .then(|| Error::from_status(status, self.url.clone()))
    }

    fn too_large(&self, max: u64) -> Error {
        Error::body(format!("response body exceeds the maximum of {max} bytes"))
            .with_url(self.url.clone())
    }

    /// The next chunk of the body; `None` at its end. Trailers are kept for
    /// [`Response::trailers`].
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        loop {
            let Some(frame) = self.body.frame().await else {
                return Ok(None);
            };
            let frame = frame.map_err(|e| Error::body(e).with_url(self.url.clone()))?;
            match frame.into_data() {
                Ok(data) => {
                    self.received = self.received.saturating_add(data.len() as u64);
                    if let Some(max) = self.max_body_size.filter(|max| self.received > *max) {
                        return Err(self.too_large(max));
                    }
                    if !data.is_empty() {
                        return Ok(Some(data));
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        self.trailers = Some(trailers);
                    }
                }
            }
        }
    }

    /// The whole body. Pre-sized from `Content-Length`; a body that arrives in a single
    /// frame is returned without copying.
    pub async fn bytes(mut self) -> Result<Bytes> {
        if let (Some(max), Some(length)) = (self.max_body_size, self.content_length())
            && length > max
        {
            return Err(self.too_large(max));
        }
        let Some(first) = self.chunk().await? else {
            return Ok(Bytes::new());
        };
        // The common case, a body in one frame: the body says it has ended (every layer's
        // body finishes its work on that frame), so it is not polled again for its end.
        if self.body.is_end_stream() {
            return Ok(first);
        }
        let Some(second) = self.chunk().await? else {
            return Ok(first);
        };
        let limit = self
            .max_body_size
            .unwrap_or(PRESIZE_LIMIT)
            .min(PRESIZE_LIMIT);
        let expected = self
            .content_length()
            .map_or(0, |rest| rest.saturating_add(self.received));
        let capacity = expected.max(self.received).min(limit);
        let mut buffer = BytesMut::with_capacity(usize::try_from(capacity).unwrap_or(0));
        buffer.extend_from_slice(&first);
        buffer.extend_from_slice(&second);
        while let Some(chunk) = self.chunk().await? {
            buffer.extend_from_slice(&chunk);
        }
        Ok(buffer.freeze())
    }

    /// The body as text, decoded with the charset of `Content-Type` (UTF-8 by default);
    /// invalid sequences become U+FFFD.
    pub async fn text(self) -> Result<String> {
        self.text_with_charset("utf-8").await
    }

    /// The body as text, with `default` as the charset when `Content-Type` names none.
    pub async fn text_with_charset(self, default: &str) -> Result<String> {
        let charset = self
            .head
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .and_then(|m| m.get_param(mime::CHARSET).map(|c| c.as_str().to_owned()))
            .unwrap_or_else(|| default.to_owned());
        let bytes = self.bytes().await?;
        decode_text(&bytes, &charset)
    }

    /// The body parsed as JSON.
    #[cfg(feature = "json")]
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T> {
        let url = self.url.clone();
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::decode(e).with_url(url))
    }

    /// The body as a `Stream` of byte chunks: reqwest's name for
    /// [`into_bytes_stream`](Self::into_bytes_stream).
    pub fn bytes_stream(self) -> BytesStream {
        self.into_bytes_stream()
    }

    /// The cookies this response sets, one per `Set-Cookie` header that parses (others are
    /// skipped), as the server sent them.
    #[cfg(feature = "cookies")]
    pub fn cookies(&self) -> impl Iterator<Item = crate::cookie::Cookie<'_>> {
        self.head
            .headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(crate::cookie::Cookie::parse)
    }

    /// The body as a stream of byte chunks.
    pub fn into_bytes_stream(self) -> BytesStream {
        BytesStream {
            body: self.body,
            url: self.url,
        }
    }

    /// The body as Server-Sent Events, within the default bounds (see [`crate::sse`]). Fails
    /// when the response is not `text/event-stream` (the EventSource rule): an error page is
    /// not read as events. The maximum body size does not apply: an event stream is open-ended.
    #[cfg(feature = "sse")]
    pub fn sse(self) -> Result<crate::sse::SseStream<ResponseBody>> {
        self.sse_with(crate::sse::SseConfig::default())
    }

    /// [`sse`](Self::sse) with the bounds of `config`.
    #[cfg(feature = "sse")]
    pub fn sse_with(
        self,
        config: crate::sse::SseConfig,
    ) -> Result<crate::sse::SseStream<ResponseBody>> {
        let media_type = self
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::trim);
        if !media_type.is_some_and(|t| t.eq_ignore_ascii_case("text/event-stream")) {
            return Err(Error::decode(format!(
                "not an event stream: content-type {}",
                media_type.unwrap_or("missing")
            ))
            .with_url(self.url));
        }
        Ok(crate::sse::SseStream::new(self.body, config))
    }

    /// This response, reporting the progress of its body to `report` as it is read (see
    /// [`crate::progress`]); the total is the body's length when it is known.
    pub fn with_progress(
        mut self,
        report: impl Fn(crate::progress::Progress) + Send + Sync + 'static,
    ) -> Self {
        self.body = crate::progress::ProgressBody::new(self.body, report).boxed_unsync();
        self
    }

    /// This response, and a handle that reads its body's progress from anywhere.
    pub fn with_progress_handle(mut self) -> (Self, crate::progress::ProgressHandle) {
        let (body, handle) = crate::progress::ProgressBody::with_handle(self.body);
        self.body = body.boxed_unsync();
        (self, handle)
    }

    /// Takes over the connection the server switched to another protocol (`101 Switching
    /// Protocols`), or the tunnel of an accepted `CONNECT`, as reqwest's `Response::upgrade`
    /// does; see [`crate::upgrade`].
    ///
    /// # Errors
    ///
    /// An upgrade error ([`Error::is_upgrade`]) when the server did not switch (any other
    /// status) or the connection ended before it was handed over.
    pub async fn upgrade(self) -> Result<crate::Upgraded> {
        let Self {
            mut head,
            url,
            body,
            ..
        } = self;
        // An HTTP/1 connection goes back to the pool with its body; a switched one must not.
        drop(body);
        crate::upgrade::take(&mut head, &url).await
    }

    /// The response as `http::Response` with the boxed body.
    pub fn into_http(self) -> http::Response<ResponseBody> {
        http::Response::from_parts(self.head, self.body)
    }
}

#[cfg(feature = "charset")]
fn decode_text(bytes: &[u8], charset: &str) -> Result<String> {
    let encoding = encoding_rs::Encoding::for_label(charset.as_bytes())
        .ok_or_else(|| Error::decode(format!("unknown charset {charset:?}")))?;
    let (text, _, _) = encoding.decode(bytes);
    Ok(text.into_owned())
}

#[cfg(not(feature = "charset"))]
fn decode_text(bytes: &[u8], charset: &str) -> Result<String> {
    if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("utf8") {
        return Err(Error::decode(format!(
            "charset {charset:?} needs the `charset` feature"
        )));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// The body of a [`Response`] as a `Stream` of byte chunks (trailers are skipped).
pub struct BytesStream {
    body: ResponseBody,
    url: Url,
}

impl fmt::Debug for BytesStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BytesStream").finish_non_exhaustive()
    }
}

impl Stream for BytesStream {
    type Item = Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            let frame = match std::pin::Pin::new(&mut this.body).poll_frame(cx) {
                std::task::Poll::Ready(Some(Ok(frame))) => frame,
                std::task::Poll::Ready(Some(Err(e))) => {
                    return std::task::Poll::Ready(Some(Err(
                        Error::body(e).with_url(this.url.clone())
                    )));
                }
                std::task::Poll::Ready(None) => return std::task::Poll::Ready(None),
                std::task::Poll::Pending => return std::task::Poll::Pending,
            };
            if let Ok(data) = frame.into_data()
                && !data.is_empty()
            {
                return std::task::Poll::Ready(Some(Ok(data)));
            }
        }
    }
}
