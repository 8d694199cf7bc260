//! [`TestPki`]: a throwaway CA with server and client certificates.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::{
    ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion,
    crypto::{CryptoProvider, ring},
    server::WebPkiClientVerifier,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The names the server certificates are valid for.
const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A certificate with its PKCS#8 private key.
struct Identity {
    cert: CertificateDer<'static>,
    cert_pem: String,
    key_der: Vec<u8>,
    key_pem: String,
}

impl Identity {
    fn key(&self) -> PrivateKeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.key_der.clone()).into()
    }
}

/// A certificate authority (`CN=towline test CA`), a server certificate it
/// signed for `localhost`, `127.0.0.1` and `::1`, and a client certificate it
/// signed for mutual TLS. Keys are ECDSA P-256, made fresh for each `TestPki`.
///
/// Every rustls configuration built here uses the ring provider explicitly,
/// never a process-wide default.
pub struct TestPki {
    ca_cert: CertificateDer<'static>,
    ca_pem: String,
    server: Identity,
    client: Identity,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

impl TestPki {
    /// Generates the CA and both leaf certificates.
    ///
    /// # Panics
    ///
    /// If key generation or signing fails, which only a broken crypto backend causes.
    pub fn generate() -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name("towline test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("generating the CA key");
        let cert = params.self_signed(&key).expect("self-signing the CA");
        let issuer = Issuer::new(params, key);
        let server = leaf(
            &issuer,
            "localhost",
            &SERVER_NAMES,
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = leaf(
            &issuer,
            "towline test client",
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        Self {
            ca_cert: cert.der().clone(),
            ca_pem: cert.pem(),
            server,
            client,
        }
    }

    /// The CA certificate, PEM-encoded.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// The CA certificate, DER-encoded.
    pub fn ca_der(&self) -> Vec<u8> {
        self.ca_cert.to_vec()
    }

    /// The server certificate, DER-encoded (for pinning tests).
    pub fn server_cert_der(&self) -> Vec<u8> {
        self.server.cert.to_vec()
    }

    /// The server certificate PEM and its PKCS#8 private key PEM, for servers that
    /// take their identity as PEM (tonic's `Identity::from_pem`).
    pub fn server_identity_pem(&self) -> (String, String) {
        (self.server.cert_pem.clone(), self.server.key_pem.clone())
    }

    /// The client certificate PEM followed by its PKCS#8 private key PEM.
    pub fn client_identity_pem(&self) -> String {
        format!("{}{}", self.client.cert_pem, self.client.key_pem)
    }

    /// A server configuration presenting the `localhost` certificate and offering
    /// `alpn` in order of preference; with `require_client_cert`, the handshake
    /// fails unless the client presents a certificate signed by this CA.
    ///
    /// # Panics
    ///
    /// If rustls rejects the generated material, which would be a bug here.
    pub fn server_config(&self, alpn: &[&[u8]], require_client_cert: bool) -> Arc<ServerConfig> {
        self.server_config_for(alpn, rustls::DEFAULT_VERSIONS, require_client_cert)
    }

    /// Like [`server_config`](Self::server_config) without client certificates,
    /// but speaking only the TLS `versions` given, e.g.
    /// `&[&rustls::version::TLS12]` for a server that cannot do TLS 1.3.
    ///
    /// # Panics
    ///
    /// If `versions` is empty, or if rustls rejects the generated material.
    pub fn server_config_with_versions(
        &self,
        alpn: &[&[u8]],
        versions: &[&'static SupportedProtocolVersion],
    ) -> Arc<ServerConfig> {
        assert!(!versions.is_empty(), "a server needs a TLS version");
        self.server_config_for(alpn, versions, false)
    }

    /// A server configuration like [`server_config`](Self::server_config)
    /// without client certificates that speaks only TLS 1.2: for tests of a
    /// client's minimum TLS version that need not name rustls' types.
    ///
    /// # Panics
    ///
    /// If rustls rejects the generated material, which would be a bug here.
    pub fn tls12_only_server_config(&self, alpn: &[&[u8]]) -> Arc<ServerConfig> {
        self.server_config_with_versions(alpn, &[&rustls::version::TLS12])
    }

    fn server_config_for(
        &self,
        alpn: &[&[u8]],
        versions: &[&'static SupportedProtocolVersion],
        require_client_cert: bool,
    ) -> Arc<ServerConfig> {
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .expect("ring supports TLS 1.2 and 1.3");
        let builder = if require_client_cert {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(self.roots()), provider)
                    .build()
                    .expect("building the client certificate verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder
            .with_single_cert(vec![self.server.cert.clone()], self.server.key())
            .expect("the server certificate matches its key");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// A server configuration with a fresh self-signed `localhost` certificate
    /// that no [`TestPki`] CA signed, for tests of certificate rejection.
    ///
    /// # Panics
    ///
    /// If key generation or signing fails.
    pub fn self_signed_server_config(alpn: &[&[u8]]) -> Arc<ServerConfig> {
        let certified = rcgen::generate_simple_self_signed(SERVER_NAMES.map(String::from))
            .expect("self-signing a server certificate");
        let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()).into();
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .expect("the server certificate matches its key");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// A client configuration trusting only this CA and offering `alpn`; with
    /// `with_identity`, it presents the client certificate. For tests that talk
    /// to a TLS server without going through towline.
    ///
    /// # Panics
    ///
    /// If rustls rejects the generated material, which would be a bug here.
    pub fn client_config(&self, alpn: &[&[u8]], with_identity: bool) -> Arc<ClientConfig> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(self.roots());
        let mut config = if with_identity {
            builder
                .with_client_auth_cert(vec![self.client.cert.clone()], self.client.key())
                .expect("the client certificate matches its key")
        } else {
            builder.with_no_client_auth()
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.ca_cert.clone())
            .expect("the CA certificate parses");
        roots
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    name: &str,
    alt_names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> Identity {
    let mut params = CertificateParams::new(
        alt_names
            .iter()
            .map(|name| (*name).to_owned())
            .collect::<Vec<_>>(),
    )
    .expect("the alternative names are valid");
    params.distinguished_name = common_name(name);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("generating a leaf key");
    let cert = params
        .signed_by(&key, issuer)
        .expect("signing a leaf certificate");
    Identity {
        cert: cert.der().clone(),
        cert_pem: cert.pem(),
        key_der: key.serialize_der(),
        key_pem: key.serialize_pem(),
    }
}
