#!/usr/bin/env bash
# Stress the first run of an rshiv pyz (issue 5): a crowd of simultaneous first runs, then
# first runs killed with SIGKILL at random moments. Pass/fail, not a timing.
#
#   bench/stress_first_run.sh [-n N] [-m M] [-w W] [--max-delay-ms MS]
#                             [--pyz FILE [-- ARGS...]]
#
# 0. One first run alone, timed: it must succeed, and it sets the kill window below.
# 1. N (default 32) first runs start at the same instant (released by a lock) into an empty
#    cache root: all must exit 0, leaving exactly one <name>_<id> extraction, no .tmp-* or
#    .trash-* dirs, and a tree that matches the payload file by file (size and CRC).
# 2. M times (default 20): empty the root, start a first run, SIGKILL its process group
#    after a random 0..MS ms; the next run must exit 0 and leave the same complete tree,
#    the crashed run's temp dir cleaned up. MS defaults to 1.2 times the first run's time
#    (at least 300), so that kills land before, during and after the extraction. W runs
#    (default 2) start beside each victim and must all exit 0: when the victim held the
#    extraction lock, one of them takes over.
#
# Without --pyz it builds one with rshiv from bench/fixtures/heavy (about 150 MB to unpack,
# so that the kills land during the extraction) and runs it on a tiny JSON file.
# Environment: RSHIV (the binary; default target/release/rshiv, built if missing),
# BENCH_PYTHON (the interpreter; default python3), STRESS_ROOT (a parent dir for the cache
# roots; default /dev/shm), BENCH_WORK (default bench/work: its venv supplies uv).
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$bench_dir")
check=$bench_dir/stress_check.py

concurrent=32
kills=20
waiters=2
max_delay_ms=
pyz=
app_args=()
while (($#)); do
    case $1 in
        -n) concurrent=$2; shift 2 ;;
        -m) kills=$2; shift 2 ;;
        -w) waiters=$2; shift 2 ;;
        --max-delay-ms) max_delay_ms=$2; shift 2 ;;
        --pyz) pyz=$2; shift 2 ;;
        --) shift; app_args=("$@"); break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "stress: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

python=$("${BENCH_PYTHON:-python3}" -c 'import sys; print(sys.executable)')
work=${BENCH_WORK:-$bench_dir/work}
scratch=$(mktemp -d "${STRESS_ROOT:-/dev/shm}/rshiv-stress-XXXXXX")
trap 'rm -rf "$scratch"' EXIT

if [[ -z $pyz ]]; then
    rshiv=${RSHIV:-${CARGO_TARGET_DIR:-$repo/target}/release/rshiv}
    if [[ ! -x $rshiv ]]; then
        (cd "$repo" && cargo build --release --quiet)
    fi
    mkdir -p "$work/stress"
    pyz=$work/stress/stress.pyz
    echo "stress: building $pyz with $rshiv" >&2
    PATH=$work/venv/bin:$PATH UV_CACHE_DIR=$work/cache/uv PIP_CACHE_DIR=$work/cache/pip \
        "$rshiv" -q -o "$pyz" -e json.tool:main -r "$bench_dir/fixtures/heavy/requirements.txt"
    app_args=("$bench_dir/fixtures/heavy/tiny.json")
fi

read -r name build_id files < <("$python" "$check" facts "$pyz")
echo "stress: $pyz: app $name, build $build_id, $files files" >&2

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# Where a first run into root $1 stands: published (the marker exists), extracting (a tmp
# dir exists) or starting. Plain shell, so that the kill follows the delay closely.
moment() {
    local tmp=("$1/.${name}_${build_id}".tmp-*)
    if [[ -e $1/${name}_${build_id}/.rshiv-ready ]]; then
        echo published
    elif [[ -e ${tmp[0]} ]]; then
        echo extracting
    else
        echo starting
    fi
}

# One run of the app with every cache-root variable pointing at $1; output to $2.
run_app() {
    RSHIV_ROOT=$1 SHIV_ROOT=$1 timeout 300 "$python" "$pyz" "${app_args[@]}" >"$2" 2>&1
}

# Phase 0: one first run alone, which also sizes the kill window.
mkdir -p "$scratch/logs"
start=${EPOCHREALTIME/./}
if ! run_app "$scratch/alone" "$scratch/logs/alone.log"; then
    echo "stress: a first run alone fails: $(tail -n 5 "$scratch/logs/alone.log")" >&2
    exit 1
fi
first_run_ms=$(((${EPOCHREALTIME/./} - start) / 1000))
if [[ -z $max_delay_ms ]]; then
    max_delay_ms=$((first_run_ms * 6 / 5 > 300 ? first_run_ms * 6 / 5 : 300))
fi
echo "phase 0: a first run alone took $first_run_ms ms; kills within 0..$max_delay_ms ms" >&2

# Phase 1: N first runs released together: each waits for a shared lock on a gate file that
# this shell holds exclusively until all have started.
root=$scratch/crowd
mkdir -p "$root"
exec 4>"$scratch/gate"
flock -x 4
pids=()
for i in $(seq 1 "$concurrent"); do
    (
        exec 4>&-
        flock -s "$scratch/gate" true
        run_app "$root" "$scratch/logs/crowd-$i.log"
    ) &
    pids+=("$!")
done
sleep 0.5  # let every run reach the gate
start=${EPOCHREALTIME/./}
flock -u 4
exec 4>&-
failed_runs=0
for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
        failed_runs=$((failed_runs + 1))
        fail "concurrent run $((i + 1)) exited non-zero:" \
            "$(tail -n 3 "$scratch/logs/crowd-$((i + 1)).log")"
    fi
done
elapsed_ms=$(((${EPOCHREALTIME/./} - start) / 1000))
if ! "$python" "$check" root "$pyz" "$root"; then
    fail "the cache root after $concurrent concurrent first runs is wrong (above)"
fi
echo "phase 1: $concurrent concurrent first runs, $failed_runs failed, all done in" \
    "$elapsed_ms ms" >&2

# Phase 2: kill a first run at a random moment, then the next run must succeed.
declare -A landed=([starting]=0 [extracting]=0 [published]=0)
root=$scratch/killed
for i in $(seq 1 "$kills"); do
    rm -rf "$root"
    mkdir -p "$root"
    delay=$((RANDOM % (max_delay_ms + 1)))
    # In a non-interactive shell the background child is no group leader, so setsid runs
    # the app in place: $! is its pid and its own process group, killed as a whole.
    RSHIV_ROOT=$root SHIV_ROOT=$root setsid "$python" "$pyz" "${app_args[@]}" \
        >"$scratch/logs/killed-$i.log" 2>&1 &
    victim=$!
    companions=()
    for j in $(seq 1 "$waiters"); do
        run_app "$root" "$scratch/logs/companion-$i-$j.log" &
        companions+=("$!")
    done
    sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
    moment=$(moment "$root")
    kill -KILL -- "-$victim" 2>/dev/null || true
    wait "$victim" 2>/dev/null || true
    landed[$moment]=$((landed[$moment] + 1))
    for j in "${!companions[@]}"; do
        if ! wait "${companions[$j]}"; then
            fail "a run beside one killed at ${delay} ms ($moment) exited non-zero:" \
                "$(tail -n 3 "$scratch/logs/companion-$i-$((j + 1)).log")"
        fi
    done
    if ! run_app "$root" "$scratch/logs/after-$i.log"; then
        fail "the run after a kill at ${delay} ms ($moment) exited non-zero:" \
            "$(tail -n 3 "$scratch/logs/after-$i.log")"
        continue
    fi
    if ! "$python" "$check" root "$pyz" "$root"; then
        fail "the cache root after a kill at ${delay} ms ($moment) is wrong (above)"
    fi
done
echo "phase 2: $kills kills (${landed[starting]} before extracting, ${landed[extracting]} while" \
    "extracting, ${landed[published]} after publishing), $waiters runs beside each;" \
    "each followed by a checked run" >&2

if ((failures)); then
    echo "stress: $failures failure(s)" >&2
    exit 1
fi
echo "stress: all checks passed" >&2
