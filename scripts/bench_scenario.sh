#!/usr/bin/env bash
# Scenario-language benchmark (issue 15, item 6): the same requests with and without a
# feeder, a capture and a check on every request; and plain --url runs of this build
# against a baseline build (BASE_BIN), to show they did not move.
#
# nginx (one worker pinned to core 0, access log off) answers every GET /items/ID with
# a small JSON body {"id":..,"token":..,"name":..}; the generator runs on core 1,
# --users 50, no wait time. Per round, alternating:
#   plain     GET /items/42 with a fixed Authorization header, no check, no capture
#   scenario  GET /items/{{ids.id}} (a sequential feeder of 1000 ids, a new row each
#             task), Authorization "Bearer {{token}}" from a capture ($.token) of every
#             response, and expect = { status = 200, json_exists = "$.id" } on every one
#   url-base / url-this  (with BASE_BIN) capplan loadtest --url on both builds
# Prints requests/s, generator CPU per request and p99 per run, then the medians and
# the ratios scenario/plain and this/base.
#
# Installs nothing: needs nginx, taskset, /usr/bin/time, python3.
# Usage: [BASE_BIN=path/to/other/capplan] scripts/bench_scenario.sh [DURATION_S] [ROUNDS]
set -euo pipefail

DURATION=${1:-10}
ROUNDS=${2:-3}
PORT=${PORT:-18094}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="${CAPPLAN_BIN:-$ROOT/target/release/capplan}"
BASE_BIN=${BASE_BIN:-}

# shellcheck source=scripts/lib/bench_http.sh
source "$ROOT/scripts/lib/bench_http.sh"

bench_ready "$BIN"

WORK=$(mktemp -d)
trap 'nginx_stop "$WORK"; rm -rf "$WORK"' EXIT
# shellcheck disable=SC2016 # nginx's variables, not the shell's
NGINX_LOCATIONS='location /items/ { default_type application/json; return 200 '"'"'{"id":"$uri","token":"t0k3n-$connection","name":"widget","price":9.5}'"'"'; }' \
  nginx_start "$WORK" "127.0.0.1:$PORT"
HOST="http://127.0.0.1:$PORT"

python3 -c 'print("id"); [print(i) for i in range(1, 1001)]' > "$WORK/ids.csv"
cat > "$WORK/plain.toml" <<TOML
host = "$HOST"
[[task]]
name = "item"
path = "/items/42"
headers = { Authorization = "Bearer t0k3n-1" }
TOML
cat > "$WORK/scenario.toml" <<TOML
host = "$HOST"
[[feeder]]
name = "ids"
file = "ids.csv"
per = "iteration"
[[task]]
name = "item"
path = "/items/{{ids.id}}"
headers = { Authorization = "Bearer {{token}}" }
capture = [{ name = "token", json = "\$.token" }]
expect = { status = 200, json_exists = "\$.id" }
TOML

# run NAME BIN ARGS...: one pinned, timed capplan run; prints `rps cpu_us p99 requests failed`.
run() {
  local name=$1 bin=$2
  shift 2
  rm -f "$WORK/$name.json"
  pinned_timed "$WORK/time" "$WORK/$name.out" "$bin" loadtest "$@" --users 50 \
    --duration "${DURATION}s" --quiet --json "$WORK/$name.json" || cat "$WORK/$name.out" >&2
  bench_parse capplan "$WORK/$name.json" "$WORK/time"
}

echo "round run rps cpu_us_per_req p99_ms requests failed"
for round in $(seq 1 "$ROUNDS"); do
  echo "$round plain $(run plain "$BIN" --scenario "$WORK/plain.toml")" | tee -a "$WORK/results"
  echo "$round scenario $(run scenario "$BIN" --scenario "$WORK/scenario.toml")" | tee -a "$WORK/results"
  if [ -n "$BASE_BIN" ]; then
    echo "$round url-base $(run url-base "$BASE_BIN" --url "$HOST/")" | tee -a "$WORK/results"
    echo "$round url-this $(run url-this "$BIN" --url "$HOST/")" | tee -a "$WORK/results"
  fi
done
python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def med(run, col):
    values = [float(r[col]) for r in rows if r[1] == run]
    return statistics.median(values) if values else None
def show(run):
    if med(run, 2) is None:
        return None
    m = {k: med(run, i) for k, i in (("rps", 2), ("cpu", 3), ("p99", 4))}
    print(f"median {run:9} {m['rps']:.0f} rps, {m['cpu']:.2f} us CPU/request, p99 {m['p99']:.3f} ms")
    return m
def paired(a, b):
    # Each b run against the a run of its round: resists drift on a noisy machine.
    ra = {r[0]: float(r[2]) for r in rows if r[1] == a}
    rb = {r[0]: float(r[2]) for r in rows if r[1] == b}
    return statistics.median(rb[k] / ra[k] for k in ra if k in rb)
p, s = show("plain"), show("scenario")
print(f"scenario/plain of medians: rps {s['rps'] / p['rps']:.2f}x, CPU/request {s['cpu'] / p['cpu']:.2f}x; paired rps {paired('plain', 'scenario'):.2f}x")
b, t = show("url-base"), show("url-this")
if b and t:
    print(f"this/base --url of medians: rps {t['rps'] / b['rps']:.2f}x, CPU/request {t['cpu'] / b['cpu']:.2f}x; paired rps {paired('url-base', 'url-this'):.2f}x")
PY
