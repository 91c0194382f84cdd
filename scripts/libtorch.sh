#!/usr/bin/env bash
# libtorch for qfactor's neural learners (tch 0.24 needs libtorch 2.11.0).
#
# Idempotent: creates the project-local virtual environment .venv with torch==2.11.0 from
# PyPI when it is missing (or holds another version), and reuses it afterwards.
#
#   scripts/libtorch.sh                 # install if needed, print the variables to export
#   eval "$(scripts/libtorch.sh)"       # … and export them into this shell
#   source scripts/libtorch.sh          # same as the eval form
#   scripts/libtorch.sh CMD ARGS…       # install if needed, then run CMD with them set,
#                                       # e.g. scripts/libtorch.sh cargo test --workspace --features neural
#
# Built binaries carry an rpath to libtorch (see build.rs), so running them needs nothing;
# LD_LIBRARY_PATH is exported only as a fallback for binaries built elsewhere.
# Environment: PYTHON (default python3, ≥ 3.10), QFACTOR_VENV (default <repo>/.venv),
# TORCH_INDEX_URL (optional, e.g. https://download.pytorch.org/whl/cpu for a CPU-only wheel).

_qf_main() {
    local root venv py want have torch_dir
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    venv="${QFACTOR_VENV:-$root/.venv}"
    py="${PYTHON:-python3}"
    want="2.11.0"
    have=""
    if [ -x "$venv/bin/python" ]; then
        have="$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true)"
    fi
    if [ "$have" != "$want" ]; then
        echo "libtorch.sh: installing torch==$want into $venv (this downloads ~1-3 GB once)" >&2
        if [ ! -x "$venv/bin/python" ]; then
            "$py" -m venv "$venv" || return 1
        fi
        local extra=()
        if [ -n "${TORCH_INDEX_URL:-}" ]; then extra=(--index-url "$TORCH_INDEX_URL"); fi
        "$venv/bin/python" -m pip install --quiet --upgrade pip >&2 || return 1
        "$venv/bin/python" -m pip install --quiet "${extra[@]}" "torch==$want" >&2 || return 1
        have="$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true)"
        if [ "$have" != "$want" ]; then
            echo "libtorch.sh: expected torch $want in $venv, found '${have:-none}'" >&2
            return 1
        fi
    fi
    torch_dir="$("$venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null)"
    if [ ! -f "$torch_dir/lib/libtorch_cpu.so" ]; then
        echo "libtorch.sh: $torch_dir/lib/libtorch_cpu.so not found" >&2
        return 1
    fi
    # A stable link for .cargo/config.toml, so plain `cargo build --features neural` finds it.
    ln -sfn "$torch_dir" "$venv/libtorch"
    # tch's build (torch-sys) reads LIBTORCH; the CXX11 ABI of PyPI wheels ≥ 2.7 is the default (1).
    export LIBTORCH="$torch_dir"
    export LD_LIBRARY_PATH="$torch_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    unset LIBTORCH_USE_PYTORCH
    _QF_EXPORTS="export LIBTORCH='$LIBTORCH'
export LD_LIBRARY_PATH='$LD_LIBRARY_PATH'"
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # Sourced: export into the caller's shell.
    _qf_main
else
    set -euo pipefail
    _qf_main
    if [ "$#" -gt 0 ]; then
        exec "$@"
    fi
    printf '%s\n' "$_QF_EXPORTS"
fi
