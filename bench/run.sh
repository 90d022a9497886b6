#!/usr/bin/env bash
# rshiv's benchmark: builds and starts the same apps with rshiv, shiv, pex and the stdlib
# zipapp, prints one markdown table per figure group and saves them to bench/results/.
#
#   bench/run.sh [--quick] [--workload trivial|simple_api|heavy] [--runs N] [--warm-runs N]
#                [--tools rshiv-uv,rshiv-pip,shiv,pex,zipapp] [--only build|start|all]
#
# Environment: RSHIV (an rshiv binary; default: cargo build --release of this checkout),
# BENCH_PYTHON (the interpreter that runs every app; default: python3 on PATH),
# BENCH_WORK (venv, package caches, outputs and logs; default: bench/work).
# The tools come from the package index by name, through pip; see bench/README.md.
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$bench_dir")

for arg in "$@"; do
    if [[ $arg == -h || $arg == --help ]]; then
        exec python3 "$bench_dir/bench.py" --help
    fi
done

# The interpreter itself, not a wrapper such as a pyenv shim that would add its own start-up.
python=$("${BENCH_PYTHON:-python3}" -c 'import sys; print(sys.executable)')
work=${BENCH_WORK:-$bench_dir/work}
venv=$work/venv
mkdir -p "$work"

if [[ ! -x $venv/bin/shiv || ! -x $venv/bin/pex || ! -x $venv/bin/uv ]]; then
    echo "bench: creating $venv with shiv, pex and uv" >&2
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip shiv pex uv
fi

if [[ -n ${RSHIV:-} ]]; then
    rshiv=$RSHIV
else
    rshiv=${CARGO_TARGET_DIR:-$repo/target}/release/rshiv
    echo "bench: cargo build --release" >&2
    if ! (cd "$repo" && cargo build --release --quiet); then
        echo "bench: warning: rshiv did not build; its columns stay empty" >&2
    fi
fi

exec "$venv/bin/python" "$bench_dir/bench.py" --work "$work" --venv-bin "$venv/bin" \
    --python "$python" --rshiv "$rshiv" "$@"
