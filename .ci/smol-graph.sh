#!/usr/bin/env bash
# A smol-only build must not link tokio's runtime: hyper and h2 depend on tokio for its
# `sync` primitives and `io-util` traits, which run on any executor, but its reactor, timer,
# scheduler and blocking pool (features `rt`, `rt-multi-thread`, `net`, `time`, `fs`,
# `process`, `signal`, `macros`) must not be in the graph. Fails, naming them, if they are.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

features=$(cargo tree -p towline --no-default-features --features smol,rustls-ring,webpki-roots \
    -e normal,features -i tokio --prefix none --format '{p} {f}' 2>/dev/null |
    awk '$1 == "tokio" && $2 ~ /^v[0-9]/ { print $3 }' | tr ',' '\n' | sort -u)
if [[ -z $features ]]; then
    echo "smol-only graph: no tokio at all"
    exit 0
fi
echo "smol-only graph: tokio with features: $(echo "$features" | tr '\n' ' ')"
forbidden=$(echo "$features" | grep -E '^(rt|rt-multi-thread|net|time|fs|process|signal|macros|full)$' || true)
if [[ -n $forbidden ]]; then
    echo "a smol-only build links tokio's runtime parts: $(echo "$forbidden" | tr '\n' ' ')" >&2
    cargo tree -p towline --no-default-features --features smol,rustls-ring,webpki-roots \
        -e normal,features -i tokio >&2
    exit 1
fi
