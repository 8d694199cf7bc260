//! The memory check: stream a 1 GiB response body from the bench server into a sink and
//! report the peak resident set size.
//!
//! ```text
//! stream_1gib serve                  # runs the server alone, prints "h1 <addr>" and waits
//! stream_1gib <client> <addr> [len]  # streams <len> bytes (default 1 GiB) from a server
//!                                    # started with `serve`; <client>: towline,
//!                                    # towline_blocking, reqwest, bare_hyper
//! stream_1gib download <addr> <n> [len]  # towline's parallel range download of <len>
//!                                    # bytes (default 100 MiB) with <n> connections to a
//!                                    # temporary file, checked byte for byte
//! stream_1gib                        # (as `cargo bench` runs it) server in-process, towline
//! ```
//!
//! `benches/run.sh` starts `serve` in one process and each client in another under
//! `/usr/bin/time -v`, so the peak RSS it quotes is the client's alone. Each client process
//! also prints its own peak (`VmHWM` from `/proc/self/status`).

#![allow(
    missing_docs,
    unreachable_pub,
    // A check fails loudly.
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use towline_bench::{BenchServer, STREAM_CHUNK};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const GIB: u64 = 1024 * 1024 * 1024;
const MIB_100: u64 = 100 * 1024 * 1024;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Peak RSS of this process in KiB, from `/proc/self/status` (`VmHWM`).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn stream(client: &str, addr: SocketAddr, len: u64) -> Result<u64, BoxError> {
    let url = format!("http://{addr}/stream/{len}");
    let mut received = 0u64;
    match client {
        "towline" => {
            let client = towline::TokioClient::builder().http1_only().build()?;
            let mut response = client.get(&url).send().await?.error_for_status()?;
            while let Some(chunk) = response.chunk().await? {
                received += chunk.len() as u64;
            }
        }
        "reqwest" => {
            let client = reqwest::Client::builder().http1_only().no_proxy().build()?;
            let mut response = client.get(&url).send().await?.error_for_status()?;
            while let Some(chunk) = response.chunk().await? {
                received += chunk.len() as u64;
            }
        }
        "bare_hyper" => {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            let request = http::Request::get(format!("/stream/{len}"))
                .header(http::header::HOST, addr.to_string())
                .body(Empty::<Bytes>::new())?;
            let mut body = sender.send_request(request).await?.into_body();
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame?.into_data() {
                    received += data.len() as u64;
                }
            }
        }
        other => return Err(format!("unknown client {other:?}").into()),
    }
    Ok(received)
}

/// The blocking client, from this thread: it runs its own runtime.
fn stream_blocking(addr: SocketAddr, len: u64) -> Result<u64, BoxError> {
    let client = towline::blocking::Client::builder()
        .http1_only()
        .timeout(None)
        .build()?;
    let mut response = client
        .get(format!("http://{addr}/stream/{len}"))
        .send()?
        .error_for_status()?;
    Ok(response.copy_to(&mut std::io::sink())?)
}

fn run_client(client: &str, addr: SocketAddr, len: u64) {
    let start = Instant::now();
    let received = if client == "towline_blocking" {
        stream_blocking(addr, len).unwrap()
    } else {
        runtime().block_on(stream(client, addr, len)).unwrap()
    };
    let elapsed = start.elapsed();
    assert_eq!(
        received, len,
        "{client}: received {received} of {len} bytes"
    );
    println!(
        "{client}: streamed {received} bytes in {:.2} s ({:.0} MiB/s); peak RSS (VmHWM) {} KiB",
        elapsed.as_secs_f64(),
        received as f64 / elapsed.as_secs_f64() / (1024.0 * 1024.0),
        peak_rss_kib().map_or_else(|| "?".to_owned(), |k| k.to_string()),
    );
}

/// Downloads `/stream/<len>` with `connections` ranged requests into a temporary file, then
/// checks every byte against the server's pattern.
fn run_download(addr: SocketAddr, connections: usize, len: u64) {
    let rt = runtime();
    let path = std::env::temp_dir().join(format!(
        "towline-bench-download-{}-{connections}",
        std::process::id()
    ));
    let start = Instant::now();
    let downloaded = rt
        .block_on(async {
            let client = towline::TokioClient::builder().http1_only().build()?;
            client
                .download(format!("http://{addr}/stream/{len}"))
                .connections(connections)
                .to_file(&path)
                .send()
                .await
        })
        .unwrap();
    let elapsed = start.elapsed();
    let peak = peak_rss_kib();
    assert_eq!(downloaded.length, len);
    assert_eq!(
        downloaded.segments, connections,
        "one segment per connection"
    );
    check_pattern(&path, len);
    std::fs::remove_file(&path).unwrap();
    println!(
        "towline download: {len} bytes over {connections} connection(s) in {:.2} s ({:.0} MiB/s); \
         peak RSS (VmHWM) {} KiB",
        elapsed.as_secs_f64(),
        len as f64 / elapsed.as_secs_f64() / (1024.0 * 1024.0),
        peak.map_or_else(|| "?".to_owned(), |k| k.to_string()),
    );
}

/// Checks that the file at `path` is `len` bytes of the bench server's stream pattern.
fn check_pattern(path: &std::path::Path, len: u64) {
    use std::io::Read;
    let mut file = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let read = file.read(&mut buf).unwrap();
        if read == 0 {
            break;
        }
        for (i, byte) in buf[..read].iter().enumerate() {
            let at = offset + i as u64;
            assert_eq!(*byte, ((at % STREAM_CHUNK as u64) % 251) as u8, "byte {at}");
        }
        offset += read as u64;
    }
    assert_eq!(offset, len);
}

fn main() {
    // `cargo bench` passes `--bench`; criterion-style flags are ignored.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match args.first().map(String::as_str) {
        Some("serve") => {
            let rt = runtime();
            let server = rt.block_on(BenchServer::start()).unwrap();
            println!("h1 {}", server.h1_addr());
            rt.block_on(std::future::pending::<()>());
        }
        Some("download") => {
            let addr: SocketAddr = args
                .get(1)
                .expect("usage: stream_1gib download <addr> <connections> [len]")
                .parse()
                .unwrap();
            let connections = args.get(2).map_or(4, |n| n.parse().unwrap());
            let len = args.get(3).map_or(MIB_100, |l| l.parse().unwrap());
            run_download(addr, connections, len);
        }
        Some(client) => {
            let addr: SocketAddr = args
                .get(1)
                .expect("usage: stream_1gib <client> <addr> [len]")
                .parse()
                .unwrap();
            let len = args.get(2).map_or(GIB, |l| l.parse().unwrap());
            run_client(client, addr, len);
        }
        None => {
            // Self-contained: the server in this process too, so the peak includes it.
            let server_rt = runtime();
            let server = server_rt.block_on(BenchServer::start()).unwrap();
            run_client("towline", server.h1_addr(), GIB);
            println!("(server in the same process; run benches/run.sh for the client alone)");
        }
    }
}
