#!/usr/bin/env bash
# Memory stays flat: resident memory of a load test over time, short run vs long run.
# Starts `capplan target` (release build) on 127.0.0.1 and runs
# `capplan loadtest --rate RATE` for SHORT_S and LONG_S seconds with every output on
# (CSV, JSON, hlog). Prints, for each run, the resident set (VmRSS) sampled 5 s before
# its end, and the peak RSS of the whole process (/usr/bin/time -f %M, which includes
# writing the reports at the end: those grow with the run's per-second history).
# Usage: scripts/bench_memory.sh [SHORT_S] [LONG_S] [RATE]
set -euo pipefail
SHORT=${1:-10}
LONG=${2:-600}
RATE=${3:-2000}
PORT=${PORT:-18097}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/target/release/capplan"
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time (apt-get install time)" >&2; exit 2; }
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release --quiet)
WORK=$(mktemp -d)
"$BIN" target --port "$PORT" --workers 64 --service-time 1ms --duration "$((SHORT + LONG + 30))s" > /dev/null 2>&1 &
TARGET=$!
trap 'kill $TARGET 2>/dev/null || true; rm -rf "$WORK"' EXIT
sleep 1
for seconds in "$SHORT" "$LONG"; do
  /usr/bin/time -f "%M" -o "$WORK/rss" "$BIN" loadtest --url "http://127.0.0.1:$PORT/" --rate "$RATE" \
    --duration "${seconds}s" --quiet --json "$WORK/run.json" --csv "$WORK/run" --hdr-log "$WORK/run.hlog" &
  TIMED=$!
  sleep "$((seconds - 5))"
  LOADTEST=$(pgrep -P "$TIMED" -f "capplan loadtest" | head -1)
  running=$(awk '/VmRSS/ {print $2}' "/proc/$LOADTEST/status")
  wait "$TIMED"
  requests=$(python3 -c "import json;print(json.load(open('$WORK/run.json'))['requests'])")
  echo "duration ${seconds}s: requests $requests, RSS 5 s before the end $running KiB, peak RSS $(tail -1 "$WORK/rss") KiB"
done
