# shellcheck shell=bash
# Shared by the benchmark scripts (source it): the synthetic year and small helpers.

# year_of_traffic FILE: a year of 1-minute traffic (525,600 rows, `timestamp,rps`) with
# daily and weekly seasonality, 30 % growth and jitter.
year_of_traffic() {
  awk 'BEGIN {
    print "timestamp,rps"; pi = 3.141592653589793; start = 1735689600  # 2025-01-01T00:00:00Z
    for (m = 0; m < 525600; m++) {
      h = (m / 60) % 24; dow = int(m / 1440) % 7
      r = 200 + 150 * sin((h - 9) / 24 * 2 * pi) - (dow >= 5 ? 80 : 0)
      r = r * (1 + 0.3 * m / 525600) + 20 * sin(m * 0.37)
      if (r < 5) r = 5
      print strftime("%Y-%m-%dT%H:%M:%SZ", start + 60 * m, 1) "," sprintf("%.2f", r)
    }
  }' > "$1"
}

# median: the median of the numbers on stdin, one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# now_ms: wall clock in milliseconds.
now_ms() { date +%s%N | awk '{ printf "%.1f", $1 / 1e6 }'; }
