#!/usr/bin/env bash
# Memory stays flat: peak RSS of a short and a long load test at the same load.
# Starts `capplan target` (release build) on 127.0.0.1 and runs
# `capplan loadtest --rate RATE` for SHORT_S and LONG_S seconds, with every output
# (CSV, JSON, hlog) on, and prints max RSS (KiB, /usr/bin/time -f %M) of each.
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
    --duration "${seconds}s" --quiet --json "$WORK/run.json" --csv "$WORK/run" --hdr-log "$WORK/run.hlog"
  requests=$(python3 -c "import json;print(json.load(open('$WORK/run.json'))['requests'])")
  echo "duration ${seconds}s: requests $requests, max RSS $(tail -1 "$WORK/rss") KiB"
done
