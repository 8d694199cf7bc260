//! towline inside gateways, the third way it is used: an axum service forwarding to upstreams
//! through a [`towline::Client`] ([`gateway`]), and a tonic client whose channel is towline's
//! transport under towline's layers ([`grpc`]).
//!
//! The examples `gateway` and `grpc` run both end to end against in-process servers:
//!
//! ```text
//! cargo run -p towline-integrations --example gateway
//! cargo run -p towline-integrations --example grpc
//! ```
//!
//! This is a crate of its own, outside the workspace's default members, so that axum, tonic and
//! the servers they bring stay out of the client's own test build.

pub mod gateway;
pub mod grpc;
