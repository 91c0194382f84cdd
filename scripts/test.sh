#!/usr/bin/env bash
# The whole test suite, in two lanes (CI runs it through .ci/run):
#
#   fast lane (no libtorch, fails in seconds on formatting):
#     fmt, clippy and tests of the exact reference and the CLI, their docs with broken links denied
#   libtorch lane (installs libtorch 2.11.0 into .venv on first use, scripts/libtorch.sh):
#     tests of the neural learners and of the CLI with them, clippy and docs of everything
#
#   scripts/test.sh               both lanes: the whole suite
#   scripts/test.sh --fast        the fast lane only
#   scripts/test.sh --libtorch    the libtorch lane only
#
# Other arguments go to every `cargo test` (a test-name filter, or `-- --nocapture`).
set -euo pipefail
cd "$(dirname "$0")/.."

fast=1
libtorch=1
test_args=()
for arg in "$@"; do
    case "$arg" in
        --fast) libtorch=0 ;;
        --libtorch) fast=0 ;;
        *) test_args+=("$arg") ;;
    esac
done
if [ "$fast" -eq 0 ] && [ "$libtorch" -eq 0 ]; then
    echo "scripts/test.sh: --fast and --libtorch exclude each other (give neither for both lanes)" >&2
    exit 2
fi

# Warnings in the docs and broken intra-doc links fail the build.
doc_flags="-D warnings -D rustdoc::broken_intra_doc_links"

step=""
trap 'echo "== FAILED: $step ==" >&2' ERR
lane() {
    step="$1"
    echo "== $1 =="
}

if [ "$fast" -eq 1 ]; then
    lane "fast lane: fmt"
    cargo fmt --all -- --check
    lane "fast lane: clippy"
    cargo clippy -p qfactor -p qfactor-reference --all-targets -- -D warnings
    lane "fast lane: test"
    cargo test -p qfactor-reference -p qfactor ${test_args[@]+"${test_args[@]}"}
    lane "fast lane: doc"
    RUSTDOCFLAGS="$doc_flags" cargo doc -p qfactor-reference -p qfactor --no-deps
fi

if [ "$libtorch" -eq 1 ]; then
    lane "libtorch lane: set-up"
    scripts/libtorch.sh >/dev/null
    lane "libtorch lane: test"
    # The reference's tests do not depend on the `neural` feature: the fast lane runs them.
    cargo test --workspace --exclude qfactor-reference --features neural \
        ${test_args[@]+"${test_args[@]}"}
    lane "libtorch lane: clippy"
    cargo clippy --workspace --all-targets --all-features -- -D warnings
    lane "libtorch lane: doc"
    RUSTDOCFLAGS="$doc_flags" cargo doc --workspace --all-features --no-deps
fi

echo "== passed =="
