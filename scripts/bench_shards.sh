#!/usr/bin/env bash
# Distributed runs on one machine: the same total load as 1 process, 2 shards and 4
# shards (`--shard I/N --start-at T --out-dir`, then `capplan merge`), against one
# `capplan target`. The target is not the limit (USERS users over a constant
# SERVICE ms on WORKERS workers: the ideal is USERS / SERVICE requests/s), so the
# three must measure the same; the figures show what sharding and merging cost.
# Prints per round: requests/s, p50 and p99 of each, the merge's wall time; then
# the medians and the ratios to the 1-process run.
#
# Installs nothing: needs python3. Usage: scripts/bench_shards.sh [DURATION_S] [ROUNDS]
# (CAPPLAN=path overrides the binary; USERS, SERVICE_MS, WORKERS the load).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-5}
ROUNDS=${2:-3}
USERS=${USERS:-32}
SERVICE_MS=${SERVICE_MS:-10}
WORKERS=${WORKERS:-128}
bin=${CAPPLAN:-target/release/capplan}
[[ -x $bin ]] || cargo build --release --quiet
work=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

"$bin" target --port 0 --workers "$WORKERS" --service-time "${SERVICE_MS}ms" >"$work/target" 2>/dev/null &
pid=$!
for _ in $(seq 100); do [[ -s $work/target ]] && break; sleep 0.05; done
url=$(sed 's/^listening on //' "$work/target")/

field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
load=(--users "$USERS" --duration "${DURATION}s" --warmup 1s --quiet)

# run N: one process (N=1, no shard flags) or N shards and their merge; prints
# "rps p50 p99 merge_ms".
run() {
    local n=$1 dir="$work/run-$1-$RANDOM"
    mkdir -p "$dir"
    if [[ $n == 1 ]]; then
        "$bin" loadtest --url "$url" "${load[@]}" --json "$dir/merged.json" >/dev/null
        echo "$(field "$dir/merged.json" "d['rps']") $(field "$dir/merged.json" "d['latency_ms']['p50']") $(field "$dir/merged.json" "d['latency_ms']['p99']") 0"
        return
    fi
    local at pids=() dirs=()
    at=$(date -u -d '+2 sec' +%Y-%m-%dT%H:%M:%SZ)
    for i in $(seq 0 $((n - 1))); do
        "$bin" loadtest --url "$url" "${load[@]}" --shard "$i/$n" --start-at "$at" \
            --out-dir "$dir/shard-$i" >/dev/null &
        pids+=($!)
        dirs+=("$dir/shard-$i")
    done
    for p in "${pids[@]}"; do wait "$p"; done
    local t0 t1
    t0=$(date +%s%N)
    "$bin" merge "${dirs[@]}" --quiet --json "$dir/merged.json"
    t1=$(date +%s%N)
    echo "$(field "$dir/merged.json" "d['rps']") $(field "$dir/merged.json" "d['latency_ms']['p50']") $(field "$dir/merged.json" "d['latency_ms']['p99']") $(( (t1 - t0) / 1000000 ))"
}

echo "capplan shards benchmark: $(nproc) cores, $bin, --users $USERS ${DURATION}s, target $WORKERS workers ${SERVICE_MS}ms (ideal $((USERS * 1000 / SERVICE_MS)) rps)"
echo "round shards rps p50_ms p99_ms merge_ms"
for round in $(seq "$ROUNDS"); do
    for n in 1 2 4; do
        echo "$round $n $(run "$n")" | tee -a "$work/results"
    done
done
python3 - "$work/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for r, n, rps, p50, p99, merge_ms in rows:
    by.setdefault(n, []).append((float(rps), float(p50), float(p99), float(merge_ms)))
med = {n: [statistics.median(c) for c in zip(*v)] for n, v in by.items()}
one = med["1"]
print("\n| processes | rps (median) | p50 ms | p99 ms | merge ms | rps / 1 process |")
print("|---|---|---|---|---|---|")
for n in ("1", "2", "4"):
    rps, p50, p99, merge = med[n]
    print(f"| {n} | {rps:,.1f} | {p50:.2f} | {p99:.2f} | {merge:.0f} | {rps / one[0]:.3f}x |")
PY
