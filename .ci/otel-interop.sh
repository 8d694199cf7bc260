#!/usr/bin/env bash
# The OpenTelemetry interop check (`.ci/run`'s otel-interop phase): interop/otel, a workspace of
# its own so that its OTLP/gRPC stack stays out of the main builds, is formatted, linted and
# run against httpbin. It exports towline's spans and metrics over OTLP/gRPC to an OTLP
# receiver it starts in-process, and fails on any mismatch (see interop/otel/src/main.rs).
#
#   .ci/otel-interop.sh [HTTPBIN_URL]     default http://127.0.0.1:8081 (.ci/peers.sh's httpbin)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
manifest=interop/otel/Cargo.toml
cargo fmt --manifest-path "$manifest" --check
cargo clippy --manifest-path "$manifest" --locked --all-targets -- -D warnings
cargo run --manifest-path "$manifest" --locked -- "${1:-http://127.0.0.1:8081}"
