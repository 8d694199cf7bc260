use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use tokio::{io::AsyncReadExt, net::TcpStream, time::timeout};

use super::{Client, raw_roundtrip, split_response};
use crate::{ConnectionInfo, Counter, TestServer, body_channel, boxed, empty, response};

fn expected_pattern(start: usize, len: usize) -> Vec<u8> {
    (start..start + len).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn echo_reports_the_request_with_repeated_headers_in_order() {
    let server = TestServer::http1();
    let raw = raw_roundtrip(
        server.addr(),
        "POST /echo/sub?x=1&y=2 HTTP/1.1\r\nhost: example\r\nx-rep: one\r\n\
         x-other: o\r\nx-rep: two\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
    )
    .await;
    let (head, body) = split_response(&raw);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let echo: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/echo/sub");
    assert_eq!(echo["query"], "x=1&y=2");
    assert_eq!(echo["body"], "hello");
    assert_eq!(echo["body_len"], 5);
    assert_eq!(echo["version"], "HTTP/1.1");
    assert_eq!(echo["connection_id"], 1);
    let headers = echo["headers"].as_array().unwrap();
    let repeated: Vec<_> = headers.iter().filter(|h| h[0] == "x-rep").collect();
    assert_eq!(
        repeated,
        [&json!(["x-rep", "one"]), &json!(["x-rep", "two"])]
    );
    assert!(headers.contains(&json!(["x-other", "o"])));
    assert!(headers.contains(&json!(["host", "example"])));
}

#[tokio::test]
async fn counts_connections_and_requests() {
    let server = TestServer::http1();
    let mut first = Client::h1(server.addr()).await;
    assert_eq!(first.get("/echo").await.json()["connection_id"], 1);
    assert_eq!(first.get("/echo").await.json()["connection_id"], 1);
    assert_eq!(server.connections(), 1);
    assert_eq!(server.requests(), 2);

    let mut second = Client::h1(server.addr()).await;
    assert_eq!(second.get("/echo").await.json()["connection_id"], 2);
    assert_eq!(server.connections(), 2);
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn status_bytes_and_empty_routes() {
    let server = TestServer::http1();
    let mut client = Client::h1(server.addr()).await;

    let teapot = client.get("/status/418").await;
    assert_eq!(teapot.status, StatusCode::IM_A_TEAPOT);
    assert!(teapot.body.is_empty());
    assert_eq!(client.get("/status/nope").await.status, 400);

    let bytes = client.get("/bytes/600").await;
    assert_eq!(bytes.header("content-length"), Some("600"));
    assert_eq!(bytes.body, expected_pattern(0, 600));

    assert_eq!(client.get("/no-content").await.status, 204);
    assert_eq!(client.get("/not-modified").await.status, 304);
    assert_eq!(client.get("/nowhere").await.status, 404);
}

#[tokio::test]
async fn chunks_stream_without_content_length() {
    let server = TestServer::http1();
    let mut client = Client::h1(server.addr()).await;
    let started = Instant::now();
    let reply = client.get("/chunks?n=4&size=5&delay_ms=20").await;
    assert!(started.elapsed() >= Duration::from_millis(60));
    assert_eq!(reply.header("content-length"), None);
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    assert_eq!(reply.body, expected_pattern(0, 20));
}

#[tokio::test]
async fn slow_headers_delays_the_head() {
    let server = TestServer::http1();
    let mut client = Client::h1(server.addr()).await;
    let started = Instant::now();
    let reply = client.get("/slow-headers?ms=150").await;
    assert_eq!(reply.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn close_ends_the_connection_after_the_response() {
    let server = TestServer::http1();
    // No `connection: close` in the request: only the server's header ends it,
    // so reading to EOF terminates only if the server closes.
    let raw = timeout(
        Duration::from_secs(5),
        raw_roundtrip(server.addr(), "GET /close HTTP/1.1\r\nhost: x\r\n\r\n"),
    )
    .await
    .unwrap();
    let (head, body) = split_response(&raw);
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(body, "closing");
}

#[tokio::test]
async fn redirect_json_text_and_headers_routes() {
    let server = TestServer::http1();
    let mut client = Client::h1(server.addr()).await;

    let redirect = client.get("/redirect?to=%2Fecho%3Fa%3D1&status=307").await;
    assert_eq!(redirect.status, 307);
    assert_eq!(redirect.header("location"), Some("/echo?a=1"));
    let default = client.get("/redirect?to=/x").await;
    assert_eq!(default.status, 302);
    assert_eq!(client.get("/redirect").await.status, 400);

    let json = client.post("/json", r#"{"a":[1,2]}"#).await;
    assert_eq!(json.header("content-type"), Some("application/json"));
    assert_eq!(json.body, r#"{"a":[1,2]}"#);
    assert_eq!(client.post("/json", "nope").await.status, 400);

    let latin1 = client.get("/text?charset=iso-8859-1").await;
    assert_eq!(
        latin1.header("content-type"),
        Some("text/plain; charset=iso-8859-1")
    );
    assert_eq!(latin1.body, &b"h\xe9llo w\xf6rld"[..]);
    let utf8 = client.get("/text?charset=utf-8").await;
    assert_eq!(utf8.body, "héllo wörld".as_bytes());
    assert_eq!(client.get("/text?charset=koi8-r").await.status, 400);

    let headers = client
        .get("/headers?set-cookie=a%3D1&set-cookie=b%3D2&x-y=z")
        .await;
    let cookies: Vec<_> = headers.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(headers.header("x-y"), Some("z"));
}

#[tokio::test]
async fn trailers_over_http1_need_te_trailers() {
    let server = TestServer::http1();
    let with_te = raw_roundtrip(
        server.addr(),
        "GET /trailers HTTP/1.1\r\nhost: x\r\nte: trailers\r\nconnection: close\r\n\r\n",
    )
    .await;
    let (head, body) = split_response(&with_te);
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(body.starts_with("5\r\nhello\r\n0\r\n"), "{body:?}");
    assert!(body.contains("x-checksum: abc\r\n"), "{body:?}");

    let without_te = raw_roundtrip(
        server.addr(),
        "GET /trailers HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    let (_, body) = split_response(&without_te);
    assert_eq!(body, "5\r\nhello\r\n0\r\n\r\n");
}

#[tokio::test]
async fn h2c_speaks_http2_and_sends_trailers() {
    let server = TestServer::h2c();
    let mut client = Client::h2(server.addr()).await;
    let echo = client.get("/echo").await.json();
    assert_eq!(echo["version"], "HTTP/2.0");

    let trailers = client.get("/trailers").await;
    assert_eq!(trailers.body, "hello");
    let trailers = trailers.trailers.unwrap();
    assert_eq!(trailers.get("x-checksum").unwrap(), "abc");
}

#[tokio::test]
async fn http1_connection_closes_after_max_requests() {
    let server = TestServer::builder().max_requests_per_connection(2).build();
    let mut client = Client::h1(server.addr()).await;
    assert_eq!(client.get("/echo").await.header("connection"), None);
    assert_eq!(
        client.get("/echo").await.header("connection"),
        Some("close")
    );
    timeout(Duration::from_secs(2), &mut client.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    let mut next = Client::h1(server.addr()).await;
    assert_eq!(next.get("/echo").await.json()["connection_id"], 2);
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn http2_connection_goes_away_after_max_requests() {
    let server = TestServer::builder()
        .h2c()
        .max_requests_per_connection(2)
        .build();
    let mut client = Client::h2(server.addr()).await;
    assert_eq!(client.get("/echo").await.status, 200);
    assert_eq!(client.get("/echo").await.status, 200);
    // The client connection only ends once the server has sent GOAWAY and closed.
    timeout(Duration::from_secs(2), &mut client.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let req = client.request("GET", "/echo").body(empty()).unwrap();
    assert!(client.try_send(req).await.is_err());
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn closure_handler_gets_collected_body_and_connection_info() {
    let calls = Counter::new();
    let server = TestServer::builder()
        .handler({
            let calls = calls.clone();
            move |req: Request<Bytes>| {
                calls.incr();
                async move {
                    let id = req.extensions().get::<ConnectionInfo>().unwrap().id;
                    response(201, format!("{} {} {id}", req.method(), req.body().len()))
                }
            }
        })
        .build();
    let mut client = Client::h1(server.addr()).await;
    let reply = client.post("/anything", "abc").await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.body, "POST 3 1");
    assert_eq!(calls.get(), 1);
}

#[tokio::test]
async fn streaming_handler_can_stream_the_request_body_back() {
    let server = TestServer::builder()
        .h2c()
        .streaming_handler(|req: Request<Incoming>| async move {
            http::Response::new(boxed(req.into_body()))
        })
        .build();
    let mut client = Client::h2(server.addr()).await;
    assert_eq!(client.post("/", "xyz").await.body, "xyz");
}

#[tokio::test]
async fn body_channel_streams_trailers_and_aborts() {
    let server = TestServer::builder()
        .h2c()
        .handler(|req: Request<Bytes>| async move {
            let (tx, body) = body_channel();
            let abort = req.uri().path() == "/abort";
            tokio::spawn(async move {
                tx.send_data("part").await;
                if abort {
                    tx.abort().await;
                } else {
                    let mut trailers = HeaderMap::new();
                    trailers.insert("x-done", HeaderValue::from_static("yes"));
                    tx.send_trailers(trailers).await;
                }
            });
            http::Response::new(body)
        })
        .build();
    let mut client = Client::h2(server.addr()).await;
    let reply = client.get("/complete").await;
    assert_eq!(reply.body, "part");
    assert_eq!(reply.trailers.unwrap().get("x-done").unwrap(), "yes");

    let req = client.request("GET", "/abort").body(empty()).unwrap();
    assert!(client.try_send(req).await.is_err());
}

#[tokio::test]
async fn dropping_the_server_closes_its_connections() {
    let server = TestServer::http1();
    let addr = server.addr();
    let mut client = Client::h1(addr).await;
    assert_eq!(client.get("/echo").await.status, 200);
    drop(server);
    // The idle keep-alive connection ends only because the server closed it.
    timeout(Duration::from_secs(2), &mut client.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_waits_for_connections_to_close() {
    let server = TestServer::http1();
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    // Accepting is asynchronous; wait until the server has seen the connection.
    while server.connections() == 0 {
        tokio::task::yield_now().await;
    }
    server.shutdown().await;
    let mut buf = [0; 1];
    let read = timeout(Duration::from_millis(100), stream.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
}

#[tokio::test]
async fn url_adds_the_leading_slash() {
    let server = TestServer::http1();
    let port = server.addr().port();
    assert_eq!(server.url("/a"), format!("http://127.0.0.1:{port}/a"));
    assert_eq!(server.url("a"), format!("http://127.0.0.1:{port}/a"));
}
