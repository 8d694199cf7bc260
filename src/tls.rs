//! TLS settings (rustls) with reqwest's names: trusted roots ([`Certificate`]), a client
//! identity for mutual TLS ([`Identity`]) and protocol versions ([`Version`]).
//!
//! [`Certificate`] and [`Identity`] wrap the connector's types of
//! [`towline_services::connect::tls`] so that their constructors return [`crate::Result`],
//! as reqwest's do: `Certificate::from_pem(pem)?` works in a function that returns
//! `towline::Result`, and a PEM that does not parse is a builder error
//! ([`Error::is_builder`](crate::Error::is_builder)), not a connect error.
//!
//! rustls speaks TLS 1.2 and 1.3 only. `Version::TLS_1_0` and `TLS_1_1` exist so that bounds
//! written for reqwest keep their meaning, as with reqwest over rustls: as a minimum they
//! allow 1.2 and 1.3, as a maximum they leave no version and the client fails to build.

use towline_services::connect::tls as connector;

use crate::error::{Error, Result};

pub use connector::TlsVersion;

/// A TLS protocol version: [`Version::TLS_1_2`] or [`Version::TLS_1_3`] (reqwest's name for
/// [`TlsVersion`]; see the [module documentation](self) for `TLS_1_0` and `TLS_1_1`).
pub type Version = TlsVersion;

/// A root certificate to trust, added with
/// [`ClientBuilder::add_root_certificate`](crate::ClientBuilder::add_root_certificate).
#[derive(Clone, Debug)]
pub struct Certificate {
    pub(crate) inner: connector::Certificate,
}

impl Certificate {
    /// Parses the first certificate of a PEM document.
    ///
    /// # Errors
    ///
    /// A builder error when the PEM holds no certificate.
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        connector::Certificate::from_pem(pem)
            .map(|inner| Self { inner })
            .map_err(Error::builder)
    }

    /// Parses every certificate of a PEM bundle.
    ///
    /// # Errors
    ///
    /// A builder error when a certificate of the bundle does not parse.
    pub fn from_pem_bundle(pem: &[u8]) -> Result<Vec<Self>> {
        connector::Certificate::from_pem_bundle(pem)
            .map(|all| all.into_iter().map(|inner| Self { inner }).collect())
            .map_err(Error::builder)
    }

    /// Takes a DER-encoded certificate. rustls parses it when the client is built, so a bad
    /// one fails [`ClientBuilder::build`](crate::ClientBuilder::build) with a builder error;
    /// this returns a `Result` to keep reqwest's signature.
    ///
    /// # Errors
    ///
    /// None today; see above.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        Ok(Self {
            inner: connector::Certificate::from_der(der),
        })
    }
}

/// A client certificate chain and its private key, presented for mutual TLS with
/// [`ClientBuilder::identity`](crate::ClientBuilder::identity).
#[derive(Clone, Debug)]
pub struct Identity {
    pub(crate) inner: connector::Identity,
}

impl Identity {
    /// Parses a PEM document holding the certificate chain (leaf first) and a private key
    /// (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    ///
    /// A builder error when the PEM holds no certificate or no usable key.
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        connector::Identity::from_pem(pem)
            .map(|inner| Self { inner })
            .map_err(Error::builder)
    }

    /// Takes the certificate chain and the PKCS#8 private key from two PEM documents. In
    /// reqwest this belongs to native-tls; here it is [`from_pem`](Self::from_pem) of the two
    /// put together, so code written for either TLS stack ports.
    ///
    /// # Errors
    ///
    /// As [`from_pem`](Self::from_pem).
    pub fn from_pkcs8_pem(pem: &[u8], key: &[u8]) -> Result<Self> {
        Self::from_pem(&[pem, b"\n", key].concat())
    }
}
