//! TLS settings (rustls): trusted roots, client identity, protocol versions.

pub use towline_services::connect::tls::{Certificate, Identity, TlsVersion};
