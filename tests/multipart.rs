#![cfg(feature = "multipart")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Multipart forms through the client, parsed on the server by `multer` (a parser written by
//! others): text, bytes and file parts, per-part headers, hostile names, Content-Length versus
//! chunked, 307 replay, and a file part read a chunk at a time.

mod common;

use std::path::PathBuf;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::Body as _;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use towline::multipart::{Form, Part};
use towline::{Body, TokioClient};
use towline_test_support::{BoxBody, TestServer, full, response};

use common::within;

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses the request as `multipart/form-data` with multer and answers JSON: the request's
/// `content_length`, `transfer_encoding` and body length, and per part its `name`,
/// `file_name`, `content_type`, `x_tag` header, length and sha256. `/old` answers 307 to
/// `/parse`.
async fn parse(request: Request<Bytes>) -> Response<BoxBody> {
    if request.uri().path() == "/old" {
        let mut answer = response(307, "");
        answer
            .headers_mut()
            .insert(LOCATION, HeaderValue::from_static("/parse"));
        return answer;
    }
    let header = |name| {
        request
            .headers()
            .get(name)
            .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
    };
    let content_type = header(CONTENT_TYPE).unwrap_or_default();
    let boundary = match multer::parse_boundary(&content_type) {
        Ok(boundary) => boundary,
        Err(e) => return response(400, format!("no boundary: {e}")),
    };
    let body = request.body().clone();
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return response(400, format!("bad multipart: {e}")),
        };
        let name = field.name().map(str::to_owned);
        let file_name = field.file_name().map(str::to_owned);
        let part_type = field.content_type().map(ToString::to_string);
        let tag = field
            .headers()
            .get("x-tag")
            .map(|v| v.to_str().unwrap().to_owned());
        let header_names: Vec<String> = field.headers().keys().map(|k| k.to_string()).collect();
        let data = match field.bytes().await {
            Ok(data) => data,
            Err(e) => return response(400, format!("bad field: {e}")),
        };
        parts.push(json!({
            "name": name, "file_name": file_name, "content_type": part_type, "x_tag": tag,
            "headers": header_names, "len": data.len(), "sha256": sha256_hex(&data),
            "text": String::from_utf8(data.to_vec()).ok().filter(|t| t.len() < 256),
        }));
    }
    let report = json!({
        "content_length": header(CONTENT_LENGTH),
        "transfer_encoding": header(TRANSFER_ENCODING),
        "body_len": request.body().len(),
        "parts": parts,
    });
    Response::new(full(report.to_string()))
}

fn parsing_server() -> TestServer {
    TestServer::builder().handler(parse).build()
}

async fn send(form: Form, url: &str) -> towline::Result<Value> {
    let response = within(TokioClient::new().post(url).multipart(form).send()).await?;
    let status = response.status();
    let text = response.text().await?;
    assert_eq!(status, 200, "{text}");
    Ok(serde_json::from_str(&text).unwrap())
}

/// A file in the temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> Self {
        let path =
            std::env::temp_dir().join(format!("towline-multipart-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn text_bytes_and_file_parts_arrive_with_their_names_types_and_headers() {
    let server = parsing_server();
    let contents = pattern(300 * 1024);
    let file = TempFile::new("picture.png", &contents);
    let mut tag = HeaderMap::new();
    tag.insert("x-tag", HeaderValue::from_static("seven"));
    let form = Form::new()
        .text("title", "héllo wörld")
        .part(
            "blob",
            Part::bytes(vec![0u8, 1, 2, 255])
                .file_name("blob.bin")
                .mime_str("application/x-custom")
                .unwrap()
                .headers(tag),
        )
        .file("upload", &file.0)
        .await
        .unwrap();
    let report = send(form, &server.url("/parse")).await.unwrap();
    let parts = report["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 3, "{report}");
    assert_eq!(parts[0]["name"], "title");
    assert_eq!(parts[0]["text"], "héllo wörld");
    assert_eq!(parts[0]["file_name"], Value::Null);
    assert_eq!(parts[0]["content_type"], Value::Null);
    assert_eq!(parts[1]["name"], "blob");
    assert_eq!(parts[1]["file_name"], "blob.bin");
    assert_eq!(parts[1]["content_type"], "application/x-custom");
    assert_eq!(parts[1]["x_tag"], "seven");
    assert_eq!(parts[1]["sha256"], sha256_hex(&[0, 1, 2, 255]));
    assert_eq!(parts[2]["name"], "upload");
    // The path's last component: towline-multipart-<pid>-picture.png.
    let file_name = file.0.file_name().unwrap().to_str().unwrap();
    assert!(file_name.ends_with("picture.png"));
    assert_eq!(parts[2]["file_name"], file_name);
    // Guessed from the extension.
    assert_eq!(parts[2]["content_type"], "image/png");
    assert_eq!(parts[2]["len"], contents.len());
    assert_eq!(parts[2]["sha256"], sha256_hex(&contents));
    // Every length was known: a Content-Length, no chunking.
    assert_eq!(
        report["content_length"],
        report["body_len"].to_string().as_str()
    );
    assert_eq!(report["transfer_encoding"], Value::Null);
}

#[tokio::test]
async fn hostile_names_and_file_names_cannot_inject_headers_or_parts() {
    let server = parsing_server();
    let form = Form::new();
    let boundary = form.boundary().to_owned();
    let smuggle = format!(
        "evil\"\r\n\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"smuggled\"\r\n\r\nthree"
    );
    let form = form
        .text("a\"\r\n\r\nbody", "one")
        .part(
            "file\r\nX-Tag: injected\r\n",
            Part::text("two").file_name(smuggle),
        )
        .text("last", "four");
    let report = send(form, &server.url("/parse")).await.unwrap();
    let parts = report["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 3, "no part was smuggled in: {report}");
    assert_eq!(parts[0]["name"], "a%22%0D%0A%0D%0Abody");
    assert_eq!(parts[0]["file_name"], Value::Null);
    assert_eq!(parts[0]["text"], "one");
    assert_eq!(parts[1]["name"], "file%0D%0AX-Tag: injected%0D%0A");
    assert_eq!(parts[1]["x_tag"], Value::Null, "no header was injected");
    assert_eq!(
        parts[1]["headers"],
        json!(["content-disposition"]),
        "{report}"
    );
    assert_eq!(parts[1]["text"], "two");
    let expected_file_name = format!("evil%22%0D%0A%0D%0A--{boundary}%0D%0AContent-Disposition");
    assert!(
        parts[1]["file_name"]
            .as_str()
            .unwrap()
            .starts_with(&expected_file_name),
        "{report}"
    );
    assert_eq!(parts[2]["name"], "last");
    assert_eq!(parts[2]["text"], "four");
}

#[tokio::test]
async fn a_stream_of_unknown_length_is_sent_chunked() {
    let server = parsing_server();
    let chunks = ["stream", "ed ", "data"].map(|c| Ok::<_, std::io::Error>(Bytes::from(c)));
    let form = Form::new().text("first", "1").part(
        "streamed",
        Part::stream(Body::wrap_stream(futures_util::stream::iter(chunks))),
    );
    assert_eq!(form.content_length(), None);
    let report = send(form, &server.url("/parse")).await.unwrap();
    assert_eq!(report["content_length"], Value::Null, "{report}");
    assert_eq!(report["transfer_encoding"], "chunked");
    assert_eq!(report["parts"][1]["text"], "streamed data");
}

#[tokio::test]
async fn a_stream_with_a_length_makes_a_content_length() {
    let server = parsing_server();
    let chunks = ["0123", "456789"].map(|c| Ok::<_, std::io::Error>(Bytes::from(c)));
    let form = Form::new().part(
        "streamed",
        Part::stream_with_length(Body::wrap_stream(futures_util::stream::iter(chunks)), 10),
    );
    let length = form.content_length().unwrap();
    let report = send(form, &server.url("/parse")).await.unwrap();
    assert_eq!(report["content_length"], length.to_string().as_str());
    assert_eq!(report["body_len"], length);
    assert_eq!(report["transfer_encoding"], Value::Null);
    assert_eq!(report["parts"][0]["text"], "0123456789");
}

#[tokio::test]
async fn a_stream_shorter_or_longer_than_announced_fails_the_request() {
    for announced in [9, 11] {
        let server = parsing_server();
        let chunks = ["0123", "456789"].map(|c| Ok::<_, std::io::Error>(Bytes::from(c)));
        let form = Form::new().part(
            "streamed",
            Part::stream_with_length(
                Body::wrap_stream(futures_util::stream::iter(chunks)),
                announced,
            ),
        );
        let sent = within(
            TokioClient::new()
                .post(server.url("/parse"))
                .multipart(form)
                .send(),
        )
        .await;
        assert!(sent.is_err(), "announced {announced}: {sent:?}");
    }
}

#[tokio::test]
async fn a_buffered_form_is_sent_again_after_a_307() {
    let server = parsing_server();
    let big = pattern(200 * 1024);
    let form = Form::new()
        .text("field", "value")
        .part("data", Part::bytes(big.clone()).file_name("d.bin"));
    let report = send(form, &server.url("/old")).await.unwrap();
    assert_eq!(server.requests(), 2);
    assert_eq!(report["parts"][0]["text"], "value");
    assert_eq!(report["parts"][1]["sha256"], sha256_hex(&big));
}

#[tokio::test]
async fn a_request_with_a_buffered_form_can_be_cloned() {
    let server = parsing_server();
    let builder = TokioClient::new()
        .post(server.url("/parse"))
        .multipart(Form::new().text("k", "v"));
    let copy = builder.try_clone().expect("a buffered form is cloneable");
    for request in [builder, copy] {
        let report: Value = within(request.send()).await.unwrap().json().await.unwrap();
        assert_eq!(report["parts"][0]["text"], "v");
    }
}

#[tokio::test]
async fn a_streamed_form_over_the_replay_cap_fails_clearly_on_a_307() {
    let server = parsing_server();
    // Twice the redirect layer's 1 MiB replay cap, of unknown length.
    let chunks = (0..32).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 64 * 1024])));
    let form = Form::new().part(
        "streamed",
        Part::stream(Body::wrap_stream(futures_util::stream::iter(chunks))),
    );
    let error = within(
        TokioClient::new()
            .post(server.url("/old"))
            .multipart(form)
            .send(),
    )
    .await
    .expect_err("a body that cannot be replayed is not sent again");
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert!(chain.contains("cannot be replayed"), "{chain}");
    assert_eq!(
        server.requests(),
        1,
        "the redirect target was never sent a body"
    );
}

#[tokio::test]
async fn a_file_part_is_read_a_chunk_at_a_time() {
    let contents = pattern(10 * 1024 * 1024 + 5);
    let file = TempFile::new("ten-mib.bin", &contents);
    let form = Form::new().file("f", &file.0).await.unwrap();
    let length = form.content_length().unwrap();
    let mut body = form.into_body();
    assert_eq!(body.size_hint().exact(), Some(length));
    let (mut total, mut largest, mut frames) = (0u64, 0usize, 0usize);
    let mut file_hash = Sha256::new();
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        largest = largest.max(data.len());
        total += data.len() as u64;
        frames += 1;
        file_hash.update(&data);
        assert_eq!(body.size_hint().exact(), Some(length - total));
    }
    assert_eq!(total, length);
    // The file went out in 64 KiB reads, never held whole: 161 reads plus the framing.
    assert!(largest <= 64 * 1024, "largest frame {largest}");
    assert!(frames > 160, "{frames} frames");
}

#[tokio::test]
async fn a_file_that_shrank_after_it_was_added_fails_the_request() {
    let server = parsing_server();
    let file = TempFile::new("shrinks.txt", &pattern(1000));
    let form = Form::new().file("f", &file.0).await.unwrap();
    std::fs::write(&file.0, b"short").unwrap();
    let sent = within(
        TokioClient::new()
            .post(server.url("/parse"))
            .multipart(form)
            .send(),
    )
    .await;
    assert!(sent.is_err(), "{sent:?}");
}

#[tokio::test]
async fn a_directory_is_not_a_file_part() {
    let error = Part::file(std::env::temp_dir()).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn the_request_content_type_names_the_forms_boundary() {
    let server = TestServer::http1();
    let form = Form::new().text("a", "b");
    let expected = form.content_type();
    let echo: Value = within(
        TokioClient::new()
            .post(server.url("/echo"))
            .header(CONTENT_TYPE, "text/plain")
            .multipart(form)
            .send(),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let types = common::header_values(&echo, "content-type");
    assert_eq!(types, [expected]);
}
