//! Fewer points for display, spikes kept: a year of minutes becomes a few thousand
//! points per chart. Tables keep the exact figures; only the drawing is thinned.

/// At most about `buckets * 2` points: per bucket the lowest and the highest point, in
/// time order, so a one-step spike still reaches its height on screen.
pub fn envelope(x: &[f64], y: &[f64], buckets: usize) -> Vec<(f64, f64)> {
    let n = x.len().min(y.len());
    if n <= buckets.max(1) * 2 {
        return x.iter().copied().zip(y.iter().copied()).take(n).collect();
    }
    let mut out = Vec::with_capacity(buckets * 2);
    for range in ranges(n, buckets) {
        let (mut lo, mut hi) = (range.start, range.start);
        for i in range.clone() {
            if y[i] < y[lo] {
                lo = i;
            }
            if y[i] > y[hi] {
                hi = i;
            }
        }
        let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        out.push((x[a], y[a]));
        if b != a {
            out.push((x[b], y[b]));
        }
    }
    out
}

/// A band per bucket: first x, lowest `low`, highest `high` (a stacked area's layers
/// are cumulative sums, so taking each layer's highest keeps their order).
pub fn band(x: &[f64], low: &[f64], high: &[f64], buckets: usize) -> Vec<(f64, f64, f64)> {
    let n = x.len().min(low.len()).min(high.len());
    if n <= buckets.max(1) * 2 {
        return (0..n).map(|i| (x[i], low[i], high[i])).collect();
    }
    ranges(n, buckets)
        .map(|r| {
            let lo = low[r.clone()].iter().copied().fold(f64::INFINITY, f64::min);
            let hi = high[r.clone()]
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            (x[r.start], lo, hi)
        })
        .collect()
}

/// `buckets` contiguous index ranges covering `0..n`, none empty.
fn ranges(n: usize, buckets: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let buckets = buckets.clamp(1, n.max(1));
    (0..buckets).map(move |b| (b * n / buckets)..((b + 1) * n / buckets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_series_are_kept_whole() {
        let x = [0.0, 1.0, 2.0];
        let y = [5.0, 6.0, 7.0];
        assert_eq!(
            envelope(&x, &y, 10),
            vec![(0.0, 5.0), (1.0, 6.0), (2.0, 7.0)]
        );
    }

    #[test]
    fn a_single_spike_survives_downsampling() {
        let n = 525_600;
        let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut y = vec![1.0; n];
        y[300_001] = 99.0;
        let points = envelope(&x, &y, 1000);
        assert!(points.len() <= 2000, "{}", points.len());
        assert!(points.contains(&(300_001.0, 99.0)));
        // Time order is kept.
        assert!(points.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn band_keeps_extremes_of_each_bucket() {
        let n = 10_000;
        let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut low = vec![2.0; n];
        let mut high = vec![3.0; n];
        low[17] = -4.0;
        high[9_999] = 8.0;
        let b = band(&x, &low, &high, 100);
        assert_eq!(b.len(), 100);
        assert_eq!(b[0], (0.0, -4.0, 3.0));
        assert_eq!(b[99].2, 8.0);
    }
}
