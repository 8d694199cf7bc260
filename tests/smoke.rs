#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
use towline::TokioClient;
use towline_test_support::{TestPki, TestServer};

#[tokio::test]
async fn smoke() {
    let server = TestServer::http1();
    let client = TokioClient::new();
    for _ in 0..3 {
        let resp = client
            .get(server.url("/echo?a=1"))
            .unwrap()
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: serde_json::Value = resp.json().await.unwrap();
        println!("{v}");
    }
    assert_eq!(server.connections(), 1);
    let h2 = TestServer::h2c();
    let c2 = TokioClient::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = c2.get(h2.url("/echo")).unwrap().send().await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let pki = TestPki::generate();
    let tls = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
    let c3 = TokioClient::builder()
        .add_root_certificate(towline::Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let resp = c3.get(tls.url("/echo")).unwrap().send().await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    println!("{}", resp.text().await.unwrap());
}
