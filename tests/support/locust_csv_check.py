"""Read capplan's --csv files the way a script written for Locust does.

Usage: locust_csv_check.py PREFIX RUN_START RUN_END (Unix seconds, the run's
wall-clock window). Prints, as JSON, the columns Locust's own StatsCSV writes
(taken from Locust, not typed here) and the headers of capplan's files; then
reads capplan's rows with csv.DictReader by Locust's column names and fails
(exit 1) on a missing column or a First/Last Seen that is not Locust's format,
out of order or outside the run.
"""
import csv
import json
import os
import sys
import tempfile
from datetime import datetime, timezone

import locust.stats

prefix, run_start, run_end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

# StatsCSVFileWriter's __init__ only stores the columns and opens its four files;
# no Environment is needed for that.
with tempfile.TemporaryDirectory() as scratch:
    writer = locust.stats.StatsCSVFileWriter(
        None, locust.stats.PERCENTILES_TO_REPORT, os.path.join(scratch, "locust")
    )
    writer.close_files()
plain = locust.stats.StatsCSV(None, locust.stats.PERCENTILES_TO_REPORT)
locust_columns = {
    "_stats.csv": plain.requests_csv_columns,
    "_stats_history.csv": writer.stats_history_csv_columns,
    "_failures.csv": plain.failures_columns,
    "_exceptions.csv": plain.exceptions_columns,
}


def rows(suffix):
    with open(prefix + suffix, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


ours = {}
data = {}
for suffix in locust_columns:
    ours[suffix], data[suffix] = rows(suffix)

# Access every column by Locust's name, as a Locust script would.
for suffix, columns in locust_columns.items():
    for row in data[suffix]:
        for column in columns:
            row[column]

seen = []
for row in data["_failures.csv"]:
    first = datetime.strptime(row["First Seen"], "%Y-%m-%dT%H:%M:%SZ")
    last = datetime.strptime(row["Last Seen"], "%Y-%m-%dT%H:%M:%SZ")
    first = first.replace(tzinfo=timezone.utc).timestamp()
    last = last.replace(tzinfo=timezone.utc).timestamp()
    assert first <= last, row
    assert run_start <= first and last <= run_end, (row, run_start, run_end)
    assert int(row["Occurrences"]) > 0, row
    seen.append([row["Name"], row["Error"], first, last])

print(
    json.dumps(
        {
            "locust": locust_columns,
            "ours": ours,
            "failures": seen,
            "stats_names": [row["Name"] for row in data["_stats.csv"]],
            "exceptions_rows": len(data["_exceptions.csv"]),
        }
    )
)
