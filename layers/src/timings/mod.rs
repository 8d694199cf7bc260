//! Request timings: connection phases, time to first byte, headers and body completion.
//!
//! [`TimingsLayer`] stamps the moment a request enters it, the moment its response head comes
//! back and the moment the response body ends, and puts a [`RequestTimings`] in the response's
//! extensions. The connection phases (DNS, TCP, TLS) and the moment the request was handed to
//! a connection belong to the transport below, which leaves them in the response's extensions
//! as a [`ConnectionInfo`] (towline's transport does; any other transport can): the layer
//! reads them from there, so a stack built by hand reports what the `towline` client does.
//! Without them the timings have no connection phases and no time to first byte. A request
//! sent on a pooled connection reports no connection phases, only the transfer.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt};
//! use towline_layers::time::ManualTimer;
//! use towline_layers::timings::{RequestTimings, TimingsLayer};
//! use towline_layers::BoxError;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let timer = ManualTimer::new();
//! let service = ServiceBuilder::new()
//!     .layer(TimingsLayer::new(timer.shared()))
//!     .service_fn(|_req: http::Request<Full<Bytes>>| async {
//!         Ok::<_, BoxError>(http::Response::new(Full::new(Bytes::from("hello"))))
//!     });
//!
//! let response = service.oneshot(http::Request::new(Full::default())).await?;
//! let timings = response.extensions().get::<RequestTimings>().cloned().expect("timings");
//! assert!(timings.body_complete().is_none());
//! response.into_body().collect().await?;
//! assert!(timings.body_complete().is_some());
//! # Ok(())
//! # }
//! ```

mod body;
mod future;
mod layer;
mod service;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use body::TimingsBody;
pub use future::ResponseFuture;
pub use layer::TimingsLayer;
pub use service::Timings;
pub use towline_core::{ConnectTimings, ConnectionInfo};

/// How long the phases of one exchange took. Durations are measured from the moment the
/// request entered the layer, except the connection phases, which are their own lengths.
#[derive(Clone, Debug)]
pub struct RequestTimings {
    /// Name resolution, when a new connection was made and a name resolved.
    pub dns: Option<Duration>,
    /// TCP connect, when a new TCP connection was made.
    pub tcp: Option<Duration>,
    /// TLS handshake, when a new TLS connection was made.
    pub tls: Option<Duration>,
    /// The proxy handshakes (HTTP `CONNECT`, SOCKS, TLS to an `https://` proxy), when a new
    /// connection was made through a proxy; `tcp` is then the connect to the first proxy.
    pub proxy: Option<Duration>,
    /// The QUIC handshake (TLS 1.3 included), when a new HTTP/3 connection was made.
    pub quic: Option<Duration>,
    /// From handing the request to a connection to its response head, when the transport
    /// says when it sent the request.
    pub time_to_first_byte: Option<Duration>,
    /// From entering the layer to the response head.
    pub headers: Duration,
    pub(crate) body: Arc<OnceLock<Duration>>,
}

impl RequestTimings {
    /// From entering the layer to the end of the response body, once the body has been read
    /// to its end.
    pub fn body_complete(&self) -> Option<Duration> {
        self.body.get().copied()
    }
}

#[cfg(test)]
mod tests;
