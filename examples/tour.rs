//! A tour of towline that needs no network: it starts in-process origins (HTTPS with a
//! freshly generated CA, HTTP/1.1, and h2c) on 127.0.0.1 and talks to them through the
//! facade, printing status, protocol and timing for every request; then a client with the
//! cache, retries and a download limit configured.
//!
//! Run with `cargo run --release --example tour`. `--runtime smol` runs the clients on smol
//! instead of tokio (build with `--features smol`); the origins stay on a tokio runtime of
//! their own either way.

use std::time::{Duration, Instant};

use towline::{
    CacheStatus, Certificate, ConnectionInfo, HttpCache, Response, RetryConfig, RetryCount, Version,
};
use towline_test_support::{TestPki, TestServer, response};

fn describe(label: &str, response: &Response, bytes: usize, elapsed: Duration) {
    let connection = response.extensions().get::<ConnectionInfo>();
    let reused = connection.is_some_and(ConnectionInfo::is_reused);
    let phases = match connection.map(ConnectionInfo::connect_timings) {
        Some(timings) if !reused => format!(
            "tcp {:>6.2?} tls {:>8}",
            timings.tcp,
            timings
                .tls
                .map_or("-".to_owned(), |tls| format!("{tls:.2?}"))
        ),
        Some(_) => "reused connection".to_owned(),
        None => "no connection (answered by the cache)".to_owned(),
    };
    println!(
        "{label:<34} {status} {version:<8?} {bytes:>8} B {elapsed:>9.2?}  {phases}",
        status = response.status().as_u16(),
        version = response.version(),
    );
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The runtime the tour's clients run on.
#[derive(Clone, Copy, Debug)]
enum Runtime {
    Tokio,
    #[cfg(feature = "smol")]
    Smol,
}

/// Builds a client on `runtime` from one builder chain, written once for every runtime: the
/// builder's type names its runtime, the built `Client` does not.
macro_rules! client {
    ($runtime:expr, |$builder:ident| $chain:expr) => {
        match $runtime {
            Runtime::Tokio => {
                let $builder = towline::TokioClient::builder();
                $chain.build()
            }
            #[cfg(feature = "smol")]
            Runtime::Smol => {
                let $builder = towline::SmolClient::builder();
                $chain.build()
            }
        }
    };
}

fn main() -> Result<(), BoxError> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match arguments.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] | ["--runtime", "tokio"] => Runtime::Tokio,
        #[cfg(feature = "smol")]
        ["--runtime", "smol"] => Runtime::Smol,
        ["--runtime", other] => {
            return Err(format!(
                "the {other} runtime is not in this build (tokio always is; smol with --features smol)"
            )
            .into());
        }
        _ => return Err("usage: tour [--runtime tokio|smol]".into()),
    };
    // The in-process origins run on tokio whichever runtime the clients use.
    let origins = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!("clients on {runtime:?}");
    match runtime {
        Runtime::Tokio => origins.block_on(tour(runtime)),
        #[cfg(feature = "smol")]
        Runtime::Smol => {
            let _origins = origins.enter();
            smol::block_on(tour(runtime))
        }
    }
}

async fn tour(runtime: Runtime) -> Result<(), BoxError> {
    let pki = TestPki::generate();
    let https = TestServer::tls(&pki, &[b"h2", b"http/1.1"]);
    let http1 = TestServer::http1();
    let h2c = TestServer::h2c();

    let root = Certificate::from_pem(pki.ca_pem().as_bytes())?;
    let client = client!(runtime, |builder| builder
        .add_root_certificate(root)
        .timeout(Duration::from_secs(10)))?;

    println!(
        "{:<34} st. {:<8} {:>10} {:>9}  connection",
        "request", "proto", "body", "time"
    );

    for label in ["GET https /echo (ALPN)", "GET https /echo again"] {
        let start = Instant::now();
        let response = client.get(https.url("/echo?tour=1")).send().await?;
        let (head, body) = split(response).await?;
        describe(label, &head, body, start.elapsed());
    }

    let start = Instant::now();
    let response = client
        .post(https.url("/json"))
        .json(&serde_json::json!({ "hello": "towline", "layers": ["timeout"] }))
        .send()
        .await?;
    let (head, body) = split(response).await?;
    describe("POST https /json", &head, body, start.elapsed());

    for label in [
        "GET http/1.1 /bytes/1000000",
        "GET http/1.1 /bytes/1000000 again",
    ] {
        let start = Instant::now();
        let response = client.get(http1.url("/bytes/1000000")).send().await?;
        let (head, body) = split(response).await?;
        describe(label, &head, body, start.elapsed());
    }

    let start = Instant::now();
    let response = client
        .get(h2c.url("/chunks?n=8&size=4096"))
        .version(Version::HTTP_2)
        .send()
        .await?;
    let (head, body) = split(response).await?;
    describe(
        "GET h2c /chunks (prior knowledge)",
        &head,
        body,
        start.elapsed(),
    );

    let start = Instant::now();
    let outcome = client
        .get(http1.url("/slow-headers?ms=2000"))
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    match outcome {
        Err(error) if error.is_timeout() => {
            println!(
                "{:<34} timed out after {:.2?}: {error}",
                "GET /slow-headers, 100 ms budget",
                start.elapsed()
            );
        }
        other => return Err(format!("expected a timeout, got {other:?}").into()),
    }

    let status = client
        .get(http1.url("/status/404"))
        .send()
        .await?
        .error_for_status();
    match status {
        Err(error) if error.is_status() => println!("{:<34} {error}", "GET /status/404"),
        other => return Err(format!("expected a status error, got {other:?}").into()),
    }

    println!(
        "connections opened: https {}, http/1.1 {}, h2c {}",
        https.connections(),
        http1.connections(),
        h2c.connections()
    );

    layers_ii(runtime, &http1).await
}

/// The cache, retries and a download limit, on one more client.
async fn layers_ii(runtime: Runtime, http1: &TestServer) -> Result<(), BoxError> {
    // An origin whose answers may be cached for a minute.
    let cacheable = TestServer::builder()
        .handler(|_req: http::Request<bytes::Bytes>| async {
            let mut res = response(200, "cache me");
            res.headers_mut().insert(
                "cache-control",
                http::HeaderValue::from_static("max-age=60"),
            );
            res
        })
        .build();
    let client = client!(runtime, |builder| builder
        .cache(HttpCache::new())
        .retry(RetryConfig::new().initial_backoff(Duration::from_millis(20)))
        .max_download_speed(4 * 1024 * 1024))?;
    println!();
    for label in ["GET /cacheable (cache)", "GET /cacheable again"] {
        let start = Instant::now();
        let response = client.get(cacheable.url("/cacheable")).send().await?;
        let status = response.extensions().get::<CacheStatus>().copied();
        let (head, body) = split(response).await?;
        describe(label, &head, body, start.elapsed());
        println!("{:<34} cache: {status:?}", "");
    }
    let start = Instant::now();
    let response = client.get(http1.url("/status/503")).send().await?;
    let retries = response
        .extensions()
        .get::<RetryCount>()
        .map(|RetryCount(n)| *n);
    println!(
        "{:<34} {} after {} retries, {:.2?}",
        "GET /status/503 (retries)",
        response.status().as_u16(),
        retries.unwrap_or(0),
        start.elapsed()
    );
    let start = Instant::now();
    let response = client.get(http1.url("/bytes/1000000")).send().await?;
    let (head, body) = split(response).await?;
    describe(
        "GET /bytes/1000000 at 4 MiB/s",
        &head,
        body,
        start.elapsed(),
    );
    Ok(())
}

async fn split(response: Response) -> Result<(Response, usize), towline::Error> {
    let mut response = response;
    let mut bytes = 0;
    while let Some(chunk) = response.chunk().await? {
        bytes += chunk.len();
    }
    Ok((response, bytes))
}
