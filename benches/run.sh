#!/usr/bin/env bash
# The benchmark report: builds the bench crate, runs every scenario against every client with
# fixed short criterion settings, then towline on tokio and on smol against each runtime's
# floor (benches/runtimes.rs), runs the 1 GiB streaming memory check, and writes
# benches/RESULTS.md. One command, from anywhere:
#
#     benches/run.sh
#
# About 16 minutes of measurement on a 2-core machine, plus the release build the first time.
# Ratios are what to compare; run it on a quiet machine (the load is recorded in RESULTS.md).
#
# Environment:
#   CARGO_TARGET_DIR     target dir (default: the workspace's ./target)
#   TOWLINE_BENCH_ONLY   a,b: run only the scenarios whose names contain a or b
#   BENCH_OUT            where RESULTS.md goes (default benches/RESULTS.md)
#   BENCH_ROUNDS         how many rounds (default 3)
#   BENCH_RUNTIME        current (default) or multi: the tokio runtime of the timed rounds
#   BENCH_CALLGRIND      0 skips the instruction counts
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${BENCH_OUT:-$ROOT/benches/RESULTS.md}
WORK=$CARGO_TARGET_DIR/towline-bench
START=$(date +%s)

# Fixed settings: every client gets the same, and the whole run stays well under 20 minutes.
# ROUNDS fresh processes each run every scenario for every client (in a rotated order); the
# report pools each benchmark's samples over the rounds. Every sample is timed on both the
# process CPU clock (criterion's value; what the targets are judged by) and the wall clock.
ROUNDS=${BENCH_ROUNDS:-3}
# The current-thread runtime by default: with tokio's 2-worker scheduler, where the loop, the
# client connection and the server connection tasks land differs from one client build to the
# next, and the same client measured 30 µs or 80 µs per h2c request depending on it.
BENCH_RUNTIME=${BENCH_RUNTIME:-current}
SAMPLE_SIZE=20
CRITERION_ARGS=(--warm-up-time 0.5 --measurement-time 1.5 --sample-size "$SAMPLE_SIZE"
    --nresamples 10000 --noplot)
# glibc's dynamic mmap/trim thresholds made 1 MiB results flip between two speeds depending
# on run order; pinned, every client sees the same allocator behaviour.
BENCH_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728
# The layers `towline_all_layers` configures (keep in step with benches/benches/clients.rs).
ALL_LAYERS="on top of the default stack (redirect up to 10, decompression gzip/deflate/br/zstd, timeout layer): total 60 s + read 30 s timeouts, timings, trace (a span per request, no subscriber), otel (a span and metrics per attempt, no-op providers), cookie store, HSTS, Referer, retries (3), rate limit 10^9 requests/s, download limit 1 TB/s, Digest credentials (never challenged), a netrc file with an entry for another host"

if [[ ! -x /usr/bin/time ]]; then
    echo "==> installing GNU time for the memory check"
    apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi

if [[ ${BENCH_CALLGRIND:-1} == 1 ]] && ! command -v valgrind >/dev/null; then
    echo "==> installing valgrind for the instruction counts"
    apt-get install -y valgrind >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y valgrind >/dev/null; }
fi

echo "==> load before: $(uptime)"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

echo "==> building (cargo bench --no-run -p towline-bench)"
BUILD_START=$(date +%s)
BUILD_LOG=$(mktemp)
cargo bench --no-run -p towline-bench --message-format=json-render-diagnostics >"$BUILD_LOG"
executable() { # executable TARGET_NAME
    grep '"reason":"compiler-artifact"' "$BUILD_LOG" | grep "\"name\":\"$1\"" |
        grep -o '"executable":"[^"]*"' | tail -n1 | cut -d'"' -f4
}
CLIENTS_BIN=$(executable clients)
RUNTIMES_BIN=$(executable runtimes)
STREAM_BIN=$(executable stream_1gib)
REPORT_BIN=$(executable towline-bench-report)
rm -f "$BUILD_LOG"
for bin in "$CLIENTS_BIN" "$RUNTIMES_BIN" "$STREAM_BIN" "$REPORT_BIN"; do
    [[ -x $bin ]] || { echo "bench executable not found: '$bin'" >&2; exit 1; }
done
BUILD_SECS=$(($(date +%s) - BUILD_START))

rm -rf "$WORK"
mkdir -p "$WORK/criterion"
: >"$WORK/instructions.txt"

echo "==> measuring: $ROUNDS rounds of ${CRITERION_ARGS[*]}"
MEASURE_START=$(date +%s)
: >"$WORK/bench.log"
for ((round = 0; round < ROUNDS; round++)); do
    echo "==> round $((round + 1)) of $ROUNDS (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    GLIBC_TUNABLES=$BENCH_TUNABLES CRITERION_HOME=$WORK/criterion/round-$round \
        TOWLINE_BENCH_CLOCK=cpu TOWLINE_BENCH_RUNTIME=$BENCH_RUNTIME TOWLINE_BENCH_ROUND=$round TOWLINE_BENCH_SAMPLES=$WORK/samples.tsv \
        "$CLIENTS_BIN" --bench "${CRITERION_ARGS[@]}" | tee -a "$WORK/bench.log"
done
# The runtime rows: each client loop on its own runtime (tokio, smol), the server on a thread
# of its own; samples in a file of their own, rows named <runtime>_<client>.
for ((round = 0; round < ROUNDS; round++)); do
    echo "==> runtimes round $((round + 1)) of $ROUNDS (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    GLIBC_TUNABLES=$BENCH_TUNABLES CRITERION_HOME=$WORK/criterion/runtimes-$round \
        TOWLINE_BENCH_CLOCK=cpu TOWLINE_BENCH_ROUND=$round TOWLINE_BENCH_SAMPLES=$WORK/runtimes.tsv \
        "$RUNTIMES_BIN" --bench "${CRITERION_ARGS[@]}" | tee -a "$WORK/runtimes.log"
done
MEASURE_SECS=$(($(date +%s) - MEASURE_START))

# Instruction counts: deterministic where times are not. Each scenario × client runs under
# callgrind twice (N and 2N iterations, each after a warm-up of as many); the difference over
# 2N iterations is the count per iteration, process-wide (server included), start-up excluded.
if [[ ${BENCH_CALLGRIND:-1} == 1 ]] && command -v valgrind >/dev/null; then
    echo "==> instruction counts (callgrind)"
    : >"$WORK/instructions.txt"
    count() { # count SCENARIO CLIENT ITERS [BINARY] -> instructions
        TOWLINE_BENCH_RUNTIME=$BENCH_RUNTIME TOWLINE_BENCH_PROFILE="$1:$2:$3" GLIBC_TUNABLES=$BENCH_TUNABLES \
            valgrind --tool=callgrind --callgrind-out-file=/dev/null "${4:-$CLIENTS_BIN}" 2>&1 >/dev/null |
            sed -n 's/.*Collected : //p'
    }
    for spec in h1_get_13b:100 h1_get_json:100 h1_get_64k:100 h1_get_1m:30 h1_post_4k_echo:100 \
        h2c_get_13b:100 h2c_get_64k:100 h2c_get_1m:30 h2c_concurrent_10:20 h1_concurrent_50:5 \
        h1_fresh_connection:50 h2c_fresh_connection:50 h3_get_13b:100 h3_get_1m:30 \
        h3_concurrent_10:20; do
        scenario=${spec%%:*} n=${spec##*:}
        if [[ -n ${TOWLINE_BENCH_ONLY:-} ]] && ! grep -qE "${TOWLINE_BENCH_ONLY//,/|}" <<<"$scenario"; then
            continue
        fi
        clients=(bare_hyper hyper_util reqwest aioduct towline towline_all_layers towline_transport)
        # Only these have HTTP/3 rows (see benches/benches/clients.rs).
        [[ $scenario == h3_* ]] && clients=(bare_hyper towline towline_all_layers towline_transport)
        for client in "${clients[@]}"; do
            one=$(count "$scenario" "$client" "$n")
            two=$(count "$scenario" "$client" $((2 * n)))
            if [[ -n $one && -n $two ]]; then
                echo "$scenario $client $(((two - one) / (2 * n)))" | tee -a "$WORK/instructions.txt"
            fi
        done
    done
    # The runtime rows, h1 13 B only (the rows the smol question turns on).
    if [[ -z ${TOWLINE_BENCH_ONLY:-} ]] || grep -qE "${TOWLINE_BENCH_ONLY//,/|}" <<<h1_get_13b; then
        for row in tokio_bare_hyper tokio_towline smol_bare_hyper smol_towline \
            smol_global_bare_hyper smol_global_towline smol_isahc; do
            one=$(count h1_get_13b "$row" 100 "$RUNTIMES_BIN")
            two=$(count h1_get_13b "$row" 200 "$RUNTIMES_BIN")
            if [[ -n $one && -n $two ]]; then
                echo "h1_get_13b $row $(((two - one) / 200))" | tee -a "$WORK/instructions.txt"
            fi
        done
    fi
fi

echo "==> new connections during the counted scenarios (scenario client new requests)"
# None when TOWLINE_BENCH_ONLY left out every counted scenario.
{ grep '^CONNECTIONS ' "$WORK/bench.log" || true; } | cut -d' ' -f2- | sed 's/^/    /'

echo "==> memory check: 1 GiB streamed through each client into a sink"
"$STREAM_BIN" serve >"$WORK/server.out" &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
ADDR=""
for _ in $(seq 100); do
    ADDR=$(sed -n 's/^h1 //p' "$WORK/server.out")
    [[ -n $ADDR ]] && break
    sleep 0.1
done
[[ -n $ADDR ]] || { echo "the stream server did not start" >&2; exit 1; }
: >"$WORK/memory.txt"
for client in towline towline_blocking reqwest bare_hyper; do
    /usr/bin/time -v "$STREAM_BIN" "$client" "$ADDR" 2>"$WORK/time-$client.txt"
    kib=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time-$client.txt")
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$WORK/time-$client.txt")
    echo "$client $kib $wall" >>"$WORK/memory.txt"
    echo "    $client: peak RSS $kib KiB, wall $wall"
done
echo "==> memory check: 100 MiB parallel range download to a file (towline), 1 and 4 connections"
: >"$WORK/download.txt"
for connections in 1 4; do
    /usr/bin/time -v "$STREAM_BIN" download "$ADDR" "$connections" 2>"$WORK/time-download-$connections.txt"
    kib=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time-download-$connections.txt")
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$WORK/time-download-$connections.txt")
    echo "$connections $kib $wall" >>"$WORK/download.txt"
    echo "    $connections connection(s): peak RSS $kib KiB, wall $wall"
done
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
trap - EXIT

TOTAL_SECS=$(($(date +%s) - START))
echo "==> load after: $(uptime)"
cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "nproc=$(nproc)"
    echo "CPU=${cpu:-unknown}"
    echo "kernel=$(uname -sr)"
    echo "rustc=$(rustc -V)"
    echo "load average before (1/5/15 min)=$LOAD_BEFORE"
    echo "load average after (1/5/15 min)=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "rounds=$ROUNDS"
    echo "tokio runtime (bench)=$BENCH_RUNTIME"
    echo "criterion settings per round=${CRITERION_ARGS[*]}"
    echo "GLIBC_TUNABLES (bench only)=$BENCH_TUNABLES"
    echo "wall time: build=${BUILD_SECS} s"
    echo "wall time: measurement=${MEASURE_SECS} s"
    echo "wall time: whole script=${TOTAL_SECS} s"
    echo "reproduce=benches/run.sh"
    echo "all_layers=$ALL_LAYERS"
} >"$WORK/meta.txt"

"$REPORT_BIN" --samples "$WORK/samples.tsv" --sample-size "$SAMPLE_SIZE" \
    --instructions "$WORK/instructions.txt" --runtimes "$WORK/runtimes.tsv" --meta "$WORK/meta.txt" \
    --connections "$WORK/bench.log" --memory "$WORK/memory.txt" --download "$WORK/download.txt" \
    --lock "$ROOT/Cargo.lock" --out "$OUT"
echo "==> done in ${TOTAL_SECS} s (build ${BUILD_SECS} s, measurement ${MEASURE_SECS} s)"
