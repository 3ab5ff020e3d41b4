#!/usr/bin/env python3
"""Read one load-generator run and print `rps cpu_us_per_request p99_ms requests failed`.

Used by the HTTP benchmarks through scripts/lib/bench_http.sh:

    bench_parse.py wrk OUTPUT TIME          wrk --latency stdout
    bench_parse.py h2load OUTPUT LOG TIME   h2load stdout and its --log-file
    bench_parse.py capplan JSON TIME        capplan loadtest --json FILE

TIME is what `/usr/bin/time -f "%U %S %w" -o TIME` wrote (a "Command exited with non-zero
status" line may come first). LOG may be `-` for an h2load run without `--log-file`
(its p99 is then `nan`: the log costs h2load work, which some comparisons must not
add). CPU per request = (user + sys) / requests, in µs.
`requests` counts every completed request, good or bad, as each tool does; `failed`
counts the bad ones (not 2xx/3xx, socket errors, timeouts), so a broken run shows as
failures instead of throughput; when there are some, what the tool says of them
follows the five fields. Exits 1 with a one-line reason on stderr when the
output holds no result (the tool failed to run or reached nothing).
"""
import json
import math
import os
import re
import sys


def fail(reason):
    print(reason, file=sys.stderr)
    sys.exit(1)


def cpu_seconds(path):
    try:
        user, system = map(float, open(path).read().splitlines()[-1].split()[:2])
    except (OSError, ValueError):
        fail("no CPU times from /usr/bin/time")
    return user + system


def emit(rps, cpu_s, p99_ms, requests, failed, detail=""):
    if requests <= 0:
        fail("no request completed")
    line = f"{rps:.0f} {1e6 * cpu_s / requests:.2f} {p99_ms:.3f} {requests} {failed}"
    print(f"{line} {detail}" if failed and detail else line)


def search(pattern, text, what):
    m = re.search(pattern, text)
    if not m:
        fail(f"no {what} in the output")
    return m


def wrk(out_path, time_path):
    out = open(out_path).read()
    requests = int(search(r"(\d+) requests in", out, "request count").group(1))
    rps = float(search(r"Requests/sec:\s+([\d.]+)", out, "Requests/sec").group(1))
    m = search(r"99%\s+([\d.]+)(us|ms|s)\b", out, "99% latency (run wrk with --latency)")
    p99 = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    # Both lines appear only when their counts are not zero.
    failed, detail = 0, []
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        failed += int(m.group(1))
        detail.append(m.group(0))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        failed += sum(int(g) for g in m.groups())
        detail.append(m.group(0))
    emit(rps, cpu_seconds(time_path), p99, requests, failed, "; ".join(detail))


def h2load(out_path, log_path, time_path):
    out = open(out_path).read()
    rps = float(search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out, "'finished in' line").group(1))
    m = search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
               r"(\d+) failed, (\d+) errored, (\d+) timeout", out, "'requests:' line")
    done, succeeded = int(m.group(3)), int(m.group(4))
    if done == 0:
        fail("no request completed")
    # `failed` covers non-2xx/3xx statuses and reset or errored streams; requests that
    # never finished (done < total) are failures too.
    failed = max(int(m.group(5)), done - succeeded) + int(m.group(1)) - done
    m = re.search(r"status codes: .*", out)
    if log_path == "-":
        emit(rps, cpu_seconds(time_path), math.nan, done, failed, m.group(0) if m else "")
        return
    # h2load prints no percentiles: p99 comes from its per-request log
    # (start µs, status, µs to the end of the response), nearest rank.
    try:
        micros = sorted(int(line.split("\t")[2]) for line in open(log_path) if line.strip())
    except (OSError, IndexError, ValueError):
        fail("unreadable h2load log")
    if not micros:
        fail("empty h2load log")
    p99 = micros[math.ceil(0.99 * len(micros)) - 1] / 1e3
    emit(rps, cpu_seconds(time_path), p99, done, failed, m.group(0) if m else "")


def capplan(json_path, time_path):
    try:
        r = json.load(open(json_path))
    except (OSError, ValueError):
        fail(f"no JSON summary ({os.path.basename(json_path)})")
    # The most frequent failure, e.g. `HTTPError: 400 Bad Request`.
    top = max(r.get("errors", []), key=lambda e: e["occurrences"], default=None)
    detail = f"{top['error']} x{top['occurrences']}" if top else ""
    emit(r["rps"], cpu_seconds(time_path), r["latency_ms"]["p99"], r["requests"], r["failures"], detail)


if __name__ == "__main__":
    tools = {"wrk": (wrk, 2), "h2load": (h2load, 3), "capplan": (capplan, 2)}
    if len(sys.argv) < 2 or sys.argv[1] not in tools or len(sys.argv) != 2 + tools[sys.argv[1]][1]:
        fail(__doc__.split("\n\n")[1])
    tools[sys.argv[1]][0](*sys.argv[2:])
