//! Spikes and dips: reported, never changed.
//!
//! An hour is an outlier when its ratio to the same hour of the neighbouring weeks is far
//! from 1 and far from the median ratio of the day around it. A holiday shifts a whole day
//! and is not flagged; a summed daylight-saving hour (the NYC taxi series' maximum) or a
//! few-hour marketing spike is.
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Weekday};
use serde::Serialize;

use super::holidays::HolidayCalendar;
use super::series::{hour_of_day, local_date, HourlySeries};

/// One reported outlier episode (consecutive unusual hours), shown by its most extreme hour.
#[derive(Debug, Clone, Serialize)]
pub struct Outlier {
    /// Start of the most extreme hour (RFC 3339).
    pub time: DateTime<FixedOffset>,
    /// Unusual hours in the episode (count).
    pub hours: usize,
    /// Observed mean rps of the hour (requests/s).
    pub rps: f64,
    /// Median of the same hour one and two weeks before and after (requests/s).
    pub expected_rps: f64,
    /// Observed divided by expected (ratio).
    pub ratio: f64,
    /// A likely cause, when one is recognisable.
    pub note: Option<String>,
}

const WEEK: usize = 168;
const MAX_REPORTED: usize = 20;

/// Find outlier episodes in an hourly series; holidays are expected to differ and are skipped.
pub fn find_outliers(series: &HourlySeries, calendar: &HolidayCalendar) -> Vec<Outlier> {
    let y = &series.rps;
    let n = y.len();
    if n < 2 * WEEK + 2 {
        return Vec::new();
    }
    // Masked hours (NaN: an outage) are neither outliers nor evidence.
    let mut sorted: Vec<f64> = y.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return Vec::new();
    }
    sorted.sort_by(f64::total_cmp);
    let floor = (sorted[sorted.len() / 2] * 0.01).max(1e-9);
    let expected: Vec<Option<f64>> = (0..n)
        .map(|i| {
            let mut near: Vec<f64> = [
                i.checked_sub(2 * WEEK),
                i.checked_sub(WEEK),
                Some(i + WEEK),
                Some(i + 2 * WEEK),
            ]
            .into_iter()
            .flatten()
            .filter(|&j| j < n && !y[j].is_nan())
            .map(|j| y[j])
            .collect();
            near.sort_by(f64::total_cmp);
            match near.len() {
                0 => None,
                k if k % 2 == 1 => Some(near[k / 2]),
                k => Some((near[k / 2 - 1] + near[k / 2]) / 2.0),
            }
        })
        .collect();
    let log_ratio: Vec<Option<f64>> = (0..n)
        .map(|i| {
            expected[i]
                .filter(|_| !y[i].is_nan())
                .map(|e| ((y[i] + floor) / (e + floor)).ln())
        })
        .collect();
    // Deviation from the day around the hour: a holiday moves the whole day, a spike does not.
    let isolated: Vec<(usize, f64)> = (0..n)
        .filter_map(|i| {
            let own = log_ratio[i]?;
            let mut around: Vec<f64> = log_ratio[i.saturating_sub(12)..(i + 13).min(n)]
                .iter()
                .flatten()
                .copied()
                .collect();
            around.sort_by(f64::total_cmp);
            Some((i, own - around[around.len() / 2]))
        })
        .collect();
    let mut magnitudes: Vec<f64> = isolated.iter().map(|&(_, v)| v.abs()).collect();
    magnitudes.sort_by(f64::total_cmp);
    let mad = magnitudes[magnitudes.len() / 2];
    let threshold = (8.0 * mad).max(1.5f64.ln());
    let flagged: Vec<usize> = isolated
        .into_iter()
        .filter(|&(i, v)| {
            v.abs() > threshold
                && log_ratio[i].is_some_and(|own| own.abs() > threshold)
                && !calendar.contains(local_date(series.local_hour(i)))
        })
        .map(|(i, _)| i)
        .collect();
    // Hours at most one apart and off in the same direction form one episode, shown by its
    // most extreme hour.
    let mut episodes: Vec<(usize, usize)> = Vec::new(); // (extreme hour, hours)
    let mut last: Option<usize> = None;
    for i in flagged {
        let extreme = |j: usize| log_ratio[j].map_or(0.0, f64::abs);
        match (last, episodes.last_mut()) {
            (Some(prev), Some(episode))
                if i <= prev + 2
                    && log_ratio[i].map(f64::signum) == log_ratio[prev].map(f64::signum) =>
            {
                episode.1 += 1;
                if extreme(i) > extreme(episode.0) {
                    episode.0 = i;
                }
            }
            _ => episodes.push((i, 1)),
        }
        last = Some(i);
    }
    if episodes.len() > MAX_REPORTED {
        episodes.sort_by(|a, b| {
            log_ratio[b.0]
                .map_or(0.0, f64::abs)
                .total_cmp(&log_ratio[a.0].map_or(0.0, f64::abs))
        });
        episodes.truncate(MAX_REPORTED);
        episodes.sort_unstable();
    }
    episodes
        .into_iter()
        .map(|(i, hours)| {
            let expected_rps = expected[i].expect("flagged hours have an expectation");
            let ratio = y[i] / expected_rps.max(1e-12);
            let local_hour = series.local_hour(i);
            Outlier {
                time: series.time_at(i),
                hours,
                rps: y[i],
                expected_rps,
                ratio,
                note: dst_note(local_date(local_hour), hour_of_day(local_hour), ratio),
            }
        })
        .collect()
}

/// US daylight-saving changes (since 2007) happen at 02:00 on the second Sunday of March
/// and the first Sunday of November: a doubled or missing hour there is a clock artefact.
fn dst_note(date: NaiveDate, hour: usize, ratio: f64) -> Option<String> {
    if hour > 3 || date.weekday() != Weekday::Sun {
        return None;
    }
    let nth_sunday =
        |month, n| NaiveDate::from_weekday_of_month_opt(date.year(), month, Weekday::Sun, n);
    if Some(date) == nth_sunday(11, 1) && ratio > 1.5 {
        Some(
            "daylight-saving fall-back: the repeated hour was probably summed into one slot".into(),
        )
    } else if Some(date) == nth_sunday(3, 2) && ratio < 0.75 {
        Some("daylight-saving spring-forward: this local hour is probably short or missing".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(rps: Vec<f64>) -> HourlySeries {
        // 2014-10-06 00:00 local, a Monday, so 2014-11-02 (a DST Sunday) lies inside.
        let start = NaiveDate::from_ymd_opt(2014, 10, 6)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        HourlySeries {
            offset: FixedOffset::east_opt(0).unwrap(),
            start_hour: start.and_utc().timestamp() / 3600,
            rps,
        }
    }

    fn daily_shape(i: usize) -> f64 {
        100.0 + 50.0 * ((i % 24) as f64 / 24.0 * std::f64::consts::TAU).sin() + (i % 7) as f64
    }

    #[test]
    fn a_doubled_hour_is_reported_with_the_dst_hint_and_a_low_day_is_not() {
        let mut rps: Vec<f64> = (0..6 * WEEK).map(daily_shape).collect();
        let dst_hour = 27 * 24 + 1; // 2014-11-02 01:00
        rps[dst_hour] *= 2.0;
        for value in &mut rps[10 * 24..11 * 24] {
            *value *= 0.5; // a holiday-like whole day
        }
        let found = find_outliers(&series(rps), &HolidayCalendar::none());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!((found[0].ratio - 2.0).abs() < 0.05);
        assert!(found[0].note.as_deref().unwrap().contains("fall-back"));
        assert_eq!(found[0].time.to_rfc3339(), "2014-11-02T01:00:00+00:00");
    }
}
