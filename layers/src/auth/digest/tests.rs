use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use tower::{ServiceExt, service_fn};
use towline_test_support::{BoxBody, DigestServer, digest_params};

use super::{
    algorithm::{Answer, Qop},
    *,
};
use crate::{
    BoxError,
    auth::{Challenge, parse_challenges},
    resend::ResendBody,
    test_util::channel,
};

fn challenge(header: &str) -> DigestChallenge {
    let parsed: Vec<Challenge> = parse_challenges(header.as_bytes()).unwrap();
    DigestChallenge::from_challenge(&parsed[0]).unwrap()
}

fn answer<'a>(
    credentials: &'a Credentials,
    uri: &'a str,
    qop: Option<Qop>,
    nc: u32,
    cnonce: &'a str,
) -> Answer<'a> {
    Answer {
        credentials,
        method: "GET",
        uri,
        qop,
        body_hash: None,
        nc,
        cnonce,
    }
}

const RFC_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const RFC_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
const RFC_OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";

#[test]
fn rfc7616_md5_and_sha256_vectors() {
    let mufasa = Credentials::new("Mufasa", "Circle of Life");
    for (algorithm, expected) in [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        (
            "SHA-256",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
    ] {
        let ch = challenge(&format!(
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, nonce="{RFC_NONCE}", opaque="{RFC_OPAQUE}""#
        ));
        let a = answer(&mufasa, "/dir/index.html", Some(Qop::Auth), 1, RFC_CNONCE);
        assert_eq!(ch.response(&a), expected);
        assert_eq!(
            ch.authorization(&a),
            format!(
                r#"Digest username="Mufasa", realm="http-auth@example.org", nonce="{RFC_NONCE}", uri="/dir/index.html", cnonce="{RFC_CNONCE}", nc=00000001, qop=auth, response="{expected}", opaque="{RFC_OPAQUE}", algorithm={algorithm}"#
            )
        );
    }
}

#[test]
fn rfc7616_sha512_256_userhash_vector() {
    // The RFC's printed values do not reproduce; these are recomputed from its inputs.
    let jason = Credentials::new("J\u{e4}s\u{f8}n Doe", "Secret, or not?");
    let ch = challenge(&format!(
        r#"Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", opaque="{RFC_OPAQUE}", charset=UTF-8, userhash=true"#
    ));
    let a = answer(
        &jason,
        "/doe.json",
        Some(Qop::Auth),
        1,
        "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
    );
    let header = ch.authorization(&a);
    assert!(header.starts_with(
        r#"Digest username="793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b", realm="api@example.org""#
    ));
    assert!(header.contains(
        r#"response="3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5""#
    ));
    assert!(header.ends_with(", algorithm=SHA-512-256, userhash=true"));
}

#[test]
fn curl_no_qop_vectors() {
    // curl's test64 (MD5, a URI with a quote) and test2058 (SHA-256).
    let ch = challenge(r#"Digest realm="testrealm", nonce="1053604145""#);
    let testuser = Credentials::new("testuser", "testpass");
    let a = answer(&testuser, "/64\"", None, 1, "unused");
    assert_eq!(
        ch.authorization(&a),
        r#"Digest username="testuser", realm="testrealm", nonce="1053604145", uri="/64\"", response="1ee14b238b3259f17602e9ce41491ef9""#
    );
    let ch = challenge(r#"Digest realm="testrealm", algorithm="SHA-256", nonce="1053604144""#);
    let auser = Credentials::new("auser", "apasswd");
    assert_eq!(
        ch.authorization(&answer(&auser, "/2058", None, 1, "unused")),
        r#"Digest username="auser", realm="testrealm", nonce="1053604144", uri="/2058", response="fbed69f9f3fd304c8f1acb1a43eb32688b933c0e28055c16b926cbcec070aeed", algorithm=SHA-256"#
    );
}

#[test]
fn non_ascii_user_names_go_in_username_star_with_charset_utf8() {
    let ch = challenge(r#"Digest realm="r", nonce="n", qop=auth, charset=UTF-8"#);
    let creds = Credentials::new("J\u{e4}s\u{f8}n Doe", "p");
    let header = ch.authorization(&answer(&creds, "/", Some(Qop::Auth), 1, "c"));
    assert!(header.starts_with("Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, realm="));
}

#[test]
fn unsupported_challenges_are_not_digest_challenges() {
    for header in [
        r#"Digest realm="r", nonce="n", algorithm=SHA-512"#,
        r#"Digest realm="r", nonce="n", qop="auth-conf""#,
        r#"Digest nonce="n""#,
        r#"Basic realm="r""#,
    ] {
        let parsed = parse_challenges(header.as_bytes()).unwrap();
        assert_eq!(
            DigestChallenge::from_challenge(&parsed[0]),
            None,
            "{header}"
        );
    }
}

#[test]
fn qop_choice() {
    let both = challenge(r#"Digest realm="r", nonce="n", qop="auth,auth-int""#);
    assert_eq!(both.choose_qop(false), Some(Qop::Auth));
    assert_eq!(both.choose_qop(true), Some(Qop::AuthInt));
    let int = challenge(r#"Digest realm="r", nonce="n", qop="auth-int""#);
    assert_eq!(int.choose_qop(false), Some(Qop::AuthInt));
    let none = challenge(r#"Digest realm="r", nonce="n""#);
    assert_eq!(none.choose_qop(true), None);
}

/// A service answering through `server`, the way an origin (or proxy) would.
fn backend<B>(
    server: DigestServer,
) -> impl tower::Service<
    Request<ResendBody<B>>,
    Response = Response<BoxBody>,
    Error = BoxError,
    Future = impl Send,
> + Clone
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    service_fn(move |request: Request<ResendBody<B>>| {
        let server = server.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, BoxError>(server.respond(&Request::from_parts(parts, body)))
        }
    })
}

fn get(uri: &str) -> Request<ResendBody<Full<Bytes>>> {
    post(uri, "")
}

fn post(uri: &str, body: &'static str) -> Request<ResendBody<Full<Bytes>>> {
    Request::builder()
        .method(if body.is_empty() { "GET" } else { "POST" })
        .uri(uri)
        .body(ResendBody::new(Full::new(Bytes::from_static(
            body.as_bytes(),
        ))))
        .unwrap()
}

fn mufasa() -> Credentials {
    Credentials::new("Mufasa", "Circle of Life")
}

async fn send(
    layer: &DigestAuthLayer,
    server: &DigestServer,
    request: Request<ResendBody<Full<Bytes>>>,
) -> StatusCode {
    let service = tower::Layer::layer(layer, backend(server.clone()));
    service.oneshot(request).await.unwrap().status()
}

#[tokio::test]
async fn every_algorithm_is_answered_and_verified() {
    for algorithm in [
        "MD5",
        "MD5-sess",
        "SHA-256",
        "SHA-256-sess",
        "SHA-512-256",
        "SHA-512-256-sess",
        "",
    ] {
        let server = DigestServer::new("Mufasa", "Circle of Life", "zoo").algorithms(&[algorithm]);
        let layer = DigestAuthLayer::new(mufasa());
        assert_eq!(
            send(&layer, &server, get("http://zoo.test/a?b=c")).await,
            StatusCode::OK,
            "{algorithm}: {:?}",
            server.failures()
        );
        assert_eq!(server.requests(), 2);
    }
}

#[tokio::test]
async fn the_strongest_offered_algorithm_is_chosen_after_a_basic_challenge() {
    let server = DigestServer::new("Mufasa", "Circle of Life", "zoo")
        .algorithms(&["MD5", "SHA-512-256", "SHA-256"])
        .basic_first();
    let layer = DigestAuthLayer::new(mufasa());
    assert_eq!(
        send(&layer, &server, get("http://zoo.test/")).await,
        StatusCode::OK
    );
    let sent = server.authorizations();
    assert!(sent[0].ends_with("algorithm=SHA-512-256"), "{sent:?}");
}

#[tokio::test]
async fn an_unknown_algorithm_returns_the_401_without_falling_back_to_md5() {
    let server = DigestServer::new("Mufasa", "Circle of Life", "zoo").algorithms(&["SHA-512"]);
    let layer = DigestAuthLayer::new(mufasa());
    assert_eq!(
        send(&layer, &server, get("http://zoo.test/")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn wrong_credentials_get_one_answer_and_the_second_401_is_returned() {
    let server = DigestServer::new("Mufasa", "Circle of Life", "zoo");
    let layer = DigestAuthLayer::new(Credentials::new("Mufasa", "wrong"));
    let service = tower::Layer::layer(&layer, backend(server.clone()));
    let response = service.oneshot(get("http://zoo.test/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(server.requests(), 2);
    assert_eq!(server.failures(), ["response"]);
    // The 401 is handed on whole, body included.
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "challenge body");
}

#[tokio::test]
async fn stale_gets_exactly_one_more_attempt() {
    let server = DigestServer::new("Mufasa", "Circle of Life", "zoo").nonce_uses(0);
    let layer = DigestAuthLayer::new(mufasa());
    assert_eq!(
        send(&layer, &server, get("http://zoo.test/")).await,
        StatusCode::UNAUTHORIZED
    );
    // The challenge, the answer (stale), the answer with the new nonce (stale again).
    assert_eq!(server.requests(), 3);
    assert!(server.failures().is_empty());
}

#[tokio::test]
async fn nc_counts_up_and_later_requests_answer_preemptively() {
    let server = DigestServer::new("Mufasa", "Circle of Life", "zoo").opaque("op/aque+=");
    let layer = DigestAuthLayer::new(mufasa());
    assert_eq!(
        send(&layer, &server, get("http://zoo.test/1")).await,
        StatusCode::OK
    );
    assert_eq!(
        send(&layer, &server, get("http://zoo.test/2")).await,
        StatusCode::OK
    );
    assert_eq!(
        send(&layer, &server, get("http://zoo.test/3")).await,
        StatusCode::OK
    );
    // One challenge, then three answers: the last two sent at once.
    assert_eq!(server.requests(), 4);
    let nc: Vec<_> = server
        .authorizations()
        .iter()
        .map(|a| digest_params(a).unwrap()["nc"].clone())
        .collect();
    assert_eq!(nc, ["00000001", "00000002", "00000003"]);
    let first = digest_params(&server.authorizations()[0]).unwrap();
    assert_eq!(first["opaque"], "op/aque+=");
    assert_ne!(
        first["cnonce"],
        digest_params(&server.authorizations()[1]).unwrap()["cnonce"]
    );
    // Another origin is challenged afresh.
    assert_eq!(
        send(&layer, &server, get("http://other.test/")).await,
        StatusCode::OK
    );
    assert_eq!(server.requests(), 6);
    assert_eq!(layer.spaces(), 2);
}

#[tokio::test]
async fn a_refused_preemptive_answer_is_forgotten_and_the_new_challenge_answered() {
    let server = DigestServer::new("Mufasa", "Circle of Life", "zoo").nonce_uses(1);
    let layer = DigestAuthLayer::new(mufasa());
    assert_eq!(
        send(&layer, &server, get("http://zoo.test/")).await,
        StatusCode::OK
    );
    // Preemptive answer with the used-up nonce: stale, then the new nonce.
    assert_eq!(
        send(&layer, &server, get("http://zoo.test/")).await,
        StatusCode::OK
    );
    assert_eq!(server.requests(), 4);
}

#[tokio::test]
async fn preemptive_answers_stay_within_the_domain() {
    let server = DigestServer::new("Mufasa", "Circle of Life", "zoo").domain("/api/");
    let layer = DigestAuthLayer::new(mufasa());
    assert_eq!(
        send(&layer, &server, get("http://zoo.test/api/a")).await,
        StatusCode::OK
    );
    assert_eq!(
        send(&layer, &server, get("http://zoo.test/api/b")).await,
        StatusCode::OK
    );
    assert_eq!(server.requests(), 3);
    assert_eq!(
        send(&layer, &server, get("http://zoo.test/web")).await,
        StatusCode::OK
    );
    assert_eq!(server.requests(), 5);
}

#[tokio::test]
async fn auth_int_hashes_a_buffered_body() {
    let server = DigestServer::new("Mufasa", "Circle of Life", "zoo").qop(Some("auth,auth-int"));
    let layer = DigestAuthLayer::new(mufasa());
    assert_eq!(
        send(&layer, &server, post("http://zoo.test/", "payload")).await,
        StatusCode::OK,
        "{:?}",
        server.failures()
    );
    assert!(server.authorizations()[0].contains("qop=auth-int"));
}

#[tokio::test]
async fn a_streaming_body_gets_auth_when_offered_and_auth_int_from_its_replay_otherwise() {
    for (qop, expected) in [("auth,auth-int", "qop=auth,"), ("auth-int", "qop=auth-int")] {
        let server = DigestServer::new("Mufasa", "Circle of Life", "zoo").qop(Some(qop));
        let layer = DigestAuthLayer::new(mufasa());
        let (sender, body) = channel();
        sender.data("stream");
        sender.data("ed");
        drop(sender);
        let request = Request::post("http://zoo.test/")
            .body(ResendBody::new(body))
            .unwrap();
        let service = tower::Layer::layer(&layer, backend(server.clone()));
        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{:?}", server.failures());
        assert!(server.authorizations()[0].contains(expected));
    }
}

#[tokio::test]
async fn a_body_beyond_the_replay_cap_returns_the_401() {
    let server = DigestServer::new("Mufasa", "Circle of Life", "zoo");
    let layer = DigestAuthLayer::new(mufasa()).max_replay_bytes(4);
    let (sender, body) = channel();
    sender.data("more than four bytes");
    drop(sender);
    let request = Request::post("http://zoo.test/")
        .body(ResendBody::new(body))
        .unwrap();
    let service = tower::Layer::layer(&layer, backend(server.clone()));
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn rfc2069_userhash_and_utf8_names_verify() {
    let server = DigestServer::new("Mufasa", "Circle of Life", "zoo").qop(None);
    let layer = DigestAuthLayer::new(mufasa());
    assert_eq!(
        send(&layer, &server, get("http://zoo.test/")).await,
        StatusCode::OK
    );
    assert!(!server.authorizations()[0].contains("nc="));

    let server = DigestServer::new("Mufasa", "Circle of Life", "zoo")
        .userhash()
        .algorithms(&["SHA-256"]);
    assert_eq!(
        send(
            &DigestAuthLayer::new(mufasa()),
            &server,
            get("http://zoo.test/")
        )
        .await,
        StatusCode::OK
    );
    assert!(!server.authorizations()[0].contains("Mufasa"));

    let name = "J\u{e4}s\u{f8}n";
    let server = DigestServer::new(name, "pw", "zoo").charset_utf8();
    let layer = DigestAuthLayer::new(Credentials::new(name, "pw"));
    assert_eq!(
        send(&layer, &server, get("http://zoo.test/")).await,
        StatusCode::OK
    );
    assert!(server.authorizations()[0].contains("username*=UTF-8''"));
}

#[tokio::test]
async fn an_explicit_authorization_header_wins() {
    let server = DigestServer::new("Mufasa", "Circle of Life", "zoo");
    let layer = DigestAuthLayer::new(mufasa());
    let mut request = get("http://zoo.test/");
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, "Bearer mine".parse().unwrap());
    assert_eq!(
        send(&layer, &server, request).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(server.requests(), 1);
    assert_eq!(server.authorizations(), ["Bearer mine"]);
}

#[tokio::test]
async fn request_credentials_win_and_stay_on_their_origin() {
    let server = DigestServer::new("Simba", "Hakuna", "zoo");
    // The layer's credentials are wrong for this server; the request's are right.
    let layer = DigestAuthLayer::new(mufasa());
    let mut request = get("http://zoo.test/");
    let uri = request.uri().clone();
    request.extensions_mut().insert(DigestCredentials::for_uri(
        Credentials::new("Simba", "Hakuna"),
        &uri,
    ));
    assert_eq!(send(&layer, &server, request).await, StatusCode::OK);

    // The same extension on a request to another origin (a redirect's next hop) is not
    // used, and the layer's credentials are not used in its place.
    let server = DigestServer::new("Simba", "Hakuna", "zoo");
    let layer = DigestAuthLayer::per_request();
    let mut request = get("http://elsewhere.test/");
    request.extensions_mut().insert(DigestCredentials::for_uri(
        Credentials::new("Simba", "Hakuna"),
        &uri,
    ));
    assert_eq!(
        send(&layer, &server, request).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(server.requests(), 1);
    assert!(server.authorizations().is_empty());
}

#[tokio::test]
async fn without_credentials_requests_pass_through() {
    let server = DigestServer::new("Mufasa", "Circle of Life", "zoo");
    let layer = DigestAuthLayer::per_request();
    assert_eq!(
        send(&layer, &server, get("http://zoo.test/")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(server.requests(), 1);
    assert_eq!(layer.spaces(), 0);
}

#[tokio::test]
async fn proxy_challenges_are_answered_in_proxy_authorization() {
    let proxy = DigestServer::new("proxyuser", "proxypass", "squid").proxy();
    let layer = DigestAuthLayer::per_request()
        .proxy_credentials(Credentials::new("proxyuser", "proxypass"));
    assert_eq!(
        send(&layer, &proxy, get("http://zoo.test/x")).await,
        StatusCode::OK,
        "{:?}",
        proxy.failures()
    );
    assert_eq!(proxy.requests(), 2);
    // Once accepted, the proxy is answered at once, for any origin behind it.
    assert_eq!(
        send(&layer, &proxy, get("http://other.test/y")).await,
        StatusCode::OK
    );
    assert_eq!(proxy.requests(), 3);
    // A 407 without proxy credentials is returned as it is.
    let proxy = DigestServer::new("proxyuser", "proxypass", "squid").proxy();
    assert_eq!(
        send(
            &DigestAuthLayer::new(mufasa()),
            &proxy,
            get("http://zoo.test/x")
        )
        .await,
        StatusCode::PROXY_AUTHENTICATION_REQUIRED
    );
    assert_eq!(proxy.requests(), 1);
}

#[tokio::test]
async fn proxy_credentials_can_be_looked_up_per_request() {
    let proxy = DigestServer::new("proxyuser", "proxypass", "squid").proxy();
    let layer = DigestAuthLayer::per_request().proxy_credentials_with(|uri| {
        (uri.host() == Some("via-proxy.test")).then(|| Credentials::new("proxyuser", "proxypass"))
    });
    assert_eq!(
        send(&layer, &proxy, get("http://via-proxy.test/")).await,
        StatusCode::OK
    );
    assert_eq!(proxy.requests(), 2);
    // A request the lookup has no credentials for gets the 407 as it is.
    assert_eq!(
        send(&layer, &proxy, get("http://direct.test/")).await,
        StatusCode::PROXY_AUTHENTICATION_REQUIRED
    );
    assert_eq!(proxy.requests(), 3);
}

#[tokio::test]
async fn layer_credentials_are_not_used_after_a_cross_origin_redirect() {
    let server = DigestServer::new("Mufasa", "Circle of Life", "zoo");
    let layer = DigestAuthLayer::new(mufasa());
    let mut request = get("http://zoo.test/");
    request.extensions_mut().insert(crate::CrossOriginRedirect);
    assert_eq!(
        send(&layer, &server, request).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(server.requests(), 1);
}
