#!/usr/bin/env python3
"""How precise can `loadtest --find-capacity` be on an M/M/c server? A model, not a
measurement: it runs the search's ramp, bisection and confirmations (the rules of
src/loadtest/capacity_search.rs, less the error-budget and queue-growth rules, which
only fail steps) against a simulated FCFS M/M/c queue that starts every step empty,
as the real target does after the search's drain. A step holds when the p95 sojourn
of the requests sent in its measured window (after the warm-up) is within the SLO.

It shows why a short step finds a knee above the steady-state theory: near 96 %
utilisation the queue takes longer to fill than a step lasts, so rates just over the
knee often pass. It printed the figures for the near-knee warm-up in
src/loadtest/find_capacity.rs (docs/BENCHMARKS.md, "Capacity search").

Usage: scripts/capacity_search_model.py [--searches N] [--warmups 1,2,3] [--seed S]
(needs cargo: the theory comes from examples/mmc_knee.rs, a release build)
"""
import argparse
import heapq
import pathlib
import random
import subprocess

WORKERS = 8
SERVICE_S = 0.020
SLO_S = 0.200
STEP_S = 6  # --step-duration: 1 s of warm-up and 5 measured for a coarse step
COARSE_WARMUP_S = 1
GROWTH = 1.5
TOLERANCE = 0.02
MAX_STEPS = 16
PAUSE_S = 0.8  # drain probe and pause between steps


def p95_of_step(rate, warmup_s, measured_s, rng):
    """p95 sojourn (s) of the requests sent in [warmup, warmup + measured) of a step
    that starts with an empty M/M/c queue."""
    free = [0.0] * WORKERS
    t, end_s, sojourns = 0.0, warmup_s + measured_s, []
    while True:
        t += rng.expovariate(rate)
        if t >= end_s:
            break
        start = max(t, heapq.heappop(free))
        done = start + rng.expovariate(1.0 / SERVICE_S)
        heapq.heappush(free, done)
        if t >= warmup_s:
            sojourns.append(done - t)
    sojourns.sort()
    return sojourns[int(0.95 * len(sojourns))] if sojourns else 0.0


def theoretical_knee():
    """The highest rate whose steady-state p95 sojourn is within the SLO, from capplan's
    queueing model (examples/mmc_knee.rs)."""
    root = pathlib.Path(__file__).resolve().parent.parent
    knee = subprocess.run(
        ["cargo", "run", "--quiet", "--release", "--example", "mmc_knee", "--",
         str(WORKERS), str(SERVICE_S * 1e3), str(SLO_S * 1e3)],
        cwd=root, check=True, capture_output=True, text=True)
    return float(knee.stdout)


def search(near_knee_warmup_s, rng):
    """One search; returns (knee rps, seconds it took)."""
    steps, took = [], 0.0

    def run(rate, phase):
        nonlocal took
        warmup = COARSE_WARMUP_S if phase == "coarse" else near_knee_warmup_s
        measured = STEP_S - COARSE_WARMUP_S
        took += warmup + measured + PAUSE_S
        held = p95_of_step(rate, warmup, measured, rng) <= SLO_S
        steps.append((rate, held))
        return held

    # The low-load phase measures the service time plus the client's share; the first
    # step is half what the workers serve at it.
    rate = 0.5 * WORKERS / (SERVICE_S * 1.19)
    took += 3
    passed = failed = None
    remeasured = False
    while True:
        while len(steps) < MAX_STEPS:
            if run(rate, "coarse"):
                passed = rate
                if failed is not None:
                    break
                rate *= GROWTH
            else:
                failed = rate
                if passed is not None:
                    break
                rate /= 2
        bisection_failed = False
        while passed is not None and failed is not None:
            if len(steps) >= MAX_STEPS or (failed - passed) / passed <= TOLERANCE:
                break
            mid = (passed + failed) / 2
            if run(mid, "bisect"):
                passed = mid
            else:
                failed, bisection_failed = mid, True
        if passed and failed and not bisection_failed and not remeasured and len(steps) + 1 < MAX_STEPS:
            remeasured = True
            if run(failed, "confirm"):
                passed, failed, rate = failed, None, failed * GROWTH
                continue
        break
    if passed and len(steps) < MAX_STEPS and not run(passed, "confirm"):
        lower = [r for r, held in steps if held and r < passed]
        passed = max(lower) if lower else None
    return passed or 0.0, took


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--searches", type=int, default=400)
    parser.add_argument("--warmups", default="1,2,3", help="near-knee warm-ups to compare, s")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    theory = theoretical_knee()
    print(f"M/M/{WORKERS}, {SERVICE_S * 1e3:.0f} ms, p95<{SLO_S * 1e3:.0f}ms: knee {theory:.1f} rps by theory; "
          f"{STEP_S} s steps, {args.searches} searches each\n")
    print("| near-knee warm-up | median knee | 10th-90th percentile | more than 5 % off | mean search time |")
    print("|---|---|---|---|---|")
    for warmup in (int(w) for w in args.warmups.split(",")):
        rng = random.Random(args.seed)
        results = [search(warmup, rng) for _ in range(args.searches)]
        errors = sorted(100 * (knee / theory - 1) for knee, _ in results)
        n = len(errors)
        off = sum(abs(e) > 5 for e in errors) / n
        mean_time = sum(t for _, t in results) / n
        print(f"| {warmup} s | {errors[n // 2]:+.1f} % | {errors[n // 10]:+.1f} to {errors[9 * n // 10]:+.1f} % "
              f"| {100 * off:.0f} % | {mean_time:.0f} s |")


if __name__ == "__main__":
    main()
