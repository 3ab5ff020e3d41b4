#!/usr/bin/env bash
# How long `cargo test` takes, whole and per test binary (the README's test command;
# issue 11 asks for under 4 minutes on 2 cores). Builds first so that the figure is
# the tests' time, not the compiler's.
#   bash scripts/suite_times.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --no-run --quiet "$@" 2>/dev/null
log=$(mktemp)
start=$(date +%s.%N)
cargo test --no-fail-fast "$@" >"$log" 2>&1 || status=$?
end=$(date +%s.%N)
# Each binary prints "Running tests/x.rs (...)" then "test result: ... finished in Ns".
awk '
  /^ *Running / { name = $2 }
  /^ *Doc-tests / { name = "doc-tests " $2 }
  /^test result:/ { for (i = 1; i <= NF; i++) if ($i == "in") t = $(i + 1); sub("s$", "", t); printf "%8.1f s  %s\n", t, name }
' "$log" | sort -rn
grep -E "^test .* FAILED|^failures:" "$log" || true
printf 'whole cargo test: %.0f s (load average %s)\n' "$(echo "$end - $start" | bc)" "$(cut -d" " -f1-3 /proc/loadavg)"
rm -f "$log"
exit "${status:-0}"
