# shellcheck shell=bash
# Shared by the HTTP load benchmarks (source it): nginx as the target, the pinned and
# timed generator run, and the parsers of the generators' outputs (bench_parse.py).

BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# need_tools HINT TOOL...: exit 2 naming the first TOOL not found, with HINT (how to get it).
need_tools() {
  local hint=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" > /dev/null || { echo "missing: $tool ($hint)" >&2; exit 2; }
  done
}

# bench_ready BIN [HINT TOOL...]: exit 2 unless nginx, taskset, timeout, /usr/bin/time,
# python3 (and each TOOL, installed as HINT says) are here and the machine has two cores
# (nginx on core 0, the generator on core 1); builds BIN in release mode when missing.
bench_ready() {
  local bin=$1
  shift
  need_tools "apt-get install nginx-light time util-linux" nginx taskset timeout /usr/bin/time python3
  if [ $# -gt 0 ]; then need_tools "$@"; fi
  [ "$(nproc)" -ge 2 ] || { echo "needs at least 2 cores" >&2; exit 2; }
  [ -x "$bin" ] || (cd "$BENCH_LIB_DIR/../.." && cargo build --release --quiet)
}

# nginx_start DIR LISTEN...: one nginx worker pinned to core 0, prefix and files in DIR,
# one server per LISTEN (the arguments of nginx's `listen`, e.g. "127.0.0.1:18089",
# "127.0.0.1:18091 ssl", "127.0.0.1:18092 http2", "127.0.0.1:18093 ssl http2"), each
# answering `return 200 "ok\n"` (and serving the locations in NGINX_LOCATIONS, if set,
# before it), access log off, keep-alive for a million requests.
# When a LISTEN has ssl, a self-signed P-256 certificate for localhost is made in DIR and
# TLS is TLS 1.3 with TLS_AES_128_GCM_SHA256 only, so every client pays for the same
# cipher. Returns once every port accepts connections. Stop it with nginx_stop DIR.
nginx_start() {
  local dir=$1 listen servers="" tls=""
  shift
  for listen in "$@"; do
    servers+="  server { listen $listen; ${NGINX_LOCATIONS:-} location / { return 200 \"ok\\n\"; } }"$'\n'
    if [[ " $listen " == *" ssl "* ]]; then tls=yes; fi
  done
  if [ -n "$tls" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
      -keyout "$dir/key.pem" -out "$dir/cert.pem" 2> "$dir/openssl.log" \
      || { cat "$dir/openssl.log" >&2; return 1; }
    tls="  ssl_certificate $dir/cert.pem;
  ssl_certificate_key $dir/key.pem;
  ssl_protocols TLSv1.3;
  ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;"
  fi
  cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
$tls
$servers}
CONF
  taskset -c 0 nginx -p "$dir" -c "$dir/nginx.conf"
  local addr tries
  for listen in "$@"; do
    addr=${listen%% *}
    for tries in $(seq 50); do
      (exec 3<> "/dev/tcp/${addr%:*}/${addr##*:}") 2> /dev/null && break
      [ "$tries" -lt 50 ] || { echo "nginx does not accept on $addr" >&2; return 1; }
      sleep 0.1
    done
  done
}

# nginx_stop DIR: stop the nginx that nginx_start DIR started (quietly if there is none).
nginx_stop() { nginx -p "$1" -c "$1/nginx.conf" -s stop 2> /dev/null || true; }

# pinned_timed TIME_FILE OUT_FILE CMD...: run CMD on core 1 under /usr/bin/time (user and
# system CPU seconds and voluntary context switches, `%U %S %w`, to TIME_FILE), stdout
# and stderr to OUT_FILE, killed after RUN_LIMIT_S seconds (default 600) so that a hung
# generator cannot hang the benchmark. Returns CMD's exit status.
pinned_timed() {
  local time_file=$1 out_file=$2
  shift 2
  /usr/bin/time -f "%U %S %w" -o "$time_file" \
    timeout -k 5 "${RUN_LIMIT_S:-600}" taskset -c 1 "$@" > "$out_file" 2>&1
}

# sleeps_of TIME_FILE: how often the run slept (voluntary context switches, pinned_timed's
# third field).
sleeps_of() { tail -n 1 "$1" | cut -d' ' -f3; }

# bench_usage: print the calling script's header comment (its usage) and exit 2.
bench_usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

# bench_parse wrk|h2load|capplan FILE...: `rps cpu_us_per_request p99_ms requests failed`
# of one run (see bench_parse.py); exits 1 with the reason on stderr when there is none.
bench_parse() { python3 "$BENCH_LIB_DIR/bench_parse.py" "$@"; }
