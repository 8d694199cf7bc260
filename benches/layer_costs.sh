#!/usr/bin/env bash
# What each layer costs when it is configured but idle: callgrind's instructions per request
# for `towline_all_layers` with one layer configured at a time (TOWLINE_BENCH_LAYERS), minus
# the default stack's (`towline`), on one scenario. Prints a markdown table. Usage:
#
#     benches/layer_costs.sh [SCENARIO] [ITERATIONS]     # default: h1_get_13b 1000
#     TOWLINE_BENCH_ONLY="digest netrc" benches/layer_costs.sh   # only those layers
#
# Counts as benches/run.sh does (N and 2N iterations, each after a warm-up of as many; the
# difference over 2N); builds the bench crate first. Takes about a minute per layer.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SCENARIO=${1:-h1_get_13b}
N=${2:-1000}
TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728
LAYERS=(${TOWLINE_BENCH_ONLY:-timeouts timings trace otel cookies hsts referer retry rate_limit bandwidth digest netrc})

command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
cargo bench --no-run -p towline-bench --bench clients >&2
BIN=$(cargo bench --no-run -p towline-bench --bench clients --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*clients-[^"]*\)".*/\1/p' | tail -n1)
[[ -x $BIN ]] || { echo "no clients bench binary found" >&2; exit 1; }

# count CLIENT ITERS [LAYERS] -> instructions of the whole run
count() {
    TOWLINE_BENCH_LAYERS=${3:-} TOWLINE_BENCH_RUNTIME=current \
        TOWLINE_BENCH_PROFILE="$SCENARIO:$1:$2" GLIBC_TUNABLES=$TUNABLES \
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" 2>&1 >/dev/null |
        sed -n 's/.*Collected : //p'
}
# per_request CLIENT [LAYERS] -> instructions per request
per_request() {
    local one two
    one=$(count "$1" "$N" "${2:-}")
    two=$(count "$1" $((2 * N)) "${2:-}")
    echo $(((two - one) / (2 * N)))
}

base=$(per_request towline)
echo "| layer (configured, idle) | instructions per request | added to \`towline\` |"
echo "|---|---:|---:|"
echo "| none (\`towline\`) | $base | |"
for layer in "${LAYERS[@]}"; do
    with=$(per_request towline_all_layers "$layer")
    echo "| $layer | $with | $((with - base)) |"
done
all=$(per_request towline_all_layers "$(IFS=,; echo "${LAYERS[*]}")")
echo "| all of them (\`towline_all_layers\`) | $all | $((all - base)) |"
