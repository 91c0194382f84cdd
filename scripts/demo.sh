#!/usr/bin/env bash
# The teaching demo: why VDN and QMIX fail where QTRAN succeeds, computed in under a minute.
# Installs libtorch 2.11.0 into .venv on first use (scripts/libtorch.sh), builds in release
# mode, then runs `qfactor demo` with any arguments given here, e.g.
#   scripts/demo.sh                 # the story, in the terminal
#   scripts/demo.sh --out demo-run  # … plus pictures and a one-page report.html per game
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/libtorch.sh >/dev/null
cargo run --release --features neural -- demo "$@"
