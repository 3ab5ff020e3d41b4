#!/usr/bin/env bash
# Benchmark the HTML reports and plots (see docs/BENCHMARKS.md, section "html").
#
# Target: `simulate --html` on one year of 1-minute steps (525,600 steps) writes a
# report under 5 MB that a browser opens in under 2 s. Measured: file sizes, the extra
# wall time --html/--plot add to a simulate run, and headless Chromium's time to load
# the page and dump its DOM / take a screenshot (browser start included; a blank page's
# time is printed too, so the page's own share can be read off).
#
# Usage: scripts/bench_html.sh [RUNS]   (default 5 runs; medians reported)
set -euo pipefail
runs=${1:-5}
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/capplan
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

source scripts/lib/bench_common.sh
year_of_traffic "$tmp/year.csv"

timed() { # timed FILE CMD...: append the wall time of CMD in ms to FILE
  local out=$1; shift
  local t0 t1
  t0=$(now_ms); "$@" > /dev/null 2>&1; t1=$(now_ms)
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }' >> "$out"
}

sim=("$bin" simulate --traffic "$tmp/year.csv" --rps-per-worker 10 --service-time 50ms --quiet)
: > "$tmp/base"; : > "$tmp/html"; : > "$tmp/svg"; : > "$tmp/png"
for _ in $(seq "$runs"); do
  timed "$tmp/base" "${sim[@]}" --json "$tmp/s.json"
  timed "$tmp/html" "${sim[@]}" --json "$tmp/s.json" --html "$tmp/year.html"
  timed "$tmp/svg" "${sim[@]}" --json "$tmp/s.json" --plot "$tmp/year.svg"
  timed "$tmp/png" "${sim[@]}" --json "$tmp/s.json" --plot "$tmp/year.png"
done
size() { stat -c %s "$1" | awk '{ printf "%.0f KB", $1 / 1024 }'; }
echo "simulate, 525,600 steps, end to end (read CSV, simulate, write), medians of $runs:"
echo "  --json only:          $(median < "$tmp/base") ms"
echo "  --json --html:        $(median < "$tmp/html") ms   report $(size "$tmp/year.html")"
echo "  --json --plot .svg:   $(median < "$tmp/svg") ms   plot $(size "$tmp/year.svg")"
echo "  --json --plot .png:   $(median < "$tmp/png") ms   plot $(size "$tmp/year.png")"

if ! command -v chromium > /dev/null; then
  echo "chromium not installed: browser load time not measured"
  exit 0
fi
browser() { # browser PAGE FLAG: one headless load with a fresh profile
  local profile
  profile=$(mktemp -d)
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --window-size=1280,2000 "$2" "file://$1"
  rm -rf "$profile"
}
echo '<!DOCTYPE html><p>blank</p>' > "$tmp/blank.html"
: > "$tmp/b_dom"; : > "$tmp/y_dom"; : > "$tmp/y_shot"
for _ in $(seq "$runs"); do
  timed "$tmp/b_dom" browser "$tmp/blank.html" --dump-dom
  timed "$tmp/y_dom" browser "$tmp/year.html" --dump-dom
  timed "$tmp/y_shot" browser "$tmp/year.html" --screenshot="$tmp/shot.png"
done
echo "headless chromium, medians of $runs (browser start included):"
echo "  blank page, --dump-dom:   $(median < "$tmp/b_dom") ms"
echo "  year report, --dump-dom:  $(median < "$tmp/y_dom") ms"
echo "  year report, screenshot:  $(median < "$tmp/y_shot") ms"
