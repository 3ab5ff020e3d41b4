//! A regular hourly series on the local wall clock of one fixed UTC offset.
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};

/// Hourly traffic, one value per hour, no gaps.
#[derive(Debug, Clone, PartialEq)]
pub struct HourlySeries {
    /// Zone of the calendar (hour of week, holidays) and of every output stamp.
    pub offset: FixedOffset,
    /// First hour, counted in hours since 1970-01-01 00:00 *local* wall-clock time.
    pub start_hour: i64,
    /// Mean requests per second of each hour (rps).
    pub rps: Vec<f64>,
}

impl HourlySeries {
    pub fn len(&self) -> usize {
        self.rps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rps.is_empty()
    }

    /// Local wall-clock hour number of position `index` (may lie past the end: forecasts).
    pub fn local_hour(&self, index: usize) -> i64 {
        self.start_hour + index as i64
    }

    /// Start of hour `index` as an RFC 3339 time in the series' offset.
    pub fn time_at(&self, index: usize) -> DateTime<FixedOffset> {
        local_hour_to_time(self.local_hour(index), self.offset)
    }
}

/// Turn a local wall-clock hour number back into a zoned time.
pub fn local_hour_to_time(local_hour: i64, offset: FixedOffset) -> DateTime<FixedOffset> {
    let utc_seconds = local_hour * 3600 - i64::from(offset.local_minus_utc());
    offset
        .timestamp_opt(utc_seconds, 0)
        .single()
        .expect("a fixed offset maps every instant to exactly one time")
}

/// Hour of week of a local hour number: Monday 00:00 is 0, Sunday 23:00 is 167.
pub fn hour_of_week(local_hour: i64) -> usize {
    // 1970-01-01 was a Thursday, i.e. day 3 of a Monday-based week.
    let day = local_hour.div_euclid(24);
    let weekday = (day + 3).rem_euclid(7);
    (weekday * 24 + local_hour.rem_euclid(24)) as usize
}

/// Local calendar date of a local hour number.
pub fn local_date(local_hour: i64) -> NaiveDate {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    epoch + chrono::Duration::days(local_hour.div_euclid(24))
}

/// Hour of day (0..24) of a local hour number.
pub fn hour_of_day(local_hour: i64) -> usize {
    local_hour.rem_euclid(24) as usize
}

/// Local hour number of a zoned time (truncated to the hour).
pub fn local_hour_of(time: &DateTime<FixedOffset>) -> i64 {
    time.naive_local().and_utc().timestamp().div_euclid(3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_of_week_starts_monday_midnight() {
        // 2024-01-01 was a Monday.
        let monday = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let hours = monday.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() / 3600;
        assert_eq!(hour_of_week(hours), 0);
        assert_eq!(hour_of_week(hours + 24 * 6 + 23), 167);
        assert_eq!(hour_of_week(hours + 24 * 7), 0);
        assert_eq!(local_date(hours + 23), monday);
        assert_eq!(hour_of_day(hours + 5), 5);
    }

    #[test]
    fn times_round_trip_through_local_hours() {
        let offset = FixedOffset::west_opt(5 * 3600).unwrap();
        let time = local_hour_to_time(470_000, offset);
        assert_eq!(local_hour_of(&time), 470_000);
        assert_eq!(time.offset(), &offset);
    }
}
