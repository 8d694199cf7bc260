//! What users configure about TLS, and how it becomes rustls client configs.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::TlsClientConfigs;
use crate::error::{ConnectError, ConnectErrorKind};

/// A trusted root certificate.
#[derive(Clone, Debug)]
pub struct Certificate(CertificateDer<'static>);

impl Certificate {
    /// Parses the first certificate of a PEM document.
    pub fn from_pem(pem: &[u8]) -> Result<Self, ConnectError> {
        CertificateDer::from_pem_slice(pem)
            .map(Self)
            .map_err(|e| invalid("certificate PEM", e))
    }

    /// Parses every certificate of a PEM bundle.
    pub fn from_pem_bundle(pem: &[u8]) -> Result<Vec<Self>, ConnectError> {
        CertificateDer::pem_slice_iter(pem)
            .map(|cert| cert.map(Self).map_err(|e| invalid("certificate PEM", e)))
            .collect()
    }

    /// Wraps a DER-encoded certificate (checked when the client is built).
    pub fn from_der(der: &[u8]) -> Self {
        Self(CertificateDer::from(der.to_vec()))
    }
}

/// A client identity for mutual TLS: a certificate chain and its private key.
#[derive(Clone)]
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Parses a PEM document holding the certificate chain (leaf first) and a private key
    /// (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(pem: &[u8]) -> Result<Self, ConnectError> {
        let chain = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid("identity certificate PEM", e))?;
        if chain.is_empty() {
            return Err(ConnectError::msg(
                ConnectErrorKind::Tls,
                "identity PEM holds no certificate",
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| invalid("identity key PEM", e))?;
        Ok(Self {
            chain,
            key: Arc::new(key),
        })
    }
}

/// A TLS protocol version.
///
/// rustls speaks TLS 1.2 and 1.3 only. The two older versions are here so that bounds
/// written for other TLS stacks keep their meaning: a minimum of TLS 1.0 or 1.1 allows 1.2
/// and 1.3, and a maximum below TLS 1.2 leaves no version, which fails when the config is
/// built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.0 (never spoken; see the type's documentation).
    Tls10,
    /// TLS 1.1 (never spoken; see the type's documentation).
    Tls11,
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl TlsVersion {
    /// TLS 1.0, by reqwest's name for it.
    pub const TLS_1_0: Self = Self::Tls10;
    /// TLS 1.1, by reqwest's name for it.
    pub const TLS_1_1: Self = Self::Tls11;
    /// TLS 1.2, by reqwest's name for it.
    pub const TLS_1_2: Self = Self::Tls12;
    /// TLS 1.3, by reqwest's name for it.
    pub const TLS_1_3: Self = Self::Tls13;
}

/// TLS settings of a client.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// Trust the webpki (Mozilla) roots bundled with the `webpki-roots` feature.
    pub webpki_roots: bool,
    /// Trust the operating system's roots (feature `rustls-native-roots`).
    pub native_roots: bool,
    /// Extra trusted roots.
    pub extra_roots: Vec<Certificate>,
    /// Client identity for mutual TLS.
    pub identity: Option<Identity>,
    /// Lowest protocol version accepted.
    pub min_version: TlsVersion,
    /// Highest protocol version offered (`None`: the highest rustls speaks, TLS 1.3).
    pub max_version: Option<TlsVersion>,
    /// Send the server name (SNI).
    pub sni: bool,
    /// Accept any server certificate. Handshake signatures are still checked, so the peer
    /// must hold the key of the certificate it shows, but anyone can show any certificate.
    pub danger_accept_invalid_certs: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            webpki_roots: cfg!(feature = "webpki-roots"),
            native_roots: cfg!(feature = "rustls-native-roots"),
            extra_roots: Vec::new(),
            identity: None,
            min_version: TlsVersion::Tls12,
            max_version: None,
            sni: true,
            danger_accept_invalid_certs: false,
        }
    }
}

fn invalid(what: &str, error: impl fmt::Display) -> ConnectError {
    ConnectError::msg(ConnectErrorKind::Tls, format!("invalid {what}: {error}"))
}

fn provider() -> Arc<CryptoProvider> {
    #[cfg(feature = "rustls-aws-lc-rs")]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(all(feature = "rustls-ring", not(feature = "rustls-aws-lc-rs")))]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(provider)
}

impl TlsConfig {
    /// Builds the rustls configs, one per ALPN offer.
    pub fn build(&self) -> Result<TlsClientConfigs, ConnectError> {
        let provider = provider();
        let max = self.max_version.unwrap_or(TlsVersion::Tls13);
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
            (TlsVersion::Tls13, &rustls::version::TLS13),
            (TlsVersion::Tls12, &rustls::version::TLS12),
        ]
        .into_iter()
        .filter(|(version, _)| (self.min_version..=max).contains(version))
        .map(|(_, supported)| supported)
        .collect();
        if versions.is_empty() {
            return Err(ConnectError::msg(
                ConnectErrorKind::Tls,
                format!(
                    "no TLS version from {:?} up to {max:?} (rustls speaks TLS 1.2 and 1.3)",
                    self.min_version
                ),
            ));
        }
        // Loaded once: the native roots are read from the system.
        let roots = if self.danger_accept_invalid_certs {
            None
        } else {
            Some(self.root_store()?)
        };
        let config = self.client_config(&provider, &versions, roots.clone())?;
        // QUIC carries TLS 1.3 only (RFC 9001 §4.2): its config has the same roots,
        // identity and verifier, when the settings allow TLS 1.3.
        #[cfg(feature = "http3")]
        let http3 = if (self.min_version..=max).contains(&TlsVersion::Tls13) {
            let mut quic = self.client_config(&provider, &[&rustls::version::TLS13], roots)?;
            quic.alpn_protocols = vec![b"h3".to_vec()];
            Some(Arc::new(quic))
        } else {
            None
        };
        let with_alpn = |alpn: &[&[u8]]| {
            let mut config = config.clone();
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            Arc::new(config)
        };
        Ok(TlsClientConfigs {
            auto: with_alpn(&[b"h2", b"http/1.1"]),
            http1: with_alpn(&[b"http/1.1"]),
            http2: with_alpn(&[b"h2"]),
            #[cfg(feature = "http3")]
            http3,
        })
    }

    /// A config speaking `versions`, trusting `roots` (any certificate when `None`), with
    /// the identity and SNI setting; no ALPN yet.
    fn client_config(
        &self,
        provider: &Arc<CryptoProvider>,
        versions: &[&'static rustls::SupportedProtocolVersion],
        roots: Option<rustls::RootCertStore>,
    ) -> Result<rustls::ClientConfig, ConnectError> {
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| invalid("TLS settings", e))?;
        let builder = match roots {
            Some(roots) => builder.with_root_certificates(roots),
            None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                    provider: provider.clone(),
                })),
        };
        let mut config = match &self.identity {
            Some(identity) => builder
                .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                .map_err(|e| invalid("client identity", e))?,
            None => builder.with_no_client_auth(),
        };
        config.enable_sni = self.sni;
        Ok(config)
    }

    fn root_store(&self) -> Result<rustls::RootCertStore, ConnectError> {
        let mut roots = rustls::RootCertStore::empty();
        #[cfg(feature = "webpki-roots")]
        if self.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        #[cfg(feature = "rustls-native-roots")]
        if self.native_roots {
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 && !native.errors.is_empty() && self.extra_roots.is_empty() {
                return Err(ConnectError::msg(
                    ConnectErrorKind::Tls,
                    format!(
                        "could not load native root certificates: {:?}",
                        native.errors
                    ),
                ));
            }
        }
        for root in &self.extra_roots {
            roots
                .add(root.0.clone())
                .map_err(|e| invalid("root certificate", e))?;
        }
        if roots.is_empty() {
            return Err(ConnectError::msg(
                ConnectErrorKind::Tls,
                "no trusted root certificates: enable `webpki-roots` or `rustls-native-roots`, or add a root certificate",
            ));
        }
        Ok(roots)
    }
}

/// The verifier behind `danger_accept_invalid_certs`.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
