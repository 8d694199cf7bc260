//! towline-aria against the real servers of the interop suite (`.ci/peers.sh`, started by
//! `.ci/run`): nginx over HTTP/1.1 and Caddy over TLS (its own CA) serve the suite's 10 MiB
//! file, fetched in four ranged segments and checked against its SHA-256.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};

/// The peers' scratch directory, written by `.ci/peers.sh setup`.
fn peers() -> PathBuf {
    match std::env::var_os("TOWLINE_PEERS") {
        Some(dir) => PathBuf::from(dir),
        None => panic!(
            "TOWLINE_PEERS is not set. These tests need the servers that .ci/run starts: run \
             .ci/run, or `export TOWLINE_PEERS=$(mktemp -d)` and `.ci/peers.sh install && \
             .ci/peers.sh setup && .ci/peers.sh start`"
        ),
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("aria-interop")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Downloads `url` into a scratch directory in four segments, the SHA-256 checked by
/// towline-aria itself; returns the directory.
async fn segmented(name: &str, url: &str, extra: &[&str]) -> PathBuf {
    let peers = peers();
    let sum = std::fs::read_to_string(peers.join("www/10M.bin.sha256")).unwrap();
    let dir = scratch(name);
    let checksum = format!("--checksum=sha-256={}", sum.trim());
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_towline-aria"))
        .args(["-q", "-s", "4", "-x", "4", "-k", "1M", &checksum])
        .args(extra)
        .arg(url)
        .current_dir(&dir)
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("all_proxy")
        .output()
        .await
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn aria_fetches_nginx_file_in_segments() {
    let dir = segmented("nginx", "http://127.0.0.1:9080/10M.bin", &[]).await;
    assert_eq!(size(&dir.join("10M.bin")), 10 * 1024 * 1024);
}

#[tokio::test]
#[ignore = "needs the interop peers started by .ci/run"]
async fn aria_fetches_caddy_file_over_tls_in_segments() {
    let ca = peers().join("pki/ca.pem");
    let ca = ca.to_str().unwrap();
    let dir = segmented(
        "caddy",
        "https://localhost:7443/10M.bin",
        &["--ca-certificate", ca],
    )
    .await;
    assert_eq!(size(&dir.join("10M.bin")), 10 * 1024 * 1024);
}
