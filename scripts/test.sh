#!/usr/bin/env bash
# The whole test suite: the exact reference, the command line, and the neural learners on CPU.
# Installs libtorch 2.11.0 into .venv on first use (scripts/libtorch.sh), reuses it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/libtorch.sh >/dev/null
cargo test --workspace --features neural "$@"
