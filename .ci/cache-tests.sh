#!/usr/bin/env bash
# Runs the HTTP cache conformance suite (npm http-cache-tests, by Mark Nottingham) against
# towline's cache layer, through the `cache_proxy` example (a reverse proxy whose client side
# is towline's transport with `CacheLayer`), and once through the same proxy without the
# cache for the baseline.
#
# Usage: .ci/cache-tests.sh [DIR]
#   DIR (or $CACHE_TESTS_DIR): where the suite is installed and results are written.
#       Default: $TOWLINE_PEERS/cache-tests, else $PEERS_DIR/cache-tests, else a temp dir.
#   CARGO_TARGET_DIR: the shared target dir the adapter is built in (default ./target).
#   CACHE_TESTS_ORIGIN_PORT (8000), CACHE_TESTS_PROXY_PORT (8090), CACHE_TESTS_BASE_PORT (8091).
#
# Prints "cache-tests: none N/T, towline M/T", writes results-{none,towline}.json in DIR,
# and compares the failing test ids with .ci/cache-tests-known-failures.txt (lines
# "test-id  reason"): exits non-zero when a test fails that is not listed there, and prints
# listed tests that now pass so the list can be kept honest.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SUITE_VERSION=0.4.5
KNOWN="$ROOT/.ci/cache-tests-known-failures.txt"
ORIGIN_PORT=${CACHE_TESTS_ORIGIN_PORT:-8000}
PROXY_PORT=${CACHE_TESTS_PROXY_PORT:-8090}
BASE_PORT=${CACHE_TESTS_BASE_PORT:-8091}

for tool in node npm curl; do
    if ! command -v "$tool" >/dev/null; then
        echo "==> $tool is missing: installing Debian's nodejs and npm"
        apt-get install -y nodejs npm curl >/dev/null 2>&1 ||
            { apt-get update >/dev/null && apt-get install -y nodejs npm curl >/dev/null; } ||
            { echo "cache-tests: $tool is missing and could not be installed" >&2; exit 1; }
    fi
done

DIR=${1:-${CACHE_TESTS_DIR:-}}
if [[ -z $DIR ]]; then
    if [[ -n ${TOWLINE_PEERS:-} ]]; then
        DIR=$TOWLINE_PEERS/cache-tests
    elif [[ -n ${PEERS_DIR:-} ]]; then
        DIR=$PEERS_DIR/cache-tests
    else
        DIR=$(mktemp -d "${TMPDIR:-/tmp}/towline-cache-tests.XXXXXX")
    fi
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

# wait_for PORT NAME LOG: until something answers HTTP on 127.0.0.1:PORT (30 s at most).
wait_for() {
    local port=$1 name=$2 log=$3 i
    for ((i = 0; i < 300; i++)); do
        if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
            return 0
        fi
        sleep 0.1
    done
    echo "cache-tests: $name did not start on port $port; its log:" >&2
    cat "$log" >&2 || true
    return 1
}

SUITE=$DIR/node_modules/http-cache-tests
installed=$(node -e "try{console.log(require('$SUITE/package.json').version)}catch(e){}" 2>/dev/null || true)
if [[ $installed != "$SUITE_VERSION" ]]; then
    echo "==> npm install http-cache-tests@$SUITE_VERSION into $DIR"
    (cd "$DIR" && npm install --no-audit --no-fund --loglevel=error "http-cache-tests@$SUITE_VERSION")
fi

echo "==> building the cache_proxy adapter"
cargo build --quiet --example cache_proxy
PROXY=$CARGO_TARGET_DIR/debug/examples/cache_proxy

echo "==> starting the suite's origin on 127.0.0.1:$ORIGIN_PORT"
(cd "$SUITE" && exec env npm_package_config_protocol=http npm_package_config_port="$ORIGIN_PORT" \
    npm_package_config_pidfile="$DIR/origin.pid" node server/server.mjs) >"$DIR/origin.log" 2>&1 &
PIDS+=($!)
wait_for "$ORIGIN_PORT" origin "$DIR/origin.log"

ORIGIN=http://127.0.0.1:$ORIGIN_PORT
"$PROXY" --listen "127.0.0.1:$PROXY_PORT" --origin "$ORIGIN" >"$DIR/proxy.log" 2>&1 &
PIDS+=($!)
"$PROXY" --listen "127.0.0.1:$BASE_PORT" --origin "$ORIGIN" --no-cache >"$DIR/proxy-none.log" 2>&1 &
PIDS+=($!)
wait_for "$PROXY_PORT" cache_proxy "$DIR/proxy.log"
wait_for "$BASE_PORT" "cache_proxy --no-cache" "$DIR/proxy-none.log"

# run_suite PORT OUT: the suite's CLI against 127.0.0.1:PORT, results JSON into OUT.
run_suite() {
    (cd "$SUITE" && npm_package_config_base="http://127.0.0.1:$1" npm_package_config_id= \
        node --no-warnings cli.mjs) >"$2"
}

echo "==> running the suite without a cache (baseline) and with towline's cache"
run_suite "$BASE_PORT" "$DIR/results-none.json"
run_suite "$PROXY_PORT" "$DIR/results-towline.json"

node - "$DIR/results-none.json" "$DIR/results-towline.json" "$KNOWN" <<'JS'
const fs = require('fs')
const [none, towline, knownFile] = process.argv.slice(2).map(String)
const load = file => JSON.parse(fs.readFileSync(file, 'utf8'))
const baseline = load(none)
const results = load(towline)
const total = Object.keys(results).length
const passed = r => Object.values(r).filter(v => v === true).length
console.log(`cache-tests: none ${passed(baseline)}/${Object.keys(baseline).length}, towline ${passed(results)}/${total}`)

const known = new Map()
if (fs.existsSync(knownFile)) {
  for (const line of fs.readFileSync(knownFile, 'utf8').split('\n')) {
    const trimmed = line.trim()
    if (!trimmed || trimmed.startsWith('#')) continue
    const [id, ...reason] = trimmed.split(/\s+/)
    known.set(id, reason.join(' '))
  }
}
const failing = Object.entries(results).filter(([, v]) => v !== true)
const unexpected = failing.filter(([id]) => !known.has(id))
const nowPassing = [...known.keys()].filter(id => results[id] === true)
const missing = [...known.keys()].filter(id => !(id in results))
for (const id of nowPassing) console.log(`cache-tests: listed as a known failure but passes: ${id}`)
for (const id of missing) console.log(`cache-tests: listed as a known failure but not in the suite: ${id}`)
for (const [id, v] of unexpected) console.log(`cache-tests: UNEXPECTED FAILURE ${id}: ${JSON.stringify(v)}`)
console.log(`cache-tests: ${failing.length} failing, ${failing.length - unexpected.length} of them explained in ${knownFile.replace(/.*\/\.ci\//, '.ci/')}`)
process.exit(unexpected.length ? 1 : 0)
JS
