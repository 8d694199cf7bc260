#!/usr/bin/env bash
# Runs fuzz targets for a fixed time each, starting from the checked-in seeds.
#
#   fuzz/run.sh                       every target, 60 s each
#   fuzz/run.sh parse_sts set_cookie  those targets
#   SECONDS_PER_TARGET=300 fuzz/run.sh decompress_zstd
#
# Each run is `cargo fuzz run <target> -- -max_total_time=<s>` on the default corpus
# directory fuzz/corpus/<target>/ (git-ignored), which is first topped up with
# fuzz/seeds/<target>/. Logs go to fuzz/artifacts/<target>.log, crashes to
# fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP="${RUSTC_BOOTSTRAP:-1}"
seconds="${SECONDS_PER_TARGET:-60}"
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(cargo fuzz list)
fi
mkdir -p artifacts
status=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    if [[ -d "seeds/$target" ]]; then
        cp -n "seeds/$target/"* "corpus/$target/" 2>/dev/null || true
    fi
    echo "== $target: ${seconds}s"
    if cargo fuzz run "$target" -- -max_total_time="$seconds" >"artifacts/$target.log" 2>&1; then
        grep -E '^Done [0-9]+ runs' "artifacts/$target.log" || tail -n 1 "artifacts/$target.log"
    else
        status=1
        echo "!! $target FAILED; see fuzz/artifacts/$target.log"
        grep -E 'panicked at|ERROR: (libFuzzer|AddressSanitizer)|Test unit written' \
            "artifacts/$target.log" || true
    fi
done
exit "$status"
