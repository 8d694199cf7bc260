//! The few types that towline's layers (`towline-layers`) and its transport
//! (`towline-services`) must agree on, in a crate of their own so that neither of those
//! depends on the other.
//!
//! - [`ErrorClass`]: whether a failed request may have reached the server. The transport
//!   knows (it saw the connection fail, or the server refuse the stream); the retry layer
//!   decides with it. `towline_services::retry_class` answers it for the transport's errors,
//!   and `towline_layers::retry::RetryLayer::error_classifier` takes that function, so a
//!   stack built by hand classifies exactly as the `towline` client does.
//! - [`TransportPhases`]: how long the connection phases took and when the request was
//!   handed to its connection. The transport puts it in each response's extensions; the
//!   timings layer reads it from there, whichever transport is below it.
//! - [`RequestHead`]: what a request is sent again from. The redirect and retry layers keep
//!   one per request for their later attempts, and the transport one for replaying an
//!   idempotent request that a reused connection lost.
//!
//! All are plain data: no runtime, and no dependency but `http`.

#![deny(unsafe_code)]

use std::time::{Duration, Instant};

use http::{Extensions, HeaderMap, Method, Request, Uri, Version, request};

/// How a failed attempt may be retried: whether the request can have reached the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The request certainly never reached the server (no connection was had, or the server
    /// said it did not process it): safe to send again whatever the method.
    NotSent,
    /// The request may have reached the server: sent again only when the method is
    /// idempotent, or the caller allows re-sending others.
    MaybeSent,
    /// Trying again cannot help (a certificate the client rejects, a request that cannot be
    /// sent, a body that cannot be replayed): never sent again.
    Fatal,
}

/// Connection facts of one exchange, left in the response's extensions by the transport.
///
/// The connection phases are set only when the request opened a new connection; a request
/// sent on a pooled connection has none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportPhases {
    /// Name resolution of a new connection.
    pub dns: Option<Duration>,
    /// TCP connect of a new connection.
    pub tcp: Option<Duration>,
    /// TLS handshake of a new connection.
    pub tls: Option<Duration>,
    /// When the request was handed to its connection, on the transport's timer clock.
    pub request_sent_at: Option<Instant>,
}

impl TransportPhases {
    /// Phases of an exchange on a reused connection: only the moment the request was sent.
    pub fn reused(request_sent_at: Instant) -> Self {
        Self {
            request_sent_at: Some(request_sent_at),
            ..Self::default()
        }
    }

    /// Phases of an exchange that opened a connection.
    pub fn fresh(
        dns: Option<Duration>,
        tcp: Duration,
        tls: Option<Duration>,
        request_sent_at: Instant,
    ) -> Self {
        Self {
            dns,
            tcp: Some(tcp),
            tls,
            request_sent_at: Some(request_sent_at),
        }
    }
}

/// A request without its body: method, URI, version, headers and extensions.
///
/// A layer or service that may send a request again copies its head once, before the
/// request goes on, and builds each later attempt from the copy with a fresh body. The
/// fields are public so that an attempt can differ from the first (a redirect changes the
/// method, URI and headers).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// The request URI.
    pub uri: Uri,
    /// The HTTP version.
    pub version: Version,
    /// The request headers.
    pub headers: HeaderMap,
    /// The request extensions.
    pub extensions: Extensions,
}

impl RequestHead {
    /// Copies the head of `request`.
    pub fn from_request<B>(request: &Request<B>) -> Self {
        Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
            extensions: request.extensions().clone(),
        }
    }

    /// Copies the head of a request taken apart with [`Request::into_parts`].
    pub fn from_parts(parts: &request::Parts) -> Self {
        Self {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            headers: parts.headers.clone(),
            extensions: parts.extensions.clone(),
        }
    }

    /// A request with a copy of this head and `body`: the next attempt, while the head is
    /// kept for the ones after it.
    pub fn to_request<B>(&self, body: B) -> Request<B> {
        self.clone().into_request(body)
    }

    /// A request with this head and `body`: the last attempt, which needs no copy.
    pub fn into_request<B>(self, body: B) -> Request<B> {
        let mut request = Request::new(body);
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers;
        *request.extensions_mut() = self.extensions;
        request
    }
}

#[cfg(test)]
mod tests {
    use http::{Method, Request, Version};

    use super::RequestHead;

    #[derive(Clone, Debug, PartialEq)]
    struct Marker(u8);

    #[test]
    fn a_request_rebuilt_from_its_head_is_the_same_request() -> Result<(), http::Error> {
        let mut request = Request::builder()
            .method(Method::PUT)
            .uri("http://example.test/upload")
            .version(Version::HTTP_2)
            .header("content-type", "text/plain")
            .body("first")?;
        request.extensions_mut().insert(Marker(7));

        let head = RequestHead::from_request(&request);
        let (parts, _) = request.into_parts();
        let from_parts = RequestHead::from_parts(&parts);
        for again in [head.to_request("second"), from_parts.into_request("second")] {
            assert_eq!(again.method(), Method::PUT);
            assert_eq!(again.uri(), "http://example.test/upload");
            assert_eq!(again.version(), Version::HTTP_2);
            assert_eq!(again.headers(), &parts.headers);
            assert_eq!(again.extensions().get::<Marker>(), Some(&Marker(7)));
            assert_eq!(*again.body(), "second");
        }
        Ok(())
    }
}
