#!/usr/bin/env bash
# Load-engine benchmark: capplan loadtest vs wrk against one nginx worker.
#
# nginx (one worker, `return 200 "ok\n"`, no access log) is pinned to core 0, the
# generator to core 1; wrk -t1 -c50 and capplan --users 50 (no wait time) alternate,
# ROUNDS rounds each. Prints requests/s, generator CPU per request (user+sys from
# /usr/bin/time divided by requests) and p99 for both, and the median ratios.
#
# Installs nothing: needs wrk, nginx (Debian: wrk, nginx-light), taskset, /usr/bin/time, python3.
# Usage: scripts/bench_loadtest.sh [DURATION_S] [ROUNDS]
set -euo pipefail

DURATION=${1:-10}
ROUNDS=${2:-3}
PORT=${PORT:-18089}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# CAPPLAN_BIN: another build to measure (e.g. the previous commit), against the same wrk peer.
BIN="${CAPPLAN_BIN:-$ROOT/target/release/capplan}"

# shellcheck source=scripts/lib/bench_http.sh
source "$ROOT/scripts/lib/bench_http.sh"

bench_ready "$BIN" "apt-get install wrk" wrk

WORK=$(mktemp -d)
trap 'nginx_stop "$WORK"; rm -rf "$WORK"' EXIT
nginx_start "$WORK" "127.0.0.1:$PORT"
URL="http://127.0.0.1:$PORT/"

# Print: rps cpu_us_per_request p99_ms requests failed
run_wrk() {
  rm -f "$WORK/wrk.out"
  pinned_timed "$WORK/time" "$WORK/wrk.out" wrk -t1 -c50 -d"${DURATION}s" --latency "$URL" || true
  bench_parse wrk "$WORK/wrk.out" "$WORK/time"
}

run_capplan() {
  rm -f "$WORK/capplan.json"
  pinned_timed "$WORK/time" "$WORK/capplan.out" "$BIN" loadtest --url "$URL" --users 50 \
    --duration "${DURATION}s" --quiet --json "$WORK/capplan.json" || cat "$WORK/capplan.out" >&2
  bench_parse capplan "$WORK/capplan.json" "$WORK/time"
}

echo "round tool rps cpu_us_per_req p99_ms requests failed"
for round in $(seq 1 "$ROUNDS"); do
  echo "$round wrk $(run_wrk)" | tee -a "$WORK/results"
  echo "$round capplan $(run_capplan)" | tee -a "$WORK/results"
done
python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def med(tool, col):
    return statistics.median(float(r[col]) for r in rows if r[1] == tool)
w, c = {k: med("wrk", i) for k, i in (("rps", 2), ("cpu", 3), ("p99", 4))}, {k: med("capplan", i) for k, i in (("rps", 2), ("cpu", 3), ("p99", 4))}
print(f"median wrk:     {w['rps']:.0f} rps, {w['cpu']:.2f} us CPU/request, p99 {w['p99']:.3f} ms")
print(f"median capplan: {c['rps']:.0f} rps, {c['cpu']:.2f} us CPU/request, p99 {c['p99']:.3f} ms")
print(f"capplan/wrk of medians: rps {c['rps'] / w['rps']:.2f}x, CPU/request {c['cpu'] / w['cpu']:.2f}x")
# Paired ratios (each capplan run against the wrk run just before it) resist drift on a noisy machine.
by_round = {}
for r in rows:
    by_round.setdefault(r[0], {})[r[1]] = r
pairs = [v for v in by_round.values() if "wrk" in v and "capplan" in v]
rps_ratio = statistics.median(float(p["capplan"][2]) / float(p["wrk"][2]) for p in pairs)
cpu_ratio = statistics.median(float(p["capplan"][3]) / float(p["wrk"][3]) for p in pairs)
print(f"median of paired ratios: rps {rps_ratio:.2f}x, CPU/request {cpu_ratio:.2f}x")
PY
