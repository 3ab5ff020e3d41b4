#!/usr/bin/env bash
# Accuracy and headroom of `capplan target`. Saturation is measured with
# scripts/closed_loop.py (50 keep-alive connections, each sends its next request
# as soon as the answer arrives; stdlib python); latency and headroom with curl.
#   1. saturated throughput of --workers 8 --service-time 20ms (ideal: 400 rps)
#   2. unloaded p50 of a 20 ms target, one connection (ideal: 20 ms)
#   3. headroom: --workers 1000 --service-time 0ms (the server's own cost)
# Usage: scripts/bench_target.sh [ROUNDS]   (CAPPLAN=path overrides the binary)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
for tool in curl python3 bc; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done
bin=${CAPPLAN:-target/release/capplan}
[[ -x $bin ]] || cargo build --release --quiet
pid=

start_target() { # args... ; sets url and pid
    local out; out=$(mktemp)
    "$bin" target --port 0 "$@" >"$out" 2>/dev/null &
    pid=$!
    for _ in $(seq 100); do [[ -s $out ]] && break; sleep 0.05; done
    url=$(sed 's/^listening on //' "$out"); rm -f "$out"
}
stop_target() { kill -INT "$pid"; wait "$pid" || true; }
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null || true' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

closed_loop_rps() { # url requests -> rps
    local t0 t1
    t0=$(date +%s.%N)
    curl -s --no-progress-meter --parallel --parallel-max 50 -o /dev/null "$1/?[1-$2]" 2>/dev/null
    t1=$(date +%s.%N)
    echo "$2 / ($t1 - $t0)" | bc -l
}

echo "capplan target benchmark ($(nproc) cores, $bin)"
for round in $(seq "$rounds"); do
    start_target --workers 8 --service-time 20ms
    curl -s -o /dev/null "$url/"  # warm-up
    read -r rps _ < <(python3 scripts/closed_loop.py "$url/" 50 0.5 5)
    # One keep-alive connection, 60 requests in a row; the first (connect) is dropped.
    p50=$(curl -s -w 'T %{time_total}\n' "$url/?[1-60]" | grep '^T ' | tail -n +2 | cut -c3- | median)
    stop_target
    start_target --workers 1000 --service-time 0ms
    headroom=$(closed_loop_rps "$url" 50000)
    stop_target
    printf 'round %d: saturated %.1f rps (ideal 400), unloaded p50 %.2f ms (ideal 20), headroom %.0f rps\n' \
        "$round" "$rps" "$(echo "$p50 * 1000" | bc -l)" "$headroom"
done
