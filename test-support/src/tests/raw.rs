use std::{io, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::mpsc,
    time::timeout,
};

use crate::{OK_KEEP_ALIVE, RawServer, Reuse};

const GET: &str = "GET / HTTP/1.1\r\nhost: x\r\n\r\n";

/// Sends one request and reads the keep-alive response that answers it.
async fn first_exchange(stream: &mut TcpStream) {
    stream.write_all(GET.as_bytes()).await.unwrap();
    let mut response = vec![0; OK_KEEP_ALIVE.len()];
    stream.read_exact(&mut response).await.unwrap();
    assert_eq!(response, OK_KEEP_ALIVE);
}

#[tokio::test]
async fn reuse_is_answered_with_a_reset() {
    let server = RawServer::respond_then_on_reuse(OK_KEEP_ALIVE, Reuse::Reset);
    for connection in 1..=2 {
        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        first_exchange(&mut stream).await;
        stream.write_all(GET.as_bytes()).await.unwrap();
        let error = stream.read(&mut [0; 16]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(server.connections(), connection);
        assert_eq!(server.requests(), 2 * connection);
    }
}

#[tokio::test]
async fn reuse_is_answered_with_a_clean_close_even_mid_body() {
    let server = RawServer::respond_then_on_reuse(OK_KEEP_ALIVE, Reuse::Close);
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    first_exchange(&mut stream).await;
    // A body far larger than one read leaves unread bytes in the server's
    // socket, which would turn a plain close into a reset.
    let body = vec![b'a'; 256 * 1024];
    let head = format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    assert_eq!(stream.read(&mut [0; 16]).await.unwrap(), 0);
    // A reset would land right behind the FIN; give it time to show.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(stream.take_error().unwrap().is_none());
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn fixed_answers_every_request_including_chunked_ones() {
    let server = RawServer::fixed(OK_KEEP_ALIVE);
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    first_exchange(&mut stream).await;
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n\
              5\r\nhello\r\n0\r\nx-trailer: 1\r\n\r\n",
        )
        .await
        .unwrap();
    let mut response = vec![0; OK_KEEP_ALIVE.len()];
    stream.read_exact(&mut response).await.unwrap();
    assert_eq!(response, OK_KEEP_ALIVE);
    first_exchange(&mut stream).await;
    assert_eq!(server.requests(), 3);
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn read_request_decodes_chunked_bodies_and_headers() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = RawServer::spawn(move |mut conn| {
        let tx = tx.clone();
        async move {
            while let Some(request) = conn.read_request().await {
                let report = format!(
                    "{} | {:?} | {}",
                    request.request_line(),
                    request.header("X-Name"),
                    String::from_utf8_lossy(&request.body)
                );
                tx.send(report).unwrap();
            }
        }
    });
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream
        .write_all(
            b"PUT /a HTTP/1.1\r\nx-name:  v \r\ntransfer-encoding: chunked\r\n\r\n\
              5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n\
              GET /b HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc",
        )
        .await
        .unwrap();
    assert_eq!(
        rx.recv().await.unwrap(),
        r#"PUT /a HTTP/1.1 | Some("v") | hello world"#
    );
    assert_eq!(rx.recv().await.unwrap(), "GET /b HTTP/1.1 | None | abc");
}

#[tokio::test]
async fn read_request_head_gives_up_past_64_kib() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = RawServer::spawn(move |mut conn| {
        let tx = tx.clone();
        async move {
            tx.send(conn.read_request_head().await).unwrap();
        }
    });
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let mut head = b"GET / HTTP/1.1\r\nx-long: ".to_vec();
    head.resize(70 * 1024, b'a');
    stream.write_all(&head).await.unwrap();
    let result = timeout(Duration::from_secs(2), rx.recv()).await.unwrap();
    assert_eq!(result, Some(None));
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn respond_and_close_delimits_the_body_by_eof() {
    let server = RawServer::respond_and_close(b"HTTP/1.1 200 OK\r\n\r\nuntil eof");
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(GET.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert_eq!(response, "HTTP/1.1 200 OK\r\n\r\nuntil eof");
}
