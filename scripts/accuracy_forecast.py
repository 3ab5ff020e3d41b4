#!/usr/bin/env python3
"""Accuracy of `capplan forecast` on the real series of ../shared/data/, week by week.

For each series, the held-out weeks are its last whole weeks (Monday 00:00 to Sunday 23:00,
at most --weeks of them) that have at least --min-history weeks of history before them.
For each held-out week: keep only the rows before its Monday, run
`capplan forecast --horizon 168h`, and score the hourly forecast against what happened.
Every method is scored as MAE / seasonal-naive MAE (seasonal naive = the same hour one
week earlier), so 1.00 is "no better than last week" and lower is better:

- capplan (the forecast it ships), and the method it chose;
- mean and median of the same hour over the last 4 weeks;
- with --peers: statsforecast MSTL(24, 168) with an AutoARIMA trend, and Prophet (daily,
  weekly, US holidays), in a virtual environment the script creates under
  target/accuracy-venv (pip install statsforecast prophet; needs network on first use);
  their forecasts are cached in target/accuracy-peers.json (they depend on the data only).

    python3 scripts/accuracy_forecast.py [--bin target/release/capplan] [--peers] [--markdown]

Standard library only unless --peers. Prints one line per week and a summary per method
(mean ratio, worst week, weeks better than naive); --markdown prints the table for
docs/BENCHMARKS.md. The goal (issue 14): capplan mean <= 0.80, no week above 1.00.
"""
import argparse
import csv
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data")
SERIES = [
    ("nyc_taxi_30min.csv", "NYC taxi, 30 min"),
    ("twitter_volume_amzn_5min.csv", "Twitter AMZN, 5 min"),
    ("aws_elb_request_count_5min.csv", "AWS ELB, 5 min"),
]
WEEK = dt.timedelta(days=7)
VENV = os.path.join(ROOT, "target", "accuracy-venv")
# The peers' forecasts depend only on the data: kept between runs (delete to recompute).
PEER_CACHE = os.path.join(ROOT, "target", "accuracy-peers.json")


def parse_time(text):
    return dt.datetime.fromisoformat(text.strip())


def hourly(path):
    """Counts summed per hour, as rps: {hour start: rps}."""
    totals = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            hour = parse_time(row["timestamp"]).replace(minute=0, second=0, microsecond=0)
            totals[hour] = totals.get(hour, 0.0) + float(row["value"])
    return {hour: count / 3600.0 for hour, count in totals.items()}


def held_out_weeks(series, weeks, min_history):
    """Mondays of the last whole weeks with enough history before them."""
    first, last = min(series), max(series)
    monday = (last - dt.timedelta(days=last.weekday())).replace(hour=0)
    mondays = []
    while len(mondays) < weeks:
        if monday + WEEK - dt.timedelta(hours=1) > last:
            monday -= WEEK
            continue
        if monday - first < min_history * WEEK:
            break
        mondays.append(monday)
        monday -= WEEK
    return sorted(mondays)


def mae(forecast, actual):
    return sum(abs(f - a) for f, a in zip(forecast, actual)) / len(actual)


def baseline(series, hours, weeks, how):
    out = []
    for hour in hours:
        values = [series.get(hour - k * WEEK - WEEK * ((hour - hours[0]) // WEEK)) for k in range(1, weeks + 1)]
        values = [v for v in values if v is not None]
        out.append(how(values) if values else 0.0)
    return out


def run_capplan(binary, rows, header, start, tmp, extra):
    history = os.path.join(tmp, "history.csv")
    with open(history, "w") as f:
        f.write(header + "\n")
        f.writelines(r + "\n" for r in rows if parse_time(r.split(",")[0]) < start)
    out, summary = os.path.join(tmp, "forecast.csv"), os.path.join(tmp, "summary.json")
    cmd = [binary, "forecast", "--history", history, "--horizon", "168h", "--out", out, "--json", summary, "-q"]
    done = subprocess.run(cmd + extra, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"capplan failed on the week of {start:%Y-%m-%d}: {done.stderr}")
    forecast, lower, upper = {}, {}, {}
    with open(out, newline="") as f:
        for row in csv.DictReader(f):
            hour = parse_time(row["timestamp"]).replace(tzinfo=None)
            forecast[hour], lower[hour], upper[hour] = float(row["rps"]), float(row["lower"]), float(row["upper"])
    with open(summary) as f:
        method = json.load(f)["method"]
    return forecast, lower, upper, method


def ensure_venv():
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "statsforecast", "prophet", "pandas"], check=True)
    return python


PEER_CODE = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
import logging
logging.getLogger("cmdstanpy").setLevel(logging.ERROR)
import pandas as pd
job = json.load(open(sys.argv[1]))
df = pd.DataFrame({"unique_id": "s", "ds": pd.to_datetime(job["ds"]), "y": job["y"]})
out = {}
from statsforecast import StatsForecast
from statsforecast.models import MSTL, AutoARIMA
sf = StatsForecast(models=[MSTL(season_length=[24, 168], trend_forecaster=AutoARIMA())], freq="h")
out["mstl"] = [float(v) for v in sf.forecast(df=df, h=168)["MSTL"].clip(lower=0)]
from prophet import Prophet
m = Prophet(daily_seasonality=True, weekly_seasonality=True, yearly_seasonality=False)
m.add_country_holidays(country_name="US")
m.fit(df[["ds", "y"]])
future = m.make_future_dataframe(periods=168, freq="h", include_history=False)
out["prophet"] = [float(v) for v in m.predict(future)["yhat"].clip(lower=0)]
json.dump(out, open(sys.argv[2], "w"))
"""


def run_peers(python, series, start, tmp):
    hours = sorted(h for h in series if h < start)
    # The peers need a regular hourly index: fill absent hours from the week before.
    full, hour = [], hours[0]
    while hour < start:
        full.append(hour)
        hour += dt.timedelta(hours=1)
    y = []
    for hour in full:
        value = series.get(hour)
        if value is None:
            value = series.get(hour - WEEK, y[-1] if y else 0.0)
        y.append(value)
    job, result, code = (os.path.join(tmp, n) for n in ("job.json", "peers.json", "peers.py"))
    with open(job, "w") as f:
        json.dump({"ds": [h.isoformat() for h in full], "y": y}, f)
    with open(code, "w") as f:
        f.write(PEER_CODE)
    subprocess.run([python, code, job, result], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(result) as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "capplan"))
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--weeks", type=int, default=10, help="held-out weeks per series, at most")
    parser.add_argument("--min-history", type=int, default=4, help="whole weeks of history before a held-out week")
    parser.add_argument("--extra-args", default="", help="more flags for capplan forecast")
    parser.add_argument("--peers", action="store_true", help="also score statsforecast MSTL and Prophet (creates a venv)")
    parser.add_argument("--markdown", action="store_true", help="print the summary as a Markdown table")
    args = parser.parse_args()
    if not os.path.isdir(args.data):
        sys.exit(f"skipped: {args.data} not found (the shared data folder is absent)")
    python = ensure_venv() if args.peers else None
    methods = ["capplan", "mean 4w", "median 4w"] + (["MSTL", "Prophet"] if args.peers else [])
    ratios = {m: [] for m in methods}
    covered_total = hours_total = 0
    lines = []
    print(f"{'series':<22} {'week':<11} {'naive MAE':>9} " + " ".join(f"{m:>9}" for m in methods) + f" {'cover':>6}  method")
    with tempfile.TemporaryDirectory() as tmp:
        for name, label in SERIES:
            path = os.path.join(args.data, name)
            if not os.path.exists(path):
                print(f"{label:<22} skipped: {path} not found")
                continue
            series = hourly(path)
            with open(path) as f:
                text = f.read().splitlines()
            header, rows = text[0], [r for r in text[1:] if r.strip()]
            mondays = held_out_weeks(series, args.weeks, args.min_history)
            if not mondays:
                span = (max(series) - min(series)) / WEEK
                print(f"{label:<22} skipped: {span:.1f} weeks of history, none with {args.min_history} weeks before it")
                continue
            for start in mondays:
                hours = [start + dt.timedelta(hours=k) for k in range(168)]
                actual = [series[h] for h in hours]
                naive = [series[h - WEEK] for h in hours]
                naive_mae = mae(naive, actual)
                forecast, lower, upper, method = run_capplan(args.bin, rows, header, start, tmp, args.extra_args.split())
                got = {
                    "capplan": [forecast[h] for h in hours],
                    "mean 4w": baseline(series, hours, 4, statistics.fmean),
                    "median 4w": baseline(series, hours, 4, statistics.median),
                }
                if args.peers:
                    key = f"{name}@{start:%Y-%m-%d}"
                    cache = json.load(open(PEER_CACHE)) if os.path.exists(PEER_CACHE) else {}
                    if key not in cache:
                        cache[key] = run_peers(python, series, start, tmp)
                        with open(PEER_CACHE, "w") as f:
                            json.dump(cache, f)
                    peers = cache[key]
                    got["MSTL"], got["Prophet"] = peers["mstl"], peers["prophet"]
                week_ratios = {m: mae(got[m], actual) / naive_mae for m in methods}
                for m in methods:
                    ratios[m].append(week_ratios[m])
                covered = sum(lower[h] <= series[h] <= upper[h] for h in hours)
                covered_total += covered
                hours_total += len(hours)
                print(f"{label:<22} {start:%Y-%m-%d} {naive_mae:>9.3f} " + " ".join(f"{week_ratios[m]:>9.3f}" for m in methods)
                      + f" {covered / len(hours):>6.0%}  {method['label']}")
                lines.append((label, start, naive_mae, week_ratios, covered / len(hours)))
    if not ratios["capplan"]:
        sys.exit("no held-out week anywhere")
    print()
    print(f"{'method':<10} {'mean':>6} {'worst':>6} {'better than naive':>18}")
    for m in methods:
        r = ratios[m]
        print(f"{m:<10} {statistics.fmean(r):>6.3f} {max(r):>6.3f} {sum(x < 1.0 for x in r):>9} of {len(r)}")
    print(f"capplan 90% interval coverage over all held-out hours: {covered_total / hours_total:.1%}")
    mean, worst = statistics.fmean(ratios["capplan"]), max(ratios["capplan"])
    verdict = "meets" if mean <= 0.80 and worst <= 1.00 else "MISSES"
    print(f"goal (mean <= 0.80, no week above 1.00): {verdict} (mean {mean:.3f}, worst {worst:.3f})")
    if args.markdown:
        print()
        print("| series | week of | naive MAE (rps) | " + " | ".join(methods) + " | capplan 90% coverage |")
        print("|---|---|---|" + "---|" * len(methods) + "---|")
        for label, start, naive_mae, week_ratios, cover in lines:
            print(f"| {label} | {start:%Y-%m-%d} | {naive_mae:.3f} | " + " | ".join(f"{week_ratios[m]:.3f}" for m in methods) + f" | {cover:.0%} |")
        print("| **mean** | | | " + " | ".join(f"**{statistics.fmean(ratios[m]):.3f}**" for m in methods) + f" | {covered_total / hours_total:.0%} |")
        print("| **worst** | | | " + " | ".join(f"{max(ratios[m]):.3f}" for m in methods) + " | |")


if __name__ == "__main__":
    main()
