#!/usr/bin/env bash
# The open model's hot path: load shapes cost nothing, and sends leave on time. CPU per request of
# `loadtest --rate R` (constant schedule) against `--rate-stages "0s:R,Ds:R"` (the same
# flat rate through a shape: the schedule inverts the shape's integral per send), and
# against a PEER build's `--rate R` (e.g. main before shapes), in the same session.
#
# nginx (one worker, `return 200 "ok\n"`) is pinned to core 0, the generator to core 1
# (`--threads 1`); the three runs alternate, ROUNDS rounds. Prints, per run, requests/s,
# generator CPU per request (user+sys from /usr/bin/time / requests), p99, the sends
# on time and the send lag (p50 latency - p50 service time: how late the median send
# left), then the medians and the median ratios to the constant-rate run.
#
# Installs nothing: needs nginx, taskset, /usr/bin/time, python3.
# Usage: PEER=/path/to/other/capplan scripts/bench_shapes.sh [DURATION_S] [ROUNDS] [RATE]
set -euo pipefail

DURATION=${1:-5}
ROUNDS=${2:-3}
RATE=${3:-20000}
PORT=${PORT:-18095}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="${CAPPLAN_BIN:-$ROOT/target/release/capplan}"
PEER=${PEER:-}

# shellcheck source=scripts/lib/bench_http.sh
source "$ROOT/scripts/lib/bench_http.sh"

bench_ready "$BIN"

WORK=$(mktemp -d)
trap 'nginx_stop "$WORK"; rm -rf "$WORK"' EXIT
nginx_start "$WORK" "127.0.0.1:$PORT"
URL="http://127.0.0.1:$PORT/"

# run NAME BIN LOAD...: one pinned run; prints `NAME rps cpu_us_per_req p99_ms on_time
# lag_ms`, lag being how late the median send left: p50 latency (from the intended send
# time) minus p50 service time (from the actual one).
run() {
  local name=$1 bin=$2
  shift 2
  rm -f "$WORK/run.json"
  pinned_timed "$WORK/time" "$WORK/run.out" "$bin" loadtest --url "$URL" "$@" --threads 1 \
    --connections 50 --quiet --json "$WORK/run.json" || cat "$WORK/run.out" >&2
  python3 - "$name" "$WORK/run.json" "$WORK/time" <<'PY'
import json, sys
name, doc, timed = sys.argv[1], json.load(open(sys.argv[2])), open(sys.argv[3]).read().split()
cpu = float(timed[-2]) + float(timed[-1])
sent = doc["requests"] - doc["rate"]["unsent"]
print(name, f'{doc["rps"]:.0f}', f"{1e6 * cpu / max(sent, 1):.2f}",
      f'{doc["latency_ms"]["p99"]:.3f}', f'{doc["rate_achieved"]:.4f}',
      f'{doc["latency_ms"]["p50"] - doc["service_time_ms"]["p50"]:.3f}')
PY
}

echo "round run rps cpu_us_per_req p99_ms on_time lag_ms"
for round in $(seq 1 "$ROUNDS"); do
  echo "$round $(run constant "$BIN" --rate "$RATE" --duration "${DURATION}s")" | tee -a "$WORK/results"
  echo "$round $(run shaped "$BIN" --rate-stages "0s:$RATE,${DURATION}s:$RATE")" | tee -a "$WORK/results"
  if [ -n "$PEER" ]; then
    echo "$round $(run peer "$PEER" --rate "$RATE" --duration "${DURATION}s")" | tee -a "$WORK/results"
  fi
done

python3 - "$WORK/results" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    rnd, name, rps, cpu, p99, on_time, lag = line.split()
    runs.setdefault(name, []).append((int(rnd), float(rps), float(cpu), float(p99), float(on_time),
                                      float(lag)))
base = {r[0]: r for r in runs["constant"]}
for name, rows in runs.items():
    med = lambda i: statistics.median(r[i] for r in rows)
    ratio = statistics.median(r[2] / base[r[0]][2] for r in rows)
    print(f"median {name:8} rps {med(1):.0f}, {med(2):.2f} us CPU/request, p99 {med(3):.3f} ms, "
          f"on time {med(4):.4f}, send lag {med(5):.3f} ms; CPU/request vs constant (paired) "
          f"{ratio:.3f}x")
PY
