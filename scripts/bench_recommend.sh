#!/usr/bin/env bash
# Benchmark `capplan simulate --recommend` on a year of 1-minute traffic with a
# forecast (docs/BENCHMARKS.md, section "simulate --recommend: the SRE search").
#
# Target (issue 13): <= 10 s for the whole search on 2 cores. The core's wall time is
# read from `runtime.timing_ms.recommend` in `--json` (reading the 12 MB CSVs
# excluded); the end-to-end wall time is printed too.
#
# Usage: scripts/bench_recommend.sh [RUNS] [THREADS]   (default 3 runs, 2 threads; medians)
#        CAPPLAN_BIN=path/to/capplan ... measures that build instead of building this one
#        (run it alternately with this one to compare builds on a shared machine).
set -euo pipefail
runs=${1:-3}
threads=${2:-2}
cd "$(dirname "$0")/.."
if [ -n "${CAPPLAN_BIN:-}" ]; then
  bin=$CAPPLAN_BIN
else
  cargo build --release --quiet
  bin=target/release/capplan
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

source scripts/lib/bench_common.sh
year_of_traffic "$tmp/year.csv"
# The forecast: the same year with a +/-10 % band (a forecast CSV is a traffic CSV
# with lower and upper columns).
awk -F, 'NR == 1 { print "timestamp,rps,lower,upper"; next }
         { printf "%s,%s,%.2f,%.2f\n", $1, $2, $2 * 0.9, $2 * 1.1 }' "$tmp/year.csv" > "$tmp/forecast.csv"

field() { grep -o "\"$1\": [0-9.e+-]*" | head -1 | awk '{ print $2 }'; }

args=(simulate --traffic "$tmp/year.csv" --forecast "$tmp/forecast.csv"
      --rps-per-worker 10 --service-time 50ms --recommend --quiet)

echo "recommend: a year of 1-minute steps with a forecast, $threads threads, $runs runs"
: > "$tmp/core"; : > "$tmp/wall"
for _ in $(seq "$runs"); do
  t0=$(now_ms)
  RAYON_NUM_THREADS=$threads "$bin" "${args[@]}" --json "$tmp/r.json"
  t1=$(now_ms)
  field recommend < "$tmp/r.json" >> "$tmp/core"
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }' >> "$tmp/wall"
done
echo "  candidates: $(field candidates < "$tmp/r.json") (refined: $(field refined < "$tmp/r.json")), simulated: $(field simulated < "$tmp/r.json")"
echo "  optimality gap: $(field gap_percent < "$tmp/r.json") %   finer candidates: $(field finer_candidates < "$tmp/r.json")"
echo "  recommended: min $(field min_instances < "$tmp/r.json") max $(field max_instances < "$tmp/r.json") workers $(field workers_per_instance < "$tmp/r.json") instance-hours $(field instance_hours < "$tmp/r.json" )"
echo "  core median: $(median < "$tmp/core") ms   (runs: $(tr '\n' ' ' < "$tmp/core"))"
echo "  end-to-end median: $(median < "$tmp/wall") ms   (runs: $(tr '\n' ' ' < "$tmp/wall"))"
