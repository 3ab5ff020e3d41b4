#!/usr/bin/env bash
# Idle spin: capplan with `--idle-spin 0us` (never spins) against its default (50 µs in
# the closed model) and h2load, on h2c and h2 with 10 streams a connection, where the
# single nginx worker is the bottleneck and a client that sleeps between answers costs
# nginx a wake-up per sleep. One nginx worker on core 0, every generator on core 1, 50
# connections (500 users, --streams 10; h2load -c50 -m10), DURATION seconds a run; per
# round and protocol h2load, then capplan never spinning, then spinning. Prints each run
# (rps, µs CPU per request, voluntary context switches per request: how often the
# generator slept) and the medians of the paired ratios to h2load and spin / no spin.
#
# Usage: scripts/bench_idle_spin.sh [DURATION_S] [ROUNDS]     (default 3 s, 8 rounds)
#   CAPPLAN_BIN=path   the build to measure (default target/release/capplan)
#   PORT=18390         first of the two nginx ports
# Installs nothing: apt-get install nginx-light nghttp2-client time util-linux openssl python3
set -euo pipefail

DURATION=${1:-3}
ROUNDS=${2:-8}
PORT=${PORT:-18390}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="${CAPPLAN_BIN:-$ROOT/target/release/capplan}"
# shellcheck source=scripts/lib/bench_http.sh
source "$ROOT/scripts/lib/bench_http.sh"
[[ $DURATION =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ ]] || bench_usage
bench_ready "$BIN" "apt-get install nginx-light nghttp2-client time util-linux openssl" h2load openssl
export RUN_LIMIT_S=$((2 * DURATION + 60))

WORK=$(mktemp -d)
trap 'nginx_stop "$WORK"; rm -rf "$WORK"' EXIT
nginx_start "$WORK" "127.0.0.1:$PORT http2" "127.0.0.1:$((PORT + 1)) ssl http2"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "capplan: $("$BIN" --version) ($(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo '?')), $BIN"
echo
echo "| round | protocol | tool | rps | µs CPU/req | sleeps/req |"
echo "|---|---|---|---|---|---|"
results="$WORK/results"
for round in $(seq "$ROUNDS"); do
  for proto in h2c h2; do
    if [ "$proto" = h2c ]; then url="http://127.0.0.1:$PORT/"; tls=(); else url="https://127.0.0.1:$((PORT + 1))/"; tls=(--insecure); fi
    for tool in h2load spin-0us spin-default; do
      tm="$WORK/time"
      case $tool in
        h2load)
          # No --log-file: writing it would keep h2load busy, and busy is what this compares.
          pinned_timed "$tm" "$WORK/out" h2load -t1 -c50 -m10 -D"$DURATION" "$url" || true
          fields=$(bench_parse h2load "$WORK/out" - "$tm")
          ;;
        *)
          spin=()
          [ "$tool" = spin-0us ] && spin=(--idle-spin 0us)
          pinned_timed "$tm" "$WORK/out" "$BIN" loadtest --url "$url" "${tls[@]}" --http2 \
            --users 500 --streams 10 --spawn-rate 500000 "${spin[@]}" \
            --duration "${DURATION}s" --quiet --json "$WORK/run.json" || true
          fields=$(bench_parse capplan "$WORK/run.json" "$tm")
          ;;
      esac
      read -r rps cpu _ requests _ <<< "$fields"
      line="$rps $cpu $(awk -v w="$(sleeps_of "$tm")" -v r="$requests" 'BEGIN { printf "%.4f", w / r }')"
      echo "$round $proto $tool $line" >> "$results"
      read -r rps cpu per <<< "$line"
      echo "| $round | $proto | $tool | $rps | $cpu | $per |"
    done
  done
done
echo
python3 - "$results" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    rnd, proto, tool, rps, cpu, sleeps = line.split()
    runs[(rnd, proto)][tool] = (float(rps), float(cpu), float(sleeps))
print("| protocol | capplan | rps / h2load | CPU per request / h2load | sleeps per request | rps, spinning / not |")
print("|---|---|---|---|---|---|")
for proto in ("h2c", "h2"):
    rounds = [r for (_, p), r in runs.items() if p == proto]
    for tool in ("spin-0us", "spin-default"):
        rps = statistics.median(r[tool][0] / r["h2load"][0] for r in rounds)
        cpu = statistics.median(r[tool][1] / r["h2load"][1] for r in rounds)
        sleeps = statistics.median(r[tool][2] for r in rounds)
        gain = "" if tool == "spin-0us" else "%.2fx (%d of %d rounds above 1)" % (
            statistics.median(r[tool][0] / r["spin-0us"][0] for r in rounds),
            sum(r[tool][0] > r["spin-0us"][0] for r in rounds), len(rounds))
        print(f"| {proto} -m10 | {tool} | {rps:.2f}x | {cpu:.2f}x | {sleeps:.4f} | {gain} |")
print("\nh2load sleeps per request (median): " + ", ".join(
    "%s %.4f" % (p, statistics.median(r["h2load"][2] for (_, pp), r in runs.items() if pp == p)) for p in ("h2c", "h2")))
PY
