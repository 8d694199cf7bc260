//! In-process servers and fault injectors for towline's tests.
//!
//! Everything listens on `127.0.0.1:0` and runs on the calling test's tokio
//! runtime; nothing touches the network. Each server stops, and closes its
//! connections, when dropped.
//!
//! - [`TestServer`]: a hyper server over HTTP/1.1, h2c or TLS (ALPN, optional
//!   client certificates) with a built-in router or a closure handler.
//! - [`TestPki`]: a generated CA with server and client certificates.
//! - [`RawServer`]: hand-written bytes over TCP, for malformed responses and
//!   connections that die on reuse.
//! - [`Blackhole`]: an address where connects hang.
//! - [`SocksServer`]: a SOCKS4/4a/5 proxy with optional username/password authentication,
//!   a request log, and scripted refusals and malformed replies.
//! - [`DnsServer`]: a name server for test names over UDP/TCP, DNS-over-TLS or
//!   DNS-over-HTTPS, counting the questions it answers.
//! - `Http3Server` (feature `http3`): an HTTP/3 server over quinn and h3, with the same
//!   routes and connection and request counters.
//! - [`TokioIo`] and [`TokioExecutor`]: the tokio/hyper seams, also handy for
//!   tests that drive a hyper client connection directly.
//!
//! ```no_run
//! use towline_test_support::{
//!     Blackhole, OK_KEEP_ALIVE, RawServer, Reuse, SocksServer, TestPki, TestServer,
//! };
//!
//! # async fn doc() {
//! let server = TestServer::http1();
//! let echo_url = server.url("/echo?x=1");
//!
//! let pki = TestPki::generate();
//! let tls = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
//! let trust_this = pki.ca_pem();
//!
//! // Answers once per connection, then resets the connection when it is reused.
//! let stale = RawServer::respond_then_on_reuse(OK_KEEP_ALIVE, Reuse::Reset);
//!
//! // Connects here hang until the value is dropped.
//! let blackhole = Blackhole::bind();
//!
//! // A SOCKS proxy that relays to whatever its clients ask for.
//! let socks = SocksServer::spawn();
//! let proxy_url = socks.url("socks5h");
//! # let _ = (echo_url, tls, trust_this, stale, blackhole, proxy_url);
//! # }
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod acceptor;
mod blackhole;
mod body;
mod counter;
mod digest;
mod dns;
mod dropping;
#[cfg(feature = "http3")]
mod h3;
mod pki;
mod proxy;
mod raw;
mod refusing;
mod router;
mod rt;
mod server;
mod socks;

#[cfg(test)]
mod tests;

pub use blackhole::Blackhole;
pub use body::{BodySender, BoxBody, BoxError, body_channel, boxed, empty, full, response};
pub use counter::Counter;
pub use digest::{DigestServer, digest_hash, digest_params};
pub use dns::DnsServer;
pub use dropping::DroppingH2Server;
#[cfg(feature = "http3")]
pub use h3::{GZIPPED_TEXT, Http3Server};
pub use pki::TestPki;
pub use proxy::{HttpProxy, HttpProxyBuilder, ProxyRequest, basic};
pub use raw::{OK_KEEP_ALIVE, RawConn, RawRequest, RawServer, Reuse};
pub use refusing::RefusingH2Server;
pub use rt::{TokioExecutor, TokioIo};
pub use server::{ConnectionInfo, RequestTrailers, TestServer, TestServerBuilder};
pub use socks::{Malformed, SocksRequest, SocksServer, SocksServerBuilder};
