//! towline's leaf services: the connector stack, the connection pool and the HTTP/1 and
//! HTTP/2 transport over `hyper::client::conn`, with HTTP/3 over QUIC (quinn, h3) behind the
//! `http3` feature.
//!
//! Everything here is a `tower::Service`. The [`transport::Transport`] takes
//! `http::Request<B>` and yields `http::Response<transport::ResponseBody<B>>`; it is usable
//! alone, under towline's layers, under tower-http's, or through the `towline` facade.
//! Runtimes plug in through [`rt::Runtime`] plus hyper's own IO and timer traits.

#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod alt_svc;
pub mod connect;
pub mod error;
pub mod pool;
pub mod rt;
pub mod transport;

pub use error::{
    ConnectError, ConnectErrorKind, ErrorClass, TransportError, TransportErrorKind, retry_class,
};
