#!/usr/bin/env bash
# The CPU and time each timing test of tests/suite/ uses, against what it declares: a
# test that takes machine::timing(N, S) says it uses N % of one core for S seconds, and
# runs beside other timing tests while their N together stay within one core, the
# longest first (tests/suite/common/machine.rs).
# Each runs on its own (the suite binary, --exact); its CPU is the whole machine's
# busy time meanwhile (/proc/stat: what it starts counts too, Gunicorn's workers as
# well as capplan), so run it on an otherwise idle machine. alone() tests are listed
# for comparison. Takes as long as the timing tests together (about 6 minutes).
#   bash scripts/timing_tests_cpu.sh [only the tests whose name holds this]
set -euo pipefail
cd "$(dirname "$0")/.."
only=${1:-}
command -v bc >/dev/null || { echo "needs bc" >&2; exit 2; }
# Every core /proc/stat counts (nproc would count only those this shell may use).
cores=$(grep -c '^cpu[0-9]' /proc/stat)
suite=$(cargo test --no-run --test suite --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "suite" and m.get("executable"):
        print(m["executable"])')
# "module::test CPU seconds" for each test whose body takes timing(CPU, SECONDS), and
# "module::test alone -" for those that take alone().
tests=$(python3 - <<'PY'
import pathlib, re
for path in sorted(pathlib.Path("tests/suite").glob("*.rs")):
    tests = r"#\[(?:tokio::)?test[^\]]*\]\n(?:async )?fn (\w+)\(\)[^{]*\{(.*?)\n\}"
    for name, body in re.findall(tests, path.read_text(), re.S):
        guard = re.search(r"let _\w* = [\w:]*?\b(?:timing\((\d+), *(\d+)\)|(alone)\(\))", body)
        if guard:
            print(f"{path.stem}::{name} {guard[1] or 'alone'} {guard[2] or '-'}")
PY
)
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
printf '%-8s %-8s %-7s %-8s %s\n' measured declared wall declared test
while read -r name declared seconds; do
    [[ -z $only || $name == *"$only"* ]] || continue
    read -r busy0 total0 < <(busy)
    start=$(date +%s.%N)
    "$suite" --exact "$name" --test-threads 1 2>&1 | grep -q "^test result: ok. 1 passed" ||
        echo "FAILED (or not one test): $name"
    end=$(date +%s.%N)
    read -r busy1 total1 < <(busy)
    # /proc/stat counts every core: busy / total is a share of the machine.
    percent=$(( cores * 100 * (busy1 - busy0) / (total1 - total0) ))
    flag=""
    [[ $declared != alone && $percent -gt $declared ]] && flag=" (over what it declares)"
    printf '%-8s %-8s %-7.1f %-8s %s%s\n' "$percent%" "$declared" "$(echo "$end - $start" | bc)" "$seconds" "$name" "$flag"
done <<<"$tests"
