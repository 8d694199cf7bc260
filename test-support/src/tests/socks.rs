//! `SocksServer` driven by towline's SOCKS client handshake, end to end over TCP.

use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use http::StatusCode;
use tokio::{io::AsyncReadExt, net::TcpStream, time::timeout};
use towline_services::connect::socks::{
    SocksAuth, SocksError, SocksErrorKind, SocksTarget, SocksVersion, handshake,
};

use super::Client;
use crate::{Malformed, SocksRequest, SocksServer, TestServer, TokioIo};

/// Connects to `proxy` and runs the handshake; the stream is the tunnel on success. Fails
/// the test if the handshake takes longer than a few seconds, so a hang is a failure.
async fn through(
    proxy: &SocksServer,
    version: SocksVersion,
    target: SocksTarget,
    auth: Option<SocksAuth>,
) -> Result<TcpStream, SocksError> {
    let stream = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut io = TokioIo::new(stream);
    timeout(
        Duration::from_secs(5),
        handshake(&mut io, version, &target, auth.as_ref()),
    )
    .await
    .expect("the handshake ends")?;
    Ok(io.into_inner())
}

/// Sends `GET /echo` through the tunnel and checks the origin answered.
async fn get_through(tunnel: TcpStream, origin: SocketAddr) {
    let mut client = Client::http1_over(tunnel, origin.to_string(), "http").await;
    let reply = client.get("/echo?via=socks").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        String::from_utf8_lossy(&reply.body).contains("via=socks"),
        "{:?}",
        reply.body
    );
}

fn localhost(port: u16) -> SocksTarget {
    SocksTarget::Domain("localhost".to_owned(), port)
}

#[tokio::test]
async fn socks5_without_auth_relays_to_the_target() {
    let origin = TestServer::http1();
    let proxy = SocksServer::spawn();
    assert_eq!(proxy.url("socks5h"), format!("socks5h://{}", proxy.addr()));
    let tunnel = through(
        &proxy,
        SocksVersion::V5,
        SocksTarget::Addr(origin.addr()),
        None,
    )
    .await
    .unwrap();
    get_through(tunnel, origin.addr()).await;
    assert_eq!(
        proxy.requests(),
        [SocksRequest {
            version: SocksVersion::V5,
            target: SocksTarget::Addr(origin.addr()),
            username: None,
        }]
    );
    assert_eq!(proxy.connections(), 1);
}

#[tokio::test]
async fn socks5h_sends_the_domain_for_the_proxy_to_resolve() {
    let origin = TestServer::http1();
    let proxy = SocksServer::spawn();
    let target = localhost(origin.addr().port());
    let tunnel = through(&proxy, SocksVersion::V5, target.clone(), None)
        .await
        .unwrap();
    get_through(tunnel, origin.addr()).await;
    let requests = proxy.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].target, target, "the name, not an address");
}

#[tokio::test]
async fn socks5_with_auth() {
    let origin = TestServer::http1();
    let proxy = SocksServer::builder().auth("alice", "s3cret").spawn();
    let target = SocksTarget::Addr(origin.addr());

    let tunnel = through(
        &proxy,
        SocksVersion::V5,
        target.clone(),
        Some(SocksAuth::new("alice", "s3cret")),
    )
    .await
    .unwrap();
    get_through(tunnel, origin.addr()).await;
    assert_eq!(proxy.requests()[0].username.as_deref(), Some("alice"));

    let wrong = through(
        &proxy,
        SocksVersion::V5,
        target.clone(),
        Some(SocksAuth::new("alice", "wrong")),
    )
    .await
    .unwrap_err();
    assert_eq!(wrong.kind(), SocksErrorKind::AuthRejected);
    let missing = through(&proxy, SocksVersion::V5, target, None)
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), SocksErrorKind::AuthRequired);
    // Neither failed attempt got as far as a CONNECT.
    assert_eq!(proxy.requests().len(), 1);
    assert_eq!(proxy.connections(), 3);
}

#[tokio::test]
async fn socks4_with_an_ipv4_address() {
    let origin = TestServer::http1();
    let proxy = SocksServer::spawn();
    let target = SocksTarget::Addr(origin.addr());
    let tunnel = through(
        &proxy,
        SocksVersion::V4,
        target.clone(),
        Some(SocksAuth::new("bob", "")),
    )
    .await
    .unwrap();
    get_through(tunnel, origin.addr()).await;
    assert_eq!(
        proxy.requests(),
        [SocksRequest {
            version: SocksVersion::V4,
            target,
            username: Some("bob".to_owned()),
        }]
    );
}

#[tokio::test]
async fn socks4a_sends_the_domain() {
    let origin = TestServer::http1();
    let proxy = SocksServer::spawn();
    let target = localhost(origin.addr().port());
    let tunnel = through(&proxy, SocksVersion::V4a, target.clone(), None)
        .await
        .unwrap();
    get_through(tunnel, origin.addr()).await;
    assert_eq!(
        proxy.requests(),
        [SocksRequest {
            version: SocksVersion::V4a,
            target,
            username: None,
        }]
    );
}

#[tokio::test]
async fn socks4_user_id_must_match_when_auth_is_required() {
    let origin = TestServer::http1();
    let proxy = SocksServer::builder().auth("bob", "unused").spawn();
    let target = SocksTarget::Addr(origin.addr());
    let error = through(&proxy, SocksVersion::V4, target.clone(), None)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SocksErrorKind::V4Rejected);
    let tunnel = through(
        &proxy,
        SocksVersion::V4,
        target,
        Some(SocksAuth::new("bob", "")),
    )
    .await
    .unwrap();
    get_through(tunnel, origin.addr()).await;
}

#[tokio::test]
async fn an_unreachable_target_is_refused_by_the_proxy() {
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = SocksServer::spawn();
    let error = through(&proxy, SocksVersion::V5, SocksTarget::Addr(closed), None)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SocksErrorKind::ConnectionRefused);
    let error = through(&proxy, SocksVersion::V4, SocksTarget::Addr(closed), None)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), SocksErrorKind::V4Rejected);
}

#[tokio::test]
async fn socks5_carries_an_ipv6_target() {
    // Whether or not this host has IPv6, the proxy receives the address and answers with a
    // refusal: nothing listens there.
    let closed = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap();
    let target = SocksTarget::Addr(SocketAddr::from((Ipv6Addr::LOCALHOST, closed.port())));
    let proxy = SocksServer::spawn();
    let error = through(&proxy, SocksVersion::V5, target.clone(), None)
        .await
        .unwrap_err();
    assert!(error.kind().is_refusal(), "{error}");
    assert_eq!(proxy.requests()[0].target, target);
}

#[tokio::test]
async fn every_scripted_reply_code_is_the_matching_error() {
    let target = SocksTarget::Addr(SocketAddr::from((Ipv4Addr::LOCALHOST, 9)));
    let v5 = [
        (0x01, SocksErrorKind::GeneralFailure),
        (0x02, SocksErrorKind::NotAllowed),
        (0x03, SocksErrorKind::NetworkUnreachable),
        (0x04, SocksErrorKind::HostUnreachable),
        (0x05, SocksErrorKind::ConnectionRefused),
        (0x06, SocksErrorKind::TtlExpired),
        (0x07, SocksErrorKind::CommandNotSupported),
        (0x08, SocksErrorKind::AddressTypeNotSupported),
        (0x2a, SocksErrorKind::UnknownReplyCode(0x2a)),
    ];
    for (code, expected) in v5 {
        let proxy = SocksServer::builder().reply_code(code).spawn();
        let error = through(&proxy, SocksVersion::V5, target.clone(), None)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), expected, "reply 0x{code:02x}");
        assert!(error.kind().is_refusal());
        assert_eq!(proxy.requests().len(), 1);
    }
    let v4 = [
        (0x5b, SocksErrorKind::V4Rejected),
        (0x5c, SocksErrorKind::V4IdentdUnreachable),
        (0x5d, SocksErrorKind::V4IdentdMismatch),
    ];
    for (code, expected) in v4 {
        let proxy = SocksServer::builder().reply_code(code).spawn();
        let error = through(&proxy, SocksVersion::V4, target.clone(), None)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), expected, "reply 0x{code:02x}");
    }
}

#[tokio::test]
async fn every_malformed_reply_is_an_error_not_a_hang() {
    let origin = TestServer::http1();
    let target = SocksTarget::Addr(origin.addr());
    let v5 = [
        (Malformed::WrongVersion, SocksErrorKind::WrongVersion),
        (Malformed::NonZeroReserved, SocksErrorKind::NonZeroReserved),
        (Malformed::Truncated, SocksErrorKind::Truncated),
        (
            Malformed::UnknownAddressType,
            SocksErrorKind::UnknownAddressType,
        ),
        (Malformed::OversizedDomain, SocksErrorKind::OversizedDomain),
    ];
    for (malformed, expected) in v5 {
        let proxy = SocksServer::builder().malformed(malformed).spawn();
        let error = through(&proxy, SocksVersion::V5, target.clone(), None)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), expected, "{malformed:?}");
        assert!(error.kind().is_protocol_violation(), "{error}");
    }
    let v4 = [
        (Malformed::WrongVersion, SocksErrorKind::WrongVersion),
        (Malformed::Truncated, SocksErrorKind::Truncated),
    ];
    for (malformed, expected) in v4 {
        let proxy = SocksServer::builder().malformed(malformed).spawn();
        let error = through(&proxy, SocksVersion::V4, target.clone(), None)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), expected, "SOCKS4 {malformed:?}");
    }
    // Variants without a SOCKS4 form leave SOCKS4 served normally.
    let proxy = SocksServer::builder()
        .malformed(Malformed::OversizedDomain)
        .spawn();
    let tunnel = through(&proxy, SocksVersion::V4, target, None)
        .await
        .unwrap();
    get_through(tunnel, origin.addr()).await;
}

#[tokio::test]
async fn the_server_closes_on_what_it_cannot_parse() {
    let proxy = SocksServer::spawn();
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, b"GET / HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    assert!(proxy.requests().is_empty());
}
