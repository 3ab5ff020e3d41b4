#!/usr/bin/env bash
# Precision and wall time of `loadtest --find-capacity`, median of ROUNDS runs each:
#   target  `capplan target --workers 8 --service-time exp:20ms` at p95<200ms and
#           p95<100ms, against the M/M/8 knee (the largest rate whose p95 sojourn is
#           within the SLO: examples/mmc_knee.rs, capplan's queueing model);
#   gunicorn examples/flask_app (45 ms wait + 5 ms CPU) with 2 and 4 sync workers at
#           p95<500ms, step 4s (as tests/suite/flask_capacity.rs), against workers / the
#           low-load service time the search measured, and against workers / 50 ms.
# Usage: scripts/bench_capacity.sh [ROUNDS] [target|gunicorn|all]
#   SLOS="200 100" picks the target's SLOs in ms (default 200),
#   CAPPLAN=path picks the binary (default target/release/capplan, built if missing),
#   so a build from before a change can be measured the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
which=${2:-all}
for tool in python3 awk; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done
bin=${CAPPLAN:-target/release/capplan}
[[ -x $bin ]] || cargo build --release --quiet
bin=$(realpath "$bin")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
tmp=$(mktemp -d)

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
spread() { sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%s..%s", lo, hi}'; }

# Largest rate with the M/M/c p95 within the SLO, from capplan's queueing model.
mmc_knee() { # servers service_ms slo_ms
    printf '%.1f' "$(cargo run --release --quiet --example mmc_knee -- "$@")"
}

# search URL SLO STEP WORKERS -> "knee service_ms wall_s steps"
search() {
    local t0 t1
    t0=$(date +%s.%N)
    "$bin" loadtest --url "$1" --find-capacity --slo "$2" --step-duration "$3" \
        --workers-measured "$4" --quiet --json "$tmp/search.json" >/dev/null 2>&1 || true
    t1=$(date +%s.%N)
    python3 - "$tmp/search.json" "$t0" "$t1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
p = d["profile"]
print(f'{p["sustainable_rps"]:.2f} {p["service_time_ms"]["mean"]:.2f} '
      f'{float(sys.argv[3]) - float(sys.argv[2]):.1f} {len(d["search"]["steps"])}')
PY
}

echo "capacity search benchmark: $bin, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

if [[ $which == target || $which == all ]]; then
    for slo_ms in ${SLOS:-200}; do
        theory=$(mmc_knee 8 20 "$slo_ms")
        : >"$tmp/knees"; : >"$tmp/walls"; : >"$tmp/errors"
        for round in $(seq "$rounds"); do
            out="$tmp/target.out"
            "$bin" target --port 0 --workers 8 --service-time exp:20ms --seed "$round" >"$out" 2>/dev/null &
            pids+=($!)
            for _ in $(seq 100); do [[ -s $out ]] && break; sleep 0.05; done
            url=$(sed 's/^listening on //' "$out")
            read -r knee _ wall steps < <(search "$url/" "p95<${slo_ms}ms" 6s 8)
            kill -INT "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
            err=$(awk -v k="$knee" -v t="$theory" 'BEGIN{printf "%+.1f", 100 * (k - t) / t}')
            printf 'target p95<%sms round %d: knee %.1f rps (theory %s, %s%%), %s steps, %.1f s\n' \
                "$slo_ms" "$round" "$knee" "$theory" "$err" "$steps" "$wall"
            echo "$knee" >>"$tmp/knees"; echo "$wall" >>"$tmp/walls"; echo "$err" >>"$tmp/errors"
        done
        printf 'target p95<%sms: median knee %s rps (theory %s), error median %s%% (range %s), wall median %s s\n' \
            "$slo_ms" "$(median <"$tmp/knees")" "$theory" "$(median <"$tmp/errors")" \
            "$(spread <"$tmp/errors")" "$(median <"$tmp/walls")"
    done
fi

if [[ $which == gunicorn || $which == all ]]; then
    python3 -c 'import flask, gunicorn' 2>/dev/null ||
        { echo "gunicorn: needs python3 -m pip install flask gunicorn" >&2; exit 2; }
    for workers in 2 4; do
        : >"$tmp/fracs"; : >"$tmp/fracs50"; : >"$tmp/walls"
        for round in $(seq "$rounds"); do
            port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
            (cd examples/flask_app && WAIT_MS=45 CPU_MS=5 exec python3 -m gunicorn --worker-class sync \
                --log-level warning --workers "$workers" --bind "127.0.0.1:$port" app:app) >/dev/null 2>&1 &
            pids+=($!)
            for _ in $(seq 200); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null && break; sleep 0.1; done
            sleep 1.5
            read -r knee service wall steps < <(search "http://127.0.0.1:$port/work" "p95<500ms" 4s "$workers")
            kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
            frac=$(awk -v k="$knee" -v s="$service" -v w="$workers" 'BEGIN{printf "%.3f", k * s / 1000 / w}')
            frac50=$(awk -v k="$knee" -v w="$workers" 'BEGIN{printf "%.3f", k * 0.05 / w}')
            printf 'gunicorn %d workers round %d: knee %.1f rps, service %.1f ms, %s of workers/service, %s of workers/50ms, %s steps, %.1f s\n' \
                "$workers" "$round" "$knee" "$service" "$frac" "$frac50" "$steps" "$wall"
            echo "$frac" >>"$tmp/fracs"; echo "$frac50" >>"$tmp/fracs50"; echo "$wall" >>"$tmp/walls"
        done
        printf 'gunicorn %d workers: median %s of workers/service (range %s), median %s of workers/50ms (range %s), wall median %s s\n' \
            "$workers" "$(median <"$tmp/fracs")" "$(spread <"$tmp/fracs")" \
            "$(median <"$tmp/fracs50")" "$(spread <"$tmp/fracs50")" "$(median <"$tmp/walls")"
    done
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
