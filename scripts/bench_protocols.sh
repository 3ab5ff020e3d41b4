#!/usr/bin/env bash
# Protocol benchmark: capplan loadtest vs its C peers on HTTP/1.1, HTTPS, h2c and h2.
#
# One nginx worker (`return 200 "ok\n"`, access log off, keep-alive, TLS 1.3 with a
# self-signed certificate) pinned to core 0 serves four ports: plain HTTP/1.1, HTTP/1.1
# over TLS, h2c (prior knowledge) and h2 over TLS (ALPN). The generator is pinned to
# core 1, one thread, 50 connections:
#   http     wrk -t1 -c50 --latency               vs capplan --users 50
#   https    wrk -t1 -c50 --latency               vs capplan --users 50 --insecure
#   h2c      h2load -c50 -m1                      vs capplan --users 50 --http2
#   h2c-mM   h2load -c50 -mM                      vs capplan --users 50*M --streams M --http2
#   h2, h2-mM  the same as h2c over TLS           (capplan with --insecure)
# Each run lasts DURATION seconds; per round every protocol runs peer then capplan, so
# the two alternate and drift hits both. For every run: requests/s, CPU per request
# (user + sys from /usr/bin/time divided by completed requests), p99 and the failed
# requests; then medians per tool and protocol, and the medians of the paired ratios
# capplan/peer (each capplan run against the peer run just before it), counted only
# over pairs in which neither run had a failure. Prints markdown for docs/BENCHMARKS.md.
#
# Usage: scripts/bench_protocols.sh [DURATION_S] [ROUNDS]      (default 5 s, 3 rounds)
# Environment:
#   CAPPLAN_BIN=path           measure another build (default: target/release/capplan)
#   PROTOCOLS="http https h2c h2"   which to run (default all four)
#   H2_STREAMS="1 10"          streams per connection for h2c and h2, one variant each
#   PERF=1                     then profile one capplan run per protocol (perf record -g)
#                              and print the top of perf report by binary and symbol
#   PERF_TOP=25                how many perf report lines to print
#   PORT=18090                 first of the four nginx ports (PORT .. PORT+3)
#   RATE=N                     the same offered load instead of as fast as each can: N
#                              requests/s in all (h2load --rps N/50 per connection against
#                              capplan --rate N with as many sessions); h2c and h2 only,
#                              as Debian's wrk cannot pace. p99 then compares like with like
#                              (capplan's counts from the intended send, h2load's from the
#                              actual one)
#   WARMUP=S                   leave each run's first S seconds out (h2load --warm-up-time,
#                              capplan --warmup with S more seconds of --duration): the
#                              connections' opening, which h2load does before its clock
# Installs nothing: apt-get install nginx-light wrk nghttp2-client time util-linux
# openssl python3 (and linux-perf for PERF=1).
set -euo pipefail

DURATION=${1:-5}
ROUNDS=${2:-3}
PROTOCOLS=${PROTOCOLS:-http https h2c h2}
H2_STREAMS=${H2_STREAMS:-1 10}
PERF=${PERF:-0}
PERF_TOP=${PERF_TOP:-25}
PORT=${PORT:-18090}
RATE=${RATE:-}
WARMUP=${WARMUP:-0}
CONNS=50
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="${CAPPLAN_BIN:-$ROOT/target/release/capplan}"
# shellcheck source=scripts/lib/bench_http.sh
source "$ROOT/scripts/lib/bench_http.sh"

[[ $DURATION =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ && $WARMUP =~ ^[0-9]+$ ]] || bench_usage
[[ -z $RATE || $RATE =~ ^[1-9][0-9]*$ ]] || bench_usage
# A generous bound per run: a generator that hangs is killed and its run counted as failed.
export RUN_LIMIT_S=$((2 * (DURATION + WARMUP) + 60))

# The variants to run, in order: http, https, h2c, h2c-m10, h2, h2-m10.
VARIANTS=()
for proto in $PROTOCOLS; do
  case $proto in
    http | https)
      if [ -n "$RATE" ]; then
        echo "RATE: $proto left out (wrk cannot pace; h2c and h2 only)" >&2
        continue
      fi
      VARIANTS+=("$proto")
      ;;
    h2c | h2)
      for m in $H2_STREAMS; do
        [[ $m =~ ^[1-9][0-9]*$ ]] || { echo "H2_STREAMS: not a positive integer: $m" >&2; exit 2; }
        if [ "$m" = 1 ]; then VARIANTS+=("$proto"); else VARIANTS+=("$proto-m$m"); fi
      done
      ;;
    *) echo "PROTOCOLS: unknown protocol $proto (http https h2c h2)" >&2; exit 2 ;;
  esac
done
[ "${#VARIANTS[@]}" -gt 0 ] || bench_usage

HINT="apt-get install nginx-light wrk nghttp2-client time util-linux openssl python3"
need_tools "$HINT" nginx taskset timeout /usr/bin/time openssl python3
for v in "${VARIANTS[@]}"; do
  case $v in http | https) need_tools "$HINT" wrk ;; *) need_tools "$HINT" h2load ;; esac
done
if [ "$PERF" = 1 ]; then need_tools "apt-get install linux-perf" perf; fi
bench_ready "$BIN"
# The lead's --streams (users grouped M to a connection) may be missing from this build:
# its variants then run the peer only and say why.
HELP=$("$BIN" loadtest --help 2> /dev/null || true)
if [[ $HELP == *--streams* ]]; then HAS_STREAMS=yes; else HAS_STREAMS=no; fi

WORK=$(mktemp -d)
trap 'nginx_stop "$WORK"; rm -rf "$WORK"' EXIT
nginx_start "$WORK" "127.0.0.1:$PORT" "127.0.0.1:$((PORT + 1)) ssl" \
  "127.0.0.1:$((PORT + 2)) http2" "127.0.0.1:$((PORT + 3)) ssl http2"

streams_of() { if [[ $1 == *-m* ]]; then echo "${1##*-m}"; else echo 1; fi; }
url_of() {
  case $1 in
    http) echo "http://127.0.0.1:$PORT/" ;;
    https) echo "https://127.0.0.1:$((PORT + 1))/" ;;
    h2c*) echo "http://127.0.0.1:$((PORT + 2))/" ;;
    h2*) echo "https://127.0.0.1:$((PORT + 3))/" ;;
  esac
}
peer_of() { case $1 in http | https) echo wrk ;; *) echo h2load ;; esac; }

# capplan_args VARIANT JSON: the capplan command line of VARIANT into CAPPLAN_ARGS.
# All users start at once (--spawn-rate), as wrk and h2load open all their connections.
capplan_args() {
  local v=$1 url m users
  url=$(url_of "$v")
  m=$(streams_of "$v")
  users=$((CONNS * m))
  if [ -n "$RATE" ]; then
    CAPPLAN_ARGS=("$BIN" loadtest --url "$url" --rate "$RATE" --connections "$users")
  else
    CAPPLAN_ARGS=("$BIN" loadtest --url "$url" --users "$users" --spawn-rate "$((users * 1000))")
  fi
  CAPPLAN_ARGS+=(--duration "$((DURATION + WARMUP))s")
  if [ "$WARMUP" -gt 0 ]; then CAPPLAN_ARGS+=(--warmup "${WARMUP}s"); fi
  if [[ $url == https:* ]]; then CAPPLAN_ARGS+=(--insecure); fi
  if [[ $v == h2* ]]; then CAPPLAN_ARGS+=(--http2); fi
  if [ "$m" -gt 1 ]; then CAPPLAN_ARGS+=(--streams "$m"); fi
  CAPPLAN_ARGS+=(--quiet --json "$2")
}

# run_one VARIANT TOOL: one run; prints `rps cpu_us_per_req p99_ms requests failed note`,
# with `-` for the figures of a run that produced none and the reason in the note.
run_one() {
  local v=$1 tool=$2 url m out="$WORK/run.out" tm="$WORK/time" status=0 fields parsed note="" reason
  url=$(url_of "$v")
  m=$(streams_of "$v")
  rm -f "$out" "$tm" "$WORK/h2load.log" "$WORK/capplan.json"
  case $tool in
    wrk)
      pinned_timed "$tm" "$out" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url" || status=$?
      parsed=yes
      fields=$(bench_parse wrk "$out" "$tm" 2>&1) || parsed=no
      ;;
    h2load)
      local pace=()
      if [ -n "$RATE" ]; then pace+=(--rps="$((RATE / CONNS))"); fi
      if [ "$WARMUP" -gt 0 ]; then pace+=(--warm-up-time="${WARMUP}s"); fi
      pinned_timed "$tm" "$out" h2load -t1 -c"$CONNS" -m"$m" -D"$DURATION" "${pace[@]}" \
        --log-file="$WORK/h2load.log" "$url" || status=$?
      parsed=yes
      fields=$(bench_parse h2load "$out" "$WORK/h2load.log" "$tm" 2>&1) || parsed=no
      ;;
    capplan)
      if [ "$m" -gt 1 ] && [ "$HAS_STREAMS" = no ]; then
        echo "- - - - - not run: this capplan has no --streams"
        return
      fi
      capplan_args "$v" "$WORK/capplan.json"
      pinned_timed "$tm" "$out" "${CAPPLAN_ARGS[@]}" || status=$?
      parsed=yes
      fields=$(bench_parse capplan "$WORK/capplan.json" "$tm" 2>&1) || parsed=no
      ;;
  esac
  [ "$status" = 0 ] || note="exit $status"
  [ "$status" != 124 ] || note="killed after ${RUN_LIMIT_S}s"
  if [ "$parsed" = yes ]; then
    echo "$fields${note:+ ($note)}"
    return
  fi
  # No figures: why, in the tool's own words (its first error line) or else the parser's.
  reason=$(grep -m1 -iE 'error|fail|unable|refused|invalid|unexpected' "$out" 2> /dev/null || true)
  echo "- - - - - ${note:+$note: }${reason:-$fields}" | tr -s '\t\n' '  '
  echo
}

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
  echo "nginx: $(nginx -v 2>&1 | sed 's|^nginx version: nginx/||'), $(openssl version | cut -d' ' -f1-2)"
  if command -v wrk > /dev/null; then echo "wrk: $(wrk -v 2>&1 | head -n1 | sed 's/^wrk \([^ ]*\).*/\1/')"; fi
  if command -v h2load > /dev/null; then echo "h2load: $(h2load --version | head -n1 | sed 's/^h2load //')"; fi
  rev=$(git -C "$(dirname "$BIN")" describe --always --dirty 2> /dev/null || echo "?")
  version=$("$BIN" --version 2> /dev/null | head -n1 || true)
  echo "capplan: ${version#capplan } (commit $rev, --streams: $HAS_STREAMS), $BIN"
  echo "runs: ${DURATION} s each${RATE:+ at $RATE requests/s}$([ "$WARMUP" -gt 0 ] && echo " after ${WARMUP} s of warm-up"), $ROUNDS round(s), $CONNS connections, variants: ${VARIANTS[*]}"
} > "$WORK/setup"
cat "$WORK/setup" >&2

: > "$WORK/results"
for round in $(seq 1 "$ROUNDS"); do
  for v in "${VARIANTS[@]}"; do
    for tool in "$(peer_of "$v")" capplan; do
      line="$v $round $tool $(run_one "$v" "$tool")"
      echo "$line" >&2
      echo "$line" >> "$WORK/results"
    done
  done
done

echo
python3 - "$WORK/setup" "$WORK/results" "$CONNS" "$RATE" <<'PY'
import statistics, sys

setup = dict(line.rstrip("\n").split(": ", 1) for line in open(sys.argv[1]))
conns = int(sys.argv[3])
rate = int(sys.argv[4]) if sys.argv[4] else None
rows = []
for line in open(sys.argv[2]):
    variant, rnd, tool, rps, cpu, p99, requests, failed, *note = line.split(maxsplit=8)
    ok = rps != "-"
    rows.append(dict(variant=variant, round=int(rnd), tool=tool, ok=ok,
                     rps=float(rps) if ok else None, cpu=float(cpu) if ok else None,
                     p99=float(p99) if ok else None, requests=int(requests) if ok else 0,
                     failed=int(failed) if ok else 0, note=" ".join(note).strip()))
variants = list(dict.fromkeys(r["variant"] for r in rows))

def streams(v):
    return int(v.split("-m")[1]) if "-m" in v else 1

def label(v):
    m = streams(v)
    base = {"http": "HTTP/1.1", "https": "HTTPS (HTTP/1.1, TLS)",
            "h2c": "h2c (prior knowledge)", "h2": "h2 (TLS, ALPN)"}[v.split("-m")[0]]
    return base if v in ("http", "https") else f"{base}, {m} stream{'s' if m > 1 else ''}/conn"

def command(v, tool):
    m = streams(v)
    if tool == "wrk":
        return f"wrk -t1 -c{conns}"
    if tool == "h2load":
        return f"h2load -c{conns} -m{m}" + (f" --rps {rate // conns}" if rate else "")
    flags = f"--rate {rate} --connections {conns * m}" if rate else f"--users {conns * m}"
    flags += f" --streams {m}" if m > 1 else ""
    flags += " --http2" if v.startswith("h2") else ""
    return flags + (" --insecure" if v in ("https", "h2") or v.startswith("h2-") else "")

def num(x, digits=0):
    return f"{x:,.{digits}f}"

def failed_cell(rs):
    runs = [r for r in rs if r["ok"]]
    if not runs:
        return "no run"
    failed, requests = sum(r["failed"] for r in runs), sum(r["requests"] for r in runs)
    cell = "0" if failed == 0 else f"**{num(failed)} ({100 * failed / requests:.3g} %)**"
    if len(runs) < len(rs):
        cell += f", {len(rs) - len(runs)} run(s) without figures"
    return cell

def medians(rs):
    runs = [r for r in rs if r["ok"]]
    if not runs:
        return None
    return {k: statistics.median(r[k] for r in runs) for k in ("rps", "cpu", "p99")}

print(f"Setup: {setup['date']}; {setup['machine']}; nginx {setup['nginx']}", end="")
for key in ("wrk", "h2load"):
    if key in setup:
        print(f"; {key} {setup[key]}", end="")
print(f"; capplan {setup['capplan']}; {setup['runs']}.")
print()
print("Per run. rps and CPU per request count every completed request, failed or not;")
print("**failed** (not 2xx/3xx, socket errors, timeouts) shows a broken run. p99: wrk's")
print("`--latency` table; h2load's per-request `--log-file` (nearest rank, as h2load prints")
print("no percentile); capplan's `latency_ms.p99` from `--json`.")
print()
print("| protocol | round | tool | command | rps | µs CPU/req | p99 | requests | failed |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if r["ok"]:
        figs = f"{num(r['rps'])} | {r['cpu']:.2f} | {r['p99']:.3f} ms | {num(r['requests'])} | "
        figs += "0" if r["failed"] == 0 else f"**{num(r['failed'])}**"
        if r["note"]:
            figs += f" ({r['note']})"
    else:
        figs = f"— | — | — | — | {r['note'] or 'no figures'}"
    print(f"| {label(r['variant'])} | {r['round']} | {r['tool']} | `{command(r['variant'], r['tool'])}` | {figs} |")

print()
print("Medians per tool and protocol; ratios are medians of the paired ratios capplan/peer")
print("(each capplan run against the peer run just before it), over the pairs in which")
print("neither run failed a request.")
print()
print("| protocol | peer | peer rps | peer µs CPU/req | peer p99 | peer failed "
      "| capplan rps | capplan µs CPU/req | capplan p99 | capplan failed "
      "| rps capplan/peer | CPU/req capplan/peer |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for v in variants:
    peer = next(r["tool"] for r in rows if r["variant"] == v and r["tool"] != "capplan")
    cells = [label(v), f"`{command(v, peer)}`"]
    for tool in (peer, "capplan"):
        rs = [r for r in rows if r["variant"] == v and r["tool"] == tool]
        m = medians(rs)
        if m:
            cells += [num(m["rps"]), f"{m['cpu']:.2f}", f"{m['p99']:.3f} ms"]
        else:
            notes = sorted({r["note"] for r in rs if r["note"]})
            cells += ["— (" + "; ".join(notes) + ")" if notes else "—", "—", "—"]
        cells.append(failed_cell(rs))
    pairs = []
    for rnd in sorted({r["round"] for r in rows if r["variant"] == v}):
        p = [r for r in rows if r["variant"] == v and r["round"] == rnd and r["tool"] == peer]
        c = [r for r in rows if r["variant"] == v and r["round"] == rnd and r["tool"] == "capplan"]
        if p and c and all(x["ok"] and x["failed"] == 0 for x in (p[0], c[0])):
            pairs.append((p[0], c[0]))
    rounds = len({r["round"] for r in rows if r["variant"] == v})
    if pairs:
        extra = "" if len(pairs) == rounds else f" ({len(pairs)}/{rounds} clean pairs)"
        rps_ratio = statistics.median(c["rps"] / p["rps"] for p, c in pairs)
        cpu_ratio = statistics.median(c["cpu"] / p["cpu"] for p, c in pairs)
        cells += [f"**{rps_ratio:.2f}x**{extra}", f"**{cpu_ratio:.2f}x**{extra}"]
    else:
        cells += ["— (no clean pair)", "— (no clean pair)"]
    print("| " + " | ".join(cells) + " |")
PY

if [ "$PERF" = 1 ]; then
  # perf_top SORT N: the first N lines of the flat report of $WORK/perf.data by SORT
  # (self time; -g none leaves the call chains out), without perf's empty IPC columns.
  perf_top() {
    perf report -i "$WORK/perf.data" --no-children --sort "$1" --stdio -g none \
      > "$WORK/perf.report" 2> /dev/null || true
    awk -v n="$2" '!/^#/ && NF { sub(/ +- +- *$/, ""); sub(/ +$/, ""); print; if (++k == n) exit }' \
      "$WORK/perf.report"
  }
  # Without hardware counters (most VMs) perf samples the cpu-clock software event.
  STAT=$(perf stat -e instructions true 2>&1 || true)
  if [[ $STAT == *"not supported"* ]]; then EVENT=cpu-clock; else EVENT=cycles; fi
  for v in "${VARIANTS[@]}"; do
    if [ "$(streams_of "$v")" -gt 1 ] && [ "$HAS_STREAMS" = no ]; then continue; fi
    capplan_args "$v" "$WORK/perf.json"
    echo
    shown="${CAPPLAN_ARGS[*]:1}"
    echo "### perf, capplan, $v: \`perf record -e $EVENT -g\`, ${DURATION} s, \`capplan ${shown% --quiet --json *}\`"
    taskset -c 1 perf record -q -e "$EVENT" -g -o "$WORK/perf.data" -- "${CAPPLAN_ARGS[@]}" \
      > "$WORK/perf.out" 2>&1 || { echo "perf record failed: $(head -n3 "$WORK/perf.out")"; continue; }
    echo
    echo "By binary (\`perf report --no-children --sort dso\`):"
    echo '```'
    perf_top dso 8
    echo '```'
    echo "Top symbols (\`perf report --no-children --sort dso,symbol\`):"
    echo '```'
    perf_top dso,symbol "$PERF_TOP"
    echo '```'
  done
fi
