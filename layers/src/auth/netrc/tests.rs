use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceExt, service_fn};
use towline_test_support::{BoxBody, full};

use super::*;
use crate::{BoxError, auth::NetrcCredentials, resend::ResendBody};

#[test]
fn parses_machines_default_quotes_comments_and_macros() {
    let netrc = Netrc::parse(
        "# leading comment\n\
         machine a.example login alice password secret account acct\n\
         machine\n  b.example\n  login\n  \"bob smith\"\n  password \"tab\\there \\\"q\\\" \\\\\" # trailing\n\
         macdef init\n  cd /pub\n  get file\n\n\
         machine c.example login carol password c\n\
         default login anonymous password guest\n",
    )
    .unwrap();
    let a = netrc.machine("A.EXAMPLE").unwrap();
    assert_eq!(a.credentials().username(), "alice");
    assert_eq!(a.credentials().password(), "secret");
    assert_eq!(a.account(), Some("acct"));
    let b = netrc.machine("b.example").unwrap();
    assert_eq!(b.credentials().username(), "bob smith");
    assert_eq!(b.credentials().password(), "tab\there \"q\" \\");
    // The macro body (`cd`, `get`) is skipped, and parsing resumes after its blank line.
    assert_eq!(
        netrc.machine("c.example").unwrap().credentials().username(),
        "carol"
    );
    assert_eq!(
        netrc.default_entry().unwrap().credentials().username(),
        "anonymous"
    );
    assert!(netrc.machine("d.example").is_none());
}

#[test]
fn first_matching_machine_wins_and_a_missing_password_is_empty() {
    let netrc = Netrc::parse("machine h login one\nmachine h login two password x").unwrap();
    let entry = netrc.machine("h").unwrap();
    assert_eq!(entry.credentials().username(), "one");
    assert_eq!(entry.credentials().password(), "");
}

#[test]
fn malformed_files_are_errors_naming_the_line() {
    for (text, line) in [
        ("machine a login", 1),
        ("machine a\nlogin u\nbogus x", 3),
        ("login u password p", 1),
        ("machine a password \"open", 1),
        ("machine", 1),
    ] {
        match Netrc::parse(text) {
            Err(NetrcError::Syntax { line: at, message }) => {
                assert_eq!(at, line, "{text}: {message}");
                assert!(!message.is_empty());
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    assert!(Netrc::parse("").unwrap().is_empty());
    assert!(Netrc::parse("# only a comment\n").unwrap().is_empty());
}

#[test]
fn from_path_reads_a_file_and_reports_a_missing_one() {
    let dir = std::env::temp_dir().join(format!("towline-netrc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("netrc");
    std::fs::write(&path, "machine h login u password p\n").unwrap();
    #[cfg(unix)]
    {
        // Looser than 0600: read all the same (a warning, not an error).
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let netrc = Netrc::from_path(&path).unwrap();
    assert_eq!(netrc.machine("h").unwrap().credentials().password(), "p");
    let missing = Netrc::from_path(dir.join("missing")).unwrap_err();
    assert!(matches!(missing, NetrcError::Io { .. }));
    assert!(missing.to_string().contains("missing"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What a backend saw: the Authorization header of each request, and whether netrc
/// credentials were in the extensions.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(Option<String>, bool)>>>;

/// A backend that wants Basic `u:p` (`dTpw`), challenging with `challenge`.
fn basic_backend(
    seen: Seen,
    challenge: &'static str,
) -> impl tower::Service<
    Request<ResendBody<Full<Bytes>>>,
    Response = Response<BoxBody>,
    Error = BoxError,
    Future = impl Send,
> + Clone {
    service_fn(move |request: Request<ResendBody<Full<Bytes>>>| {
        let seen = seen.clone();
        async move {
            let auth = request
                .headers()
                .get(header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap().to_owned());
            let netrc = request.extensions().get::<NetrcCredentials>().is_some();
            let body = request.into_body().collect().await?.to_bytes();
            assert!(body.is_empty() || body == "data");
            seen.lock().unwrap().push((auth.clone(), netrc));
            let response = if auth.as_deref() == Some("Basic dTpw") {
                Response::new(full("ok"))
            } else {
                Response::builder()
                    .status(StatusCode::UNAUTHORIZED)
                    .header(header::WWW_AUTHENTICATE, challenge)
                    .body(full("no"))?
            };
            Ok::<_, BoxError>(response)
        }
    })
}

async fn send(
    netrc: &str,
    uri: &str,
    challenge: &'static str,
) -> (StatusCode, Vec<(Option<String>, bool)>) {
    let seen = Seen::default();
    let service =
        NetrcLayer::new(Netrc::parse(netrc).unwrap()).layer(basic_backend(seen.clone(), challenge));
    let request = Request::post(uri)
        .body(ResendBody::new(Full::new(Bytes::from_static(b"data"))))
        .unwrap();
    let status = service.oneshot(request).await.unwrap().status();
    let seen = seen.lock().unwrap().clone();
    (status, seen)
}

const BASIC: &str = r#"Basic realm="r""#;

#[tokio::test]
async fn machine_entries_go_preemptively_over_https_and_to_loopback_only() {
    for uri in [
        "https://h.test/",
        "http://localhost:1/",
        "http://127.0.0.1:1/",
    ] {
        let host = uri.split('/').nth(2).unwrap().split(':').next().unwrap();
        let (status, seen) = send(&format!("machine {host} login u password p"), uri, BASIC).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(seen, [(Some("Basic dTpw".to_owned()), true)], "{uri}");
    }
    // Plain http to another host: only in answer to the 401.
    let (status, seen) = send(
        "machine H.test login u password p",
        "http://h.test:8080/",
        BASIC,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen, [(None, true), (Some("Basic dTpw".to_owned()), true)]);
}

#[tokio::test]
async fn the_default_entry_answers_only_a_401() {
    let (status, seen) = send("default login u password p", "https://any.test/", BASIC).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen[0].0, None);
    assert_eq!(seen.len(), 2);
}

#[tokio::test]
async fn wrong_credentials_are_tried_once() {
    let (status, seen) = send("default login u password wrong", "http://h.test/", BASIC).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(seen.len(), 2);
}

#[tokio::test]
async fn a_digest_challenge_is_not_answered_with_basic() {
    let (status, seen) = send(
        "machine h.test login u password p",
        "http://h.test/",
        r#"Basic realm="r", Digest realm="r", nonce="n""#,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(seen, [(None, true)]);
}

#[tokio::test]
async fn unknown_hosts_explicit_headers_and_url_credentials_pass_through() {
    let (status, seen) = send("machine other login u password p", "https://h.test/", BASIC).await;
    assert_eq!(
        (status, seen),
        (StatusCode::UNAUTHORIZED, vec![(None, false)])
    );
    let (status, seen) = send("default login u password p", "https://x:y@h.test/", BASIC).await;
    assert_eq!(
        (status, seen),
        (StatusCode::UNAUTHORIZED, vec![(None, false)])
    );

    let seen = Seen::default();
    let service = NetrcLayer::new(Netrc::parse("default login u password p").unwrap())
        .layer(basic_backend(seen.clone(), BASIC));
    let request = Request::get("https://h.test/")
        .header(header::AUTHORIZATION, "Bearer t")
        .body(ResendBody::new(Full::default()))
        .unwrap();
    let status = service.oneshot(request).await.unwrap().status();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        *seen.lock().unwrap(),
        [(Some("Bearer t".to_owned()), false)]
    );
}

#[cfg(feature = "digest-auth")]
#[tokio::test]
async fn netrc_credentials_answer_digest_through_the_digest_layer_below() {
    use towline_test_support::DigestServer;

    use crate::auth::digest::DigestAuthLayer;

    for uri in ["http://zoo.test/", "https://zoo.test/"] {
        let server = DigestServer::new("u", "p", "zoo").algorithms(&["SHA-256"]);
        let backend = {
            let server = server.clone();
            service_fn(move |request: Request<ResendBody<Full<Bytes>>>| {
                let server = server.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let body = body.collect().await?.to_bytes();
                    Ok::<_, BoxError>(server.respond(&Request::from_parts(parts, body)))
                }
            })
        };
        let service = tower::ServiceBuilder::new()
            .layer(NetrcLayer::new(
                Netrc::parse("machine zoo.test login u password p").unwrap(),
            ))
            .layer(DigestAuthLayer::per_request())
            .service(backend);
        let request = Request::get(uri)
            .body(ResendBody::new(Full::default()))
            .unwrap();
        let status = service.oneshot(request).await.unwrap().status();
        assert_eq!(status, StatusCode::OK, "{uri}: {:?}", server.failures());
        // Over https the preemptive Basic header is replaced by the Digest answer.
        let sent = server.authorizations();
        assert_eq!(sent.len(), if uri.starts_with("https") { 2 } else { 1 });
        assert!(sent.last().unwrap().starts_with("Digest username=\"u\""));
    }
}
