#!/usr/bin/env bash
# Benchmark `capplan simulate` (see docs/BENCHMARKS.md, section "simulate").
#
# Targets: one year at 1-minute steps (525,600 steps) simulates in < 100 ms on one
# core; --recommend over >= 1,000 candidate policies on that year in < 10 s on all cores.
# The core's wall time is read from `runtime.timing_ms` in `--json` (file reading
# and parsing excluded); end-to-end wall time is printed too.
#
# Usage: scripts/bench_simulate.sh [RUNS]   (default 5 runs; medians reported)
set -euo pipefail
runs=${1:-5}
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/capplan
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

source scripts/lib/bench_common.sh
year_of_traffic "$tmp/year.csv"

field() { grep -o "\"$1\": [0-9.e+-]*" | head -1 | awk '{ print $2 }'; }

common=(simulate --traffic "$tmp/year.csv" --rps-per-worker 10 --service-time 50ms --quiet)

echo "simulate: 525,600 steps, single thread ($runs runs)"
: > "$tmp/core"; : > "$tmp/wall"
for _ in $(seq "$runs"); do
  t0=$(now_ms)
  RAYON_NUM_THREADS=1 "$bin" "${common[@]}" --json "$tmp/s.json"
  t1=$(now_ms)
  field simulate < "$tmp/s.json" >> "$tmp/core"
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }' >> "$tmp/wall"
done
echo "  core median: $(median < "$tmp/core") ms   (runs: $(tr '\n' ' ' < "$tmp/core"))"
echo "  end-to-end median (read 12 MB CSV + simulate): $(median < "$tmp/wall") ms"

# The what-if levers on the same year: demand scaled once, the database cap binding
# at the daily peaks (100 connections at 5 per worker: 5 instances of 4 workers).
whatif=(--cdn-offload 0.3 --cache-hit 0.5 --db-max-connections 100 --pool-per-worker 5)
echo "simulate with what-if levers (${whatif[*]}), single thread ($runs runs)"
: > "$tmp/whatif"
for _ in $(seq "$runs"); do
  RAYON_NUM_THREADS=1 "$bin" "${common[@]}" "${whatif[@]}" --json "$tmp/w.json"
  field simulate < "$tmp/w.json" >> "$tmp/whatif"
done
echo "  capped decisions: $(field capped_decisions < "$tmp/w.json")"
echo "  core median: $(median < "$tmp/whatif") ms   (runs: $(tr '\n' ' ' < "$tmp/whatif"))"

rec_runs=$(( runs < 3 ? runs : 3 ))
echo "recommend: all cores ($(nproc)), $rec_runs runs"
: > "$tmp/rec"
for _ in $(seq "$rec_runs"); do
  "$bin" "${common[@]}" --recommend --json "$tmp/r.json"
  field recommend < "$tmp/r.json" >> "$tmp/rec"
done
echo "  candidates: $(field candidates < "$tmp/r.json")"
echo "  core median: $(median < "$tmp/rec") ms   (runs: $(tr '\n' ' ' < "$tmp/rec"))"
