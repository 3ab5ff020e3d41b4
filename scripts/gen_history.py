#!/usr/bin/env python3
"""Generate a realistic synthetic traffic history (python3 standard library only).

The bundled fixture is regenerated with the defaults:

    python3 scripts/gen_history.py > fixtures/history_hourly.csv

Model of the series (rps = requests per second, mean of the interval):
  rps(t) = base * growth^weeks(t) * shape(t) * spike(t) * (1 + noise)
  - shape: weekday profile (morning and afternoon bumps, quiet night); weekends lower
    with a later, flatter peak; US federal holidays follow the weekend profile at 90%;
  - growth: +1% per week (compounded);
  - noise: Gaussian, 4% of the level, seeded;
  - one marketing spike: x2.5 on 2024-06-05 from 14:00 to 18:00 (an e-mail campaign).
Holidays inside the default 12 weeks from 2024-04-15: Memorial Day (05-27),
Juneteenth (06-19), Independence Day (07-04).

Output: `timestamp,requests` (count per interval), stamps `YYYY-MM-DD HH:MM:SS`.
Options generate big inputs for scripts/bench_forecast.sh: --weeks/--days, --interval-minutes.
"""
import argparse
import datetime as dt
import math
import random
import sys

HOLIDAYS = {
    # nominal or observed US federal holidays, 2024-2027 (what the generator knows)
    dt.date(2024, 5, 27), dt.date(2024, 6, 19), dt.date(2024, 7, 4), dt.date(2024, 9, 2),
    dt.date(2024, 10, 14), dt.date(2024, 11, 11), dt.date(2024, 11, 28), dt.date(2024, 12, 25),
    dt.date(2025, 1, 1), dt.date(2025, 1, 20), dt.date(2025, 2, 17), dt.date(2025, 5, 26),
    dt.date(2025, 6, 19), dt.date(2025, 7, 4), dt.date(2025, 9, 1), dt.date(2025, 10, 13),
    dt.date(2025, 11, 11), dt.date(2025, 11, 27), dt.date(2025, 12, 25), dt.date(2026, 1, 1),
    dt.date(2026, 1, 19), dt.date(2026, 2, 16), dt.date(2026, 5, 25), dt.date(2026, 6, 19),
    dt.date(2026, 7, 3), dt.date(2026, 9, 7), dt.date(2026, 10, 12), dt.date(2026, 11, 11),
    dt.date(2026, 11, 26), dt.date(2026, 12, 25), dt.date(2027, 1, 1),
}
SPIKE_DAY, SPIKE_HOURS, SPIKE_FACTOR = dt.date(2024, 6, 5), range(14, 18), 2.5


def bump(hour, center, width):
    return math.exp(-0.5 * ((hour - center) / width) ** 2)


def shape(moment):
    hour = moment.hour + moment.minute / 60.0
    weekend_like = moment.weekday() >= 5 or moment.date() in HOLIDAYS
    if weekend_like:
        level = 0.15 + 0.45 * bump(hour, 15.0, 4.0)
        return level * (0.9 if moment.date() in HOLIDAYS else 1.0)
    return 0.12 + 0.75 * bump(hour, 10.5, 2.0) + 0.85 * bump(hour, 15.0, 2.5) + 0.2 * bump(hour, 21.0, 1.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", default="2024-04-15", help="first day (a Monday by default)")
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--days", type=int, help="length in days (overrides --weeks)")
    parser.add_argument("--interval-minutes", type=int, default=60)
    parser.add_argument("--base-rps", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    start = dt.datetime.fromisoformat(args.start)
    step = dt.timedelta(minutes=args.interval_minutes)
    days = args.days if args.days is not None else args.weeks * 7
    rows = days * 24 * 60 // args.interval_minutes
    out = sys.stdout
    out.write("timestamp,requests\n")
    moment = start
    for _ in range(rows):
        weeks = (moment - start).total_seconds() / (7 * 86400)
        rps = args.base_rps * 1.01 ** weeks * shape(moment)
        if moment.date() == SPIKE_DAY and moment.hour in SPIKE_HOURS:
            rps *= SPIKE_FACTOR
        rps *= max(0.0, 1.0 + rng.gauss(0.0, 0.04))
        requests = round(rps * args.interval_minutes * 60)
        out.write(f"{moment:%Y-%m-%d %H:%M:%S},{requests}\n")
        moment += step


if __name__ == "__main__":
    main()
