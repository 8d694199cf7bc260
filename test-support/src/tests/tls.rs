use std::{io, net::SocketAddr, sync::Arc};

use rustls::ClientConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;
use tokio_rustls::{TlsConnector, client::TlsStream};

use super::Client;
use crate::{TestPki, TestServer, empty};

async fn tls_connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    TlsConnector::from(config).connect(name, tcp).await
}

/// Connects over TLS and speaks whichever protocol ALPN settled on.
async fn tls_client(addr: SocketAddr, config: Arc<ClientConfig>) -> io::Result<Client> {
    let tls = tls_connect(addr, config).await?;
    let authority = format!("localhost:{}", addr.port());
    Ok(if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        Client::http2_over(tls, authority, "https").await
    } else {
        Client::http1_over(tls, authority, "https").await
    })
}

#[tokio::test]
async fn negotiates_h2_over_tls() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
    assert_eq!(
        server.url("/echo"),
        format!("https://localhost:{}/echo", server.addr().port())
    );
    let config = pki.client_config(&[b"h2", b"http/1.1"], false);
    let mut client = tls_client(server.addr(), config).await.unwrap();
    assert_eq!(client.get("/echo").await.json()["version"], "HTTP/2.0");
}

#[tokio::test]
async fn falls_back_to_http1_when_the_server_offers_only_http1() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"http/1.1"]);
    let config = pki.client_config(&[b"h2", b"http/1.1"], false);
    let mut client = tls_client(server.addr(), config).await.unwrap();
    assert_eq!(client.get("/echo").await.json()["version"], "HTTP/1.1");
}

/// Builds a client configuration from the PEM accessors, as towline's tests will.
fn config_from_pem(pki: &TestPki, identity: bool) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem().as_bytes()).unwrap())
        .unwrap();
    assert_eq!(
        CertificateDer::from_pem_slice(pki.ca_pem().as_bytes())
            .unwrap()
            .as_ref(),
        pki.ca_der()
    );
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
    let config = if identity {
        let pem = pki.client_identity_pem();
        let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert_eq!(certs.len(), 1);
        let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert!(matches!(key, PrivateKeyDer::Pkcs8(_)));
        builder.with_client_auth_cert(certs, key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(config)
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    let pki = TestPki::generate();
    let server = TestServer::builder()
        .tls_config(pki.server_config(&[b"http/1.1"], true))
        .build();

    let mut client = tls_client(server.addr(), config_from_pem(&pki, true))
        .await
        .unwrap();
    assert_eq!(client.get("/status/200").await.status, 200);

    // With TLS 1.3 the client may finish its handshake before the server
    // rejects it, so the failure can surface on the first request instead.
    let rejected = match tls_client(server.addr(), config_from_pem(&pki, false)).await {
        Err(_) => true,
        Ok(mut client) => {
            let req = client.request("GET", "/status/200").body(empty()).unwrap();
            client.try_send(req).await.is_err()
        }
    };
    assert!(rejected);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn self_signed_server_is_not_trusted_by_the_ca() {
    let pki = TestPki::generate();
    let server = TestServer::builder()
        .tls_config(TestPki::self_signed_server_config(&[b"http/1.1"]))
        .build();
    let error = tls_connect(server.addr(), pki.client_config(&[], false))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");

    let trusted = TestServer::tls(&pki, &[]);
    assert!(
        tls_connect(trusted.addr(), pki.client_config(&[], false))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn echo_reports_the_server_name_the_client_sent() {
    let pki = TestPki::generate();
    let server = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
    let mut client = tls_client(server.addr(), pki.client_config(&[b"h2"], false))
        .await
        .unwrap();
    assert_eq!(client.get("/echo").await.json()["sni"], "localhost");

    // Without SNI, and without TLS, there is none.
    let mut config = (*pki.client_config(&[b"http/1.1"], false)).clone();
    config.enable_sni = false;
    let mut client = tls_client(server.addr(), Arc::new(config)).await.unwrap();
    assert!(client.get("/echo").await.json()["sni"].is_null());
    let plain = TestServer::http1();
    let mut client = Client::h1(plain.addr()).await;
    assert!(client.get("/echo").await.json()["sni"].is_null());
}

#[tokio::test]
async fn server_config_with_versions_limits_the_protocol_version() {
    let pki = TestPki::generate();
    let server = TestServer::builder()
        .tls_config(pki.server_config_with_versions(&[b"http/1.1"], &[&rustls::version::TLS12]))
        .build();
    let tls12_only = TestServer::builder()
        .tls_config(pki.tls12_only_server_config(&[b"http/1.1"]))
        .build();
    let tls = tls_connect(server.addr(), pki.client_config(&[], false))
        .await
        .unwrap();
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );

    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(pki.ca_der())).unwrap();
    let tls13_only =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let tls13_only = Arc::new(tls13_only);
    for addr in [server.addr(), tls12_only.addr()] {
        assert!(tls_connect(addr, tls13_only.clone()).await.is_err());
    }
    let tls = tls_connect(tls12_only.addr(), pki.client_config(&[], false))
        .await
        .unwrap();
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );

    // The default server speaks TLS 1.3.
    let default = TestServer::tls(&pki, &[]);
    let tls = tls_connect(default.addr(), pki.client_config(&[], false))
        .await
        .unwrap();
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
}
