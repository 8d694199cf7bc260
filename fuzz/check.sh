#!/usr/bin/env bash
# Builds every fuzz target (sanitizer + coverage build, no fuzzing), as a quick check that the
# targets still compile against the library. Not part of CI: it needs cargo-fuzz
# (`cargo install cargo-fuzz --locked`).
#
#   fuzz/check.sh                 build all targets
#   fuzz/check.sh --regressions   also replay every input under fuzz/regressions/<target>/
#
# The toolchain is stable; RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly-only flags
# (-Zsanitizer=address, -Cpasses=sancov-module, ...). See README.md.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP="${RUSTC_BOOTSTRAP:-1}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/check.sh: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2
    exit 2
fi

cargo fuzz build
echo "fuzz/check.sh: built $(cargo fuzz list | wc -l) targets: $(cargo fuzz list | tr '\n' ' ')"

if [[ "${1:-}" == "--regressions" ]]; then
    status=0
    for dir in regressions/*/; do
        [[ -d "$dir" ]] || continue
        target="$(basename "$dir")"
        inputs=("$dir"*)
        [[ -e "${inputs[0]}" ]] || continue
        echo "fuzz/check.sh: replaying ${#inputs[@]} input(s) for $target"
        if ! cargo fuzz run "$target" "${inputs[@]}" >/dev/null 2>&1; then
            echo "fuzz/check.sh: $target fails on a regression input" >&2
            status=1
        fi
    done
    exit "$status"
fi
