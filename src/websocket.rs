//! The WebSocket opening handshake: over HTTP/1.1 (RFC 6455 §4) or as an HTTP/2 extended
//! CONNECT (RFC 8441), on the client's stack and pool.
//!
//! [`Client::websocket`] (for `ws://` and `wss://` URLs) or [`RequestBuilder::websocket`]
//! (for a request set up with headers, auth or timeouts) starts a [`WebSocketBuilder`]; its
//! [`send`](WebSocketBuilder::send) makes the handshake and checks the answer:
//!
//! - over HTTP/1.1, a `101` with `Upgrade: websocket` and `Connection: upgrade`, and the
//!   `Sec-WebSocket-Accept` made from the `Sec-WebSocket-Key` sent (16 bytes from the
//!   operating system's CSPRNG); over HTTP/2, a `200` (the server must have enabled extended
//!   CONNECT, or nothing is sent);
//! - a subprotocol only if it was one of those offered, and only once;
//! - extensions only among those offered.
//!
//! Anything else is an upgrade error ([`Error::is_upgrade`]). The [`Handshake`] hands over
//! the connection ([`Upgraded`]) and what was agreed; framing is the caller's choice of
//! library, for example tokio-tungstenite's `WebSocketStream::from_raw_socket(io,
//! Role::Client, None)`. A `wss://` handshake over HTTP/1.1 offers only `http/1.1` in ALPN.
//!
//! Against tokio-tungstenite's own server handshake, in process:
//!
//! ```
//! use futures_util::{SinkExt, StreamExt};
//! use tokio_tungstenite::WebSocketStream;
//! use tokio_tungstenite::tungstenite::{Message, protocol::Role};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let url = format!("ws://{}/echo", listener.local_addr()?);
//! tokio::spawn(async move {
//!     let (stream, _) = listener.accept().await?;
//!     let mut socket = tokio_tungstenite::accept_async(stream).await?;
//!     while let Some(message) = socket.next().await {
//!         let message = message?;
//!         if message.is_text() {
//!             socket.send(message).await?;
//!         }
//!     }
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//! });
//!
//! let handshake = towline::Client::new().websocket(url).send().await?;
//! let mut socket =
//!     WebSocketStream::from_raw_socket(handshake.into_io(), Role::Client, None).await;
//! socket.send(Message::text("ping")).await?;
//! let echoed = socket.next().await.ok_or("closed")??;
//! assert_eq!(echoed.into_text()?.as_str(), "ping");
//! # Ok(())
//! # }
//! ```
//!
//! With a subprotocol, against a server elsewhere:
//!
//! ```no_run
//! use futures_util::{SinkExt, StreamExt};
//! use tokio_tungstenite::WebSocketStream;
//! use tokio_tungstenite::tungstenite::{Message, protocol::Role};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = towline::Client::new();
//! let handshake = client
//!     .websocket("wss://echo.example.com/chat")
//!     .protocols(["chat.v2", "chat.v1"])
//!     .send()
//!     .await?;
//! println!("speaking {:?}", handshake.protocol());
//! let mut socket =
//!     WebSocketStream::from_raw_socket(handshake.into_io(), Role::Client, None).await;
//! socket.send(Message::text("hello")).await?;
//! let echoed = socket.next().await;
//! # let _ = echoed;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;

use base64::Engine as _;
use http::header::{
    CONNECTION, HeaderName, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS,
    SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, Method, StatusCode, Version};
use sha1::{Digest as _, Sha1};
use towline_services::connect::Protocol;

use crate::body::Body;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::header_syntax::{Cursor, is_token};
use crate::request::RequestBuilder;
use crate::upgrade::Upgraded;

/// The GUID RFC 6455 §1.3 appends to the key before hashing it into the accept value.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` a server answers to `key` (RFC 6455 §4.2.2): the base64 of the
/// SHA-1 of the key and the protocol's GUID.
///
/// ```
/// // RFC 6455 §1.3's example.
/// let accept = towline::websocket::accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
/// assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(ACCEPT_GUID);
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

impl Client {
    /// Starts a WebSocket handshake with `url`: `ws://` and `wss://` (or `http://` and
    /// `https://`, which they stand for), resolved against the client's base URL when
    /// relative. See [`crate::websocket`].
    pub fn websocket(&self, url: impl AsRef<str>) -> WebSocketBuilder {
        let parsed = match (url::Url::parse(url.as_ref()), &self.inner.base_url) {
            (Err(url::ParseError::RelativeUrlWithoutBase), Some(base)) => base.join(url.as_ref()),
            (parsed, _) => parsed,
        };
        let http_url = parsed
            .map_err(|e| Error::builder(format!("invalid URL: {e}")))
            .and_then(http_scheme);
        match http_url {
            Ok(url) => self.get(url).websocket(),
            Err(error) => RequestBuilder::failed(self.clone(), Method::GET, error).websocket(),
        }
    }
}

/// `url` with the scheme a WebSocket URL stands for (RFC 6455 §3: `ws` is `http`, `wss` is
/// `https`).
fn http_scheme(mut url: url::Url) -> Result<url::Url> {
    let scheme = match url.scheme() {
        "ws" | "http" => "http",
        "wss" | "https" => "https",
        other => {
            return Err(Error::builder(format!(
                "URL scheme {other:?} is not ws, wss, http or https"
            )));
        }
    };
    if url.scheme() != scheme && url.set_scheme(scheme).is_err() {
        return Err(Error::builder(
            "the WebSocket URL cannot be sent as http(s)",
        ));
    }
    Ok(url)
}

impl RequestBuilder {
    /// Makes this request a WebSocket handshake (see [`crate::websocket`]): a `GET` over
    /// HTTP/1.1, or an extended CONNECT over HTTP/2 with [`WebSocketBuilder::http2`]. The
    /// method, body and version set here are replaced; headers, auth, timeouts and other
    /// settings are kept.
    pub fn websocket(self) -> WebSocketBuilder {
        WebSocketBuilder {
            request: self,
            protocols: Vec::new(),
            extensions: None,
            http2: false,
        }
    }
}

/// A WebSocket handshake being set up; [`send`](Self::send) makes it.
#[must_use]
pub struct WebSocketBuilder {
    request: RequestBuilder,
    protocols: Vec<String>,
    extensions: Option<String>,
    http2: bool,
}

impl fmt::Debug for WebSocketBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketBuilder")
            .field("request", &self.request)
            .field("protocols", &self.protocols)
            .field("extensions", &self.extensions)
            .field("http2", &self.http2)
            .finish()
    }
}

impl WebSocketBuilder {
    /// Offers these subprotocols (`Sec-WebSocket-Protocol`), most preferred first; the server
    /// may pick one. Each must be an HTTP token.
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols.extend(protocols.into_iter().map(Into::into));
        self
    }

    /// Offers extensions, as the `Sec-WebSocket-Extensions` value (for example
    /// `permessage-deflate; client_max_window_bits`). The server may accept some of them;
    /// [`Handshake::extensions`] says which, with their parameters, and the framing must then
    /// speak them.
    pub fn extensions(mut self, offer: impl Into<String>) -> Self {
        self.extensions = Some(offer.into());
        self
    }

    /// Makes the handshake as an HTTP/2 extended CONNECT (RFC 8441) over a pooled HTTP/2
    /// connection (h2c prior knowledge for `ws://`), which the server must have enabled
    /// with `SETTINGS_ENABLE_CONNECT_PROTOCOL`.
    pub fn http2(mut self) -> Self {
        self.http2 = true;
        self
    }

    /// Adds a header to the handshake request (an `Origin`, a token, …).
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: Into<http::Error>,
        V: TryInto<HeaderValue>,
        V::Error: Into<http::Error>,
    {
        self.request = self.request.header(name, value);
        self
    }

    /// Sends the handshake and checks the answer (see [`crate::websocket`]).
    ///
    /// # Errors
    ///
    /// A builder error for a bad URL, header, subprotocol or extension offer; the client's
    /// connect, timeout and transport errors; an upgrade error ([`Error::is_upgrade`]) when
    /// the server did not accept the handshake or answered it wrongly.
    pub fn send(self) -> impl Future<Output = Result<Handshake>> + Send + 'static {
        let Self {
            request,
            protocols,
            extensions,
            http2,
        } = self;
        let (client, built) = request.build_split();
        let prepared = built.and_then(|(mut request, url)| {
            let offer = Offer::new(protocols, extensions)?;
            let key = prepare(&mut request, &offer, http2)?;
            Ok((request, url, offer, key))
        });
        async move {
            let (request, url, offer, key) = prepared?;
            let response = client.send(request, url.clone()).await?;
            // The body goes now: an HTTP/1 connection that switched must not wait for it.
            let (mut head, _) = response.into_http().into_parts();
            let agreed = check(&head, key.as_deref(), &offer).map_err(|problem| {
                Error::upgrade(format!("WebSocket handshake refused: {problem}"))
                    .with_url(url.clone())
            })?;
            let io = crate::upgrade::take(&mut head, &url).await?;
            Ok(Handshake { io, head, agreed })
        }
    }
}

/// What the client offers: subprotocols and extensions, checked as tokens before sending.
struct Offer {
    protocols: Vec<String>,
    extensions: Option<HeaderValue>,
    extension_names: Vec<String>,
}

impl Offer {
    fn new(protocols: Vec<String>, extensions: Option<String>) -> Result<Self> {
        if let Some(bad) = protocols.iter().find(|protocol| !is_token(protocol)) {
            return Err(Error::builder(format!(
                "WebSocket subprotocol {bad:?} is not a token"
            )));
        }
        let (extensions, extension_names) = match extensions {
            Some(offer) => {
                let names = extension_names(&offer)
                    .map_err(|problem| Error::builder(format!("extension offer: {problem}")))?
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                let value = HeaderValue::try_from(offer).map_err(Error::builder)?;
                (Some(value), names)
            }
            None => (None, Vec::new()),
        };
        Ok(Self {
            protocols,
            extensions,
            extension_names,
        })
    }
}

/// Turns `request` into the handshake; returns the `Sec-WebSocket-Key` sent (HTTP/1.1 only).
fn prepare(
    request: &mut http::Request<Body>,
    offer: &Offer,
    http2: bool,
) -> Result<Option<String>> {
    *request.body_mut() = Body::empty();
    let headers = request.headers_mut();
    headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    if !offer.protocols.is_empty() {
        let joined = HeaderValue::try_from(offer.protocols.join(", ")).map_err(Error::builder)?;
        headers.insert(SEC_WEBSOCKET_PROTOCOL, joined);
    }
    if let Some(extensions) = &offer.extensions {
        headers.insert(SEC_WEBSOCKET_EXTENSIONS, extensions.clone());
    }
    if http2 {
        // RFC 8441 §4: no key, no `Upgrade`; the `:protocol` pseudo-header says websocket.
        *request.method_mut() = Method::CONNECT;
        *request.version_mut() = Version::HTTP_2;
        request.extensions_mut().insert(Protocol::Http2);
        request
            .extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        return Ok(None);
    }
    let key = new_key()?;
    let headers = request.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(
        SEC_WEBSOCKET_KEY,
        HeaderValue::try_from(key.as_str()).map_err(Error::builder)?,
    );
    *request.method_mut() = Method::GET;
    *request.version_mut() = Version::HTTP_11;
    request.extensions_mut().insert(Protocol::Http1);
    Ok(Some(key))
}

/// A fresh `Sec-WebSocket-Key`: 16 bytes from the operating system's CSPRNG, in base64.
pub(crate) fn new_key() -> Result<String> {
    let mut nonce = [0; 16];
    getrandom::getrandom(&mut nonce)
        .map_err(|e| Error::builder(format!("no random bytes for Sec-WebSocket-Key: {e}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(nonce))
}

/// What the server agreed to.
#[derive(Debug)]
struct Agreed {
    protocol: Option<String>,
    extensions: Option<String>,
}

/// Checks the server's answer to a handshake that sent `key` (HTTP/1.1) or none (HTTP/2).
fn check(
    head: &http::response::Parts,
    key: Option<&str>,
    offer: &Offer,
) -> std::result::Result<Agreed, String> {
    let headers = &head.headers;
    match key {
        Some(key) => {
            if head.status != StatusCode::SWITCHING_PROTOCOLS {
                return Err(format!("the server answered {}, not 101", head.status));
            }
            let upgrade = single(headers, &UPGRADE)?;
            if !upgrade.is_some_and(|value| value.trim().eq_ignore_ascii_case("websocket")) {
                return Err("the 101 does not say `Upgrade: websocket`".into());
            }
            if !has_token(headers, &CONNECTION, "upgrade") {
                return Err("the 101 does not say `Connection: upgrade`".into());
            }
            match single(headers, &SEC_WEBSOCKET_ACCEPT)? {
                Some(accept) if accept.trim() == accept_key(key.as_bytes()) => {}
                Some(_) => return Err("Sec-WebSocket-Accept does not match the key sent".into()),
                None => return Err("the 101 has no Sec-WebSocket-Accept".into()),
            }
        }
        None if head.status != StatusCode::OK => {
            return Err(format!(
                "the server answered {} to the extended CONNECT, not 200",
                head.status
            ));
        }
        None => {}
    }
    let protocol = match single(headers, &SEC_WEBSOCKET_PROTOCOL)? {
        Some(chosen) => {
            let chosen = chosen.trim();
            if !offer.protocols.iter().any(|offered| offered == chosen) {
                return Err(format!(
                    "the server chose subprotocol {chosen:?}, which was not offered"
                ));
            }
            Some(chosen.to_owned())
        }
        None => None,
    };
    let mut accepted = Vec::new();
    for value in headers.get_all(SEC_WEBSOCKET_EXTENSIONS) {
        let value = value
            .to_str()
            .map_err(|_| "Sec-WebSocket-Extensions is not text".to_owned())?;
        for name in extension_names(value)? {
            if !offer
                .extension_names
                .iter()
                .any(|offered| offered.eq_ignore_ascii_case(name))
            {
                return Err(format!(
                    "the server accepted extension {name:?}, which was not offered"
                ));
            }
        }
        if !value.trim().is_empty() {
            accepted.push(value.trim());
        }
    }
    let extensions = (!accepted.is_empty()).then(|| accepted.join(", "));
    Ok(Agreed {
        protocol,
        extensions,
    })
}

/// The value of a header that may appear at most once.
fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> std::result::Result<Option<&'a str>, String> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(format!("{name} appears more than once"));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| format!("{name} is not text"))
}

/// Whether any of the comma-separated values of `name` is `token`, ignoring case.
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

/// The extension names of a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1): a
/// comma-separated list of `name *( ";" param [ "=" value ] )`, values tokens or quoted
/// strings. Empty list elements are skipped, as RFC 9110 §5.6.1 allows.
fn extension_names(value: &str) -> std::result::Result<Vec<&str>, String> {
    let problem =
        |e: crate::header_syntax::HeaderParseError| format!("Sec-WebSocket-Extensions: {e}");
    let mut cursor = Cursor::new(value);
    let mut names = Vec::new();
    loop {
        cursor.skip_ows();
        if cursor.at_end() {
            return Ok(names);
        }
        if cursor.eat(b',') {
            continue;
        }
        names.push(cursor.token().map_err(problem)?);
        loop {
            cursor.skip_ows();
            if !cursor.eat(b';') {
                break;
            }
            cursor.skip_ows();
            cursor.token().map_err(problem)?;
            cursor.skip_ows();
            if cursor.eat(b'=') {
                cursor.skip_ows();
                cursor.token_or_quoted().map_err(problem)?;
            }
        }
        cursor.skip_ows();
        if !cursor.at_end() && !cursor.eat(b',') {
            return Err(problem(cursor.error("expected ',' between extensions")));
        }
    }
}

/// A WebSocket handshake the server accepted: the connection, the subprotocol and extensions
/// agreed, and the answer's head.
pub struct Handshake {
    io: Upgraded,
    head: http::response::Parts,
    agreed: Agreed,
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("status", &self.head.status)
            .field("version", &self.head.version)
            .field("protocol", &self.agreed.protocol)
            .field("extensions", &self.agreed.extensions)
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// The subprotocol the server chose among those offered, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.agreed.protocol.as_deref()
    }

    /// The extensions the server accepted, with their parameters, as it wrote them
    /// (`Sec-WebSocket-Extensions`, several values joined with `, `); each was offered.
    pub fn extensions(&self) -> Option<&str> {
        self.agreed.extensions.as_deref()
    }

    /// The status of the answer: `101` over HTTP/1.1, `200` over HTTP/2.
    pub fn status(&self) -> StatusCode {
        self.head.status
    }

    /// The HTTP version the handshake was made over.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The headers of the answer.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// The connection, for the WebSocket framing.
    pub fn into_io(self) -> Upgraded {
        self.io
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_names_follow_the_grammar() {
        assert_eq!(
            extension_names("permessage-deflate; client_max_window_bits, x-foo; a=\"b,c\"; d")
                .unwrap(),
            ["permessage-deflate", "x-foo"]
        );
        assert_eq!(extension_names(" , ").unwrap(), Vec::<&str>::new());
        // A quoted value ending in an escaped backslash.
        assert_eq!(extension_names(r#"x; a="b\\""#).unwrap(), ["x"]);
        assert!(extension_names("; a=1").is_err());
        assert!(extension_names("bad name").is_err());
        assert!(extension_names("x; a=\"open").is_err());
        assert!(extension_names("x; a=b c").is_err());
    }

    #[test]
    fn websocket_urls_stand_for_http_urls() {
        let mapped = |url: &str| http_scheme(url::Url::parse(url).unwrap()).map(String::from);
        assert_eq!(
            mapped("ws://a.example/x?y").unwrap(),
            "http://a.example/x?y"
        );
        assert_eq!(
            mapped("wss://a.example:9/").unwrap(),
            "https://a.example:9/"
        );
        assert_eq!(mapped("https://a.example/").unwrap(), "https://a.example/");
        assert!(mapped("ftp://a.example/").unwrap_err().is_builder());
    }
}
